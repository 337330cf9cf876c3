/* The agent's job processes: spawning (fork + exec of this binary), frames in and out through a
 * bufferevent each, death and restart (see slots.h). */
#include "slots.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "worker/agent/frame.h"
#include "worker/agent/job_process.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define YOUNG_DEATH_MS 5000
#define START_TIMEOUT_MS 120000 /* a backend's init (an engine check) gets this long at start */

extern char **environ;

/* One job process position. A spawn sets pid and bev; the hello sets ready; slots_send sets busy
 * (and job, which slots_drop clears while busy stays); the answer clears both; death clears pid,
 * bev and ready and schedules the next spawn. */
typedef struct slot {
    slot_pool *pool;         /* borrowed; owns the slot */
    size_t index;            /* position, for names */
    char *id;                /* owned; "<WORKER_ID>-a<index>": names its sandboxes */
    pid_t pid;               /* the job process, 0 when none */
    struct bufferevent *bev; /* owned; our end of its socketpair, NULL when none */
    bool ready;              /* it said hello: it takes jobs */
    bool busy;               /* a job was sent, its answer has not come */
    void *job;               /* the job's owner for on_answer; NULL when idle or dropped */
    int64_t started_ms;      /* monotonic time of the last spawn */
    int backoff_ms;          /* delay before the next spawn after a young death */
    struct event *respawn;   /* owned; timer of the next spawn */
} slot;

struct slot_pool {
    struct event_base *base; /* borrowed */
    const cfg *c;            /* borrowed */
    const executor *ex;      /* borrowed; for cleanup_stale after a kill */
    slot_answer_fn on_answer;
    slot *slots; /* owned array of n */
    size_t n;
    char **envp;       /* owned vector (strings borrowed from environ): the job processes'
                        * environment, without the token */
    json_t *languages; /* owned; from the latest hello */
    json_t *images;    /* owned; from the latest hello */
    bool starting;     /* slots_start is waiting for the hellos */
    char *start_error; /* owned; why a job process could not start (slots_start) */
    bool stopping;     /* slots_stop began: nothing is spawned again */
};

static void spawn(slot *s);

static void kill_child(slot *s)
{
    if (s->pid > 0)
        kill(s->pid, SIGKILL);
}

/* A job's answer goes to its owner (unless dropped); the slot is idle again. */
static void answer(slot *s, const char *text, size_t len, const char *why)
{
    void *job = s->job;
    s->busy = false;
    s->job = NULL;
    if (job)
        s->pool->on_answer(job, text, len, why);
}

static void take_hello(slot *s, const char *text, size_t len)
{
    slot_pool *p = s->pool;
    json_t *h = json_loadb(text, len, 0, NULL);
    json_t *langs = json_object_get(h, "languages"), *images = json_object_get(h, "images");
    if (json_is_array(langs) && json_is_array(images)) {
        json_decref(p->languages);
        json_decref(p->images);
        p->languages = json_incref(langs);
        p->images = json_incref(images);
        s->ready = true;
        log_debug("job process %s (pid %d) ready", s->id, (int)s->pid);
    } else {
        const char *e = json_string_value(json_object_get(h, "error"));
        if (p->starting && !p->start_error)
            p->start_error = xasprintf("job process %s: %s", s->id, e ? e : "no hello");
        kill_child(s); /* it exits by itself after an error; a garbled hello is a bug */
    }
    json_decref(h);
}

/* Every whole frame in the input: the hello first, then answers. */
static void take_frames(slot *s)
{
    struct evbuffer *in = bufferevent_get_input(s->bev);
    for (;;) {
        char *text;
        size_t len;
        int r = frame_take(in, FRAME_MAX, &text, &len);
        if (r == 0)
            return;
        if (r < 0) {
            log_error("job process %s sent a frame too large; killing it", s->id);
            kill_child(s);
            return;
        }
        if (!s->ready)
            take_hello(s, text, len);
        else if (!s->busy)
            log_error("job process %s answered with no job in flight; ignored", s->id);
        else
            answer(s, text, len, NULL);
        free(text);
        if (!s->bev)
            return;
    }
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    take_frames(arg);
}

/* End of stream or an error on its socket: the job process is dying or broken; SIGCHLD does the
 * rest. */
static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    slot *s = arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        kill_child(s);
}

static void respawn_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    slot *s = arg;
    if (!s->pool->stopping && s->pid == 0)
        spawn(s);
}

/* In the child of fork: exec `worker --serve-slot <id>` with the socket as JOB_PROCESS_FD and no
 * other descriptor. Never returns. */
