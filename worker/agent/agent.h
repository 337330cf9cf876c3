/* The executor-host agent: `worker --serve`. An HTTP server (libevent, one thread) on
 * EXECUTOR_LISTEN that runs the jobs remote workers (EXECUTOR=remote) send it through its local
 * backend (EXECUTOR=oci with any OCI_RUNTIME, or docker), in WORKER_CONCURRENCY job processes
 * (slots.h), and answers with the result JSON a worker writes to Redis.
 *
 * Routes (every one but /health needs "Authorization: Bearer <EXECUTOR_AUTH_TOKEN>", compared in
 * constant time; 401 otherwise):
 *   GET  /health        200 {"status": "ok"}; 503 {"status": "draining"} once SIGTERM came
 *   GET  /v1/capacity   {"slots", "busy", "idle", "draining", "executor", "runtime",
 *                        "languages": [ids whose image is here], "images": [names]}
 *   POST /v1/jobs       body {"id": task id, "request": a POST /run-code body}; 503 with
 *                       Retry-After when no slot is free or the agent drains; 400 when the body
 *                       is not that; 413 over MAX_BODY_BYTES + 64 KiB. Otherwise 200 at once,
 *                       chunked: a newline every second while the job runs (JSON whitespace: a
 *                       worker tells a slow job from a hung host by it), then one object:
 *                       {"status": "SUCCESS", "result": {...}}, {"status": "FAILURE", "result":
 *                       "message"}, or {"error": "..."} when the host failed the job (its job
 *                       process died): the worker tries another host.
 *
 * Life: refuse to start without a token unless EXECUTOR_ALLOW_NO_TOKEN=1 and EXECUTOR_LISTEN is
 * a loopback address -> lock STATE_DIR/agent-<WORKER_ID>.lock -> start the job processes (each
 * cleans up what its predecessor left) and wait for them -> listen -> serve -> SIGTERM/SIGINT:
 * drain (health 503, new jobs 503, running jobs finish and are answered), then stop; a second
 * signal stops at once -> job processes stopped -> exit 0.
 *
 *   agent_run(cfg, langs, ex)   the agent; returns the exit status (die()s at start-up errors) */
#ifndef CR_AGENT_H
#define CR_AGENT_H

#include "common/config.h"
#include "common/languages.h"
#include "worker/executor.h"

/* Envelope bytes an accepted job body may add to MAX_BODY_BYTES. */
#define AGENT_BODY_SLACK (64 * 1024)

int agent_run(const cfg *c, const lang_table *langs, const executor *ex);

#endif
