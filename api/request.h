/* One HTTP request in flight: its context from the handler to the single reply, through Redis
 * round trips and an optional long-poll wait.
 *
 * Life: request_create (in the handler) -> any number of request_command round trips and at most
 * one request_wait -> exactly one request_reply / request_error (or the client goes away) ->
 * freed once the reply is sent and no Redis callback still points to it.
 *
 * API:
 *   request_create(loop, req)      a context for req, linked into loop->requests.
 *   request_command(x, fn, argc, argv, lens)  a command on the loop's command connection with x as
 *       privdata; -1 when Redis is down (x untouched: answer it yourself). Until x's wait has
 *       started, it is answered 503 when no reply came within REDIS_TIMEOUT (a hung Redis).
 *   request_callback(x)            call first in every such callback: false when x needs nothing
 *       more (already answered; it may have been freed then).
 *   request_callback_reply(x, r)   the same for a callback that needs a reply: r, or NULL when x
 *       needs nothing more or r is NULL (the connection went down: x is answered 503).
 *   request_wait(x)                register x as a long-poll on x->id (before the Redis command
 *       whose answer starts the wait, so that no completion can be missed); nothing answers it
 *       yet, and the Redis deadline still applies.
 *   request_wait_start(x)          Redis has answered (the enqueue is acknowledged, the task is
 *       pending): the wait of x->wait_ms begins; its end answers "still pending".
 *   request_reply(x, code, body)   send body (stolen) and end waiting; request_error/_retry for
 *       {"error"} bodies; request_unavailable for "redis unreachable" (503, Retry-After: 1).
 *   request_reply_raw(x, code, type, data, len)  the same with a body of raw bytes.
 *   Every reply is counted in the metrics (route and status code; a refused POST /run-code by
 *   reason), and so is every request waiting (?wait=S) while it waits.
 *   request_hmget(x, fn)           HMGET task status result.
 *   task_classify(reply) / request_answer_task(x, reply)  read and answer an HMGET reply; a
 *       request with an answer hook (a session's, api/sessions.h) answers through the hook:
 *       hook(x, reply) with the task's HMGET reply, or hook(x, NULL) when its wait ran out
 *       (request_answer_pending). */
#ifndef CR_API_REQUEST_H
#define CR_API_REQUEST_H

#include <event2/http.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/server.h"
#include "api/waiters.h"
#include "common/task_id.h"

typedef struct req_ctx {
    struct req_ctx *prev, *next; /* in loop->requests */
    api_loop *loop;              /* borrowed */
    struct evhttp_request *req;  /* owned by libevent; NULL once answered or abandoned */
    int64_t started_ms;          /* monotonic, for the request log line */
    char what[64];               /* "GET /results/..." for the log line */
    char id[TASK_ID_LEN + 1];    /* the task this request is about, "" when none */
    bool post;                   /* POST /run-code: wait replies carry task_id */
    bool client_gone;            /* the client closed its connection while we waited */
    int wait_ms;                 /* ?wait=S in milliseconds, 0 when not waiting */
    char *request_json;          /* owned; canonical request (POST), kept for EVAL fallback */
    bool used_eval;              /* the enqueue was resent with EVAL after NOSCRIPT */
    waiter w;                    /* long-poll registration */
    bool wait_started;           /* Redis answered: the wait runs (timer armed), and a waiter
                                    may now be answered; before, only x's own callback may */
    struct event *timer;         /* owned; end of the wait, NULL when not waiting */
    struct event *eof_watch;     /* owned; notices the client closing while we wait */
    struct event *deadline;      /* owned; 503 when Redis does not answer in time */
    int pending;                 /* Redis callbacks still to come with this as privdata */
    struct req_ctx *repl_next;   /* in loop->repl_waiting or repl_batch (replication.h) */
    int route;                   /* enum route (route_parse.h), R_NONE until matched: metrics */
    bool submission;             /* a POST /run-code: a refusal is counted by reason */
    bool queue_full;             /* its 503 is MAX_QUEUE_LENGTH's, not Redis's */
    bool wait_counted;           /* counted in the open long-polls gauge */
    double enqueue_t0;           /* metrics_now() when the enqueue was first sent */
    void (*on_deadline)(struct req_ctx *x); /* answers x when Redis is silent for REDIS_TIMEOUT;
                                               NULL: 503 */
    /* Requests on a session (api/sessions.c): */
    void (*answer)(struct req_ctx *x, const redisReply *task); /* NULL: answer as a task */
    void (*acked)(struct req_ctx *x); /* NULL: routes_enqueue_acknowledged's own answer */
    char session_id[TASK_ID_LEN + 1]; /* the session, "" when none */
    char *file_path;                  /* owned; a file route's decoded path, NULL when none */
} req_ctx;

/* What an HMGET status result reply says about a task. */
typedef enum task_view {
    TASK_VIEW_MISSING, /* no such task (never existed or expired) */
    TASK_VIEW_PENDING, /* queued or running */
    TASK_VIEW_DONE,    /* SUCCESS or FAILURE */
    TASK_VIEW_ERROR,   /* Redis answered an error or something unexpected */
} task_view;

req_ctx *request_create(api_loop *loop, struct evhttp_request *req);
int request_command(req_ctx *x, redisCallbackFn *fn, int argc, const char **argv,
                    const size_t *lens);
int request_hmget(req_ctx *x, redisCallbackFn *fn);
bool request_callback(req_ctx *x);
redisReply *request_callback_reply(req_ctx *x, void *r);
void request_wait(req_ctx *x);
void request_wait_start(req_ctx *x);
void request_reply(req_ctx *x, int code, json_t *body);
void request_reply_raw(req_ctx *x, int code, const char *type, const void *data, size_t len);
void request_error(req_ctx *x, int code, const char *msg);
void request_error_retry(req_ctx *x, int code, const char *msg, int retry_after);
void request_unavailable(req_ctx *x);
task_view task_classify(const redisReply *r);
void request_answer_task(req_ctx *x, const redisReply *r);
/* Answer a waiting request with "still pending" (its wait ran out, or shutdown). */
void request_answer_pending(req_ctx *x);

#endif
