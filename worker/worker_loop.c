/* The worker process's loop: take, claim, run, finish, tear down; reconnect to Redis with backoff
 * and retry the final write until it lands or the lease is lost (delivery is at-least-once).
 * The sandbox is torn down after the final write, so that the answer (and the clients
 * long-polling for it) never waits for the teardown; a process killed in between leaves it to
 * the executor's cleanup_stale, which the supervisor runs whenever a worker process ends. */
#include "worker_loop.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/job.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/util.h"
#include "worker/heartbeat.h"
#include "worker/job_runner.h"
#include "worker/queue.h"
#include "worker/rconn.h"
#include "worker/sessions.h"

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* A handler rather than SIG_IGN, so that programs the executor starts get the default back. */
static void on_sigpipe(int sig)
{
    (void)sig;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_sigpipe;
    sigaction(SIGPIPE, &sa, NULL);
}

/* A FAILURE result: the message as a JSON string (caller frees). */
static char *failure_json(const char *msg)
{
    json_t *s = json_string(msg ? msg : "the system could not run this job");
    if (!s) /* not valid UTF-8 */
        s = json_string("the system could not run this job");
    char *text = json_dumps(s, JSON_ENCODE_ANY);
    json_decref(s);
    return text;
}

/* Run a claimed job; returns the result text (caller frees) and sets *status and, for SUCCESS,
 * *v the verdict. *js gets what is left to tear down (caller passes it to job_sandbox_destroy),
 * NULL when nothing is; *lang the job's language (from langs), NULL when the request was
 * invalid. */
static char *run_job(const cfg *c, const lang_table *langs, const executor *ex, backend *be,
                     const char *id, const char *request, task_status *status, verdict *v,
                     job_sandbox **js, const language **lang)
{
    *status = TASK_FAILURE;
    *v = VERDICT_OK;
    *js = NULL;
    *lang = NULL;
    if (!request) {
        log_task(LOG_ERROR, id, "the task has no stored request");
        return failure_json("invalid stored request: the task has no request");
    }
    char err[512];
    job_request req;
    if (job_request_parse(request, strlen(request), langs, c, &req, err, sizeof err) < 0) {
        log_task(LOG_ERROR, id, "invalid stored request: %s", err);
        cleanup_free char *msg = xasprintf("invalid stored request: %s", err);
        return failure_json(msg);
    }
    log_task(LOG_INFO, id, "running %s job", req.lang->id);
    *lang = req.lang;
    int64_t t0 = now_mono_ms();
    double m0 = metrics_now();
    char *failure = NULL;
    json_t *res = job_run_keep(ex, be, c, &req, id, &failure, js);
    if (*js) /* a sandbox was made: the job ran in it, whatever came of it */
        metric_observe(M_JOB_DURATION, metrics_now() - m0, metrics_language_index(req.lang->id), 0);
    job_request_free(&req);
    char *text = NULL;
    if (res) {
        const char *vs = json_string_value(json_object_get(res, "verdict"));
        for (int k = 0; vs && k <= VERDICT_WRONG_ANSWER; k++)
            if (strcmp(vs, verdict_str((verdict)k)) == 0)
                *v = (verdict)k;
        text = json_dumps(res, JSON_COMPACT);
        json_decref(res);
    }
    if (text) {
        *status = TASK_SUCCESS;
        log_task(LOG_INFO, id, "job ran in %lld ms", (long long)(now_mono_ms() - t0));
    } else {
        log_task(LOG_ERROR, id, "job failed: %s", failure ? failure : "no result");
        text = failure_json(failure);
    }
    free(failure);
    return text;
}

/* After a failed command: wait for the reconnect backoff, or a little when Redis answered with an
 * error (e.g. LOADING while it reads its AOF), so that no loop spins. */
static void pause_after_error(rconn *rc, volatile sig_atomic_t *stop)
{
    rconn_wait(rc, stop);
    struct timespec ts = {0, 100 * 1000000L};
    if (!(stop && *stop))
        nanosleep(&ts, NULL);
}

/* Keep trying until Redis answers: returns the script's 0/1 or QUEUE_NOT_OWNER, or -1 when told
 * to give up. */
static int claim_retrying(rconn *rc, const cfg *c, const char *wid, const char *token,
                          const char *id, const char *lease, char **request)
{
    for (;;) {
        int r = queue_claim(rc, c, wid, token, id, lease, request);
        if (r >= 0 || r == QUEUE_NOT_OWNER)
            return r;
        if (stop_requested)
            return -1; /* the job stays in our list; the supervisor gives it back */
        pause_after_error(rc, &stop_requested);
    }
}

/* The final write is retried even after a stop request: the supervisor's grace bounds it.
 * Returns 1 when written, 0 when the lease was lost. */
static int finish_retrying(rconn *rc, const cfg *c, const char *wid, const char *id,
                           const char *lease, task_status status, const char *result)
{
    for (int tries = 0;; tries++) {
        int r = queue_finish(rc, c, wid, id, lease, status, result);
        if (r == 1) {
            log_task(LOG_INFO, id, "%s written", task_status_str(status));
            return 1;
        }
        if (r == 0) {
            log_task(LOG_WARN, id,
                     "lease lost (this worker was presumed dead and the job was "
                     "given back, or the task expired); dropping this result");
            queue_drop(rc, c, wid, id); /* best effort: the next announce also clears it */
            return 0;
        }
        if (tries == 0)
            log_task(LOG_WARN, id, "cannot write the result yet; retrying until redis answers");
        pause_after_error(rc, NULL);
    }
}

