/* Container and volume bodies of the docker backend (see spec.h). The limits mirror the oci
 * backend's config.json (oci/spec.c): the same policy (worker/sandbox/policy.h: uid, rlimits,
 * OOM score, masked and read-only paths), env, /tmp, and the same seccomp profile
 * (worker/sandbox/seccomp.c) for the steps: Docker's default one allows ptrace and, before
 * Engine 25, io_uring. The holder keeps Docker's defaults. */
#include "spec.h"

#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "worker/sandbox/env.h"
#include "worker/sandbox/policy.h"
#include "worker/sandbox/seccomp.h"

#define HOLDER_MEMORY_MB 64 /* runc's own start-up runs in the container's cgroup */
#define HOLDER_PIDS 32      /* and so do its threads */

json_t *docker_spec_labels(const char *worker_id, const char *job_id)
{
    return json_pack("{s:s, s:s, s:s}", DOCKER_LABEL_SERVICE, "worker", DOCKER_LABEL_WORKER,
                     worker_id, DOCKER_LABEL_JOB, job_id);
}

static json_t *string_array(const char *const *v)
{
    json_t *a = json_array();
    for (size_t i = 0; v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* Every rlimit Docker can set (worker/sandbox/policy.h), -1 meaning unlimited. */
static json_t *ulimits(const docker_step_params *p)
{
    sandbox_rlimit rl[SANDBOX_NRLIMITS];
    size_t n = sandbox_rlimits(&(sandbox_rlimit_params){.pids = p->pids,
                                                        .tmp_mb = p->tmp_mb,
                                                        .cpu_time_ms = p->cpu_time_ms},
                               rl);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        if (!rl[i].docker)
            continue;
        json_int_t soft = rl[i].soft == RLIM_INFINITY ? -1 : (json_int_t)rl[i].soft;
        json_int_t hard = rl[i].hard == RLIM_INFINITY ? -1 : (json_int_t)rl[i].hard;
        json_array_append_new(
            a, json_pack("{s:s, s:I, s:I}", "Name", rl[i].docker, "Soft", soft, "Hard", hard));
    }
    return a;
}

/* argv as given, or wrapped so that its stdin is the file the step's input was put in (in the
 * workspace, or bound read-only for a session's run):
 * /bin/sh -c 'exec "$@" <FILE' sh argv... (the shell replaces itself by the program). */
static json_t *command(const docker_step_params *p)
{
    json_t *a = json_array();
    if (p->init)
        json_array_append_new(a, json_string(DOCKER_INIT));
    if (p->stdin_file || p->stdin_path) {
        json_array_append_new(a, json_string("/bin/sh"));
        json_array_append_new(a, json_string("-c"));
        json_array_append_new(a, json_string(p->stdin_path ? "exec \"$@\" <" DOCKER_STDIN_BIND
                                                           : "exec \"$@\" <" DOCKER_WORKSPACE
                                                             "/" DOCKER_STDIN_NAME));
        json_array_append_new(a, json_string("sh"));
    }
    for (size_t i = 0; p->argv[i]; i++)
        json_array_append_new(a, json_string(p->argv[i]));
    return a;
}

/* A read-only bind mount of host path src at target. */
static json_t *bind(const char *src, const char *target)
{
    return json_pack("{s:s, s:s, s:s, s:b}", "Type", "bind", "Source", src, "Target", target,
                     "ReadOnly", 1);
}

/* The workspace mounted at DOCKER_WORKSPACE: the job's volume, or (dir not NULL) a session's
 * host directory bound read-write. */
static json_t *workspace_mount(const char *volume, const char *dir)
{
    if (dir)
        return json_pack("[{s:s, s:s, s:s, s:b}]", "Type", "bind", "Source", dir, "Target",
                         DOCKER_WORKSPACE, "ReadOnly", 0);
    return json_pack("[{s:s, s:s, s:s}]", "Type", "volume", "Source", volume, "Target",
                     DOCKER_WORKSPACE);
}

/* What every container of ours has: user, network, labels, hardening. */
static json_t *common_body(const char *image, json_t *cmd, char *const *env, const char *volume,
                           const char *dir, uid_t uid, const char *worker_id, const char *job_id,
                           int memory_mb, int pids, double cpus)
{
    char user[32];
    snprintf(user, sizeof user, "%u:%u", (unsigned)uid, (unsigned)uid);
    json_int_t mem = (json_int_t)memory_mb * 1024 * 1024;
    json_int_t nano = (json_int_t)(cpus * 1e9);
    /* clang-format off */
    return json_pack(
        "{s:s, s:o, s:s, s:s, s:s, s:o, s:b, s:b, s:b, s:b, s:b, s:o,"
        " s:{s:s, s:o, s:b, s:[s], s:[s], s:I, s:I, s:I, s:I, s:s, s:{s:s}}}",
        "Image", image,
        "Cmd", cmd,
        "User", user,
        "WorkingDir", DOCKER_WORKSPACE,
        "Hostname", SANDBOX_HOSTNAME,
        "Labels", docker_spec_labels(worker_id, job_id),
        "NetworkDisabled", 1,
        "AttachStdin", 0, "AttachStdout", 1, "AttachStderr", 1, "Tty", 0,
        "Env", sandbox_env_json(env),
        "HostConfig",
            "NetworkMode", "none",
            "Mounts", workspace_mount(volume, dir),
            "ReadonlyRootfs", 1,
            "CapDrop", "ALL",
            "SecurityOpt", "no-new-privileges", /* Docker's default seccomp profile stays on */
            "Memory", mem, "MemorySwap", mem, /* no swap beyond the memory cap */
            "NanoCpus", nano,
            "PidsLimit", (json_int_t)pids,
            "IpcMode", "private",
            "LogConfig", "Type", "none"); /* output is read through attach, never logged */
    /* clang-format on */
}

json_t *docker_spec_step(const docker_step_params *p)
{
    json_t *body = common_body(p->image, command(p), p->env, p->volume, p->workspace_dir, p->uid,
                               p->worker_id, p->job_id, p->memory_mb, p->host_pids, p->cpus);
    json_t *hc = json_object_get(body, "HostConfig");
    json_int_t tmp = (json_int_t)p->tmp_mb * 1024 * 1024;
    cleanup_free char *tmpfs = xasprintf("rw,exec,nosuid,nodev,mode=1777,size=%dm", p->tmp_mb);
    json_object_set_new(hc, "Runtime", json_string(p->runtime));
    json_object_set_new(hc, "Tmpfs", json_pack("{s:s}", "/tmp", tmpfs));
    json_object_set_new(hc, "ShmSize", json_integer(tmp));
    json_object_set_new(hc, "Ulimits", ulimits(p));
    json_object_set_new(hc, "OomScoreAdj", json_integer(SANDBOX_OOM_SCORE_ADJ));
    /* ours in place of the engine's defaults (older engines mask less) */
    json_object_set_new(hc, "MaskedPaths", string_array(sandbox_masked_paths));
    json_object_set_new(hc, "ReadonlyPaths", string_array(sandbox_readonly_paths));
    /* an init is PID 1, not the program: as in the oci backend, the program's own signals are
     * not ignored, orphans are reaped, the exit is 128+signal. cr-init when the engine can bind
     * it (it is not dumpable: the program cannot rewrite it), else the engine's docker-init */
    json_object_set_new(hc, "Init", json_boolean(!p->init));
    json_t *mounts = json_object_get(hc, "Mounts");
    if (p->init)
        json_array_append_new(mounts, bind(p->init, DOCKER_INIT));
    if (p->stdin_path)
        json_array_append_new(mounts, bind(p->stdin_path, DOCKER_STDIN_BIND));
    if (p->cpus_view && p->cpuset) {
        char cpus[256];
        snprintf(cpus, sizeof cpus, "%.*s", (int)strcspn(p->cpus_view->list, "\n"),
                 p->cpus_view->list);
        json_object_set_new(hc, "CpusetCpus", json_string(cpus));
    }
    if (p->cpus_dir) { /* what the step sees of its CPUs */
        cleanup_free char *sys = xasprintf("%s/sys", p->cpus_dir);
        cleanup_free char *cpuinfo = xasprintf("%s/cpuinfo", p->cpus_dir);
        cleanup_free char *stat = xasprintf("%s/stat", p->cpus_dir);
        json_array_append_new(mounts, bind(sys, "/sys/devices/system/cpu"));
        if (p->cpus_view->cpuinfo)
            json_array_append_new(mounts, bind(cpuinfo, "/proc/cpuinfo"));
        if (p->cpus_view->stat)
            json_array_append_new(mounts, bind(stat, "/proc/stat"));
    }
    json_t *profile = sandbox_seccomp_json(p->gvisor);
    cleanup_free char *doc = json_dumps(profile, JSON_COMPACT);
    json_decref(profile);
    cleanup_free char *opt = xasprintf("seccomp=%s", doc); /* the engine takes the JSON itself */
    json_array_append_new(json_object_get(hc, "SecurityOpt"), json_string(opt));
    if (p->cgroup_parent)
        json_object_set_new(hc, "CgroupParent", json_string(p->cgroup_parent));
    return body;
}

json_t *docker_spec_holder(const char *image, const char *volume, uid_t uid, const char *worker_id,
                           const char *job_id)
{
    /* The engine's default runtime: the holder only sleeps, it never touches the files. */
    json_t *cmd = json_pack("[s,s]", "sleep", "infinity");
    return common_body(image, cmd, NULL, volume, NULL, uid, worker_id, job_id, HOLDER_MEMORY_MB,
                       HOLDER_PIDS, 0.1);
}

json_t *docker_spec_volume(const char *name, int size_mb, uid_t uid, const char *worker_id,
                           const char *job_id)
{
    cleanup_free char *o = xasprintf("size=%dm,uid=%u,gid=%u,mode=0755,nosuid,nodev", size_mb,
                                     (unsigned)uid, (unsigned)uid);
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:s}, s:o}", "Name", name, "Driver", "local",
                     "DriverOpts", "type", "tmpfs", "device", "tmpfs", "o", o, "Labels",
                     docker_spec_labels(worker_id, job_id));
}
