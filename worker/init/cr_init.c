/* cr-init: PID 1 of every oci sandbox container (static; bound read-only at /dev/.cr/init):
 * runs the program as its child, forwards the runtime's signals, reaps orphans, kills what is
 * left when the program ends, and reports how it ended.   Usage: cr-init PROGRAM [ARG...]
 * cr-init --session: the holder of a session's container instead (session.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "worker/init/hold_proto.h"
#include "worker/init/session.h"

/* Why: as PID 1 of its pid namespace the program would ignore every signal it has no handler
 * for (raise(SIGABRT), kill(getpid(), SIGTERM); abort() then ended in a SIGSEGV), inherit and
 * reap orphans, and a daemonized child could outlive it.
 *
 * Exit status (the container's, as the worker sees it): the program's exit code, or 128+N when
 * signal N killed it. A PID 1 cannot die of a signal it raises itself, and gVisor reports a
 * signal death as 128+N anyway, so the truth also goes to a side channel: one line, "exit C" or
 * "signal N", in STATUS_PATH (a file the worker binds there and reads after the step; it
 * believes "signal N" only with exit status 128+N, so a program writing that file can claim
 * only a death it could have died for real). PROGRAM not executable: "error ERRNO", exit 127.
 *
 * Runs as the sandbox user without capabilities. libc use is limited to thin system call
 * wrappers (no stdio, no malloc, no locale): the static binary stays small and auditable. */
#define STATUS_PATH "/dev/.cr/status"
#define EXIT_CANNOT_EXEC 127

/* Signals passed on to the program when they come from outside the container (runtime kill,
 * the kernel); SIGCHLD is waited for; the rest are ignored (a Linux PID 1 ignores them anyway,
 * gVisor's does not). Only SIGKILL from inside a gVisor container can end cr-init early: the
 * whole container then ends, reported as killed by SIGKILL. */
static const int forwarded[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH};

static void put(const char *s)
{
    ssize_t n = write(STDERR_FILENO, s, strlen(s));
    (void)n;
}

/* Decimal text of v (v >= 0) into buf (at least 12 bytes); returns buf. */
static char *itoa10(int v, char *buf)
{
    char tmp[12];
    int n = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) > 0 && n < 11);
    for (int i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    buf[n] = '\0';
    return buf;
}

/* Replace the status file's content with "<word> <value>\n"; a failure only loses the detail. */
static void record(int fd, const char *word, int value)
{
    if (fd < 0)
        return;
    char line[32], num[12];
    size_t n = strlen(word);
    memcpy(line, word, n);
    line[n++] = ' ';
    itoa10(value, num);
    memcpy(line + n, num, strlen(num));
    n += strlen(num);
    line[n++] = '\n';
    if (ftruncate(fd, 0) == 0) {
        ssize_t w = pwrite(fd, line, n, 0);
        (void)w;
    }
}

/* In the child: default dispositions, nothing blocked, then exec. Reports errno through
 * errpipe (close-on-exec: EOF there means the exec worked). */
static void __attribute__((noreturn)) exec_program(char **argv, const sigset_t *orig, int errpipe)
{
    for (int s = 1; s < NSIG; s++)
        signal(s, SIG_DFL); /* fails harmlessly for SIGKILL, SIGSTOP and the libc's own */
    sigprocmask(SIG_SETMASK, orig, NULL);
    execvp(argv[0], argv);
    int e = errno;
    ssize_t n = write(errpipe, &e, sizeof e);
    (void)n;
    _exit(EXIT_CANNOT_EXEC);
}

/* errno of a failed exec in the child, or 0 once the exec succeeded. */
static int exec_error(int errpipe)
{
    int e = 0;
    ssize_t n;
    while ((n = read(errpipe, &e, sizeof e)) < 0 && errno == EINTR)
        ;
    return n == (ssize_t)sizeof e ? e : 0;
}

/* Kill every other process of the container and reap them all: PID 1's kill(-1) reaches
 * exactly its namespace, and orphans are reparented to it before their parent is reaped, so
 * no child left (ECHILD) means no process left. Outside a container (pid != 1) kill(-1) would
 * reach every process of the user: there only the children are reaped. */
static void kill_and_reap_all(void)
{
    do {
        if (getpid() == 1)
            kill(-1, SIGKILL);
        while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
            ;
    } while (getpid() == 1 && kill(-1, 0) == 0);
}

int main(int argc, char **argv)
{
    /* First of all: not dumpable. /proc/1 becomes root's, so the program (same uid, a child of
     * ours) can neither open /proc/1/mem to rewrite this process (and forge the status file,
     * say "error": a system failure) nor read its environment or maps, nor ptrace it. The
     * program's exec makes it dumpable again, for itself. */
    prctl(PR_SET_DUMPABLE, 0);
    if (argc < 2) {
        put("usage: cr-init PROGRAM [ARG...] | cr-init " HOLD_ARG "\n");
        return EXIT_CANNOT_EXEC;
    }
    if (argc == 2 && strcmp(argv[1], HOLD_ARG) == 0)
        return cr_session_main();
    int status_fd = open(STATUS_PATH, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
    /* Orphans come to us as PID 1; elsewhere (a test run by hand) ask for them. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);

    sigset_t wanted, orig;
    sigemptyset(&wanted);
    sigaddset(&wanted, SIGCHLD);
    for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++)
        sigaddset(&wanted, forwarded[i]);
    for (int s = 1; s < NSIG; s++)
        if (!sigismember(&wanted, s))
            signal(s, SIG_IGN); /* fails harmlessly for SIGKILL, SIGSTOP and the libc's own */
    sigprocmask(SIG_BLOCK, &wanted, &orig);

    int errpipe[2];
    if (pipe2(errpipe, O_CLOEXEC) < 0) {
        put("cr-init: pipe failed\n");
        return EXIT_CANNOT_EXEC;
    }
    pid_t child = fork();
    if (child < 0) {
        put("cr-init: fork failed\n");
        return EXIT_CANNOT_EXEC;
    }
    if (child == 0)
        exec_program(argv + 1, &orig, errpipe[1]);
    close(errpipe[1]);
    int e = exec_error(errpipe[0]);
    close(errpipe[0]);
    if (e) {
        char num[12];
        put("cr-init: cannot execute ");
        put(argv[1]);
        put(" (errno ");
        put(itoa10(e, num));
        put(")\n");
        kill_and_reap_all();
        record(status_fd, "error", e);
        return EXIT_CANNOT_EXEC;
    }

    int status = 0;
    for (bool running = true; running;) {
        siginfo_t si;
        int sig = sigwaitinfo(&wanted, &si);
        if (sig < 0)
            continue; /* EINTR */
        if (sig != SIGCHLD) {
            /* from the runtime or the kernel (sender outside our namespace: pid 0), not a
             * signal the program sent to its own process group, which it has received */
            if (si.si_pid == 0 || si.si_code > 0)
                kill(child, sig);
            continue;
        }
        int st;
        pid_t r;
        while ((r = waitpid(-1, &st, WNOHANG)) > 0)
            if (r == child)
                status = st, running = false;
    }
    kill_and_reap_all();
    if (WIFSIGNALED(status)) {
        record(status_fd, "signal", WTERMSIG(status));
        return 128 + WTERMSIG(status);
    }
    record(status_fd, "exit", WEXITSTATUS(status));
    return WEXITSTATUS(status);
}
