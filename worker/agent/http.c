/* The agent's routes, Bearer authentication, and job requests from acceptance to their last
 * chunk (see http.h and agent.h). */
#include "http.h"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/util.h"
#include "worker/agent/agent.h"

#define BEAT_MS 1000  /* a newline this often while a job runs */
#define FLUSH_MS 5000 /* a drain waits this long for its last replies to be written */
#define JOB_ID_MAX 64 /* task ids are 36; anything of [A-Za-z0-9._-] up to this is taken */

/* One job request in flight. Made when a slot took the job; freed once its reply ended or its
 * client went away (the slot's answer is then dropped). */
typedef struct agent_job {
    struct agent_job *prev, *next; /* in ag->jobs */
    agent *ag;                     /* borrowed */
    struct evhttp_request *req;    /* owned by libevent; NULL once the client is gone */
    struct event *beat;            /* owned; the newline timer */
    char id[JOB_ID_MAX + 1];       /* the task id, for logs */
    int64_t started_ms;            /* monotonic, for the log line */
} agent_job;

static const char *reason(int code)
{
    switch (code) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 503:
        return "Service Unavailable";
    default:
        return "Error";
    }
}

/* A whole reply with a JSON body (stolen). */
static void reply(struct evhttp_request *req, int code, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    struct evbuffer *buf = evbuffer_new();
    if (!text || !buf)
        abort(); /* allocation */
    evbuffer_add(buf, text, strlen(text));
    free(text);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, code, reason(code), buf);
    evbuffer_free(buf);
}

static void reply_error(struct evhttp_request *req, int code, const char *msg)
{
    reply(req, code, json_pack("{s:s}", "error", msg));
}

static void reply_busy(struct evhttp_request *req, const char *msg)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
    reply_error(req, 503, msg);
}

/* "Authorization: Bearer <token>", the token compared in constant time. */
static bool authorized(const agent *ag, struct evhttp_request *req)
{
    if (!ag->token)
        return true;
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    const char *t = h + 7;
    while (*t == ' ')
        t++;
    return const_time_eq(t, strlen(t), ag->token, strlen(ag->token));
}

static void job_unlink(agent_job *j)
{
    agent *ag = j->ag;
    if (j->prev)
        j->prev->next = j->next;
    else
        ag->jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
    ag->n_jobs--;
    event_free(j->beat);
    free(j);
    agent_http_check_drained(ag);
}

void agent_http_check_drained(agent *ag)
{
    if (!ag->draining || ag->n_jobs > 0)
        return;
    if (ag->n_unsent == 0) {
        event_base_loopexit(ag->base, NULL);
    } else if (!evtimer_pending(ag->flush_timer, NULL)) {
        struct timeval tv = {FLUSH_MS / 1000, 0};
        evtimer_add(ag->flush_timer, &tv);
    }
}

/* A job reply is all written (libevent calls this only then). */
static void sent_cb(struct evhttp_request *req, void *arg)
{
    (void)req;
    agent *ag = arg;
    ag->n_unsent--;
    agent_http_check_drained(ag);
}

static void beat_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    agent_job *j = arg;
    if (!j->req)
        return;
    struct evbuffer *b = evbuffer_new();
    if (!b)
        abort();
    evbuffer_add(b, "\n", 1);
    evhttp_send_reply_chunk(j->req, b);
    evbuffer_free(b);
    struct timeval tv = {BEAT_MS / 1000, (BEAT_MS % 1000) * 1000};
    evtimer_add(j->beat, &tv);
}

/* The client's connection failed (it went away, or a write to it failed). libevent has detached
 * our request from the connection, since we had not ended its reply: it is ours to free. */
static void close_cb(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    agent_job *j = arg;
    struct evhttp_request *req = j->req;
    if (!req)
        return;
    j->req = NULL;
    if (!evhttp_request_get_connection(req))
        evhttp_request_free(req);
    log_task(LOG_WARN, j->id, "the worker went away after %lld ms; the job runs on, unanswered",
             (long long)(now_mono_ms() - j->started_ms));
    slots_drop(j->ag->slots, j);
    job_unlink(j);
}

void agent_http_answer(void *job, const char *text, size_t len, const char *why)
{
    agent_job *j = job;
    struct evhttp_request *req = j->req;
    j->req = NULL;
    evtimer_del(j->beat);
    if (req) {
        struct evhttp_connection *evcon = evhttp_request_get_connection(req);
        if (evcon)
            evhttp_connection_set_closecb(evcon, NULL, NULL);
        struct evbuffer *b = evbuffer_new();
        if (!b)
            abort();
        if (text) {
            evbuffer_add(b, text, len);
        } else {
            json_t *o = json_pack("{s:s}", "error", why);
            char *e = json_dumps(o, JSON_COMPACT);
            json_decref(o);
            if (!e)
                abort(); /* allocation */
            evbuffer_add(b, e, strlen(e));
            free(e);
        }
        evbuffer_add(b, "\n", 1);
        evhttp_send_reply_chunk(req, b);
        evbuffer_free(b);
        if (evcon) {
            j->ag->n_unsent++;
            evhttp_request_set_on_complete_cb(req, sent_cb, j->ag);
        }
        evhttp_send_reply_end(req);
    }
    log_task(text ? LOG_INFO : LOG_ERROR, j->id, "answered in %lld ms%s%s",
             (long long)(now_mono_ms() - j->started_ms), text ? "" : ": ", text ? "" : why);
    job_unlink(j);
}

