/* The "remote" executor backend (EXECUTOR=remote): each job goes whole (compile, runs and tests
 * on one host) to an executor host, the worker binary in agent mode (worker/agent/agent.h),
 * which runs it through its own backend and answers with the result object. Hosts come from
 * REMOTE_EXECUTORS. The answer is the same SUCCESS result (or FAILURE message) a local backend
 * gives; a host that fails a job it took (dies, hangs, answers garbage) makes the job go to
 * another host, up to TASK_MAX_ATTEMPTS hosts. */
#ifndef CR_REMOTE_H
#define CR_REMOTE_H

#include "worker/executor.h"

extern const executor executor_remote;

#endif
