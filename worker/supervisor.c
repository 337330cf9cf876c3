/* The supervisor: forks and restarts worker processes, gives back the jobs of dead ones,
 * heartbeats for the live ones, runs the reaper, and shuts down gracefully. Signals arrive
 * through a signalfd, so no work happens in a signal handler. */
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/redis_model.h"
#include "common/util.h"
#include "worker/heartbeat.h"
#include "worker/identity.h"
#include "worker/metrics_http.h"
#include "worker/reaper.h"
#include "worker/rconn.h"
#include "worker/worker_loop.h"

/* One worker process position. Made at start-up with dirty set (a previous supervisor with this
 * WORKER_ID may have died holding jobs); a fork sets pid; its death clears pid, runs the executor's
 * cleanup and sets dirty (and whether the death counts as an attempt); the reaper's requeue clears
 * dirty; then it may be forked again. */
typedef struct slot {
    char *id;              /* owned; "<WORKER_ID>-<index>", the worker process id in Redis */
    pid_t pid;             /* the running worker process, 0 when none */
    int64_t started_ms;    /* monotonic time of the last fork */
    int64_t restart_at_ms; /* monotonic time before which it is not forked again */
    int backoff_ms;        /* restart delay after the last young death, 0 after a long life */
    bool dirty;            /* its processing list may hold jobs: give them back before a fork */
    bool count_attempt;    /* the give-back counts an attempt: the process died on its own */
} slot;

enum phase {
    PHASE_RUNNING,  /* keep WORKER_CONCURRENCY children alive */
    PHASE_DRAINING, /* children told to stop; SIGKILL at kill_at_ms */
    PHASE_KILLING,  /* children SIGKILLed; waiting for them and for the give-back */
};

/* The supervisor's state; lives in supervisor_run, freed at its end (in every process). */
typedef struct supervisor {
    const cfg *c;            /* borrowed */
    const lang_table *langs; /* borrowed */
    const executor *ex;      /* borrowed */
    slot *slots;             /* owned array of c->worker_concurrency slots */
    size_t n;
    int sfd;                        /* signalfd for SIGCHLD, SIGTERM, SIGINT, SIGHUP */
    int lock_fd;                    /* holds the flock on the lock file */
    sigset_t old_mask;              /* the mask before ours, restored in children */
    rconn *rc;                      /* owned; the supervisor's own Redis connection */
    char token[IDENTITY_TOKEN_MAX]; /* our claim on {prefix}owner:<WORKER_ID> */
    int64_t *alive_ms; /* owned mapping, shared with the children: monotonic time of our last
                        * good heartbeat (Redis reachable, WORKER_ID still ours) */
    enum phase phase;
    int64_t kill_at_ms;      /* DRAINING: when the grace ends */
    int64_t next_tick_ms;    /* next heartbeat + reaper run */
    int64_t next_orphan_ms;  /* next orphan scan */
    int64_t stopped_ms;      /* when the last child was gone after a stop, 0 before */
    bool owned;              /* WORKER_ID is ours in Redis: children may run */
    bool lost;               /* another supervisor took WORKER_ID over: stop, touch nothing */
    unsigned beat_epoch;     /* rconn epoch of connected_since */
    int64_t connected_since; /* Redis's time since when our heartbeats went through without a
                              * gap (a new connection, or a Redis that stalled, restarts it) */
    int64_t last_beat;       /* Redis's time of our last heartbeat */
    bool policy_checked;     /* maxmemory-policy looked at once */
    bool leftovers_checked;  /* ids "<WORKER_ID>-<k>" with k >= n given back once */
    metrics_http *http;      /* owned; GET /metrics on METRICS_PORT, NULL when off */
} supervisor;

static void on_sigpipe(int sig)
{
    (void)sig;
}

