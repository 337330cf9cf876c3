/* Acknowledged means replicated. With REDIS_MIN_REPLICAS_ACK > 0 (the default with sentinels),
 * an enqueue the master accepted is answered only once that many replicas hold it: Redis's WAIT
 * on the command connection that wrote it. Enqueues of one loop share their WAITs (group
 * commit): one WAIT is in flight at a time and covers every enqueue acknowledged before it was
 * sent. WAIT gives up after half of REDIS_TIMEOUT, so that the commands queued behind it (WAIT
 * blocks its connection) are not cut by the liveness probe; too few replicas then is a 503,
 * never a 200 (the job was written to the master and may still run: a 503 to a POST means
 * "unknown").
 *
 * API:
 *   replication_wait(x)   x's enqueue was acknowledged by the master: answer it (through
 *                         routes_enqueue_acknowledged) once replicated, or 503. */
#ifndef CR_API_REPLICATION_H
#define CR_API_REPLICATION_H

#include "api/request.h"

void replication_wait(req_ctx *x);

#endif
