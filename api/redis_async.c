/* A self-healing asynchronous Redis connection: find the server (REDIS_URL's, the master the
 * sentinels name, or a sentinel itself), connect, handshake (AUTH, SELECT, ROLE), and reconnect
 * from a timer with exponential backoff whenever the connection fails, drops, turns out to be
 * the wrong role, or is reset by its owner. With rediss:// every context (sentinels too) is TLS
 * with the server verified (common/redis_tls.h). */
#include "redis_async.h"

#include <hiredis/adapters/libevent.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/redis_target.h"
#include "common/redis_tls.h"
#include "common/util.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000

/* Life: DOWN (retry timer armed) -> [DISCOVERING (sac asks a sentinel where the master is)] ->
 * CONNECTING (ac set, handshake in flight) -> UP -> DOWN ...
 * hiredis frees a context itself after a failed connect or a disconnect; we free one only from
 * the timeout, aconn_reset and aconn_free, never inside its callbacks. */
enum state {
    ST_DOWN,        /* no context; the retry timer is armed */
    ST_DISCOVERING, /* sac asks a sentinel for the master's address */
    ST_CONNECTING,  /* ac exists, TCP connect or handshake in progress */
    ST_UP,          /* handshake done, commands accepted */
    ST_CLOSING,     /* a free of the context is in progress: callbacks must not reconnect */
};

struct aconn {
    struct event_base *base; /* borrowed */
    const cfg *cfg;          /* borrowed */
    char *name;              /* owned; "command", "subscriber" or "sentinel", for logs */
    enum aconn_kind kind;    /* a master or a sentinel */
    redisAsyncContext *ac;   /* current context or NULL; owned by hiredis once connected */
    redisAsyncContext *sac;  /* DISCOVERING: the sentinel asked, or NULL */
    enum state state;
    char host[256]; /* the server of the current attempt */
    int port;
    size_t sentinel;       /* the sentinel to ask (or connect to) next */
    int backoff_ms;        /* delay before the next attempt */
    bool handshake_failed; /* AUTH, SELECT or ROLE failed on this context */
    bool was_up;           /* reached UP at least once (for logging recovery) */
    int failures;          /* failed attempts since the last UP; only the first is a warning */
    struct event *retry;   /* owned; reconnect timer */
    struct event *timeout; /* owned; discovery and connect timeout */
    struct event *fault;   /* owned; deferred reset after a fault reply */
    char fault_why[160];   /* why the deferred reset happens */
    aconn_event_fn *on_up, *on_down;
    void *arg; /* passed to on_up / on_down */
};

/* One command in flight: the caller's callback, run by command_cb exactly once. */
typedef struct pending_cmd {
    aconn *conn; /* borrowed; outlives the command (freeing it runs every callback) */
    redisCallbackFn *fn;
    void *priv;
} pending_cmd;

static void start_connect(aconn *conn);

/* A failed attempt: a warning the first time, debug while retrying. */
#define log_attempt(conn, ...)                                                                     \
    do {                                                                                           \
        enum log_level l_ = (conn)->failures++ == 0 ? LOG_WARN : LOG_DEBUG;                        \
        log_at(l_, NULL, __VA_ARGS__);                                                             \
    } while (0)

static void schedule_retry(aconn *conn)
{
    if (conn->state == ST_CLOSING)
        return;
    conn->state = ST_DOWN;
    evtimer_del(conn->timeout);
    if (evtimer_pending(conn->retry, NULL))
        return;
    struct timeval tv = {conn->backoff_ms / 1000, (conn->backoff_ms % 1000) * 1000};
    evtimer_add(conn->retry, &tv);
    conn->backoff_ms =
        conn->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : conn->backoff_ms * 2;
}

/* This sentinel did not help: the next attempt asks the next one. */
static void next_sentinel(aconn *conn)
{
    if (conn->cfg->n_sentinels)
        conn->sentinel = (conn->sentinel + 1) % conn->cfg->n_sentinels;
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    start_connect(arg);
}

