/* Container cgroups seen from the host, for both layouts (detected at run time): cgroup v1 (or
 * hybrid: controllers on v1, an empty cgroup2 beside them) and the unified cgroup v2.
 * The OCI runtime creates and removes the cgroups; this module only reads their accounting
 * and clears leftovers of dead workers.
 *
 * API:
 *   cgroup_read_stats(rel, &st)   CPU time, peak memory and OOM kills of cgroup rel (the OCI
 *                                 linux.cgroupsPath without its leading '/'); -1 if missing.
 *   cgroup_flat_key(text, key)    the number N of the line "key N" in the text of a flat-keyed
 *                                 file (cpu.stat, memory.events, memory.oom_control); -1 if
 *                                 there is none (pure: tests/fuzz/fuzz_cgroup.c calls it).
 *   cgroup_remove_matching(parent, match, arg)
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

/* True on a pure cgroup v2 host (/sys/fs/cgroup is cgroup2). */
bool cgroup_is_v2(void);
/* v1: where the hierarchy of controller ("memory", "pids", "cpu" or "cpuacct") is mounted,
 * looked up once per process; NULL when it is not mounted (or another name). Not freed. */
const char *cgroup_v1_dir(const char *controller);
int cgroup_read_stats(const char *rel, cgroup_stats *st);
long long cgroup_flat_key(const char *text, const char *key);
/* Kill the tasks of the cgroup directory dir and remove it (retrying while they exit). */
void cgroup_remove(const char *dir);
void cgroup_remove_matching(const char *parent, bool (*match)(const char *name, const void *arg),
                            const void *arg);

#endif
