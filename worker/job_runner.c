/* The job runner: compile step (when the language has one), then one run step, or one per test
 * case, through an executor; verdicts and the SUCCESS result object (see job_runner.h).
 *
 * Result object: output, error, exit_code, signal ("SIGKILL" or null), verdict, compile_output
 * (string or null), time_ms (CPU), wall_ms, memory_kb (peak), truncated, base64 (only when
 * true: every text field is base64). With tests also "tests" (one object per test) and
 * "summary" {passed, total}; the top-level fields then describe the first test that did not
 * pass (or the last one), verdict is "accepted" when all passed, time_ms and memory_kb are the
 * maxima and wall_ms the sum over the tests.
 * A Java submission is written under its public class's name and runs the top-level class that
 * declares main (main_class.h). The request's compiler_options and run_options, checked against
 * the language's allow-lists when the request was parsed, go in the slot of the step's argv.
 * The sandbox outlives the result: the worker writes the answer first and tears down after. */
#include "job_runner.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "common/b64.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/result.h"
#include "common/util.h"
#include "worker/main_class.h"

#define FAILURE_MAX 1024

/* What the whole job produced, gathered before it is turned into JSON. */
typedef struct job_outcome {
    step_result compile; /* the compile step; out/err NULL when there was none */
    bool compiled;       /* the compile step ran */
    step_result *runs;   /* owned; one per run step */
    verdict *verdicts;   /* owned; verdict of each run step */
    size_t nruns;        /* run steps done */
    bool b64;            /* text fields go out base64 */
} job_outcome;

static verdict step_verdict(const step_result *r)
{
    if (r->output_limited)
        return VERDICT_OUTPUT_LIMIT;
    /* SIGXCPU: a process reached its RLIMIT_CPU (the program may have lowered it itself) */
    if (r->timed_out || r->signal == SIGXCPU)
        return VERDICT_TIME_LIMIT;
    if (r->oom_killed)
        return VERDICT_MEMORY_LIMIT;
    if (r->exit_code != 0 || r->signal != 0)
        return VERDICT_RUNTIME_ERROR;
    return VERDICT_OK;
}

/* Length of s[0..n) without trailing spaces, tabs and carriage returns. */
static size_t rtrim(const char *s, size_t n)
{
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        n--;
    return n;
}

/* Length without trailing blank lines (and trailing whitespace of the last line). */
static size_t rtrim_lines(const char *s, size_t n)
{
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        n--;
    return n;
}

/* Equal line by line, ignoring trailing whitespace of each line and trailing blank lines. */
static bool output_matches(const char *a, size_t alen, const char *b, size_t blen)
{
    alen = rtrim_lines(a, alen);
    blen = rtrim_lines(b, blen);
    size_t i = 0, j = 0;
    while (i < alen || j < blen) {
        const char *ae = memchr(a + i, '\n', alen - i), *be = memchr(b + j, '\n', blen - j);
        size_t al = ae ? (size_t)(ae - (a + i)) : alen - i;
        size_t bl = be ? (size_t)(be - (b + j)) : blen - j;
        size_t at = rtrim(a + i, al), bt = rtrim(b + j, bl);
        if (at != bt || memcmp(a + i, b + j, at) != 0 || !ae != !be)
            return false;
        i += al + (ae ? 1 : 0);
        j += bl + (be ? 1 : 0);
    }
    return true;
}

static bool valid_utf8(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n); /* jansson validates (and accepts NUL bytes) */
    json_decref(j);
    return j != NULL;
}

static json_t *text(const char *s, size_t n, bool b64)
{
    if (!s)
        return json_null();
    if (!b64)
        return json_stringn(s, n);
    char *e = b64_encode(s, n);
    json_t *j = json_string(e);
    free(e);
    return j;
}

static json_t *signal_name(int sig)
{
    const char *abbrev = sig > 0 ? sigabbrev_np(sig) : NULL;
    if (!abbrev)
        return json_null();
    char name[32];
    snprintf(name, sizeof name, "SIG%s", abbrev);
    return json_string(name);
}

/* The compile step's stdout and stderr together, with a note when it hit a limit. */
static char *compile_output(const step_result *c, size_t *len)
{
    const char *note = c->timed_out        ? "\n[compilation: time limit exceeded]\n"
                       : c->oom_killed     ? "\n[compilation: memory limit exceeded]\n"
                       : c->output_limited ? "\n[compilation: output limit exceeded]\n"
                                           : "";
    size_t nl = strlen(note);
    char *s = xmalloc(c->out_len + c->err_len + nl + 1);
    memcpy(s, c->out, c->out_len);
    memcpy(s + c->out_len, c->err, c->err_len);
    memcpy(s + c->out_len + c->err_len, note, nl + 1);
    *len = c->out_len + c->err_len + nl;
    return s;
}

