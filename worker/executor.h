/* The executor interface: how a worker process runs one job's steps in a sandbox, whatever the
 * backend (oci: runc/crun/runsc/kata without a daemon; docker: the Docker Engine API).
 *
 * Life of a sandbox:
 *   ex->prepare()  make the job's workspace (size-capped) holding the source and extra files;
 *   ex->run()      once per step (compile, then one run per test case); each step is a fresh
 *                  container from the language's read-only image, with the workspace mounted at
 *                  /workspace (its cwd), its own limits, stdin fed, stdout/stderr captured;
 *   ex->destroy()  remove everything the job made: containers, cgroups, mounts, files.
 * A return of -1 means the system failed (the job ends FAILURE, message in err); 0 means the
 * program ran and res says what it did (even when it crashed, timed out or blew a limit). */
#ifndef CR_EXECUTOR_H
#define CR_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>

#include "common/config.h"
#include "common/job.h"
#include "common/languages.h"

/* Limits of one step. */
typedef struct exec_limits {
    int timeout_ms;      /* wall clock; killed after it (timed_out) */
    int memory_mb;       /* memory cap, swap included */
    int pids;            /* task (process + thread) limit */
    double cpus;         /* CPU quota in cores */
    size_t output_limit; /* cap on stdout and on stderr, each; over it: killed, output_limited */
} exec_limits;

/* What one step did. out/err are owned; step_result_clear frees them. */
typedef struct step_result {
    int exit_code;       /* exit status, or 128+signal when killed by a signal */
    int signal;          /* signal number that killed it, 0 when it exited */
    bool timed_out;      /* killed at the wall-clock limit */
    bool oom_killed;     /* the memory cap was hit (OOM kill or memory.failcnt/events) */
    bool output_limited; /* killed because stdout or stderr went over the cap */
    char *out;           /* owned; captured stdout (at most output_limit bytes) */
    size_t out_len;
    char *err;           /* owned; captured stderr (at most output_limit bytes) */
    size_t err_len;
    long cpu_ms;         /* CPU time (user+sys) from the cgroup */
    long wall_ms;        /* wall time of the step */
    long memory_kb;      /* peak memory from the cgroup */
} step_result;

void step_result_clear(step_result *r);

typedef struct sandbox sandbox; /* one job's state; opaque, backend defined */

typedef struct executor {
    const char *name; /* "oci", "docker" */
    /* Once per worker process after fork: check the runtime and image store, set up state.
     * worker_id names this process (leftover cleanup and container names use it). */
    int (*init)(const cfg *c, const char *worker_id, char *err, size_t errlen);
    /* Remove whatever a dead process named worker_id left (containers, cgroups, mounts,
     * workspaces). Called by the supervisor at start-up and after a worker process died. */
    void (*cleanup_stale)(const cfg *c, const char *worker_id);
    /* Make a sandbox for a job: workspace with lang->source_file = code, plus req->files.
     * job_id names it. Host-side file work never follows a path the program controls. */
    int (*prepare)(const cfg *c, const language *lang, const job_request *req, const char *job_id,
                   sandbox **out, char *err, size_t errlen);
    /* Run argv (resolved inside the image, cwd /workspace) with stdin and limits. */
    int (*run)(sandbox *sb, char *const argv[], const char *stdin_data, size_t stdin_len,
               const exec_limits *lim, step_result *res, char *err, size_t errlen);
    /* Remove everything; accepts NULL. */
    void (*destroy)(sandbox *sb);
    /* Optional (NULL when the backend has nothing to do): a worker process that has just
     * finished a job of lang gets ready for the next one (oci/builtin: starts its first
     * container ahead, in lang's image; used by one step only, never reused across jobs), and
     * releases whatever that holds when it stops. */
    void (*prestart)(const cfg *c, const language *lang);
    void (*shutdown)(void);
} executor;

/* The backend named name ("oci"), or NULL when unknown. */
const executor *executor_find(const char *name);

#endif
