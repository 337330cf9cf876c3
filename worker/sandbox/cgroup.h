/* Container cgroups seen from the host, for both layouts (detected once per process): cgroup v1
 * (or hybrid: controllers on v1, an empty cgroup2 beside them) and the unified cgroup v2.
 * An OCI runtime creates and removes its containers' cgroups (the builtin runtime has
 * cgroup_limits.h); this module reads their accounting and clears leftovers of dead workers.
 *
 * API:
 *   cgroup_host_probe(&h)         note the host's layout: v2, or where each v1 controller is
 *                                 mounted; cgroup_host_clear(&h) frees what it holds. Every call
 *                                 that finds a container's cgroup takes h.
 *   cgroup_read_stats(&h, rel, &st)  CPU time, peak memory and OOM kills of cgroup rel (the OCI
 *                                 linux.cgroupsPath without its leading '/'); -1 if missing.
 *   cgroup_flat_key(text, key)    the number N of the line "key N" in the text of a flat-keyed
 *                                 file (cpu.stat, memory.events, memory.oom_control); -1 if
 *                                 there is none (pure: tests/fuzz/fuzz_cgroup.c calls it).
 *   cgroup_remove_matching(&h, parent, match, arg)
 *                                 in every hierarchy, kill the tasks of and remove each child of
 *                                 parent whose name match() accepts (stale containers). */
#ifndef CR_CGROUP_H
#define CR_CGROUP_H

#include <stdbool.h>

/* Accounting of one finished container, read before the runtime deletes its cgroup. */
typedef struct cgroup_stats {
    long cpu_ms;    /* user + system CPU time */
    long memory_kb; /* peak memory usage (0 when the kernel does not keep it) */
    bool oom;       /* the OOM killer killed a task of the cgroup */
} cgroup_stats;

#define CGROUP_V1_N 4 /* the v1 controllers a container uses: memory, pids, cpu, cpuacct */

/* The host's cgroup layout, as one process sees it. Filled by cgroup_host_probe when the process
 * starts using cgroups (a worker process's backend init, a cleanup) and read-only afterwards:
 * the layout does not change under a running worker. cgroup_host_clear frees it. */
typedef struct cgroup_host {
    bool v2;               /* pure cgroup v2: /sys/fs/cgroup is cgroup2 */
    char *v1[CGROUP_V1_N]; /* owned; v1 only: where the memory, pids, cpu and cpuacct
                            * hierarchies are mounted (in that order), NULL when not mounted */
    char *cpuset;          /* owned; v1 only: where the cpuset hierarchy is mounted (no
                            * container of the builtin runtime joins it), or NULL */
} cgroup_host;

void cgroup_host_probe(cgroup_host *h);
void cgroup_host_clear(cgroup_host *h);
/* v1: where the hierarchy of controller ("memory", "pids", "cpu" or "cpuacct") is mounted;
 * NULL on v2, when it is not mounted, or for another name. Borrowed from h. */
const char *cgroup_v1_dir(const cgroup_host *h, const char *controller);
int cgroup_read_stats(const cgroup_host *h, const char *rel, cgroup_stats *st);
long long cgroup_flat_key(const char *text, const char *key);
/* Kill the tasks of the cgroup directory dir and remove it (retrying while they exit), its
 * child cgroups first. */
void cgroup_remove(const char *dir);
void cgroup_remove_matching(const cgroup_host *h, const char *parent,
                            bool (*match)(const char *name, const void *arg), const void *arg);

#endif