/* Take STATE_DIR/worker-<WORKER_ID>.lock or die: one supervisor per WORKER_ID per host. */
static int take_lock(const cfg *c)
{
    if (mkdir_p(c->state_dir, 0755) < 0)
        die("STATE_DIR: cannot create %s: %s", c->state_dir, strerror(errno));
    cleanup_free char *name = xstrdup(c->worker_id);
    for (char *s = name; *s; s++)
        if (*s == '/')
            *s = '_';
    cleanup_free char *path = xasprintf("%s/worker-%s.lock", c->state_dir, name);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        die("cannot open the lock file %s: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK)
            die("another worker supervisor with WORKER_ID=%s is already running on this host "
                "(it holds %s); give each supervisor its own WORKER_ID",
                c->worker_id, path);
        die("cannot lock %s: %s", path, strerror(errno));
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    if (ftruncate(fd, 0) == 0 && write_all(fd, pid, (size_t)len) < 0)
        log_warn("cannot write the pid to %s", path);
    return fd;
}

static slot *slot_by_pid(supervisor *sv, pid_t pid)
{
    for (size_t i = 0; i < sv->n; i++)
        if (sv->slots[i].pid == pid)
            return &sv->slots[i];
    return NULL;
}

static size_t live_children(const supervisor *sv)
{
    size_t k = 0;
    for (size_t i = 0; i < sv->n; i++)
        k += sv->slots[i].pid != 0;
    return k;
}

static void signal_children(supervisor *sv, int sig)
{
    for (size_t i = 0; i < sv->n; i++)
        if (sv->slots[i].pid > 0)
            kill(sv->slots[i].pid, sig);
}

/* Release what the supervisor holds; a child keeps the shared page (unmap false). */
static void free_state(supervisor *sv, bool unmap)
{
    if (unmap && sv->alive_ms)
        munmap(sv->alive_ms, sizeof *sv->alive_ms);
    for (size_t i = 0; i < sv->n; i++)
        free(sv->slots[i].id);
    free(sv->slots);
    rconn_free(sv->rc);
    metrics_http_free(sv->http);
    if (sv->sfd >= 0)
        close(sv->sfd);
    if (sv->lock_fd >= 0)
        close(sv->lock_fd);
}

/* In the child after fork: become a worker process; returns its exit status. */
static int become_worker(supervisor *sv, slot *s, pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) /* the supervisor died before prctl took effect */
        _exit(1);
    /* Lead a process group of our own: the runtime CLIs we start stay in it, so that after our
     * death the supervisor can kill what we left running before it cleans up (kill_leftovers). */
    setpgid(0, 0);
    char name[16]; /* shown by ps and /proc/<pid>/comm: which slot this process is */
    snprintf(name, sizeof name, "cr-worker-%zu", (size_t)(s - sv->slots));
    prctl(PR_SET_NAME, name);
    metrics_attach((size_t)(s - sv->slots) + 1); /* the slot's shard; the supervisor's is 0 */
    char *id = xstrdup(s->id);
    char token[IDENTITY_TOKEN_MAX];
    snprintf(token, sizeof token, "%s", sv->token);
    worker_link link = {.wid = id,
                        .slot = (int)(s - sv->slots),
                        .token = token,
                        .supervisor_alive_ms = sv->alive_ms};
    const cfg *c = sv->c;
    const lang_table *langs = sv->langs;
    const executor *ex = sv->ex;
    sigset_t mask = sv->old_mask;
    free_state(sv, false); /* closes the signalfd, the lock and the supervisor's Redis socket */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &dfl, NULL);
    sigprocmask(SIG_SETMASK, &mask, NULL);
    int status = worker_loop_run(c, langs, ex, &link);
    free(id);
    return status;
}

/* Fork the worker process of slot s. Returns 1 in the child (after it ran), 0 in the parent. */
static int spawn(supervisor *sv, slot *s, int *child_status)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        log_error("fork failed: %s; retrying", strerror(errno));
        s->restart_at_ms = now_mono_ms() + SUPERVISOR_BACKOFF_MAX_MS;
        return 0;
    }
    if (pid == 0) {
        *child_status = become_worker(sv, s, parent);
        return 1;
    }
    if (s->started_ms)
        metric_inc(M_WORKER_RESTARTS);
    metric_add(M_WORKER_PROCESSES, 1);
    s->pid = pid;
    s->started_ms = now_mono_ms();
    log_info("started worker process %s (pid %d)", s->id, (int)pid);
    return 0;
}

/* A worker process died (pid, its process group): SIGKILL what it started that still runs (an
 * OCI runtime CLI halfway through creating a container would otherwise create it after the
 * cleanup, and the job's next attempt on this slot would find its name taken), and wait, up to
 * a second, until the group is empty. */
