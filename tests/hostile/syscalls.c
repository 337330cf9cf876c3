/* Kernel attack surface: each of these syscalls must fail inside the sandbox (seccomp or no
 * capabilities). Prints CONTAINED only when every one failed. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

static int escaped;

static void expect_fail(const char *what, long rc)
{
    if (rc >= 0) {
        printf("ESCAPED %s succeeded\n", what);
        escaped = 1;
    } else {
        printf("%s: %s\n", what, strerror(errno));
    }
}

int main(void)
{
    expect_fail("mount tmpfs", mount("none", "/tmp", "tmpfs", 0, NULL));
    expect_fail("unshare user", unshare(CLONE_NEWUSER));
    expect_fail("unshare net", unshare(CLONE_NEWNET));
    expect_fail("unshare mount", unshare(CLONE_NEWNS));
    expect_fail("setns", setns(0, 0) == 0 ? 0 : -1);
    expect_fail("ptrace attach 1", ptrace(PTRACE_ATTACH, 1, NULL, NULL));
    expect_fail("keyctl", syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0));
    expect_fail("add_key", syscall(SYS_add_key, "user", "k", "v", 1, -3));
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    expect_fail("bpf", syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr));
    struct perf_event_attr pe;
    memset(&pe, 0, sizeof pe);
    pe.size = sizeof pe;
    pe.type = PERF_TYPE_HARDWARE;
    pe.config = PERF_COUNT_HW_INSTRUCTIONS;
    expect_fail("perf_event_open", syscall(SYS_perf_event_open, &pe, 0, -1, -1, 0));
    char params[120] = {0};
    expect_fail("io_uring_setup", syscall(SYS_io_uring_setup, 8, params));
    expect_fail("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
    expect_fail("init_module", syscall(SYS_init_module, NULL, 0, ""));
    expect_fail("reboot", syscall(SYS_reboot, 0xfee1dead, 672274793, 0x4321fedc, NULL));
    expect_fail("chroot", chroot("/tmp"));
    expect_fail("setuid 0", setuid(0));
    if (!escaped)
        printf("CONTAINED\n");
    return 0;
}
