/* The HTTP routes: matching, authentication, query parsing and the handlers. */
#include "routes.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>

#include "api/http_reply.h"
#include "api/longpoll.h"
#include "api/replication.h"
#include "api/openapi_doc.h"
#include "api/request.h"
#include "api/route_parse.h"
#include "api/sessions.h"
#include "common/job.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/redis_model.h"
#include "common/util.h"

#define QUEUE_FULL_RETRY_AFTER 5

/* ---- the enqueue script's SHA1, loaded once per command connection ---- */

static void script_load_cb(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    api_loop *loop = priv;
    redisReply *reply = r;
    if (!reply)
        return;
    if (reply->type != REDIS_REPLY_STRING) {
        log_warn("loop %d: SCRIPT LOAD failed: %s", loop->index,
                 reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
        return;
    }
    free(loop->enqueue_sha);
    loop->enqueue_sha = xstrdup(reply->str);
}

static void load_script(api_loop *loop)
{
    const char *argv[] = {"SCRIPT", "LOAD", SCRIPT_ENQUEUE};
    aconn_command(loop->cmd, script_load_cb, loop, 3, argv, NULL);
}

void routes_cmd_up(aconn *rc, void *arg)
{
    (void)rc;
    api_loop *loop = arg;
    metric_set(M_REDIS_CONNECTED, 1, MV_CONN_COMMAND);
    load_script(loop);
    longpoll_cmd_up(loop);
    server_loop_start_accepting(loop);
}

/* ---- helpers ---- */

/* ?wait=S of the request's URI: see route_parse_wait. */
static int parse_wait(const struct evhttp_uri *uri, int *wait_ms)
{
    return route_parse_wait(evhttp_uri_get_query(uri), wait_ms);
}

/* Authorization: Bearer <key>, compared in constant time with every configured key. */
static bool authorized(const cfg *c, struct evhttp_request *req)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    return route_bearer_ok(h, c->api_keys, c->n_api_keys);
}

static const char *method_name(enum evhttp_cmd_type m)
{
    switch (m) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_TRACE:
        return "TRACE";
    case EVHTTP_REQ_CONNECT:
        return "CONNECT";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    }
    return "?";
}

/* ---- POST /run-code ---- */

static int send_enqueue(req_ctx *x);

static void enqueue_cb(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    req_ctx *x = priv;
    redisReply *reply = request_callback_reply(x, r);
    if (!reply)
        return;
    if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) == 0 &&
        !x->used_eval) {
        /* Script cache flushed (or Redis restarted): send the script itself, reload the SHA. */
        x->used_eval = true;
        free(x->loop->enqueue_sha);
        x->loop->enqueue_sha = NULL;
        load_script(x->loop);
        if (send_enqueue(x) < 0)
            request_unavailable(x);
        return;
    }
    if (reply->type != REDIS_REPLY_INTEGER) {
        log_task(LOG_ERROR, x->id, "enqueue failed: %s",
                 reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
        request_error_retry(x, 503, "redis error", 1);
        return;
    }
    if (reply->integer == 0) {
        log_task(LOG_WARN, x->id, "queue full, request refused");
        x->queue_full = true;
        request_error_retry(x, 503, "queue full, retry later", QUEUE_FULL_RETRY_AFTER);
        return;
    }
    log_task(LOG_DEBUG, x->id, "enqueued");
    replication_wait(x); /* with REDIS_MIN_REPLICAS_ACK, the answer waits for the replicas */
}

void routes_enqueue_acknowledged(req_ctx *x)
{
    metric_observe(M_ENQUEUE_DURATION, metrics_now() - x->enqueue_t0);
    if (x->acked) {
        x->acked(x); /* a session's own answer (api/sessions.c) */
        return;
    }
    if (x->timer && !x->loop->stopping) {
        request_wait_start(x); /* acknowledged: the completion message or the timer answers */
        return;
    }
    if (x->timer)
        request_answer_pending(x); /* shutting down: no wait */
    else
        request_reply(x, 200, json_pack("{s:s}", "task_id", x->id));
}

