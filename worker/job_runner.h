/* The job runner: turns one validated request into a result by driving an executor through the
 * compile step (when the language has one) and the run step(s), and deciding the verdicts.
 *
 *   job_run(ex, cfg, req, job_id, &failure)
 *       returns the SUCCESS result object (caller owns the json_t) when the program ran, or NULL
 *       with *failure set (caller frees) when the system could not run it (FAILURE). */
#ifndef CR_JOB_RUNNER_H
#define CR_JOB_RUNNER_H

#include <jansson.h>

#include "executor.h"

json_t *job_run(const executor *ex, const cfg *c, const job_request *req, const char *job_id,
                char **failure);

#endif
