/* The host's cgroup layout, reading container cgroups (v1 or v2) and removing stale ones.
 * v1: cpuacct.usage, memory.max_usage_in_bytes, memory.oom_control "oom_kill";
 * v2: cpu.stat usage_usec, memory.peak, memory.events "oom_kill". */
#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <mntent.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"

#define CGROUP_ROOT "/sys/fs/cgroup"

static const char *const v1_controllers[CGROUP_V1_N] = {"memory", "pids", "cpu", "cpuacct"};

/* fn(e, arg) for each cgroup (v1) and cgroup2 mount of this process, in mount order. */
static void each_cgroup_mount(void (*fn)(const struct mntent *e, void *arg), void *arg)
{
    FILE *f = setmntent("/proc/self/mounts", "re");
    if (!f)
        return;
    struct mntent m, *e;
    char buf[4096];
    while ((e = getmntent_r(f, &m, buf, sizeof buf)))
        if (strcmp(e->mnt_type, "cgroup") == 0 || strcmp(e->mnt_type, "cgroup2") == 0)
            fn(e, arg);
    endmntent(f);
}

/* v1: each controller's hierarchy is the first cgroup mount that has it as an option. */
static void note_v1_mount(const struct mntent *e, void *arg)
{
    cgroup_host *h = arg;
    for (size_t i = 0; i < CGROUP_V1_N; i++)
        if (!h->v1[i] && strcmp(e->mnt_type, "cgroup") == 0 && hasmntopt(e, v1_controllers[i]))
            h->v1[i] = xstrdup(e->mnt_dir);
    if (!h->cpuset && strcmp(e->mnt_type, "cgroup") == 0 && hasmntopt(e, "cpuset"))
        h->cpuset = xstrdup(e->mnt_dir);
}

void cgroup_host_probe(cgroup_host *h)
{
    *h = (cgroup_host){0};
    struct statfs s;
    h->v2 = statfs(CGROUP_ROOT, &s) == 0 && s.f_type == CGROUP2_SUPER_MAGIC;
    if (!h->v2)
        each_cgroup_mount(note_v1_mount, h);
}

void cgroup_host_clear(cgroup_host *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < CGROUP_V1_N; i++)
        free(h->v1[i]);
    free(h->cpuset);
    *h = (cgroup_host){0};
}

const char *cgroup_v1_dir(const cgroup_host *h, const char *controller)
{
    for (size_t i = 0; i < CGROUP_V1_N; i++)
        if (strcmp(controller, v1_controllers[i]) == 0)
            return h->v1[i];
    return NULL;
}

/* Read a small file under dir/rel/name into buf; -1 if it cannot be read. */
static int read_file(const char *dir, const char *rel, const char *name, char *buf, size_t len)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s/%s", dir, rel, name) >= (int)sizeof path)
        return -1;
    cleanup_fd int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, len - 1);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return 0;
}

static long long read_number(const char *dir, const char *rel, const char *name)
{
    char buf[64];
    if (read_file(dir, rel, name, buf, sizeof buf) < 0)
        return -1;
    return strtoll(buf, NULL, 10);
}

