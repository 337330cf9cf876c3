/* worker: the worker program. Loads the configuration, the language table and the executor, then
 * hands over to the supervisor, which forks the worker processes (see supervisor.h). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/config.h"
#include "common/languages.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/redis_tls.h"
#include "common/util.h"
#include "worker/executor.h"
#include "worker/identity.h"
#include "worker/supervisor.h"

int main(void)
{
    cfg c;
    char err[512];
    if (cfg_load(&c, err, sizeof err) < 0)
        die("%s", err);
    log_init((enum log_level)c.log_level, "worker");
    if (redis_tls_load(&c, err, sizeof err) < 0)
        die("%s", err);
    if (!c.worker_id_given) {
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
    bool is_child;
    int status = supervisor_run(&c, langs, ex, &is_child);
    metrics_free(); /* made by the supervisor; every process returning here unmaps its view */
    lang_table_free(langs);
    cfg_free(&c);
    return status;
}