static json_t *test_json(const step_result *r, verdict v, bool b64)
{
    return json_pack("{s:s, s:o, s:o, s:i, s:o, s:I, s:I, s:I}", "verdict", verdict_str(v),
                     "output", text(r->out, r->out_len, b64), "error",
                     text(r->err, r->err_len, b64), "exit_code", r->exit_code, "signal",
                     signal_name(r->signal), "time_ms", (json_int_t)r->cpu_ms, "wall_ms",
                     (json_int_t)r->wall_ms, "memory_kb", (json_int_t)r->memory_kb);
}

/* The step the top-level fields describe, and the top-level verdict. */
static size_t headline(const job_outcome *o, const job_request *req, verdict *v)
{
    if (o->nruns == 0) { /* the compile failed, or took all of MAX_JOB_SECONDS */
        *v = o->compiled && step_verdict(&o->compile) == VERDICT_OK ? VERDICT_TIME_LIMIT
                                                                    : VERDICT_COMPILE_ERROR;
        return 0;
    }
    for (size_t i = 0; i < o->nruns; i++)
        if (o->verdicts[i] != VERDICT_OK && o->verdicts[i] != VERDICT_ACCEPTED) {
            *v = o->verdicts[i];
            return i;
        }
    size_t want = req->ntests > 0 ? req->ntests : 1;
    if (o->nruns < want) { /* MAX_JOB_SECONDS ran out before every test ran */
        *v = VERDICT_TIME_LIMIT;
        return o->nruns - 1;
    }
    *v = req->ntests > 0 ? VERDICT_ACCEPTED : VERDICT_OK;
    return o->nruns - 1;
}

static json_t *result_json(const job_outcome *o, const job_request *req)
{
    verdict v;
    size_t h = headline(o, req, &v);
    step_result none = {0};
    const step_result *r = o->nruns ? &o->runs[h] : &none;
    long cpu = 0, mem = 0, wall = 0;
    bool truncated = o->compile.output_limited;
    for (size_t i = 0; i < o->nruns; i++) {
        cpu = o->runs[i].cpu_ms > cpu ? o->runs[i].cpu_ms : cpu;
        mem = o->runs[i].memory_kb > mem ? o->runs[i].memory_kb : mem;
        wall += o->runs[i].wall_ms;
        truncated |= o->runs[i].output_limited;
    }
    if (!o->nruns)
        cpu = o->compile.cpu_ms, mem = o->compile.memory_kb, wall = o->compile.wall_ms;
    json_t *co = json_null();
    if (o->compiled) {
        size_t len;
        char *s = compile_output(&o->compile, &len);
        co = text(s, len, o->b64);
        free(s);
    }
    json_t *res =
        json_pack("{s:o, s:o, s:o, s:o, s:s, s:o, s:I, s:I, s:I, s:b}", "output",
                  o->nruns ? text(r->out, r->out_len, o->b64) : json_string(""), "error",
                  o->nruns ? text(r->err, r->err_len, o->b64) : json_string(""), "exit_code",
                  o->nruns ? json_integer(r->exit_code) : json_integer(o->compile.exit_code),
                  "signal", signal_name(o->nruns ? r->signal : o->compile.signal), "verdict",
                  verdict_str(v), "compile_output", co, "time_ms", (json_int_t)cpu, "wall_ms",
                  (json_int_t)wall, "memory_kb", (json_int_t)mem, "truncated", truncated);
    if (o->b64)
        json_object_set_new(res, "base64", json_true());
    if (req->ntests > 0) {
        json_t *tests = json_array();
        size_t passed = 0;
        for (size_t i = 0; i < o->nruns; i++) {
            json_array_append_new(tests, test_json(&o->runs[i], o->verdicts[i], o->b64));
            passed += o->verdicts[i] == VERDICT_ACCEPTED || o->verdicts[i] == VERDICT_OK;
        }
        json_object_set_new(res, "tests", tests);
        json_object_set_new(res, "summary",
                            json_pack("{s:I, s:I}", "passed", (json_int_t)passed, "total",
                                      (json_int_t)req->ntests));
    }
    return res;
}

/* One step through the backend. The CPU-time limit is the step's wall-clock limit, as CPU time
 * (it binds only a step that may use more than one core); a program whose process the kernel
 * killed at its RLIMIT_CPU hard limit (after SIGXCPU) ran out of time too. */
static int run_step(const executor *ex, sandbox *sb, char *const argv[], const char *in,
                    size_t in_len, exec_limits *lim, step_result *res, char *err, size_t errlen)
{
    lim->cpu_time_ms = lim->timeout_ms;
    if (ex->run(sb, argv, in, in_len, lim, res, err, errlen) < 0)
        return -1;
    if (res->signal == SIGKILL && !res->timed_out && !res->output_limited && !res->oom_killed &&
        res->cpu_ms >= lim->cpu_time_ms)
        res->timed_out = true;
    return 0;
}