void agent_http_stop_jobs(agent *ag)
{
    while (ag->jobs) {
        agent_job *j = ag->jobs;
        slots_drop(ag->slots, j);
        agent_http_answer(j, NULL, 0, "the executor host is shutting down");
    }
}

/* The body is {"id": "<[A-Za-z0-9._-]{1,64}>", "request": {...}}: *id set, else a message. */
static const char *check_job(const char *body, size_t len, char id[JOB_ID_MAX + 1])
{
    json_error_t e;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
    const char *why = NULL;
    const char *s = json_string_value(json_object_get(o, "id"));
    if (!o)
        why = "the body is not JSON";
    else if (!json_is_object(o))
        why = "the body must be a JSON object";
    else if (!s || !*s || strlen(s) > JOB_ID_MAX ||
             strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
                 strlen(s))
        why = "'id' must be 1 to 64 letters, digits, '.', '_' or '-'";
    else if (!json_is_object(json_object_get(o, "request")))
        why = "'request' must be an object (a POST /run-code body)";
    else
        snprintf(id, JOB_ID_MAX + 1, "%s", s);
    json_decref(o);
    return why;
}

static void post_job(agent *ag, struct evhttp_request *req)
{
    if (ag->draining) {
        reply_busy(req, "the executor host is draining: it takes no new job");
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
    char id[JOB_ID_MAX + 1];
    const char *why = check_job(body, len, id);
    if (why) {
        reply_error(req, 400, why);
        return;
    }
    agent_job *j = xcalloc(1, sizeof *j);
    j->ag = ag;
    j->req = req;
    j->started_ms = now_mono_ms();
    snprintf(j->id, sizeof j->id, "%s", id);
    j->beat = evtimer_new(ag->base, beat_cb, j);
    if (!j->beat)
        abort();
    if (!slots_send(ag->slots, j, body, len)) {
        event_free(j->beat);
        free(j);
        reply_busy(req, "every slot of the executor host is busy");
        return;
    }
    j->next = ag->jobs;
    if (ag->jobs)
        ag->jobs->prev = j;
    ag->jobs = j;
    ag->n_jobs++;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    if (evcon)
        evhttp_connection_set_closecb(evcon, close_cb, j);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply_start(req, 200, "OK");
    struct timeval tv = {BEAT_MS / 1000, (BEAT_MS % 1000) * 1000};
    evtimer_add(j->beat, &tv);
    log_task(LOG_DEBUG, id, "job accepted (%zu bytes)", len);
}

static json_t *capacity(const agent *ag)
{
    const cfg *c = ag->c;
    const char *runtime = strcmp(ag->ex->name, "docker") == 0 ? c->docker_runtime : c->oci_runtime;
    return json_pack("{s:I, s:I, s:I, s:b, s:s, s:s, s:O, s:O}", "slots",
                     (json_int_t)slots_total(ag->slots), "busy", (json_int_t)slots_busy(ag->slots),
                     "idle", (json_int_t)slots_idle(ag->slots), "draining", ag->draining,
                     "executor", ag->ex->name, "runtime", runtime, "languages",
                     slots_languages(ag->slots), "images", slots_images(ag->slots));
}

void agent_http_handle(struct evhttp_request *req, void *arg)
{
    agent *ag = arg;
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    bool get = m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD;
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    if (!path) {
        reply_error(req, 404, "no such route");
    } else if (strcmp(path, "/health") == 0) {
        if (!get) {
            evhttp_add_header(out, "Allow", "GET, HEAD");
            reply_error(req, 405, "method not allowed");
        } else {
            reply(req, ag->draining ? 503 : 200,
                  json_pack("{s:s}", "status", ag->draining ? "draining" : "ok"));
        }
    } else if (strcmp(path, "/v1/capacity") != 0 && strcmp(path, "/v1/jobs") != 0) {
        reply_error(req, 404, "no such route");
    } else if (!authorized(ag, req)) {
        evhttp_add_header(out, "WWW-Authenticate", "Bearer");
        reply_error(req, 401,
                    "missing or wrong token (Authorization: Bearer <EXECUTOR_AUTH_TOKEN>)");
    } else if (strcmp(path, "/v1/capacity") == 0) {
        if (!get) {
            evhttp_add_header(out, "Allow", "GET, HEAD");
            reply_error(req, 405, "method not allowed");
        } else {
            reply(req, 200, capacity(ag));
        }
    } else if (m != EVHTTP_REQ_POST) {
        evhttp_add_header(out, "Allow", "POST");
        reply_error(req, 405, "method not allowed");
    } else {
        post_job(ag, req);
    }
}
