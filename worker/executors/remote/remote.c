/* The remote backend: the job's envelope, a slot leased on a host, the call, and what each
 * outcome means for the job and the host (see remote.h). */
#include "remote.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "worker/executors/remote/client.h"
#include "worker/executors/remote/fleet.h"
#include "worker/executors/remote/pool.h"
#include "worker/net/token.h"

#define CALL_MARGIN_S 60      /* a job call may take its steps' limits plus this (sandbox set-up) */
#define LEASE_MARGIN_MS 10000 /* a lease outlives its call's bound by this much */
#define UNKNOWN_WAIT_MS 100   /* a host is being probed: look again this soon */
#define BUSY_WAIT_MS 200      /* a host said 503 though we held a lease (overbooked from outside) */

/* The remote backend of one worker process: made by remote_init, freed by remote_shutdown. */
struct backend {
    const cfg *c;       /* borrowed */
    char *worker_id;    /* owned; this worker process */
    rclient *client;    /* owned */
    pool *pool;         /* owned; the hosts */
    fleet *fleet;       /* owned; EC2 discovery and scaling, NULL without AWS_REGION */
    char **static_urls; /* owned vector (strings in static_text): REMOTE_EXECUTORS */
    char *static_text;  /* owned */
    size_t n_static;
};

static void remote_shutdown(backend *be)
{
    if (!be)
        return;
    fleet_free(be->fleet);
    pool_free(be->pool);
    free(be->static_urls);
    free(be->static_text);
    rclient_free(be->client);
    free(be->worker_id);
    free(be);
}
CLEANUP_FUNC(backend, remote_shutdown)

/* The pool's hosts: REMOTE_EXECUTORS and the EC2 instances found. */
static int set_hosts(backend *be, char *err, size_t errlen)
{
    size_t ne = 0;
    char *const *ec2 = be->fleet ? fleet_urls(be->fleet, &ne) : NULL;
    cleanup_free char **all = xcalloc(be->n_static + ne + 1, sizeof *all);
    memcpy(all, be->static_urls, be->n_static * sizeof *all);
    for (size_t i = 0; i < ne; i++)
        all[be->n_static + i] = ec2[i];
    char why[256];
    if (pool_set_hosts(be->pool, all, be->n_static + ne, why, sizeof why) < 0)
        return set_error(err, errlen, "%s: %s", be->n_static ? "REMOTE_EXECUTORS" : "EC2_AGENT_URL",
                         why);
    return 0;
}

/* New EC2 instances, or gone ones: the pool follows. upkeep: this process may make the fleet's
 * EC2 calls now (it is idle, or its job waits anyway). */
static void sync_hosts(backend *be, bool upkeep)
{
    char err[512];
    if (be->fleet && fleet_sync(be->fleet, upkeep) && set_hosts(be, err, sizeof err) < 0)
        log_error("%s", err);
}

static int static_hosts(backend *be, char *err, size_t errlen)
{
    if (!be->c->remote_executors)
        return 0;
    be->static_text = xstrdup(be->c->remote_executors);
    char *save = NULL;
    for (char *u = strtok_r(be->static_text, ", \t", &save); u; u = strtok_r(NULL, ", \t", &save)) {
        be->static_urls = xrealloc(be->static_urls, (be->n_static + 1) * sizeof *be->static_urls);
        be->static_urls[be->n_static++] = u;
    }
    if (be->n_static == 0)
        return set_error(err, errlen, "REMOTE_EXECUTORS: no URL in '%s'", be->c->remote_executors);
    return 0;
}

static int remote_init(const cfg *c, const char *worker_id, int slot, backend **out, char *err,
                       size_t errlen)
{
    (void)slot; /* nothing runs here: the executor host's own slots run the programs */
    *out = NULL;
    if (!c->remote_executors && !c->aws_region)
        return set_error(err, errlen,
                         "EXECUTOR=remote needs executor hosts: set REMOTE_EXECUTORS "
                         "(http[s]://host:port,...), or AWS_REGION to find them in EC2");
    cleanup_ptr(backend) backend *be = xcalloc(1, sizeof *be);
    be->c = c;
    be->worker_id = xstrdup(worker_id);
    char *token = NULL;
    if (net_token_load(c, &token, err, errlen) < 0)
        return -1;
    int rc = rclient_create(c, token, &be->client, err, errlen);
    net_token_free(token);
    if (rc < 0)
        return -1;
    be->pool = pool_create(c, be->client, worker_id);
    if (static_hosts(be, err, errlen) < 0)
        return -1;
    if (c->aws_region && fleet_create(c, be->pool, worker_id, &be->fleet, err, errlen) < 0)
        return -1;
    if (set_hosts(be, err, errlen) < 0)
        return -1;
    *out = steal_pointer(&be);
    return 0;
}

/* The supervisor, after a worker process died: free the slot lease it held. */
static void remote_cleanup_stale(const cfg *c, const char *worker_id)
{
    pool_release_stale(c, worker_id);
}

