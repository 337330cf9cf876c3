/* The worker process: one of the supervisor's children. Takes one job at a time from Redis,
 * claims it under a random lease, runs it through the executor, writes SUCCESS or FAILURE.
 * SIGTERM/SIGINT: finish the running job (the supervisor SIGKILLs after the grace), take no
 * new one, exit 0.
 *
 *   worker_loop_run(cfg, langs, ex, wid)   runs until told to stop; returns the exit status. */
#ifndef CR_WORKER_LOOP_H
#define CR_WORKER_LOOP_H

#include "common/config.h"
#include "common/languages.h"
#include "worker/executor.h"

/* Seconds one BLMOVE waits: short, so that a stop request is noticed promptly. */
#define WORKER_TAKE_TIMEOUT_S 1

int worker_loop_run(const cfg *c, const lang_table *langs, const executor *ex, const char *wid);

#endif
