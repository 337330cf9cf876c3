/* The builtin runtime: starting a container from the worker process (see launch.h).
 *
 * Parent                                   Child (clone3: new pid, mount, net, ipc, uts ns;
 *                                                 v2: CLONE_INTO_CGROUP)
 * make the cgroup with its limits
 * clone3 ------------------------------->  stdio onto 0/1/2, die with the parent; v1: move
 *                                          itself into the cgroup; new cgroup ns; file system
 *                                          (launch_fs.c); hostname; loopback up;
 *                                          oom_score_adj; rlimits; drop groups, gid,
 *                                          capabilities, uid; no_new_privs; seccomp;
 * (started ahead: limits written,
 * then argv and env on the go pipe ----->  (started ahead: waits here for argv and env)
 * read the error pipe until EOF  <-------  exec cr-init (the close-on-exec error pipe closes),
 *                                          or write "what: why" there and exit
 */
#include "launch.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/sched.h> /* struct clone_args */
#include <linux/seccomp.h>
#include <sched.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/metrics.h"
#include "common/util.h"
#include "worker/executors/oci/builtin/launch_fs.h"
#include "worker/init/hold_proto.h"
#include "worker/sandbox/cgroup.h"
#include "worker/sandbox/cgroup_limits.h"
#include "worker/sandbox/env.h"
#include "worker/sandbox/policy.h"
#include "worker/sandbox/seccomp.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define SETUP_TIMEOUT_MS 10000 /* a container not exec'd by then is killed */
#define COMMAND_MAX (1 << 20)  /* bytes of argv + environment sent to a waiting container */
#define LAUNCH_AHEAD_PIDS                                                                          \
    (1 << 22) /* RLIMIT_NPROC of a container waiting for its step: the                             \
               * kernel's most (PID_MAX_LIMIT); the step lowers it */

/* The builtin runtime of one worker process: made by launch_init, read-only while it starts
 * containers (each container's first process gets it as it is at the clone), freed by
 * launch_free once no container started ahead is left. */
struct launcher {
    const cgroup_host *cg;         /* borrowed; the host's cgroup layout */
    int init_fd;                   /* owned; cr-init in a sealed memfd, executed by each
                                    * container (no bind mount naming its host path) */
    launch_fs_hierarchies cgroups; /* the host's hierarchies, mounted again in each container */
    struct sock_fprog seccomp;     /* .filter owned; loaded by each container just before exec */
    int last_cap;                  /* the kernel's highest capability number */
};

void launch_free(launcher *l)
{
    if (!l)
        return;
    close_fd(&l->init_fd);
    free(l->seccomp.filter);
    free(l);
}
CLEANUP_FUNC(launcher, launch_free)

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U /* Linux 6.3: executable, whatever vm.memfd_noexec says */
#endif

