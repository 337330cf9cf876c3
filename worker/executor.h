/* The executor interface: how a worker process runs one job's steps in a sandbox, whatever the
 * backend (oci: the builtin runtime or runc/crun/runsc/kata without a daemon; docker: the Docker
 * Engine API; remote: whole jobs on executor hosts, which run them through one of the others).
 * A backend is a table of functions (executor) and the state one process keeps of it (backend),
 * made by init and handed to every later call, as hiredis hands its context.
 *
 * Life of a backend in a worker process (or a tool such as sandbox_cli):
 *   ex->init()     check the runtime and the image store, set up what every job uses: *be;
 *   for each job, one at a time: ex->prepare(be, ...), ex->run(sb, ...)..., ex->destroy(sb),
 *                  then ex->prestart(be, ...) when the backend has one;
 *   ex->shutdown(be)  free it, once the last sandbox is destroyed.
 * ex->cleanup_stale needs no backend: the supervisor, which runs no job, calls it.
 * A backend with run_job (remote) takes each job whole instead of prepare/run/destroy, and a
 * worker process with nothing to do calls its idle about once a second.
 *
 * Life of a sandbox:
 *   ex->prepare()  make the job's workspace (size-capped) holding the source and extra files;
 *   ex->run()      once per step (compile, then one run per test case); each step is a fresh
 *                  container from the language's read-only image, with the workspace mounted at
 *                  /workspace (its cwd), its own limits, stdin fed, stdout/stderr captured;
 *   ex->destroy()  remove everything the job made: containers, cgroups, mounts, files.
 * A return of -1 means the system failed (the job ends FAILURE, message in err); 0 means the
 * program ran and res says what it did (even when it crashed, timed out or blew a limit).
 *
 * Life of a session's sandbox (README "Live sessions"; functions NULL in a backend without
 * sessions, whose worker processes then offer no place for one):
 *   ex->session_open()   make a sandbox with an empty workspace that lives until destroy;
 *   then, in any order, one at a time: ex->run() for each step of each run (every run starts
 *                        from the workspace the last one left), ex->file_put/get/list();
 *   ex->destroy()        as for a job. */
#ifndef CR_EXECUTOR_H
#define CR_EXECUTOR_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/config.h"
#include "common/job.h"
#include "common/languages.h"

/* Limits of one step. */
typedef struct exec_limits {
    int timeout_ms;      /* wall clock; killed after it (timed_out) */
    long cpu_time_ms;    /* CPU time of all its processes together; killed past it (timed_out),
                          * and each process by RLIMIT_CPU (SIGXCPU); <= 0: none */
    int memory_mb;       /* memory cap, swap included */
    int pids;            /* task (process + thread) limit */
    double cpus;         /* CPU quota in cores */
    size_t output_limit; /* cap on stdout and on stderr, each; over it: killed, output_limited */
} exec_limits;

/* What one step did. out/err are owned; step_result_clear frees them. */
typedef struct step_result {
    int exit_code;       /* exit status, or 128+signal when killed by a signal */
    int signal;          /* signal number that killed it, 0 when it exited */
    bool timed_out;      /* killed at the wall-clock or the CPU-time limit */
    bool oom_killed;     /* the memory cap was hit (OOM kill or memory.failcnt/events) */
    bool output_limited; /* killed because stdout or stderr went over the cap */
    char *out;           /* owned; captured stdout (at most output_limit bytes) */
    size_t out_len;
    char *err; /* owned; captured stderr (at most output_limit bytes) */
    size_t err_len;
    long cpu_ms;    /* CPU time (user+sys) from the cgroup */
    long wall_ms;   /* wall time of the step */
    long memory_kb; /* peak memory from the cgroup */
} step_result;

void step_result_clear(step_result *r);

/* Why a file operation of a session failed: errnum says what kind (ENOENT, ELOOP for a link
 * that is not followed, EISDIR, ENOTDIR, EFBIG over the caller's maximum, ENOSPC, EINVAL...),
 * msg says it for the client. */
typedef struct exec_file_error {
    int errnum;
    char msg[256];
} exec_file_error;

typedef struct backend backend; /* one process's state of a backend; opaque, backend defined */
typedef struct sandbox sandbox; /* one job's state; opaque, backend defined; refers to its
                                 * backend, which outlives it */

