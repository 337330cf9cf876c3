/* The docker executor backend (see docker.h and worker/executor.h), over the Engine API.
 *
 * Per job (names: <base> = cr-docker-<worker>-<job>, each id with [^A-Za-z0-9_-] as '_'):
 *   volume     <base>        a local-driver tmpfs volume (size WORKSPACE_MB, the slot's uid): the
 *                            workspace at /workspace in every container of the job;
 *   holder     <base>-ws     a container that only sleeps, started in prepare and removed in
 *                            destroy: a tmpfs volume is unmounted, and its files lost, whenever
 *                            no running container uses it, so one must run between the steps.
 *                            The job's files (and each step's stdin) go into the volume through
 *                            it with PUT /containers/{id}/archive;
 *   step       <base>-<n>    one container per step (DOCKER_RUNTIME), removed after the step.
 * Everything carries the labels code-runner.service=worker, code-runner.worker=<worker id>,
 * code-runner.job=<job id>; cleanup_stale removes what carries a dead worker's id.
 *
 * A session (session_open; only when the engine sees this process's files, be->files) has no
 * volume and no holder: its workspace is a size-capped tmpfs the worker mounts on the host, at
 * STATE_DIR/docker-<worker>/S<session>/ws (owned by the slot's user), bound read-write at
 * /workspace into each step container of each run, named cr-docker-<worker>-S<session>-<n>
 * (label code-runner.job=S<session>) and made exactly as a job's step; a run's stdin is the
 * file S<session>/in/stdin, bound read-only. Between runs nothing of the session exists in the
 * engine, so the leftover cleanup of the next job of the process finds nothing of it; its files
 * go with the tmpfs (destroy, shutdown, cleanup_stale: STATE_DIR/docker-<worker> is unmounted
 * and removed whole). The file routes work on the tmpfs from the host (worker/sandbox/wsfiles.h).
 *
 * A step: create; attach (before start, so no output is lost; binary-safe, the engine's log
 * driver is off); start; read stdout/stderr with the byte cap until the output closes or the
 * wall-clock limit passes (then kill: timed_out; over the cap: kill, output_limited); wait;
 * inspect (exit code, OOMKilled, start and finish times); remove.
 * stdin: the bytes are put into the workspace as .stdin and the program runs as
 *   /bin/sh -c 'exec "$@" </workspace/.stdin' sh ARGV...   (steps without stdin run ARGV as is,
 * with stdin /dev/null), so images need /bin/sh, as every Debian-based image has.
 * Exit: State.ExitCode; an exit code 129..192 is reported as killed by signal code-128.
 * CPU time and peak memory: when the engine is local with the cgroupfs driver, each step
 * container gets its own cgroup parent /code-runner-docker/<worker>.<random id>-<n>, whose
 * accounting (cpuacct.usage / memory.max_usage_in_bytes, or v2 cpu.stat / memory.peak) outlives
 * the container and is read after it is removed; otherwise both are reported as 0.
 * gVisor (runsc): PidsLimit is the host cgroup's, which holds gVisor's own threads, so it is
 * raised by GVISOR_TASKS; the program's processes live inside gVisor and are bounded there by
 * RLIMIT_NPROC (gVisor keeps it per sandbox) and the memory cap. Runtimes that do not report OOM
 * kills: a SIGKILL with peak memory at 95% of the cap counts as memory_limit. */
#include "docker.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "worker/sandbox/cgroup.h"
#include "worker/sandbox/cgroup_limits.h"
#include "worker/sandbox/cpus.h"
#include "worker/sandbox/fs.h"
#include "worker/sandbox/policy.h"
#include "worker/sandbox/wsfiles.h"
#include "common/log.h"
#include "common/util.h"
#include "worker/executors/docker/client.h"
#include "worker/executors/docker/mux.h"
#include "worker/executors/docker/spec.h"
#include "worker/executors/docker/tar.h"

#define CGROUP_TOP "code-runner-docker"
#define ATTACH_TIMEOUT_MS 10000
#define FILE_MODE 0644
/* Host tasks gVisor's sentry and gofer need beyond the program's (it fails to start below
 * about 40); inside gVisor the program's processes are not host tasks. */
#define GVISOR_TASKS 64

/* One job's containers and volume: made by docker_prepare, used by docker_run once per step,
 * removed by docker_destroy. */
struct sandbox {
    backend *be;      /* borrowed; the backend that made it (outlives it) */
    char *job_id;     /* owned */
    char *base;       /* owned; name prefix of everything of the job */
    char *image;      /* owned; code-runner/<image>:latest */
    char *const *env; /* borrowed from the language (outlives the sandbox): step env */
    char *volume;     /* owned; the workspace volume, NULL until created */
    char *holder;     /* owned; id of the holder container, NULL until created */
    char *dir;        /* owned; a session's: STATE_DIR/docker-<worker>/S<session>, else NULL */
    char *workspace;  /* owned; a session's: <dir>/ws, the tmpfs bound at /workspace */
    char *stdin_path; /* owned; a session's: <dir>/in/stdin, a run's stdin bytes */
    int tmp_mb;       /* size of the workspace and of /tmp */
    unsigned steps;   /* steps run so far */
    char id[33];      /* 128 random bits, new for every prepare: names the steps' cgroups */
};

