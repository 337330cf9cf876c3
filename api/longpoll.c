/* Long-poll wake-up from the {prefix}done channel, the re-read of waiting tasks after a Redis
 * reconnect, and answering every waiter at shutdown. Never polls Redis in a loop. */
#include "longpoll.h"

#include <string.h>

#include "api/liveness.h"
#include "api/request.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/redis_model.h"
#include "common/util.h"

/* One HMGET on behalf of all waiters of one id; freed in its callback (it is ours, not
 * hiredis's). */
typedef struct wake {
    api_loop *loop;           /* borrowed */
    char id[TASK_ID_LEN + 1]; /* the task */
    bool flush;               /* shutdown: answer even when still pending */
} wake;

/* Answer every waiter of id from reply (NULL: pending as far as we know). A waiter whose wait
 * has not started (its enqueue or first read not answered yet) stays registered: its own
 * callback answers it, so that no 200 goes out before Redis acknowledged the task. */
static void answer_all(api_loop *loop, const char *id, const redisReply *reply)
{
    waiter *list = waiters_take(loop->waiters, id);
    while (list) {
        waiter *next = list->next;
        req_ctx *x = (req_ctx *)((char *)list - offsetof(req_ctx, w));
        if (!x->wait_started)
            waiters_add(loop->waiters, x->id, &x->w);
        else if (reply)
            request_answer_task(x, reply);
        else
            request_answer_pending(x);
        list = next;
    }
}

static void wake_cb(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    wake *k = priv;
    redisReply *reply = r;
    task_view v = reply ? task_classify(reply) : TASK_VIEW_ERROR;
    if (v == TASK_VIEW_DONE || v == TASK_VIEW_MISSING)
        answer_all(k->loop, k->id, reply);
    else if (k->flush)
        answer_all(k->loop, k->id, v == TASK_VIEW_PENDING ? reply : NULL);
    free(k);
}

static void check(api_loop *loop, const char *id, bool flush)
{
    wake *k = xcalloc(1, sizeof *k);
    k->loop = loop;
    k->flush = flush;
    snprintf(k->id, sizeof k->id, "%s", id);
    cleanup_free char *key = key_task(loop->cfg->redis_prefix, id);
    const char *argv[] = {"HMGET", key, "status", "result"};
    if (aconn_command(loop->cmd, wake_cb, k, 4, argv, NULL) < 0) {
        if (flush)
            answer_all(loop, id, NULL);
        free(k);
    }
}

static void check_all(api_loop *loop, bool flush)
{
    size_t n;
    char **ids = waiters_ids(loop->waiters, &n);
    if (n && !flush)
        log_info("loop %d: re-reading %zu waiting tasks after reconnect", loop->index, n);
    for (size_t i = 0; i < n; i++) {
        check(loop, ids[i], flush);
        free(ids[i]);
    }
    free(ids);
}

static void recheck_if_due(api_loop *loop)
{
    if (loop->recheck_needed && loop->subscribed && aconn_is_up(loop->cmd)) {
        loop->recheck_needed = false;
        check_all(loop, false);
    }
}

/* Every reply on the subscriber connection: the SUBSCRIBE confirmation, then messages. */
static void message_cb(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    api_loop *loop = priv;
    redisReply *reply = r;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 ||
        reply->element[0]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = reply->element[0]->str;
    const char *channel =
        reply->element[1]->type == REDIS_REPLY_STRING ? reply->element[1]->str : "";
    bool probe = strcmp(channel, loop->probe_channel) == 0;
    if (strcmp(kind, "subscribe") == 0) {
        if (probe) {
            liveness_sub_seen(loop);
            return;
        }
        loop->subscribed = true;
        metric_set(M_REDIS_CONNECTED, 1, MV_CONN_SUBSCRIBER);
        log_debug("loop %d: subscribed to %s", loop->index, loop->done_channel);
        recheck_if_due(loop);
    } else if (strcmp(kind, "message") == 0 && probe) {
        liveness_sub_seen(loop);
    } else if (strcmp(kind, "message") == 0 && reply->element[2]->type == REDIS_REPLY_STRING) {
        const char *id = reply->element[2]->str;
        if (waiters_has(loop->waiters, id))
            check(loop, id, false);
    }
}

void longpoll_sub_up(aconn *rc, void *arg)
{
    api_loop *loop = arg;
    const char *argv[] = {"SUBSCRIBE", loop->done_channel, loop->probe_channel};
    if (aconn_subscribe(rc, message_cb, loop, 3, argv) < 0)
        log_error("loop %d: cannot send SUBSCRIBE", loop->index);
}

void longpoll_down(aconn *rc, void *arg)
{
    api_loop *loop = arg;
    if (rc == loop->sub) {
        loop->subscribed = false;
        metric_set(M_REDIS_CONNECTED, 0, MV_CONN_SUBSCRIBER);
    }
    loop->recheck_needed = true;
}

void longpoll_cmd_up(api_loop *loop)
{
    recheck_if_due(loop);
}

void longpoll_flush(api_loop *loop)
{
    check_all(loop, true);
}
