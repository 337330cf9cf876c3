/* queue: the reliable queue as one worker process sees it. A job in flight is always in some
 * list: BLMOVE moves its id from {prefix}queue to {prefix}processing:<worker> in one step, and only
 * the final write (SCRIPT_FINISH) or the reaper takes it out again.
 *
 *   queue_take(rc, cfg, wid, timeout_s, &id)       BLMOVE; 1 with *id (caller frees), 0 on timeout,
 *                                                  -1 when Redis is unreachable
 *   queue_claim(rc, cfg, wid, id, lease, &request) mark the task RUNNING under our lease and read
 *                                                  its request: 1 claimed (*request owned, NULL
 *                                                  when the hash has none), 0 skipped (task
 *                                                  expired, already final or no longer ours; the
 *                                                  id is dropped from our list), -1 Redis error
 *   queue_finish(rc, cfg, wid, id, lease, status, result)
 *                                                  SCRIPT_FINISH: 1 written, 0 lease lost, -1 error
 *   queue_release(rc, cfg, wid, id)                put a taken but unstarted job back where it was
 *                                                  (taken next), no attempt counted; 0 or -1
 *   queue_drop(rc, cfg, wid, id)                   forget id from our list (after a lost lease);
 * 0/-1 queue_release_all(rc, cfg, wid)                the same for everything in our list: after a
 *                                                  reconnect, when a BLMOVE reply may have been
 *                                                  lost with its id already moved; count or -1 */
#ifndef CR_QUEUE_H
#define CR_QUEUE_H

#include "common/config.h"
#include "common/result.h"
#include "worker/rconn.h"

int queue_take(rconn *rc, const cfg *c, const char *wid, int timeout_s, char **id);
int queue_claim(rconn *rc, const cfg *c, const char *wid, const char *id, const char *lease,
                char **request);
int queue_finish(rconn *rc, const cfg *c, const char *wid, const char *id, const char *lease,
                 task_status status, const char *result);
int queue_release(rconn *rc, const cfg *c, const char *wid, const char *id);
int queue_drop(rconn *rc, const cfg *c, const char *wid, const char *id);
long queue_release_all(rconn *rc, const cfg *c, const char *wid);

#endif
