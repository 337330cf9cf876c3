/* A synchronous Redis connection that is replaced, never reused, after an error, and reconnects
 * with backoff (0.1 s doubling to 2 s), to the server of REDIS_URL or to the master the sentinels
 * name, over TLS with rediss://. Only a master is kept: ROLE is checked at connect, and replies
 * that say the server cannot serve us (redis_fault_reply) drop the connection like an I/O
 * error. */
#include "rconn.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <stdint.h>
#include <time.h>

#include "common/log.h"
#include "common/redis_target.h"
#include "common/redis_tls.h"
#include "common/util.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000

/* A connection and its reconnect schedule; created by rconn_create, freed by rconn_free. */
struct rconn {
    const cfg *c;        /* borrowed configuration (address, password, db) */
    int timeout_ms;      /* connect and reply timeout */
    redisContext *ctx;   /* owned; NULL while disconnected */
    int64_t next_try_ms; /* monotonic time before which no new connection is attempted */
    int backoff_ms;      /* current backoff, 0 after a good connection */
    int failures;        /* consecutive failed attempts, to log the first and then rarely */
    unsigned epoch;      /* successful connections so far */
    size_t sentinel;     /* REDIS_SENTINELS: the one to ask first (the last that answered) */
    char host[256];      /* the server connected to, or being connected to */
    int port;
};

rconn *rconn_create(const cfg *c, int timeout_ms)
{
    rconn *rc = xcalloc(1, sizeof *rc);
    rc->c = c;
    rc->timeout_ms = timeout_ms;
    return rc;
}

void rconn_free(rconn *rc)
{
    if (!rc)
        return;
    if (rc->ctx)
        redisFree(rc->ctx);
    free(rc);
}

/* Why the context failed (setup: before its first reply): TLS's reason when it has one, else
 * hiredis's. */
static const char *ctx_error(const redisContext *ctx, bool setup, char *buf, size_t len)
{
    const char *tls = redis_tls_why(ctx, setup, buf, len);
    return tls ? tls : ctx->errstr[0] ? ctx->errstr : "no reply";
}

/* Connect to host:port with the timeouts (connect, then each reply) and keepalive, and over TLS
 * with rediss://. The context, or NULL with the reason in err. */
static redisContext *connect_to(const cfg *c, const char *host, int port, struct timeval tv,
                                char *err, size_t errlen)
{
    redisContext *ctx = redisConnectWithTimeout(host, port, tv);
    if (!ctx || ctx->err) {
        set_error(err, errlen, "%s", ctx ? ctx->errstr : "out of memory");
        redisFree(ctx);
        return NULL;
    }
    redisSetTimeout(ctx, tv); /* before TLS: it bounds the handshake too */
    redisEnableKeepAlive(ctx);
    if (c->redis_tls && redis_tls_start(c->redis_tls_ctx, ctx, host, err, errlen) < 0) {
        redisFree(ctx);
        return NULL;
    }
    return ctx;
}

/* Forget the context after an error; the next call reconnects after the backoff. */
static void drop(rconn *rc, const char *why)
{
    if (rc->ctx) {
        log_warn("redis connection lost: %s", why);
        redisFree(rc->ctx);
        rc->ctx = NULL;
    }
    rc->backoff_ms = rc->backoff_ms ? rc->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (rc->backoff_ms > BACKOFF_MAX_MS)
        rc->backoff_ms = BACKOFF_MAX_MS;
    rc->next_try_ms = now_mono_ms() + rc->backoff_ms;
}

/* Check one setup reply (AUTH, SELECT); -1 and the connection dropped on error. */
static int setup_ok(rconn *rc, redisReply *r, const char *what)
{
    if (r && r->type != REDIS_REPLY_ERROR) {
        freeReplyObject(r);
        return 0;
    }
    char buf[256];
    log_error("redis %s failed: %s", what, r ? r->str : ctx_error(rc->ctx, true, buf, sizeof buf));
    if (r)
        freeReplyObject(r);
    redisFree(rc->ctx);
    rc->ctx = NULL;
    return -1;
}