/* Free a context from outside its callbacks: its pending callbacks run with NULL replies. */
static void free_context(aconn *conn, redisAsyncContext *ac)
{
    enum state was = conn->state;
    conn->state = ST_CLOSING; /* callbacks run by the free below must not reschedule */
    redisAsyncFree(ac);
    conn->state = was;
}

/* Give the current contexts up from outside their callbacks. Returns whether it was up. */
static bool drop_context(aconn *conn)
{
    bool was = conn->state == ST_UP;
    redisAsyncContext *ac = conn->ac, *sac = conn->sac;
    conn->ac = conn->sac = NULL;
    evtimer_del(conn->fault);
    if (ac)
        free_context(conn, ac);
    if (sac)
        free_context(conn, sac);
    conn->state = ST_DOWN;
    return was;
}

/* Discovery or connect took too long (a host that drops packets): give this attempt up. */
static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    aconn *conn = arg;
    if (conn->state == ST_DISCOVERING) {
        log_attempt(conn, "redis %s connection: sentinel %s:%d did not answer in time", conn->name,
                    conn->host, conn->port);
        next_sentinel(conn);
    } else if (conn->state == ST_CONNECTING) {
        log_attempt(conn, "redis %s connection: connect to %s:%d timed out", conn->name, conn->host,
                    conn->port);
        if (conn->kind == ACONN_SENTINEL || conn->cfg->n_sentinels)
            next_sentinel(conn);
    } else {
        return;
    }
    drop_context(conn);
    schedule_retry(conn);
}

void aconn_reset(aconn *conn, const char *why)
{
    if (!conn || !conn->ac || conn->state == ST_CLOSING)
        return;
    log_warn("redis %s connection given up: %s; reconnecting", conn->name, why);
    bool was = drop_context(conn);
    schedule_retry(conn);
    if (was && conn->on_down)
        conn->on_down(conn, conn->arg);
}

static void fault_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    aconn *conn = arg;
    aconn_reset(conn, conn->fault_why);
}

void aconn_reset_soon(aconn *conn, const char *why)
{
    if (!conn || !conn->ac || conn->state != ST_UP || evtimer_pending(conn->fault, NULL))
        return;
    snprintf(conn->fault_why, sizeof conn->fault_why, "%s", why);
    struct timeval now = {0, 0};
    evtimer_add(conn->fault, &now);
}

/* Why a context failed (setup: before it was up): TLS's reason when it has one, else
 * hiredis's. */
static const char *context_error(const redisAsyncContext *ac, bool setup, char *buf, size_t len)
{
    const char *tls = redis_tls_why(&ac->c, setup, buf, len);
    return tls ? tls : ac->err ? ac->errstr : "closed";
}

/* With rediss://: start TLS on a context just made for conn->host (the handshake goes on in the
 * loop, with the connect timeout as its bound). 0, or -1 logged with the context freed. */
static int start_tls(aconn *conn, redisAsyncContext *ac)
{
    char err[256];
    if (!conn->cfg->redis_tls ||
        redis_tls_start(conn->cfg->redis_tls_ctx, &ac->c, conn->host, err, sizeof err) == 0)
        return 0;
    log_attempt(conn, "redis %s connection: TLS to %s:%d: %s (retrying)", conn->name, conn->host,
                conn->port, err);
    redisAsyncFree(ac);
    return -1;
}

/* ---- the connection to the server ---- */

static void connect_cb(const redisAsyncContext *ac, int status)
{
    aconn *conn = ac->data;
    if (status == REDIS_OK || conn->ac != ac)
        return;
    /* hiredis frees the context after this callback. */
    char buf[256];
    log_attempt(conn, "redis %s connection: cannot connect to %s:%d: %s (retrying)", conn->name,
                conn->host, conn->port, context_error(ac, true, buf, sizeof buf));
    conn->ac = NULL;
    if (conn->kind == ACONN_SENTINEL || conn->cfg->n_sentinels)
        next_sentinel(conn);
    schedule_retry(conn);
}

