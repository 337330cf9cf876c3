/* The reaper: gives back the jobs of worker processes that died, so that no accepted job is lost.
 * Every entry point is one atomic Lua script sharing one routine (requeue), so several
 * supervisors on several hosts may run them at once:
 *   for each id in {prefix}processing:<worker>: skip it when its task is gone or already final;
 *   else, when the death counts, HINCRBY attempts and, at TASK_MAX_ATTEMPTS, FAILURE "the worker
 *   running this job died N times; giving up" (EXPIRE, PUBLISH {prefix}done); otherwise status
 *   PENDING, lease and worker cleared, RPUSH to {prefix}queue (taken next). Then DEL the list and
 *   forget the worker (workers, worker_stale, orphans).
 *
 * A reaper judges only what it could see: it reaps a worker whose deadline passed only once it
 * has itself been in contact with Redis for that worker's whole stale threshold (connected_since:
 * Redis's time of the first of its heartbeats that went through without a gap, a new connection
 * or a late answer from a stalled Redis starting it again). After an outage of Redis, or of the
 * reaper's own link, every live worker first gets the chance to beat again, so an outage neither
 * reaps live workers nor burns attempts.
 *
 *   reaper_requeue(rc, cfg, ids, n, count)  the given workers, known dead or stopped: a
 *                            supervisor's own slots at start-up, after a worker process died
 *                            (count: an attempt), after the supervisor stopped it (no attempt).
 *   reaper_reap(rc, cfg, connected_since)   every worker past its deadline, judged as above.
 *   reaper_scan_orphans(rc, cfg, connected_since)
 *                            at most once per ORPHAN_SCAN_INTERVAL in the whole fleet (a lock):
 *                            SCAN for processing lists whose worker is not registered (a
 *                            supervisor removed as stale while its processes kept taking jobs,
 *                            then lost with its host); one seen so in two scans at least a stale
 *                            threshold apart is requeued (attempts count).
 * All return the number of jobs given back (requeued or failed), or -1 when Redis is
 * unreachable or a script failed, and count them in code_runner_reaper_jobs_total. */
#ifndef CR_REAPER_H
#define CR_REAPER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "worker/rconn.h"

long reaper_requeue(rconn *rc, const cfg *c, const char *const *ids, size_t n, bool count);
long reaper_reap(rconn *rc, const cfg *c, int64_t connected_since);
long reaper_scan_orphans(rconn *rc, const cfg *c, int64_t connected_since);

#endif