/* The docker backend of one worker process: made by docker_init (which checks the engine and
 * the runtime), used by every job of the process one at a time, freed by docker_shutdown. */
struct backend {
    const cfg *c;            /* borrowed configuration; outlives the backend */
    docker_client *client;   /* owned; its control connection stays open between jobs */
    char *worker_id;         /* owned */
    cgroup_host cg;          /* the host's cgroup layout */
    bool cgroups;            /* step cgroups can be read on this host */
    bool gvisor;             /* the runtime is runsc: its own threads count against PidsLimit */
    uid_t uid;               /* the slot's sandbox user (uid = gid), owner of the workspaces */
    int slot;                /* which share of the worker's CPUs its steps run on */
    sandbox_cpus_host cpus;  /* the worker's CPUs (the engine's, when it is local) */
    sandbox_cpu_view *views; /* owned array: views[n - 1] for a step on n CPUs, made on first
                              * use (.list NULL until then) */
    char *files;             /* owned; STATE_DIR/docker-<worker>, holding cpu-view/<n>/, when the
                              * engine sees this process's files (it can bind them); else NULL */
    char init[PATH_MAX];     /* with files: cr-init, bound as the steps' PID 1 ("": not found) */
    char *refused;           /* owned; why no session can be hosted (docker_sessions_refused) */
};

/* s with every character outside [A-Za-z0-9_-] replaced by '_' (s is returned). Fits Docker
 * names and makes one safe path component ("..", "/" never survive). */
