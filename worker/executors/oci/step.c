/* Running one container step: spawn the runtime, pump stdio under caps and a deadline, reap the
 * container's init, read its cgroup, delete it (see step.h). */
#include "step.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "worker/sandbox/cgroup.h"
#include "worker/sandbox/cgroup_limits.h"
#include "worker/sandbox/policy.h"
#include "common/log.h"
#include "common/util.h"
#include "worker/executors/oci/runtime.h"

#define KILL_GRACE_MS 3000  /* after a kill, how long we wait for the init to go */
#define DRAIN_GRACE_MS 1000 /* after the init exited, how long we wait for EOF on the pipes */
#define RUNTIME_START_MS                                                                           \
    30000                /* beyond the time limit, how long a runtime may take to start            \
                          * the container (gVisor boots a kernel first) */
#define CPU_CHECK_MS 100 /* how often a step's CPU time is read, when it has a limit */
#define CHUNK 65536

/* One captured stream: read end and what was kept of it. */
typedef struct capture {
    int fd;     /* read end, non-blocking; -1 once at EOF or closed */
    char *buf;  /* owned until handed to the step_result */
    size_t len; /* bytes kept, at most the cap */
} capture;

/* A process we wait for: the runtime CLI, then the container's init (our child once the
 * runtime exits, because the worker is a child subreaper). */
typedef struct watched {
    pid_t pid;  /* 0: not known yet */
    int pidfd;  /* -1 when not open */
    bool done;  /* reaped */
    int status; /* waitpid status once done */
} watched;

/* Lifecycle: set up by start(), advanced by pump() until the init is reaped and both pipes are
 * at EOF (or the grace periods end), torn down by finish(). */
typedef struct step_state {
    const oci_step *st; /* borrowed inputs */
    watched rt;         /* "<rt> run --detach" */
    watched init;       /* the container's init process */
    int in_fd;          /* write end of the program's stdin, -1 when closed */
    size_t in_off;      /* bytes of stdin written so far */
    capture out, err;   /* stdout and stderr */
    int64_t start;      /* monotonic ms at spawn; once the runtime has started the container,
                         * when it did: the program's wall clock starts there */
    int64_t end;        /* when the init was reaped */
    int64_t killed_at;  /* when we killed it, 0: not killed */
    int64_t cpu_check;  /* when its cgroup's CPU time is read next (cpu_time_ms set) */
    bool timed_out, output_limited;
    int exec_errno; /* held: the program could not be executed (errno), 0 otherwise */
} step_state;

static int pidfd_open_(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

static void set_nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Reap w when it has exited (non-blocking); true when reaped now or before. */
static bool reap(watched *w)
{
    if (w->done || w->pid <= 0)
        return w->done;
    int status;
    pid_t r = waitpid(w->pid, &status, WNOHANG);
    if (r == w->pid || (r < 0 && errno == ECHILD)) {
        w->done = true;
        w->status = r == w->pid ? status : 0;
        close_fd(&w->pidfd);
    }
    return w->done;
}

static void kill_container(step_state *s, int64_t now)
{
    if (s->killed_at)
        return;
    s->killed_at = now;
    if (s->st->hold) {
        if (!s->init.done)
            hold_kill(s->st->hold); /* a holder that is gone took the run with it */
        return;
    }
    if (s->init.pid > 0 && !s->init.done)
        kill(s->init.pid, SIGKILL); /* pid 1 of its namespace: the kernel kills the rest */
    else if (!s->rt.done)
        kill(s->rt.pid, SIGKILL); /* still setting up; "delete -f" finishes the job */
}

/* Read the init's host pid from the runtime's pid file and watch it. */
static int watch_init(step_state *s, char *err, size_t errlen)
{
    cleanup_free char *path = xasprintf("%s/init.pid", s->st->bundle);
    cleanup_fd int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    char buf[32] = {0};
    long pid;
    if (fd < 0 || read(fd, buf, sizeof buf - 1) <= 0 || parse_long(buf, 2, 1 << 30, &pid) < 0) {
        snprintf(err, errlen, "%s: no pid file from %s", s->st->id, s->st->runtime);
        return -1;
    }
    s->init.pid = (pid_t)pid;
    s->init.pidfd = pidfd_open_(s->init.pid);
    if (s->init.pidfd < 0)
        reap(&s->init); /* already gone and reaped elsewhere: nothing to watch */
    return 0;
}

/* The runtime's own error: the tail of its log, else what it printed. */
static void runtime_error(step_state *s, char *err, size_t errlen)
{
    cleanup_free char *path = xasprintf("%s/runtime.log", s->st->bundle);
    char log[4096] = {0};
    cleanup_fd int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        off_t size = lseek(fd, 0, SEEK_END);
        lseek(fd, size > (off_t)sizeof log - 1 ? size - (off_t)sizeof log + 1 : 0, SEEK_SET);
        if (read(fd, log, sizeof log - 1) < 0)
            log[0] = '\0';
    }
    size_t n = strlen(log);
    while (n && (log[n - 1] == '\n' || log[n - 1] == ' '))
        log[--n] = '\0';
    const char *last = strrchr(log, '\n') ? strrchr(log, '\n') + 1 : log;
    snprintf(err, errlen, "%s run %s failed: %.400s%s%.200s", s->st->runtime, s->st->id, last,
             *last ? " " : "", s->err.buf ? s->err.buf : "");
}

