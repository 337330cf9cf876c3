/* The session routes: the api's three session scripts (create, submit, delete), the session
 * view, and the answers of runs and file operations once their tasks finish. */
#include "sessions.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/replication.h"
#include "common/b64.h"
#include "common/log.h"
#include "common/redis_model.h"
#include "common/session.h"
#include "common/util.h"

#define NO_PLACE_RETRY_AFTER 5                 /* seconds, with a 503 for want of a place */
#define FILE_WAIT_MS (ROUTE_MAX_WAIT_S * 1000) /* a file operation's wait, then 202 */

/* Redis's clock in ms, into local now (every session script keeps its times on it). */
#define LUA_NOW                                                                                    \
    "local t = redis.call('TIME')\n"                                                               \
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

/* Take a place on the live worker process with the most free places, write the session and its
 * create task (id: the session id), queue the task for that process.
 * KEYS[1] session, KEYS[2] session_free, KEYS[3] workers, KEYS[4] the create task
 * ARGV[1] sid, ARGV[2] prefix, ARGV[3] environment, ARGV[4] memory_mb, ARGV[5] timeout,
 * ARGV[6] ttl s, ARGV[7] max lifetime s, ARGV[8] the create task's request
 * Returns {1, owner}, or {0, 'none'|'full'} (nothing written). */
static const char *const SCRIPT_CREATE =
    LUA_NOW "local owner\n"
            "for _, wid in ipairs(redis.call('ZREVRANGEBYSCORE', KEYS[2], '+inf', 1, "
            "'LIMIT', 0, 32)) do\n"
            "  local dl = tonumber(redis.call('ZSCORE', KEYS[3], wid))\n"
            "  if dl and dl > now then owner = wid break end\n"
            "end\n"
            "if not owner then\n"
            "  if redis.call('ZCARD', KEYS[2]) == 0 then return {0, 'none'} end\n"
            "  return {0, 'full'}\n"
            "end\n"
            "redis.call('ZINCRBY', KEYS[2], -1, owner)\n"
            "redis.call('HSET', KEYS[1], 'status', 'pending', 'environment', ARGV[3],\n"
            "           'owner', owner, 'created_at', now, 'memory_mb', ARGV[4],\n"
            "           'timeout', ARGV[5], 'ttl', ARGV[6],\n"
            "           'expires_at', now + tonumber(ARGV[7]) * 1000)\n"
            "redis.call('SADD', ARGV[2] .. 'sessions:' .. owner, ARGV[1])\n"
            "redis.call('HSET', KEYS[4], 'status', 'PENDING', 'request', ARGV[8],\n"
            "           'created_at', now, 'attempts', 0, 'op', 'create', 'session', ARGV[1])\n"
            "redis.call('LPUSH', ARGV[2] .. 'squeue:' .. owner, ARGV[1])\n"
            "return {1, owner}\n";

/* Queue a task (a run or a file operation) for a live session's owner, and push the session's
 * idle deadline (it is busy, not idle).
 * KEYS[1] session, KEYS[2] the task; ARGV[1] task id, ARGV[2] request, ARGV[3] prefix,
 * ARGV[4] op, ARGV[5] sid
 * Returns {1, owner}, {0} when the session does not exist, {-1, status, message} when it no
 * longer takes work. */
static const char *const SCRIPT_SUBMIT =
    "local st = redis.call('HGET', KEYS[1], 'status')\n"
    "if not st then return {0} end\n"
    "if st ~= 'pending' and st ~= 'creating' and st ~= 'ready' and st ~= 'executing' then\n"
    "  return {-1, st, redis.call('HGET', KEYS[1], 'message') or ''}\n"
    "end\n"
    "local owner = redis.call('HGET', KEYS[1], 'owner')\n" LUA_NOW
    "redis.call('HSET', KEYS[2], 'status', 'PENDING', 'request', ARGV[2], 'created_at', now,\n"
    "           'attempts', 0, 'op', ARGV[4], 'session', ARGV[5])\n"
    "redis.call('LPUSH', ARGV[3] .. 'squeue:' .. owner, ARGV[1])\n"
    "local idle = now + (tonumber(redis.call('HGET', KEYS[1], 'ttl')) or 0) * 1000\n"
    "local hard = tonumber(redis.call('HGET', KEYS[1], 'expires_at')) or idle\n"
    "if idle > hard then idle = hard end\n"
    "redis.call('ZADD', ARGV[3] .. 'session_expiry:' .. owner, 'XX', 'GT', idle, ARGV[5])\n"
    "return {1, owner}\n";

