/* TLS to Redis (REDIS_URL rediss://) for every connection of both programs, synchronous or
 * async, to the master and to the sentinels: one client context made at start-up from the
 * REDIS_TLS_* settings, then a session per connection that verifies the server's certificate
 * against the CAs and its name (REDIS_TLS_SERVER_NAME, else the host name or address connected
 * to). Verification is never turned off. hiredis's TLS half and OpenSSL are loaded with dlopen
 * when TLS is configured, and only then: a process without TLS does not map them.
 *
 * API:
 *   redis_tls_load(c, err, errlen)   when c->redis_tls: load the libraries and make the context
 *                                    into c->redis_tls_ctx (freed by cfg_free); nothing when
 *                                    REDIS_URL is redis://. -1 with a message naming the
 *                                    variable at fault (a CA file with no certificate, a key
 *                                    that is not the certificate's). Once, before any thread.
 *   redis_tls_free(t)                accepts NULL
 *   redis_tls_start(t, ctx, host, err, errlen)
 *                                    start TLS on a hiredis context that has just connected to
 *                                    host: a blocking context does the handshake now (bounded by
 *                                    its timeout, so set that first), an async one during its
 *                                    first exchange. The session belongs to ctx (freed with it).
 *                                    -1 with the reason in err (the context stays ctx's caller's
 *                                    to free).
 *   redis_tls_why(ctx, setup, buf, len)
 *                                    why the TLS session of ctx failed, in words: the
 *                                    certificate check's verdict ("certificate verify failed:
 *                                    hostname mismatch"), else OpenSSL's last error (an alert
 *                                    from the server, a server that does not speak TLS), else,
 *                                    when the server closed or reset the connection during its
 *                                    set-up (no reply read yet), ctx->errstr with what that may
 *                                    mean; NULL when ctx
 *                                    has no TLS or there is nothing to add (then ctx->errstr
 *                                    tells). Empties this thread's OpenSSL error queue.
 * The session is kept in ctx->privdata (hiredis's slot for its user), which nothing else uses. */
#ifndef CR_REDIS_TLS_H
#define CR_REDIS_TLS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/config.h"

typedef struct redis_tls redis_tls;

int redis_tls_load(cfg *c, char *err, size_t errlen);
void redis_tls_free(redis_tls *t);
int redis_tls_start(const redis_tls *t, redisContext *ctx, const char *host, char *err,
                    size_t errlen);
const char *redis_tls_why(const redisContext *ctx, bool setup, char *buf, size_t len);

#endif
