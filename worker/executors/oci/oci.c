/* The "oci" executor backend: each step is a fresh container run by an OCI runtime CLI (runc,
 * crun, runsc, kata-runtime) from a bundle we write, no daemon; or, with OCI_RUNTIME=builtin,
 * started by the worker itself (builtin/launch.h) from the same inputs. Names, so that a dead
 * worker's leftovers can be found again by cleanup_stale:
 *   container  cr-<worker>-<id>-<n>            cgroup  /code-runner/<container>
 *              (id: 128 random bits, new for every attempt at a job, so no two containers ever
 *              share a name or a cgroup: a runtime's state or a cgroup left by a worker killed
 *              mid-create never clashes with a retry; the builtin runtime makes the cgroup
 *              exclusively, and fails rather than join one that exists)
 *   ahead      cr-<worker>-warm<id>-0          a container started ahead of the next job
 *   job dir    STATE_DIR/<worker>/<job>/       workspace tmpfs ws/, bundles s<n>/,
 *                                              status tmpfs st/ (cr-init's report, st/<n>)
 *   CPU view   STATE_DIR/<worker>/cpu-view/<n>/  what a step on n CPUs sees of them (runc,
 *                                              crun, kata bind it; '-': no job dir's name)
 * Every container runs the program under cr-init (worker/init/cr_init.c), found next to the
 * running binary.
 * A session (session_open) is a sandbox like a job's that lives until destroy, with an empty
 * workspace and the directory STATE_DIR/<worker>/S<session>/; with the builtin runtime its
 * container is started once, held by cr-init --session (builtin/hold.h), cgroup
 *   /code-runner/cr-<worker>-S<session8><id>-s, each run in its sub-cgroup r<n>;
 * with another runtime each step of each run is a container of its own, as a job's. */
#include "oci.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "worker/executors/oci/builtin/hold.h"
#include "worker/executors/oci/builtin/launch.h"
#include "worker/executors/oci/runtime.h"
#include "worker/executors/oci/spec.h"
#include "worker/executors/oci/step.h"
#include "worker/sandbox/cgroup.h"
#include "worker/sandbox/cpus.h"
#include "worker/sandbox/cgroup_limits.h"
#include "worker/sandbox/fs.h"
#include "worker/sandbox/policy.h"
#include "worker/sandbox/wsfiles.h"

#define CGROUP_PARENT "code-runner"
#define NAME_MAX_LEN 64
#define OCI_ID_HEX 32       /* hex digits of a container's random id: 128 bits */
#define LIST_TRIES 20       /* "<rt> list" attempts in cleanup_stale */
#define LIST_RETRY_US 50000 /* pause between them */

/* The oci backend of one worker process: made by oci_init, used by every job of the process
 * one at a time, freed by oci_shutdown (which discards the container started ahead). */
struct backend {
    const cfg *c;              /* borrowed configuration; outlives the backend */
    char worker[NAME_MAX_LEN]; /* sanitized worker id: every container and directory of the
                                * process carries it */
    char init[PATH_MAX];       /* host path of cr-init, beside the running binary */
    uid_t uid;                 /* the slot's sandbox user (uid = gid): owns the workspaces */
    int slot;                  /* which share of the worker's CPUs its steps run on */
    cgroup_host cg;            /* the host's cgroup layout */
    sandbox_cpus_host cpus;    /* the worker's CPUs, the host's CPU files (cpus.h) */
    sandbox_cpu_view *views;   /* owned array: views[n - 1] the view of a step on n CPUs (n
                                * up to cpus.n), made (and for a runtime that binds them,
                                * written) on first use; .list NULL until then */
    launcher *launcher;        /* owned; the builtin runtime (OCI_RUNTIME=builtin), else NULL */
    /* The container started ahead for the next job (oci_prestart, builtin runtime): at most
     * one, in the image of the job before; the next job in that image adopts it with its
     * directory, any other job discards it. */
    struct {
        launch_warm *w; /* owned; NULL: none */
        char *rootfs;   /* owned; the image rootfs it binds, symlinks resolved */
        char *dir;      /* owned; STATE_DIR/<worker>/warm<id>: ws/ and st/ mounted, st/0 made */
        int ncpus;      /* the CPUs it runs on and sees: its first step's must be as many */
    } ahead;
};

