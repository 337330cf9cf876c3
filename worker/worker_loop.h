/* The worker process: one of the supervisor's children. Takes one job at a time from Redis,
 * claims it under a random lease, runs it through the executor, writes SUCCESS or FAILURE.
 * SIGTERM/SIGINT: finish the running job (the supervisor SIGKILLs after the grace), take no
 * new one, exit 0. Its Redis scripts are fenced by the supervisor's owner token (queue.h): when
 * another supervisor took WORKER_ID over, it stops with WORKER_EXIT_NOT_OWNER.
 *
 * It takes no job while its supervisor's last good heartbeat is older than a stale threshold (a
 * stopped or hung supervisor, or one cut off from Redis, no longer heartbeats for it, so a job it
 * took would be given away).
 *
 *   worker_loop_run(cfg, langs, ex, link)   runs until told to stop; returns the exit status. */
#ifndef CR_WORKER_LOOP_H
#define CR_WORKER_LOOP_H

#include "common/config.h"
#include "common/languages.h"
#include <stdint.h>

#include "worker/executor.h"

/* Seconds one BLMOVE waits: short, so that a stop request is noticed promptly. */
#define WORKER_TAKE_TIMEOUT_S 1

/* Exit status of a worker process whose supervisor lost WORKER_ID. */
#define WORKER_EXIT_NOT_OWNER 3

/* What a worker process gets from its supervisor; all borrowed. */
typedef struct worker_link {
    const char *wid;                    /* "<WORKER_ID>-<slot>": our id in Redis */
    int slot;                           /* the slot's index (the sandbox user is per slot) */
    const char *token;                  /* the supervisor's owner token (identity.h) */
    const int64_t *supervisor_alive_ms; /* shared page: the supervisor's last good heartbeat */
} worker_link;

int worker_loop_run(const cfg *c, const lang_table *langs, const executor *ex,
                    const worker_link *link);

#endif
