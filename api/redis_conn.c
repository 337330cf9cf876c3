/* A self-healing asynchronous Redis connection: connect, handshake (AUTH, SELECT, PING), and
 * reconnect from a timer with exponential backoff whenever the connection fails or drops. */
#include "redis_conn.h"

#include <hiredis/adapters/libevent.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
#define CONNECT_TIMEOUT_MS 2000

/* Life: DOWN (retry timer armed) -> CONNECTING (ac set, handshake in flight) -> UP -> DOWN ...
 * The hiredis context is freed by hiredis itself after a failed connect or a disconnect; we free
 * it only from the connect timeout and from rconn_free, never inside its callbacks. */
enum state {
    ST_DOWN,       /* no context; the retry timer is armed */
    ST_CONNECTING, /* context exists, TCP connect or handshake in progress */
    ST_UP,         /* handshake done, commands accepted */
    ST_CLOSING,    /* rconn_free in progress: callbacks must not reconnect or report */
};

struct rconn {
    struct event_base *base;   /* borrowed */
    const cfg *cfg;            /* borrowed */
    char *name;                /* owned; "command" or "subscriber", for logs */
    redisAsyncContext *ac;     /* current context or NULL; owned by hiredis once connected */
    enum state state;
    int backoff_ms;            /* delay before the next attempt */
    bool handshake_failed;     /* AUTH or SELECT answered an error on this context */
    bool was_up;               /* reached UP at least once (for logging recovery) */
    int failures;              /* failed attempts since the last UP; only the first is a warning */
    struct event *retry;       /* owned; reconnect timer */
    struct event *timeout;     /* owned; connect timeout */
    rconn_event_fn *on_up, *on_down;
    void *arg;                 /* passed to on_up / on_down */
};

static void start_connect(rconn *rc);

/* A failed attempt: a warning the first time, debug while retrying. */
#define log_attempt(rc, ...)                                              \
    do {                                                                  \
        enum log_level l_ = (rc)->failures++ == 0 ? LOG_WARN : LOG_DEBUG; \
        log_at(l_, NULL, __VA_ARGS__);                                    \
    } while (0)

static void schedule_retry(rconn *rc)
{
    if (rc->state == ST_CLOSING)
        return;
    rc->state = ST_DOWN;
    evtimer_del(rc->timeout);
    if (evtimer_pending(rc->retry, NULL))
        return;
    struct timeval tv = {rc->backoff_ms / 1000, (rc->backoff_ms % 1000) * 1000};
    evtimer_add(rc->retry, &tv);
    rc->backoff_ms = rc->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : rc->backoff_ms * 2;
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    start_connect(arg);
}

/* Connect took too long (a host that drops packets): give this context up. */
static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    rconn *rc = arg;
    if (rc->state != ST_CONNECTING || !rc->ac)
        return;
    log_attempt(rc, "redis %s connection: connect to %s:%d timed out", rc->name,
                rc->cfg->redis_host, rc->cfg->redis_port);
    redisAsyncContext *ac = rc->ac;
    rc->ac = NULL;
    rc->state = ST_CLOSING; /* callbacks run by the free below must not reschedule */
    redisAsyncFree(ac);
    rc->state = ST_DOWN;
    schedule_retry(rc);
}

static void connect_cb(const redisAsyncContext *ac, int status)
{
    rconn *rc = ac->data;
    if (status == REDIS_OK || rc->ac != ac)
        return;
    /* hiredis frees the context after this callback. */
    log_attempt(rc, "redis %s connection: cannot connect to %s:%d: %s (retrying)", rc->name,
                rc->cfg->redis_host, rc->cfg->redis_port, ac->errstr);
    rc->ac = NULL;
    schedule_retry(rc);
}

static void disconnect_cb(const redisAsyncContext *ac, int status)
{
    rconn *rc = ac->data;
    (void)status;
    if (rc->ac != ac)
        return; /* a context we already gave up (timeout, rconn_free) */
    rc->ac = NULL;
    bool was = rc->state == ST_UP;
    if (was)
        log_info("redis %s connection lost: %s", rc->name, ac->err ? ac->errstr : "closed");
    schedule_retry(rc);
    if (was && rc->on_down)
        rc->on_down(rc, rc->arg);
}

