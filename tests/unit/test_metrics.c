/* Unit tests for common/metrics: label indexes to series, sums over shards (and minimum gauges),
 * histograms and their cumulative buckets, sparse dimensions, shards shared with a forked child,
 * gauges of a gone writer reset, no-ops without a shard, the /metrics credential rule. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/metrics.h"
#include "tests/unit/check.h"

/* The value of the series line that starts with series (name and labels), or -1 when absent. */
static double value_of(const metrics_text *t, const char *series)
{
    size_t n = strlen(series);
    for (const char *line = t->s; line && *line;) {
        const char *end = strchr(line, '\n');
        if (strncmp(line, series, n) == 0 && line[n] == ' ')
            return strtod(line + n + 1, NULL);
        line = end ? end + 1 : NULL;
    }
    return -1;
}

static double scrape(const char *series)
{
    metrics_text t = {0};
    metrics_render(&t);
    double v = value_of(&t, series);
    metrics_text_free(&t);
    return v;
}

static void no_registry_is_a_no_op(void)
{
    test("no registry");
    metric_inc(M_JOBS, 0, 0); /* nothing attached: ignored, no crash */
    metric_observe(M_JOB_DURATION, 1.0, 0, 0);
    metrics_text t = {0};
    metrics_render(&t);
    check(t.len == 0);
    metrics_text_free(&t);
}