/* One job's sandbox. Made by oci_prepare (job dir + mounted workspace holding the files),
 * used by oci_run once per step (a bundle dir and a container each, both gone when the step
 * returns), freed by oci_destroy (workspace unmounted, job dir removed). */
struct sandbox {
    backend *be;             /* borrowed; the backend that made it (outlives it) */
    char job[NAME_MAX_LEN];  /* sanitized job id */
    char *dir;               /* owned; STATE_DIR/<worker>/<job> */
    char *workspace;         /* owned; <dir>/ws, a tmpfs while the sandbox lives */
    char *status_dir;        /* owned; <dir>/st, a small tmpfs holding each step's status file */
    char *rootfs;            /* owned; IMAGES_DIR/<image>/rootfs, symlinks resolved */
    char *const *env;        /* borrowed from the language (outlives the sandbox): step env */
    char id[OCI_ID_HEX + 1]; /* random, new for every prepare: keeps container ids unique */
    int steps;               /* steps run so far; numbers the next container */
    launch_warm *warm;       /* owned until step 0 takes it: the container started ahead for
                              * this job's first step (builtin runtime), or NULL */
    hold *hold;              /* owned; a session's held container (builtin runtime), or NULL */
    char *name;              /* owned; a session's container name (its container_id), or NULL */
    char *spare;             /* owned; held: the next run's cgroup, made ahead, or NULL */
    char *spent;             /* owned; held: the last run's cgroup, removed by session_tidy */
};

static bool is_builtin(const cfg *c)
{
    return strcmp(c->oci_runtime, LAUNCH_RUNTIME_NAME) == 0;
}

/* Container ids may hold [A-Za-z0-9_.]; '-' separates the parts, so it is replaced too. */
static void sanitize(const char *in, char out[NAME_MAX_LEN])
{
    size_t i = 0;
    for (; in[i] && i < NAME_MAX_LEN - 1; i++) {
        unsigned char ch = (unsigned char)in[i];
        out[i] = (ch < 128 && (ch == '_' || ch == '.' || (ch >= '0' && ch <= '9') ||
                               ((ch | 32) >= 'a' && (ch | 32) <= 'z')))
                     ? (char)ch
                     : '_';
    }
    out[i] = '\0';
    if (i == 0 || strcmp(out, ".") == 0 || strcmp(out, "..") == 0)
        snprintf(out, NAME_MAX_LEN, "_");
}

/* True when name is a container (or cgroup) of the sanitized worker arg: cr-<worker>-<job>-<n>. */
static bool is_workers(const char *name, const void *arg)
{
    const char *worker = arg;
    size_t wl = strlen(worker);
    if (strncmp(name, "cr-", 3) != 0 || strncmp(name + 3, worker, wl) != 0 || name[3 + wl] != '-')
        return false;
    const char *rest = name + 4 + wl, *dash = strchr(rest, '-');
    return dash && dash != rest && dash[1] && !strchr(dash + 1, '-');
}

