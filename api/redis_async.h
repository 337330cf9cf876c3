/* aconn: one asynchronous Redis connection (hiredis async API on a libevent loop) that keeps
 * itself connected to a master: AUTH and SELECT after each connect, then ROLE must say master;
 * reconnect with backoff (100 ms doubling to 2 s) after any loss; a connect timeout of
 * REDIS_TIMEOUT; TCP keepalive. A server that answers READONLY, MASTERDOWN or LOADING to a command
 * (an old master after a failover, a replica behind the address, a server still loading) is
 * dropped like a lost connection, after that command's callback has run.
 *
 * API:
 *   aconn_create(base, cfg, name, on_up, on_down, arg)  a connection; starts connecting at once.
 *   aconn_is_up(conn)        true once connected, authenticated, on the right database, master.
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

aconn *aconn_create(struct event_base *base, const cfg *c, const char *name,
                    aconn_event_fn *on_up, aconn_event_fn *on_down, void *arg);
bool aconn_is_up(const aconn *conn);
int aconn_command(aconn *conn, redisCallbackFn *fn, void *priv, int argc, const char **argv,
                  const size_t *lens);
int aconn_subscribe(aconn *conn, redisCallbackFn *fn, void *priv, int argc, const char **argv);
void aconn_reset(aconn *conn, const char *why);
void aconn_reset_soon(aconn *conn, const char *why);
void aconn_free(aconn *conn);

#endif