/* Mark a live session stopping and queue its delete task at the head of its owner's queue.
 * KEYS[1] session, KEYS[2] the delete task; ARGV[1] task id, ARGV[2] request, ARGV[3] prefix,
 * ARGV[4] sid. Returns {0} when the session does not exist, else {1, status, message}. */
static const char *const SCRIPT_DELETE =
    "local st = redis.call('HGET', KEYS[1], 'status')\n"
    "if not st then return {0} end\n"
    "if st ~= 'pending' and st ~= 'creating' and st ~= 'ready' and st ~= 'executing' then\n"
    "  return {1, st, redis.call('HGET', KEYS[1], 'message') or ''}\n"
    "end\n"
    "local owner = redis.call('HGET', KEYS[1], 'owner')\n" LUA_NOW
    "local msg = 'deleted by its client'\n"
    "redis.call('HSET', KEYS[1], 'status', 'stopping', 'message', msg)\n"
    "redis.call('HSET', KEYS[2], 'status', 'PENDING', 'request', ARGV[2], 'created_at', now,\n"
    "           'attempts', 0, 'op', 'delete', 'session', ARGV[4])\n"
    "redis.call('RPUSH', ARGV[3] .. 'squeue:' .. owner, ARGV[1])\n"
    "return {1, 'stopping', msg}\n";

/* ---- helpers ---- */

/* ms since the epoch as ISO 8601 UTC with milliseconds, or null for 0 / not a number. */
static json_t *iso_time(const char *ms_text)
{
    long long ms = ms_text ? strtoll(ms_text, NULL, 10) : 0;
    if (ms <= 0)
        return json_null();
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    char buf[48];
    if (!gmtime_r(&s, &tm))
        return json_null();
    size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, sizeof buf - n, ".%03dZ", (int)(ms % 1000));
    return json_string(buf);
}

/* The value of field in an HGETALL reply, or NULL. */
static const char *field(const redisReply *r, const char *name)
{
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (r->element[i]->type == REDIS_REPLY_STRING &&
            r->element[i + 1]->type == REDIS_REPLY_STRING && strcmp(r->element[i]->str, name) == 0)
            return r->element[i + 1]->str;
    return NULL;
}

/* GET /api/v1/sessions/{id}'s body from the session's HGETALL reply. */
static json_t *session_view(const char *sid, const redisReply *r)
{
    const char *status = field(r, "status"), *cid = field(r, "container_id");
    const char *msg = field(r, "message");
    json_t *v = json_pack(
        "{s:s, s:s, s:s, s:o, s:o, s:o}", "session_id", sid, "status", status ? status : "error",
        "environment", field(r, "environment") ? field(r, "environment") : "", "container_id",
        cid && *cid ? json_string(cid) : json_null(), "created_at",
        iso_time(field(r, "created_at")), "last_execution", iso_time(field(r, "last_execution")));
    if (msg && *msg)
        json_object_set_new(v, "message", json_string(msg));
    return v;
}

static bool is_hgetall(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ARRAY;
}

/* A script's array reply: element i as an integer, or def. */
static long long elem_int(const redisReply *r, size_t i, long long def)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements <= i ||
        r->element[i]->type != REDIS_REPLY_INTEGER)
        return def;
    return r->element[i]->integer;
}

static const char *elem_str(const redisReply *r, size_t i)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements <= i ||
        r->element[i]->type != REDIS_REPLY_STRING)
        return NULL;
    return r->element[i]->str;
}

