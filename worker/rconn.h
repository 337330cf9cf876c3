/* rconn: one synchronous Redis connection (hiredis) that survives Redis going away or failing
 * over. After any I/O or protocol error the context is freed and a new one is made on the next
 * call, never reused; connection attempts back off from 0.1 s to 2 s. With REDIS_SENTINELS each
 * attempt asks the sentinels (the last that answered first) where the master is. With rediss://
 * every connection, to the sentinels too, is TLS with the server verified (common/redis_tls.h).
 *
 * API:
 *   rconn_create(cfg, timeout_ms)   no connection yet; timeout_ms bounds connect and each reply
 *   rconn_free(rc)                  accepts NULL
 *   rconn_ensure(rc)                0 when connected to a master (connecting now if the backoff
 *                                   allows: AUTH, SELECT, then ROLE must say master), else -1
 *   rconn_wait(rc, stop)            sleep until the next connection attempt is allowed, in short
 *                                   steps, returning early when *stop becomes non-zero
 *   rconn_command(rc, fmt, ...)     redisCommand: the reply (caller frees with freeReplyObject), or
 *                                   NULL when not connected or the connection broke. A Redis error
 *                                   reply is returned as REDIS_REPLY_ERROR, not NULL, except the
 *                                   ones redis_fault_reply names (common/redis_target.h): they drop
 *                                   the connection (NULL).
 *   rconn_commandv(rc, argc, argv, lens)   the same with an argument vector (binary safe).
 *   rconn_epoch(rc)                 counts successful connections: a change means "reconnected".
 *   rconn_send(rc, argc, argv)      send a command without waiting for its reply (a blocking
 *                                   one, such as BLMOVE, waited for with poll on rconn_fd);
 *                                   0, or -1 with the connection dropped
 *   rconn_recv(rc)                  the reply of the oldest command sent that way, as
 *                                   rconn_command answers (blocks until it is there)
 *   rconn_fd(rc)                    the connection's socket, -1 while disconnected
 *   rconn_reset(rc)                 drop the connection now (replies still due are lost); the
 *                                   next call connects again at once, a new epoch */
#ifndef CR_RCONN_H
#define CR_RCONN_H

#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/config.h"

typedef struct rconn rconn;

rconn *rconn_create(const cfg *c, int timeout_ms);
void rconn_free(rconn *rc);
int rconn_ensure(rconn *rc);
void rconn_wait(rconn *rc, volatile sig_atomic_t *stop);
redisReply *rconn_command(rconn *rc, const char *fmt, ...);
redisReply *rconn_commandv(rconn *rc, int argc, const char **argv, const size_t *lens);
unsigned rconn_epoch(const rconn *rc);
int rconn_send(rconn *rc, int argc, const char **argv);
redisReply *rconn_recv(rconn *rc);
int rconn_fd(const rconn *rc);
void rconn_reset(rconn *rc);

#endif
