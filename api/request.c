/* Request contexts: the single reply, reference counting against pending Redis callbacks, and
 * long-poll waiting (deadline timer, registry entry, noticing a client that goes away). */
#include "request.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <string.h>
#include <sys/socket.h>

#include "api/http_reply.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/redis_model.h"
#include "common/util.h"

/* The request no longer waits (answered, or its client gone): out of the long-polls gauge. */
static void uncount_wait(req_ctx *x)
{
    if (x->wait_counted)
        metric_add(M_LONGPOLLS, -1);
    x->wait_counted = false;
}

static void request_free(req_ctx *x)
{
    api_loop *loop = x->loop;
    uncount_wait(x);
    if (x->prev)
        x->prev->next = x->next;
    else
        loop->requests = x->next;
    if (x->next)
        x->next->prev = x->prev;
    loop->n_requests--;
    if (x->timer)
        event_free(x->timer);
    if (x->eof_watch)
        event_free(x->eof_watch);
    if (x->deadline)
        event_free(x->deadline);
    free(x->request_json);
    free(x->file_path);
    free(x);
    server_loop_check_drained(loop);
}

req_ctx *request_create(api_loop *loop, struct evhttp_request *req)
{
    req_ctx *x = xcalloc(1, sizeof *x);
    x->loop = loop;
    x->req = req;
    x->started_ms = now_mono_ms();
    x->next = loop->requests;
    if (loop->requests)
        loop->requests->prev = x;
    loop->requests = x;
    loop->n_requests++;
    return x;
}

/* Stop waiting: leave the registry, cancel the timer and the EOF watch, forget the close
 * callback. */
static void end_wait(req_ctx *x)
{
    waiters_remove(x->loop->waiters, &x->w);
    if (x->timer)
        evtimer_del(x->timer);
    if (x->eof_watch)
        event_del(x->eof_watch);
    if (x->deadline)
        evtimer_del(x->deadline);
    struct evhttp_connection *evcon = x->req ? evhttp_request_get_connection(x->req) : NULL;
    if (evcon && x->timer)
        evhttp_connection_set_closecb(evcon, NULL, NULL);
}

static void reply_complete_cb(struct evhttp_request *req, void *arg)
{
    (void)req;
    api_loop *loop = arg;
    loop->n_unsent--;
    server_loop_check_drained(loop);
}

/* Count the reply: by route and status code, and a refused submission by reason. */
static void count_reply(const req_ctx *x, int code)
{
    metric_inc(M_HTTP_REQUESTS, x->route, metrics_code_index(code));
    if (!x->submission || code == 200)
        return;
    int reason = code == 400   ? MV_REJECT_INVALID
                 : code == 401 ? MV_REJECT_UNAUTHORIZED
                 : code == 413 ? MV_REJECT_TOO_LARGE
                 : code == 503 ? (x->queue_full ? MV_REJECT_QUEUE_FULL : MV_REJECT_UNAVAILABLE)
                               : -1;
    if (reason >= 0)
        metric_inc(M_SUBMISSIONS_REJECTED, reason);
}

/* Everything a reply does before sending: end waiting, log, count; the request to answer (it is
 * no longer x's), or NULL when x was answered already. */
static struct evhttp_request *take_for_reply(req_ctx *x, int code)
{
    if (!x->req)
        return NULL;
    end_wait(x);
    uncount_wait(x);
    struct evhttp_request *req = x->req;
    x->req = NULL;
    log_debug("loop %d: %s -> %d (%lld ms)%s", x->loop->index, x->what, code,
              (long long)(now_mono_ms() - x->started_ms), x->client_gone ? " client gone" : "");
    count_reply(x, code);
    if (x->loop->stopping)
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
    if (evhttp_request_get_connection(req) && !x->client_gone) {
        x->loop->n_unsent++;
        evhttp_request_set_on_complete_cb(req, reply_complete_cb, x->loop);
    }
    return req;
}

