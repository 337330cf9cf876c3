/* Spawning the OCI runtime CLI: posix_spawnp, explicit stdio, every other descriptor closed. */
#include "runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"

#define CALL_OUTPUT_MAX (64 * 1024)

extern char **environ;

/* Global flags a runtime needs before its subcommand. */
static const struct {
    const char *name;     /* basename of OCI_RUNTIME */
    const char *flags[4]; /* NULL-terminated */
} runtime_flags[] = {
    {"runc", {NULL}},
    {"crun", {NULL}},
    /* gVisor sets up its own network stack unless told not to; no host devices */
    {"runsc", {"--network=none", "--oci-seccomp", NULL}},
    {"kata-runtime", {NULL}},
};

static const char *const *flags_of(const char *rt)
{
    const char *base = strrchr(rt, '/') ? strrchr(rt, '/') + 1 : rt;
    for (size_t i = 0; i < sizeof runtime_flags / sizeof *runtime_flags; i++)
        if (strcmp(base, runtime_flags[i].name) == 0)
            return runtime_flags[i].flags;
    return runtime_flags[0].flags;
}

bool oci_runtime_is_gvisor(const char *rt)
{
    const char *base = strrchr(rt, '/') ? strrchr(rt, '/') + 1 : rt;
    return strcmp(base, "runsc") == 0;
}

/* "rt <flags> args..." as a NULL-terminated vector (caller frees the vector only). */
static char **build_argv(const char *rt, const char *const args[])
{
    const char *const *flags = flags_of(rt);
    size_t nf = 0, na = 0;
    while (flags[nf])
        nf++;
    while (args[na])
        na++;
    char **v = xcalloc(1 + nf + na + 1, sizeof *v);
    size_t k = 0;
    v[k++] = (char *)rt;
    for (size_t i = 0; i < nf; i++)
        v[k++] = (char *)flags[i];
    for (size_t i = 0; i < na; i++)
        v[k++] = (char *)args[i];
    return v;
}

int oci_runtime_spawn(const char *rt, const char *const args[], int fd0, int fd1, int fd2,
                      pid_t *pid)
{
    cleanup_fd int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd0 >= 0 ? fd0 : null, 0);
    posix_spawn_file_actions_adddup2(&fa, fd1 >= 0 ? fd1 : null, 1);
    posix_spawn_file_actions_adddup2(&fa, fd2 >= 0 ? fd2 : null, 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&at, &none);
    sigset_t dfl; /* signals the worker ignores (SIGPIPE) are default again in the runtime */
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGPIPE);
    posix_spawnattr_setsigdefault(&at, &dfl);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    char **argv = build_argv(rt, args);
    int rc = posix_spawnp(pid, rt, &fa, &at, argv, environ);
    free(argv);
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    return 0;
}

int oci_wait(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return status;
}

/* Append what fd has (non-blocking) to buf, keeping at most CALL_OUTPUT_MAX bytes; false at
 * EOF or error. */
static bool slurp(int fd, char *buf, size_t *len)
{
    for (;;) {
        char chunk[4096];
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return true;
        if (n <= 0)
            return false;
        size_t take = (size_t)n < CALL_OUTPUT_MAX - *len ? (size_t)n : CALL_OUTPUT_MAX - *len;
        memcpy(buf + *len, chunk, take);
        *len += take;
    }
}

/* Reap every exited child; true (and *status) once pid was among them. */
static bool reap_all(pid_t pid, int *status)
{
    bool got = false;
    int st;
    pid_t r;
    while ((r = waitpid(-1, &st, WNOHANG)) > 0)
        if (r == pid)
            got = true, *status = st;
    return got;
}

/* Collect the output of pid, then its status; with orphans, reap other children meanwhile. */
static int collect(pid_t pid, int fd, char *buf, size_t *len, bool orphans)
{
    int status = -1;
    bool reaped = false;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    for (bool open = true; open || (orphans && !reaped);) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (open)
            poll(&p, 1, orphans ? 20 : -1);
        else
            usleep(5000);
        if (open)
            open = slurp(fd, buf, len);
        if (orphans && !reaped)
            reaped = reap_all(pid, &status);
    }
    buf[*len] = '\0';
    return reaped ? status : oci_wait(pid);
}

int oci_runtime_call(const char *rt, const char *const args[], bool reap_orphans, char **out,
                     char *err, size_t errlen)
{
    cleanup_pipe int p[2] = {-1, -1};
    if (pipe2(p, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    pid_t pid;
    int rc = oci_runtime_spawn(rt, args, -1, p[1], p[1], &pid);
    close_fd(&p[1]); /* the runtime's copy only: EOF when it is done (errno kept) */
    if (rc < 0) {
        snprintf(err, errlen, "cannot run %s: %s", rt, strerror(errno));
        return -1;
    }
    size_t len = 0;
    cleanup_free char *text = xmalloc(CALL_OUTPUT_MAX + 1);
    int status = collect(pid, p[0], text, &len, reap_orphans);
    bool ok = status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok)
        snprintf(err, errlen, "%s %s failed: %.300s", rt, args[0], text);
    if (out)
        *out = steal_pointer(&text);
    return ok ? 0 : -1;
}