static char *sanitize(char *s)
{
    for (char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
            *p = '_';
    return s;
}

/* The name of a container or volume of the job: cr-docker-<worker>-<job><suffix>. */
static char *name_of(const char *worker, const char *job, const char *suffix)
{
    cleanup_free char *w = sanitize(xstrdup(worker)), *j = sanitize(xstrdup(job));
    return xasprintf("cr-docker-%s-%s%s", w, j, suffix);
}

/* An error from an HTTP status: "<what>: <engine message> (HTTP n)". Clears res. */
static int http_fail(docker_response *res, const char *what, char *err, size_t errlen)
{
    cleanup_free char *msg = docker_response_message(res);
    snprintf(err, errlen, "%s: %s (HTTP %ld)", what, msg, res->status);
    docker_response_clear(res);
    return -1;
}

/* A request that must answer with status want (or also want2, when not 0). */
static int call(docker_client *dc, const char *method, const char *path, json_t *body, long want,
                long want2, const char *what, json_t **out, char *err, size_t errlen)
{
    docker_response res;
    if (docker_call(dc, method, path, body, &res, err, errlen) < 0)
        return -1;
    if (res.status != want && (!want2 || res.status != want2))
        return http_fail(&res, what, err, errlen);
    if (out)
        *out = docker_response_json(&res);
    docker_response_clear(&res);
    return 0;
}

/* POST /containers/create of body (consumed); the new container's id in *id (caller frees). */
static int create_container(docker_client *dc, const char *name, const char *image, json_t *body,
                            char **id, char *err, size_t errlen)
{
    cleanup_free char *path = xasprintf("/containers/create?name=%s", name);
    docker_response res;
    int rc = docker_call(dc, "POST", path, body, &res, err, errlen);
    json_decref(body);
    if (rc < 0)
        return -1;
    if (res.status == 404) {
        cleanup_free char *msg = docker_response_message(&res);
        if (strstr(msg, "image")) {
            snprintf(err, errlen,
                     "image %s is missing from the Docker engine at %s (import it with "
                     "images/docker-import.sh): %s",
                     image, docker_client_host(dc), msg);
            docker_response_clear(&res);
            return -1;
        }
    }
    if (res.status != 201)
        return http_fail(&res, "cannot create a container", err, errlen);
    json_t *j = docker_response_json(&res);
    const char *s = json_string_value(json_object_get(j, "Id"));
    *id = s ? xstrdup(s) : NULL;
    json_decref(j);
    docker_response_clear(&res);
    if (!*id) {
        snprintf(err, errlen, "container create: no Id in the engine's answer");
        return -1;
    }
    return 0;
}

/* DELETE a container with force, on every path; complains only in the log. */
static void remove_container(docker_client *dc, const char *id)
{
    char err[512];
    cleanup_free char *path = xasprintf("/containers/%s?force=1", id);
    const char *what = "cannot remove container";
    if (call(dc, "DELETE", path, NULL, 204, 404, what, NULL, err, sizeof err) < 0)
        log_warn("docker: %s %.12s", err, id);
}

static void remove_volume(docker_client *dc, const char *name)
{
    char err[512];
    cleanup_free char *esc = docker_escape(name);
    cleanup_free char *path = xasprintf("/volumes/%s?force=1", esc);
    if (call(dc, "DELETE", path, NULL, 204, 404, "cannot remove volume", NULL, err, sizeof err) < 0)
        log_warn("docker: %s %s", err, name);
}

static int put_archive(docker_client *dc, const char *id, docker_tar *t, char *err, size_t errlen)
{
    docker_tar_finish(t);
    cleanup_free char *path = xasprintf("/containers/%s/archive?path=" DOCKER_WORKSPACE, id);
    docker_response res;
    int rc =
        docker_call_raw(dc, "PUT", path, "application/x-tar", t->buf, t->len, &res, err, errlen);
    docker_tar_clear(t);
    if (rc < 0)
        return -1;
    if (res.status != 200)
        return http_fail(&res, "cannot copy files into the workspace", err, errlen);
    docker_response_clear(&res);
    return 0;
}

/* --- init and cleanup ------------------------------------------------------------------- */

/* Remove the tree at dir: sessions' workspaces unmounted first, links removed, not followed
 * (a session's programs own its workspace's files). */
static void remove_tree(const char *dir)
{
    if (access(dir, F_OK) == 0)
        fs_remove_tree(dir);
}

/* STATE_DIR/docker-<worker id>: where a worker process of this backend keeps its files. */
static char *files_dir(const cfg *c, const char *worker_id)
{
    cleanup_free char *w = sanitize(xstrdup(worker_id));
    return xasprintf("%s/docker-%s", c->state_dir, w);
}

static void docker_shutdown(backend *be)
{
    if (!be)
        return;
    docker_client_free(be->client);
    if (be->files)
        remove_tree(be->files);
    free(be->files);
    free(be->refused);
    free(be->worker_id);
    cgroup_host_clear(&be->cg);
    for (int i = 0; be->views && i < be->cpus.n; i++)
        sandbox_cpus_view_clear(&be->views[i]);
    free(be->views);
    sandbox_cpus_clear(&be->cpus);
    free(be);
}
CLEANUP_FUNC(backend, docker_shutdown)

/* Whether the engine's API is at least 1.major.minor ("1.41" style version strings). */
static bool api_at_least(const char *v, int minor)
{
    int maj = 0, min = 0;
    return v && sscanf(v, "%d.%d", &maj, &min) == 2 && (maj > 1 || (maj == 1 && min >= minor));
}

/* DOCKER_RUNTIME must be a runtime of the engine (Info.Runtimes, from its daemon.json), or a
 * containerd shim name (io.containerd.kata.v2) on engines that take those as given (API 1.42,
 * Docker 23, and later). Names are passed on as given. */
static int check_runtime(backend *be, json_t *info, const char *api, const char *rt, char *err,
                         size_t errlen)
{
    json_t *rts = json_object_get(info, "Runtimes");
    json_t *known_rt = json_object_get(rts, rt);
    if (known_rt) {
        const char *path = json_string_value(json_object_get(known_rt, "path"));
        be->gvisor = strstr(rt, "runsc") || strstr(rt, "gvisor") || (path && strstr(path, "runsc"));
        return 0;
    }
    if (strncmp(rt, "io.containerd.", 14) == 0 && api_at_least(api, 42)) {
        log_info("docker: DOCKER_RUNTIME=%s is a containerd shim, passed as given", rt);
        return 0;
    }
    char known[512] = "";
    const char *k;
    json_t *v;
    json_object_foreach(rts, k, v)
    {
        (void)v;
        size_t n = strlen(known);
        snprintf(known + n, sizeof known - n, "%s%s", n ? ", " : "", k);
    }
    snprintf(err, errlen,
             "DOCKER_RUNTIME=%s is not a runtime of the Docker engine at %s (it has: %s); "
             "register it under \"runtimes\" in the engine's daemon.json",
             rt, docker_client_host(be->client), known);
    return -1;
}

/* Check that the engine answers and knows the runtime; note whether its cgroups are ours to
 * read (local engine, cgroupfs driver, same cgroup layout as seen here). */
static int check_engine(backend *be, char *err, size_t errlen)
{
    const cfg *c = be->c;
    docker_response res;
    if (docker_call(be->client, "GET", "/_ping", NULL, &res, err, errlen) < 0)
        return -1;
    if (res.status != 200)
        return http_fail(&res, "the Docker engine (DOCKER_HOST) does not answer /_ping", err,
                         errlen);
    docker_response_clear(&res);
    json_t *version = NULL, *info = NULL;
    if (call(be->client, "GET", "/version", NULL, 200, 0, "Docker engine /version", &version, err,
             errlen) < 0)
        return -1;
    const char *api = json_string_value(json_object_get(version, "ApiVersion"));
    int rc =
        call(be->client, "GET", "/info", NULL, 200, 0, "Docker engine /info", &info, err, errlen);
    if (rc == 0)
        rc = check_runtime(be, info, api, c->docker_runtime, err, errlen);
    if (rc == 0) {
        const char *driver = json_string_value(json_object_get(info, "CgroupDriver"));
        const char *cgv = json_string_value(json_object_get(info, "CgroupVersion"));
        bool v2 = cgv && strcmp(cgv, "2") == 0;
        be->cgroups = docker_client_local(be->client) && driver &&
                      strcmp(driver, "cgroupfs") == 0 && v2 == be->cg.v2;
        log_info("docker: engine %s (API %s) at %s, runtime %s, cgroup accounting %s",
                 json_string_value(json_object_get(version, "Version")), api, c->docker_host,
                 c->docker_runtime,
                 be->cgroups ? "on" : "off (remote engine or systemd cgroup driver)");
    }
    json_decref(version);
    json_decref(info);
    return rc;
}

/* Whether the engine at DOCKER_HOST sees this process's files at the same paths, so that it
 * can bind them into containers: it listens on a local socket, its process is visible here
 * (SO_PEERCRED), and dir seen from its root is the same directory as here. Not so for a remote
 * engine, nor for a worker in a container of its own (docker-compose). */
static bool engine_sees(const char *docker_host, const char *dir)
{
    if (strncmp(docker_host, "unix://", 7) != 0)
        return false;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (snprintf(a.sun_path, sizeof a.sun_path, "%s", docker_host + 7) >= (int)sizeof a.sun_path)
        return false;
    cleanup_fd int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct ucred peer = {0};
    socklen_t len = sizeof peer;
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockopt(s, SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0 || peer.pid <= 0)
        return false;
    char theirs[PATH_MAX];
    struct stat st_mine, st_theirs;
    return snprintf(theirs, sizeof theirs, "/proc/%d/root%s", (int)peer.pid, dir) <
               (int)sizeof theirs &&
           stat(dir, &st_mine) == 0 && stat(theirs, &st_theirs) == 0 &&
           st_mine.st_dev == st_theirs.st_dev && st_mine.st_ino == st_theirs.st_ino;
}

/* be->files and be->init when the engine sees our files; else neither (logged). */
static void share_files(backend *be)
{
    const cfg *c = be->c;
    cleanup_free char *dir = files_dir(c, be->worker_id);
    remove_tree(dir); /* a dead process's, with the same worker id */
    if ((mkdir(c->state_dir, 0711) < 0 && errno != EEXIST) || mkdir(dir, 0700) < 0) {
        log_warn("docker: cannot make %s: %s", dir, strerror(errno));
        return;
    }
    if (!engine_sees(c->docker_host, dir)) {
        log_info("docker: the engine at %s does not see this process's files: steps see every "
                 "CPU of its host in /sys and /proc (their affinity is right), and run under "
                 "the engine's docker-init",
                 c->docker_host);
        rmdir(dir);
        return;
    }
    char err[512];
    if (sandbox_init_path(be->init, err, sizeof err) < 0) {
        log_warn("docker: %s: steps run under the engine's docker-init", err);
        be->init[0] = '\0';
    }
    be->files = steal_pointer(&dir);
}

/* The CPU view of a step with a quota of cores (borrowed from be), made on first use, its files
 * written when the engine binds them; NULL (err) when they cannot be. */
static const sandbox_cpu_view *cpu_view(backend *be, double cores, char *err, size_t errlen)
{
    int n = sandbox_cpus_count(&be->cpus, cores);
    sandbox_cpu_view *v = &be->views[n - 1];
    if (v->list)
        return v;
    sandbox_cpus_view(&be->cpus, be->slot, cores, v);
    if (be->files) {
        cleanup_free char *top = xasprintf("%s/cpu-view", be->files);
        cleanup_free char *dir = xasprintf("%s/%d", top, n);
        if ((mkdir(top, 0755) < 0 && errno != EEXIST) ||
            sandbox_cpus_write(v, dir, err, errlen) < 0) {
            if (!*err)
                snprintf(err, errlen, "mkdir %s: %s", top, strerror(errno));
            sandbox_cpus_view_clear(v);
            return NULL;
        }
    }
    return v;
}

static int docker_init(const cfg *c, const char *worker_id, int slot, backend **out, char *err,
                       size_t errlen)
{
    *out = NULL;
    cleanup_ptr(backend) backend *be = xcalloc(1, sizeof *be);
    be->c = c;
    be->uid = sandbox_uid(c, slot);
    be->slot = slot;
    be->worker_id = xstrdup(worker_id);
    cgroup_host_probe(&be->cg);
    sandbox_cpus_probe(&be->cpus);
    be->views = xcalloc((size_t)be->cpus.n, sizeof *be->views);
    if (docker_client_create(c->docker_host, &be->client, err, errlen) < 0 ||
        check_engine(be, err, errlen) < 0)
        return -1;
    share_files(be);
    *out = steal_pointer(&be);
    return 0;
}

static bool same_name(const char *name, const void *arg)
{
    return strcmp(name, arg) == 0;
}

static bool has_prefix(const char *name, const void *arg)
{
    return strncmp(name, arg, strlen(arg)) == 0;
}

/* The cgroup (below CGROUP_TOP) of a step: "<worker>.<id>-<n>", id the sandbox's random one (no
 * step of any attempt at any job shares a cgroup with another, nor finds an old one's); the
 * worker id sanitised, so the '.' ends it and "<worker>." is the prefix of all its cgroups. */
static char *step_cgroup(const char *worker_id, const char *id, unsigned n)
{
    cleanup_free char *w = sanitize(xstrdup(worker_id));
    return xasprintf("%s.%s-%u", w, id, n);
}

/* Remove every container (first) or volume (then) labelled with worker_id. */
static void remove_labelled(docker_client *dc, const char *kind, const char *worker_id)
{
    char err[512];
    json_t *filters = json_pack("{s:[s+]}", "label", DOCKER_LABEL_WORKER "=", worker_id);
    cleanup_free char *doc = json_dumps(filters, JSON_COMPACT);
    json_decref(filters);
    cleanup_free char *esc = docker_escape(doc);
    bool containers = strcmp(kind, "containers") == 0;
    cleanup_free char *path = containers ? xasprintf("/containers/json?all=1&filters=%s", esc)
                                         : xasprintf("/volumes?filters=%s", esc);
    json_t *list = NULL;
    if (call(dc, "GET", path, NULL, 200, 0, "cannot list leftovers", &list, err, sizeof err) < 0) {
        log_warn("docker: %s of worker %s: %s", kind, worker_id, err);
        return;
    }
    json_t *items = containers ? list : json_object_get(list, "Volumes");
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *id = json_string_value(json_object_get(it, containers ? "Id" : "Name"));
        json_t *labels = json_object_get(it, "Labels");
        const char *w = json_string_value(json_object_get(labels, DOCKER_LABEL_WORKER));
        if (!id || !w || strcmp(w, worker_id) != 0) /* never anyone else's */
            continue;
        log_info("docker: removing leftover %s %.*s of worker %s",
                 containers ? "container" : "volume", containers ? 12 : (int)strlen(id), id,
                 worker_id);
        if (containers)
            remove_container(dc, id);
        else
            remove_volume(dc, id);
    }
    json_decref(list);
}