static exec_limits limits_of(const lang_limits *l, const cfg *c)
{
    return (exec_limits){.timeout_ms = l->timeout * 1000,
                         .memory_mb = l->memory_mb,
                         .pids = l->pids,
                         .cpus = l->cpus,
                         .output_limit = (size_t)c->output_limit_bytes};
}

/* Free a NULL-terminated vector and its strings (a cleanup attribute's function). */
static void free_strings(char ***v)
{
    for (char **p = *v; p && *p; p++)
        free(*p);
    free(*v);
}

/* run_argv with the request's run_options in its slot, followed by the request's arguments,
 * and LANG_MEMORY_MB in an element replaced by the run's memory cap in MiB (the JVM's MaxRAM:
 * its container support needs cgroup hierarchies a sandbox does not show). The vector is owned
 * by the caller, its strings borrowed but for the replaced ones, which are kept in *owned (a
 * NULL-terminated vector the caller frees with free_vector). */
static char **run_argv(const language *lang, const job_request *req, char ***owned)
{
    cleanup_free char **base =
        lang_argv_expand(lang->run_argv, req->run_options, req->nrun_options);
    size_t n = 0, k = 0;
    while (base[n])
        n++;
    char **v = xcalloc(n + req->nargs + 1, sizeof *v);
    *owned = xcalloc(n + 1, sizeof **owned);
    for (size_t i = 0; i < n; i++) {
        const char *at = strstr(base[i], LANG_MEMORY_MB);
        if (!at) {
            v[i] = base[i];
            continue;
        }
        v[i] = (*owned)[k++] = xasprintf("%.*s%d%s", (int)(at - base[i]), base[i], req->memory_mb,
                                         at + strlen(LANG_MEMORY_MB));
    }
    for (size_t i = 0; i < req->nargs; i++)
        v[n + i] = req->args[i];
    return v;
}

/* A step's wall-clock limit within what is left of the job's MAX_JOB_SECONDS (deadline_ms,
 * monotonic); 0 when nothing is left. */
static int capped_timeout_ms(int timeout_ms, int64_t deadline_ms)
{
    int64_t left = deadline_ms - now_mono_ms();
    if (left <= 0)
        return 0;
    return left < timeout_ms ? (int)left : timeout_ms;
}

static int run_steps(const executor *ex, sandbox *sb, const language *lang, const job_request *req,
                     const cfg *c, int64_t deadline_ms, job_outcome *o, char *err, size_t errlen)
{
    exec_limits lim = limits_of(&lang->run, c);
    lim.memory_mb = req->memory_mb;
    size_t n = req->ntests > 0 ? req->ntests : 1;
    o->runs = xcalloc(n, sizeof *o->runs);
    o->verdicts = xcalloc(n, sizeof *o->verdicts);
    __attribute__((cleanup(free_strings))) char **owned = NULL;
    cleanup_free char **argv = run_argv(lang, req, &owned);
    for (size_t i = 0; i < n; i++) {
        const job_test *t = req->ntests > 0 ? &req->tests[i] : NULL;
        const char *in = t ? t->stdin_data : req->stdin_data;
        size_t in_len = t ? t->stdin_len : req->stdin_len;
        lim.timeout_ms = capped_timeout_ms(req->timeout * 1000, deadline_ms);
        if (lim.timeout_ms == 0)
            break; /* MAX_JOB_SECONDS spent: the tests not run are left out of the result */
        if (run_step(ex, sb, argv, in, in_len, &lim, &o->runs[i], err, errlen) < 0)
            return -1;
        o->nruns++;
        verdict v = step_verdict(&o->runs[i]);
        if (t && t->expected && v == VERDICT_OK)
            v = output_matches(o->runs[i].out, o->runs[i].out_len, t->expected, t->expected_len)
                    ? VERDICT_ACCEPTED
                    : VERDICT_WRONG_ANSWER;
        o->verdicts[i] = v;
    }
    return 0;
}

/* Whether the text fields must go out base64: asked for, or some output is not UTF-8. */
static bool needs_b64(const job_outcome *o, const job_request *req)
{
    if (req->base64)
        return true;
    if (o->compiled && (!valid_utf8(o->compile.out, o->compile.out_len) ||
                        !valid_utf8(o->compile.err, o->compile.err_len)))
        return true;
    for (size_t i = 0; i < o->nruns; i++)
        if (!valid_utf8(o->runs[i].out, o->runs[i].out_len) ||
            !valid_utf8(o->runs[i].err, o->runs[i].err_len))
            return true;
    return false;
}

static void outcome_clear(job_outcome *o)
{
    step_result_clear(&o->compile);
    for (size_t i = 0; i < o->nruns; i++)
        step_result_clear(&o->runs[i]);
    free(o->runs);
    free(o->verdicts);
}