/* Append what fd has to c, up to the cap; over the cap: kill, mark output_limited. */
static void drain(step_state *s, capture *c, int64_t now)
{
    char chunk[CHUNK];
    for (;;) {
        ssize_t n = read(c->fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            close_fd(&c->fd);
            return;
        }
        size_t room = s->st->output_limit - c->len;
        size_t take = (size_t)n < room ? (size_t)n : room;
        if (take) {
            c->buf = xrealloc(c->buf, c->len + take + 1);
            memcpy(c->buf + c->len, chunk, take);
            c->len += take;
            c->buf[c->len] = '\0';
        }
        if ((size_t)n > take) {
            s->output_limited = true;
            kill_container(s, now);
            close_fd(&c->fd);
            return;
        }
    }
}

static void feed(step_state *s)
{
    while (s->in_off < s->st->stdin_len) {
        ssize_t n = write(s->in_fd, s->st->stdin_data + s->in_off, s->st->stdin_len - s->in_off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n < 0) /* EPIPE: the program closed its stdin */
            break;
        s->in_off += (size_t)n;
    }
    close_fd(&s->in_fd);
}

/* The pipes' ends of the container closed here, ours taken into s (-1 left in the pipes). */
static void keep_parent_ends(step_state *s, int in[2], int out[2], int er[2])
{
    close_fd(&in[0]), close_fd(&out[1]), close_fd(&er[1]);
    s->in_fd = steal_fd(&in[1]);
    s->out.fd = steal_fd(&out[0]);
    s->err.fd = steal_fd(&er[0]);
    if (s->in_fd >= 0)
        set_nonblock(s->in_fd);
    set_nonblock(s->out.fd);
    set_nonblock(s->err.fd);
    fcntl(s->out.fd, F_SETPIPE_SZ, 1 << 20); /* fewer wake-ups for chatty programs */
}

/* The builtin runtime: the container's init is our own child, there is no runtime process. */
static int start_builtin(step_state *s, int in[2], int out[2], int er[2], char *err, size_t errlen)
{
    launch_params lp = *s->st->launch;
    lp.fd0 = in[0], lp.fd1 = out[1], lp.fd2 = er[1];
    launched c;
    s->start = now_mono_ms();
    int rc = launch_start(s->st->launcher, &lp, &c, err, errlen);
    keep_parent_ends(s, in, out, er);
    s->rt.done = true;
    if (rc < 0)
        return -1;
    s->init.pid = c.pid;
    s->init.pidfd = c.pidfd;
    return 0;
}