/* cr-init copied into a memfd sealed against any change: the file each container executes. */
static int init_memfd(const char *path, char *err, size_t errlen)
{
    cleanup_fd int src = open(path, O_RDONLY | O_CLOEXEC);
    int fd = memfd_create("cr-init", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
    if (fd < 0 && errno == EINVAL) /* a kernel before 6.3 */
        fd = memfd_create("cr-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    struct stat st;
    bool ok = src >= 0 && fd >= 0 && fstat(src, &st) == 0;
    for (off_t done = 0; ok && done < st.st_size;) {
        ssize_t n = sendfile(fd, src, NULL, (size_t)(st.st_size - done));
        ok = n > 0;
        done += n > 0 ? n : 0;
    }
    if (!ok || fchmod(fd, 0555) < 0 ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
        snprintf(err, errlen, "cannot copy %s into a sealed memfd: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

int launch_init(const cgroup_host *cg, const char *init, launcher **out, char *err, size_t errlen)
{
    *out = NULL;
    cleanup_ptr(launcher) launcher *l = xcalloc(1, sizeof *l);
    l->cg = cg;
    l->init_fd = -1;
    if ((l->init_fd = init_memfd(init, err, errlen)) < 0)
        return -1;
    char buf[16] = {0};
    cleanup_fd int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
    long v;
    if (fd >= 0 && read(fd, buf, sizeof buf - 1) > 0)
        buf[strcspn(buf, "\n")] = '\0';
    if (launch_fs_scan(cg, &l->cgroups, err, errlen) < 0 ||
        sandbox_seccomp_bpf(&l->seccomp, err, errlen) < 0)
        return -1;
    if (parse_long(buf, 1, 255, &v) < 0) {
        snprintf(err, errlen, "cannot read /proc/sys/kernel/cap_last_cap");
        return -1;
    }
    l->last_cap = (int)v;
    *out = steal_pointer(&l);
    return 0;
}

/* ---- the child ---- */

/* What the child needs, prepared by the parent before the clone (no allocation after it). */
typedef struct child_args {
    const launcher *l; /* the runtime: filter, capabilities, cgroup layout */
    const launch_params *lp;
    char **argv; /* cr-init, then the program's argv */
    char **envp;
    int err_fd;    /* write end, close-on-exec: a message when setup fails */
    int cgroup_fd; /* v2: the cgroup, entered by clone3; -1: v1, the child moves itself */
    int go_fd;     /* >= 0: started ahead of its step: wait here for the command to run
                    * (command_message) after everything else is set up; -1: argv, envp */
    sandbox_rlimit rlimits[SANDBOX_NRLIMITS]; /* the step's (started ahead: no task or CPU
                                               * limit yet; the command brings the step's) */
    int hold_fd; /* >= 0: a session's holder: this socket goes to HOLD_FD across the exec */
} child_args;

static _Noreturn void child_fail(const child_args *a, const char *msg)
{
    ssize_t n = write(a->err_fd, msg, strlen(msg));
    (void)n;
    _exit(127);
}

static _Noreturn void child_fail_errno(const child_args *a, const char *what)
{
    char msg[256];
    snprintf(msg, sizeof msg, "%s: %s", what, strerror(errno));
    child_fail(a, msg);
}

/* fd onto target, or /dev/null when fd < 0 (still the host's /dev here). */
static int stdio_to(int fd, int target)
{
    int src = fd >= 0 ? fd : open("/dev/null", O_RDWR);
    if (src < 0)
        return -1;
    if (src == target)
        return fcntl(src, F_SETFD, 0);
    int rc = dup2(src, target);
    if (fd < 0)
        close(src);
    return rc < 0 ? -1 : 0;
}

/* The network namespace starts with lo down; runtimes bring it up. */
static int loopback_up(void)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
    if (rc == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        rc = ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    close(s);
    return rc;
}

/* Every rlimit of the list (worker/sandbox/policy.h). A limit is never raised above the current
 * hard limit when that is refused (no CAP_SYS_RESOURCE, as in some container hosts; valgrind
 * keeps a few descriptors above the RLIMIT_NOFILE it shows): it gets that hard limit instead,
 * never more than asked. As root this may raise limits; as the sandbox user (a container started
 * ahead, once it has its step) it only lowers them. */
static int apply_rlimits(const sandbox_rlimit *rl, size_t n, const char **failed)
{
    for (size_t i = 0; i < n; i++) {
        struct rlimit r = {.rlim_cur = rl[i].soft, .rlim_max = rl[i].hard}, now;
        if (rl[i].resource == RLIMIT_NOFILE && getrlimit(RLIMIT_NOFILE, &now) == 0 &&
            now.rlim_max < r.rlim_max)
            r.rlim_cur = r.rlim_max = now.rlim_max;
        int rc = setrlimit(rl[i].resource, &r);
        if (rc < 0 && errno == EPERM && getrlimit(rl[i].resource, &now) == 0 &&
            now.rlim_max < r.rlim_max) {
            r.rlim_max = now.rlim_max;
            r.rlim_cur = r.rlim_cur < r.rlim_max ? r.rlim_cur : r.rlim_max;
            rc = setrlimit(rl[i].resource, &r);
        }
        if (rc < 0) {
            *failed = rl[i].oci;
            return -1;
        }
    }
    return 0;
}

/* Root with every capability becomes the slot's user (uid = gid) with none: bounding set and
 * ambient set emptied while we still may, then the ids (which clears permitted and effective),
 * then the inheritable set, which a change of uid keeps. */
static int drop_privileges(int last_cap, uid_t uid)
{
    if (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0)
        return -1;
    for (int cap = 0; cap <= last_cap; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
            return -1;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 ||
        prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0 || setresuid(uid, uid, uid) < 0)
        return -1;
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = {{0}};
    return (int)syscall(SYS_capset, &h, d);
}

/* Read all of n bytes; false at EOF or error. */
static bool read_full(int fd, void *buf, size_t n)
{
    for (size_t got = 0; got < n;) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        got += (size_t)r;
    }
    return true;
}

/* The waiting child's command (see command_message): the step's rlimits applied, argv and
 * envp returned; exits quietly when the parent closes the pipe without one (the container was
 * discarded). */
static void receive_command(const child_args *a, char ***argv, char ***envp)
{
    uint32_t head[3];
    struct rlimit lims[SANDBOX_NRLIMITS];
    if (!read_full(a->go_fd, head, sizeof head) || !read_full(a->go_fd, lims, sizeof lims))
        _exit(0);
    if (head[0] < sizeof head + sizeof lims || head[0] > COMMAND_MAX || head[1] == 0 ||
        head[1] + head[2] > COMMAND_MAX / 2)
        child_fail(a, "malformed command");
    sandbox_rlimit rl[SANDBOX_NRLIMITS];
    memcpy(rl, a->rlimits, sizeof rl);
    for (size_t i = 0; i < SANDBOX_NRLIMITS; i++)
        rl[i].soft = lims[i].rlim_cur, rl[i].hard = lims[i].rlim_max;
    const char *failed = "";
    if (apply_rlimits(rl, SANDBOX_NRLIMITS, &failed) < 0) {
        char what[64];
        snprintf(what, sizeof what, "setrlimit(%s)", failed);
        child_fail_errno(a, what);
    }
    size_t body = head[0] - sizeof head - sizeof lims;
    char *buf = malloc(body + 1), *p = buf, *end = buf + body;
    char **v = malloc((head[1] + head[2] + 2) * sizeof *v);
    if (!buf || !v)
        child_fail(a, "out of memory");
    if (!read_full(a->go_fd, buf, body))
        _exit(0);
    buf[body] = '\0';
    size_t n = 0;
    for (uint32_t i = 0; i < head[1] + head[2]; i++) {
        if (p >= end)
            child_fail(a, "malformed command");
        v[n++] = p;
        p += strlen(p) + 1;
        if (i + 1 == head[1])
            v[n++] = NULL; /* argv ends, envp starts */
    }
    v[n] = NULL;
    close(a->go_fd);
    *argv = v;
    *envp = v + head[1] + 1;
}

/* The holder's socket at HOLD_FD without close-on-exec, the error pipe moved out of its way. */
static int keep_hold_fd(child_args *a)
{
    if (a->hold_fd == HOLD_FD)
        return fcntl(HOLD_FD, F_SETFD, 0);
    if (a->err_fd == HOLD_FD) {
        int moved = fcntl(a->err_fd, F_DUPFD_CLOEXEC, HOLD_FD + 1);
        if (moved < 0)
            return -1;
        a->err_fd = moved; /* fd 3 itself is replaced (and so closed) below */
    }
    return dup2(a->hold_fd, HOLD_FD) < 0 ? -1 : 0;
}

static _Noreturn void child_main(child_args *a)
{
    const launch_params *lp = a->lp;
    const oci_spec_params *sp = lp->spec;
    char msg[512];
    if (stdio_to(lp->fd0, 0) < 0 || stdio_to(lp->fd1, 1) < 0 || stdio_to(lp->fd2, 2) < 0)
        child_fail_errno(a, "stdio");
    /* a session of its own: no controlling terminal (a worker started from a shell must not
     * lend the program its tty: /dev/tty, TIOCSTI), and no signal sent to the worker's
     * process group reaches the container */
    if (setsid() < 0)
        child_fail_errno(a, "setsid");
    /* the worker dying before the exec takes this process with it; after the exec the
     * worker's cleanup finds the container by its cgroup */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        child_fail_errno(a, "PR_SET_PDEATHSIG");
    if (a->cgroup_fd < 0 && cgroup_limits_join_self(a->l->cg, lp->cgroup_rel, msg, sizeof msg) < 0)
        child_fail(a, msg);
    umask(0);
    if (unshare(CLONE_NEWCGROUP) < 0)
        child_fail_errno(a, "unshare(CLONE_NEWCGROUP)");
    cleanup_fd int adj = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (adj < 0 || write(adj, "1000", 4) != 4)
        child_fail_errno(a, "oom_score_adj");
    launch_fs fs = {.rootfs = sp->rootfs,
                    .workspace = sp->workspace,
                    .status = sp->status,
                    .tmp_mb = sp->tmp_mb,
                    .cgroups = &a->l->cgroups,
                    .cpus = sp->cpus_view};
    if (launch_fs_build(&fs, msg, sizeof msg) < 0)
        child_fail(a, msg);
    if (sethostname(SANDBOX_HOSTNAME, strlen(SANDBOX_HOSTNAME)) < 0)
        child_fail_errno(a, "sethostname");
    if (loopback_up() < 0)
        child_fail_errno(a, "loopback");
    /* the CPUs it runs on: what sched_getaffinity, nproc and OpenMP count */
    if (sp->cpus_view && sched_setaffinity(0, sizeof sp->cpus_view->set, &sp->cpus_view->set) < 0)
        child_fail_errno(a, "sched_setaffinity");
    const char *failed = "";
    if (apply_rlimits(a->rlimits, SANDBOX_NRLIMITS, &failed) < 0) {
        char what[64];
        snprintf(what, sizeof what, "setrlimit(%s)", failed);
        child_fail_errno(a, what);
    }
    if (drop_privileges(a->l->last_cap, sp->uid) < 0)
        child_fail_errno(a, "dropping privileges");
    /* cleared by the change of credentials: set again */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        child_fail_errno(a, "prctl");
    umask(022);
    sigset_t none;
    sigemptyset(&none);
    signal(SIGPIPE, SIG_DFL); /* ignored by the worker; an ignored signal survives exec */
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
        child_fail_errno(a, "close_range");
    if (a->hold_fd >= 0 && keep_hold_fd(a) < 0)
        child_fail_errno(a, "the session's socket");
    /* last: from here on mount, unshare and the rest are refused */
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &a->l->seccomp, 0, 0) < 0)
        child_fail_errno(a, "seccomp");
    char **argv = a->argv, **envp = a->envp;
    if (a->go_fd >= 0)
        receive_command(a, &argv, &envp);
    syscall(SYS_execveat, a->l->init_fd, "", argv, envp, AT_EMPTY_PATH);
    /* valgrind answers execveat with ENOSYS or, for an empty path, ENOENT: the same file by its
     * /proc path then */
    if (errno == ENOSYS || errno == ENOENT) {
        char self[64];
        snprintf(self, sizeof self, "/proc/self/fd/%d", a->l->init_fd);
        execve(self, argv, envp);
    }
    child_fail_errno(a, "exec cr-init");
}

/* ---- the parent ---- */

static char **env_vector(char *const *lang_env)
{
    json_t *env = sandbox_env_json(lang_env);
    size_t n = json_array_size(env);
    char **v = xcalloc(n + 1, sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = xstrdup(json_string_value(json_array_get(env, i)));
    json_decref(env);
    return v;
}

static char **argv_vector(char *const *argv)
{
    size_t n = 0;
    while (argv[n])
        n++;
    char **v = xcalloc(n + 2, sizeof *v);
    v[0] = (char *)OCI_INIT_PATH;
    memcpy(v + 1, argv, n * sizeof *v);
    return v;
}

static void free_vector(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* Wait for the child's verdict: EOF on the error pipe once it has exec'd, or a message. */
static int await_exec(int fd, char *err, size_t errlen)
{
    char msg[512];
    size_t len = 0;
    int64_t deadline = now_mono_ms() + SETUP_TIMEOUT_MS;
    for (;;) {
        int64_t left = deadline - now_mono_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = left > 0 ? poll(&p, 1, (int)left) : 0;
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            snprintf(err, errlen, "the container did not start within %d ms", SETUP_TIMEOUT_MS);
            return -1;
        }
        ssize_t n = read(fd, msg + len, sizeof msg - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == sizeof msg - 1)
            break;
    }
    if (len == 0)
        return 0;
    msg[len] = '\0';
    snprintf(err, errlen, "container setup failed: %s", msg);
    return -1;
}

/* clone3 into the namespaces (and on v2 into the cgroup); where clone3 is missing (valgrind
 * does not implement it) the older clone, with the child joining its cgroup itself. */
static pid_t clone_container(int *cgroup_fd, int *pidfd)
{
    const uint64_t ns = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS;
    struct clone_args ca = {
        .flags = ns | CLONE_PIDFD | (*cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0),
        .pidfd = (uint64_t)(uintptr_t)pidfd,
        .exit_signal = SIGCHLD,
        .cgroup = *cgroup_fd >= 0 ? (uint64_t)*cgroup_fd : 0,
    };
    pid_t pid = (pid_t)syscall(SYS_clone3, &ca, sizeof ca);
    if (pid >= 0 || errno != ENOSYS)
        return pid;
    if (*cgroup_fd >= 0)
        close(*cgroup_fd);
    *cgroup_fd = -1;
    pid = (pid_t)syscall(SYS_clone, (unsigned long)ns | SIGCHLD, NULL, NULL, NULL, NULL);
    if (pid > 0)
        *pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    return pid;
}

/* The step's rlimits (worker/sandbox/policy.h). */
static void step_rlimits(const oci_spec_params *sp, sandbox_rlimit rl[SANDBOX_NRLIMITS])
{
    sandbox_rlimits(&(sandbox_rlimit_params){.pids = sp->pids,
                                             .tmp_mb = sp->tmp_mb,
                                             .cpu_time_ms = sp->cpu_time_ms},
                    rl);
}

/* The step's limits in cgroup terms. */
static cgroup_limits limits_of(const oci_spec_params *sp)
{
    return (cgroup_limits){.memory_bytes = (long long)sp->memory_mb * 1024 * 1024,
                           .pids = sp->pids,
                           .cpu_quota_us = sandbox_cpu_quota_us(sp->cpus),
                           .cpu_period_us = SANDBOX_CPU_PERIOD_US};
}

/* Kill and reap a container that did not get going, close its pidfd, remove its cgroup. */
static void abandon(const launcher *l, pid_t pid, int pidfd, const char *cgroup_rel)
{
    if (pid > 0) {
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    if (pidfd >= 0)
        close(pidfd);
    cgroup_limits_remove(l->cg, cgroup_rel);
}

/* Make the cgroup (lim NULL: no limits yet) and the error pipe, and clone the child, which
 * runs child_main(a) (a->l, a->lp, argv, envp, go_fd set by the caller). On success *pid, *pidfd
 * and *err_rd (the error pipe's read end) are the caller's; on failure nothing is left. */
static int spawn(child_args *a, const cgroup_limits *lim, pid_t *pid, int *pidfd, int *err_rd,
                 char *err, size_t errlen)
{
    *pid = -1, *pidfd = -1, *err_rd = -1;
    const cgroup_host *cg = a->l->cg;
    const char *rel = a->lp->cgroup_rel;
    /* our copies of the write end and of the cgroup's descriptor are closed on return, so
     * that the read end sees EOF once the child has exec'd */
    cleanup_pipe int errp[2] = {-1, -1};
    if (pipe2(errp, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    if (cgroup_limits_create(cg, rel, lim, err, errlen) < 0)
        return -1;
    cleanup_fd int cgroup_fd = cgroup_limits_open(cg, rel); /* v2 only */
    a->err_fd = errp[1];
    pid_t p = cg->v2 && cgroup_fd < 0 ? (errno = ENOENT, -1) : clone_container(&cgroup_fd, pidfd);
    if (p == 0) {
        a->cgroup_fd = cgroup_fd;
        child_main(a); /* never returns: the cleanups above do not run in the child */
    }
    if (p < 0) {
        snprintf(err, errlen, "clone3: %s", strerror(errno));
        cgroup_limits_remove(cg, rel);
        return -1;
    }
    *pid = p, *err_rd = steal_fd(&errp[0]);
    return 0;
}

/* launch_start and launch_hold_start: the cgroup is made with lim. */
static int start(const launcher *l, const launch_params *lp, const cgroup_limits *lim, int hold_fd,
                 launched *out, char *err, size_t errlen)
{
    *out = (launched){.pid = 0, .pidfd = -1};
    child_args a = {.l = l,
                    .lp = lp,
                    .argv = argv_vector(lp->spec->argv),
                    .envp = env_vector(lp->spec->env),
                    .go_fd = -1,
                    .hold_fd = hold_fd};
    oci_spec_params held = *lp->spec; /* a holder's runs share its rlimits: no task or CPU-time
                                       * limit of its own, each run's cgroup has its limits */
    if (hold_fd >= 0)
        held.pids = LAUNCH_AHEAD_PIDS, held.cpu_time_ms = 0;
    step_rlimits(&held, a.rlimits);
    pid_t pid;
    int pidfd, err_rd;
    int rc = spawn(&a, lim, &pid, &pidfd, &err_rd, err, errlen);
    free(a.argv);
    free_vector(a.envp);
    if (rc < 0)
        return -1;
    rc = await_exec(err_rd, err, errlen);
    close(err_rd);
    if (rc < 0) {
        abandon(l, pid, pidfd, lp->cgroup_rel);
        return -1;
    }
    *out = (launched){.pid = pid, .pidfd = pidfd};
    return 0;
}

int launch_start(const launcher *l, const launch_params *lp, launched *out, char *err,
                 size_t errlen)
{
    cgroup_limits lim = limits_of(lp->spec);
    return start(l, lp, &lim, -1, out, err, errlen);
}

int launch_hold_start(const launcher *l, const launch_params *lp, int hold_fd, launched *out,
                      char *err, size_t errlen)
{
    cgroup_limits lim = limits_of(lp->spec); /* the whole session's: each run has its own too */
    return start(l, lp, &lim, hold_fd, out, err, errlen);
}

const cgroup_host *launch_cgroups(const launcher *l)
{
    return l->cg;
}

/* ---- containers started ahead of their step ---- */

/* A container started ahead of its step: made by launch_warm_start, freed by launch_warm_go
 * (its process then belongs to the step) or launch_warm_discard. */
struct launch_warm {
    const launcher *l; /* borrowed; the runtime that started it */
    pid_t pid;
    int pidfd;
    int go_fd;        /* write end: the command, then closed */
    int err_rd;       /* read end of the error pipe */
    int stdio[3];     /* our ends: the program's stdin (write), stdout and stderr (read) */
    char *cgroup_rel; /* owned */
};

int launch_warm_start(const launcher *l, const launch_params *lp, launch_warm **out, char *err,
                      size_t errlen)
{
    *out = NULL;
    /* [0] read end, [1] write end; the child's ends are closed on return */
    cleanup_pipe int go[2] = {-1, -1}, in[2] = {-1, -1}, out_[2] = {-1, -1}, er[2] = {-1, -1};
    if (pipe2(go, O_CLOEXEC) < 0 || pipe2(in, O_CLOEXEC) < 0 || pipe2(out_, O_CLOEXEC) < 0 ||
        pipe2(er, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    launch_params child_lp = *lp;
    child_lp.fd0 = in[0], child_lp.fd1 = out_[1], child_lp.fd2 = er[1];
    child_args a = {.l = l, .lp = &child_lp, .go_fd = go[0], .hold_fd = -1};
    /* no task or CPU-time limit until the step brings its own (a lower one: the waiting child
     * has dropped the privilege to raise any) */
    oci_spec_params ahead = *lp->spec;
    ahead.pids = LAUNCH_AHEAD_PIDS, ahead.cpu_time_ms = 0;
    step_rlimits(&ahead, a.rlimits);
    pid_t pid;
    int pidfd, err_rd;
    if (spawn(&a, NULL, &pid, &pidfd, &err_rd, err, errlen) < 0)
        return -1;
    launch_warm *w = xmalloc(sizeof *w);
    *w = (launch_warm){.l = l,
                       .pid = pid,
                       .pidfd = pidfd,
                       .go_fd = steal_fd(&go[1]),
                       .err_rd = err_rd,
                       .stdio = {steal_fd(&in[1]), steal_fd(&out_[0]), steal_fd(&er[0])},
                       .cgroup_rel = xstrdup(lp->cgroup_rel)};
    *out = w;
    return 0;
}

const char *launch_warm_cgroup(const launch_warm *w)
{
    return w->cgroup_rel;
}

/* The command for the waiting child: u32 total size, u32 argc, u32 envc, the step's rlimits
 * (struct rlimit, in sandbox_rlimits' order), then the strings of argv (cr-init first) and
 * envp, each NUL-terminated. */
static char *command_message(char *const argv[], char *const envp[],
                             const sandbox_rlimit rl[SANDBOX_NRLIMITS], size_t *len)
{
    uint32_t argc = 0, envc = 0;
    struct rlimit lims[SANDBOX_NRLIMITS];
    size_t size = 3 * sizeof(uint32_t) + sizeof lims;
    for (; argv[argc]; argc++)
        size += strlen(argv[argc]) + 1;
    for (; envp[envc]; envc++)
        size += strlen(envp[envc]) + 1;
    for (size_t i = 0; i < SANDBOX_NRLIMITS; i++)
        lims[i] = (struct rlimit){.rlim_cur = rl[i].soft, .rlim_max = rl[i].hard};
    char *m = xmalloc(size), *w = m + 3 * sizeof(uint32_t) + sizeof lims;
    uint32_t head[3] = {(uint32_t)size, argc, envc};
    memcpy(m, head, sizeof head);
    memcpy(m + sizeof head, lims, sizeof lims);
    for (uint32_t i = 0; i < argc; i++)
        w = stpcpy(w, argv[i]) + 1;
    for (uint32_t i = 0; i < envc; i++)
        w = stpcpy(w, envp[i]) + 1;
    *len = size;
    return m;
}

int launch_warm_go(launch_warm *w, const oci_spec_params *sp, launched *out, int stdio[3],
                   char *err, size_t errlen)
{
    *out = (launched){.pid = 0, .pidfd = -1};
    cgroup_limits lim = limits_of(sp);
    char **argv = argv_vector(sp->argv), **envp = env_vector(sp->env);
    sandbox_rlimit rl[SANDBOX_NRLIMITS];
    step_rlimits(sp, rl);
    size_t len;
    char *msg = command_message(argv, envp, rl, &len);
    free(argv);
    free_vector(envp);
    int rc = cgroup_limits_set(w->l->cg, w->cgroup_rel, &lim, err, errlen);
    if (rc == 0 && write_all(w->go_fd, msg, len) < 0) {
        snprintf(err, errlen, "the waiting container is gone: %s", strerror(errno));
        rc = -1;
    }
    free(msg);
    close(w->go_fd), w->go_fd = -1;
    if (rc == 0)
        rc = await_exec(w->err_rd, err, errlen);
    if (rc < 0) {
        launch_warm_discard(w);
        return -1;
    }
    *out = (launched){.pid = w->pid, .pidfd = w->pidfd};
    memcpy(stdio, w->stdio, sizeof w->stdio);
    close(w->err_rd);
    free(w->cgroup_rel);
    free(w);
    metric_inc(M_WARM_CONTAINERS, MV_WARM_USED);
    return 0;
}

void launch_warm_discard(launch_warm *w)
{
    if (!w)
        return;
    metric_inc(M_WARM_CONTAINERS, MV_WARM_DISCARDED); /* every other end of one is a use */
    abandon(w->l, w->pid, w->pidfd, w->cgroup_rel);
    close_fd(&w->go_fd), close_fd(&w->err_rd);
    close_fd(&w->stdio[0]), close_fd(&w->stdio[1]), close_fd(&w->stdio[2]);
    free(w->cgroup_rel);
    free(w);
}