/* Both steps in a prepared sandbox; 0 when the program ran, -1 (err) when the system failed.
 * lang is req->lang, or the job's copy of it adapted to the submission. */
static int run_job(const executor *ex, sandbox *sb, const cfg *c, const language *lang,
                   const job_request *req, job_outcome *o, char *err, size_t errlen)
{
    int64_t deadline_ms = now_mono_ms() + (int64_t)c->max_job_seconds * 1000;
    if (lang->compile_argv) {
        exec_limits lim = limits_of(&lang->compile, c);
        lim.timeout_ms = capped_timeout_ms(lim.timeout_ms, deadline_ms);
        cleanup_free char **argv =
            lang_argv_expand(lang->compile_argv, req->compiler_options, req->ncompiler_options);
        if (run_step(ex, sb, argv, NULL, 0, &lim, &o->compile, err, errlen) < 0)
            return -1;
        o->compiled = true;
        if (step_verdict(&o->compile) != VERDICT_OK)
            return 0; /* compile_error: no run step */
    }
    return run_steps(ex, sb, lang, req, c, deadline_ms, o, err, errlen);
}

/* What a job leaves to tear down after its answer is written. Made by job_run_keep once
 * prepare succeeded, whatever the steps did; freed by job_sandbox_destroy, which destroys the
 * sandbox first and then the language copy the sandbox borrows from. */
struct job_sandbox {
    const executor *ex; /* borrowed; the backend that made sb */
    sandbox *sb;        /* owned; destroyed with ex->destroy */
    job_language *jl;   /* owned; the job's language copy, or NULL: outlives sb */
    char *job_id;       /* owned; for the log */
};

void job_sandbox_destroy(job_sandbox *js)
{
    if (!js)
        return;
    int64_t t0 = now_mono_ms();
    js->ex->destroy(js->sb);
    main_class_free(js->jl);
    log_task(LOG_DEBUG, js->job_id, "sandbox torn down in %lld ms",
             (long long)(now_mono_ms() - t0));
    free(js->job_id);
    free(js);
}

json_t *job_run_keep(const executor *ex, backend *be, const cfg *c, const job_request *req,
                     const char *job_id, char **failure, job_sandbox **js)
{
    char err[FAILURE_MAX] = "";
    *failure = NULL;
    *js = NULL;
    if (ex->run_job) { /* the whole job runs elsewhere, and is torn down there */
        json_t *res = ex->run_job(be, req, job_id, failure);
        if (!res && !*failure)
            *failure = xstrdup("the executor gave no result");
        if (!res)
            log_task(LOG_ERROR, job_id, "%s", *failure);
        return res;
    }
    sandbox *sb = NULL;
    /* The job's own copy of the language when the submission needs one; it goes with the
     * sandbox, which borrows from it. */
    job_language *jl = main_class_adapt(req->lang, req);
    const language *lang = jl ? &jl->lang : req->lang;
    double t0 = metrics_now();
    if (ex->prepare(be, lang, req, job_id, &sb, err, sizeof err) < 0) {
        *failure = xasprintf("sandbox preparation failed: %s", err);
        main_class_free(jl);
        log_task(LOG_ERROR, job_id, "%s", *failure);
        return NULL;
    }
    metric_observe(M_SANDBOX_SETUP, metrics_now() - t0, metrics_language_index(req->lang->id), 0);
    job_sandbox *keep = xcalloc(1, sizeof *keep);
    keep->ex = ex;
    keep->sb = sb;
    keep->jl = jl;
    keep->job_id = xstrdup(job_id);
    *js = keep;
    return job_run_in(ex, sb, c, lang, req, job_id, failure);
}

json_t *job_run_in(const executor *ex, sandbox *sb, const cfg *c, const language *lang,
                   const job_request *req, const char *job_id, char **failure)
{
    char err[FAILURE_MAX] = "";
    *failure = NULL;
    job_outcome o = {0};
    json_t *res = NULL;
    if (run_job(ex, sb, c, lang, req, &o, err, sizeof err) == 0) {
        o.b64 = needs_b64(&o, req);
        res = result_json(&o, req);
    } else {
        *failure = xasprintf("sandbox step failed: %s", err);
    }
    outcome_clear(&o);
    if (!res && !*failure)
        *failure = xstrdup("cannot build the result");
    if (!res)
        log_task(LOG_ERROR, job_id, "%s", *failure);
    return res;
}

json_t *job_run(const executor *ex, backend *be, const cfg *c, const job_request *req,
                const char *job_id, char **failure)
{
    job_sandbox *js;
    json_t *res = job_run_keep(ex, be, c, req, job_id, failure, &js);
    job_sandbox_destroy(js);
    return res;
}