/* Our supervisor lost WORKER_ID to another one: stop at once, touching nothing in Redis. */
static int lost_ownership(const char *wid)
{
    log_error("worker process %s: its supervisor no longer owns WORKER_ID (another supervisor "
              "with the same id took it over); stopping",
              wid);
    return WORKER_EXIT_NOT_OWNER;
}

/* Whether the supervisor showed a sign of life within a stale threshold; logs the changes. */
static bool supervisor_alive(const cfg *c, const worker_link *link, bool *was)
{
    int64_t seen = __atomic_load_n(link->supervisor_alive_ms, __ATOMIC_RELAXED);
    bool alive = now_mono_ms() - seen < heartbeat_stale_ms(c);
    if (alive != *was)
        log_at(alive ? LOG_INFO : LOG_WARN, NULL,
               alive ? "worker process %s: supervisor alive again, taking jobs"
                     : "worker process %s: supervisor silent; taking no job until it is back",
               link->wid);
    *was = alive;
    return alive;
}

int worker_loop_run(const cfg *c, const lang_table *langs, const executor *ex,
                    const worker_link *link)
{
    const char *wid = link->wid, *token = link->token;
    bool sup_alive = true;
    install_signals();
    char err[512] = "";
    backend *be = NULL;
    if (ex->init(c, wid, link->slot, &be, err, sizeof err) < 0) {
        log_error("worker %s: executor %s cannot start: %s", wid, ex->name, err);
        return 1;
    }
    rconn *rc = rconn_create(c, (WORKER_TAKE_TIMEOUT_S + c->redis_timeout) * 1000);
    /* the sessions this process holds (sessions.h); NULL when it hosts none */
    session_host *sh = sessions_start(c, langs, ex, be, link, &stop_requested);
    unsigned announced = 0; /* connection epoch on which we registered ourselves */
    int status = 0;
    log_info("worker process %s ready (executor %s)", wid, ex->name);
    while (!stop_requested) {
        if (rconn_ensure(rc) < 0) {
            rconn_wait(rc, &stop_requested);
            continue;
        }
        if (announced != rconn_epoch(rc)) {
            /* (Re)connected: be visible to reapers first, and give back what our list holds
             * though we run nothing (a BLMOVE whose reply was lost with the connection). */
            long n = queue_announce(rc, c, wid, token);
            if (n == QUEUE_NOT_OWNER) {
                status = lost_ownership(wid);
                break;
            }
            if (n < 0) {
                pause_after_error(rc, &stop_requested);
                continue;
            }
            if (n > 0)
                log_warn("gave back %ld job(s) taken while the connection broke", n);
            int sn = sh ? sessions_announce(sh, rc) : 0;
            if (sn == QUEUE_NOT_OWNER) {
                status = lost_ownership(wid);
                break;
            }
            if (sn < 0) {
                pause_after_error(rc, &stop_requested);
                continue;
            }
            announced = rconn_epoch(rc);
        }
        if (!supervisor_alive(c, link, &sup_alive)) {
            struct timespec ts = {0, 200 * 1000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        if (sh)
            sessions_tick(sh, rc);
        char *id = NULL;
        bool in_session = false;
        int got = sh ? sessions_take(sh, rc, &id, &in_session)
                     : queue_take(rc, c, wid, WORKER_TAKE_TIMEOUT_S, &id);
        if (got == QUEUE_NOT_OWNER) {
            status = lost_ownership(wid);
            break;
        }
        if (got < 0) {
            pause_after_error(rc, &stop_requested);
            continue;
        }
        if (got == 0) {
            if (ex->idle)
                ex->idle(be);
            continue;
        }
        if (in_session) { /* stopping: left in sproc, failed with the session when we exit */
            int r = stop_requested ? 0 : sessions_run(sh, rc, id);
            free(id);
            if (r == QUEUE_NOT_OWNER) {
                status = lost_ownership(wid);
                break;
            }
            continue;
        }
        metric_set(M_WORKER_BUSY_SLOTS, 1); /* until the next take */
        if (stop_requested) {
            if (queue_release(rc, c, wid, id) == 0)
                log_task(LOG_INFO, id, "stopping: job put back on the queue");
            free(id);
            break;
        }
        char lease[33];
        random_hex(lease, 16);
        char *request = NULL;
        int claimed = claim_retrying(rc, c, wid, token, id, lease, &request);
        if (claimed == 1) {
            task_status st;
            verdict v;
            job_sandbox *js = NULL;
            const language *lang;
            char *result = run_job(c, langs, ex, be, id, request, &st, &v, &js, &lang);
            if (finish_retrying(rc, c, wid, id, lease, st, result) == 0)
                announced = 0; /* we were presumed dead and reaped: announce ourselves again */
            else /* counted once written: a lost lease means another worker's result counts */
                metric_inc(M_JOBS, metrics_language_index(lang ? lang->id : NULL),
                           metrics_result_index(st, v));
            free(result);
            job_sandbox_destroy(js); /* answered: the teardown delays only the next job */
            if (lang && ex->prestart && !stop_requested)
                ex->prestart(be, lang); /* the next job in this image starts sooner */
        }
        free(request);
        free(id);
        metric_set(M_WORKER_BUSY_SLOTS, 0);
        if (claimed == QUEUE_NOT_OWNER) {
            status = lost_ownership(wid);
            break;
        }
    }
    log_info("worker process %s stopping", wid);
    sessions_free(sh);
    ex->shutdown(be);
    rconn_free(rc);
    return status;
}
