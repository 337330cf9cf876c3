/* The job runner: turns one validated request into a result by driving an executor through the
 * compile step (when the language has one) and the run step(s), and deciding the verdicts.
 *
 *   job_run_keep(ex, be, cfg, req, job_id, &failure, &js)
 *       returns the SUCCESS result object (caller owns the json_t) when the program ran, or NULL
 *       with *failure set (caller frees) when the system could not run it (FAILURE). The
 *       job's sandbox is not torn down: *js gets it (NULL when none was made), and the caller
 *       passes it to job_sandbox_destroy once the answer is written, so that clients do not
 *       wait for the teardown (unmounts, directory removal, container and volume removal).
 *       req may be freed before that: executors copy what they need from it in prepare.
 *   job_sandbox_destroy(js)
 *       tears the sandbox down and frees what it borrowed from; accepts NULL. Runs before the
 *       next job of the worker process is taken (executors expect one job at a time).
 *   job_run(ex, be, cfg, req, job_id, &failure)
 *       job_run_keep followed at once by job_sandbox_destroy (tools and tests).
 *   job_run_in(ex, sb, cfg, lang, req, job_id, &failure)
 *       the steps of req (compile, runs) in a sandbox made elsewhere that outlives them (a
 *       session's, whose workspace already holds the source): the same result or failure as
 *       job_run_keep; lang is the language to run with (req->lang, or a copy adapted to the
 *       file). */
#ifndef CR_JOB_RUNNER_H
#define CR_JOB_RUNNER_H

#include <jansson.h>

#include "worker/executor.h"

/* What is left of a finished job until it is torn down; opaque (job_runner.c). */
typedef struct job_sandbox job_sandbox;

json_t *job_run_keep(const executor *ex, backend *be, const cfg *c, const job_request *req,
                     const char *job_id, char **failure, job_sandbox **js);
void job_sandbox_destroy(job_sandbox *js);
json_t *job_run(const executor *ex, backend *be, const cfg *c, const job_request *req,
                const char *job_id, char **failure);
json_t *job_run_in(const executor *ex, sandbox *sb, const cfg *c, const language *lang,
                   const job_request *req, const char *job_id, char **failure);

#endif
