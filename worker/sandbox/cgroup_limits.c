/* Creating a container's cgroup with its limits and moving a process into it (see
 * cgroup_limits.h). v1 files: memory.limit_in_bytes, memory.memsw.limit_in_bytes (when swap
 * accounting is on), pids.max, cpu.cfs_period_us/cpu.cfs_quota_us; v2: memory.max,
 * memory.swap.max, pids.max, cpu.max. */
#include "cgroup_limits.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

#define CGROUP_ROOT "/sys/fs/cgroup"

/* The v1 hierarchies a container joins, in the order they are made: cgroup_host.v1's. */
static const char *const joined[CGROUP_V1_N] = {"memory", "pids", "cpu", "cpuacct"};
#define NJOINED CGROUP_V1_N

/* Write text to dir/name; -1 (errno) on failure. ENOENT is the caller's to judge. */
static int put(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    cleanup_fd int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    return write_all(fd, text, strlen(text));
}

static int put_or_explain(const char *dir, const char *name, const char *text, char *err,
                          size_t errlen)
{
    if (put(dir, name, text) == 0)
        return 0;
    snprintf(err, errlen, "cgroup %s/%s = %s: %s", dir, name, text, strerror(errno));
    return -1;
}

/* dir = root/rel; false when it does not fit. */
static bool join_path(char dir[PATH_MAX], const char *root, const char *rel)
{
    return snprintf(dir, PATH_MAX, "%s/%s", root, rel) < PATH_MAX;
}

/* mkdir every missing component of root/rel (the parent "code-runner" is shared); the last one
 * must be new: a cgroup that exists already is someone else's, never joined. */
static int make_dirs(const char *root, const char *rel, char *err, size_t errlen)
{
    char dir[PATH_MAX];
    if (!join_path(dir, root, rel)) {
        snprintf(err, errlen, "cgroup path too long: %s/%s", root, rel);
        return -1;
    }
    for (char *p = dir + strlen(root) + 1;; p++) {
        bool last = *p == '\0';
        if (*p == '/' || last) {
            *p = '\0';
            if (mkdir(dir, 0755) < 0 && (errno != EEXIST || last)) {
                snprintf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
                return -1;
            }
            if (last)
                return 0;
            *p = '/';
        }
    }
}

static void remove_made(const char *const roots[], size_t n, const char *rel)
{
    for (size_t i = 0; i < n; i++) {
        char dir[PATH_MAX];
        if (roots[i] && join_path(dir, roots[i], rel))
            rmdir(dir);
    }
}

/* v1: the hierarchy roots of the joined controllers; -1 when one is not mounted. */
static int v1_roots(const cgroup_host *h, const char *roots[NJOINED], char *err, size_t errlen)
{
    for (size_t i = 0; i < NJOINED; i++) {
        roots[i] = h->v1[i];
        if (!roots[i]) {
            snprintf(err, errlen, "the cgroup v1 controller %s is not mounted", joined[i]);
            return -1;
        }
    }
    return 0;
}

static int set_v1(const char *const roots[NJOINED], const char *rel, const cgroup_limits *lim,
                  char *err, size_t errlen)
{
    char mem[PATH_MAX], pids[PATH_MAX], cpu[PATH_MAX], v[64];
    join_path(mem, roots[0], rel), join_path(pids, roots[1], rel), join_path(cpu, roots[2], rel);
    /* memory before memory+swap: the pair only ever comes down from unlimited */
    snprintf(v, sizeof v, "%lld", lim->memory_bytes);
    if (put_or_explain(mem, "memory.limit_in_bytes", v, err, errlen) < 0)
        return -1;
    /* without swap accounting (swapaccount=0) the file is missing: memory alone is capped */
    if (put(mem, "memory.memsw.limit_in_bytes", v) < 0 && errno != ENOENT) {
        snprintf(err, errlen, "cgroup %s/memory.memsw.limit_in_bytes: %s", mem, strerror(errno));
        return -1;
    }
    snprintf(v, sizeof v, "%ld", lim->pids);
    if (put_or_explain(pids, "pids.max", v, err, errlen) < 0)
        return -1;
    snprintf(v, sizeof v, "%ld", lim->cpu_period_us);
    if (put_or_explain(cpu, "cpu.cfs_period_us", v, err, errlen) < 0)
        return -1;
    snprintf(v, sizeof v, "%ld", lim->cpu_quota_us);
    return put_or_explain(cpu, "cpu.cfs_quota_us", v, err, errlen);
}

