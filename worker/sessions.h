/* The sessions one worker process holds (README "Live sessions"; the Redis keys in
 * common/redis_model.h): their sandboxes, the process's own session queue with its own Redis
 * connection, and the work on them, one task at a time like a job. Every script on the session
 * queue is fenced by the supervisor's owner token, as the shared queue's are (queue.h).
 *
 *   sessions_start(cfg, langs, ex, be, link, stop)
 *                            NULL when this process hosts no session (MAX_SESSIONS_PER_WORKER
 *                            0, or a backend without sessions); all borrowed, *stop set when
 *                            the process is told to stop
 *   sessions_free(sh)        tear down every sandbox it holds; accepts NULL
 *   sessions_announce(sh, rc)
 *                            after each (re)connect of rc, before taking work: register (the
 *                            free places in {prefix}session_free), put the session tasks taken
 *                            but not done back at the head of our queue, forget the sessions
 *                            Redis no longer gives us, and turn to error those Redis gives us
 *                            but we do not hold (a Redis that lost its writes); 0,
 *                            QUEUE_NOT_OWNER, or -1 (Redis)
 *   sessions_take(sh, rc, &id, &is_session)
 *                            wait (about WORKER_TAKE_TIMEOUT_S) for the next task of either
 *                            queue: the shared one on rc (BLMOVE into our processing list, as
 *                            queue_take) and ours on our connection (BLMOVE into our sproc
 *                            list); when ours answers first, rc's pending BLMOVE is taken back
 *                            (CLIENT UNBLOCK) and whatever it still brought is given out next.
 *                            1 with *id (caller frees), 0 none, QUEUE_NOT_OWNER, -1 (Redis)
 *   sessions_run(sh, rc, id)  claim, do and finish one session task; 0, QUEUE_NOT_OWNER, or -1
 *                            when told to stop before it could claim it (it stays in sproc)
 *   sessions_tick(sh, rc)    at most once a second: stop the sessions whose idle deadline or
 *                            lifetime has passed */
#ifndef CR_SESSIONS_H
#define CR_SESSIONS_H

#include <signal.h>
#include <stdbool.h>

#include "common/config.h"
#include "common/languages.h"
#include "worker/executor.h"
#include "worker/rconn.h"
#include "worker/worker_loop.h"

typedef struct session_host session_host;

session_host *sessions_start(const cfg *c, const lang_table *langs, const executor *ex, backend *be,
                             const worker_link *link, volatile sig_atomic_t *stop);
void sessions_free(session_host *sh);
int sessions_announce(session_host *sh, rconn *rc);
int sessions_take(session_host *sh, rconn *rc, char **id, bool *is_session);
int sessions_run(session_host *sh, rconn *rc, const char *id);
void sessions_tick(session_host *sh, rconn *rc);

#endif
