/* The sandbox seccomp profile as data: an allow-list (Docker's default profile, less what an
 * untrusted program never needs), an EPERM list of what it is refused on purpose, and argument
 * rules for clone and socket; everything else is ENOSYS. Turned into OCI linux.seccomp JSON for
 * the runtimes and the Docker Engine, or into a BPF program with libseccomp for the builtin
 * runtime. Names a libseccomp does not know are skipped, by the runtime's or by ours. */
#include "seccomp.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

/* Allowed whatever their arguments. The kernel still checks privileges (the program has no
 * capability), rlimits (RTPRIO 0 keeps sched_setscheduler from real-time classes) and
 * namespaces; these are what a language runtime, a compiler or a test program uses. */
static const char *const allowed[] = {
    /* files and directories */
    "open",
    "openat",
    "openat2",
    "creat",
    "close",
    "close_range",
    "read",
    "readv",
    "pread64",
    "preadv",
    "preadv2",
    "write",
    "writev",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "lseek",
    "sendfile",
    "copy_file_range",
    "splice",
    "tee",
    "vmsplice",
    "readahead",
    "fadvise64",
    "fallocate",
    "ftruncate",
    "truncate",
    "fsync",
    "fdatasync",
    "sync",
    "syncfs",
    "sync_file_range",
    "stat",
    "fstat",
    "lstat",
    "newfstatat",
    "statx",
    "statfs",
    "fstatfs",
    "access",
    "faccessat",
    "faccessat2",
    "getdents",
    "getdents64",
    "getcwd",
    "chdir",
    "fchdir",
    "mkdir",
    "mkdirat",
    "rmdir",
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
    "unlink",
    "unlinkat",
    "symlink",
    "symlinkat",
    "readlink",
    "readlinkat",
    "mknod",
    "mknodat",
    "chmod",
    "fchmod",
    "fchmodat",
    "chown",
    "fchown",
    "fchownat",
    "lchown",
    "umask",
    "utime",
    "utimes",
    "utimensat",
    "futimesat",
    "flock",
    "fcntl",
    "dup",
    "dup2",
    "dup3",
    "ioctl",
    "getxattr",
    "lgetxattr",
    "fgetxattr",
    "setxattr",
    "lsetxattr",
    "fsetxattr",
    "listxattr",
    "llistxattr",
    "flistxattr",
    "removexattr",
    "lremovexattr",
    "fremovexattr",
    "pipe",
    "pipe2",
    "inotify_init",
    "inotify_init1",
    "inotify_add_watch",
    "inotify_rm_watch",
    "memfd_create",
    "memfd_secret",
    "cachestat",
    /* memory */
    "brk",
    "mmap",
    "munmap",
    "mremap",
    "mprotect",
    "madvise",
    "mincore",
    "msync",
    "mlock",
    "mlock2",
    "munlock",
    "mlockall",
    "munlockall",
    "remap_file_pages",
    "membarrier",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "mseal",
    "map_shadow_stack",
    /* processes and threads (clone: see clone_ns_flags; clone3: see seccomp.h) */
    "fork",
    "vfork",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "wait4",
    "waitid",
    "getpid",
    "getppid",
    "gettid",
    "getpgid",
    "setpgid",
    "getpgrp",
    "getsid",
    "setsid",
    "set_tid_address",
    "set_robust_list",
    "get_robust_list",
    "rseq",
    "arch_prctl",
    "prctl",
    "pidfd_open",
    "pidfd_send_signal",
    "process_mrelease",
    "kill",
    "tkill",
    "tgkill",
    /* signals */
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "rt_sigpending",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigqueueinfo",
    "rt_tgsigqueueinfo",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "pause",
    "restart_syscall",
    /* identity and limits (no capability: only to ids it already has) */
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getresuid",
    "getresgid",
    "getgroups",
    "setuid",
    "setgid",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
    "setfsuid",
    "setfsgid",
    "setgroups",
    "capget",
    "capset",
    "getrlimit",
    "setrlimit",
    "prlimit64",
    "getrusage",
    "times",
    "getpriority",
    "setpriority",
    "sched_yield",
    "sched_getaffinity",
    "sched_setaffinity",
    "sched_getparam",
    "sched_setparam",
    "sched_getscheduler",
    "sched_setscheduler",
    "sched_getattr",
    "sched_setattr",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_rr_get_interval",
    "ioprio_get",
    "ioprio_set",
    "getcpu",
    "uname",
    "sysinfo",
    "getrandom",
    "landlock_create_ruleset",
    "landlock_add_rule",
    "landlock_restrict_self",
    "seccomp",
    /* time */
    "clock_gettime",
    "clock_getres",
    "clock_nanosleep",
    "gettimeofday",
    "time",
    "nanosleep",
    "alarm",
    "getitimer",
    "setitimer",
    "timer_create",
    "timer_settime",
    "timer_gettime",
    "timer_getoverrun",
    "timer_delete",
    "timerfd_create",
    "timerfd_settime",
    "timerfd_gettime",
    /* waiting on descriptors, futexes */
    "poll",
    "ppoll",
    "select",
    "pselect6",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "eventfd",
    "eventfd2",
    "futex",
    "futex_waitv",
    "futex_wake",
    "futex_wait",
    "futex_requeue",
    /* sockets (socket: see allowed_families) */
    "socketpair",
    "bind",
    "listen",
    "accept",
    "accept4",
    "connect",
    "getsockname",
    "getpeername",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "sendmmsg",
    "recvmmsg",
    "shutdown",
    "setsockopt",
    "getsockopt",
    /* System V and POSIX IPC (the container's own ipc namespace) */
    "shmget",
    "shmat",
    "shmdt",
    "shmctl",
    "semget",
    "semop",
    "semtimedop",
    "semctl",
    "msgget",
    "msgsnd",
    "msgrcv",
    "msgctl",
    "mq_open",
    "mq_unlink",
    "mq_timedsend",
    "mq_timedreceive",
    "mq_notify",
    "mq_getsetattr",
    /* asynchronous I/O (io_uring is refused) */
    "io_setup",
    "io_destroy",
    "io_submit",
    "io_cancel",
    "io_getevents",
    "io_pgetevents",
};

