/* The builtin runtime (OCI_RUNTIME=builtin): the worker starts a container itself, with no
 * runtime process. Same sandbox as oci/spec.c describes to runc: clone3 into fresh pid, mount,
 * network (loopback only, up), ipc, uts and cgroup namespaces; a cgroup with the memory, swap,
 * pids and CPU limits made by worker/sandbox/cgroup_limits.c; the file system of launch_fs.c;
 * rlimits, oom_score_adj 1000, the slot's uid/gid without supplementary groups, every capability
 * dropped (bounding, ambient, inheritable), no_new_privs, the seccomp filter of
 * worker/sandbox/seccomp.c; then exec of cr-init (from a memfd), which runs the program. Why: a Go
 * runtime per step cost ~50 ms of CPU and wall time (tests/bench/README.md); this costs a few.
 *
 *   launch_init(&cg, init, &l, err, errlen)
 *                                 once per worker process: compile the seccomp filter, note the
 *                                 capabilities and the host's cgroup hierarchies, copy cr-init
 *                                 (host path init) into a sealed memfd; *l is the
 *                                 runtime every other call takes (cg is borrowed: it outlives
 *                                 *l), freed by launch_free(l) (accepts NULL); 0/-1
 *   launch_start(l, &lp, &c, err, errlen)
 *                                 make the cgroup, start the container's first process, wait
 *                                 until it has exec'd cr-init (or failed: err says where and
 *                                 why, and nothing is left); c holds its pid (our child: reap
 *                                 it with waitpid) and a pidfd. The cgroup is the caller's to
 *                                 read and remove (cgroup.h).
 *
 *   launch_hold_start(l, &lp, fd, &c, err, errlen)
 *                                 the same for a session's holder (hold.h): the cgroup holds the
 *                                 whole session to the spec's limits (each run's sub-cgroup has
 *                                 its own too), the rlimits leave tasks and CPU time to each run,
 *                                 and the socket fd is the container's HOLD_FD across the exec
 *   launch_cgroups(l)             the host's cgroup layout the runtime was made with
 *
 * Started ahead of its step (a "warm" container: made once, used by one step, never reused):
 *   launch_warm_start(l, &lp, &w, err, errlen)
 *                                 make the cgroup (no limits yet) and start the container's
 *                                 first process, which does all of the above but the exec and
 *                                 then waits; lp's argv, env, limits and stdio are not used
 *   launch_warm_go(w, &spec, &c, stdio, err, errlen)
 *                                 write spec's limits, send argv and env, wait for the exec;
 *                                 stdio gets our ends of the program's stdin (write), stdout
 *                                 and stderr (read), the caller's to close. w is consumed
 *                                 (freed) either way; on failure nothing is left.
 *   launch_warm_discard(w)        kill it, remove its cgroup, free w (accepts NULL)
 *   launch_warm_cgroup(w)         its cgroup, "code-runner/<id>"
 * A warm container borrows its runtime: it is gone (used or discarded) before launch_free. */
#ifndef CR_LAUNCH_H
#define CR_LAUNCH_H

#include <stddef.h>
#include <sys/types.h>

#include "common/util.h"
#include "worker/executors/oci/spec.h"
#include "worker/sandbox/cgroup.h"

#define LAUNCH_RUNTIME_NAME "builtin" /* the OCI_RUNTIME value that selects it */

typedef struct launch_params {
    const oci_spec_params *spec; /* what the container is (the same inputs as config.json) */
    const char *cgroup_rel;      /* its cgroup below each hierarchy root, "code-runner/<id>" */
    int fd0, fd1, fd2;           /* stdio of cr-init (-1: /dev/null) */
} launch_params;

typedef struct launched {
    pid_t pid; /* the container's init (cr-init), in the host's pid namespace */
    int pidfd; /* owned by the caller */
} launched;

typedef struct launcher launcher; /* the builtin runtime of one process; opaque (launch.c) */

int launch_init(const cgroup_host *cg, const char *init, launcher **out, char *err, size_t errlen);
void launch_free(launcher *l);
int launch_start(const launcher *l, const launch_params *lp, launched *out, char *err,
                 size_t errlen);
int launch_hold_start(const launcher *l, const launch_params *lp, int hold_fd, launched *out,
                      char *err, size_t errlen);
const cgroup_host *launch_cgroups(const launcher *l);

typedef struct launch_warm launch_warm;
int launch_warm_start(const launcher *l, const launch_params *lp, launch_warm **out, char *err,
                      size_t errlen);
int launch_warm_go(launch_warm *w, const oci_spec_params *spec, launched *out, int stdio[3],
                   char *err, size_t errlen);
void launch_warm_discard(launch_warm *w);
CLEANUP_FUNC(launch_warm, launch_warm_discard)
const char *launch_warm_cgroup(const launch_warm *w);

#endif
