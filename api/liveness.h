/* Liveness of each event loop's two Redis connections. A half-open connection (packets dropped,
 * a peer that vanished without a FIN) looks connected for as long as the kernel retries, about
 * fifteen minutes: long-polls would miss their completions and every request would wait for its
 * deadline. So every second the loop PUBLISHes on its command connection to a channel that only
 * its own subscriber connection listens to ({prefix}probe:<random>): no reply within REDIS_TIMEOUT
 * gives the command connection up; no probe message within REDIS_TIMEOUT while the command
 * connection answers gives the subscriber up. Either reconnects, and waiting tasks are re-read.
 *
 * API:
 *   liveness_start(loop)      arm the probe timer (loop->probe_channel must be set).
 *   liveness_sub_seen(loop)   a probe message (or the probe subscription) arrived on sub.
 *   liveness_stop(loop)       disarm it (teardown). */
#ifndef CR_API_LIVENESS_H
#define CR_API_LIVENESS_H

#include "api/server.h"

#define LIVENESS_PROBE_MS 1000

void liveness_start(api_loop *loop);
void liveness_sub_seen(api_loop *loop);
void liveness_stop(api_loop *loop);

#endif
