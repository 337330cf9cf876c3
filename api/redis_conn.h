/* One asynchronous Redis connection (hiredis async API on a libevent loop) that keeps itself
 * connected: AUTH and SELECT after each connect, reconnect with backoff (100 ms doubling to
 * 2 s) after any loss, a connect timeout of 2 s.
 *
 * API:
 *   rconn_create(base, cfg, name, on_up, on_down, arg)  a connection; starts connecting at once.
 *   rconn_is_up(rc)          true once connected, authenticated and on the right database.
 *   rconn_command(rc, fn, priv, argc, argv, lens)  send a command (redisAsyncCommandArgv); -1 when
 *       not up (then fn is never called). fn runs exactly once; with a NULL reply if the
 *       connection is lost first (or freed).
 *   rconn_free(rc)           close; pending callbacks run with NULL replies. Never call it from
 *       inside a hiredis callback. Accepts NULL.
 * on_up runs after each successful handshake, on_down once per loss of an up connection. */
#ifndef CR_API_REDIS_CONN_H
#define CR_API_REDIS_CONN_H

#include <event2/event.h>
#include <hiredis/async.h>
#include <stdbool.h>

#include "common/config.h"

typedef struct rconn rconn;
typedef void rconn_event_fn(rconn *rc, void *arg);

rconn *rconn_create(struct event_base *base, const cfg *c, const char *name, rconn_event_fn *on_up,
                    rconn_event_fn *on_down, void *arg);
bool rconn_is_up(const rconn *rc);
int rconn_command(rconn *rc, redisCallbackFn *fn, void *priv, int argc, const char **argv,
                  const size_t *lens);
void rconn_free(rconn *rc);

#endif
