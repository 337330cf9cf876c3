/* The reaper: gives back the jobs of worker processes that died, so that no accepted job is lost.
 * Two entry points share one Lua routine (requeue), each one atomic script, so several
 * supervisors on several hosts may run them at once:
 *   for each id in {prefix}processing:<worker>: skip it when its task is gone or already final;
 *   else HINCRBY attempts; attempts >= TASK_MAX_ATTEMPTS -> FAILURE "the worker running this job
 *   died N times; giving up" (EXPIRE, PUBLISH {prefix}done); else status PENDING, lease and worker
 *   cleared, RPUSH to {prefix}queue (taken next). Then DEL the list and ZREM the worker.
 *
 *   reaper_requeue(rc, cfg, ids, n)  the given (known dead) workers: a supervisor's own slots at
 *                                    start-up, after a worker process died, at shutdown.
 *   reaper_reap(rc, cfg)             every worker whose heartbeat is older than
 *                                    3 x HEARTBEAT_INTERVAL + REAPER_GRACE_MS (Redis's clock).
 * Both return the number of jobs given back (requeued or failed), or -1 when Redis is
 * unreachable or the script failed. */
#ifndef CR_REAPER_H
#define CR_REAPER_H

#include <stddef.h>

#include "common/config.h"
#include "worker/rconn.h"

#define REAPER_GRACE_MS 2000

long reaper_requeue(rconn *rc, const cfg *c, const char *const *ids, size_t n);
long reaper_reap(rconn *rc, const cfg *c);

#endif