/* Refused with EPERM whatever their arguments: known, and refused on purpose. */
static const char *const denied[] = {
    /* namespaces and mounts */
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "fsopen",
    "fsmount",
    "fsconfig",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    /* kernel keyrings, BPF, perf, tracing, other processes' memory */
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "process_madvise",
    "kcmp",
    "pidfd_getfd",
    /* the machine itself */
    "kexec_load",
    "kexec_file_load",
    "reboot",
    "init_module",
    "finit_module",
    "delete_module",
    "create_module",
    "swapon",
    "swapoff",
    "acct",
    "quotactl",
    "quotactl_fd",
    "syslog",
    "lookup_dcookie",
    "uselib",
    "vhangup",
    "iopl",
    "ioperm",
    "modify_ldt",
    "nfsservctl",
    "sysfs",
    "_sysctl",
    "ustat",
    "get_kernel_syms",
    "query_module",
    "sethostname",
    "setdomainname",
    /* file handles (the shocker escape), userfaultfd, io_uring, fanotify */
    "open_by_handle_at",
    "name_to_handle_at",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "fanotify_init",
    "fanotify_mark",
    /* clocks and personality */
    "settimeofday",
    "clock_settime",
    "clock_settime64",
    "clock_adjtime",
    "clock_adjtime64",
    "adjtimex",
    "stime",
    "personality",
    /* NUMA and memory policy (of other tasks too) */
    "move_pages",
    "migrate_pages",
    "mbind",
    "set_mempolicy",
    "get_mempolicy",
    "set_mempolicy_home_node",
};

/* clone is allowed when its flags (argument 0) hold none of these, refused (EPERM) when they
 * hold any. */
static const unsigned long clone_ns_flags[] = {
    CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,    CLONE_NEWUSER,
    CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP,
};

