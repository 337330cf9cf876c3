/* worker: the worker program. Loads the configuration, the language table and the executor, then
 * hands over to one of its modes:
 *   worker                         the supervisor, which forks the worker processes (supervisor.h)
 *   worker --serve                 the executor-host agent (worker/agent/agent.h)
 *   worker --serve-slot <id>       one job process of the agent, which starts it with its socket
 *                                  on fd 3 (worker/agent/job_process.h); not for direct use */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/languages.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/redis_tls.h"
#include "common/util.h"
#include "worker/agent/agent.h"
#include "worker/agent/job_process.h"
#include "worker/executor.h"
#include "worker/identity.h"
#include "worker/supervisor.h"

enum mode { MODE_SUPERVISOR, MODE_SERVE, MODE_SLOT };

static enum mode parse_args(int argc, char **argv, const char **slot_id)
{
    if (argc == 1)
        return MODE_SUPERVISOR;
    if (argc == 2 && strcmp(argv[1], "--serve") == 0)
        return MODE_SERVE;
    if (argc == 3 && strcmp(argv[1], "--serve-slot") == 0 && argv[2][0]) {
        *slot_id = argv[2];
        return MODE_SLOT;
    }
    die("usage: worker            run the worker (settings from the environment)\n"
        "       worker --serve    run the executor-host agent on EXECUTOR_LISTEN");
}

int main(int argc, char **argv)
{
    const char *slot_id = NULL;
    enum mode mode = parse_args(argc, argv, &slot_id);
    cfg c;
    char err[512];
    if (cfg_load(&c, err, sizeof err) < 0)
        die("%s", err);
    log_init((enum log_level)c.log_level, mode == MODE_SUPERVISOR ? "worker"
                                          : mode == MODE_SERVE    ? "agent"
                                                                  : "agent-job");
    if (redis_tls_load(&c, err, sizeof err) < 0)
        die("%s", err);
    if (!c.worker_id_given && mode != MODE_SLOT) {
        char *id = identity_default_worker_id(&c, err, sizeof err);
        if (!id)
            die("%s", err);
        free(c.worker_id);
        c.worker_id = id;
    }
    lang_table *langs = NULL;
    if (lang_table_load(&c, &langs, err, sizeof err) < 0)
        die("%s", err);
    const executor *ex = executor_find(c.executor);
    if (!ex)
        die("EXECUTOR: unknown executor '%s'", c.executor);
    bool is_child = false;
    int status;
    if (mode == MODE_SERVE)
        status = agent_run(&c, langs, ex);
    else if (mode == MODE_SLOT)
        status = job_process_main(&c, langs, ex, slot_id, JOB_PROCESS_FD);
    else
        status = supervisor_run(&c, langs, ex, &is_child);
    metrics_free(); /* made by the supervisor; every process returning here unmaps its view */
    lang_table_free(langs);
    cfg_free(&c);
    return status;
}
