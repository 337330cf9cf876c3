/* What a sandbox step runs on and sees of the CPUs, the same in every backend: a step with a
 * quota of c cores runs on ceil(c) of the worker's CPUs (its affinity mask, a cpuset where the
 * runtime makes one) and sees those only: /sys/devices/system/cpu (online, possible, present,
 * one empty cpuN directory each: no cpufreq, topology or thermal_throttle of the host) and
 * /proc/cpuinfo and /proc/stat holding their lines only. So os.cpu_count() (Python),
 * os.cpus() (Node), nproc, OpenMP's default team, Go's NumCPU and the JVM all count what the
 * step gets, not the host's CPUs. The slots share the worker's CPUs round-robin: slot k's first
 * CPU is the (k * n)th, wrapping. /proc/stat is the worker's snapshot, taken when it started:
 * its counters do not move (the host's live CPU and interrupt counts are a side channel).
 *
 *   sandbox_cpus_probe(&h)          once per process: this process's CPUs and a snapshot of
 *                                   /proc/cpuinfo and /proc/stat; sandbox_cpus_clear(&h) frees it
 *   sandbox_cpus_count(&h, cores)   how many CPUs a step with that quota runs on
 *   sandbox_cpus_view(&h, slot, cores, &v)   the step's CPUs and files (v's strings owned;
 *                                   sandbox_cpus_view_clear(&v) frees them)
 *   sandbox_cpus_write(&v, dir, err, errlen) the files in dir (made), for runtimes that bind
 *                                   them from the host: dir/sys (for /sys/devices/system/cpu),
 *                                   dir/cpuinfo, dir/stat; 0/-1 */
#ifndef CR_SANDBOX_CPUS_H
#define CR_SANDBOX_CPUS_H

#include <sched.h>
#include <stddef.h>

/* The worker's CPUs and the host's CPU files, as sandbox_cpus_probe found them; read-only
 * afterwards, sandbox_cpus_clear frees it. */
typedef struct sandbox_cpus_host {
    int cpu[CPU_SETSIZE]; /* the CPUs this process may run on, ascending */
    int n;                /* how many (at least 1) */
    char *cpuinfo;        /* owned; /proc/cpuinfo, NULL when unreadable */
    char *stat;           /* owned; /proc/stat, NULL when unreadable */
} sandbox_cpus_host;

/* What one step runs on and sees. */
typedef struct sandbox_cpu_view {
    cpu_set_t set; /* its CPUs: the affinity mask, the cpuset */
    int n;         /* how many */
    char *list;    /* owned; "0-1,3\n", the kernel's list format (online, possible, present) */
    char *cpuinfo; /* owned; /proc/cpuinfo with their entries only (NULL: host's unknown) */
    char *stat;    /* owned; /proc/stat with their lines only, "cpu" their sum (NULL: same) */
} sandbox_cpu_view;

void sandbox_cpus_probe(sandbox_cpus_host *h);
void sandbox_cpus_clear(sandbox_cpus_host *h);
int sandbox_cpus_count(const sandbox_cpus_host *h, double cores);
void sandbox_cpus_view(const sandbox_cpus_host *h, int slot, double cores, sandbox_cpu_view *v);
void sandbox_cpus_view_clear(sandbox_cpu_view *v);
int sandbox_cpus_write(const sandbox_cpu_view *v, const char *dir, char *err, size_t errlen);

#endif