/* The supervisor calls this without a backend: a client of its own for the time of the call. */
static void docker_cleanup_stale(const cfg *c, const char *worker_id)
{
    cleanup_ptr(docker_client) docker_client *dc = NULL;
    char err[512];
    if (docker_client_create(c->docker_host, &dc, err, sizeof err) < 0) {
        log_warn("docker: cleanup of worker %s: %s", worker_id, err);
        return;
    }
    remove_labelled(dc, "containers", worker_id);
    remove_labelled(dc, "volumes", worker_id);
    cleanup_free char *files = files_dir(c, worker_id);
    remove_tree(files);
    if (docker_client_local(dc)) {
        cleanup_free char *w = sanitize(xstrdup(worker_id));
        cleanup_free char *prefix = xasprintf("%s.", w);
        cgroup_host cg;
        cgroup_host_probe(&cg);
        cgroup_remove_matching(&cg, CGROUP_TOP, has_prefix, prefix);
        cgroup_host_clear(&cg);
    }
}

/* --- prepare and destroy ---------------------------------------------------------------- */

static void docker_destroy(sandbox *sb)
{
    if (!sb)
        return;
    if (sb->holder)
        remove_container(sb->be->client, sb->holder);
    if (sb->volume)
        remove_volume(sb->be->client, sb->volume);
    if (sb->dir)
        remove_tree(sb->dir); /* a session's: its workspace unmounted, its files gone */
    free(sb->dir);
    free(sb->workspace);
    free(sb->stdin_path);
    free(sb->job_id);
    free(sb->base);
    free(sb->image);
    free(sb->volume);
    free(sb->holder);
    free(sb);
}
CLEANUP_FUNC(sandbox, docker_destroy)