typedef struct executor {
    const char *name; /* "oci", "docker", "remote" */
    /* Once per worker process after fork: check the runtime and image store, set up the state
     * *out that every later call takes (shutdown frees it). worker_id names this process
     * (leftover cleanup and container names use it); slot is its index among the supervisor's
     * processes, 0 to WORKER_CONCURRENCY - 1 (its programs run as uid SANDBOX_UID_BASE + slot,
     * see worker/sandbox/policy.h); c is borrowed and outlives *out. */
    int (*init)(const cfg *c, const char *worker_id, int slot, backend **out, char *err,
                size_t errlen);
    /* Remove whatever a dead process named worker_id left (containers, cgroups, mounts,
     * workspaces). Called by the supervisor at start-up and after a worker process died. */
    void (*cleanup_stale)(const cfg *c, const char *worker_id);
    /* Make a sandbox for a job: workspace with lang->source_file = code, plus req->files.
     * job_id names it. Host-side file work never follows a path the program controls. */
    int (*prepare)(backend *be, const language *lang, const job_request *req, const char *job_id,
                   sandbox **out, char *err, size_t errlen);
    /* Run argv (resolved inside the image, cwd /workspace) with stdin and limits. */
    int (*run)(sandbox *sb, char *const argv[], const char *stdin_data, size_t stdin_len,
               const exec_limits *lim, step_result *res, char *err, size_t errlen);
    /* Remove everything; accepts NULL. */
    void (*destroy)(sandbox *sb);
    /* Optional (NULL when the backend has nothing to do): a worker process that has just
     * finished a job of lang gets ready for the next one (oci/builtin: starts its first
     * container ahead, in lang's image; used by one step only, never reused across jobs). */
    void (*prestart)(backend *be, const language *lang);
    /* Free be and whatever it holds (a container started ahead included); accepts NULL. */
    void (*shutdown)(backend *be);
    /* Sessions: a sandbox for lang, named after session_id, with an empty workspace, that
     * outlives its runs (each of them a fresh process tree in it). The whole sandbox is held
     * to memory_mb and to lang's run limits (tasks, CPU), as each run is. */
    int (*session_open)(backend *be, const language *lang, int memory_mb, const char *session_id,
                        sandbox **out, char *err, size_t errlen);
    /* Optional: why be cannot host sessions at all (the docker backend when the engine does not
     * see this worker's files), or NULL when it can. A process whose backend says why offers no
     * place, and its supervisor's log says why once. */
    const char *(*sessions_refused)(backend *be);
    /* Its container's name, shown as the session's container_id (borrowed from sb). */
    const char *(*session_name)(const sandbox *sb);
    /* False once its sandbox is gone (the builtin runtime's holder died): nothing runs there
     * again. */
    bool (*session_alive)(sandbox *sb);
    /* Optional: after a run's answer is written, what can wait until then (the builtin
     * runtime removes the run's cgroup and makes the next one's). */
    void (*session_tidy)(sandbox *sb);
    /* File operations on the workspace; path is relative (common/session.h checks it) and no
     * link in it is ever followed, no mount crossed. put makes path a regular file of len bytes
     * (missing directories made, a link or FIFO at its place replaced); get reads a regular file of
     * at most max bytes (*data owned by the caller); list gives every entry, a JSON array of
     * {"path", "type", "size"} (caller owns). 0, or -1 with e set. */
    int (*file_put)(sandbox *sb, const char *path, const char *data, size_t len,
                    exec_file_error *e);
    int (*file_get)(sandbox *sb, const char *path, size_t max, char **data, size_t *len,
                    exec_file_error *e);
    int (*file_list)(sandbox *sb, json_t **files, exec_file_error *e);
    /* Whether lang's image is here to run (oci: built in IMAGES_DIR; docker: in the engine).
     * An executor-host agent offers the languages whose image its backend has. */
    bool (*has_image)(backend *be, const language *lang);
    /* Optional: the backend runs whole jobs elsewhere (remote: on an executor host), and
     * prepare, run and destroy are NULL. Returns the SUCCESS result object (caller owns it),
     * or NULL with *failure set (caller frees) when the system could not run the job. */
    json_t *(*run_job)(backend *be, const job_request *req, const char *job_id, char **failure);
    /* Optional: a worker process waiting for a job calls it about once a second (remote: host
     * probes and fleet upkeep); it must not take long. */
    void (*idle)(backend *be);
} executor;

/* The backend named name ("oci"), or NULL when unknown. */
const executor *executor_find(const char *name);

#endif