/* A script's reply that is not what it returns: log and answer 503. */
static void script_failed(req_ctx *x, const redisReply *r)
{
    log_error("loop %d: %s: session script failed: %s", x->loop->index, x->what,
              r && r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    request_error_retry(x, 503, "redis error", 1);
}

/* The status a session script answered (its first element), or -1 once x is answered (503). */
static long long script_status(req_ctx *x, const redisReply *reply)
{
    long long ok = elem_int(reply, 0, -1);
    if (ok < 0)
        script_failed(x, reply);
    return ok;
}

/* The request body, or NULL with 413 answered. */
static const char *body_of(req_ctx *x, struct evhttp_request *req, size_t *len)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    *len = evbuffer_get_length(in);
    if ((long)*len > x->loop->cfg->max_body_bytes) {
        request_error(x, 413, "request body too large (over MAX_BODY_BYTES)");
        return NULL;
    }
    return *len ? (const char *)evbuffer_pullup(in, -1) : "";
}

/* The session id of a route, lower case, into x->session_id; false (404 answered) when it is
 * not one. */
static bool take_session_id(req_ctx *x, const route_session_parts *sp)
{
    char id[TASK_ID_LEN + 1];
    if (sp->id_len != TASK_ID_LEN) {
        request_error(x, 404, "unknown or expired session id");
        return false;
    }
    memcpy(id, sp->id, TASK_ID_LEN);
    id[TASK_ID_LEN] = '\0';
    if (!task_id_valid(id)) {
        request_error(x, 404, "unknown or expired session id");
        return false;
    }
    for (int i = 0; i < TASK_ID_LEN; i++)
        x->session_id[i] = (char)(id[i] >= 'A' && id[i] <= 'Z' ? id[i] | 0x20 : id[i]);
    x->session_id[TASK_ID_LEN] = '\0';
    return true;
}

static json_t *pending_body(req_ctx *x)
{
    return json_pack("{s:s, s:s, s:s}", "session_id", x->session_id, "task_id", x->id, "status",
                     "pending");
}

/* ---- GET /api/v1/environments ---- */

void sessions_environments(req_ctx *x)
{
    const lang_table *t = x->loop->langs;
    json_t *ids = json_array();
    for (size_t i = 0; i < t->n; i++)
        json_array_append_new(ids, json_string(t->langs[i].id));
    request_reply(x, 200, ids);
}

/* ---- GET /api/v1/sessions/{id}, and the view a waiting create answers with ---- */

static void view_cb(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    req_ctx *x = priv;
    redisReply *reply = request_callback_reply(x, r);
    if (!reply)
        return;
    if (!is_hgetall(reply)) {
        script_failed(x, reply);
        return;
    }
    if (reply->elements == 0) {
        request_error(x, 404, "unknown or expired session id");
        return;
    }
    json_t *v = session_view(x->session_id, reply);
    if (x->post && !json_object_get(v, "message")) { /* a create's answer names what happened */
        const char *st = json_string_value(json_object_get(v, "status"));
        json_object_set_new(v, "message",
                            json_string(strcmp(st, "ready") == 0 ? "the session is ready"
                                                                 : "the session is being created"));
    }
    request_reply(x, 200, v);
}

static void read_view(req_ctx *x)
{
    cleanup_free char *key = key_session(x->loop->cfg->redis_prefix, x->session_id);
    const char *argv[] = {"HGETALL", key};
    if (request_command(x, view_cb, 2, argv, NULL) < 0)
        request_unavailable(x);
}

/* ---- POST /api/v1/sessions ---- */

static void create_pending_reply(req_ctx *x)
{
    request_reply(x, 200,
                  json_pack("{s:s, s:s, s:s, s:s}", "session_id", x->session_id, "status",
                            "pending", "environment", x->file_path ? x->file_path : "", "message",
                            "the session is being created"));
}

