/* cr-init --session: PID 1 of a session's container, the holder (protocol: hold_proto.h). It
 * waits on its socket; for each run it forks a child that joins the run's cgroup, takes the
 * run's stdio and execs the program; when the program ends (or the worker says HOLD_KILL) it
 * kills and reaps every other process of the container, then reports. Same constraints as
 * cr_init.c: thin system call wrappers only, no stdio, no malloc. */
#include "session.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "worker/init/hold_proto.h"

#define EXIT_CANNOT_EXEC 127

extern char **environ;

/* The run's argv and environment, pointing into its mapped command (the child's own copy). */
static char *strings[HOLD_MAX_STRINGS + 2];
static hold_rlimit run_rlimits[HOLD_MAX_RLIMITS]; /* the run's, from its command */
static uint32_t run_nrlimits;

static void send_msg(uint32_t kind, int32_t value)
{
    hold_msg m = {.kind = kind, .value = value};
    while (send(HOLD_FD, &m, sizeof m, MSG_NOSIGNAL) < 0 && errno == EINTR)
        ;
}

/* Kill every process of the container but us and reap them all (as cr_init.c). */
static void kill_and_reap_all(void)
{
    do {
        kill(-1, SIGKILL);
        while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
            ;
    } while (kill(-1, 0) == 0);
}

/* A message and its descriptors; -1 when the socket is closed or broken, else the number of
 * descriptors (at most HOLD_MAX_FDS) in fds. */
static int receive(hold_msg *m, int fds[HOLD_MAX_FDS])
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * HOLD_MAX_FDS)];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {.iov_base = m, .iov_len = sizeof *m};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl};
    ssize_t n;
    while ((n = recvmsg(HOLD_FD, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
        ;
    if (n <= 0)
        return -1;
    int got = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            if (got < HOLD_MAX_FDS)
                fds[got++] = fd;
            else
                close(fd);
        }
    }
    if (n != (ssize_t)sizeof *m || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
        m->kind = 0; /* malformed: ignored */
    return got;
}

static void close_all(const int *fds, int n)
{
    for (int i = 0; i < n; i++)
        close(fds[i]);
}

/* Write "0" to each cgroup file: the caller (single-threaded) joins that cgroup. */
static int join(const int *fds, int n)
{
    for (int i = 0; i < n; i++)
        if (write(fds[i], "0", 1) != 1)
            return errno ? errno : EIO;
    return 0;
}

/* Point strings[] at the command in fd: argv, NULL, environment, NULL; false when malformed. */
static bool map_command(int fd, char ***argv, char ***envp)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size < (off_t)sizeof(hold_command))
        return false;
    char *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED)
        return false;
    hold_command h;
    memcpy(&h, p, sizeof h);
    if (h.size != (uint32_t)st.st_size || h.argc == 0 || h.argc + h.envc > HOLD_MAX_STRINGS ||
        h.nrlimits > HOLD_MAX_RLIMITS || p[st.st_size - 1] != '\0')
        return false;
    memcpy(run_rlimits, h.rlimits, sizeof run_rlimits);
    run_nrlimits = h.nrlimits;
    char *s = p + sizeof h, *end = p + st.st_size;
    size_t k = 0;
    for (uint32_t i = 0; i < h.argc + h.envc; i++) {
        if (s >= end)
            return false;
        strings[k++] = s;
        s += strlen(s) + 1;
        if (i + 1 == h.argc)
            strings[k++] = NULL;
    }
    strings[k] = NULL;
    *argv = strings;
    *envp = strings + h.argc + 1;
    return true;
}

/* The run's rlimits; 0 or an errno. */
static int set_rlimits(void)
{
    for (uint32_t i = 0; i < run_nrlimits; i++) {
        struct rlimit r = {.rlim_cur = (rlim_t)run_rlimits[i].soft,
                           .rlim_max = (rlim_t)run_rlimits[i].hard};
        if (setrlimit(run_rlimits[i].resource, &r) < 0)
            return errno;
    }
    return 0;
}

/* The run's child: join the run's cgroup, take its stdio, set its rlimits, exec. Reports errno on
 * errpipe and exits 127 when it cannot. */