static void exec_job_process(slot *s, int sock, pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* survives exec: it dies with the agent */
    if (getppid() != parent)
        _exit(1);
    if (sock == JOB_PROCESS_FD)
        fcntl(sock, F_SETFD, 0);
    else if (dup2(sock, JOB_PROCESS_FD) < 0)
        _exit(1);
    /* Closing our copies of the agent's sockets (the listener, client connections) does not
     * touch them in the agent. */
    close_range(JOB_PROCESS_FD + 1, ~0U, 0);
    char *const argv[] = {"worker", "--serve-slot", s->id, NULL};
    execve("/proc/self/exe", argv, s->pool->envp);
    _exit(127);
}

static void spawn(slot *s)
{
    slot_pool *p = s->pool;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        log_error("job process %s: socketpair: %s; retrying", s->id, strerror(errno));
        struct timeval tv = {BACKOFF_MAX_MS / 1000, 0};
        evtimer_add(s->respawn, &tv);
        return;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        log_error("job process %s: fork: %s; retrying", s->id, strerror(errno));
        close(sv[0]);
        close(sv[1]);
        struct timeval tv = {BACKOFF_MAX_MS / 1000, 0};
        evtimer_add(s->respawn, &tv);
        return;
    }
    if (pid == 0)
        exec_job_process(s, sv[1], parent);
    close(sv[1]);
    evutil_make_socket_nonblocking(sv[0]);
    s->pid = pid;
    s->started_ms = now_mono_ms();
    s->ready = s->busy = false;
    s->bev = bufferevent_socket_new(p->base, sv[0], BEV_OPT_CLOSE_ON_FREE);
    if (!s->bev)
        abort(); /* allocation */
    bufferevent_setcb(s->bev, read_cb, NULL, event_cb, s);
    bufferevent_enable(s->bev, EV_READ);
    log_info("started job process %s (pid %d)", s->id, (int)pid);
}

slot_pool *slots_create(struct event_base *base, const cfg *c, const executor *ex,
                        slot_answer_fn on_answer)
{
    slot_pool *p = xcalloc(1, sizeof *p);
    p->base = base;
    p->c = c;
    p->ex = ex;
    p->on_answer = on_answer;
    p->n = (size_t)c->worker_concurrency;
    p->slots = xcalloc(p->n, sizeof *p->slots);
    for (size_t i = 0; i < p->n; i++) {
        slot *s = &p->slots[i];
        s->pool = p;
        s->index = i;
        s->id = xasprintf("%s-a%zu", c->worker_id, i);
        s->respawn = evtimer_new(base, respawn_cb, s);
        if (!s->respawn)
            abort();
    }
    size_t k = 0;
    for (char **e = environ; *e; e++)
        k++;
    p->envp = xcalloc(k + 1, sizeof *p->envp);
    k = 0;
    for (char **e = environ; *e; e++)
        if (strncmp(*e, "EXECUTOR_AUTH_TOKEN", 19) != 0) /* the job processes need no token */
            p->envp[k++] = *e;
    p->languages = json_array();
    p->images = json_array();
    return p;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
}

int slots_start(slot_pool *p, char *err, size_t errlen)
{
    p->starting = true;
    struct event *tick = evtimer_new(p->base, tick_cb, NULL); /* bounds each turn of the loop */
    if (!tick)
        abort();
    for (size_t i = 0; i < p->n; i++)
        spawn(&p->slots[i]);
    int64_t deadline = now_mono_ms() + START_TIMEOUT_MS;
    for (;;) {
        size_t ready = 0;
        for (size_t i = 0; i < p->n; i++)
            ready += p->slots[i].ready;
        if (ready == p->n || p->start_error)
            break;
        if (now_mono_ms() > deadline) {
            p->start_error =
                xasprintf("the job processes did not start within %d s", START_TIMEOUT_MS / 1000);
            break;
        }
        struct timeval tv = {1, 0};
        evtimer_add(tick, &tv);
        event_base_loop(p->base, EVLOOP_ONCE);
    }
    event_free(tick);
    p->starting = false;
    if (p->start_error) {
        snprintf(err, errlen, "%s", p->start_error);
        return -1;
    }
    return 0;
}

bool slots_send(slot_pool *p, void *job, const char *data, size_t len)
{
    for (size_t i = 0; i < p->n; i++) {
        slot *s = &p->slots[i];
        if (!s->ready || s->busy || !s->bev)
            continue;
        uint64_t n = len;
        struct evbuffer *out = bufferevent_get_output(s->bev);
        if (evbuffer_add(out, &n, sizeof n) < 0 || evbuffer_add(out, data, len) < 0)
            abort(); /* allocation */
        s->busy = true;
        s->job = job;
        return true;
    }
    return false;
}

void slots_drop(slot_pool *p, void *job)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->slots[i].job == job)
            p->slots[i].job = NULL;
}