/* The workspace volume and the holder container keeping it mounted, started. */
static int make_workspace(sandbox *sb, int size_mb, char *err, size_t errlen)
{
    backend *be = sb->be;
    json_t *vol = docker_spec_volume(sb->base, size_mb, be->uid, be->worker_id, sb->job_id);
    int rc = call(be->client, "POST", "/volumes/create", vol, 201, 200,
                  "cannot create the workspace volume", NULL, err, errlen);
    json_decref(vol);
    if (rc < 0)
        return -1;
    sb->volume = xstrdup(sb->base);
    cleanup_free char *hname = name_of(be->worker_id, sb->job_id, "-ws");
    if (create_container(
            be->client, hname, sb->image,
            docker_spec_holder(sb->image, sb->volume, be->uid, be->worker_id, sb->job_id),
            &sb->holder, err, errlen) < 0)
        return -1;
    cleanup_free char *start = xasprintf("/containers/%s/start", sb->holder);
    return call(be->client, "POST", start, NULL, 204, 304, "cannot start the workspace container",
                NULL, err, errlen);
}

static int docker_prepare(backend *be, const language *lang, const job_request *req,
                          const char *job_id, sandbox **out, char *err, size_t errlen)
{
    /* A worker process holds one job at a time, so whatever carries its id now is a leftover:
     * typically a container the engine finished creating after the previous holder of this id
     * was killed (and after the supervisor's cleanup ran), which would clash with this job. */
    remove_labelled(be->client, "containers", be->worker_id);
    remove_labelled(be->client, "volumes", be->worker_id);
    cleanup_ptr(sandbox) sandbox *sb = xcalloc(1, sizeof *sb);
    sb->be = be;
    sb->job_id = xstrdup(job_id);
    random_hex(sb->id, (sizeof sb->id - 1) / 2);
    sb->base = name_of(be->worker_id, job_id, "");
    sb->image = xasprintf("code-runner/%s:latest", lang->image);
    sb->env = lang->env;
    sb->tmp_mb = be->c->workspace_mb;
    if (make_workspace(sb, be->c->workspace_mb, err, errlen) < 0)
        return -1;
    docker_tar t = {0};
    docker_tar_add(&t, lang->source_file, req->code, req->code_len, FILE_MODE, be->uid, be->uid);
    for (size_t i = 0; i < req->nfiles; i++)
        docker_tar_add(&t, req->files[i].name, req->files[i].content, req->files[i].len, FILE_MODE,
                       be->uid, be->uid);
    if (put_archive(be->client, sb->holder, &t, err, errlen) < 0)
        return -1;
    *out = steal_pointer(&sb);
    return 0;
}

