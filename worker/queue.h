/* queue: the reliable queue as one worker process sees it. A job in flight is always in some
 * list: BLMOVE moves its id from {prefix}queue to {prefix}processing:<worker> in one step, and only
 * the final write (SCRIPT_FINISH), a release or the reaper takes it out again. The scripts that
 * change our list are fenced by the supervisor's owner token (identity.h): a process whose
 * supervisor no longer owns WORKER_ID touches nothing but the job it just took, which it puts
 * back.
 *
 *   queue_announce(rc, cfg, wid, token)            after each (re)connect, before taking a job:
 *                                                  register (heartbeat) and give back what our
 *                                                  list holds though we run nothing (a BLMOVE
 *                                                  whose reply was lost with the connection), no
 *                                                  attempt counted; count, QUEUE_NOT_OWNER, or
 *                                                  -1 when Redis is unreachable
 *   queue_take(rc, cfg, wid, timeout_s, &id)       BLMOVE; 1 with *id (caller frees), 0 on timeout,
 *                                                  -1 when Redis is unreachable
 *   queue_take_reply(r, &id)                       the same from a BLMOVE's reply r (freed; NULL:
 *                                                  unreachable), for a caller that sent it itself
 *   queue_claim(rc, cfg, wid, token, id, lease, &request)
 *                                                  register again and mark the task RUNNING under
 *                                                  our lease, reading its request: 1 claimed
 *                                                  (*request owned, NULL when the hash has none),
 *                                                  0 skipped (task gone, already final or no
 *                                                  longer ours; the id is dropped from our list),
 *                                                  QUEUE_NOT_OWNER (the job was put back), -1
 *                                                  Redis error
 *   queue_finish(rc, cfg, wid, id, lease, status, result)
 *                                                  SCRIPT_FINISH: 1 written, 0 lease lost, -1 error
 *   queue_release(rc, cfg, wid, id)                put a taken but unstarted job back where it was
 *                                                  (taken next), no attempt counted; 0 or -1
 *   queue_drop(rc, cfg, wid, id)                   forget id from our list (after a lost lease);
 *                                                  0 or -1 */
#ifndef CR_QUEUE_H
#define CR_QUEUE_H

#include "common/config.h"
#include "common/result.h"
#include "worker/rconn.h"

/* The supervisor of this process no longer owns WORKER_ID: the process must stop. */
#define QUEUE_NOT_OWNER (-2)

long queue_announce(rconn *rc, const cfg *c, const char *wid, const char *token);
int queue_take(rconn *rc, const cfg *c, const char *wid, int timeout_s, char **id);
int queue_take_reply(redisReply *r, char **id);
int queue_claim(rconn *rc, const cfg *c, const char *wid, const char *token, const char *id,
                const char *lease, char **request);
int queue_finish(rconn *rc, const cfg *c, const char *wid, const char *id, const char *lease,
                 task_status status, const char *result);
int queue_release(rconn *rc, const cfg *c, const char *wid, const char *id);
int queue_drop(rconn *rc, const cfg *c, const char *wid, const char *id);

#endif