static int send_enqueue(req_ctx *x)
{
    const cfg *c = x->loop->cfg;
    cleanup_free char *task_key = key_task(c->redis_prefix, x->id);
    char now[32], maxq[32];
    snprintf(now, sizeof now, "%lld", (long long)now_wall_ms());
    snprintf(maxq, sizeof maxq, "%ld", c->max_queue_length);
    bool sha = x->loop->enqueue_sha && !x->used_eval;
    const char *argv[] = {sha ? "EVALSHA" : "EVAL",
                          sha ? x->loop->enqueue_sha : SCRIPT_ENQUEUE,
                          "2",
                          task_key,
                          x->loop->queue_key,
                          x->id,
                          x->request_json,
                          now,
                          maxq};
    return request_command(x, enqueue_cb, 9, argv, NULL);
}

static void run_code(req_ctx *x, struct evhttp_request *req)
{
    api_loop *loop = x->loop;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    if ((long)len > loop->cfg->max_body_bytes) {
        request_error(x, 413, "request body too large (over MAX_BODY_BYTES)");
        return;
    }
    const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
    char err[512];
    job_request jr;
    if (job_request_parse(body, len, loop->langs, loop->cfg, &jr, err, sizeof err) < 0) {
        request_error(x, 400, err);
        return;
    }
    x->request_json = job_request_to_json(&jr);
    job_request_free(&jr);
    if (!aconn_is_up(loop->cmd)) {
        request_unavailable(x);
        return;
    }
    task_id_new(x->id);
    x->post = true;
    snprintf(x->what, sizeof x->what, "POST /run-code %s", x->id);
    if (x->wait_ms > 0)
        request_wait(x); /* before the task exists, so its completion cannot be missed; the wait
                            itself starts only once Redis acknowledged the enqueue */
    x->enqueue_t0 = metrics_now();
    if (send_enqueue(x) < 0)
        request_unavailable(x);
}

/* ---- GET /results/{id} ---- */

static void result_cb(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    req_ctx *x = priv;
    redisReply *reply = request_callback_reply(x, r);
    if (!reply)
        return;
    if (task_classify(reply) == TASK_VIEW_PENDING && x->timer && !x->loop->stopping) {
        request_wait_start(x); /* registered before this read: no completion can be missed */
        return;
    }
    request_answer_task(x, reply);
}

static void results(req_ctx *x, const char *id)
{
    api_loop *loop = x->loop;
    if (!task_id_valid(id)) {
        request_error(x, 404, "unknown or expired task id");
        return;
    }
    if (!aconn_is_up(loop->cmd)) {
        request_unavailable(x);
        return;
    }
    for (int i = 0; i < TASK_ID_LEN; i++) /* task_id_new makes lower-case ids */
        x->id[i] = (char)(id[i] >= 'A' && id[i] <= 'Z' ? id[i] | 0x20 : id[i]);
    x->id[TASK_ID_LEN] = '\0';
    if (x->wait_ms > 0)
        request_wait(x);
    if (request_hmget(x, result_cb) < 0)
        request_unavailable(x);
}

/* ---- GET /health, GET /languages ---- */

/* Healthy when Redis answers ROLE as a master: a replica answers PING too, but cannot take a
 * single enqueue. */
static void health_cb(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    req_ctx *x = priv;
    redisReply *reply = r;
    if (!request_callback(x))
        return;
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
        reply->element[0]->type == REDIS_REPLY_STRING &&
        strcmp(reply->element[0]->str, "master") == 0)
        request_reply(x, 200, json_pack("{s:s}", "status", "ok"));
    else if (reply && reply->type == REDIS_REPLY_ARRAY) {
        /* A failover demoted it: leave it, the address may lead to the new master now. */
        aconn_reset_soon(x->loop->cmd, "ROLE says it is not a master");
        request_error_retry(x, 503, "redis is not a master", 1);
    } else
        request_unavailable(x);
}

static void health(req_ctx *x)
{
    const char *argv[] = {"ROLE"};
    if (request_command(x, health_cb, 1, argv, NULL) < 0)
        request_unavailable(x);
}

