/* A session's sandbox under the builtin runtime: one container, made once, whose PID 1 is
 * cr-init --session (the holder, worker/init/session.c; protocol worker/init/hold_proto.h), and
 * a fresh process tree in it for each run.
 *
 * Cgroups: the container's own, <rel> (made without limits), holds on v2 the holder in <rel>/init
 * (v2 allows no process beside child cgroups) and on v1 the holder itself; each run gets
 * <rel>/r<n> with the run's limits, made and removed by the caller (oci.c), which the run's
 * first process joins before it execs. The container's cgroup namespace is rooted at <rel>, so
 * a program sees its run's limits at /sys/fs/cgroup/r<n>.
 *
 *   hold_start(l, &lp, &h, err, errlen)   start the container lp describes (lp->spec->argv is
 *                                         not used: the holder needs none) in cgroup
 *                                         lp->cgroup_rel; 0, or -1 (err) with nothing left
 *   hold_begin(h, argv, env, rl, nrl, stdio, run_rel, err, errlen)
 *                                         start a run: argv resolved in the image (PATH of
 *                                         env), with the rlimits rl (nrl of them), stdio the run's
 * ends (stdin read end, stdout and stderr write ends; ours to close after), in cgroup run_rel; 0/-1
 *   hold_kill(h)                          end the run: every process of it is killed
 *   hold_read(h, &msg)                    the holder's next message: 1 (msg), 0 none yet, -1 the
 *                                         holder is gone
 *   hold_socket(h), hold_pidfd(h)         to poll: readable when a message or the holder's
 *                                         death is there
 *   hold_alive(h)                         whether the holder still runs
 *   hold_cgroup(h)                        the container's cgroup, "code-runner/<name>"
 *   hold_stop(h)                          stop the holder (and so the container), reap it,
 *                                         remove its cgroups; accepts NULL
 * A held container borrows its launcher: stopped before launch_free. */
#ifndef CR_HOLD_H
#define CR_HOLD_H

#include <stdbool.h>
#include <stddef.h>

#include "worker/executors/oci/builtin/launch.h"
#include "worker/init/hold_proto.h"
#include "worker/sandbox/policy.h"

typedef struct hold hold;

int hold_start(const launcher *l, const launch_params *lp, hold **out, char *err, size_t errlen);
int hold_begin(hold *h, char *const argv[], char *const env[], const sandbox_rlimit *rl, size_t nrl,
               const int stdio[3], const char *run_rel, char *err, size_t errlen);
int hold_kill(hold *h);
int hold_read(hold *h, hold_msg *m);
int hold_socket(const hold *h);
int hold_pidfd(const hold *h);
bool hold_alive(const hold *h);
const char *hold_cgroup(const hold *h);
void hold_stop(hold *h);
CLEANUP_FUNC(hold, hold_stop)

#endif
