/* A step's CPUs and what it sees of them: the pick per slot, the kernel's list format, and
 * /proc/cpuinfo and /proc/stat cut down to the step's CPUs (see cpus.h). */
#include "cpus.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

#define STAT_FIELDS 10 /* user nice system idle iowait irq softirq steal guest guest_nice */

/* The whole of a small file (procfs: read until EOF), or NULL. Caller frees. */
static char *slurp(const char *path)
{
    cleanup_fd int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 8192, len = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (len + 1 == cap)
            buf = xrealloc(buf, cap *= 2);
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    return buf;
}

void sandbox_cpus_probe(sandbox_cpus_host *h)
{
    *h = (sandbox_cpus_host){.n = 0};
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &set))
                h->cpu[h->n++] = c;
    if (h->n == 0) /* cannot happen: a process runs somewhere */
        h->cpu[h->n++] = 0;
    h->cpuinfo = slurp("/proc/cpuinfo");
    h->stat = slurp("/proc/stat");
}

void sandbox_cpus_clear(sandbox_cpus_host *h)
{
    if (!h)
        return;
    free(h->cpuinfo);
    free(h->stat);
    *h = (sandbox_cpus_host){.n = 0};
}

int sandbox_cpus_count(const sandbox_cpus_host *h, double cores)
{
    int want = (int)cores;
    if (want < cores) /* rounded up */
        want++;
    if (want < 1)
        return 1;
    return want < h->n ? want : h->n;
}

/* "0-1,3\n": the set in the kernel's list format. Caller frees. */
static char *list_of(const cpu_set_t *set)
{
    char *out = xstrdup("");
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (!CPU_ISSET(c, set))
            continue;
        int end = c;
        while (end + 1 < CPU_SETSIZE && CPU_ISSET(end + 1, set))
            end++;
        char *next = end > c ? xasprintf("%s%s%d-%d", out, *out ? "," : "", c, end)
                             : xasprintf("%s%s%d", out, *out ? "," : "", c);
        free(out);
        out = next;
        c = end;
    }
    char *line = xasprintf("%s\n", out);
    free(out);
    return line;
}

/* The CPU number of a "cpuN ..." line of /proc/stat, -1 for the "cpu " total or another line. */
static int stat_cpu(const char *line)
{
    if (strncmp(line, "cpu", 3) != 0 || line[3] < '0' || line[3] > '9')
        return -1;
    return atoi(line + 3);
}

/* /proc/stat with the set's cpuN lines only and "cpu" their sum; the other lines as they are. */
static char *stat_of(const char *host, const cpu_set_t *set)
{
    unsigned long long sum[STAT_FIELDS] = {0};
    size_t cap = strlen(host) + 256, len = 0;
    char *kept = xmalloc(cap), *rest = xmalloc(cap);
    size_t rest_len = 0;
    for (const char *line = host; *line;) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) + 1 : strlen(line);
        int cpu = stat_cpu(line);
        if (cpu >= 0 && cpu < CPU_SETSIZE && CPU_ISSET(cpu, set)) {
            char copy[512]; /* the line alone: strtoull would read on across its newline */
            snprintf(copy, sizeof copy, "%.*s", (int)(n < sizeof copy ? n : sizeof copy - 1), line);
            char *p = copy + 3, *end;
            strtoull(p, &end, 10); /* the cpu number, then the counters */
            for (int f = 0; f < STAT_FIELDS && end != p; f++) {
                p = end;
                unsigned long long x = strtoull(p, &end, 10);
                if (end != p)
                    sum[f] += x;
            }
            memcpy(kept + len, line, n), len += n;
        } else if (cpu < 0 && strncmp(line, "cpu ", 4) != 0) {
            memcpy(rest + rest_len, line, n), rest_len += n;
        }
        line += n;
    }
    kept[len] = rest[rest_len] = '\0';
    char *out =
        xasprintf("cpu  %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu\n%s%s", sum[0], sum[1],
                  sum[2], sum[3], sum[4], sum[5], sum[6], sum[7], sum[8], sum[9], kept, rest);
    free(kept);
    free(rest);
    return out;
}

/* /proc/cpuinfo with the entries (blank-line separated, "processor : N" first) of the set. */
static char *cpuinfo_of(const char *host, const cpu_set_t *set)
{
    size_t len = 0;
    char *out = xmalloc(strlen(host) + 1);
    for (const char *entry = host; *entry;) {
        const char *blank = strstr(entry, "\n\n");
        size_t n = blank ? (size_t)(blank - entry) + 2 : strlen(entry);
        const char *colon = memchr(entry, ':', n);
        int cpu = strncmp(entry, "processor", 9) == 0 && colon ? atoi(colon + 1) : -1;
        if (cpu >= 0 && cpu < CPU_SETSIZE && CPU_ISSET(cpu, set))
            memcpy(out + len, entry, n), len += n;
        entry += n;
    }
    out[len] = '\0';
    return out;
}

void sandbox_cpus_view(const sandbox_cpus_host *h, int slot, double cores, sandbox_cpu_view *v)
{
    *v = (sandbox_cpu_view){.n = sandbox_cpus_count(h, cores)};
    CPU_ZERO(&v->set);
    int first = (int)(((long)slot * v->n) % h->n);
    for (int i = 0; i < v->n; i++)
        CPU_SET(h->cpu[(first + i) % h->n], &v->set);
    v->list = list_of(&v->set);
    v->cpuinfo = h->cpuinfo ? cpuinfo_of(h->cpuinfo, &v->set) : NULL;
    v->stat = h->stat ? stat_of(h->stat, &v->set) : NULL;
}

void sandbox_cpus_view_clear(sandbox_cpu_view *v)
{
    if (!v)
        return;
    free(v->list);
    free(v->cpuinfo);
    free(v->stat);
    *v = (sandbox_cpu_view){.n = 0};
}

/* A new file dir/name holding text, read-only. */
static int put_file(const char *dir, const char *name, const char *text, char *err, size_t errlen)
{
    cleanup_free char *path = xasprintf("%s/%s", dir, name);
    cleanup_fd int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444);
    if (fd < 0 || write_all(fd, text, strlen(text)) < 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int make_dir(const char *path, char *err, size_t errlen)
{
    if (mkdir(path, 0755) < 0) {
        snprintf(err, errlen, "mkdir %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int sandbox_cpus_write(const sandbox_cpu_view *v, const char *dir, char *err, size_t errlen)
{
    cleanup_free char *sys = xasprintf("%s/sys", dir);
    if (make_dir(dir, err, errlen) < 0 || make_dir(sys, err, errlen) < 0 ||
        put_file(sys, "online", v->list, err, errlen) < 0 ||
        put_file(sys, "possible", v->list, err, errlen) < 0 ||
        put_file(sys, "present", v->list, err, errlen) < 0 ||
        put_file(sys, "offline", "\n", err, errlen) < 0 ||
        (v->cpuinfo && put_file(dir, "cpuinfo", v->cpuinfo, err, errlen) < 0) ||
        (v->stat && put_file(dir, "stat", v->stat, err, errlen) < 0))
        return -1;
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (!CPU_ISSET(c, &v->set))
            continue;
        cleanup_free char *cpu = xasprintf("%s/cpu%d", sys, c);
        if (make_dir(cpu, err, errlen) < 0)
            return -1;
    }
    return 0;
}