long long cgroup_flat_key(const char *text, const char *key)
{
    size_t klen = strlen(key);
    for (const char *line = text; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (strncmp(line, key, klen) == 0 && line[klen] == ' ')
            return strtoll(line + klen + 1, NULL, 10);
    return -1;
}

/* The value of "key N" in a flat-keyed file such as memory.events; -1 if absent. */
static long long read_key(const char *dir, const char *rel, const char *name, const char *key)
{
    char buf[4096];
    if (read_file(dir, rel, name, buf, sizeof buf) < 0)
        return -1;
    return cgroup_flat_key(buf, key);
}

static int read_v2(const char *rel, cgroup_stats *st)
{
    long long usec = read_key(CGROUP_ROOT, rel, "cpu.stat", "usage_usec");
    if (usec < 0)
        return -1;
    st->cpu_ms = (long)(usec / 1000);
    long long peak = read_number(CGROUP_ROOT, rel, "memory.peak");
    st->memory_kb = peak > 0 ? (long)(peak / 1024) : 0;
    st->oom = read_key(CGROUP_ROOT, rel, "memory.events", "oom_kill") > 0;
    return 0;
}

static int read_v1(const cgroup_host *h, const char *rel, cgroup_stats *st)
{
    const char *mem = cgroup_v1_dir(h, "memory");
    const char *cpu = cgroup_v1_dir(h, "cpuacct");
    if (!mem || !cpu)
        return -1;
    long long ns = read_number(cpu, rel, "cpuacct.usage");
    long long peak = read_number(mem, rel, "memory.max_usage_in_bytes");
    if (ns < 0 || peak < 0)
        return -1;
    st->cpu_ms = (long)(ns / 1000000);
    long long memsw = read_number(mem, rel, "memory.memsw.max_usage_in_bytes");
    st->memory_kb = (long)((memsw > peak ? memsw : peak) / 1024);
    long long kills = read_key(mem, rel, "memory.oom_control", "oom_kill");
    if (kills < 0) /* kernels before 4.13: hitting the memory+swap cap means an OOM kill */
        kills = read_number(mem, rel, "memory.memsw.failcnt");
    st->oom = kills > 0 || read_key(mem, rel, "memory.oom_control", "under_oom") > 0;
    return 0;
}

int cgroup_read_stats(const cgroup_host *h, const char *rel, cgroup_stats *st)
{
    *st = (cgroup_stats){0};
    return h->v2 ? read_v2(rel, st) : read_v1(h, rel, st);
}

/* SIGKILL every task listed in dir/cgroup.procs. */
static void kill_tasks(const char *dir)
{
    cleanup_free char *path = xasprintf("%s/cgroup.procs", dir);
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    long pid;
    while (fscanf(f, "%ld", &pid) == 1)
        if (pid > 1)
            kill((pid_t)pid, SIGKILL);
    fclose(f);
}

/* rmdir the cgroup dir, its child cgroups (a session's: its holder's and its runs') first,
 * retrying while its killed tasks exit (EBUSY) for up to a second. */
static void remove_at(const char *dir, int depth)
{
    DIR *d = depth < 8 ? opendir(dir) : NULL;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_type == DT_DIR && e->d_name[0] != '.') {
            char child[PATH_MAX];
            if (snprintf(child, sizeof child, "%s/%s", dir, e->d_name) < (int)sizeof child)
                remove_at(child, depth + 1);
        }
    if (d)
        closedir(d);
    for (int i = 0; i < 100; i++) {
        kill_tasks(dir);
        if (rmdir(dir) == 0 || errno == ENOENT)
            return;
        if (errno != EBUSY)
            break;
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    }
}

void cgroup_remove(const char *dir)
{
    remove_at(dir, 0);
}

/* What cgroup_remove_matching removes, in each hierarchy. */
typedef struct removal {
    const char *parent;
    bool (*match)(const char *name, const void *arg);
    const void *arg;
} removal;

static void remove_in(const char *root, const removal *r)
{
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s/%s", root, r->parent) >= (int)sizeof dir)
        return;
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_type == DT_DIR && e->d_name[0] != '.' && r->match(e->d_name, r->arg)) {
            char child[PATH_MAX];
            if (snprintf(child, sizeof child, "%s/%s", dir, e->d_name) < (int)sizeof child)
                cgroup_remove(child);
        }
    closedir(d);
}

static void remove_in_mount(const struct mntent *e, void *arg)
{
    remove_in(e->mnt_dir, arg);
}

void cgroup_remove_matching(const cgroup_host *h, const char *parent,
                            bool (*match)(const char *name, const void *arg), const void *arg)
{
    removal r = {.parent = parent, .match = match, .arg = arg};
    if (h->v2)
        remove_in(CGROUP_ROOT, &r);
    else /* v1: every hierarchy mounted under /sys/fs/cgroup, and the hybrid's cgroup2 */
        each_cgroup_mount(remove_in_mount, &r);
}