static int make_dir(const char *path, mode_t mode, char *err, size_t errlen)
{
    if (mkdir(path, mode) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "mkdir %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static void oci_shutdown(backend *be);
CLEANUP_FUNC(backend, oci_shutdown)

static int oci_init(const cfg *c, const char *worker_id, int slot, backend **out, char *err,
                    size_t errlen)
{
    *out = NULL;
    /* Containers' init processes become our children when the runtime CLI exits, so that we
     * can wait for them and read their exit status. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
        snprintf(err, errlen, "PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
        return -1;
    }
    signal(SIGPIPE, SIG_IGN); /* a program closing its stdin must not kill the worker */
    cleanup_ptr(backend) backend *be = xcalloc(1, sizeof *be);
    be->c = c;
    be->uid = sandbox_uid(c, slot);
    be->slot = slot;
    cgroup_host_probe(&be->cg);
    sandbox_cpus_probe(&be->cpus);
    be->views = xcalloc((size_t)be->cpus.n, sizeof *be->views);
    if (sandbox_init_path(be->init, err, errlen) < 0)
        return -1;
    sanitize(worker_id, be->worker);
    cleanup_free char *mine = xasprintf("%s/%s", c->state_dir, be->worker);
    if (make_dir(c->state_dir, 0711, err, errlen) < 0 || make_dir(mine, 0700, err, errlen) < 0)
        return -1;
    const char *version[] = {"--version", NULL};
    if (is_builtin(c) ? launch_init(&be->cg, be->init, &be->launcher, err, errlen) < 0
                      : oci_runtime_call(c->oci_runtime, version, false, NULL, err, errlen) < 0)
        return -1;
    struct stat st;
    if (stat(c->images_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "IMAGES_DIR %s: not a directory (run images/build.sh)",
                 c->images_dir);
        return -1;
    }
    *out = steal_pointer(&be);
    return 0;
}

/* Delete every container of worker w the runtime still knows. "list" fails when a container
 * it found is deleted meanwhile (runc: "stat /run/runc/<id>: no such file"), as happens
 * whenever other worker processes finish steps: it is tried again. */
static void delete_containers(const cfg *c, const char *w)
{
    char err[512];
    cleanup_free char *list = NULL;
    const char *args[] = {"list", "--quiet", NULL};
    int tries = 0;
    while (oci_runtime_call(c->oci_runtime, args, false, &list, err, sizeof err) < 0) {
        free(steal_pointer(&list));
        if (++tries == LIST_TRIES) {
            log_warn("cleanup: %s", err);
            return;
        }
        usleep(LIST_RETRY_US);
    }
    char *save = NULL;
    for (char *id = strtok_r(list, "\n", &save); id; id = strtok_r(NULL, "\n", &save)) {
        if (!is_workers(id, w))
            continue;
        const char *del[] = {"delete", "--force", id, NULL};
        if (oci_runtime_call(c->oci_runtime, del, false, NULL, err, sizeof err) < 0)
            log_warn("cleanup: %s", err);
        else
            log_info("cleanup: deleted stale container %s", id);
    }
}

/* A runtime killed while creating a container leaves its state directory without a state
 * file: "list" does not show it and "delete" says it does not exist. Remove such directories of
 * worker w from the runtime's default state root (/run/<runtime name>). */
static void remove_orphan_states(const cfg *c, const char *w)
{
    const char *base = strrchr(c->oci_runtime, '/');
    cleanup_free char *root = xasprintf("/run/%s", base ? base + 1 : c->oci_runtime);
    DIR *d = opendir(root);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_workers(e->d_name, w))
            continue;
        cleanup_free char *state = xasprintf("%s/%s/state.json", root, e->d_name);
        if (access(state, F_OK) == 0)
            continue; /* a real container: delete_containers handles it */
        cleanup_free char *dir = xasprintf("%s/%s", root, e->d_name);
        fs_remove_tree(dir);
        log_info("cleanup: removed orphan runtime state %s", dir);
    }
    closedir(d);
}

static void oci_cleanup_stale(const cfg *c, const char *worker_id)
{
    char w[NAME_MAX_LEN];
    sanitize(worker_id, w);
    if (!is_builtin(c)) { /* the builtin runtime keeps no state: its cgroups are all there is */
        delete_containers(c, w);
        remove_orphan_states(c, w);
    }
    cgroup_host cg;
    cgroup_host_probe(&cg);
    cgroup_remove_matching(&cg, CGROUP_PARENT, is_workers, w);
    cgroup_host_clear(&cg);
    cleanup_free char *mine = xasprintf("%s/%s", c->state_dir, w);
    fs_remove_tree(mine); /* unmounts stale workspaces first */
}

static void ahead_discard(backend *be)
{
    launch_warm_discard(be->ahead.w);
    if (be->ahead.dir)
        fs_remove_tree(be->ahead.dir);
    free(be->ahead.rootfs);
    free(be->ahead.dir);
    be->ahead.w = NULL, be->ahead.rootfs = be->ahead.dir = NULL;
}

/* STATE_DIR/<worker>/cpu-view, or one CPU count's directory below it (n > 0). Caller frees. */
static char *view_dir(const backend *be, int n)
{
    return n > 0 ? xasprintf("%s/%s/cpu-view/%d", be->c->state_dir, be->worker, n)
                 : xasprintf("%s/%s/cpu-view", be->c->state_dir, be->worker);
}

