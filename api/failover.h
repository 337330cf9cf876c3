/* Following a Sentinel failover at once. With REDIS_SENTINELS, each event loop keeps one
 * connection to a sentinel (the next one when it is lost) subscribed to +switch-master; a switch
 * of REDIS_MASTER_NAME gives both of the loop's master connections up, so they ask the sentinels
 * again and reconnect to the new master (long-polls then resubscribe and re-read their tasks).
 * A lost connection, a READONLY reply or an enqueue that could not be replicated lead there
 * too; this only makes it prompt.
 *
 * API:
 *   failover_watch_start(loop)   with sentinels configured, make loop->sentinel (else nothing). */
#ifndef CR_API_FAILOVER_H
#define CR_API_FAILOVER_H

#include "api/server.h"

void failover_watch_start(api_loop *loop);

#endif