/* --- run -------------------------------------------------------------------------------- */

static bool mux_sink(const char *data, size_t len, void *arg)
{
    return docker_mux_feed(arg, data, len);
}

/* Milliseconds since the epoch of an RFC 3339 UTC time with fraction ("...T10:00:00.123Z"),
 * or -1 (Docker's zero time "0001-01-01T00:00:00Z" included). */
static int64_t rfc3339_ms(const char *s)
{
    struct tm tm = {0};
    const char *p = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (!p || tm.tm_year < 70)
        return -1;
    int64_t ms = (int64_t)timegm(&tm) * 1000;
    if (*p == '.') {
        int64_t scale = 100;
        for (p++; isdigit((unsigned char)*p); p++, scale /= 10)
            ms += (*p - '0') * scale;
    }
    return ms;
}

/* Exit status, OOM flag and times from GET /containers/{id}/json. */
static int inspect(docker_client *dc, const char *id, step_result *res, char *err, size_t errlen)
{
    cleanup_free char *path = xasprintf("/containers/%s/json", id);
    json_t *j = NULL;
    if (call(dc, "GET", path, NULL, 200, 0, "cannot inspect the container", &j, err, errlen) < 0)
        return -1;
    json_t *state = json_object_get(j, "State");
    res->exit_code = (int)json_integer_value(json_object_get(state, "ExitCode"));
    res->oom_killed |= json_is_true(json_object_get(state, "OOMKilled"));
    int64_t started = rfc3339_ms(json_string_value(json_object_get(state, "StartedAt")));
    int64_t finished = rfc3339_ms(json_string_value(json_object_get(state, "FinishedAt")));
    if (started > 0 && finished >= started)
        res->wall_ms = (long)(finished - started);
    json_decref(j);
    if (res->exit_code > 128 && res->exit_code <= 128 + 64)
        res->signal = res->exit_code - 128;
    return 0;
}

/* Kill the container (SIGKILL); 409: it stopped by itself in the meantime. */
static int kill_container(docker_client *dc, const char *id, char *err, size_t errlen)
{
    cleanup_free char *path = xasprintf("/containers/%s/kill", id);
    return call(dc, "POST", path, NULL, 204, 409, "cannot kill the container", NULL, err, errlen);
}

/* Follow the attached output until it closes or the wall-clock limit passes; kill the
 * container at the limit or when the output goes over the cap. Then wait for its end (a
 * program that closed its output still has until the deadline). */
static int follow(docker_client *dc, const char *id, int64_t deadline, step_result *res, char *err,
                  size_t errlen)
{
    docker_stream_end how;
    if (docker_stream_pump(dc, deadline, &how, err, errlen) < 0)
        return -1;
    if (how != DOCKER_STREAM_EOF) {
        docker_stream_close(dc);
        if (how == DOCKER_STREAM_DEADLINE)
            res->timed_out = true;
        else
            res->output_limited = true;
        if (kill_container(dc, id, err, errlen) < 0)
            return -1;
    }
    cleanup_free char *wait = xasprintf("/containers/%s/wait", id);
    docker_response wres;
    bool late = false;
    int64_t until = res->timed_out || res->output_limited ? now_mono_ms() + 60000 : deadline;
    if (docker_call_until(dc, "POST", wait, until, &wres, &late, err, errlen) < 0) {
        if (!late || res->timed_out || res->output_limited)
            return -1;
        res->timed_out = true; /* output closed, program still running at the deadline */
        if (kill_container(dc, id, err, errlen) < 0)
            return -1;
        return call(dc, "POST", wait, NULL, 200, 0, "cannot wait for the container", NULL, err,
                    errlen);
    }
    if (wres.status != 200)
        return http_fail(&wres, "cannot wait for the container", err, errlen);
    docker_response_clear(&wres);
    return 0;
}

/* Attach to, start and follow the created container id to its end; exit status into res. */
static int run_container(docker_client *dc, const char *id, const exec_limits *lim, docker_mux *mux,
                         step_result *res, char *err, size_t errlen)
{
    cleanup_free char *attach = xasprintf("/containers/%s/attach?stream=1&stdout=1&stderr=1", id);
    cleanup_free char *start = xasprintf("/containers/%s/start", id);
    docker_response ares;
    if (docker_stream_open(dc, attach, mux_sink, mux, ATTACH_TIMEOUT_MS, &ares, err, errlen) < 0)
        return -1;
    if (ares.status != 200)
        return http_fail(&ares, "cannot attach to the container", err, errlen);
    int64_t t0 = now_mono_ms();
    if (call(dc, "POST", start, NULL, 204, 0, "cannot start the container", NULL, err, errlen) < 0)
        return -1;
    if (follow(dc, id, now_mono_ms() + lim->timeout_ms, res, err, errlen) < 0)
        return -1;
    res->wall_ms = (long)(now_mono_ms() - t0); /* replaced by the engine's times when known */
    return inspect(dc, id, res, err, errlen);
}

