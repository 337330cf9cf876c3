/* A job process of the agent: one slot of the executor host's capacity. The agent starts it as
 * `worker --serve-slot <id>` (a fresh exec of its own binary, so that it inherits no event loop,
 * no client connection and no token) with a socketpair on fd 3, and it serves jobs one at a time
 * through the local backend, the way a worker process does:
 *
 *   cleanup_stale(<id>) -> init -> hello frame {"languages": [ids], "images": [names]} (or
 *   {"error": "..."} and exit 1) -> for each job frame {"id", "request"}: run it with the job
 *   runner, answer {"status": "SUCCESS", "result": {...}} or {"status": "FAILURE", "result":
 *   "message"} (the result JSON the worker writes to Redis), tear the sandbox down, start the
 *   next container ahead -> end of stream: shutdown, exit 0.
 *
 * The code reaches the sandbox as a workspace file written by the backend from the parsed
 * request: never through a shell, a command line or an environment string.
 *
 *   job_process_main(cfg, langs, ex, id, fd)   runs until the agent closes fd; exit status. */
#ifndef CR_AGENT_JOB_PROCESS_H
#define CR_AGENT_JOB_PROCESS_H

#include "common/config.h"
#include "common/languages.h"
#include "worker/executor.h"

/* Where the job process finds its end of the socketpair. */
#define JOB_PROCESS_FD 3

int job_process_main(const cfg *c, const lang_table *langs, const executor *ex, const char *id,
                     int fd);

#endif