static int create_v1(const cgroup_host *h, const char *rel, const cgroup_limits *lim, char *err,
                     size_t errlen)
{
    const char *roots[NJOINED] = {0};
    if (v1_roots(h, roots, err, errlen) < 0)
        return -1;
    size_t made = 0;
    for (; made < NJOINED; made++) {
        bool again = false; /* co-mounted with an earlier one ("cpu,cpuacct"): made already */
        for (size_t j = 0; j < made; j++)
            again = again || strcmp(roots[j], roots[made]) == 0;
        if (!again && make_dirs(roots[made], rel, err, errlen) < 0)
            break;
    }
    if (made == NJOINED && (!lim || set_v1(roots, rel, lim, err, errlen) == 0))
        return 0;
    remove_made(roots, made, rel);
    return -1;
}

/* v2: the controllers must be enabled in every ancestor's cgroup.subtree_control. */
static int enable_controllers(const char *rel, char *err, size_t errlen)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", CGROUP_ROOT);
    const char *p = rel;
    for (;;) {
        if (put_or_explain(dir, "cgroup.subtree_control", "+memory +pids +cpu", err, errlen) < 0)
            return -1;
        const char *slash = strchr(p, '/');
        if (!slash)
            return 0;
        size_t len = strlen(dir);
        if (len + 1 + (size_t)(slash - p) >= sizeof dir)
            return -1;
        snprintf(dir + len, sizeof dir - len, "/%.*s", (int)(slash - p), p);
        p = slash + 1;
    }
}

static int set_v2(const char *dir, const cgroup_limits *lim, char *err, size_t errlen)
{
    char v[64];
    snprintf(v, sizeof v, "%lld", lim->memory_bytes);
    if (put_or_explain(dir, "memory.max", v, err, errlen) < 0)
        return -1;
    if (put(dir, "memory.swap.max", "0") < 0 && errno != ENOENT) {
        snprintf(err, errlen, "cgroup %s/memory.swap.max: %s", dir, strerror(errno));
        return -1;
    }
    snprintf(v, sizeof v, "%ld", lim->pids);
    if (put_or_explain(dir, "pids.max", v, err, errlen) < 0)
        return -1;
    snprintf(v, sizeof v, "%ld %ld", lim->cpu_quota_us, lim->cpu_period_us);
    return put_or_explain(dir, "cpu.max", v, err, errlen);
}

static int create_v2(const char *rel, const cgroup_limits *lim, char *err, size_t errlen)
{
    char dir[PATH_MAX];
    if (make_dirs(CGROUP_ROOT, rel, err, errlen) < 0)
        return -1;
    join_path(dir, CGROUP_ROOT, rel);
    if (enable_controllers(rel, err, errlen) == 0 && (!lim || set_v2(dir, lim, err, errlen) == 0))
        return 0;
    rmdir(dir);
    return -1;
}

int cgroup_limits_create(const cgroup_host *h, const char *rel, const cgroup_limits *lim, char *err,
                         size_t errlen)
{
    return h->v2 ? create_v2(rel, lim, err, errlen) : create_v1(h, rel, lim, err, errlen);
}

int cgroup_limits_create_plain(const cgroup_host *h, const char *rel, char *err, size_t errlen)
{
    if (h->v2)
        return make_dirs(CGROUP_ROOT, rel, err, errlen);
    return create_v1(h, rel, NULL, err, errlen);
}

int cgroup_limits_set(const cgroup_host *h, const char *rel, const cgroup_limits *lim, char *err,
                      size_t errlen)
{
    if (h->v2) {
        char dir[PATH_MAX];
        return join_path(dir, CGROUP_ROOT, rel) ? set_v2(dir, lim, err, errlen) : -1;
    }
    const char *roots[NJOINED];
    if (v1_roots(h, roots, err, errlen) < 0)
        return -1;
    /* v1 can restart its counters: the container's own setup is not the program's usage */
    char dir[PATH_MAX];
    if (join_path(dir, roots[0], rel)) {
        put(dir, "memory.max_usage_in_bytes", "0");
        put(dir, "memory.memsw.max_usage_in_bytes", "0");
    }
    if (join_path(dir, roots[3], rel))
        put(dir, "cpuacct.usage", "0");
    return set_v1(roots, rel, lim, err, errlen);
}