static void kill_leftovers(pid_t pgid)
{
    for (int i = 0; i < 100 && kill(-pgid, SIGKILL) == 0; i++) {
        while (waitpid(-pgid, NULL, WNOHANG) > 0)
            ; /* orphans come to us when we are PID 1 (a container) or a subreaper */
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Collect dead children: clean up after each at once and mark its jobs for give-back. */
static void reap_children(supervisor *sv)
{
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        slot *s = slot_by_pid(sv, pid);
        if (!s)
            continue; /* not one of ours (cannot happen: the executor runs in the children) */
        int64_t now = now_mono_ms();
        int64_t lived = now - s->started_ms;
        if (WIFSIGNALED(st))
            log_at(sv->phase == PHASE_RUNNING ? LOG_WARN : LOG_INFO, NULL,
                   "worker process %s (pid %d) killed by signal %d after %lld ms", s->id, (int)pid,
                   WTERMSIG(st), (long long)lived);
        else
            log_at(sv->phase == PHASE_RUNNING ? LOG_WARN : LOG_INFO, NULL,
                   "worker process %s (pid %d) exited with status %d after %lld ms", s->id,
                   (int)pid, WEXITSTATUS(st), (long long)lived);
        s->pid = 0;
        metric_add(M_WORKER_PROCESSES, -1);
        metrics_reset_gauges((size_t)(s - sv->slots) + 1); /* it held no job any more */
        kill_leftovers(pid);
        if (sv->lost)
            continue; /* the id's sandboxes and lists are the new owner's: touch nothing */
        sv->ex->cleanup_stale(sv->c, s->id);
        s->dirty = true;
        /* Killed by us at a stop, or stopped for want of ownership: the system stopped the job,
         * not its program, so no attempt is counted. */
        s->count_attempt = sv->phase != PHASE_KILLING &&
                           !(WIFEXITED(st) && WEXITSTATUS(st) == WORKER_EXIT_NOT_OWNER);
        if (WIFEXITED(st) && WEXITSTATUS(st) == WORKER_EXIT_NOT_OWNER)
            sv->next_tick_ms = now; /* find out at once whether we still own WORKER_ID */
        if (lived < SUPERVISOR_YOUNG_DEATH_MS) {
            s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : SUPERVISOR_BACKOFF_MIN_MS;
            if (s->backoff_ms > SUPERVISOR_BACKOFF_MAX_MS)
                s->backoff_ms = SUPERVISOR_BACKOFF_MAX_MS;
        } else {
            s->backoff_ms = 0;
        }
        s->restart_at_ms = now + s->backoff_ms;
    }
}

static void start_stop(supervisor *sv, bool fast)
{
    if (fast) {
        if (sv->phase != PHASE_KILLING)
            log_info("fast stop: killing %zu worker process(es)", live_children(sv));
        sv->phase = PHASE_KILLING;
        signal_children(sv, SIGKILL);
        return;
    }
    log_info("stopping: worker processes finish their jobs within %d s",
             sv->c->worker_shutdown_grace);
    sv->phase = PHASE_DRAINING;
    sv->kill_at_ms = now_mono_ms() + (int64_t)sv->c->worker_shutdown_grace * 1000;
    signal_children(sv, SIGTERM);
}

static void read_signals(supervisor *sv)
{
    struct signalfd_siginfo si;
    while (read(sv->sfd, &si, sizeof si) == (ssize_t)sizeof si) {
        switch (si.ssi_signo) {
        case SIGCHLD:
            break; /* reaped below, whatever the count */
        case SIGTERM:
        case SIGINT:
            start_stop(sv, sv->phase != PHASE_RUNNING);
            break;
        case SIGHUP:
            start_stop(sv, true);
            break;
        }
    }
    reap_children(sv);
}

/* Once: warn when Redis may evict keys (jobs would vanish). */
static void check_policy(supervisor *sv)
{
    redisReply *r = rconn_command(sv->rc, "CONFIG GET maxmemory-policy");
    if (!r)
        return;
    sv->policy_checked = true;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[1]->type == REDIS_REPLY_STRING) {
        if (strcmp(r->element[1]->str, "noeviction") != 0)
            log_warn("redis maxmemory-policy is '%s', not 'noeviction': under memory pressure "
                     "redis may evict queued jobs and results",
                     r->element[1]->str);
    } else {
        log_debug("cannot read redis maxmemory-policy (CONFIG disabled?)");
    }
    freeReplyObject(r);
}

/* Once: ids "<WORKER_ID>-<k>" with k >= n in the heartbeat set were slots of an earlier run with
 * a larger WORKER_CONCURRENCY: clean up after them and give their jobs back now. */