/* socket families allowed (argument 0, compared whole: a family with bits above the 32 the
 * kernel reads matches none, so it cannot pass for one), and refused ones (EAFNOSUPPORT): raw
 * link-level access and host-VM channels. Any other family is ENOSYS. */
static const int allowed_families[] = {AF_UNIX, AF_INET, AF_INET6, AF_NETLINK};
static const int denied_families[] = {AF_PACKET, AF_VSOCK, AF_KEY};

/* The native ABI only. The images hold 64-bit programs; a compat ABI (32-bit x86 through int
 * 0x80, x32, 32-bit ARM) is another way into the kernel, whose multiplexed socketcall would hide
 * the socket family from the filter: none of its calls is allowed (ENOSYS). */
#if defined(__x86_64__)
static const char *const architectures[] = {"SCMP_ARCH_X86_64"};
#elif defined(__aarch64__)
static const char *const architectures[] = {"SCMP_ARCH_AARCH64"};
#else
#error "name the seccomp architecture of this CPU"
#endif

#define N(a) (sizeof(a) / sizeof *(a))

static unsigned long all_ns_flags(void)
{
    unsigned long m = 0;
    for (size_t i = 0; i < N(clone_ns_flags); i++)
        m |= clone_ns_flags[i];
    return m;
}

static json_t *names_array(const char *const *names, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(names[i]));
    return a;
}

/* One rule: action SCMP_ACT_ALLOW (errno_ret < 0) or SCMP_ACT_ERRNO, optional args (owned). */
static json_t *rule(json_t *names, int errno_ret, json_t *args)
{
    json_t *r = errno_ret < 0 ? json_pack("{s:o, s:s}", "names", names, "action", "SCMP_ACT_ALLOW")
                              : json_pack("{s:o, s:s, s:i}", "names", names, "action",
                                          "SCMP_ACT_ERRNO", "errnoRet", errno_ret);
    if (args)
        json_object_set_new(r, "args", args);
    return r;
}

/* One argument condition: op on arg[index] with value (and valueTwo for a masked compare). */
static json_t *arg(int index, const char *op, unsigned long value, unsigned long value_two)
{
    return json_pack("[{s:i, s:I, s:I, s:s}]", "index", index, "value", (json_int_t)value,
                     "valueTwo", (json_int_t)value_two, "op", op);
}

json_t *sandbox_seccomp_json(bool guest_kernel)
{
    json_t *syscalls = json_array();
    json_array_append_new(syscalls, rule(names_array(allowed, N(allowed)), -1, NULL));
    /* clone3: ENOSYS (libc then falls back to clone, whose flags the filter can see), said
     * explicitly: an engine that drops defaultErrnoRet (Docker 20.10) would answer EPERM, and
     * pthread_create would fail. gVisor: allowed, see seccomp.h. */
    json_array_append_new(syscalls,
                          rule(json_pack("[s]", "clone3"), guest_kernel ? -1 : ENOSYS, NULL));
    json_array_append_new(syscalls, rule(names_array(denied, N(denied)), EPERM, NULL));
    json_array_append_new(syscalls, rule(json_pack("[s]", "clone"), -1,
                                         arg(0, "SCMP_CMP_MASKED_EQ", all_ns_flags(), 0)));
    for (size_t i = 0; i < N(clone_ns_flags); i++)
        json_array_append_new(
            syscalls, rule(json_pack("[s]", "clone"), EPERM,
                           arg(0, "SCMP_CMP_MASKED_EQ", clone_ns_flags[i], clone_ns_flags[i])));
    for (size_t i = 0; i < N(allowed_families); i++)
        json_array_append_new(syscalls,
                              rule(json_pack("[s]", "socket"), -1,
                                   arg(0, "SCMP_CMP_EQ", (unsigned long)allowed_families[i], 0)));
    for (size_t i = 0; i < N(denied_families); i++)
        json_array_append_new(syscalls,
                              rule(json_pack("[s]", "socket"), EAFNOSUPPORT,
                                   arg(0, "SCMP_CMP_EQ", (unsigned long)denied_families[i], 0)));
    return json_pack("{s:s, s:i, s:o, s:o}", "defaultAction", "SCMP_ACT_ERRNO", "defaultErrnoRet",
                     ENOSYS, "architectures", names_array(architectures, N(architectures)),
                     "syscalls", syscalls);
}