/* A session step's stdin: the file at path (bound read-only into the step) holding data; none
 * when len is 0. The last step's is removed first. */
static int session_stdin(const char *path, const char *data, size_t len, char *err, size_t errlen)
{
    if (unlink(path) < 0 && errno != ENOENT) {
        snprintf(err, errlen, "cannot remove %s: %s", path, strerror(errno));
        return -1;
    }
    if (len == 0)
        return 0;
    cleanup_fd int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 || write_all(fd, data, len) < 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int docker_run(sandbox *sb, char *const argv[], const char *stdin_data, size_t stdin_len,
                      const exec_limits *lim, step_result *res, char *err, size_t errlen)
{
    *res = (step_result){0};
    backend *be = sb->be;
    unsigned n = ++sb->steps;
    char suffix[16];
    snprintf(suffix, sizeof suffix, "-%u", n);
    cleanup_free char *name = name_of(be->worker_id, sb->job_id, suffix);
    cleanup_free char *cg_name = step_cgroup(be->worker_id, sb->id, n);
    cleanup_free char *cg_rel = xasprintf(CGROUP_TOP "/%s", cg_name);
    cleanup_free char *cg_parent = be->cgroups ? xasprintf("/%s", cg_rel) : NULL;
    cleanup_free char *id = NULL;

    if (sb->stdin_path) { /* a session's step: its stdin file made afresh, or none */
        if (session_stdin(sb->stdin_path, stdin_data, stdin_len, err, errlen) < 0)
            return -1;
    } else if (stdin_len > 0) {
        docker_tar t = {0};
        docker_tar_add(&t, DOCKER_STDIN_NAME, stdin_data, stdin_len, FILE_MODE, be->uid, be->uid);
        if (put_archive(be->client, sb->holder, &t, err, errlen) < 0)
            return -1;
    }
    const sandbox_cpu_view *view = cpu_view(be, lim->cpus, err, errlen);
    if (!view)
        return -1;
    cleanup_free char *view_files =
        be->files && !be->gvisor ? xasprintf("%s/cpu-view/%d", be->files, view->n) : NULL;
    docker_step_params p = {
        .image = sb->image,
        .argv = argv,
        .env = sb->env,
        .stdin_file = stdin_len > 0 && !sb->stdin_path,
        .stdin_path = stdin_len > 0 ? sb->stdin_path : NULL,
        .volume = sb->volume,
        .workspace_dir = sb->workspace,
        .runtime = be->c->docker_runtime,
        .gvisor = be->gvisor,
        .cgroup_parent = cg_parent,
        .worker_id = be->worker_id,
        .job_id = sb->job_id,
        .uid = be->uid,
        .memory_mb = lim->memory_mb,
        .pids = lim->pids,
        .host_pids = lim->pids + (be->gvisor ? GVISOR_TASKS : 0),
        .cpus = lim->cpus,
        .cpu_time_ms = lim->cpu_time_ms,
        .cpus_view = view,
        .cpuset = !be->gvisor || be->cgroups || be->cg.v2,
        .cpus_dir = view_files,
        .init = be->files && be->init[0] ? be->init : NULL,
        .tmp_mb = sb->tmp_mb,
    };
    docker_mux mux = {.cap = lim->output_limit};
    /* cgroup v1: the step's parent cgroup with its parent's cpuset, made here (exclusively):
     * gVisor does not fill it and could not set the step's cpuset below an empty one */
    int rc = be->cgroups ? cgroup_limits_cpuset_parent(&be->cg, cg_rel, err, errlen) : 0;
    if (rc == 0)
        rc = create_container(be->client, name, sb->image, docker_spec_step(&p), &id, err, errlen);
    if (rc == 0)
        rc = run_container(be->client, id, lim, &mux, res, err, errlen);
    docker_stream_close(be->client);
    if (id)
        remove_container(be->client, id);
    if (be->cgroups) { /* the container's cgroup is gone now; its parent kept the totals */
        cgroup_stats cs;
        if (rc == 0 && cgroup_read_stats(&be->cg, cg_rel, &cs) == 0) {
            res->cpu_ms = cs.cpu_ms;
            res->memory_kb = cs.memory_kb;
            res->oom_killed |= cs.oom;
        }
        cgroup_remove_matching(&be->cg, CGROUP_TOP, same_name, cg_name);
    }
    if (rc == 0) {
        if (res->signal == SIGKILL && !res->timed_out && !res->output_limited &&
            res->memory_kb >= (long)lim->memory_mb * 1024 * 95 / 100)
            res->oom_killed = true; /* runtimes that do not report OOM kills (gVisor) */
        res->out = mux.out ? steal_pointer(&mux.out) : xstrdup("");
        res->out_len = mux.out_len;
        res->err = mux.err ? steal_pointer(&mux.err) : xstrdup("");
        res->err_len = mux.err_len;
    }
    docker_mux_clear(&mux);
    return rc;
}

/* --- sessions --------------------------------------------------------------------------- */

/* A session's sandbox: its directory and its workspace tmpfs on the host, which every run's
 * step containers bind. Only when the engine sees our files (be->files): a remote engine, or a
 * worker in a container of its own, cannot bind them, and the session is refused. */
/* Sessions need the engine to bind this worker's workspace directories. */
static const char *docker_sessions_refused(backend *be)
{
    if (be->files)
        return NULL;
    if (!be->refused)
        be->refused = xasprintf(
            "the docker backend hosts sessions only when the Docker engine sees this worker's "
            "files (an engine on this host at a unix socket, the worker not in a container of "
            "its own); the engine at %s does not: run session-hosting workers with EXECUTOR=oci",
            be->c->docker_host);
    return be->refused;
}

static int docker_session_open(backend *be, const language *lang, int memory_mb,
                               const char *session_id, sandbox **out, char *err, size_t errlen)
{
    (void)memory_mb; /* each step has its run's limits, as a job's step */
    *out = NULL;
    if (!be->files) { /* sessions_refused says so: no place is offered */
        snprintf(err, errlen, "%s", docker_sessions_refused(be));
        return -1;
    }
    cleanup_ptr(sandbox) sandbox *sb = xcalloc(1, sizeof *sb);
    sb->be = be;
    sb->job_id = xasprintf("S%s", session_id);
    random_hex(sb->id, (sizeof sb->id - 1) / 2);
    sb->base = name_of(be->worker_id, sb->job_id, "");
    sb->image = xasprintf("code-runner/%s:latest", lang->image);
    sb->env = lang->env;
    sb->tmp_mb = be->c->workspace_mb;
    cleanup_free char *name = sanitize(xstrdup(sb->job_id));
    cleanup_free char *dir = xasprintf("%s/%s", be->files, name);
    remove_tree(dir); /* whatever an earlier attempt left */
    if (mkdir(dir, 0711) < 0) {
        snprintf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
        return -1;
    }
    sb->dir = steal_pointer(&dir);
    sb->workspace = xasprintf("%s/ws", sb->dir);
    cleanup_free char *in = xasprintf("%s/in", sb->dir);
    sb->stdin_path = xasprintf("%s/stdin", in);
    if (mkdir(in, 0711) < 0) {
        snprintf(err, errlen, "mkdir %s: %s", in, strerror(errno));
        return -1;
    }
    if (fs_mount_workspace(sb->workspace, be->c->workspace_mb, be->uid, err, errlen) < 0)
        return -1;
    if (!engine_sees(be->c->docker_host, sb->workspace)) { /* the mount must reach the engine */
        snprintf(err, errlen,
                 "the Docker engine at %s does not see the session's workspace mount %s (the "
                 "worker runs in a mount namespace of its own): run session-hosting workers "
                 "with EXECUTOR=oci",
                 be->c->docker_host, sb->workspace);
        return -1;
    }
    *out = steal_pointer(&sb);
    return 0;
}

/* The prefix of its runs' containers' names, cr-docker-<worker>-S<session>. */
static const char *docker_session_name(const sandbox *sb)
{
    return sb->base;
}

/* Nothing of a session runs between its runs: its workspace is a mount of this process's. */
static bool docker_session_alive(sandbox *sb)
{
    (void)sb;
    return true;
}

static int docker_file_put(sandbox *sb, const char *path, const char *data, size_t len,
                           exec_file_error *e)
{
    return wsfiles_put(sb->workspace, path, data, len, sb->be->uid, e);
}

static int docker_file_get(sandbox *sb, const char *path, size_t max, char **data, size_t *len,
                           exec_file_error *e)
{
    return wsfiles_get(sb->workspace, path, max, data, len, e);
}

static int docker_file_list(sandbox *sb, json_t **files, exec_file_error *e)
{
    return wsfiles_list(sb->workspace, files, e);
}

/* The engine has code-runner/<image>:latest (GET /images/{name}/json answers 200). */
static bool docker_has_image(backend *be, const language *lang)
{
    char err[256];
    cleanup_free char *path = xasprintf("/images/code-runner/%s:latest/json", lang->image);
    docker_response res;
    if (docker_call(be->client, "GET", path, NULL, &res, err, sizeof err) < 0)
        return false;
    bool ok = res.status == 200;
    docker_response_clear(&res);
    return ok;
}

const executor executor_docker = {
    .name = "docker",
    .init = docker_init,
    .cleanup_stale = docker_cleanup_stale,
    .prepare = docker_prepare,
    .run = docker_run,
    .destroy = docker_destroy,
    .shutdown = docker_shutdown,
    .sessions_refused = docker_sessions_refused,
    .session_open = docker_session_open,
    .session_name = docker_session_name,
    .session_alive = docker_session_alive,
    .file_put = docker_file_put,
    .file_get = docker_file_get,
    .file_list = docker_file_list,
    .has_image = docker_has_image,
};