/* The create is acknowledged: answer at once, or start the wait for it. */
static void create_acked(req_ctx *x)
{
    if (x->timer && !x->loop->stopping) {
        request_wait_start(x);
        return;
    }
    create_pending_reply(x);
}

/* The create's wait ended (its task finished, or the time ran out): answer the session as it
 * is now. */
static void create_answer(req_ctx *x, const redisReply *task)
{
    (void)task;
    if (x->client_gone || x->loop->stopping) { /* no further round trip */
        create_pending_reply(x);
        return;
    }
    read_view(x);
}

static void create_cb(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    req_ctx *x = priv;
    redisReply *reply = request_callback_reply(x, r);
    if (!reply)
        return;
    long long ok = script_status(x, reply);
    if (ok < 0)
        return;
    if (ok == 0) {
        const char *why = elem_str(reply, 1);
        log_info("loop %d: %s: no place for a session (%s)", x->loop->index, x->what,
                 why ? why : "?");
        request_error_retry(x, 503,
                            why && strcmp(why, "none") == 0
                                ? "no worker process hosts sessions (none is up, or they run "
                                  "with MAX_SESSIONS_PER_WORKER=0 or a backend without sessions)"
                                : "every worker process holds MAX_SESSIONS_PER_WORKER sessions; "
                                  "retry later or delete a session",
                            NO_PLACE_RETRY_AFTER);
        return;
    }
    log_debug("loop %d: session %s created on %s", x->loop->index, x->session_id,
              elem_str(reply, 1) ? elem_str(reply, 1) : "?");
    replication_wait(x);
}

void sessions_create(req_ctx *x, struct evhttp_request *req)
{
    api_loop *loop = x->loop;
    size_t len;
    const char *body = body_of(x, req, &len);
    if (!body)
        return;
    char err[512];
    session_spec spec;
    if (session_spec_parse(body, len, loop->langs, loop->cfg, &spec, err, sizeof err) < 0) {
        request_error(x, 400, err);
        return;
    }
    if (!aconn_is_up(loop->cmd)) {
        request_unavailable(x);
        return;
    }
    task_id_new(x->id);
    memcpy(x->session_id, x->id, sizeof x->session_id);
    snprintf(x->what, sizeof x->what, "POST /api/v1/sessions %s", x->id);
    x->post = true;
    x->acked = create_acked;
    x->answer = create_answer;
    x->file_path = xstrdup(spec.lang->id); /* the environment, for the answer */
    x->request_json = xasprintf("{\"op\":\"create\",\"session\":\"%s\"}", x->id);
    if (x->wait_ms > 0)
        request_wait(x); /* before the create is queued: its completion cannot be missed */
    const cfg *c = loop->cfg;
    cleanup_free char *skey = key_session(c->redis_prefix, x->id);
    cleanup_free char *free_key = key_session_free(c->redis_prefix);
    cleanup_free char *workers = key_workers(c->redis_prefix);
    cleanup_free char *tkey = key_task(c->redis_prefix, x->id);
    char mem[16], timeout[16], ttl[16], life[16];
    snprintf(mem, sizeof mem, "%d", spec.memory_mb);
    snprintf(timeout, sizeof timeout, "%d", spec.timeout);
    snprintf(ttl, sizeof ttl, "%d", spec.ttl);
    snprintf(life, sizeof life, "%d", c->session_max_lifetime);
    const char *argv[] = {
        "EVAL",          SCRIPT_CREATE, "4", skey,    free_key, workers, tkey,           x->id,
        c->redis_prefix, spec.lang->id, mem, timeout, ttl,      life,    x->request_json};
    if (request_command(x, create_cb, (int)(sizeof argv / sizeof *argv), argv, NULL) < 0)
        request_unavailable(x);
}

/* ---- DELETE /api/v1/sessions/{id} ---- */

