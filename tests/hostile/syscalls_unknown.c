/* The seccomp filter is an allow-list: a system call it does not name is refused with ENOSYS
 * (gVisor: EPERM), whatever the kernel adds later (statmount, listmount, open_tree_attr, lsm_*,
 * numbers no kernel has yet), and so is every call through another ABI (32-bit int 0x80, x32),
 * where socketcall would hide the socket family: ENOSYS, or the calling process killed (runc's
 * filter kills on a foreign ABI; a kernel without the 32-bit ABI faults). A socket family with
 * bits above the 32 the kernel reads must not pass for an allowed one. Prints CONTAINED only
 * when every call was refused; a call answered with another errno reached the kernel. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

static int escaped;
static bool gvisor; /* its seccomp answers every refused call with EPERM */

static void expect_enosys(const char *what, long rc, int err)
{
    if (rc >= 0) {
        printf("ESCAPED %s succeeded\n", what);
        escaped = 1;
    } else if (err != ENOSYS && !(gvisor && err == EPERM)) {
        printf("ESCAPED %s reached the kernel: %s\n", what, strerror(err));
        escaped = 1;
    } else {
        printf("%s: %s\n", what, strerror(err));
    }
}

static void expect_fail(const char *what, long rc, int err)
{
    if (rc >= 0) {
        printf("ESCAPED %s succeeded\n", what);
        escaped = 1;
    } else {
        printf("%s: %s\n", what, strerror(err));
    }
}

#define TRY(call) ((rc = (call)), (err = errno), rc)

/* A system call of another ABI, in a child: 32-bit through int 0x80 (x32 false), or x32 (the
 * x86-64 instruction, bit 30 set in the number). Its raw result (-errno on failure), or
 * -ENOSYS when the child was killed (the call did not run either). */
static long foreign(bool x32, long nr, long a, long b)
{
    int p[2];
    if (pipe(p) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        long ret;
        if (x32)
            __asm__ volatile("syscall"
                             : "=a"(ret)
                             : "a"(0x40000000L | nr), "D"(a), "S"(b)
                             : "rcx", "r11", "memory");
        else
            __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b) : "memory");
        ssize_t n = write(p[1], &ret, sizeof ret);
        _exit(n == sizeof ret ? 0 : 1);
    }
    close(p[1]);
    long ret = -ENOSYS;
    if (read(p[0], &ret, sizeof ret) != sizeof ret)
        ret = -ENOSYS;
    close(p[0]);
    int st;
    waitpid(pid, &st, 0);
    if (WIFSIGNALED(st))
        printf("%s child killed by signal %d\n", x32 ? "x32" : "int 0x80", WTERMSIG(st));
    return ret;
}

int main(void)
{
    long rc;
    int err;
    struct utsname u;
    gvisor = uname(&u) == 0 && strcmp(u.release, "4.4.0") == 0; /* gVisor's kernel version */
    /* numbers past every kernel's table, and calls of kernels newer than the filter */
    expect_enosys("syscall 1000", TRY(syscall(1000, 0, 0, 0)), err);
    expect_enosys("statmount", TRY(syscall(457, NULL, NULL, 0, 0)), err);
    expect_enosys("listmount", TRY(syscall(458, NULL, NULL, 0, 0)), err);
    expect_enosys("lsm_list_modules", TRY(syscall(461, NULL, NULL, 0)), err);
    expect_enosys("open_tree_attr", TRY(syscall(467, -1, "/", 0, NULL, 0)), err);
    /* x32: the x86-64 table with bit 30 set (getpid) */
    long r = foreign(true, 39, 0, 0);
    expect_enosys("x32 getpid", r < 0 ? -1 : r, r < 0 ? (int)-r : 0);
    /* the 32-bit ABI: getpid (20), and socketcall(SYS_SOCKET) asking for a vsock */
    r = foreign(false, 20, 0, 0);
    expect_enosys("int 0x80 getpid", r < 0 ? -1 : r, r < 0 ? (int)-r : 0);
    unsigned int args[3] = {AF_VSOCK, SOCK_STREAM, 0};
    r = foreign(false, 102, 1, (long)(unsigned long)args);
    expect_fail("int 0x80 socketcall(socket, AF_VSOCK)", r < 0 ? -1 : r, r < 0 ? (int)-r : 0);
    /* AF_VSOCK and AF_PACKET with bits above 32: the kernel would read them as the family */
    expect_fail("socket(AF_VSOCK | 1 << 32)",
                TRY(syscall(SYS_socket, (1L << 32) | AF_VSOCK, SOCK_STREAM, 0)), err);
    expect_fail("socket(AF_PACKET | 1 << 32)",
                TRY(syscall(SYS_socket, (1L << 32) | AF_PACKET, SOCK_RAW, 0)), err);
    /* what the program needs still works */
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    printf("unix socket %s\n", s >= 0 ? "ok" : strerror(errno));
    if (s < 0)
        escaped = 1; /* not an escape, but the filter would be wrong */
    if (!escaped)
        printf("CONTAINED\n");
    return 0;
}
