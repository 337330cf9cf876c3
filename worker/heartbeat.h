/* Heartbeats: {prefix}workers is a sorted set of worker process id -> last sign of life (ms since
 * the epoch, by Redis's own clock so that hosts with skewed clocks agree). The supervisor beats
 * for all its live worker processes every HEARTBEAT_INTERVAL; a worker process beats for itself
 * once after each (re)connect, before it takes a job, so that a job is never held by an id the
 * reaper cannot see.
 *
 *   heartbeat_beat(rc, cfg, ids, n)   ZADD now for each id; 0, or -1 when Redis is unreachable. */
#ifndef CR_HEARTBEAT_H
#define CR_HEARTBEAT_H

#include <stddef.h>

#include "common/config.h"
#include "worker/rconn.h"

int heartbeat_beat(rconn *rc, const cfg *c, const char *const *ids, size_t n);

#endif