static void delete_cb(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    req_ctx *x = priv;
    redisReply *reply = request_callback_reply(x, r);
    if (!reply)
        return;
    long long ok = script_status(x, reply);
    if (ok < 0)
        return;
    if (ok == 0) {
        request_error(x, 404, "unknown or expired session id");
        return;
    }
    const char *st = elem_str(reply, 1), *msg = elem_str(reply, 2);
    request_reply(x, 200,
                  json_pack("{s:s, s:s, s:s}", "session_id", x->session_id, "status",
                            st ? st : "stopping", "message",
                            msg && *msg ? msg : "the session is stopping"));
}

static void delete_session(req_ctx *x)
{
    const cfg *c = x->loop->cfg;
    char tid[TASK_ID_LEN + 1];
    task_id_new(tid);
    cleanup_free char *skey = key_session(c->redis_prefix, x->session_id);
    cleanup_free char *tkey = key_task(c->redis_prefix, tid);
    cleanup_free char *request = xasprintf("{\"op\":\"delete\",\"session\":\"%s\"}", x->session_id);
    const char *argv[] = {"EVAL",  SCRIPT_DELETE,   "2",          skey, tkey, tid,
                          request, c->redis_prefix, x->session_id};
    if (request_command(x, delete_cb, (int)(sizeof argv / sizeof *argv), argv, NULL) < 0)
        request_unavailable(x);
}

/* ---- tasks on a session: runs and file operations ---- */

/* The task is acknowledged: start the wait, or answer 202 with its id. */
static void task_acked(req_ctx *x)
{
    if (x->timer && !x->loop->stopping) {
        request_wait_start(x);
        return;
    }
    request_reply(x, 202, pending_body(x));
}

static void submit_cb(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    req_ctx *x = priv;
    redisReply *reply = request_callback_reply(x, r);
    if (!reply)
        return;
    long long ok = elem_int(reply, 0, -2);
    if (ok == -2) {
        script_failed(x, reply);
        return;
    }
    if (ok == 0) {
        request_error(x, 404, "unknown or expired session id");
        return;
    }
    if (ok < 0) {
        const char *st = elem_str(reply, 1), *msg = elem_str(reply, 2);
        cleanup_free char *text =
            xasprintf("the session is %s%s%s%s", st && strcmp(st, "error") == 0 ? "in " : "",
                      st ? st : "gone", msg && *msg ? ": " : "", msg && *msg ? msg : "");
        request_error(x, 409, text);
        return;
    }
    log_task(LOG_DEBUG, x->id, "queued for session %s", x->session_id);
    replication_wait(x);
}

/* Queue x->request_json as a task of op on x->session_id, waiting wait_ms for it (0: answer
 * 202 once it is queued). */
static void submit(req_ctx *x, session_op op, int wait_ms,
                   void (*answer)(req_ctx *, const redisReply *))
{
    api_loop *loop = x->loop;
    if (!aconn_is_up(loop->cmd)) {
        request_unavailable(x);
        return;
    }
    task_id_new(x->id);
    x->acked = task_acked;
    x->answer = answer;
    x->wait_ms = loop->stopping ? 0 : wait_ms;
    snprintf(x->what, sizeof x->what, "session %s %s", session_op_str(op), x->id);
    if (x->wait_ms > 0)
        request_wait(x);
    const cfg *c = loop->cfg;
    cleanup_free char *skey = key_session(c->redis_prefix, x->session_id);
    cleanup_free char *tkey = key_task(c->redis_prefix, x->id);
    const char *argv[] = {
        "EVAL",          SCRIPT_SUBMIT,      "2",          skey, tkey, x->id, x->request_json,
        c->redis_prefix, session_op_str(op), x->session_id};
    if (request_command(x, submit_cb, (int)(sizeof argv / sizeof *argv), argv, NULL) < 0)
        request_unavailable(x);
}

/* The finished task's result object (SUCCESS), or NULL with the answer sent (FAILURE: 409 with
 * its message; gone: 404; Redis trouble: 503). */
