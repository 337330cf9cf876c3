/* A container's cgroup made by the worker itself, for the builtin runtime (OCI runtimes make
 * their own from config.json): created below each controller's hierarchy with the step's
 * limits written, then a process moved in. Works on cgroup v1 (or hybrid: v1 controllers) and
 * on the unified v2 hierarchy. cgroup.h reads the accounting and removes the cgroup after.
 *
 * Every call takes the host's layout (cgroup_host, cgroup.h) first.
 *   cgroup_limits_create(&h, rel, &lim, err, errlen)  mkdir rel in the memory, pids, cpu and
 *                              cpuacct hierarchies (v2: one directory, controllers enabled in
 *                              its parent) and write the limits (lim NULL: none yet); 0, or -1
 *                              with err set and whatever was made removed again
 *   cgroup_limits_create_plain(&h, rel, err, errlen)  mkdir rel in the same hierarchies,
 *                              without limits and (v2) without enabling controllers in its
 *                              parent (a session's holder cgroup, beside its runs'); 0/-1
 *   cgroup_limits_set(&h, rel, &lim, err, errlen)  write the limits of an existing one (a container
 *                              started ahead of its step), restarting v1's peak memory and CPU
 *                              counters first (v2 cannot: there the container's setup, ~1 ms of
 *                              CPU, counts in its time); 0/-1
 *   cgroup_limits_open(&h, rel)   v2: a descriptor of the cgroup's directory, for clone3's
 *                                 CLONE_INTO_CGROUP (the process starts inside); -1 on v1
 *   cgroup_limits_join_self(&h, rel, err, errlen)
 *                                 move the calling (single-threaded) process into it (v1:
 *                                 in every hierarchy; v2: where clone3 is missing); no
 *                                 allocation, so a freshly cloned child may call it; 0/-1
 *   cgroup_limits_join_files(&h, rel, fds, err, errlen)
 *                                 open (write-only) the files a process writes "0" to, to
 *                                 join it: v1 each hierarchy's tasks (a single-threaded process
 *                                 moving itself skips the threadgroup lock), v2 cgroup.procs.
 *                                 Opened by us, they let a process without privileges join it
 *                                 (the kernel checks the opener's credentials). Returns how
 *                                 many (at most CGROUP_V1_N) are in fds, or -1 (err)
 *   cgroup_limits_enable_below(&h, rel, err, errlen)
 *                                 v2: enable the controllers for rel's children (rel must hold
 *                                 no process then); v1: nothing to do; 0/-1
 *   cgroup_limits_remove(&h, rel) kill what is left in it and remove it from every hierarchy
 *                                 it was made in (its child cgroups first)
 *   cgroup_limits_cpuset_parent(&h, rel, err, errlen)
 *                                 v1: make rel (exclusively) and its missing ancestors in the
 *                                 cpuset hierarchy, each with its parent's CPUs and memory nodes,
 *                                 so that a runtime that does not copy them (gVisor) can set a
 *                                 cpuset below it; nothing on v2 (children inherit); 0/-1 */
#ifndef CR_CGROUP_LIMITS_H
#define CR_CGROUP_LIMITS_H

#include <stddef.h>
#include <sys/types.h>

#include "worker/sandbox/cgroup.h"

typedef struct cgroup_limits {
    long long memory_bytes; /* memory cap; memory+swap is capped at the same value */
    long pids;              /* pids.max */
    long cpu_quota_us;      /* CPU time per period */
    long cpu_period_us;
} cgroup_limits;

int cgroup_limits_create(const cgroup_host *h, const char *rel, const cgroup_limits *lim, char *err,
                         size_t errlen);
int cgroup_limits_create_plain(const cgroup_host *h, const char *rel, char *err, size_t errlen);
int cgroup_limits_set(const cgroup_host *h, const char *rel, const cgroup_limits *lim, char *err,
                      size_t errlen);
int cgroup_limits_open(const cgroup_host *h, const char *rel);
int cgroup_limits_join_self(const cgroup_host *h, const char *rel, char *err, size_t errlen);
int cgroup_limits_join_files(const cgroup_host *h, const char *rel, int fds[CGROUP_V1_N], char *err,
                             size_t errlen);
int cgroup_limits_enable_below(const cgroup_host *h, const char *rel, char *err, size_t errlen);
void cgroup_limits_remove(const cgroup_host *h, const char *rel);
int cgroup_limits_cpuset_parent(const cgroup_host *h, const char *rel, char *err, size_t errlen);

#endif
