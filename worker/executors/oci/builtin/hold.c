/* A session's held container under the builtin runtime: starting its holder, sending it runs,
 * stopping it (see hold.h). */
#include "hold.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "worker/sandbox/cgroup_limits.h"
#include "worker/sandbox/env.h"
#include "worker/sandbox/policy.h"

#define JOIN_TIMEOUT_MS 5000 /* the holder answers HOLD_JOIN at once; this is a dead one */

/* Made by hold_start, freed by hold_stop. */
struct hold {
    const launcher *l; /* borrowed; the runtime that started it */
    pid_t pid;         /* the holder, our child */
    int pidfd;         /* owned */
    int sock;          /* owned; our end of the holder's socket */
    char *cgroup_rel;  /* owned; the container's cgroup */
};

/* One message with descriptors; 0, or -1 (errno). */
static int send_msg(int sock, uint32_t kind, int32_t value, const int *fds, int n)
{
    hold_msg m = {.kind = kind, .value = value};
    struct iovec iov = {.iov_base = &m, .iov_len = sizeof m};
    union {
        char buf[CMSG_SPACE(sizeof(int) * HOLD_MAX_FDS)];
        struct cmsghdr align;
    } ctl;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (n > 0) {
        memset(&ctl, 0, sizeof ctl);
        mh.msg_control = ctl.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)n);
    }
    ssize_t w;
    while ((w = sendmsg(sock, &mh, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    return w == (ssize_t)sizeof m ? 0 : -1;
}

int hold_read(hold *h, hold_msg *m)
{
    ssize_t n;
    while ((n = recv(h->sock, m, sizeof *m, MSG_DONTWAIT)) < 0 && errno == EINTR)
        ;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    return n == (ssize_t)sizeof *m ? 1 : -1;
}

/* Wait up to timeout_ms for a message of kind want; its value, or -1 (err). */
static int await_msg(hold *h, uint32_t want, int timeout_ms, int32_t *value, char *err,
                     size_t errlen)
{
    int64_t deadline = now_mono_ms() + timeout_ms;
    for (;;) {
        hold_msg m;
        int r = hold_read(h, &m);
        if (r < 0) {
            snprintf(err, errlen, "the session's holder is gone");
            return -1;
        }
        if (r > 0 && m.kind == want) {
            *value = m.value;
            return 0;
        }
        int64_t left = deadline - now_mono_ms();
        if (left <= 0) {
            snprintf(err, errlen, "the session's holder did not answer");
            return -1;
        }
        struct pollfd p = {.fd = h->sock, .events = POLLIN};
        poll(&p, 1, (int)left);
    }
}

int hold_socket(const hold *h)
{
    return h->sock;
}

int hold_pidfd(const hold *h)
{
    return h->pidfd;
}

bool hold_alive(const hold *h)
{
    struct pollfd p = {.fd = h->pidfd, .events = POLLIN};
    return h->pidfd >= 0 && poll(&p, 1, 0) == 0;
}

const char *hold_cgroup(const hold *h)
{
    return h->cgroup_rel;
}

void hold_stop(hold *h)
{
    if (!h)
        return;
    /* SIGKILL to the PID 1 of the container kills every process in it. (Closing our end of
     * the socket is not enough at once: a container started ahead, still before its exec,
     * holds copies of our descriptors.) */
    if (h->pidfd >= 0) {
        syscall(SYS_pidfd_send_signal, h->pidfd, SIGKILL, NULL, 0);
        siginfo_t si;
        /* through the pidfd: the pid may have been reaped already and reused */
        while (waitid(P_PIDFD, (id_t)h->pidfd, &si, WEXITED) < 0 && errno == EINTR)
            ;
        close_fd(&h->pidfd);
    }
    close_fd(&h->sock);
    if (h->cgroup_rel)
        cgroup_limits_remove(launch_cgroups(h->l), h->cgroup_rel);
    free(h->cgroup_rel);
    free(h);
}

/* v2: the holder moves into <rel>/init, then <rel> enables the controllers its runs' cgroups
 * need (a cgroup with processes cannot). */
static int join_init(hold *h, const cgroup_host *cg, char *err, size_t errlen)
{
    cleanup_free char *init = xasprintf("%s/init", h->cgroup_rel);
    int fds[CGROUP_V1_N];
    if (cgroup_limits_create_plain(cg, init, err, errlen) < 0)
        return -1;
    int n = cgroup_limits_join_files(cg, init, fds, err, errlen);
    if (n < 0)
        return -1;
    int rc = send_msg(h->sock, HOLD_JOIN, 0, fds, n);
    for (int i = 0; i < n; i++)
        close(fds[i]);
    int32_t e = 0;
    if (rc < 0) {
        snprintf(err, errlen, "cannot reach the session's holder: %s", strerror(errno));
        return -1;
    }
    if (await_msg(h, HOLD_JOINED, JOIN_TIMEOUT_MS, &e, err, errlen) < 0)
        return -1;
    if (e) {
        snprintf(err, errlen, "the session's holder cannot join %s: %s", init, strerror(e));
        return -1;
    }
    return cgroup_limits_enable_below(cg, h->cgroup_rel, err, errlen);
}

int hold_start(const launcher *l, const launch_params *lp, hold **out, char *err, size_t errlen)
{
    *out = NULL;
    cleanup_pipe int sp[2] = {-1, -1};
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
        snprintf(err, errlen, "socketpair: %s", strerror(errno));
        return -1;
    }
    char *const argv[] = {HOLD_ARG, NULL};
    oci_spec_params spec = *lp->spec;
    spec.argv = argv;
    launch_params hp = *lp;
    hp.spec = &spec;
    hp.fd0 = hp.fd1 = hp.fd2 = -1;
    launched c;
    if (launch_hold_start(l, &hp, sp[1], &c, err, errlen) < 0)
        return -1;
    close_fd(&sp[1]);
    cleanup_ptr(hold) hold *h = xcalloc(1, sizeof *h);
    *h = (hold){.l = l,
                .pid = c.pid,
                .pidfd = c.pidfd,
                .sock = steal_fd(&sp[0]),
                .cgroup_rel = xstrdup(lp->cgroup_rel)};
    const cgroup_host *cg = launch_cgroups(l);
    if (cg->v2 && join_init(h, cg, err, errlen) < 0)
        return -1;
    *out = steal_pointer(&h);
    return 0;
}

/* The command memfd of a run: hold_command, argv's strings, env's strings. */
static int command_fd(char *const argv[], char *const env[], const sandbox_rlimit *rl, size_t nrl,
                      char *err, size_t errlen)
{
    hold_command head = {0};
    for (size_t i = 0; i < nrl && i < HOLD_MAX_RLIMITS; i++)
        head.rlimits[head.nrlimits++] = (hold_rlimit){
            .resource = rl[i].resource, .soft = (uint64_t)rl[i].soft, .hard = (uint64_t)rl[i].hard};
    size_t size = sizeof head;
    for (; argv[head.argc]; head.argc++)
        size += strlen(argv[head.argc]) + 1;
    json_t *envj = sandbox_env_json(env);
    size_t n = json_array_size(envj);
    for (size_t i = 0; i < n; i++)
        size += strlen(json_string_value(json_array_get(envj, i))) + 1;
    head.envc = (uint32_t)n;
    head.size = (uint32_t)size;
    cleanup_free char *buf = xmalloc(size);
    char *w = buf + sizeof head;
    memcpy(buf, &head, sizeof head);
    for (uint32_t i = 0; i < head.argc; i++)
        w = stpcpy(w, argv[i]) + 1;
    for (size_t i = 0; i < n; i++)
        w = stpcpy(w, json_string_value(json_array_get(envj, i))) + 1;
    json_decref(envj);
    if (head.argc + head.envc > HOLD_MAX_STRINGS) {
        snprintf(err, errlen, "the run's command has too many strings");
        return -1;
    }
    int fd = memfd_create("cr-run", MFD_CLOEXEC);
    if (fd < 0 || write_all(fd, buf, size) < 0) {
        snprintf(err, errlen, "the run's command: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

int hold_begin(hold *h, char *const argv[], char *const env[], const sandbox_rlimit *rl, size_t nrl,
               const int stdio[3], const char *run_rel, char *err, size_t errlen)
{
    int fds[HOLD_MAX_FDS];
    int cmd = command_fd(argv, env, rl, nrl, err, errlen);
    if (cmd < 0)
        return -1;
    int n = cgroup_limits_join_files(launch_cgroups(h->l), run_rel, fds + 4, err, errlen);
    if (n < 0) {
        close(cmd);
        return -1;
    }
    fds[0] = cmd;
    memcpy(fds + 1, stdio, 3 * sizeof *stdio);
    int rc = send_msg(h->sock, HOLD_RUN, n, fds, 4 + n);
    if (rc < 0)
        snprintf(err, errlen, "the session's sandbox is gone (%s)", strerror(errno));
    close(cmd);
    for (int i = 0; i < n; i++)
        close(fds[4 + i]);
    return rc;
}

int hold_kill(hold *h)
{
    return send_msg(h->sock, HOLD_KILL, 0, NULL, 0);
}
