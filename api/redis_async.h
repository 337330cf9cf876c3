/* aconn: one asynchronous Redis connection (hiredis async API on a libevent loop) that keeps
 * itself connected to a master (ACONN_MASTER: REDIS_URL's server, or the master the sentinels of
 * REDIS_SENTINELS name, asked in turn) or to a sentinel (ACONN_SENTINEL: each of REDIS_SENTINELS
 * in turn): AUTH and SELECT after each connect, then ROLE must say master (or sentinel);
 * reconnect with backoff (100 ms doubling to 2 s) after any loss; a timeout of REDIS_TIMEOUT on
 * discovery and connect (the TLS handshake included: with rediss:// every context is TLS, see
 * common/redis_tls.h); TCP keepalive. A server whose reply to a command says it cannot serve
 * us (redis_fault_reply: an old master after a failover, a replica behind the address, a server
 * still loading) is dropped like a lost connection, after that command's callback has run.
 *
 * API:
 *   aconn_create(base, cfg, name, kind, on_up, on_down, arg)  a connection; starts connecting.
 *   aconn_is_up(conn)        true once connected, authenticated, on the right database and role.
 *   aconn_command(conn, fn, priv, argc, argv, lens)  send a command (redisAsyncCommandArgv); -1
 *       when not up (then fn is never called). fn runs exactly once; with a NULL reply if the
 *       connection is lost first (or freed).
 *   aconn_subscribe(conn, fn, priv, argc, argv)  SUBSCRIBE (argv[0]) to channels: fn runs for
 *       each confirmation and each message, and once more with a NULL reply when the connection
 *       goes; -1 when not up.
 *   aconn_reset(conn, why)   give the connection up now (a silent, half-open socket): pending
 *       callbacks run with NULL replies, on_down runs, a new connection follows after backoff.
 *       Never call it from inside a hiredis callback of this connection.
 *   aconn_reset_soon(conn, why)  the same from anywhere, a callback included: done from the loop
 *       right after (an answer that shows the server cannot serve us, e.g. ROLE says replica).
 *   aconn_free(conn)         close; pending callbacks run with NULL replies. Never call it from
 *       inside a hiredis callback. Accepts NULL.
 * on_up runs after each successful handshake, on_down once per loss of an up connection. */
#ifndef CR_API_REDIS_ASYNC_H
#define CR_API_REDIS_ASYNC_H

#include <event2/event.h>
#include <hiredis/async.h>
#include <stdbool.h>

#include "common/config.h"

typedef struct aconn aconn;
typedef void aconn_event_fn(aconn *conn, void *arg);

/* What a connection talks to. */
enum aconn_kind {
    ACONN_MASTER,   /* the Redis master: commands, subscriptions */
    ACONN_SENTINEL, /* one of REDIS_SENTINELS: watching for failovers */
};

aconn *aconn_create(struct event_base *base, const cfg *c, const char *name, enum aconn_kind kind,
                    aconn_event_fn *on_up, aconn_event_fn *on_down, void *arg);
bool aconn_is_up(const aconn *conn);
int aconn_command(aconn *conn, redisCallbackFn *fn, void *priv, int argc, const char **argv,
                  const size_t *lens);
int aconn_subscribe(aconn *conn, redisCallbackFn *fn, void *priv, int argc, const char **argv);
void aconn_reset(aconn *conn, const char *why);
void aconn_reset_soon(aconn *conn, const char *why);
void aconn_free(aconn *conn);

#endif