/* Add name with action (and at most one argument condition) unless libseccomp does not know
 * it; 0, or a negative errno. */
static int add(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n,
               struct scmp_arg_cmp cmp)
{
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR)
        return 0;
    return n ? seccomp_rule_add(ctx, action, nr, 1, cmp) : seccomp_rule_add(ctx, action, nr, 0);
}

/* The same rules in a libseccomp context; -1 (err) when libseccomp refuses one. */
static int add_rules(scmp_filter_ctx ctx, char *err, size_t errlen)
{
    const struct scmp_arg_cmp none = {0};
    /* another ABI's calls: ENOSYS, as an unknown number (libseccomp's default is to kill) */
    int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(ENOSYS));
    for (size_t i = 0; i < N(allowed) && rc == 0; i++)
        rc = add(ctx, SCMP_ACT_ALLOW, allowed[i], 0, none);
    for (size_t i = 0; i < N(denied) && rc == 0; i++)
        rc = add(ctx, SCMP_ACT_ERRNO(EPERM), denied[i], 0, none);
    if (rc == 0)
        rc = add(ctx, SCMP_ACT_ALLOW, "clone", 1, SCMP_A0(SCMP_CMP_MASKED_EQ, all_ns_flags(), 0));
    for (size_t i = 0; i < N(clone_ns_flags) && rc == 0; i++)
        rc = add(ctx, SCMP_ACT_ERRNO(EPERM), "clone", 1,
                 SCMP_A0(SCMP_CMP_MASKED_EQ, clone_ns_flags[i], clone_ns_flags[i]));
    for (size_t i = 0; i < N(allowed_families) && rc == 0; i++)
        rc = add(ctx, SCMP_ACT_ALLOW, "socket", 1,
                 SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)allowed_families[i], 0));
    for (size_t i = 0; i < N(denied_families) && rc == 0; i++)
        rc = add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), "socket", 1,
                 SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)denied_families[i], 0));
    if (rc < 0)
        snprintf(err, errlen, "seccomp rule: %s", strerror(-rc));
    return rc < 0 ? -1 : 0;
}

int sandbox_seccomp_bpf(struct sock_fprog *prog, char *err, size_t errlen)
{
    *prog = (struct sock_fprog){0};
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(ENOSYS));
    if (!ctx) {
        snprintf(err, errlen, "seccomp_init failed");
        return -1;
    }
    /* a binary tree of syscall numbers rather than a list: a few comparisons per system call */
    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    /* libseccomp 2.5 writes BPF only to a file descriptor: a memfd, read back */
    cleanup_fd int fd = memfd_create("cr-seccomp", MFD_CLOEXEC);
    int rc = add_rules(ctx, err, errlen);
    if (rc == 0 && (fd < 0 || seccomp_export_bpf(ctx, fd) < 0)) {
        snprintf(err, errlen, "cannot export the seccomp filter");
        rc = -1;
    }
    seccomp_release(ctx);
    struct stat st;
    if (rc < 0 || fstat(fd, &st) < 0 || st.st_size <= 0 ||
        st.st_size % (off_t)sizeof(struct sock_filter) != 0 ||
        st.st_size / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS) {
        if (rc == 0)
            snprintf(err, errlen, "the exported seccomp filter has an odd size");
        return -1;
    }
    cleanup_free struct sock_filter *insns = xmalloc((size_t)st.st_size);
    if (pread(fd, insns, (size_t)st.st_size, 0) != st.st_size) {
        snprintf(err, errlen, "cannot read the seccomp filter back: %s", strerror(errno));
        return -1;
    }
    prog->filter = steal_pointer(&insns);
    prog->len = (unsigned short)(st.st_size / (off_t)sizeof(struct sock_filter));
    return 0;
}
