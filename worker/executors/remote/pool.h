/* The executor hosts as every worker process of the fleet shares them, through Redis (keys in
 * common/redis_model.h): what each host offers (its capacity report, taken by one probe per
 * REMOTE_PROBE_INTERVAL fleet-wide), which hosts are down (no lease until a probe finds them
 * healthy again, REMOTE_DOWN_RETRY after they went down), and the slot leases that keep the
 * fleet from sending a host more jobs than it has slots. A lease expires with its job's bound,
 * so a worker that died holding one frees it anyway; its supervisor frees it at once
 * (pool_release_stale). Waiting workers sleep on a list that every release pushes to: Redis
 * wakes the longest-waiting one first.
 *
 * API:
 *   pool_create(cfg, client, worker_id)   no hosts yet; client borrowed (probes); pool_free
 *   pool_set_hosts(p, urls, n)   the hosts (REMOTE_EXECUTORS, or those EC2 discovery found);
 *                                what was known of hosts still there is kept; -1 with err on a
 *                                bad URL
 *   pool_refresh(p, force)       re-read the shared view (at most once a second unless forced)
 *                                and probe the hosts whose turn it is (a lock per host: one
 *                                worker process of the fleet probes it)
 *   pool_acquire(p, lang, ttl_ms, &lease)  1: a slot leased (on the host with the most free
 *                                slots that offers lang and is up); 0: none free; -1: Redis
 *                                unreachable
 *   pool_release(p, &lease)      give it back and wake a waiting worker
 *   pool_mark_down(p, host, why) no lease on it until a probe after REMOTE_DOWN_RETRY finds it
 *                                healthy; why is what a FAILURE says of it (shared: the fleet
 *                                leaves it alone too)
 *   pool_mark_refused(p, host, why)  it refuses this worker (401, untrusted certificate): the
 *                                same, for this process only (another worker's token or CA may
 *                                be right)
 *   pool_wait(p, ms)             sleep until a lease is released somewhere, or ms pass
 *   pool_explain(p, lang, buf, len)  why no slot could be leased for lang: POOL_WAIT (a host may
 *                                still serve it), POOL_NO_LANGUAGE (every host reported, none
 *                                offers it), POOL_REFUSED (every host refuses us: our token, or
 *                                the TLS certificates do not check out); buf
 *                                gets a summary of the hosts for a FAILURE message
 *   pool_target(p, host)         how to reach a host (borrowed)
 *   pool_count(p)                hosts in the list
 *   pool_unknown(p)              hosts up but not reported yet (a probe is under way)
 *   pool_release_stale(cfg, wid) free the lease a dead worker process held (its supervisor)
 *   pool_redis(p)                the pool's Redis connection, for the EC2 fleet (borrowed)
 *   pool_forget_host(p, url)     remove what Redis holds about a host that is gone for good */
#ifndef CR_REMOTE_POOL_H
#define CR_REMOTE_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "worker/executors/remote/client.h"
#include "worker/rconn.h"

typedef struct pool pool;

/* A slot leased on a host, held while a job runs there. */
typedef struct pool_lease {
    size_t host;    /* index in the pool's list */
    char token[80]; /* "<worker process>/<random>": the zset member */
    char *url;      /* owned; the host, as the lease's keys name it */
} pool_lease;

typedef enum pool_why {
    POOL_WAIT,        /* hosts that offer the language are busy, or may come back */
    POOL_NO_LANGUAGE, /* every host has reported and none offers it */
    POOL_REFUSED,     /* every host refuses us: a wrong token, an untrusted certificate */
} pool_why;

pool *pool_create(const cfg *c, rclient *client, const char *worker_id);
void pool_free(pool *p);
int pool_set_hosts(pool *p, char *const *urls, size_t n, char *err, size_t errlen);
void pool_refresh(pool *p, bool force);
int pool_acquire(pool *p, const char *lang, long ttl_ms, pool_lease *lease);
void pool_release(pool *p, pool_lease *lease);
void pool_mark_down(pool *p, size_t host, const char *why);
void pool_mark_refused(pool *p, size_t host, const char *why);
void pool_wait(pool *p, long ms);
pool_why pool_explain(pool *p, const char *lang, char *buf, size_t len);
const rclient_target *pool_target(const pool *p, size_t host);
size_t pool_count(const pool *p);
size_t pool_unknown(const pool *p);
void pool_release_stale(const cfg *c, const char *worker_id);
rconn *pool_redis(pool *p);
void pool_forget_host(pool *p, const char *url);

#endif
