/* The remote backend: the job's envelope, the choice of a host, and what each outcome of a call
 * means for the job (see remote.h). */
#include "remote.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "worker/executors/remote/client.h"
#include "worker/net/token.h"

#define CALL_MARGIN_S 60 /* a job call may take its steps' limits plus this (sandbox set-up) */

/* The remote backend of one worker process: made by remote_init, freed by remote_shutdown. */
struct backend {
    const cfg *c;            /* borrowed */
    char *worker_id;         /* owned; this worker process */
    rclient *client;         /* owned */
    rclient_target *targets; /* owned array of n: the agents of REMOTE_EXECUTORS */
    size_t n;
    size_t next; /* where the next job starts looking (spreads the jobs) */
};

static void remote_shutdown(backend *be)
{
    if (!be)
        return;
    rclient_free(be->client);
    for (size_t i = 0; i < be->n; i++)
        rclient_target_clear(&be->targets[i]);
    free(be->targets);
    free(be->worker_id);
    free(be);
}
CLEANUP_FUNC(backend, remote_shutdown)

static int parse_targets(backend *be, char *err, size_t errlen)
{
    const cfg *c = be->c;
    cleanup_free char *copy = xstrdup(c->remote_executors);
    char *save = NULL;
    for (char *u = strtok_r(copy, ", \t", &save); u; u = strtok_r(NULL, ", \t", &save)) {
        rclient_target t;
        char why[256];
        if (rclient_target_parse(u, c->remote_tls_name, &t, why, sizeof why) < 0)
            return set_error(err, errlen, "REMOTE_EXECUTORS: %s", why);
        be->targets = xrealloc(be->targets, (be->n + 1) * sizeof *be->targets);
        be->targets[be->n++] = t;
    }
    if (be->n == 0)
        return set_error(err, errlen, "REMOTE_EXECUTORS: no URL in '%s'", c->remote_executors);
    return 0;
}

static int remote_init(const cfg *c, const char *worker_id, backend **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!c->remote_executors)
        return set_error(err, errlen,
                         "EXECUTOR=remote needs executor hosts: set REMOTE_EXECUTORS "
                         "(http[s]://host:port,...)");
    cleanup_ptr(backend) backend *be = xcalloc(1, sizeof *be);
    be->c = c;
    be->worker_id = xstrdup(worker_id);
    if (parse_targets(be, err, errlen) < 0)
        return -1;
    char *token = NULL;
    if (net_token_load(c, &token, err, errlen) < 0)
        return -1;
    int rc = rclient_create(c, token, &be->client, err, errlen);
    net_token_free(token);
    if (rc < 0)
        return -1;
    char hex[9];
    random_hex(hex, 4); /* worker processes start at different hosts */
    be->next = (size_t)strtoul(hex, NULL, 16) % be->n;
    *out = steal_pointer(&be);
    return 0;
}

static void remote_cleanup_stale(const cfg *c, const char *worker_id)
{
    (void)c, (void)worker_id; /* nothing of a job is kept on this host */
}

/* {"id": job_id, "request": the canonical request with its limits resolved}, so that the host
 * runs the job with the limits this worker checked (caller frees). */
static char *envelope(const job_request *req, const char *job_id)
{
    job_request r = *req; /* shallow: to_json only reads */
    r.timeout_given = r.memory_given = true;
    cleanup_free char *request = job_request_to_json(&r);
    json_t *id = json_string(job_id);
    cleanup_free char *id_text = json_dumps(id, JSON_ENCODE_ANY);
    json_decref(id);
    return xasprintf("{\"id\":%s,\"request\":%s}", id_text ? id_text : "\"job\"", request);
}

/* The bounds of the call: the job's own limits and a margin; room for every output it may
 * produce, escaped or base64. */
static rclient_limits call_limits(const cfg *c, const job_request *req)
{
    long worst = job_request_worst_seconds(req);
    if (worst > c->max_job_seconds)
        worst = c->max_job_seconds;
    size_t steps = (req->ntests ? req->ntests : 1) + 1;
    size_t out = (size_t)c->output_limit_bytes * 2 * 6; /* stdout and stderr, \u00XX escapes */
    return (rclient_limits){.timeout_ms = (worst + CALL_MARGIN_S) * 1000,
                            .max_answer = out * steps + (1u << 20)};
}

/* The agent's answer as the job runner wants it: the result object, or NULL and *failure. */
static json_t *take_answer(json_t *answer, const rclient_target *t, const char *job_id,
                           char **failure)
{
    const char *status = json_string_value(json_object_get(answer, "status"));
    json_t *result = json_object_get(answer, "result");
    if (strcmp(status, "SUCCESS") == 0 && json_is_object(result)) {
        log_task(LOG_DEBUG, job_id, "ran on executor host %s", t->url);
        return json_incref(result);
    }
    const char *msg = json_string_value(result);
    *failure = xasprintf("executor host %s: %s", t->url, msg ? msg : "no result");
    return NULL;
}

static json_t *remote_run_job(backend *be, const job_request *req, const char *job_id,
                              char **failure)
{
    const cfg *c = be->c;
    cleanup_free char *body = envelope(req, job_id);
    size_t len = strlen(body);
    rclient_limits lim = call_limits(c, req);
    char err[1024] = "";
    int attempts = 0;
    size_t start = be->next;
    be->next = (be->next + 1) % be->n;
    for (size_t k = 0; k < be->n; k++) {
        const rclient_target *t = &be->targets[(start + k) % be->n];
        json_t *answer = NULL;
        rcall r = rclient_job(be->client, t, body, len, &lim, &answer, err, sizeof err);
        switch (r) {
        case RCALL_OK: {
            json_t *res = take_answer(answer, t, job_id, failure);
            json_decref(answer);
            return res;
        }
        case RCALL_REFUSED:
        case RCALL_TLS:
        case RCALL_REJECTED:
            *failure = xstrdup(err);
            return NULL;
        case RCALL_BUSY:
        case RCALL_UNREACHABLE:
            log_task(LOG_INFO, job_id, "%s; trying another host", err);
            continue;
        case RCALL_FAILED:
            attempts++;
            log_task(LOG_WARN, job_id, "%s (attempt %d of %d)", err, attempts,
                     c->task_max_attempts);
            if (attempts >= c->task_max_attempts) {
                *failure =
                    xasprintf("the job failed on %d executor host(s); the last: %s", attempts, err);
                return NULL;
            }
            continue;
        }
    }
    *failure = xasprintf("no executor host could take the job: %s", err);
    return NULL;
}

const executor executor_remote = {
    .name = "remote",
    .init = remote_init,
    .cleanup_stale = remote_cleanup_stale,
    .shutdown = remote_shutdown,
    .run_job = remote_run_job,
};
