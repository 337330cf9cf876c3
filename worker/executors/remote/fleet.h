/* The EC2 fleet of executor hosts (AWS_REGION set): the instances tagged EC2_TAG, found by one
 * worker process of the fleet per EC2_DISCOVERY_INTERVAL (DescribeInstances) and shared in Redis
 * ({prefix}remote:ec2:instances); more launched when jobs wait for a slot, by one worker elected
 * through Redis ({prefix}remote:ec2:launch, held for EC2_LAUNCH_COOLDOWN: a burst of waiting jobs
 * launches one instance, not a fleet), never beyond EC2_MAX_INSTANCES; at least
 * EC2_MIN_INSTANCES kept; an instance above that with no lease for EC2_IDLE_TERMINATE_SECONDS
 * retired (no lease is granted on it any more, in the same script that checks it is idle) and
 * terminated. Each instance is reached at EC2_AGENT_URL with {ip} its private address.
 *
 *   fleet_create(cfg, pool, worker_id, &f, err, errlen)   pool borrowed (its Redis connection,
 *                                 and it forgets hosts that are gone); reads EC2_USER_DATA_FILE
 *   fleet_free(f)                 accepts NULL
 *   fleet_sync(f, upkeep)         the shared list at most once a second, and, when upkeep is
 *                                 true, the upkeep pass (discovery, minimum, idle termination)
 *                                 when it is our turn (EC2 calls: idle processes, and jobs that
 *                                 wait anyway, make them); true when the hosts' URLs changed
 *   fleet_urls(f, &n)             the URLs of the pending and running instances (borrowed)
 *   fleet_want_more(f)            jobs wait for a slot: launch one instance if elected and below
 *                                 EC2_MAX_INSTANCES
 *   fleet_status(f, buf, len)     a line for FAILURE messages: instances known, the last error */
#ifndef CR_REMOTE_FLEET_H
#define CR_REMOTE_FLEET_H

#include <stdbool.h>
#include <stddef.h>

#include "common/config.h"
#include "worker/executors/remote/pool.h"

typedef struct fleet fleet;

int fleet_create(const cfg *c, pool *p, const char *worker_id, fleet **out, char *err,
                 size_t errlen);
void fleet_free(fleet *f);
bool fleet_sync(fleet *f, bool upkeep);
char *const *fleet_urls(const fleet *f, size_t *n);
void fleet_want_more(fleet *f);
void fleet_status(const fleet *f, char *buf, size_t len);

#endif