static void disconnect_cb(const redisAsyncContext *ac, int status)
{
    aconn *conn = ac->data;
    (void)status;
    if (conn->ac != ac)
        return; /* a context we already gave up (timeout, reset, aconn_free) */
    conn->ac = NULL;
    evtimer_del(conn->fault);
    bool was = conn->state == ST_UP;
    char buf[256];
    if (was) {
        log_info("redis %s connection lost: %s", conn->name,
                 context_error(ac, false, buf, sizeof buf));
    } else {
        /* The handshake failed: TLS refused, or the server went away (a refused AUTH or ROLE
         * closes cleanly and was logged). Perhaps a stale address. */
        if (ac->err)
            log_attempt(conn, "redis %s connection: %s:%d: %s (retrying)", conn->name, conn->host,
                        conn->port, context_error(ac, true, buf, sizeof buf));
        if (conn->kind == ACONN_SENTINEL || conn->cfg->n_sentinels)
            next_sentinel(conn);
    }
    schedule_retry(conn);
    if (was && conn->on_down)
        conn->on_down(conn, conn->arg);
}

/* End a handshake that failed on this context: disconnect (hiredis frees it later). */
static void handshake_fail(aconn *conn, redisAsyncContext *ac)
{
    if (!conn->handshake_failed) {
        conn->handshake_failed = true;
        redisAsyncDisconnect(ac);
    }
}

/* AUTH / SELECT: an error reply ends this attempt (the final ROLE then sees the flag). */
static void handshake_cb(redisAsyncContext *ac, void *r, void *priv)
{
    aconn *conn = ac->data;
    redisReply *reply = r;
    if (!reply || conn->ac != ac || reply->type != REDIS_REPLY_ERROR)
        return;
    log_error("redis %s connection: %s failed: %s", conn->name, (const char *)priv, reply->str);
    handshake_fail(conn, ac);
}

/* ROLE's first element: "master", "slave" or "sentinel"; NULL when the reply is not ROLE's. */
static const char *role_of(const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements == 0 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return NULL;
    return r->element[0]->str;
}

static void ready_cb(redisAsyncContext *ac, void *r, void *priv)
{
    (void)priv;
    aconn *conn = ac->data;
    redisReply *reply = r;
    if (!reply || conn->ac != ac || conn->handshake_failed || conn->state != ST_CONNECTING)
        return;
    const char *want = conn->kind == ACONN_SENTINEL ? "sentinel" : "master";
    const char *role = role_of(reply);
    if (!role || strcmp(role, want) != 0) {
        log_attempt(conn, "redis %s connection: %s:%d is not a %s (%s); retrying", conn->name,
                    conn->host, conn->port, want,
                    role                               ? role
                    : reply->type == REDIS_REPLY_ERROR ? reply->str
                                                       : "unexpected ROLE reply");
        handshake_fail(conn, ac);
        return;
    }
    evtimer_del(conn->timeout);
    conn->state = ST_UP;
    conn->backoff_ms = BACKOFF_MIN_MS;
    conn->failures = 0;
    log_info("redis %s connection %s to %s:%d", conn->name,
             conn->was_up ? "restored" : "established", conn->host, conn->port);
    conn->was_up = true;
    if (conn->on_up)
        conn->on_up(conn, conn->arg);
}