static json_t *task_result(req_ctx *x, const redisReply *task, bool *failed, char **message)
{
    *failed = false;
    *message = NULL;
    task_view v = task_classify(task);
    if (v == TASK_VIEW_MISSING) {
        request_error(x, 404, "the session's task expired");
        return NULL;
    }
    if (v != TASK_VIEW_DONE) {
        request_error_retry(x, 503, "redis error", 1);
        return NULL;
    }
    const char *status = task->element[0]->str;
    const char *text = task->element[1]->type == REDIS_REPLY_STRING ? task->element[1]->str : "";
    json_t *res = json_loads(text, JSON_DECODE_ANY, NULL);
    if (strcmp(status, "SUCCESS") == 0 && json_is_object(res))
        return res;
    *failed = true;
    *message = xstrdup(json_is_string(res) ? json_string_value(res) : "the session failed");
    json_decref(res);
    return NULL;
}

/* POST .../execute's answer from the run's task. */
static void run_answer(req_ctx *x, const redisReply *task)
{
    if (!task) {
        request_reply(x, 202, pending_body(x));
        return;
    }
    bool failed;
    cleanup_free char *msg = NULL;
    json_t *res = task_result(x, task, &failed, &msg);
    if (failed) {
        request_reply(x, 200,
                      json_pack("{s:s, s:s, s:s, s:s}", "session_id", x->session_id, "task_id",
                                x->id, "status", "failed", "error", msg));
        return;
    }
    if (!res)
        return;
    json_t *wall = json_object_get(res, "wall_ms");
    json_t *out =
        json_pack("{s:s, s:s, s:s, s:O, s:O, s:O, s:f, s:O, s:O, s:O, s:O, s:O, s:O, s:O}",
                  "session_id", x->session_id, "task_id", x->id, "status", "completed", "stdout",
                  json_object_get(res, "output"), "stderr", json_object_get(res, "error"),
                  "exit_code", json_object_get(res, "exit_code"), "execution_time",
                  (double)json_integer_value(wall) / 1000.0, "verdict",
                  json_object_get(res, "verdict"), "signal", json_object_get(res, "signal"),
                  "time_ms", json_object_get(res, "time_ms"), "wall_ms", wall, "memory_kb",
                  json_object_get(res, "memory_kb"), "truncated", json_object_get(res, "truncated"),
                  "compile_output", json_object_get(res, "compile_output"));
    if (json_is_true(json_object_get(res, "base64")))
        json_object_set_new(out, "base64", json_true());
    json_decref(res);
    if (!out) {
        request_error(x, 500, "the stored run result is unreadable");
        return;
    }
    request_reply(x, 200, out);
}

/* A file operation's result object when it succeeded; else NULL with the answer sent (its own
 * {"ok": false, "http": code, "error": msg} as that error, a FAILURE as 409). */
static json_t *file_result(req_ctx *x, const redisReply *task)
{
    if (!task) {
        request_reply(x, 202, pending_body(x));
        return NULL;
    }
    bool failed;
    cleanup_free char *msg = NULL;
    json_t *res = task_result(x, task, &failed, &msg);
    if (failed) {
        request_error(x, 409, msg);
        return NULL;
    }
    if (!res)
        return NULL;
    if (!json_is_true(json_object_get(res, "ok"))) {
        json_int_t code = json_integer_value(json_object_get(res, "http"));
        const char *e = json_string_value(json_object_get(res, "error"));
        request_error(x, code >= 400 && code < 600 ? (int)code : 500, e ? e : "file error");
        json_decref(res);
        return NULL;
    }
    return res;
}

static void list_answer(req_ctx *x, const redisReply *task)
{
    json_t *res = file_result(x, task);
    if (!res)
        return;
    json_t *files = json_object_get(res, "files");
    request_reply(x, 200,
                  json_pack("{s:s, s:O}", "session_id", x->session_id, "files",
                            files ? files : json_array()));
    json_decref(res);
}

static void put_answer(req_ctx *x, const redisReply *task)
{
    json_t *res = file_result(x, task);
    if (!res)
        return;
    request_reply(x, 200,
                  json_pack("{s:s, s:s, s:O}", "session_id", x->session_id, "path",
                            x->file_path ? x->file_path : "", "size",
                            json_object_get(res, "size")));
    json_decref(res);
}