static void check_leftovers(supervisor *sv)
{
    cleanup_free char *workers = key_workers(sv->c->redis_prefix);
    cleanup_free char *pattern = xasprintf("%s-", sv->c->worker_id);
    redisReply *r = rconn_command(sv->rc, "ZRANGE %s 0 -1", workers);
    if (!r)
        return;
    size_t plen = strlen(pattern);
    if (r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < r->elements; i++) {
            const char *m = r->element[i]->str;
            long k;
            if (r->element[i]->type != REDIS_REPLY_STRING || strncmp(m, pattern, plen) != 0 ||
                parse_long(m + plen, 0, 1L << 30, &k) < 0 || (size_t)k < sv->n)
                continue;
            log_info("giving back what %s (an earlier, larger run) held", m);
            sv->ex->cleanup_stale(sv->c, m);
            const char *ids[] = {m};
            if (reaper_requeue(sv->rc, sv->c, ids, 1, true) < 0) {
                freeReplyObject(r);
                return; /* try again later */
            }
        }
    }
    sv->leftovers_checked = true;
    freeReplyObject(r);
}

/* Give back the jobs of dead slots whose death counts (or not) as an attempt; 0 when nothing is
 * left to give back. */
static int give_back_counted(supervisor *sv, bool count)
{
    cleanup_free const char **ids = xcalloc(sv->n, sizeof *ids);
    cleanup_free slot **which = xcalloc(sv->n, sizeof *which);
    size_t k = 0;
    for (size_t i = 0; i < sv->n; i++)
        if (sv->slots[i].dirty && sv->slots[i].pid == 0 && sv->slots[i].count_attempt == count) {
            which[k] = &sv->slots[i];
            ids[k++] = sv->slots[i].id;
        }
    if (k == 0)
        return 0;
    if (reaper_requeue(sv->rc, sv->c, ids, k, count) < 0)
        return -1;
    for (size_t i = 0; i < k; i++)
        which[i]->dirty = false;
    return 0;
}

static int give_back(supervisor *sv)
{
    if (!sv->owned || sv->lost)
        return 0;
    int a = give_back_counted(sv, true);
    int b = give_back_counted(sv, false);
    return a < 0 || b < 0 ? -1 : 0;
}

/* Another supervisor owns WORKER_ID now (we were cut off past our stale threshold and it took
 * over): our children must not run another job nor touch the lists, which are its lists now. */
static void lose_ownership(supervisor *sv, const char *other)
{
    log_error("WORKER_ID %s was taken over by another supervisor (%s) while this one could not "
              "renew it; stopping at once without touching its jobs. Give every supervisor its "
              "own WORKER_ID (leave it unset for a unique default)",
              sv->c->worker_id, other);
    sv->lost = true;
    sv->phase = PHASE_KILLING;
    signal_children(sv, SIGKILL);
    for (size_t i = 0; i < sv->n; i++)
        sv->slots[i].dirty = false;
}

/* Refuse to start: a live supervisor elsewhere owns our WORKER_ID. */
static void refuse_duplicate(supervisor *sv, const char *other)
{
    die("WORKER_ID %s is in use by another supervisor (%s) that is alive; give each supervisor "
        "its own WORKER_ID (leave WORKER_ID unset for a unique default)",
        sv->c->worker_id, other);
}

/* Take WORKER_ID at start-up (identity_claim), then clean up after a previous supervisor with
 * this id. false while Redis is unreachable; refuses to start when a live supervisor elsewhere
 * owns the id. */
static bool take_ownership(supervisor *sv)
{
    char other[IDENTITY_TOKEN_MAX] = "";
    int r = identity_claim(sv->rc, sv->c, sv->token, other, sizeof other, NULL);
    if (r < 0)
        return false;
    if (r == 0)
        refuse_duplicate(sv, other);
    sv->owned = true;
    for (size_t i = 0; i < sv->n; i++)
        sv->ex->cleanup_stale(sv->c, sv->slots[i].id);
    log_info("supervisor %s owns its WORKER_ID (%s)", sv->c->worker_id, sv->token);
    return true;
}