static void remote_idle(backend *be)
{
    sync_hosts(be, true);          /* EC2: discovery, the minimum, idle instances (in turn) */
    pool_refresh(be->pool, false); /* probes, so that hosts and GET /languages stay current */
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

/* One call on a leased slot. Returns 1 when the job is decided (*res or *failure set), 0 to
 * look for a host again; *attempts counts the hosts that took the job and failed it. */
static int call_host(backend *be, const pool_lease *lease, const char *body, size_t len,
                     const rclient_limits *lim, const char *job_id, int *attempts, json_t **res,
                     char **failure, char *err, size_t errlen)
{
    const cfg *c = be->c;
    const rclient_target *t = pool_target(be->pool, lease->host);
    json_t *answer = NULL;
    rcall r = rclient_job(be->client, t, body, len, lim, &answer, err, errlen);
    switch (r) {
    case RCALL_OK:
        *res = take_answer(answer, t, job_id, failure);
        json_decref(answer);
        return 1;
    case RCALL_REFUSED: /* configuration: every retry would end the same */
    case RCALL_TLS:
        pool_mark_refused(be->pool, lease->host, err);
        *failure = xstrdup(err);
        return 1;
    case RCALL_REJECTED:
        *failure = xstrdup(err);
        return 1;
    case RCALL_BUSY:
        if (strstr(err, "draining"))
            pool_mark_down(be->pool, lease->host, "draining (it was stopped)");
        else
            pool_wait(be->pool, BUSY_WAIT_MS);
        log_task(LOG_INFO, job_id, "%s; looking again", err);
        return 0;
    case RCALL_UNREACHABLE:
        pool_mark_down(be->pool, lease->host, err);
        log_task(LOG_WARN, job_id, "%s; trying another host", err);
        return 0;
    case RCALL_FAILED:
        pool_mark_down(be->pool, lease->host, err);
        ++*attempts;
        log_task(LOG_WARN, job_id, "%s (attempt %d of %d)", err, *attempts, c->task_max_attempts);
        if (*attempts >= c->task_max_attempts) {
            *failure =
                xasprintf("the job failed on %d executor host(s); the last: %s", *attempts, err);
            return 1;
        }
        return 0;
    }
    return 0;
}

static json_t *remote_run_job(backend *be, const job_request *req, const char *job_id,
                              char **failure)
{
    const cfg *c = be->c;
    cleanup_free char *body = envelope(req, job_id);
    size_t len = strlen(body);
    rclient_limits lim = call_limits(c, req);
    long ttl = lim.timeout_ms + (long)c->remote_stall_timeout * 1000 + LEASE_MARGIN_MS;
    const char *lang = req->lang->id;
    int64_t t0 = now_mono_ms();
    int64_t deadline = t0 + (int64_t)c->idle_instance_wait_timeout * 1000;
    char err[1024] = "";
    int attempts = 0;
    bool waited = false, said = false, asked = false;
    for (;;) {
        sync_hosts(be, waited || pool_count(be->pool) == 0);
        pool_refresh(be->pool, waited);
        pool_lease lease;
        int got = pool_acquire(be->pool, lang, ttl, &lease);
        if (got == 1) {
            json_t *res = NULL;
            int done = call_host(be, &lease, body, len, &lim, job_id, &attempts, &res, failure, err,
                                 sizeof err);
            pool_release(be->pool, &lease);
            if (done)
                return res;
            waited = false;
            continue;
        }
        char why[768];
        pool_why w = pool_explain(be->pool, lang, why, sizeof why);
        size_t wn = strlen(why);
        if (be->fleet && wn + 3 < sizeof why) {
            memcpy(why + wn, "; ", 3);
            fleet_status(be->fleet, why + wn + 2, sizeof why - wn - 2);
        }
        if (got == 0 && w == POOL_NO_LANGUAGE && (!be->fleet || pool_count(be->pool) > 0)) {
            *failure = xasprintf("no executor host offers %s (%s)", lang, why);
            return NULL;
        }
        if (got == 0 && w == POOL_REFUSED) {
            *failure = xasprintf("every executor host refuses this worker: check "
                                 "EXECUTOR_AUTH_TOKEN and REMOTE_CA_FILE (%s)",
                                 why);
            return NULL;
        }
        int64_t now = now_mono_ms();
        if (be->fleet && !asked && got == 0 && pool_unknown(be->pool) == 0 &&
            now - t0 >= (int64_t)c->idle_instance_poll_interval * 1000) {
            fleet_want_more(be->fleet); /* waited a poll interval: one more host, if elected */
            asked = true;
        }
        if (now >= deadline) {
            *failure = got < 0 ? xasprintf("redis unreachable: no executor slot could be leased "
                                           "within IDLE_INSTANCE_WAIT_TIMEOUT (%d s)",
                                           c->idle_instance_wait_timeout)
                       : pool_count(be->pool) == 0
                           ? xasprintf("no executor host found within IDLE_INSTANCE_WAIT_TIMEOUT "
                                       "(%d s): %s",
                                       c->idle_instance_wait_timeout, why)
                           : xasprintf("no executor host had a free slot for %s within "
                                       "IDLE_INSTANCE_WAIT_TIMEOUT (%d s): %s",
                                       lang, c->idle_instance_wait_timeout, why);
            return NULL;
        }
        if (!said && pool_unknown(be->pool) == 0) {
            log_task(LOG_INFO, job_id, "waiting for a free executor slot (%s)", why);
            said = true;
        }
        long step =
            pool_unknown(be->pool) ? UNKNOWN_WAIT_MS : (long)c->idle_instance_poll_interval * 1000;
        if (step > deadline - now)
            step = (long)(deadline - now);
        pool_wait(be->pool, step);
        waited = true;
    }
}

const executor executor_remote = {
    .name = "remote",
    .init = remote_init,
    .cleanup_stale = remote_cleanup_stale,
    .shutdown = remote_shutdown,
    .run_job = remote_run_job,
    .idle = remote_idle,
};