/* ROLE: only a master takes our writes. A replica (an old master after a failover, or an address
 * that does not point at the master yet) is a failed attempt, retried with backoff. */
static int check_master(rconn *rc)
{
    redisReply *r = redisCommand(rc->ctx, "ROLE");
    bool master = r && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
                  r->element[0]->type == REDIS_REPLY_STRING &&
                  strcmp(r->element[0]->str, "master") == 0;
    if (master) {
        freeReplyObject(r);
        return 0;
    }
    char buf[256];
    bool say = rc->failures++ % 20 == 0; /* the first failure, then rarely */
    if (say && !r) /* no answer at all: a lost connection, or TLS refused (mutual TLS) */
        log_warn("redis at %s:%d: %s (retrying)", rc->host, rc->port,
                 ctx_error(rc->ctx, true, buf, sizeof buf));
    else if (say)
        log_warn("redis at %s:%d is not a master (%s); retrying", rc->host, rc->port,
                 r->type == REDIS_REPLY_ERROR ? r->str
                 : r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
                         r->element[0]->type == REDIS_REPLY_STRING
                     ? r->element[0]->str
                     : "unexpected ROLE reply");
    if (r)
        freeReplyObject(r);
    redisFree(rc->ctx);
    rc->ctx = NULL;
    drop(rc, "not a master");
    return -1;
}

/* REDIS_SENTINELS: ask them in turn, the last that answered first, where the master is.
 * 0 with rc->host and rc->port set, or -1 when none knows (why, the last sentinel's answer or
 * failure, in why). */
static int discover(rconn *rc, struct timeval tv, char *why, size_t whylen)
{
    const cfg *c = rc->c;
    for (size_t k = 0; k < c->n_sentinels; k++) {
        size_t i = (rc->sentinel + k) % c->n_sentinels;
        const cfg_endpoint *s = &c->sentinels[i];
        char err[256];
        redisContext *sc = connect_to(c, s->host, s->port, tv, err, sizeof err);
        if (!sc) {
            log_debug("sentinel %s:%d: %s", s->host, s->port, err);
            snprintf(why, whylen, "sentinel %s:%d: %s", s->host, s->port, err);
            continue;
        }
        const char *auth[3];
        int n = redis_auth_argv(NULL, c->redis_sentinel_password, auth);
        redisReply *r = n ? redisCommandArgv(sc, n, auth, NULL) : NULL;
        bool authed = !n || (r && r->type != REDIS_REPLY_ERROR);
        if (r)
            freeReplyObject(r);
        r = authed ? redisCommand(sc, "SENTINEL get-master-addr-by-name %s", c->redis_master_name)
                   : NULL;
        int found = redis_master_addr(r, rc->host, sizeof rc->host, &rc->port);
        if (found < 0) {
            char buf[256];
            snprintf(why, whylen, "sentinel %s:%d: %s", s->host, s->port,
                     !r && sc->err ? ctx_error(sc, true, buf, sizeof buf)
                     : authed      ? "does not name it"
                                   : "AUTH failed");
            log_debug("%s", why);
        }
        if (r)
            freeReplyObject(r);
        redisFree(sc);
        if (found == 0) {
            rc->sentinel = i;
            return 0;
        }
    }
    return -1;
}