/* Heartbeat (ownership renewed), then the reaper and, when due, the orphan scan. */
static void tick(supervisor *sv)
{
    sv->next_tick_ms = now_mono_ms() + (int64_t)sv->c->heartbeat_interval * 1000;
    if (!sv->owned && !take_ownership(sv))
        return;
    cleanup_free const char **ids = xcalloc(sv->n, sizeof *ids);
    size_t k = 0;
    for (size_t i = 0; i < sv->n; i++)
        if (sv->slots[i].pid > 0)
            ids[k++] = sv->slots[i].id;
    unsigned epoch = rconn_epoch(sv->rc);
    int64_t now = 0;
    char other[IDENTITY_TOKEN_MAX] = "";
    int r = heartbeat_beat(sv->rc, sv->c, sv->token, ids, k, &now, other, sizeof other);
    metric_set(M_WORKER_REDIS_CONNECTED, r > 0);
    if (r < 0)
        return;
    if (r == 0) {
        lose_ownership(sv, other);
        return;
    }
    __atomic_store_n(sv->alive_ms, now_mono_ms(), __ATOMIC_RELAXED);
    /* Contact broken (a new connection) or interrupted (a Redis that stalled answers a beat
     * late, on the same connection): every other worker may have missed its beats too, so the
     * reaper waits a full threshold again. */
    int64_t gap = now - sv->last_beat;
    if (epoch != sv->beat_epoch || sv->connected_since == 0 ||
        gap > (int64_t)sv->c->heartbeat_interval * 1000 + HEARTBEAT_GRACE_MS) {
        if (sv->connected_since)
            log_debug("heartbeat after %lld ms: reaping waits a full threshold", (long long)gap);
        sv->beat_epoch = epoch;
        sv->connected_since = now;
    }
    sv->last_beat = now;
    if (sv->phase == PHASE_RUNNING) {
        reaper_reap(sv->rc, sv->c, sv->connected_since);
        if (now_mono_ms() >= sv->next_orphan_ms) {
            if (reaper_scan_orphans(sv->rc, sv->c, sv->connected_since) >= 0)
                sv->next_orphan_ms = now_mono_ms() + (int64_t)sv->c->orphan_scan_interval * 1000;
        }
    }
}

static bool any_dirty(const supervisor *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        if (sv->slots[i].dirty)
            return true;
    return false;
}

/* Milliseconds poll may sleep: until the next thing to do, at most one second. */
static int poll_timeout(const supervisor *sv)
{
    int64_t now = now_mono_ms();
    int64_t wake = now + 1000;
    if (sv->next_tick_ms < wake)
        wake = sv->next_tick_ms;
    if (sv->phase == PHASE_DRAINING && sv->kill_at_ms < wake)
        wake = sv->kill_at_ms;
    for (size_t i = 0; i < sv->n; i++) {
        const slot *s = &sv->slots[i];
        if (((s->dirty && sv->owned) || !sv->owned) && s->pid == 0 && now + 100 < wake)
            wake = now + 100; /* Redis was unreachable: retry soon (rconn backs off) */
        if (sv->phase == PHASE_RUNNING && s->pid == 0 && !s->dirty && s->restart_at_ms < wake)
            wake = s->restart_at_ms;
    }
    return wake > now ? (int)(wake - now) : 0;
}

/* The executor as the metrics label it: "<EXECUTOR>/<runtime>" (oci/builtin, docker/runsc). */
static char *executor_label(const supervisor *sv)
{
    const char *rt =
        strcmp(sv->ex->name, "docker") == 0 ? sv->c->docker_runtime : sv->c->oci_runtime;
    const char *base = strrchr(rt, '/');
    return xasprintf("%s/%s", sv->ex->name, base ? base + 1 : rt);
}

/* The host's metrics: a shard for the supervisor (0) and one per slot, in memory shared with
 * the worker processes forked later; and the endpoint that serves them. */
static void setup_metrics(supervisor *sv)
{
    cleanup_free char *label = executor_label(sv);
    const char *ex[] = {label};
    metrics_dim_values(DIM_EXECUTOR, ex, 1);
    metrics_dim_languages(sv->langs);
    metrics_init(METRICS_WORKER, sv->n + 1);
    metrics_attach(0);
    metric_set(M_WORKER_SLOTS, (double)sv->n);
    sv->http = metrics_http_start(sv->c);
}

