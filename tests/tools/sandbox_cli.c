/* sandbox_cli: runs one request through job_run with a real executor, for tests and debugging.
 * Configuration comes from the environment (as for the worker); the request is a POST
 * /run-code body read from a file or stdin. Prints the result JSON, or {"failure": "..."}.
 *   sandbox_cli [--executor NAME] [--job-id ID] [--slot N] [REQUEST.json|-]
 * (--slot: the worker slot it runs as, 0 by default: the sandbox user is SANDBOX_UID_BASE + N)
 *   sandbox_cli --cleanup-stale [WORKER_ID]    remove what a dead worker process left */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "common/config.h"
#include "common/job.h"
#include "common/languages.h"
#include "common/log.h"
#include "common/task_id.h"
#include "common/util.h"
#include "worker/executor.h"
#include "worker/job_runner.h"

static char *read_stream(FILE *f, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *buf = xmalloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap)
            buf = xrealloc(buf, cap *= 2);
    }
    *len = n;
    return buf;
}

static char *read_request(const char *path, size_t *len)
{
    if (!path || strcmp(path, "-") == 0)
        return read_stream(stdin, len);
    FILE *f = fopen(path, "re");
    if (!f)
        die("cannot open %s", path);
    char *s = read_stream(f, len);
    fclose(f);
    return s;
}

static int print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    puts(s);
    free(s);
    json_decref(j);
    return 0;
}

static int run(const cfg *c, const executor *ex, backend *be, const char *path, const char *job_id)
{
    char err[1024];
    lang_table *langs = NULL;
    if (lang_table_load(c, &langs, err, sizeof err) < 0)
        die("%s", err);
    size_t len;
    cleanup_free char *body = read_request(path, &len);
    job_request req = {0};
    if (job_request_parse(body, len, langs, c, &req, err, sizeof err) < 0)
        die("bad request: %s", err);
    char id[TASK_ID_LEN + 1];
    if (!job_id)
        task_id_new(id), job_id = id;
    char *failure = NULL;
    json_t *res = job_run(ex, be, c, &req, job_id, &failure);
    int rc = res ? 0 : 2;
    print_json(res ? res : json_pack("{s:s}", "failure", failure));
    free(failure);
    job_request_free(&req);
    lang_table_free(langs);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"executor", required_argument, NULL, 'e'},
        {"job-id", required_argument, NULL, 'j'},
        {"cleanup-stale", no_argument, NULL, 'c'},
        {"slot", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    const char *exname = NULL, *job_id = NULL;
    int cleanup = 0, o;
    long slot = 0;
    while ((o = getopt_long(argc, argv, "e:j:cs:", opts, NULL)) != -1) {
        if (o == 'e')
            exname = optarg;
        else if (o == 'j')
            job_id = optarg;
        else if (o == 'c')
            cleanup = 1;
        else if (o == 's' && parse_long(optarg, 0, 1023, &slot) == 0)
            continue;
        else
            die("usage: sandbox_cli [--executor NAME] [--job-id ID] [--slot N] [REQUEST|-] | "
                "--cleanup-stale [WORKER_ID]");
    }
    cfg c = {0};
    char err[1024];
    if (cfg_load(&c, err, sizeof err) < 0)
        die("%s", err);
    log_init(c.log_level, "sandbox_cli");
    const executor *ex = executor_find(exname ? exname : c.executor);
    if (!ex)
        die("unknown executor %s", exname ? exname : c.executor);
    int rc = 0;
    if (cleanup) {
        ex->cleanup_stale(&c, optind < argc ? argv[optind] : c.worker_id);
    } else {
        backend *be = NULL;
        if (ex->init(&c, c.worker_id, (int)slot, &be, err, sizeof err) < 0)
            die("executor init: %s", err);
        rc = run(&c, ex, be, optind < argc ? argv[optind] : NULL, job_id);
        ex->shutdown(be);
    }
    cfg_free(&c);
    return rc;
}