/* The whole of what the dead process wrote before it died, so that an answer it sent is not
 * taken for a death. */
static void drain_socket(slot *s)
{
    if (!s->bev)
        return;
    evutil_socket_t fd = bufferevent_getfd(s->bev);
    struct evbuffer *in = bufferevent_get_input(s->bev);
    while (fd >= 0 && evbuffer_read(in, fd, 65536) > 0)
        ;
    take_frames(s);
}

static void slot_died(slot *s, int status)
{
    slot_pool *p = s->pool;
    char why[128];
    if (WIFSIGNALED(status))
        snprintf(why, sizeof why, "killed by signal %d", WTERMSIG(status));
    else
        snprintf(why, sizeof why, "exited with status %d", WEXITSTATUS(status));
    drain_socket(s);
    bool was_ready = s->ready;
    if (s->bev) {
        bufferevent_free(s->bev);
        s->bev = NULL;
    }
    s->pid = 0;
    s->ready = false;
    if (s->busy) {
        log_error("job process %s %s while running a job", s->id, why);
        char msg[192];
        snprintf(msg, sizeof msg, "the executor host's job process %s", why);
        answer(s, NULL, 0, msg);
    } else if (!p->stopping) {
        log_warn("job process %s %s", s->id, why);
    }
    if (p->starting && !was_ready && !p->start_error)
        p->start_error =
            xasprintf("job process %s %s before it was ready (see its log above)", s->id, why);
    if (p->stopping)
        return;
    int64_t lived = now_mono_ms() - s->started_ms;
    if (lived < YOUNG_DEATH_MS)
        s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : BACKOFF_MIN_MS;
    else
        s->backoff_ms = 0;
    if (s->backoff_ms > BACKOFF_MAX_MS)
        s->backoff_ms = BACKOFF_MAX_MS;
    struct timeval tv = {s->backoff_ms / 1000, (s->backoff_ms % 1000) * 1000};
    evtimer_add(s->respawn, &tv);
}

void slots_reap(slot_pool *p)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (size_t i = 0; i < p->n; i++)
            if (p->slots[i].pid == pid) {
                slot_died(&p->slots[i], status);
                break;
            }
    }
}

size_t slots_total(const slot_pool *p)
{
    return p->n;
}

size_t slots_busy(const slot_pool *p)
{
    size_t k = 0;
    for (size_t i = 0; i < p->n; i++)
        k += p->slots[i].busy;
    return k;
}

size_t slots_idle(const slot_pool *p)
{
    size_t k = 0;
    for (size_t i = 0; i < p->n; i++)
        k += p->slots[i].ready && !p->slots[i].busy && p->slots[i].bev;
    return k;
}

const json_t *slots_languages(const slot_pool *p)
{
    return p->languages;
}

const json_t *slots_images(const slot_pool *p)
{
    return p->images;
}

void slots_stop(slot_pool *p, int grace_ms)
{
    p->stopping = true;
    for (size_t i = 0; i < p->n; i++) {
        slot *s = &p->slots[i];
        evtimer_del(s->respawn);
        if (s->busy)
            answer(s, NULL, 0, "the executor host is shutting down");
        if (s->bev) { /* end of stream: an idle job process shuts down and exits */
            /* Now: outside the loop, bufferevent_free would close the socket only when the
             * loop runs its finalizers again. */
            shutdown(bufferevent_getfd(s->bev), SHUT_RDWR);
            bufferevent_free(s->bev);
            s->bev = NULL;
        }
    }
    int64_t deadline = now_mono_ms() + grace_ms;
    bool killed = false;
    for (;;) {
        size_t alive = 0;
        for (size_t i = 0; i < p->n; i++) {
            slot *s = &p->slots[i];
            int status;
            if (s->pid > 0 && waitpid(s->pid, &status, WNOHANG) == s->pid) {
                bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
                s->pid = 0;
                if (!clean) /* killed or failed: its sandboxes may be left */
                    p->ex->cleanup_stale(p->c, s->id);
            }
            alive += s->pid > 0;
        }
        if (alive == 0)
            break;
        if (!killed && now_mono_ms() >= deadline) {
            log_warn("%zu job process(es) still running after %d ms: killing them", alive,
                     grace_ms);
            for (size_t i = 0; i < p->n; i++)
                kill_child(&p->slots[i]);
            killed = true;
        }
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

void slots_free(slot_pool *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        slot *s = &p->slots[i];
        if (s->bev)
            bufferevent_free(s->bev);
        event_free(s->respawn);
        free(s->id);
    }
    free(p->slots);
    free(p->envp);
    json_decref(p->languages);
    json_decref(p->images);
    free(p->start_error);
    free(p);
}
