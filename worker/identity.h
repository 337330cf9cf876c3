/* identity: who this worker supervisor is, in Redis and on its host.
 *
 * WORKER_ID names a supervisor (its worker processes are "<WORKER_ID>-<slot>"); it must be
 * exclusive across the fleet, because processing lists, leases and sandbox names derive from it.
 * Unset, it defaults to "<host name>-<8 hex digits>", the digits made once and kept in
 * STATE_DIR/worker-id, so a restart on the same host takes the same id back (and cleans up what
 * its previous run left), while two hosts, or two containers with their own STATE_DIR, never share
 * one. Exclusivity is then enforced in Redis: the supervisor owns {prefix}owner:<WORKER_ID> under
 * a random token, refreshed by every heartbeat (heartbeat.h), and worker processes fence their
 * claims with the token (queue.h).
 *
 * The token starts with the supervisor's place: host name, boot id and STATE_DIR. At start-up
 * (identity_claim) a key held from the same place belonged to a previous run on this host, which
 * is dead since we hold STATE_DIR's lock: it is taken over at once. A key from another place is
 * watched for up to a stale threshold: renewed, a live supervisor elsewhere has our id and we
 * refuse to start; expired, its owner was dead and the id is ours.
 *
 *   identity_default_worker_id(cfg, err, errlen)  the default id (caller frees), NULL with err
 *   identity_token(cfg, out)       "<host>/<boot>/<dir>/<pid>/<16 hex>" into out
 *   identity_claim(rc, cfg, token, other, otherlen)
 *       take {prefix}owner:<WORKER_ID> for the stale threshold: 1 taken, 0 a live supervisor
 *       elsewhere owns it (its token in other), -1 Redis unreachable; waits (up to a stale
 *       threshold, while *stop stays 0) for the claim of a supervisor from elsewhere to expire. */
#ifndef CR_IDENTITY_H
#define CR_IDENTITY_H

#include <stddef.h>

#include <signal.h>

#include "common/config.h"
#include "worker/rconn.h"

#define IDENTITY_TOKEN_MAX 320

char *identity_default_worker_id(const cfg *c, char *err, size_t errlen);
void identity_token(const cfg *c, char out[IDENTITY_TOKEN_MAX]);
int identity_claim(rconn *rc, const cfg *c, const char *token, char *other, size_t otherlen,
                   volatile sig_atomic_t *stop);

#endif