static int setup(supervisor *sv)
{
    sv->lock_fd = take_lock(sv->c);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, &sv->old_mask);
    sv->sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sv->sfd < 0)
        die("signalfd: %s", strerror(errno));
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigpipe; /* a handler, not SIG_IGN: exec'd programs get the default */
    sigaction(SIGPIPE, &sa, NULL);
    sv->n = (size_t)sv->c->worker_concurrency;
    setup_metrics(sv);
    sv->slots = xcalloc(sv->n, sizeof *sv->slots);
    for (size_t i = 0; i < sv->n; i++) {
        slot *s = &sv->slots[i];
        s->id = xasprintf("%s-%zu", sv->c->worker_id, i);
        /* A previous supervisor with this WORKER_ID may have died holding jobs: once we own the
         * id, its sandboxes are cleaned up (tick) and its jobs given back (give_back). */
        s->dirty = true;
        s->count_attempt = true;
    }
    sv->alive_ms =
        mmap(NULL, sizeof *sv->alive_ms, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sv->alive_ms == MAP_FAILED)
        die("mmap: %s", strerror(errno));
    __atomic_store_n(sv->alive_ms, now_mono_ms(), __ATOMIC_RELAXED);
    identity_token(sv->c, sv->token);
    sv->rc = rconn_create(sv->c, sv->c->redis_timeout * 1000);
    return 0;
}

int supervisor_run(const cfg *c, const lang_table *langs, const executor *ex, bool *is_child)
{
    supervisor sv = {.c = c, .langs = langs, .ex = ex, .sfd = -1, .lock_fd = -1};
    *is_child = false;
    setup(&sv);
    log_info("supervisor %s: %zu worker process(es), executor %s", c->worker_id, sv.n, ex->name);
    int status = 0;
    bool waiting_logged = false;
    for (;;) {
        read_signals(&sv);
        if (sv.lost) {
            if (live_children(&sv) == 0) {
                status = 1;
                break;
            }
        } else if (rconn_ensure(sv.rc) == 0) {
            if (!sv.owned || rconn_epoch(sv.rc) != sv.beat_epoch)
                tick(&sv); /* take WORKER_ID at once; note when this connection began */
            if (sv.owned && !sv.policy_checked)
                check_policy(&sv);
            if (sv.owned && !sv.leftovers_checked)
                check_leftovers(&sv);
        } else {
            metric_set(M_WORKER_REDIS_CONNECTED, 0);
            if (!sv.owned && !waiting_logged) {
                log_info("waiting for redis to take WORKER_ID %s before starting worker "
                         "processes",
                         c->worker_id);
                waiting_logged = true;
            }
        }
        bool pending = give_back(&sv) < 0;
        if (sv.phase == PHASE_RUNNING && sv.owned) {
            int64_t now = now_mono_ms();
            for (size_t i = 0; i < sv.n; i++) {
                slot *s = &sv.slots[i];
                if (s->pid == 0 && !s->dirty && now >= s->restart_at_ms) {
                    int child_status;
                    if (spawn(&sv, s, &child_status)) {
                        *is_child = true;
                        return child_status; /* free_state already ran in the child */
                    }
                }
            }
        }
        if (!sv.lost && now_mono_ms() >= sv.next_tick_ms)
            tick(&sv);
        if (sv.phase == PHASE_DRAINING && now_mono_ms() >= sv.kill_at_ms) {
            log_warn("shutdown grace of %d s over: killing %zu worker process(es); their jobs go "
                     "back to the queue without counting an attempt",
                     c->worker_shutdown_grace, live_children(&sv));
            start_stop(&sv, true);
        }
        if (sv.phase != PHASE_RUNNING && !sv.lost && live_children(&sv) == 0) {
            if (!pending && (!any_dirty(&sv) || !sv.owned))
                break;
            if (!sv.stopped_ms)
                sv.stopped_ms = now_mono_ms();
            if (now_mono_ms() - sv.stopped_ms > SUPERVISOR_EXIT_REDIS_WAIT_MS) {
                log_error("redis unreachable: jobs are left in the processing lists of "
                          "%s-*; the next start of this WORKER_ID or another host's reaper "
                          "gives them back",
                          c->worker_id);
                status = 1;
                break;
            }
        }
        struct pollfd pfd[1 + METRICS_HTTP_MAX_POLLFDS] = {{.fd = sv.sfd, .events = POLLIN}};
        size_t npfd = 1 + metrics_http_pollfds(sv.http, pfd + 1, METRICS_HTTP_MAX_POLLFDS);
        int timeout = poll_timeout(&sv), http_timeout = metrics_http_timeout_ms(sv.http);
        if (http_timeout >= 0 && http_timeout < timeout)
            timeout = http_timeout;
        if (poll(pfd, (nfds_t)npfd, timeout) < 0 && errno != EINTR)
            die("poll: %s", strerror(errno));
        metrics_http_handle(sv.http, pfd + 1, npfd - 1); /* scrapes: never blocks */
    }
    log_info("supervisor %s stopped", c->worker_id);
    free_state(&sv, true);
    return status;
}