int rconn_ensure(rconn *rc)
{
    if (rc->ctx)
        return 0;
    if (now_mono_ms() < rc->next_try_ms)
        return -1;
    struct timeval tv = {rc->timeout_ms / 1000, (rc->timeout_ms % 1000) * 1000};
    char err[512] = "";
    if (rc->c->n_sentinels == 0) {
        snprintf(rc->host, sizeof rc->host, "%s", rc->c->redis_host);
        rc->port = rc->c->redis_port;
    } else if (discover(rc, tv, err, sizeof err) < 0) {
        if (rc->failures++ % 20 == 0)
            log_warn("no sentinel of REDIS_SENTINELS names a master '%s' (last: %s; retrying)",
                     rc->c->redis_master_name, err);
        drop(rc, "no master known");
        return -1;
    }
    rc->ctx = connect_to(rc->c, rc->host, rc->port, tv, err, sizeof err);
    if (!rc->ctx) {
        if (rc->failures++ % 20 == 0)
            log_warn("cannot connect to redis at %s:%d: %s (retrying)", rc->host, rc->port, err);
        drop(rc, "connect failed");
        return -1;
    }
    const char *auth[3];
    int n = redis_auth_argv(rc->c->redis_user, rc->c->redis_password, auth);
    if (n && setup_ok(rc, redisCommandArgv(rc->ctx, n, auth, NULL), "AUTH") < 0) {
        drop(rc, "AUTH failed");
        return -1;
    }
    if (rc->c->redis_db &&
        setup_ok(rc, redisCommand(rc->ctx, "SELECT %d", rc->c->redis_db), "SELECT") < 0) {
        drop(rc, "SELECT failed");
        return -1;
    }
    if (check_master(rc) < 0)
        return -1;
    if (rc->epoch > 0)
        log_info("connected to redis at %s:%d again", rc->host, rc->port);
    rc->failures = 0;
    rc->backoff_ms = 0;
    rc->epoch++;
    return 0;
}

void rconn_wait(rconn *rc, volatile sig_atomic_t *stop)
{
    while (!(stop && *stop)) {
        int64_t left = rc->next_try_ms - now_mono_ms();
        if (left <= 0)
            return;
        if (left > 100)
            left = 100;
        struct timespec ts = {0, (long)left * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* The reply of the last command, or NULL with the connection dropped on an I/O error or on an
 * error reply that says this server cannot serve us (redis_fault_reply). */
static redisReply *checked(rconn *rc, void *reply)
{
    if (!reply) {
        char buf[256];
        drop(rc, ctx_error(rc->ctx, false, buf, sizeof buf));
        return NULL;
    }
    redisReply *r = reply;
    if (redis_fault_reply(r)) {
        char why[128];
        snprintf(why, sizeof why, "%s", r->str);
        freeReplyObject(r);
        drop(rc, why);
        return NULL;
    }
    return r;
}

redisReply *rconn_command(rconn *rc, const char *fmt, ...)
{
    if (rconn_ensure(rc) < 0)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    void *reply = redisvCommand(rc->ctx, fmt, ap);
    va_end(ap);
    return checked(rc, reply);
}

redisReply *rconn_commandv(rconn *rc, int argc, const char **argv, const size_t *lens)
{
    if (rconn_ensure(rc) < 0)
        return NULL;
    return checked(rc, redisCommandArgv(rc->ctx, argc, argv, lens));
}

unsigned rconn_epoch(const rconn *rc)
{
    return rc->epoch;
}

int rconn_send(rconn *rc, int argc, const char **argv)
{
    if (rconn_ensure(rc) < 0)
        return -1;
    int done = 0;
    if (redisAppendCommandArgv(rc->ctx, argc, argv, NULL) != REDIS_OK) {
        drop(rc, rc->ctx->errstr[0] ? rc->ctx->errstr : "cannot send");
        return -1;
    }
    while (!done)
        if (redisBufferWrite(rc->ctx, &done) != REDIS_OK) {
            drop(rc, rc->ctx->errstr[0] ? rc->ctx->errstr : "cannot send");
            return -1;
        }
    return 0;
}

redisReply *rconn_recv(rconn *rc)
{
    if (!rc->ctx)
        return NULL;
    void *reply = NULL;
    if (redisGetReply(rc->ctx, &reply) != REDIS_OK)
        reply = NULL;
    return checked(rc, reply);
}

int rconn_fd(const rconn *rc)
{
    return rc->ctx ? rc->ctx->fd : -1;
}

void rconn_reset(rconn *rc)
{
    if (rc->ctx)
        redisFree(rc->ctx);
    rc->ctx = NULL;
    rc->next_try_ms = 0;
}
