/* Group-committed WAITs for enqueues, one in flight per event loop. */
#include "replication.h"

#include <stdio.h>

#include "api/routes.h"
#include "common/log.h"

static void send_wait(api_loop *loop);

static void wait_cb(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    api_loop *loop = priv;
    redisReply *reply = r;
    int want = loop->cfg->redis_min_replicas_ack;
    bool ok = reply && reply->type == REDIS_REPLY_INTEGER && reply->integer >= want;
    if (reply && !ok)
        log_warn("loop %d: enqueue(s) not on %d replica(s) in time (WAIT: %lld)", loop->index, want,
                 reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1LL);
    req_ctx *x = loop->repl_batch;
    loop->repl_batch = NULL;
    loop->repl_in_flight = false;
    while (x) {
        req_ctx *next = x->repl_next;
        x->repl_next = NULL;
        if (request_callback(x)) {
            if (ok)
                routes_enqueue_acknowledged(x);
            else if (reply)
                request_error_retry(x, 503, "the job could not be replicated in time", 1);
            else
                request_unavailable(x);
        }
        x = next;
    }
    if (loop->repl_waiting)
        send_wait(loop);
}

static void send_wait(api_loop *loop)
{
    char want[16], timeout[32];
    snprintf(want, sizeof want, "%d", loop->cfg->redis_min_replicas_ack);
    int ms = loop->cfg->redis_timeout * 500;
    snprintf(timeout, sizeof timeout, "%d", ms < 100 ? 100 : ms);
    const char *argv[] = {"WAIT", want, timeout};
    req_ctx *batch = loop->repl_waiting;
    loop->repl_waiting = NULL;
    if (aconn_command(loop->cmd, wait_cb, loop, 3, argv, NULL) < 0) {
        while (batch) { /* the connection went down since the enqueue's reply */
            req_ctx *next = batch->repl_next;
            batch->repl_next = NULL;
            if (request_callback(batch))
                request_unavailable(batch);
            batch = next;
        }
        return;
    }
    loop->repl_batch = batch;
    loop->repl_in_flight = true;
}

void replication_wait(req_ctx *x)
{
    api_loop *loop = x->loop;
    if (loop->cfg->redis_min_replicas_ack <= 0) {
        routes_enqueue_acknowledged(x);
        return;
    }
    x->pending++; /* the WAIT's callback still points to x */
    x->repl_next = loop->repl_waiting;
    loop->repl_waiting = x;
    if (!loop->repl_in_flight)
        send_wait(loop);
}