static void __attribute__((noreturn))
run_child(const int *fds, int nfds, int ncg, const sigset_t *orig, int sfd, int errpipe)
{
    int e = 0;
    char **argv = NULL, **envp = NULL;
    close(HOLD_FD);
    close(sfd);
    if (nfds < 4 + ncg || ncg < 0)
        e = EINVAL;
    if (!e)
        e = join(fds + 4, ncg);
    if (!e && !map_command(fds[0], &argv, &envp))
        e = EINVAL;
    if (!e)
        e = set_rlimits();
    for (int i = 0; !e && i < 3; i++)
        if (dup2(fds[1 + i], i) < 0)
            e = errno;
    if (!e) {
        close_all(fds, nfds);
        setsid(); /* a process group of its own, apart from ours */
        for (int s = 1; s < NSIG; s++)
            signal(s, SIG_DFL);
        sigprocmask(SIG_SETMASK, orig, NULL);
        environ = envp;
        execvp(argv[0], argv);
        e = errno;
    }
    ssize_t n = write(errpipe, &e, sizeof e);
    (void)n;
    _exit(EXIT_CANNOT_EXEC);
}

/* Fork the run; its pid, or 0 when it could not start (then reported at once). exec_errno gets
 * the child's errno when it could not exec (it then exits 127). */
static pid_t start_run(const int *fds, int nfds, int ncg, const sigset_t *orig, int sfd,
                       int *exec_errno)
{
    int errp[2];
    *exec_errno = 0;
    if (pipe2(errp, O_CLOEXEC) < 0) {
        close_all(fds, nfds);
        send_msg(HOLD_EXEC_FAILED, errno);
        return 0;
    }
    pid_t pid = fork();
    if (pid == 0)
        run_child(fds, nfds, ncg, orig, sfd, errp[1]);
    int fork_errno = errno;
    close(errp[1]);
    close_all(fds, nfds);
    if (pid < 0) {
        close(errp[0]);
        send_msg(HOLD_EXEC_FAILED, fork_errno);
        return 0;
    }
    int e = 0;
    ssize_t n;
    while ((n = read(errp[0], &e, sizeof e)) < 0 && errno == EINTR)
        ;
    close(errp[0]);
    if (n == (ssize_t)sizeof e)
        *exec_errno = e ? e : EIO;
    return pid;
}

int cr_session_main(void)
{
    sigset_t chld, orig;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    for (int s = 1; s < NSIG; s++)
        if (s != SIGCHLD)
            signal(s, SIG_IGN); /* fails harmlessly for SIGKILL, SIGSTOP and the libc's own */
    sigprocmask(SIG_BLOCK, &chld, &orig);
    int sfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0)
        return EXIT_CANNOT_EXEC;
    pid_t run = 0;
    int status = 0, exec_errno = 0;
    bool over = false;
    for (;;) {
        struct pollfd p[2] = {{.fd = HOLD_FD, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) > 0)
                ;
            int st;
            pid_t r;
            while ((r = waitpid(-1, &st, WNOHANG)) > 0)
                if (r == run)
                    status = st, over = true;
        }
        if (over) {
            kill_and_reap_all();
            if (exec_errno)
                send_msg(HOLD_EXEC_FAILED, exec_errno);
            else
                send_msg(HOLD_EXIT, status);
            run = 0, over = false, exec_errno = 0;
        }
        if (!p[0].revents)
            continue;
        hold_msg m;
        int fds[HOLD_MAX_FDS];
        int n = receive(&m, fds);
        if (n < 0)
            break; /* the worker is gone: so is the session */
        switch (m.kind) {
        case HOLD_JOIN:
            send_msg(HOLD_JOINED, join(fds, n));
            close_all(fds, n);
            break;
        case HOLD_RUN:
            if (run) { /* one run at a time */
                close_all(fds, n);
                break;
            }
            run = start_run(fds, n, m.value, &orig, sfd, &exec_errno);
            break;
        case HOLD_KILL:
            close_all(fds, n);
            if (run)
                kill(-1, SIGKILL);
            break;
        default:
            close_all(fds, n);
            break;
        }
    }
    kill_and_reap_all();
    return 0;
}
