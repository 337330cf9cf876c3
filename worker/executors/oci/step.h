/* One sandbox step in a prepared OCI bundle (or started by the builtin runtime, builtin/launch.h),
 * from start to deletion:
 *   "<rt> run --detach --pid-file" with stdin/stdout/stderr pipes (non-terminal mode: the
 *   container's init inherits them), then a poll loop that feeds stdin, captures stdout and
 *   stderr up to the cap, enforces the wall-clock deadline and notices the init's exit through
 *   a pidfd; the init is reaped with waitpid (the worker is a child subreaper, see oci.c); the
 *   cgroup's accounting is read; "<rt> delete -f" removes container and cgroup. The init is
 *   cr-init: its exit status 128+N is a death by signal N when its status file says so.
 *
 * In a session's held container (builtin runtime, hold.h) a step is a run sent to the holder:
 * the same pump, the holder's HOLD_EXIT instead of the init's exit, HOLD_KILL instead of a kill,
 * the program's own wait status (no cr-init in between).
 *
 *   oci_step_run(&st, res, err, errlen)  0 when the program ran (res filled, whatever it did),
 *                                       -1 when the runtime failed (err says why). The container
 *                                       is gone either way. */
#ifndef CR_OCI_STEP_H
#define CR_OCI_STEP_H

#include <stddef.h>

#include "worker/executor.h"
#include "worker/executors/oci/builtin/hold.h"
#include "worker/executors/oci/builtin/launch.h"
#include "worker/sandbox/cgroup.h"

/* Inputs of one step; every pointer is borrowed for the duration of the call. */
typedef struct oci_step {
    const char *runtime;    /* OCI_RUNTIME: name in PATH or absolute path */
    const char *id;         /* container id, "cr-<worker>-<job>-<n>" */
    const char *bundle;     /* bundle directory holding config.json */
    const char *cgroup_rel; /* the container's cgroup below each hierarchy root */
    const cgroup_host *cg;  /* the host's cgroup layout */
    const char *stdin_data; /* fed to the program, then closed; NULL: empty stdin */
    size_t stdin_len;
    int timeout_ms;              /* wall clock from the container's start (the runtime may take
                                  * RUNTIME_START_MS more to start it) */
    long cpu_time_ms;            /* CPU time of the whole cgroup, checked every CPU_CHECK_MS;
                                  * 0: not checked (a step with at most one core's quota cannot
                                  * spend more CPU time than wall-clock time) */
    size_t output_limit;         /* cap on stdout and on stderr, each */
    const char *status_path;     /* host path of cr-init's status file ("exit C", "signal N",
                                  * "error ERRNO"); NULL: none */
    const launcher *launcher;    /* the builtin runtime: start the container with it
                                  * (builtin/launch.h) instead of "<rt> run"; NULL: the runtime
                                  * CLI with the bundle */
    const launch_params *launch; /* builtin: what to start (its stdio fds are set here) */
    launch_warm *warm;           /* builtin: a container started ahead for this step, with
                                  * launch->cgroup_rel its cgroup; consumed (when it fails to
                                  * go, the step starts a fresh one) */
    hold *hold;                  /* builtin session: run in this held container (argv and env
                                  * of launch->spec) in cgroup_rel, made by the caller with the
                                  * step's limits and left to it (keep_cgroup) */
    bool keep_cgroup;            /* the builtin runtime's cgroup is left for the caller to
                                  * remove (after the answer); else removed here */
} oci_step;

int oci_step_run(const oci_step *st, step_result *res, char *err, size_t errlen);

#endif