/* The builtin runtime with a container started ahead: send it the command. */
static int start_warm(step_state *s, char *err, size_t errlen)
{
    launched c;
    int fds[3];
    s->start = now_mono_ms();
    if (launch_warm_go(s->st->warm, s->st->launch->spec, &c, fds, err, errlen) < 0)
        return -1;
    int in[2] = {-1, fds[0]}, out[2] = {fds[1], -1}, er[2] = {fds[2], -1};
    keep_parent_ends(s, in, out, er);
    s->rt.done = true;
    s->init.pid = c.pid;
    s->init.pidfd = c.pidfd;
    return 0;
}

/* A run in a session's held container: the holder forks it. */
static int start_held(step_state *s, char *err, size_t errlen)
{
    cleanup_pipe int in[2] = {-1, -1}, out[2] = {-1, -1}, er[2] = {-1, -1};
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(er, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    const oci_spec_params *sp = s->st->launch->spec;
    int child[3] = {in[0], out[1], er[1]};
    s->start = now_mono_ms();
    sandbox_rlimit rl[SANDBOX_NRLIMITS];
    size_t nrl = sandbox_rlimits(&(sandbox_rlimit_params){.pids = sp->pids,
                                                          .tmp_mb = sp->tmp_mb,
                                                          .cpu_time_ms = sp->cpu_time_ms},
                                 rl);
    int rc =
        hold_begin(s->st->hold, sp->argv, sp->env, rl, nrl, child, s->st->cgroup_rel, err, errlen);
    keep_parent_ends(s, in, out, er);
    s->rt.done = true;
    s->init.pid = -1; /* no process of ours: the holder's messages say when it is over */
    if (rc < 0)
        s->init.done = true;
    return rc;
}

/* Spawn the runtime with fresh pipes; the child ends are closed here after the spawn. */
static int start(step_state *s, char *err, size_t errlen)
{
    if (s->st->hold)
        return start_held(s, err, errlen);
    if (s->st->warm) {
        if (start_warm(s, err, errlen) == 0)
            return 0;
        log_warn("%s: the container started ahead failed (%s); starting a fresh one", s->st->id,
                 err);
        err[0] = '\0';
    }
    cleanup_pipe int in[2] = {-1, -1}, out[2] = {-1, -1}, er[2] = {-1, -1};
    if ((s->st->stdin_len && pipe2(in, O_CLOEXEC) < 0) || pipe2(out, O_CLOEXEC) < 0 ||
        pipe2(er, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    if (s->st->launcher)
        return start_builtin(s, in, out, er, err, errlen);
    cleanup_free char *log = xasprintf("%s/runtime.log", s->st->bundle);
    cleanup_free char *pidf = xasprintf("%s/init.pid", s->st->bundle);
    const char *args[] = {"--log",       log,          "run", "--detach", "--bundle",
                          s->st->bundle, "--pid-file", pidf,  s->st->id,  NULL};
    s->start = now_mono_ms();
    int rc = oci_runtime_spawn(s->st->runtime, args, in[0], out[1], er[1], &s->rt.pid);
    int saved = errno;
    keep_parent_ends(s, in, out, er);
    if (rc < 0) {
        snprintf(err, errlen, "cannot run %s: %s", s->st->runtime, strerror(saved));
        return -1;
    }
    s->rt.pidfd = pidfd_open_(s->rt.pid);
    return 0;
}

/* Whether the loop is over: reaped and drained, or a grace period ran out. */
static bool finished(const step_state *s, int64_t now)
{
    if (s->rt.done && s->init.pid == 0)
        return true; /* the runtime failed (or was killed) before the container started */
    if (s->st->hold && s->killed_at && !s->init.done)
        return now - s->killed_at > KILL_GRACE_MS;
    if (s->init.done && s->out.fd < 0 && s->err.fd < 0)
        return true;
    if (s->init.done && now - s->end > DRAIN_GRACE_MS)
        return true;
    return s->killed_at && now - s->killed_at > KILL_GRACE_MS;
}

/* The holder's messages: HOLD_EXIT or HOLD_EXEC_FAILED end the run; its death fails it. */
static int held_events(step_state *s, int64_t now, char *err, size_t errlen)
{
    hold_msg m;
    int r;
    while ((r = hold_read(s->st->hold, &m)) > 0) {
        if (m.kind == HOLD_EXIT || m.kind == HOLD_EXEC_FAILED) {
            s->init.done = true;
            s->init.status = m.kind == HOLD_EXIT ? m.value : 127 << 8;
            s->exec_errno = m.kind == HOLD_EXEC_FAILED ? (m.value ? m.value : EIO) : 0;
            s->end = now;
            return 0;
        }
    }
    if (r < 0 || !hold_alive(s->st->hold)) {
        s->init.done = true;
        snprintf(err, errlen, "the session's sandbox stopped during the run");
        return -1;
    }
    return 0;
}

/* Handle what poll reported, in order: runtime exit, init exit, output, input. */
static int handle_events(step_state *s, int64_t now, char *err, size_t errlen)
{
    if (!s->rt.done && reap(&s->rt)) {
        if (WIFEXITED(s->rt.status) && WEXITSTATUS(s->rt.status) == 0) {
            if (watch_init(s, err, errlen) < 0)
                return -1;
            s->start = now; /* the runtime's own start-up is not the program's time */
        } else if (!s->killed_at) {
            return -1; /* runtime_error() explains */
        }
    }
    if (s->init.pid > 0 && !s->init.done && reap(&s->init))
        s->end = now;
    if (s->st->hold && !s->init.done && held_events(s, now, err, errlen) < 0)
        return -1;
    if (s->out.fd >= 0)
        drain(s, &s->out, now);
    if (s->err.fd >= 0)
        drain(s, &s->err, now);
    if (s->in_fd >= 0)
        feed(s);
    return 0;
}

/* Kill the container once its cgroup has spent the step's CPU time (checked every
 * CPU_CHECK_MS while the init runs): a time limit like the wall clock's. */
static void check_cpu_time(step_state *s, int64_t now)
{
    if (s->st->cpu_time_ms <= 0 || s->init.pid <= 0 || s->init.done || s->killed_at ||
        now < s->cpu_check)
        return;
    s->cpu_check = now + CPU_CHECK_MS;
    cgroup_stats cs;
    if (cgroup_read_stats(s->st->cg, s->st->cgroup_rel, &cs) == 0 &&
        cs.cpu_ms >= s->st->cpu_time_ms) {
        s->timed_out = true;
        kill_container(s, now);
    }
}

/* How long poll may sleep: until the deadline, briefly while a kill or a drain is under way,
 * never long (a kernel without pidfds is watched by time alone). */
static int poll_wait(const step_state *s, int64_t now, int64_t deadline)
{
    int64_t wait = deadline - now;
    if (s->st->cpu_time_ms > 0 && s->cpu_check - now < wait)
        wait = s->cpu_check - now;
    if (s->killed_at || s->init.done)
        wait = 50;
    if ((!s->rt.done && s->rt.pidfd < 0) || (s->init.pid > 0 && s->init.pidfd < 0))
        wait = wait < 20 ? wait : 20;
    return (int)(wait < 0 ? 0 : wait > 1000 ? 1000 : wait);
}

/* The poll loop; -1 only when the runtime failed. */
static int pump(step_state *s, char *err, size_t errlen)
{
    for (;;) {
        int64_t now = now_mono_ms();
        int64_t deadline = s->start + s->st->timeout_ms + (s->rt.done ? 0 : RUNTIME_START_MS);
        if (!s->init.done && now >= deadline && !s->killed_at) {
            s->timed_out = true;
            kill_container(s, now);
        }
        check_cpu_time(s, now);
        if (finished(s, now))
            return 0;
        struct pollfd p[7];
        nfds_t n = 0;
        bool held = s->st->hold && !s->init.done;
        int fds[7] = {s->rt.done ? -1 : s->rt.pidfd,
                      s->init.done ? -1 : s->init.pidfd,
                      s->out.fd,
                      s->err.fd,
                      s->in_fd,
                      held ? hold_socket(s->st->hold) : -1,
                      held ? hold_pidfd(s->st->hold) : -1};
        for (int i = 0; i < 7; i++)
            if (fds[i] >= 0)
                p[n++] = (struct pollfd){.fd = fds[i], .events = i == 4 ? POLLOUT : POLLIN};
        if (poll(p, n, poll_wait(s, now, deadline)) < 0 && errno != EINTR) {
            snprintf(err, errlen, "poll: %s", strerror(errno));
            return -1;
        }
        if (handle_events(s, now_mono_ms(), err, errlen) < 0) {
            if (s->err.fd >= 0)
                drain(s, &s->err, now);
            if (!*err)
                runtime_error(s, err, errlen);
            return -1;
        }
    }
}

/* Reap children that exited without us knowing them: processes of the runtime that were
 * reparented to us (runsc's sandbox and gofer). A zombie still "exists" for the runtime, which
 * then waits for it in delete. The worker process has no children but the runtime's. */
static void reap_orphans(void)
{
    int status;
    while (waitpid(-1, &status, WNOHANG) > 0)
        ;
}

static bool same_name(const char *name, const void *arg)
{
    return strcmp(name, arg) == 0;
}

/* Kill what is left, read the accounting, delete the container, reap our children. */
/* A held run still going at the end: kill it, and wait (a grace) for the holder to say it is
 * over, so that the run's cgroup is empty when it is read and removed. */
static void finish_held(step_state *s)
{
    if (!s->init.done)
        kill_container(s, now_mono_ms());
    int64_t deadline = now_mono_ms() + KILL_GRACE_MS;
    while (!s->init.done && now_mono_ms() < deadline) {
        struct pollfd p = {.fd = hold_socket(s->st->hold), .events = POLLIN};
        poll(&p, 1, 50);
        char ignored[64];
        if (held_events(s, now_mono_ms(), ignored, sizeof ignored) < 0)
            break;
    }
}

static void finish(step_state *s, step_result *res)
{
    if (s->st->hold)
        finish_held(s);
    else if (!s->init.done)
        kill_container(s, now_mono_ms());
    for (int i = 0; i < 100 && s->init.pid > 0 && !reap(&s->init); i++)
        usleep(10000);
    if (!s->rt.done)
        s->rt.status = oci_wait(s->rt.pid), s->rt.done = true;
    reap_orphans();
    cgroup_stats cs;
    bool started = s->init.pid > 0 || s->st->hold;
    if (started && cgroup_read_stats(s->st->cg, s->st->cgroup_rel, &cs) == 0) {
        res->cpu_ms = cs.cpu_ms;
        res->memory_kb = cs.memory_kb;
        res->oom_killed = cs.oom;
    } else if (started) {
        log_warn("%s: cannot read cgroup %s", s->st->id, s->st->cgroup_rel);
    }
    char err[512];
    const char *del[] = {"delete", "--force", s->st->id, NULL};
    if (!s->st->launcher &&
        oci_runtime_call(s->st->runtime, del, true, NULL, err, sizeof err) < 0 &&
        oci_runtime_call(s->st->runtime, del, true, NULL, err, sizeof err) < 0)
        log_warn("%s: %s", s->st->id, err);
    reap_orphans();
    if (s->st->launcher || s->st->hold) { /* the builtin runtime's cgroup is ours to remove */
        if (!s->st->keep_cgroup)
            cgroup_limits_remove(s->st->cg, s->st->cgroup_rel);
    } else { /* runsc may leave its cgroup behind; after runc this finds nothing to remove */
        const char *slash = strrchr(s->st->cgroup_rel, '/');
        cleanup_free char *parent =
            xstrndup(s->st->cgroup_rel, (size_t)(slash - s->st->cgroup_rel));
        cgroup_remove_matching(s->st->cg, parent, same_name, slash + 1);
    }
    close_fd(&s->rt.pidfd), close_fd(&s->init.pidfd), close_fd(&s->in_fd);
    close_fd(&s->out.fd), close_fd(&s->err.fd);
}

/* cr-init's line in the status file: "exit C", "signal N" or "error ERRNO"; -1 when there is
 * none (killed before writing, or not readable). */
static int read_status(const char *path, char word[8], int *value)
{
    if (!path)
        return -1;
    cleanup_fd int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    char buf[32] = {0};
    if (fd < 0 || read(fd, buf, sizeof buf - 1) <= 0)
        return -1;
    char *sp = strchr(buf, ' '), *nl = strchr(buf, '\n');
    if (!sp || !nl || sp - buf >= 8)
        return -1;
    *nl = '\0';
    long v;
    if (parse_long(sp + 1, 0, 4095, &v) < 0)
        return -1;
    memcpy(word, buf, (size_t)(sp - buf));
    word[sp - buf] = '\0';
    *value = (int)v;
    return 0;
}

/* Exit code and signal of the program. cr-init exits 128+N when signal N killed the program,
 * and says so in its status file; a "signal N" line is believed only with that exit code (a
 * program that wrote it can claim only a death it could have died). An init killed by a
 * signal is the worker's kill (time or output limit) or the OOM killer's. */
static void program_status(step_state *s, step_result *res)
{
    int status = s->init.status, value;
    char word[8];
    if (WIFSIGNALED(status)) {
        res->signal = WTERMSIG(status);
        res->exit_code = 128 + res->signal;
    } else if (WIFEXITED(status)) {
        res->exit_code = WEXITSTATUS(status);
        if (!s->st->hold && res->exit_code > 128 &&
            read_status(s->st->status_path, word, &value) == 0 && strcmp(word, "signal") == 0 &&
            value == res->exit_code - 128)
            res->signal = value;
    }
}

/* Whether cr-init could not execute the program (the step's argv is wrong or the image
 * broken: a system failure, not the program's); err says why. */
static bool exec_failed(step_state *s, char *err, size_t errlen)
{
    int value;
    char word[8];
    if (s->st->hold) {
        if (s->exec_errno)
            snprintf(err, errlen, "%s: cannot execute the program: %s", s->st->id,
                     strerror(s->exec_errno));
        return s->exec_errno != 0;
    }
    if (!WIFEXITED(s->init.status) || WEXITSTATUS(s->init.status) != 127 ||
        read_status(s->st->status_path, word, &value) < 0 || strcmp(word, "error") != 0)
        return false;
    snprintf(err, errlen, "%s: cannot execute the program: %s", s->st->id, strerror(value));
    return true;
}

static void fill_result(step_state *s, step_result *res)
{
    res->timed_out = s->timed_out;
    res->output_limited = s->output_limited;
    program_status(s, res);
    res->wall_ms = (long)((s->end ? s->end : now_mono_ms()) - s->start);
    res->out = s->out.buf ? steal_pointer(&s->out.buf) : xstrdup("");
    res->out_len = s->out.len;
    res->err = s->err.buf ? steal_pointer(&s->err.buf) : xstrdup("");
    res->err_len = s->err.len;
}

int oci_step_run(const oci_step *st, step_result *res, char *err, size_t errlen)
{
    *res = (step_result){0};
    step_state s = {.st = st,
                    .rt = {.pidfd = -1},
                    .init = {.pidfd = -1},
                    .in_fd = -1,
                    .out = {.fd = -1},
                    .err = {.fd = -1}};
    err[0] = '\0';
    int rc = start(&s, err, errlen);
    if (rc == 0)
        rc = pump(&s, err, errlen);
    if (s.rt.pid > 0 || s.init.pid > 0 || st->hold)
        finish(&s, res);
    if (rc == 0 && s.init.done && exec_failed(&s, err, errlen))
        rc = -1;
    if (rc == 0)
        fill_result(&s, res);
    free(s.out.buf);
    free(s.err.buf);
    return rc;
}