/* AUTH / SELECT: an error reply ends this attempt (the final PING then sees the flag). */
static void handshake_cb(redisAsyncContext *ac, void *r, void *priv)
{
    rconn *rc = ac->data;
    redisReply *reply = r;
    if (!reply || rc->ac != ac || reply->type != REDIS_REPLY_ERROR)
        return;
    log_error("redis %s connection: %s failed: %s", rc->name, (const char *)priv, reply->str);
    if (!rc->handshake_failed) {
        rc->handshake_failed = true;
        redisAsyncDisconnect(ac);
    }
}

static void ready_cb(redisAsyncContext *ac, void *r, void *priv)
{
    (void)priv;
    rconn *rc = ac->data;
    redisReply *reply = r;
    if (!reply || rc->ac != ac || rc->handshake_failed || rc->state != ST_CONNECTING)
        return;
    if (reply->type == REDIS_REPLY_ERROR) {
        log_error("redis %s connection: PING failed: %s", rc->name, reply->str);
        rc->handshake_failed = true;
        redisAsyncDisconnect(ac);
        return;
    }
    evtimer_del(rc->timeout);
    rc->state = ST_UP;
    rc->backoff_ms = BACKOFF_MIN_MS;
    rc->failures = 0;
    log_info("redis %s connection %s to %s:%d db %d", rc->name,
             rc->was_up ? "restored" : "established", rc->cfg->redis_host, rc->cfg->redis_port,
             rc->cfg->redis_db);
    rc->was_up = true;
    if (rc->on_up)
        rc->on_up(rc, rc->arg);
}

static void start_connect(rconn *rc)
{
    const cfg *c = rc->cfg;
    redisAsyncContext *ac = redisAsyncConnect(c->redis_host, c->redis_port);
    if (!ac || ac->err) {
        log_attempt(rc, "redis %s connection: cannot connect to %s:%d: %s (retrying)", rc->name,
                    c->redis_host, c->redis_port, ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        schedule_retry(rc);
        return;
    }
    ac->data = rc;
    rc->ac = ac;
    rc->state = ST_CONNECTING;
    rc->handshake_failed = false;
    redisLibeventAttach(ac, rc->base);
    redisAsyncSetConnectCallback(ac, connect_cb);
    redisAsyncSetDisconnectCallback(ac, disconnect_cb);
    if (c->redis_password)
        redisAsyncCommand(ac, handshake_cb, "AUTH", "AUTH %s", c->redis_password);
    if (c->redis_db)
        redisAsyncCommand(ac, handshake_cb, "SELECT", "SELECT %d", c->redis_db);
    redisAsyncCommand(ac, ready_cb, NULL, "PING");
    struct timeval tv = {CONNECT_TIMEOUT_MS / 1000, (CONNECT_TIMEOUT_MS % 1000) * 1000};
    evtimer_add(rc->timeout, &tv);
}

rconn *rconn_create(struct event_base *base, const cfg *c, const char *name, rconn_event_fn *on_up,
                    rconn_event_fn *on_down, void *arg)
{
    rconn *rc = xcalloc(1, sizeof *rc);
    rc->base = base;
    rc->cfg = c;
    rc->name = xstrdup(name);
    rc->backoff_ms = BACKOFF_MIN_MS;
    rc->on_up = on_up;
    rc->on_down = on_down;
    rc->arg = arg;
    rc->retry = evtimer_new(base, retry_cb, rc);
    rc->timeout = evtimer_new(base, timeout_cb, rc);
    if (!rc->retry || !rc->timeout)
        abort();
    start_connect(rc);
    return rc;
}

bool rconn_is_up(const rconn *rc) { return rc && rc->state == ST_UP; }

int rconn_command(rconn *rc, redisCallbackFn *fn, void *priv, int argc, const char **argv,
                  const size_t *lens)
{
    if (!rconn_is_up(rc) || !rc->ac)
        return -1;
    if (redisAsyncCommandArgv(rc->ac, fn, priv, argc, argv, lens) != REDIS_OK)
        return -1;
    return 0;
}

void rconn_free(rconn *rc)
{
    if (!rc)
        return;
    rc->state = ST_CLOSING;
    if (rc->ac) {
        redisAsyncContext *ac = rc->ac;
        rc->ac = NULL;
        redisAsyncFree(ac);
    }
    event_free(rc->retry);
    event_free(rc->timeout);
    free(rc->name);
    free(rc);
}