/* With remote workers (EXECUTOR=remote) a language is offered while some executor host offers
 * it: the table is filtered by {prefix}remote:offer, which their probes keep. */
static void offered_cb(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    req_ctx *x = priv;
    redisReply *reply = r;
    if (!request_callback(x))
        return;
    if (!reply || reply->type != REDIS_REPLY_ARRAY) {
        if (reply && reply->type == REDIS_REPLY_ERROR)
            log_error("loop %d: the offered languages: %s", x->loop->index, reply->str);
        request_unavailable(x);
        return;
    }
    json_t *table = lang_table_to_json(x->loop->langs);
    json_t *all = json_object_get(table, "languages");
    json_t *kept = json_array();
    size_t i;
    json_t *lang;
    json_array_foreach(all, i, lang)
    {
        const char *id = json_string_value(json_object_get(lang, "id"));
        for (size_t k = 0; id && k < reply->elements; k++)
            if (reply->element[k]->type == REDIS_REPLY_STRING &&
                strcmp(reply->element[k]->str, id) == 0) {
                json_array_append(kept, lang);
                break;
            }
    }
    json_object_set_new(table, "languages", kept);
    request_reply(x, 200, table);
}

static void languages(req_ctx *x)
{
    if (strcmp(x->loop->cfg->executor, "remote") != 0) {
        request_reply(x, 200, lang_table_to_json(x->loop->langs));
        return;
    }
    cleanup_free char *key = key_remote(x->loop->cfg->redis_prefix, "offer");
    const char *argv[] = {"EVAL", SCRIPT_REMOTE_OFFERED, "1", key};
    if (request_command(x, offered_cb, 4, argv, NULL) < 0)
        request_unavailable(x);
}

/* ---- GET /openapi.json ---- */

/* The document built into the binary (api/openapi.json), parsed per request: it is rarely asked
 * for, and a fresh object keeps the loops from sharing one. */
static void openapi(req_ctx *x)
{
    json_error_t e;
    json_t *doc = json_loadb((const char *)openapi_doc, openapi_doc_len, 0, &e);
    if (!doc) { /* CMake checks the file at build time; this would be a build fault */
        log_error("embedded openapi.json: %s", e.text);
        request_error(x, 500, "the OpenAPI document is unreadable");
        return;
    }
    request_reply(x, 200, doc);
}

/* ---- GET /metrics ---- */

/* The exposition of this api (every event loop summed), and the queue's state from stats, a
 * SCRIPT_QUEUE_STATS reply (NULL: Redis could not say; the queue's metrics are left out). */
static void metrics_answer(req_ctx *x, const redisReply *stats)
{
    metrics_text t = {0};
    metrics_render(&t);
    if (stats && stats->type == REDIS_REPLY_ARRAY && stats->elements == 4 &&
        stats->element[0]->type == REDIS_REPLY_INTEGER &&
        stats->element[1]->type == REDIS_REPLY_STRING &&
        stats->element[2]->type == REDIS_REPLY_INTEGER &&
        stats->element[3]->type == REDIS_REPLY_INTEGER) {
        long created;
        double age = 0;
        if (parse_long(stats->element[1]->str, 0, INT64_MAX / 2, &created) == 0 &&
            now_wall_ms() > created)
            age = (double)(now_wall_ms() - created) / 1000;
        metrics_text_gauge(&t, "code_runner_queue_jobs", "Jobs waiting in the queue (fleet-wide)",
                           (double)stats->element[0]->integer);
        metrics_text_gauge(&t, "code_runner_queue_oldest_job_age_seconds",
                           "Time the job taken next has waited since it was submitted, 0 when "
                           "the queue is empty (fleet-wide)",
                           age);
        metrics_text_gauge(&t, "code_runner_processing_jobs",
                           "Jobs taken by a registered worker process and not finished "
                           "(fleet-wide)",
                           (double)stats->element[2]->integer);
        metrics_text_gauge(&t, "code_runner_registered_worker_processes",
                           "Worker processes registered in Redis by their heartbeats (fleet-wide)",
                           (double)stats->element[3]->integer);
    } else if (stats) {
        log_warn("loop %d: the queue's state for /metrics: %s", x->loop->index,
                 stats->type == REDIS_REPLY_ERROR ? stats->str : "unexpected reply");
    }
    request_reply_raw(x, 200, METRICS_CONTENT_TYPE, t.s ? t.s : "", t.len);
    metrics_text_free(&t);
}

