/* Heartbeats: {prefix}workers is a sorted set of worker process id -> deadline (ms since the
 * epoch, by Redis's own clock so that hosts with skewed clocks agree): past its deadline without
 * a new beat, a process is presumed dead. The deadline is the beat's time plus the beating host's
 * own stale threshold (heartbeat_stale_ms), which also goes to {prefix}worker_stale, so that
 * reapers on hosts configured differently judge every worker by that worker's own setting.
 *
 * The supervisor beats for all its live worker processes every HEARTBEAT_INTERVAL, and each beat
 * also renews its ownership of WORKER_ID ({prefix}owner:<WORKER_ID>, see identity.h). A worker
 * process registers itself after each (re)connect and with each claim (queue.h), so that a job is
 * never held by an id the reaper cannot see.
 *
 *   heartbeat_stale_ms(cfg)                     3 x HEARTBEAT_INTERVAL + HEARTBEAT_GRACE_MS
 *   heartbeat_beat(rc, cfg, token, ids, n, &now, other, otherlen)
 *       renew ownership and stamp each id: 1 (with Redis's time in *now), 0 when another
 *       supervisor owns WORKER_ID (its token in other), -1 when Redis is unreachable. n may be
 *       0 (ownership only). */
#ifndef CR_HEARTBEAT_H
#define CR_HEARTBEAT_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "worker/rconn.h"

#define HEARTBEAT_GRACE_MS 2000

int64_t heartbeat_stale_ms(const cfg *c);
int heartbeat_beat(rconn *rc, const cfg *c, const char *token, const char *const *ids, size_t n,
                   int64_t *now, char *other, size_t otherlen);

#endif