/* Connect to conn->host:conn->port and start the handshake. */
static void connect_server(aconn *conn)
{
    const cfg *c = conn->cfg;
    redisAsyncContext *ac = redisAsyncConnect(conn->host, conn->port);
    if (!ac || ac->err) {
        log_attempt(conn, "redis %s connection: cannot connect to %s:%d: %s (retrying)", conn->name,
                    conn->host, conn->port, ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        schedule_retry(conn);
        return;
    }
    if (start_tls(conn, ac) < 0) {
        schedule_retry(conn);
        return;
    }
    ac->data = conn;
    conn->ac = ac;
    conn->state = ST_CONNECTING;
    conn->handshake_failed = false;
    redisEnableKeepAlive(&ac->c);
    redisLibeventAttach(ac, conn->base);
    redisAsyncSetConnectCallback(ac, connect_cb);
    redisAsyncSetDisconnectCallback(ac, disconnect_cb);
    const char *auth[3];
    int n = conn->kind == ACONN_SENTINEL ? redis_auth_argv(NULL, c->redis_sentinel_password, auth)
                                         : redis_auth_argv(c->redis_user, c->redis_password, auth);
    if (n)
        redisAsyncCommandArgv(ac, handshake_cb, "AUTH", n, auth, NULL);
    if (conn->kind == ACONN_MASTER && c->redis_db)
        redisAsyncCommand(ac, handshake_cb, "SELECT", "SELECT %d", c->redis_db);
    redisAsyncCommand(ac, ready_cb, NULL, "ROLE");
    struct timeval tv = {c->redis_timeout, 0};
    evtimer_add(conn->timeout, &tv);
}

/* ---- discovery of the master through the sentinels ---- */

static void sentinel_connect_cb(const redisAsyncContext *ac, int status)
{
    aconn *conn = ac->data;
    if (status == REDIS_OK || conn->sac != ac)
        return;
    char buf[256];
    log_attempt(conn, "redis %s connection: cannot reach sentinel %s:%d: %s", conn->name,
                conn->host, conn->port, context_error(ac, true, buf, sizeof buf));
    conn->sac = NULL; /* hiredis frees it after this callback */
    next_sentinel(conn);
    schedule_retry(conn);
}

static void sentinel_disconnect_cb(const redisAsyncContext *ac, int status)
{
    (void)status;
    aconn *conn = ac->data;
    if (conn->sac != ac)
        return; /* done with it (answered, timed out or freed) */
    conn->sac = NULL;
    char buf[256];
    log_attempt(conn, "redis %s connection: sentinel %s:%d: %s", conn->name, conn->host, conn->port,
                context_error(ac, true, buf, sizeof buf));
    next_sentinel(conn);
    schedule_retry(conn);
}

static void discovered_cb(redisAsyncContext *ac, void *r, void *priv)
{
    (void)priv;
    aconn *conn = ac->data;
    if (conn->sac != ac)
        return;
    conn->sac = NULL;
    redisAsyncDisconnect(ac); /* freed by hiredis once this callback returns */
    evtimer_del(conn->timeout);
    char host[sizeof conn->host];
    int port;
    if (redis_master_addr(r, host, sizeof host, &port) < 0) {
        log_attempt(conn, "redis %s connection: sentinel %s:%d does not name master '%s'",
                    conn->name, conn->host, conn->port, conn->cfg->redis_master_name);
        next_sentinel(conn);
        schedule_retry(conn);
        return;
    }
    snprintf(conn->host, sizeof conn->host, "%s", host);
    conn->port = port;
    connect_server(conn);
}

static void discover(aconn *conn)
{
    const cfg *c = conn->cfg;
    const cfg_endpoint *s = &c->sentinels[conn->sentinel];
    snprintf(conn->host, sizeof conn->host, "%s", s->host);
    conn->port = s->port;
    redisAsyncContext *sac = redisAsyncConnect(s->host, s->port);
    if (!sac || sac->err) {
        log_attempt(conn, "redis %s connection: cannot reach sentinel %s:%d: %s", conn->name,
                    s->host, s->port, sac ? sac->errstr : "out of memory");
        if (sac)
            redisAsyncFree(sac);
        next_sentinel(conn);
        schedule_retry(conn);
        return;
    }
    if (start_tls(conn, sac) < 0) {
        next_sentinel(conn);
        schedule_retry(conn);
        return;
    }
    sac->data = conn;
    conn->sac = sac;
    conn->state = ST_DISCOVERING;
    redisLibeventAttach(sac, conn->base);
    redisAsyncSetConnectCallback(sac, sentinel_connect_cb);
    redisAsyncSetDisconnectCallback(sac, sentinel_disconnect_cb);
    const char *auth[3];
    int n = redis_auth_argv(NULL, c->redis_sentinel_password, auth);
    if (n)
        redisAsyncCommandArgv(sac, NULL, NULL, n, auth, NULL); /* a refusal shows below */
    redisAsyncCommand(sac, discovered_cb, NULL, "SENTINEL get-master-addr-by-name %s",
                      c->redis_master_name);
    struct timeval tv = {c->redis_timeout, 0};
    evtimer_add(conn->timeout, &tv);
}

static void start_connect(aconn *conn)
{
    const cfg *c = conn->cfg;
    if (conn->kind == ACONN_SENTINEL) {
        const cfg_endpoint *s = &c->sentinels[conn->sentinel];
        snprintf(conn->host, sizeof conn->host, "%s", s->host);
        conn->port = s->port;
        connect_server(conn);
    } else if (c->n_sentinels) {
        discover(conn);
    } else {
        snprintf(conn->host, sizeof conn->host, "%s", c->redis_host);
        conn->port = c->redis_port;
        connect_server(conn);
    }
}

aconn *aconn_create(struct event_base *base, const cfg *c, const char *name, enum aconn_kind kind,
                    aconn_event_fn *on_up, aconn_event_fn *on_down, void *arg)
{
    aconn *conn = xcalloc(1, sizeof *conn);
    conn->base = base;
    conn->cfg = c;
    conn->name = xstrdup(name);
    conn->kind = kind;
    conn->backoff_ms = BACKOFF_MIN_MS;
    conn->on_up = on_up;
    conn->on_down = on_down;
    conn->arg = arg;
    conn->retry = evtimer_new(base, retry_cb, conn);
    conn->timeout = evtimer_new(base, timeout_cb, conn);
    conn->fault = evtimer_new(base, fault_cb, conn);
    if (!conn->retry || !conn->timeout || !conn->fault)
        abort();
    start_connect(conn);
    return conn;
}

bool aconn_is_up(const aconn *conn)
{
    return conn && conn->state == ST_UP;
}

/* Every command's reply passes here: the caller's callback runs, and a fault reply schedules a
 * reset of the connection (it cannot happen inside this callback). */
static void command_cb(redisAsyncContext *ac, void *r, void *priv)
{
    pending_cmd *pc = priv;
    aconn *conn = pc->conn;
    redisReply *reply = r;
    if (redis_fault_reply(reply) && conn->ac == ac) {
        char why[160];
        snprintf(why, sizeof why, "the server answered %.120s", reply->str);
        aconn_reset_soon(conn, why);
    }
    pc->fn(ac, r, pc->priv);
    free(pc);
}

int aconn_command(aconn *conn, redisCallbackFn *fn, void *priv, int argc, const char **argv,
                  const size_t *lens)
{
    if (!aconn_is_up(conn) || !conn->ac)
        return -1;
    pending_cmd *pc = xmalloc(sizeof *pc);
    *pc = (pending_cmd){.conn = conn, .fn = fn, .priv = priv};
    if (redisAsyncCommandArgv(conn->ac, command_cb, pc, argc, argv, lens) != REDIS_OK) {
        free(pc);
        return -1;
    }
    return 0;
}

int aconn_subscribe(aconn *conn, redisCallbackFn *fn, void *priv, int argc, const char **argv)
{
    if (!aconn_is_up(conn) || !conn->ac)
        return -1;
    return redisAsyncCommandArgv(conn->ac, fn, priv, argc, argv, NULL) == REDIS_OK ? 0 : -1;
}

void aconn_free(aconn *conn)
{
    if (!conn)
        return;
    conn->state = ST_CLOSING;
    redisAsyncContext *ac = conn->ac, *sac = conn->sac;
    conn->ac = conn->sac = NULL;
    if (ac)
        redisAsyncFree(ac);
    if (sac)
        redisAsyncFree(sac);
    event_free(conn->retry);
    event_free(conn->timeout);
    event_free(conn->fault);
    free(conn->name);
    free(conn);
}