void request_reply(req_ctx *x, int code, json_t *body)
{
    struct evhttp_request *req = take_for_reply(x, code);
    if (!req) {
        json_decref(body);
        return;
    }
    reply_json(req, code, body);
    if (x->pending == 0)
        request_free(x);
}

void request_reply_raw(req_ctx *x, int code, const char *type, const void *data, size_t len)
{
    struct evhttp_request *req = take_for_reply(x, code);
    if (!req)
        return;
    reply_raw(req, code, type, data, len);
    if (x->pending == 0)
        request_free(x);
}

void request_error(req_ctx *x, int code, const char *msg)
{
    request_reply(x, code, json_pack("{s:s}", "error", msg));
}

void request_error_retry(req_ctx *x, int code, const char *msg, int retry_after)
{
    if (x->req) {
        char v[16];
        snprintf(v, sizeof v, "%d", retry_after);
        evhttp_add_header(evhttp_request_get_output_headers(x->req), "Retry-After", v);
    }
    request_error(x, code, msg);
}

void request_unavailable(req_ctx *x)
{
    request_error_retry(x, 503, "redis unreachable", 1);
}

/* Redis took too long (hung or overloaded): answer now; the late reply finds x answered. A POST
 * answered so was not acknowledged: the client does not know whether it was enqueued. */
static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    req_ctx *x = arg;
    log_warn("loop %d: %s: no answer from redis in %d s", x->loop->index, x->what,
             x->loop->cfg->redis_timeout);
    if (x->on_deadline)
        x->on_deadline(x);
    else
        request_error_retry(x, 503, "redis did not answer in time", 1);
}

int request_command(req_ctx *x, redisCallbackFn *fn, int argc, const char **argv,
                    const size_t *lens)
{
    if (aconn_command(x->loop->cmd, fn, x, argc, argv, lens) < 0)
        return -1;
    x->pending++;
    if (!x->wait_started) { /* a wait that has begun has its own end */
        if (!x->deadline)
            x->deadline = evtimer_new(x->loop->base, deadline_cb, x);
        struct timeval tv = {x->loop->cfg->redis_timeout, 0};
        evtimer_add(x->deadline, &tv);
    }
    return 0;
}

int request_hmget(req_ctx *x, redisCallbackFn *fn)
{
    cleanup_free char *key = key_task(x->loop->cfg->redis_prefix, x->id);
    const char *argv[] = {"HMGET", key, "status", "result"};
    return request_command(x, fn, 4, argv, NULL);
}

bool request_callback(req_ctx *x)
{
    x->pending--;
    if (x->req)
        return true;
    if (x->pending == 0)
        request_free(x);
    return false;
}

redisReply *request_callback_reply(req_ctx *x, void *r)
{
    if (!request_callback(x))
        return NULL;
    if (!r)
        request_unavailable(x); /* the connection went down before the reply */
    return r;
}

void request_answer_pending(req_ctx *x)
{
    if (x->answer) {
        x->answer(x, NULL);
        return;
    }
    json_t *body = json_pack("{s:s, s:n}", "status", "PENDING", "result");
    if (x->post)
        json_object_set_new(body, "task_id", json_string(x->id));
    request_reply(x, 200, body);
}

static void wait_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    request_answer_pending(arg);
}

/* Readable while we hold the request: either the client closed (EOF or error), or it sent
 * more bytes (pipelining), which we leave to libevent and stop watching. */
static void eof_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    req_ctx *x = arg;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0)
        return;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        event_add(x->eof_watch, NULL);
        return;
    }
    /* The reply goes nowhere; sending it lets libevent free the request and the connection. */
    x->client_gone = true;
    request_answer_pending(x);
}

/* libevent frees the connection. If it detached our request first, the request is ours to
 * free; otherwise libevent frees it right after this callback. */