/* Whether the runtime binds the CPU view's files from the host: runc, crun, kata; gVisor has
 * its own /proc and /sys, which show the cpuset's CPUs; the builtin runtime writes them in the
 * container. */
static bool binds_view(const backend *be)
{
    return !be->launcher && !oci_runtime_is_gvisor(be->c->oci_runtime);
}

/* The view of a step with a quota of cores (borrowed from be), made on first use; NULL (err)
 * when its files cannot be written. */
static const sandbox_cpu_view *cpu_view(backend *be, double cores, char *err, size_t errlen)
{
    int n = sandbox_cpus_count(&be->cpus, cores);
    sandbox_cpu_view *v = &be->views[n - 1];
    if (v->list)
        return v;
    sandbox_cpus_view(&be->cpus, be->slot, cores, v);
    if (binds_view(be)) {
        cleanup_free char *top = view_dir(be, 0), *dir = view_dir(be, n);
        fs_remove_tree(dir); /* a dead process's, with the same worker id */
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

static void oci_shutdown(backend *be)
{
    if (!be)
        return;
    ahead_discard(be);
    launch_free(be->launcher);
    cgroup_host_clear(&be->cg);
    if (binds_view(be)) {
        cleanup_free char *dir = view_dir(be, 0);
        fs_remove_tree(dir);
    }
    for (int i = 0; be->views && i < be->cpus.n; i++)
        sandbox_cpus_view_clear(&be->views[i]);
    free(be->views);
    sandbox_cpus_clear(&be->cpus);
    free(be);
}

/* The CPU quota of a job's first step in lang: its compile step's, or its run's. */
static double first_step_cores(const language *lang)
{
    return lang->compile_argv ? lang->compile.cpus : lang->run.cpus;
}

static void oci_destroy(sandbox *sb)
{
    if (!sb)
        return;
    hold_stop(sb->hold); /* its cgroup tree, spare and spent included, goes with it */
    free(sb->name);
    free(sb->spare);
    free(sb->spent);
    launch_warm_discard(sb->warm);
    if (sb->dir)
        fs_remove_tree(sb->dir);
    free(sb->dir);
    free(sb->workspace);
    free(sb->status_dir);
    free(sb->rootfs);
    free(sb);
}
CLEANUP_FUNC(sandbox, oci_destroy)

/* The workspace: a fresh tmpfs (mounted already when adopted from a container started ahead)
 * holding the source and the extra files. */
static int fill_workspace(sandbox *sb, const language *lang, const job_request *req, char *err,
                          size_t errlen)
{
    if (!sb->warm &&
        fs_mount_workspace(sb->workspace, sb->be->c->workspace_mb, sb->be->uid, err, errlen) < 0)
        return -1;
    cleanup_fd int fd = open(sb->workspace, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "open %s: %s", sb->workspace, strerror(errno));
        return -1;
    }
    if (fs_write_new(fd, lang->source_file, req->code, req->code_len, sb->be->uid, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < req->nfiles; i++)
        if (fs_write_new(fd, req->files[i].name, req->files[i].content, req->files[i].len,
                         sb->be->uid, err, errlen) < 0)
            return -1;
    return 0;
}

/* A sandbox of be for lang, named after id (a job's or a session's), with a new random id and
 * the image's rootfs resolved; NULL (err) when the image is not built. Runtimes want the rootfs
 * without symlinks; images are switched by symlink (build.sh): resolving it here also pins the
 * sandbox to one version of the image. */
static sandbox *sandbox_new(backend *be, const language *lang, const char *id, char *err,
                            size_t errlen)
{
    cleanup_ptr(sandbox) sandbox *sb = xcalloc(1, sizeof *sb);
    sb->be = be;
    sb->env = lang->env;
    sanitize(id, sb->job);
    random_hex(sb->id, OCI_ID_HEX / 2);
    cleanup_free char *image = xasprintf("%s/%s/rootfs", be->c->images_dir, lang->image);
    sb->rootfs = realpath(image, NULL);
    struct stat st;
    if (!sb->rootfs || stat(sb->rootfs, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "image %s is not built (%s missing)", lang->image, image);
        return NULL;
    }
    return steal_pointer(&sb);
}

/* sb's directory STATE_DIR/<worker>/<prefix><name>, made afresh (whatever an earlier attempt
 * left is removed first), with the paths of its workspace and status directory; 0 or -1 (err). */
static int make_sandbox_dir(sandbox *sb, const char *prefix, char *err, size_t errlen)
{
    const cfg *c = sb->be->c;
    cleanup_free char *mine = xasprintf("%s/%s", c->state_dir, sb->be->worker);
    sb->dir = xasprintf("%s/%s%s", mine, prefix, sb->job);
    sb->workspace = xasprintf("%s/ws", sb->dir);
    sb->status_dir = xasprintf("%s/st", sb->dir);
    fs_remove_tree(sb->dir);
    if (make_dir(c->state_dir, 0711, err, errlen) < 0 || make_dir(mine, 0700, err, errlen) < 0 ||
        mkdir(sb->dir, 0711) < 0) {
        if (!*err)
            snprintf(err, errlen, "mkdir %s: %s", sb->dir, strerror(errno));
        free(steal_pointer(&sb->dir)); /* not ours to remove */
        return -1;
    }
    return 0;
}

static int oci_prepare(backend *be, const language *lang, const job_request *req,
                       const char *job_id, sandbox **out, char *err, size_t errlen)
{
    *out = NULL;
    cleanup_ptr(sandbox) sandbox *sb = sandbox_new(be, lang, job_id, err, errlen);
    if (!sb)
        return -1;
    if (be->ahead.w && strcmp(be->ahead.rootfs, sb->rootfs) == 0 &&
        be->ahead.ncpus == sandbox_cpus_count(&be->cpus, first_step_cores(lang))) {
        /* adopt the container started ahead, with its directory and mounts */
        sb->warm = steal_pointer(&be->ahead.w);
        sb->dir = steal_pointer(&be->ahead.dir);
        sb->workspace = xasprintf("%s/ws", sb->dir);
        sb->status_dir = xasprintf("%s/st", sb->dir);
        ahead_discard(be);
        if (fill_workspace(sb, lang, req, err, errlen) < 0)
            return -1;
        *out = steal_pointer(&sb);
        return 0;
    }
    ahead_discard(be); /* another image or CPU count (or none): it would never be used */
    if (make_sandbox_dir(sb, "", err, errlen) < 0)
        return -1;
    if (fill_workspace(sb, lang, req, err, errlen) < 0 ||
        fs_mount_workspace(sb->status_dir, 1, 0, err, errlen) < 0)
        return -1;
    *out = steal_pointer(&sb);
    return 0;
}

/* A step of a session's run in its held container, in a sub-cgroup with the step's limits:
 * the one made ahead by oci_session_tidy when there is one. The cgroup is left behind (spent)
 * for oci_session_tidy to remove once the answer is out. */
static int run_held(sandbox *sb, char *const argv[], const char *stdin_data, size_t stdin_len,
                    const exec_limits *lim, step_result *res, char *err, size_t errlen)
{
    const backend *be = sb->be;
    cgroup_limits cl = {.memory_bytes = (long long)lim->memory_mb * 1024 * 1024,
                        .pids = lim->pids,
                        .cpu_quota_us = sandbox_cpu_quota_us(lim->cpus),
                        .cpu_period_us = SANDBOX_CPU_PERIOD_US};
    cleanup_free char *rel = steal_pointer(&sb->spare);
    if (rel && cgroup_limits_set(&be->cg, rel, &cl, err, errlen) < 0) {
        cgroup_limits_remove(&be->cg, rel);
        free(steal_pointer(&rel));
        err[0] = '\0';
    }
    if (!rel) {
        rel = xasprintf("%s/r%d", hold_cgroup(sb->hold), sb->steps++);
        if (cgroup_limits_create(&be->cg, rel, &cl, err, errlen) < 0)
            return -1;
    }
    if (sb->spent) { /* two steps in one run (compile, run): the first one's goes now */
        cgroup_limits_remove(&be->cg, sb->spent);
        free(steal_pointer(&sb->spent));
    }
    oci_spec_params p = {.argv = argv,
                         .env = sb->env,
                         .pids = lim->pids,
                         .tmp_mb = be->c->workspace_mb,
                         .cpu_time_ms = lim->cpu_time_ms};
    launch_params lp = {.spec = &p, .cgroup_rel = rel};
    oci_step st = {.runtime = be->c->oci_runtime,
                   .id = sb->name,
                   .cgroup_rel = rel,
                   .cg = &be->cg,
                   .stdin_data = stdin_data,
                   .stdin_len = stdin_data ? stdin_len : 0,
                   .timeout_ms = lim->timeout_ms,
                   .cpu_time_ms = lim->cpus > 1 ? lim->cpu_time_ms : 0,
                   .output_limit = lim->output_limit,
                   .launcher = be->launcher,
                   .launch = &lp,
                   .hold = sb->hold,
                   .keep_cgroup = true};
    int rc = oci_step_run(&st, res, err, errlen);
    sb->spent = steal_pointer(&rel);
    return rc;
}

static int oci_run(sandbox *sb, char *const argv[], const char *stdin_data, size_t stdin_len,
                   const exec_limits *lim, step_result *res, char *err, size_t errlen)
{
    if (sb->hold)
        return run_held(sb, argv, stdin_data, stdin_len, lim, res, err, errlen);
    backend *be = sb->be;
    int n = sb->steps++;
    const sandbox_cpu_view *view = cpu_view(be, lim->cpus, err, errlen);
    if (!view)
        return -1;
    cleanup_free char *view_files = binds_view(be) ? view_dir(be, view->n) : NULL;
    /* step 0 only: handed to oci_step_run, which consumes it */
    cleanup_ptr(launch_warm) launch_warm *warm = steal_pointer(&sb->warm);
    cleanup_free char *cgroup =
        warm ? xasprintf("/%s", launch_warm_cgroup(warm))
             : xasprintf("/%s/cr-%s-%s-%d", CGROUP_PARENT, be->worker, sb->id, n);
    const char *id = strrchr(cgroup, '/') + 1;
    cleanup_free char *bundle = xasprintf("%s/s%d", sb->dir, n);
    char name[16];
    snprintf(name, sizeof name, "%d", n);
    cleanup_free char *status = xasprintf("%s/%s", sb->status_dir, name);
    bool builtin = be->launcher != NULL;
    if (!builtin && mkdir(bundle, 0700) < 0) {
        snprintf(err, errlen, "mkdir %s: %s", bundle, strerror(errno));
        return -1;
    }
    cleanup_fd int st_fd = open(sb->status_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int rc = -1;
    if (st_fd < 0)
        snprintf(err, errlen, "open %s: %s", sb->status_dir, strerror(errno));
    /* a container started ahead has its status file bound already */
    else if (warm || fs_write_new(st_fd, name, "", 0, be->uid, err, errlen) == 0) {
        oci_spec_params p = {.argv = argv,
                             .env = sb->env,
                             .init = be->init,
                             .status = status,
                             .guest_kernel = oci_runtime_is_gvisor(be->c->oci_runtime),
                             .rootfs = sb->rootfs,
                             .workspace = sb->workspace,
                             .cgroup_path = cgroup,
                             .uid = be->uid,
                             .memory_mb = lim->memory_mb,
                             .pids = lim->pids,
                             .cpus = lim->cpus,
                             .cpu_time_ms = lim->cpu_time_ms,
                             .cpus_view = view,
                             .cpus_dir = view_files,
                             .tmp_mb = be->c->workspace_mb};
        launch_params lp = {.spec = &p, .cgroup_rel = cgroup + 1};
        rc = builtin ? 0 : oci_spec_write(bundle, &p, err, errlen);
        if (rc == 0) {
            oci_step st = {.runtime = be->c->oci_runtime,
                           .id = id,
                           .bundle = bundle,
                           .cgroup_rel = cgroup + 1,
                           .cg = &be->cg,
                           .stdin_data = stdin_data,
                           .stdin_len = stdin_data ? stdin_len : 0,
                           .timeout_ms = lim->timeout_ms,
                           .cpu_time_ms = lim->cpus > 1 ? lim->cpu_time_ms : 0,
                           .output_limit = lim->output_limit,
                           .status_path = status,
                           .launcher = be->launcher,
                           .launch = builtin ? &lp : NULL,
                           .warm = steal_pointer(&warm)};
            rc = oci_step_run(&st, res, err, errlen);
        }
        unlinkat(st_fd, name, 0);
    }
    if (!builtin)
        fs_remove_tree(bundle);
    return rc;
}

/* Make be->ahead: the directory with its mounts, then the container; -1 (err, or errno) with
 * whatever was made left in be->ahead for ahead_discard. */
static int start_ahead(backend *be, const language *lang, char *err, size_t errlen)
{
    const cfg *c = be->c;
    const sandbox_cpu_view *view = cpu_view(be, first_step_cores(lang), err, errlen);
    if (!view)
        return -1;
    be->ahead.ncpus = view->n;
    cleanup_free char *image = xasprintf("%s/%s/rootfs", c->images_dir, lang->image);
    char id[OCI_ID_HEX + 1];
    random_hex(id, OCI_ID_HEX / 2);
    be->ahead.rootfs = realpath(image, NULL);
    be->ahead.dir = xasprintf("%s/%s/warm%s", c->state_dir, be->worker, id);
    cleanup_free char *ws = xasprintf("%s/ws", be->ahead.dir);
    cleanup_free char *st = xasprintf("%s/st", be->ahead.dir);
    cleanup_free char *status = xasprintf("%s/0", st);
    cleanup_free char *cgroup = xasprintf("%s/cr-%s-warm%s-0", CGROUP_PARENT, be->worker, id);
    cleanup_fd int st_fd = -1;
    if (!be->ahead.rootfs || mkdir(be->ahead.dir, 0711) < 0 ||
        fs_mount_workspace(ws, c->workspace_mb, be->uid, err, errlen) < 0 ||
        fs_mount_workspace(st, 1, 0, err, errlen) < 0 ||
        (st_fd = open(st, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
        fs_write_new(st_fd, "0", "", 0, be->uid, err, errlen) < 0)
        return -1;
    oci_spec_params p = {.init = be->init,
                         .status = status,
                         .uid = be->uid,
                         .cpus_view = view,
                         .rootfs = be->ahead.rootfs,
                         .workspace = ws,
                         .tmp_mb = c->workspace_mb};
    launch_params lp = {.spec = &p, .cgroup_rel = cgroup};
    return launch_warm_start(be->launcher, &lp, &be->ahead.w, err, errlen);
}

/* Start the first container of the next job now, in the image of the job just done, so that
 * a job in the same image only has to send it the command (builtin runtime only). */
static void oci_prestart(backend *be, const language *lang)
{
    if (!be->launcher || be->ahead.w)
        return;
    char err[512] = "";
    if (start_ahead(be, lang, err, sizeof err) < 0) {
        log_warn("cannot start a container ahead for %s: %s", lang->image,
                 *err ? err : strerror(errno));
        ahead_discard(be);
    }
}

/* ---- sessions ---- */

/* A held session's own limits: the most any of its steps (compile, run) may have, since a
 * child cgroup cannot be given more than its parent (cgroup v1 refuses a larger CPU quota). */
static int session_memory_mb(const language *lang, int memory_mb)
{
    int m = memory_mb > lang->run.memory_mb ? memory_mb : lang->run.memory_mb;
    return lang->compile_argv && lang->compile.memory_mb > m ? lang->compile.memory_mb : m;
}

static int session_pids(const language *lang)
{
    return lang->compile_argv && lang->compile.pids > lang->run.pids ? lang->compile.pids
                                                                     : lang->run.pids;
}

static double session_cpus(const language *lang)
{
    return lang->compile_argv && lang->compile.cpus > lang->run.cpus ? lang->compile.cpus
                                                                     : lang->run.cpus;
}

/* A session's sandbox: the workspace, then (builtin) its held container or (other runtimes)
 * the status tmpfs its steps' containers report in. */
static int oci_session_open(backend *be, const language *lang, int memory_mb,
                            const char *session_id, sandbox **out, char *err, size_t errlen)
{
    *out = NULL;
    const cfg *c = be->c;
    cleanup_ptr(sandbox) sandbox *sb = sandbox_new(be, lang, session_id, err, errlen);
    if (!sb || make_sandbox_dir(sb, "S", err, errlen) < 0)
        return -1;
    if (fs_mount_workspace(sb->workspace, c->workspace_mb, be->uid, err, errlen) < 0)
        return -1;
    if (!be->launcher) { /* each step a container of its own, named as a job's, with its limits */
        sb->name = xasprintf("cr-%s-%s", be->worker, sb->id);
        if (fs_mount_workspace(sb->status_dir, 1, 0, err, errlen) < 0)
            return -1;
        *out = steal_pointer(&sb);
        return 0;
    }
    sb->name = xasprintf("cr-%s-S%.8s%s-s", be->worker, sb->job, sb->id);
    /* the holder reports on its socket: its status file is bound read-only, unused */
    cleanup_free char *status = xasprintf("%s/status", sb->dir);
    cleanup_fd int fd = open(status, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", status, strerror(errno));
        return -1;
    }
    cleanup_free char *cgroup = xasprintf("%s/%s", CGROUP_PARENT, sb->name);
    const sandbox_cpu_view *view = cpu_view(be, lang->run.cpus, err, errlen);
    if (!view)
        return -1;
    oci_spec_params p = {.env = sb->env,
                         .init = be->init,
                         .status = status,
                         .uid = be->uid,
                         .memory_mb = session_memory_mb(lang, memory_mb),
                         .pids = session_pids(lang),
                         .cpus = session_cpus(lang),
                         .cpus_view = view,
                         .rootfs = sb->rootfs,
                         .workspace = sb->workspace,
                         .tmp_mb = c->workspace_mb};
    launch_params lp = {.spec = &p, .cgroup_rel = cgroup};
    if (hold_start(be->launcher, &lp, &sb->hold, err, errlen) < 0)
        return -1;
    *out = steal_pointer(&sb);
    return 0;
}

static const char *oci_session_name(const sandbox *sb)
{
    return sb->name;
}

/* After a session's run was answered: remove its spent cgroup, make the next run's. */
static void oci_session_tidy(sandbox *sb)
{
    if (!sb->hold)
        return;
    const backend *be = sb->be;
    if (sb->spent) {
        cgroup_limits_remove(&be->cg, sb->spent);
        free(steal_pointer(&sb->spent));
    }
    if (!sb->spare) {
        char err[256];
        sb->spare = xasprintf("%s/r%d", hold_cgroup(sb->hold), sb->steps++);
        if (cgroup_limits_create(&be->cg, sb->spare, NULL, err, sizeof err) < 0) {
            log_warn("%s: cannot make the next run's cgroup ahead: %s", sb->name, err);
            free(steal_pointer(&sb->spare));
        }
    }
}

static bool oci_session_alive(sandbox *sb)
{
    return !sb->hold || hold_alive(sb->hold);
}

static int oci_file_put(sandbox *sb, const char *path, const char *data, size_t len,
                        exec_file_error *e)
{
    return wsfiles_put(sb->workspace, path, data, len, sb->be->uid, e);
}

static int oci_file_get(sandbox *sb, const char *path, size_t max, char **data, size_t *len,
                        exec_file_error *e)
{
    return wsfiles_get(sb->workspace, path, max, data, len, e);
}

static int oci_file_list(sandbox *sb, json_t **files, exec_file_error *e)
{
    return wsfiles_list(sb->workspace, files, e);
}

static bool oci_has_image(backend *be, const language *lang)
{
    cleanup_free char *rootfs = xasprintf("%s/%s/rootfs", be->c->images_dir, lang->image);
    struct stat st;
    return stat(rootfs, &st) == 0 && S_ISDIR(st.st_mode);
}

const executor executor_oci = {
    .name = "oci",
    .init = oci_init,
    .cleanup_stale = oci_cleanup_stale,
    .prepare = oci_prepare,
    .run = oci_run,
    .destroy = oci_destroy,
    .prestart = oci_prestart,
    .shutdown = oci_shutdown,
    .session_open = oci_session_open,
    .session_name = oci_session_name,
    .session_alive = oci_session_alive,
    .session_tidy = oci_session_tidy,
    .file_put = oci_file_put,
    .file_get = oci_file_get,
    .file_list = oci_file_list,
    .has_image = oci_has_image,
};
