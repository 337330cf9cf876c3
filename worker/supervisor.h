/* The supervisor: the worker program's parent process. It forks WORKER_CONCURRENCY worker
 * processes named "<WORKER_ID>-<slot>", restarts any that dies (backoff 0.1 s doubling to 5 s
 * while they die young), and gives back what a dead one held (executor cleanup_stale, then the
 * reaper's requeue) before restarting it. It is also the one Redis client that keeps the
 * heartbeats of its live children fresh, owns WORKER_ID in Redis, and runs the reaper every
 * HEARTBEAT_INTERVAL (and the orphan scan every ORPHAN_SCAN_INTERVAL).
 * Heartbeats come from the supervisor, not from a thread in each worker process: worker processes
 * stay single-threaded (the executor forks runtimes), a child dies with its supervisor
 * (PR_SET_PDEATHSIG) and a dead child's jobs are given back by the supervisor at once, so "the
 * supervisor is alive" is exactly "its live children are alive". A supervisor that cannot
 * heartbeat (stopped, hung, or WORKER_ID lost) stops its children from taking new jobs: they read
 * the time of its last good heartbeat from a page they share and wait while it is older than the
 * stale threshold. Worker processes show as
 * "cr-worker-<slot>" in ps (/proc/<pid>/comm).
 *
 * Life: lock STATE_DIR/worker-<WORKER_ID>.lock (a second supervisor with the same id on this host
 * refuses) -> wait for Redis and take {prefix}owner:<WORKER_ID> (a live supervisor with the same id
 * elsewhere: refuse, exit 1) -> clean up and give back whatever the previous supervisor with this
 * id left -> run, restarting children -> SIGTERM/SIGINT: children stop taking jobs and finish the
 * running ones within WORKER_SHUTDOWN_GRACE s, then SIGKILL, and what they held goes back to the
 * queue without counting an attempt (the system stopped them, not their program); SIGHUP or a
 * second SIGTERM: the same at once -> clean up, give back what is left -> exit 0.
 * Another supervisor took WORKER_ID over (this one was cut off from Redis past its stale
 * threshold): SIGKILL the children, touch nothing in Redis (the lists are the new owner's now),
 * exit 1.
 *
 *   supervisor_run(cfg, langs, ex, &is_child)
 *       returns the exit status of the process that returns: the supervisor's, or (with
 *       *is_child set) a worker process's, so that main frees what it owns in both. */
#ifndef CR_SUPERVISOR_H
#define CR_SUPERVISOR_H

#include <stdbool.h>

#include "common/config.h"
#include "common/languages.h"
#include "worker/executor.h"

/* A worker process that lived less than this is restarted with backoff. */
#define SUPERVISOR_YOUNG_DEATH_MS 5000
#define SUPERVISOR_BACKOFF_MIN_MS 100
#define SUPERVISOR_BACKOFF_MAX_MS 5000
/* After the children are gone, how long to keep trying to give their jobs back to Redis. */
#define SUPERVISOR_EXIT_REDIS_WAIT_MS 10000

int supervisor_run(const cfg *c, const lang_table *langs, const executor *ex, bool *is_child);

#endif