static void close_cb(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    req_ctx *x = arg;
    struct evhttp_request *req = x->req;
    if (!req)
        return;
    x->client_gone = true;
    uncount_wait(x);
    waiters_remove(x->loop->waiters, &x->w);
    if (x->timer)
        evtimer_del(x->timer);
    if (x->eof_watch)
        event_del(x->eof_watch);
    x->req = NULL;
    log_debug("loop %d: %s: client closed while waiting", x->loop->index, x->what);
    if (!evhttp_request_get_connection(req))
        evhttp_request_free(req);
    if (x->pending == 0)
        request_free(x);
}

void request_wait_start(req_ctx *x)
{
    if (!x->req || x->wait_started)
        return;
    x->wait_started = true;
    if (x->deadline)
        evtimer_del(x->deadline);
    struct timeval tv = {x->wait_ms / 1000, (x->wait_ms % 1000) * 1000};
    evtimer_add(x->timer, &tv);
}

void request_wait(req_ctx *x)
{
    api_loop *loop = x->loop;
    waiters_add(loop->waiters, x->id, &x->w);
    if (!x->wait_counted)
        metric_add(M_LONGPOLLS, 1);
    x->wait_counted = true;
    x->timer = evtimer_new(loop->base, wait_timeout_cb, x);
    struct evhttp_connection *evcon = evhttp_request_get_connection(x->req);
    if (!evcon)
        return;
    evhttp_connection_set_closecb(evcon, close_cb, x);
    /* libevent 2.1 stops reading a connection while its request is being handled, so it would
     * not notice the client leaving before our reply; a separate read event on the socket
     * does. */
    evutil_socket_t fd = bufferevent_getfd(evhttp_connection_get_bufferevent(evcon));
    if (fd >= 0) {
        x->eof_watch = event_new(loop->base, fd, EV_READ, eof_cb, x);
        event_add(x->eof_watch, NULL);
    }
}

static const char *elem_str(const redisReply *r, size_t i)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements <= i)
        return NULL;
    const redisReply *e = r->element[i];
    return e->type == REDIS_REPLY_STRING ? e->str : NULL;
}

task_view task_classify(const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2)
        return TASK_VIEW_ERROR;
    const char *status = elem_str(r, 0);
    if (!status)
        return TASK_VIEW_MISSING;
    if (strcmp(status, "SUCCESS") == 0 || strcmp(status, "FAILURE") == 0)
        return TASK_VIEW_DONE;
    return TASK_VIEW_PENDING;
}

/* The body of a finished task: the stored result JSON (object for SUCCESS, string for
 * FAILURE). */
static json_t *done_body(req_ctx *x, const char *status, const char *result)
{
    bool success = strcmp(status, "SUCCESS") == 0;
    json_t *res = result ? json_loads(result, JSON_DECODE_ANY, NULL) : NULL;
    if (success && !json_is_object(res)) {
        log_task(LOG_ERROR, x->id, "stored SUCCESS result is not a JSON object");
        json_decref(res);
        res = json_string("internal error: the stored result is unreadable");
        status = "FAILURE";
    } else if (!success && !json_is_string(res)) {
        json_decref(res);
        res = json_string(result ? result : "unknown failure");
    }
    json_t *body = json_pack("{s:s, s:o}", "status", status, "result", res);
    if (x->post)
        json_object_set_new(body, "task_id", json_string(x->id));
    return body;
}

void request_answer_task(req_ctx *x, const redisReply *r)
{
    if (x->answer) {
        x->answer(x, r);
        return;
    }
    switch (task_classify(r)) {
    case TASK_VIEW_MISSING:
        request_error(x, 404, "unknown or expired task id");
        return;
    case TASK_VIEW_PENDING:
        request_answer_pending(x);
        return;
    case TASK_VIEW_DONE:
        request_reply(x, 200, done_body(x, elem_str(r, 0), elem_str(r, 1)));
        return;
    case TASK_VIEW_ERROR:
        break;
    }
    log_error("loop %d: %s: unexpected reply to HMGET: %s", x->loop->index, x->what,
              r && r->type == REDIS_REPLY_ERROR ? r->str : "wrong type");
    request_error_retry(x, 503, "redis error", 1);
}