static void get_answer(req_ctx *x, const redisReply *task)
{
    json_t *res = file_result(x, task);
    if (!res)
        return;
    const char *b64 = json_string_value(json_object_get(res, "content"));
    char *data = NULL;
    size_t len = 0;
    if (!b64 || b64_decode(b64, strlen(b64), &data, &len) < 0) {
        request_error(x, 500, "the file's content is unreadable");
    } else {
        request_reply_raw(x, 200, "application/octet-stream", data, len);
    }
    free(data);
    json_decref(res);
}

static int execute_wait_ms(const cfg *c)
{
    return (2 * c->max_timeout + 30) * 1000;
}

static void execute(req_ctx *x, struct evhttp_request *req, const struct evhttp_uri *uri)
{
    api_loop *loop = x->loop;
    bool async;
    if (route_parse_flag(evhttp_uri_get_query(uri), "async", &async) < 0) {
        request_error(x, 400, "'async' must be 1 or 0");
        return;
    }
    size_t len;
    const char *body = body_of(x, req, &len);
    if (!body)
        return;
    char err[512];
    session_run run;
    if (session_run_parse(body, len, loop->cfg, &run, err, sizeof err) < 0) {
        request_error(x, 400, err);
        return;
    }
    x->request_json = session_run_to_json(&run, x->session_id);
    session_run_free(&run);
    submit(x, SESSION_OP_RUN, async ? 0 : execute_wait_ms(loop->cfg), run_answer);
}

/* The decoded path of a file route into x->file_path; false (400 answered) when it is not a
 * place in a workspace. */
static bool take_file_path(req_ctx *x, const char *encoded)
{
    size_t n = 0;
    char *path = evhttp_uridecode(encoded, 0, &n);
    char why[128];
    if (!path || strlen(path) != n) {
        free(path);
        request_error(x, 400, "bad file path: it holds a NUL character");
        return false;
    }
    if (session_path_check(path, why, sizeof why) < 0) {
        cleanup_free char *msg = xasprintf("bad file path: %s", why);
        free(path);
        request_error(x, 400, msg);
        return false;
    }
    x->file_path = path;
    return true;
}

static void file_op(req_ctx *x, struct evhttp_request *req, bool put)
{
    json_t *r = json_pack("{s:s, s:s, s:s}", "op", put ? "put" : "get", "session", x->session_id,
                          "path", x->file_path);
    if (put) {
        size_t len;
        const char *body = body_of(x, req, &len);
        if (!body) {
            json_decref(r);
            return;
        }
        char *b64 = b64_encode(body, len);
        json_object_set_new(r, "content", json_string(b64));
        free(b64);
    } else {
        json_object_set_new(r, "max", json_integer(x->loop->cfg->max_body_bytes));
    }
    x->request_json = json_dumps(r, JSON_COMPACT);
    json_decref(r);
    submit(x, put ? SESSION_OP_PUT : SESSION_OP_GET, FILE_WAIT_MS, put ? put_answer : get_answer);
}

void sessions_handle(req_ctx *x, struct evhttp_request *req, const route_session_parts *sp)
{
    if (!take_session_id(x, sp))
        return;
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    if (!aconn_is_up(x->loop->cmd)) {
        request_unavailable(x);
        return;
    }
    switch (sp->sub) {
    case RS_SESSION:
        if (m == EVHTTP_REQ_DELETE)
            delete_session(x);
        else
            read_view(x);
        return;
    case RS_EXECUTE:
        execute(x, req, evhttp_request_get_evhttp_uri(req));
        return;
    case RS_FILES:
        x->request_json = xasprintf("{\"op\":\"list\",\"session\":\"%s\"}", x->session_id);
        submit(x, SESSION_OP_LIST, FILE_WAIT_MS, list_answer);
        return;
    case RS_FILE:
        if (take_file_path(x, sp->file))
            file_op(x, req, m == EVHTTP_REQ_PUT);
        return;
    }
}