static void queue_stats_cb(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    req_ctx *x = priv;
    if (!request_callback(x))
        return;
    metrics_answer(x, r);
}

/* Redis silent for REDIS_TIMEOUT: the metrics without the queue's (rather than a 503, which
 * would make the scrape fail and hide the api's own numbers when they matter most). */
static void metrics_deadline(req_ctx *x)
{
    metrics_answer(x, NULL);
}

static void metrics(req_ctx *x)
{
    api_loop *loop = x->loop;
    x->on_deadline = metrics_deadline;
    cleanup_free char *workers = key_workers(loop->cfg->redis_prefix);
    const char *argv[] = {"EVAL",  SCRIPT_QUEUE_STATS,     "2", loop->queue_key,
                          workers, loop->cfg->redis_prefix};
    if (!aconn_is_up(loop->cmd) || request_command(x, queue_stats_cb, 6, argv, NULL) < 0)
        metrics_answer(x, NULL);
}

/* ---- routing ---- */

void routes_handle(struct evhttp_request *req, void *arg)
{
    api_loop *loop = arg;
    req_ctx *x = request_create(loop, req);
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    snprintf(x->what, sizeof x->what, "%s %s", method_name(m), path ? path : "?");
    const char *id = NULL;
    enum route r = path ? route_match(path, &id) : R_NONE;
    x->route = (int)r;
    x->submission = r == R_RUN && m == EVHTTP_REQ_POST;
    if (r == R_NONE) {
        request_error(x, 404, "no such route");
        return;
    }
    /* /health (probes) and /openapi.json (the API's public description) need no key; /metrics
     * takes METRICS_TOKEN when it is set (scrapers need no key that can submit code) */
    if (r == R_METRICS &&
        !metrics_authorized(loop->cfg, evhttp_find_header(evhttp_request_get_input_headers(req),
                                                          "Authorization"))) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate", "Bearer");
        request_error(x, 401,
                      "missing or invalid token (Authorization: Bearer <METRICS_TOKEN, or an API "
                      "key when it is unset>)");
        return;
    }
    if (r != R_HEALTH && r != R_OPENAPI && r != R_METRICS && !authorized(loop->cfg, req)) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate", "Bearer");
        request_error(x, 401, "missing or invalid API key (Authorization: Bearer <key>)");
        return;
    }
    route_session_parts sp = {.sub = RS_SESSION};
    if (r == R_SESSION && route_session(id, &sp) < 0) {
        request_error(x, 404, "no such route");
        return;
    }
    const char *allow;
    if (!(route_methods(r, sp.sub, &allow) & (unsigned)m)) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
        request_error(x, 405, "method not allowed");
        return;
    }
    if ((r == R_RUN || r == R_RESULTS || r == R_SESSIONS) && parse_wait(uri, &x->wait_ms) < 0) {
        request_error(x, 400, "'wait' must be a number of seconds from 0 to 30");
        return;
    }
    if (loop->stopping)
        x->wait_ms = 0;
    switch (r) {
    case R_RUN:
        run_code(x, req);
        return;
    case R_RESULTS:
        results(x, id);
        return;
    case R_LANGUAGES:
        languages(x);
        return;
    case R_HEALTH:
        health(x);
        return;
    case R_OPENAPI:
        openapi(x);
        return;
    case R_METRICS:
        metrics(x);
        return;
    case R_ENVIRONMENTS:
        sessions_environments(x);
        return;
    case R_SESSIONS:
        sessions_create(x, req);
        return;
    case R_SESSION:
        sessions_handle(x, req, &sp);
        return;
    case R_NONE:
    case R_COUNT:
        break;
    }
}
