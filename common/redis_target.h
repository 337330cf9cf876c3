/* Where the Redis master is and how to log in, for both programs' connections: the server of
 * REDIS_URL, or, with REDIS_SENTINELS, the master that the sentinels name for REDIS_MASTER_NAME
 * (SENTINEL get-master-addr-by-name; the connection then checks ROLE itself).
 *
 *   redis_auth_argv(user, password, argv)   AUTH [user] password as an argument vector: its
 *                                           length, 0 when there is no password
 *   redis_fault_reply(reply)                true for the error replies of a server that cannot
 *                                           serve us now, which both programs treat as a lost
 *                                           connection: READONLY (a replica), MASTERDOWN, LOADING,
 *                                           UNBLOCKED (a blocked command cut by a demotion),
 *                                           NOREPLICAS (a master that lost its replicas, perhaps
 *                                           cut off from a failover)
 *   redis_master_addr(reply, host, hostlen, &port)
 *                                           the address in a get-master-addr-by-name reply: 0,
 *                                           or -1 when the reply names none (unknown master) */
#ifndef CR_REDIS_TARGET_H
#define CR_REDIS_TARGET_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

int redis_auth_argv(const char *user, const char *password, const char *argv[3]);
bool redis_fault_reply(const redisReply *r);
int redis_master_addr(const redisReply *r, char *host, size_t hostlen, int *port);

#endif
