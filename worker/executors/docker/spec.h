/* The JSON bodies the docker backend sends to the Engine API: a step container (the sandbox
 * contract in HostConfig terms), the workspace holder container, the workspace volume, and the
 * labels that mark everything as ours (code-runner.service/worker/job).
 *
 * API (each returns a new reference the caller owns):
 *   docker_spec_step(&params)                 POST /containers/create body of one step
 *   docker_spec_holder(image, volume, uid, w, j)  body of the container keeping the volume
 *                                             mounted
 *   docker_spec_volume(name, size_mb, uid, w, j)  POST /volumes/create body: a size-capped
 *                                             tmpfs owned by uid
 *   docker_spec_labels(w, j)                  the labels object */
#ifndef CR_DOCKER_SPEC_H
#define CR_DOCKER_SPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "worker/sandbox/cpus.h"

#define DOCKER_WORKSPACE "/workspace"
#define DOCKER_INIT "/dev/.cr/init" /* where cr-init is bound, when the engine sees our files */
/* Where a step's stdin bytes are put (in the workspace) when it has any. */
#define DOCKER_STDIN_NAME ".stdin"
/* Where a session's run finds its stdin bytes: a host file bound read-only (its workspace is
 * the client's, never written by the worker but through the file routes). */
#define DOCKER_STDIN_BIND "/dev/.cr/stdin"
#define DOCKER_LABEL_SERVICE "code-runner.service"
#define DOCKER_LABEL_WORKER "code-runner.worker"
#define DOCKER_LABEL_JOB "code-runner.job"

/* What one step container is made of. Strings are borrowed. */
typedef struct docker_step_params {
    const char *image;         /* "code-runner/python:latest" */
    char *const *argv;         /* the program, NULL-terminated */
    char *const *env;          /* the language's "NAME=value" entries after the defaults
                                * (worker/sandbox/env.h); NULL-terminated, or NULL */
    bool stdin_file;           /* run argv with stdin from DOCKER_WORKSPACE/DOCKER_STDIN_NAME */
    const char *stdin_path;    /* or from this host file, bound at DOCKER_STDIN_BIND; NULL: not */
    const char *volume;        /* workspace volume, mounted at DOCKER_WORKSPACE */
    const char *workspace_dir; /* or (a session's) this host directory, bound there read-write */
    const char *runtime;       /* HostConfig.Runtime (DOCKER_RUNTIME) */
    bool gvisor;               /* the runtime is gVisor (seccomp profile variant) */
    const char *cgroup_parent; /* HostConfig.CgroupParent, NULL for the engine's default */
    const char *worker_id;     /* labels */
    const char *job_id;
    uid_t uid;                         /* User uid:gid (worker/sandbox/policy.h) */
    int memory_mb;                     /* Memory = MemorySwap */
    int pids;                          /* RLIMIT_NPROC */
    int host_pids;                     /* PidsLimit: pids, plus gVisor's own threads under runsc */
    long cpu_time_ms;                  /* RLIMIT_CPU (worker/sandbox/policy.h); 0: none */
    const sandbox_cpu_view *cpus_view; /* its CPUs (worker/sandbox/cpus.h) */
    bool cpuset;          /* CpusetCpus from cpus_view (not with gVisor under a cgroup v1 parent
                           * whose cpuset the worker could not fill: gVisor fails there) */
    const char *cpus_dir; /* host directory of cpus_view's files, bound at
                           * /sys/devices/system/cpu, /proc/cpuinfo and /proc/stat; NULL: not
                           * bound (the engine does not see our files, or gVisor) */
    const char *init;     /* host path of cr-init, bound at DOCKER_INIT and run as PID 1 (as in
                           * the oci backend: not dumpable); NULL: the engine's docker-init */
    double cpus;          /* NanoCpus = cpus * 1e9 */
    int tmp_mb;           /* size of /tmp and /dev/shm, and the file size limit */
} docker_step_params;

json_t *docker_spec_step(const docker_step_params *p);
json_t *docker_spec_holder(const char *image, const char *volume, uid_t uid, const char *worker_id,
                           const char *job_id);
json_t *docker_spec_volume(const char *name, int size_mb, uid_t uid, const char *worker_id,
                           const char *job_id);
json_t *docker_spec_labels(const char *worker_id, const char *job_id);

#endif