static void worker_registry(void)
{
    const char *langs[] = {"python", "c", "other"};
    const char *ex[] = {"oci/builtin"};
    metrics_dim_values(DIM_LANGUAGE, langs, 3);
    metrics_dim_values(DIM_EXECUTOR, ex, 1);
    metrics_init(METRICS_WORKER, 3);

    test("counters sum over shards, by labels");
    metrics_attach(1);
    metric_inc(M_JOBS, metrics_language_index("python"),
               metrics_result_index(TASK_SUCCESS, VERDICT_OK));
    metric_inc(M_JOBS, metrics_language_index("python"),
               metrics_result_index(TASK_SUCCESS, VERDICT_OK));
    metrics_attach(2);
    metric_inc(M_JOBS, metrics_language_index("python"),
               metrics_result_index(TASK_SUCCESS, VERDICT_OK));
    metric_inc(M_JOBS, metrics_language_index("cobol"),
               metrics_result_index(TASK_FAILURE, VERDICT_OK));
    check(scrape("code_runner_jobs_total{language=\"python\",status=\"SUCCESS\",verdict=\"ok\"}") ==
          3);
    check(scrape("code_runner_jobs_total{language=\"other\",status=\"FAILURE\"}") == 1);
    /* a used language shows every result from 0; an unused one shows nothing (sparse) */
    check(scrape("code_runner_jobs_total{language=\"python\",status=\"FAILURE\"}") == 0);
    check(scrape("code_runner_jobs_total{language=\"python\",status=\"SUCCESS\",verdict=\"wrong_"
                 "answer\"}") == 0);
    check(scrape("code_runner_jobs_total{language=\"c\",status=\"SUCCESS\",verdict=\"ok\"}") == -1);

    test("histogram: cumulative buckets, sum, count");
    metric_observe(M_JOB_DURATION, 0.003, 0, 0);
    metric_observe(M_JOB_DURATION, 0.2, 0, 0);
    metrics_attach(0);
    metric_observe(M_JOB_DURATION, 1000, 0, 0);
    const char *p = "code_runner_job_duration_seconds";
    char s[256];
    snprintf(s, sizeof s, "%s_bucket{language=\"python\",executor=\"oci/builtin\",le=\"0.005\"}",
             p);
    check(scrape(s) == 1);
    snprintf(s, sizeof s, "%s_bucket{language=\"python\",executor=\"oci/builtin\",le=\"0.25\"}", p);
    check(scrape(s) == 2);
    snprintf(s, sizeof s, "%s_bucket{language=\"python\",executor=\"oci/builtin\",le=\"600\"}", p);
    check(scrape(s) == 2);
    snprintf(s, sizeof s, "%s_bucket{language=\"python\",executor=\"oci/builtin\",le=\"+Inf\"}", p);
    check(scrape(s) == 3);
    snprintf(s, sizeof s, "%s_count{language=\"python\",executor=\"oci/builtin\"}", p);
    check(scrape(s) == 3);
    snprintf(s, sizeof s, "%s_sum{language=\"python\",executor=\"oci/builtin\"}", p);
    check(scrape(s) > 1000.2029 && scrape(s) < 1000.2031);

    test("gauges: set per writer, summed; a gone writer's reset");
    metrics_attach(0);
    metric_set(M_WORKER_SLOTS, 2);
    metrics_attach(1);
    metric_set(M_WORKER_BUSY_SLOTS, 1);
    metrics_attach(2);
    metric_set(M_WORKER_BUSY_SLOTS, 1);
    check(scrape("code_runner_worker_busy_slots") == 2);
    check(scrape("code_runner_worker_slots") == 2);
    metrics_reset_gauges(2);
    check(scrape("code_runner_worker_busy_slots") == 1);
    check(scrape("code_runner_jobs_total{language=\"other\",status=\"FAILURE\"}") == 1); /* kept */

    test("a forked child writes where the parent reads");
    pid_t pid = fork();
    if (pid == 0) {
        metrics_attach(2);
        metric_add(M_WARM_CONTAINERS, 5, MV_WARM_USED);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    check(scrape("code_runner_warm_containers_total{outcome=\"used\"}") == 5);
    check(scrape("code_runner_warm_containers_total{outcome=\"discarded\"}") == 0);

    test("rows of the other program are not exported nor written");
    metric_inc(M_HTTP_REQUESTS, 0, 0);
    metrics_text t = {0};
    metrics_render(&t);
    check(!strstr(t.s, "code_runner_http_requests_total"));
    check(strstr(t.s, "# TYPE code_runner_jobs_total counter\n") != NULL);
    check(strstr(t.s, "# TYPE code_runner_job_duration_seconds histogram\n") != NULL);
    check(strstr(t.s, "# HELP code_runner_worker_slots ") != NULL);
    metrics_text_free(&t);
    metrics_free();
}

static void api_registry(void)
{
    const char *routes[] = {"other", "/run-code", "/re\"sults\\\n"};
    metrics_dim_values(DIM_ROUTE, routes, 3);
    metrics_init(METRICS_API, 2);

    test("status codes are sparse; label values escaped");
    metrics_attach(0);
    metric_inc(M_HTTP_REQUESTS, 1, metrics_code_index(200));
    metrics_attach(1);
    metric_inc(M_HTTP_REQUESTS, 1, metrics_code_index(200));
    metric_inc(M_HTTP_REQUESTS, 2, metrics_code_index(299)); /* not listed: "other" */
    check(scrape("code_runner_http_requests_total{route=\"/run-code\",code=\"200\"}") == 2);
    check(scrape("code_runner_http_requests_total{route=\"other\",code=\"200\"}") == 0);
    check(scrape("code_runner_http_requests_total{route=\"/re\\\"sults\\\\\\n\",code=\"other\"}") ==
          1);
    check(scrape("code_runner_http_requests_total{route=\"/run-code\",code=\"404\"}") == -1);

    test("GAUGE_MIN: 1 only when every writer says 1");
    metrics_attach(0);
    metric_set(M_REDIS_CONNECTED, 1, MV_CONN_COMMAND);
    check(scrape("code_runner_redis_connected{connection=\"command\"}") == 0);
    metrics_attach(1);
    metric_set(M_REDIS_CONNECTED, 1, MV_CONN_COMMAND);
    check(scrape("code_runner_redis_connected{connection=\"command\"}") == 1);
    check(scrape("code_runner_redis_connected{connection=\"subscriber\"}") == 0);

    test("a gauge goes down");
    metric_add(M_LONGPOLLS, 1);
    metric_add(M_LONGPOLLS, 1);
    metric_add(M_LONGPOLLS, -1);
    check(scrape("code_runner_longpolls") == 1);

    test("an unlabelled histogram");
    metric_observe(M_ENQUEUE_DURATION, 0.0007);
    check(scrape("code_runner_enqueue_duration_seconds_bucket{le=\"0.0005\"}") == 0);
    check(scrape("code_runner_enqueue_duration_seconds_bucket{le=\"0.001\"}") == 1);
    check(scrape("code_runner_enqueue_duration_seconds_count") == 1);

    test("a scrape-time gauge");
    metrics_text t = {0};
    metrics_text_gauge(&t, "code_runner_queue_jobs", "Jobs", 42);
    check(strcmp(t.s, "# HELP code_runner_queue_jobs Jobs\n# TYPE code_runner_queue_jobs gauge\n"
                      "code_runner_queue_jobs 42\n") == 0);
    metrics_text_free(&t);
    metrics_free();
}

static void authorization(void)
{
    test("the /metrics credential rule");
    cfg c = {0};
    check(metrics_authorized(&c, NULL)); /* nothing set: open */
    char *keys[] = {"k1", "k2"};
    c.api_keys = keys;
    c.n_api_keys = 2;
    check(!metrics_authorized(&c, NULL));
    check(metrics_authorized(&c, "Bearer k2"));
    check(metrics_authorized(&c, "bearer  k1"));
    check(!metrics_authorized(&c, "Bearer k3"));
    check(!metrics_authorized(&c, "k1"));
    c.metrics_token = "scrape";
    check(metrics_authorized(&c, "Bearer scrape"));
    check(!metrics_authorized(&c, "Bearer k1")); /* the token only, once it is set */
    c.api_keys = NULL;
    c.n_api_keys = 0;
    check(!metrics_authorized(&c, NULL));
}

int main(void)
{
    no_registry_is_a_no_op();
    worker_registry();
    api_registry();
    no_registry_is_a_no_op(); /* after metrics_free */
    authorization();
    test("index helpers");
    check(metrics_code_index(503) == metrics_code_index(503) && metrics_code_index(200) == 0);
    check(metrics_result_index(TASK_FAILURE, VERDICT_WRONG_ANSWER) ==
          metrics_result_index(TASK_FAILURE, VERDICT_OK));
    check(metrics_language_index("python") == -1); /* no registry: ignored */
    return check_done();
}