int cgroup_limits_open(const cgroup_host *h, const char *rel)
{
    char dir[PATH_MAX];
    if (!h->v2 || !join_path(dir, CGROUP_ROOT, rel))
        return -1;
    return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int cgroup_limits_join_self(const cgroup_host *h, const char *rel, char *err, size_t errlen)
{
    char dir[PATH_MAX];
    if (h->v2)
        return join_path(dir, CGROUP_ROOT, rel)
                   ? put_or_explain(dir, "cgroup.procs", "0", err, errlen)
                   : -1;
    for (size_t i = 0; i < NJOINED; i++) {
        const char *root = h->v1[i];
        if (!root || !join_path(dir, root, rel)) {
            snprintf(err, errlen, "no %s cgroup %s", joined[i], rel);
            return -1;
        }
        /* "0": this thread; one thread moving itself skips the kernel's threadgroup lock
         * (whose RCU grace period costs ~10 ms per move through cgroup.procs) */
        if (put_or_explain(dir, "tasks", "0", err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* dir/name's first line into buf (without its newline); -1 when it cannot be read. */
static int get(const char *dir, const char *name, char *buf, size_t len)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return -1;
    cleanup_fd int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, len - 1);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    return 0;
}

int cgroup_limits_cpuset_parent(const cgroup_host *h, const char *rel, char *err, size_t errlen)
{
    static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
    if (h->v2 || !h->cpuset)
        return 0; /* children inherit; or no cpuset a runtime could fail to set */
    if (make_dirs(h->cpuset, rel, err, errlen) < 0)
        return -1;
    char parent[PATH_MAX], dir[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", h->cpuset);
    for (const char *p = rel;;) {
        const char *slash = strchr(p, '/');
        int n = slash ? (int)(slash - p) : (int)strlen(p);
        if (snprintf(dir, sizeof dir, "%s/%.*s", parent, n, p) >= (int)sizeof dir)
            return -1;
        for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
            char mine[4096], theirs[4096];
            if (get(dir, files[i], mine, sizeof mine) == 0 && !*mine &&
                (get(parent, files[i], theirs, sizeof theirs) < 0 ||
                 put_or_explain(dir, files[i], theirs, err, errlen) < 0))
                return -1;
        }
        if (!slash)
            return 0;
        memcpy(parent, dir, sizeof parent);
        p = slash + 1;
    }
}

int cgroup_limits_join_files(const cgroup_host *h, const char *rel, int fds[CGROUP_V1_N], char *err,
                             size_t errlen)
{
    char path[PATH_MAX];
    if (h->v2) {
        if (snprintf(path, sizeof path, "%s/%s/cgroup.procs", CGROUP_ROOT, rel) >=
                (int)sizeof path ||
            (fds[0] = open(path, O_WRONLY | O_CLOEXEC)) < 0) {
            snprintf(err, errlen, "open %s: %s", path, strerror(errno));
            return -1;
        }
        return 1;
    }
    for (size_t i = 0; i < NJOINED; i++) {
        const char *root = h->v1[i];
        if (!root || snprintf(path, sizeof path, "%s/%s/tasks", root, rel) >= (int)sizeof path ||
            (fds[i] = open(path, O_WRONLY | O_CLOEXEC)) < 0) {
            snprintf(err, errlen, "open %s/%s/tasks: %s", root ? root : joined[i], rel,
                     root ? strerror(errno) : "not mounted");
            for (size_t j = 0; j < i; j++)
                close(fds[j]);
            return -1;
        }
    }
    return NJOINED;
}

int cgroup_limits_enable_below(const cgroup_host *h, const char *rel, char *err, size_t errlen)
{
    char dir[PATH_MAX];
    if (!h->v2)
        return 0;
    if (!join_path(dir, CGROUP_ROOT, rel)) {
        snprintf(err, errlen, "cgroup path too long: %s", rel);
        return -1;
    }
    return put_or_explain(dir, "cgroup.subtree_control", "+memory +pids +cpu", err, errlen);
}

void cgroup_limits_remove(const cgroup_host *h, const char *rel)
{
    char dir[PATH_MAX];
    if (h->v2) {
        if (join_path(dir, CGROUP_ROOT, rel))
            cgroup_remove(dir);
        return;
    }
    for (size_t i = 0; i < NJOINED; i++) {
        const char *root = h->v1[i];
        if (root && join_path(dir, root, rel))
            cgroup_remove(dir);
    }
}
