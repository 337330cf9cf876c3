/* The sandbox seccomp profile as data: a deny list turned into OCI linux.seccomp JSON for the
 * runtimes, or into a BPF program with libseccomp for the builtin runtime. Names a libseccomp
 * does not know are skipped, by the runtime's or by ours. */
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

/* Refused with EPERM whatever their arguments. */
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
    "nfsservctl",
    "sysfs",
    "_sysctl",
    "ustat",
    "get_kernel_syms",
    "query_module",
    /* file handles (the shocker escape), userfaultfd, io_uring */
    "open_by_handle_at",
    "name_to_handle_at",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    /* clocks and personality */
    "settimeofday",
    "clock_settime",
    "clock_settime64",
    "clock_adjtime",
    "clock_adjtime64",
    "adjtimex",
    "stime",
    "personality",
    /* NUMA and memory policy of other tasks, fanotify */
    "move_pages",
    "migrate_pages",
    "mbind",
    "set_mempolicy",
    "fanotify_init",
};

/* clone refused (EPERM) when its flags (argument 0) hold any of these. */
static const unsigned long clone_ns_flags[] = {
    CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,    CLONE_NEWUSER,
    CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP,
};

/* socket families refused (EPERM): raw link-level access and host-VM channels. */
static const int denied_families[] = {AF_PACKET, AF_VSOCK, AF_KEY};

/* The native ABI and its compat ABIs: a filter must cover every way into the kernel. */
#if defined(__x86_64__)
static const char *const architectures[] = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"};
static const uint32_t compat_arches[] = {SCMP_ARCH_X86, SCMP_ARCH_X32};
#elif defined(__aarch64__)
static const char *const architectures[] = {"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"};
static const uint32_t compat_arches[] = {SCMP_ARCH_ARM};
#else
#error "add the seccomp architectures of this CPU"
#endif

static json_t *rule(const char *name, int errno_ret, json_t *args)
{
    json_t *r = json_pack("{s:[s], s:s, s:i}", "names", name, "action", "SCMP_ACT_ERRNO",
                          "errnoRet", errno_ret);
    if (args)
        json_object_set_new(r, "args", args);
    return r;
}

/* One argument condition: (arg[index] & mask) == value. */
static json_t *masked_eq(int index, unsigned long mask, unsigned long value)
{
    return json_pack("[{s:i, s:I, s:I, s:s}]", "index", index, "value", (json_int_t)mask,
                     "valueTwo", (json_int_t)value, "op", "SCMP_CMP_MASKED_EQ");
}

static json_t *arg_eq(int index, unsigned long value)
{
    return json_pack("[{s:i, s:I, s:s}]", "index", index, "value", (json_int_t)value, "op",
                     "SCMP_CMP_EQ");
}

json_t *sandbox_seccomp_json(bool guest_kernel)
{
    json_t *names = json_array();
    for (size_t i = 0; i < sizeof denied / sizeof *denied; i++)
        json_array_append_new(names, json_string(denied[i]));
    json_t *syscalls = json_array();
    json_array_append_new(syscalls, json_pack("{s:o, s:s, s:i}", "names", names, "action",
                                              "SCMP_ACT_ERRNO", "errnoRet", EPERM));
    if (!guest_kernel) /* see seccomp.h */
        json_array_append_new(syscalls, rule("clone3", ENOSYS, NULL));
    for (size_t i = 0; i < sizeof clone_ns_flags / sizeof *clone_ns_flags; i++)
        json_array_append_new(
            syscalls, rule("clone", EPERM, masked_eq(0, clone_ns_flags[i], clone_ns_flags[i])));
    for (size_t i = 0; i < sizeof denied_families / sizeof *denied_families; i++)
        json_array_append_new(
            syscalls, rule("socket", EAFNOSUPPORT, arg_eq(0, (unsigned long)denied_families[i])));
    json_t *arches = json_array();
    for (size_t i = 0; i < sizeof architectures / sizeof *architectures; i++)
        json_array_append_new(arches, json_string(architectures[i]));
    return json_pack("{s:s, s:o, s:o}", "defaultAction", "SCMP_ACT_ALLOW", "architectures", arches,
                     "syscalls", syscalls);
}

/* The same rules in a libseccomp context; -1 (err) when libseccomp refuses one. */
static int add_rules(scmp_filter_ctx ctx, char *err, size_t errlen)
{
    int rc = 0;
    for (size_t i = 0; i < sizeof compat_arches / sizeof *compat_arches && rc == 0; i++)
        if ((rc = seccomp_arch_add(ctx, compat_arches[i])) == -EEXIST)
            rc = 0;
    for (size_t i = 0; i < sizeof denied / sizeof *denied && rc == 0; i++) {
        int nr = seccomp_syscall_resolve_name(denied[i]);
        if (nr != __NR_SCMP_ERROR)
            rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
    }
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    for (size_t i = 0; i < sizeof clone_ns_flags / sizeof *clone_ns_flags && rc == 0; i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, clone_ns_flags[i], clone_ns_flags[i]));
    for (size_t i = 0; i < sizeof denied_families / sizeof *denied_families && rc == 0; i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
                              SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)denied_families[i], 0));
    if (rc < 0)
        snprintf(err, errlen, "seccomp rule: %s", strerror(-rc));
    return rc < 0 ? -1 : 0;
}

int sandbox_seccomp_bpf(struct sock_fprog *prog, char *err, size_t errlen)
{
    *prog = (struct sock_fprog){0};
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) {
        snprintf(err, errlen, "seccomp_init failed");
        return -1;
    }
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
