/* A job process of the agent: jobs from the agent over a socketpair, run one at a time through
 * the local backend and the job runner, results back (see job_process.h). */
#include "job_process.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>

#include "common/log.h"
#include "common/util.h"
#include "worker/agent/frame.h"
#include "worker/job_runner.h"

static int send_json(int fd, json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!text)
        abort(); /* only allocation failure makes json_dumps fail here */
    int rc = frame_write(fd, text, strlen(text));
    free(text);
    return rc;
}

static json_t *failure(const char *msg)
{
    json_t *m = json_string(msg);
    if (!m) /* not UTF-8 */
        m = json_string("the system could not run this job");
    return json_pack("{s:s, s:o}", "status", "FAILURE", "result", m);
}

/* The languages whose image the backend has, and those images. */
static json_t *hello(const lang_table *langs, const executor *ex, backend *be)
{
    json_t *ids = json_array(), *images = json_array();
    for (size_t i = 0; i < langs->n; i++) {
        const language *l = &langs->langs[i];
        if (ex->has_image && !ex->has_image(be, l))
            continue;
        json_array_append_new(ids, json_string(l->id));
        bool seen = false;
        size_t k;
        json_t *v;
        json_array_foreach(images, k, v) seen |= strcmp(json_string_value(v), l->image) == 0;
        if (!seen)
            json_array_append_new(images, json_string(l->image));
    }
    return json_pack("{s:o, s:o}", "languages", ids, "images", images);
}

/* One job frame: its answer (new reference). *js gets what is left to tear down, *lang the job's
 * language (NULL when the request was invalid). */
static json_t *run_one(const cfg *c, const lang_table *langs, const executor *ex, backend *be,
                       const char *frame, size_t len, job_sandbox **js, const language **lang)
{
    *js = NULL;
    *lang = NULL;
    json_error_t e;
    json_t *env = json_loadb(frame, len, 0, &e);
    const char *id = json_string_value(json_object_get(env, "id"));
    json_t *request = json_object_get(env, "request");
    if (!id || !json_is_object(request)) { /* the agent checked it: cannot happen */
        json_decref(env);
        return failure("invalid job: no id or request");
    }
    cleanup_free char *id_copy = xstrdup(id);
    cleanup_free char *text = json_dumps(request, JSON_COMPACT);
    json_decref(env);
    char err[512];
    job_request req;
    if (!text || job_request_parse(text, strlen(text), langs, c, &req, err, sizeof err) < 0) {
        log_task(LOG_WARN, id_copy, "invalid request: %s", text ? err : "unreadable");
        cleanup_free char *msg = xasprintf("invalid request: %s", text ? err : "unreadable");
        return failure(msg);
    }
    *lang = req.lang;
    log_task(LOG_INFO, id_copy, "running %s job", req.lang->id);
    int64_t t0 = now_mono_ms();
    char *fail = NULL;
    json_t *res = job_run_keep(ex, be, c, &req, id_copy, &fail, js);
    job_request_free(&req);
    if (!res) {
        json_t *out = failure(fail);
        free(fail);
        return out;
    }
    log_task(LOG_INFO, id_copy, "job ran in %lld ms", (long long)(now_mono_ms() - t0));
    return json_pack("{s:s, s:o}", "status", "SUCCESS", "result", res);
}

/* A handler rather than SIG_IGN, so that programs the executor starts get the default back. */
static void on_sigpipe(int sig)
{
    (void)sig;
}

/* The slot index of a job process id, "<worker>-a<i>" (agent/slots.c): its programs run as uid
 * SANDBOX_UID_BASE + i, as a worker process's do. */
static int slot_index(const char *id)
{
    const char *a = strrchr(id, 'a');
    long i;
    if (!a || a == id || a[-1] != '-' || parse_long(a + 1, 0, 1023, &i) < 0)
        return 0;
    return (int)i;
}

int job_process_main(const cfg *c, const lang_table *langs, const executor *ex, const char *id,
                     int fd)
{
    prctl(PR_SET_NAME, "cr-agent-job"); /* what ps shows (exec made it "exe") */
    fcntl(fd, F_SETFD, FD_CLOEXEC);     /* runtimes and sandboxes never get the agent's socket */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigpipe;
    sigaction(SIGPIPE, &sa, NULL);
    ex->cleanup_stale(c, id); /* what this slot's previous process left, if it died */
    char err[512] = "";
    backend *be = NULL;
    if (ex->init(c, id, slot_index(id), &be, err, sizeof err) < 0) {
        log_error("job process %s: executor %s cannot start: %s", id, ex->name, err);
        send_json(fd, json_pack("{s:s}", "error", err));
        return 1;
    }
    int status = 0;
    if (send_json(fd, hello(langs, ex, be)) < 0) {
        log_error("job process %s: cannot reach the agent: %s", id, strerror(errno));
        status = 1;
    }
    log_info("job process %s ready (executor %s)", id, ex->name);
    while (status == 0) {
        char *frame;
        size_t len;
        int r = frame_read(fd, FRAME_MAX, &frame, &len);
        if (r == 0)
            break; /* the agent closed our socket: stop */
        if (r < 0) {
            log_error("job process %s: reading a job: %s", id, strerror(errno));
            status = 1;
            break;
        }
        job_sandbox *js;
        const language *lang;
        json_t *answer = run_one(c, langs, ex, be, frame, len, &js, &lang);
        free(frame);
        if (send_json(fd, answer) < 0) {
            log_error("job process %s: cannot answer the agent: %s", id, strerror(errno));
            status = 1;
        }
        job_sandbox_destroy(js); /* answered: the teardown delays only the next job */
        if (status == 0 && lang && ex->prestart)
            ex->prestart(be, lang);
    }
    ex->shutdown(be);
    log_info("job process %s stopping", id);
    return status;
}
