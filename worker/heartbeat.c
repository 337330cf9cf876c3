/* Heartbeats: one Lua script renews the supervisor's ownership of WORKER_ID and stamps every
 * given worker id with a deadline on Redis's clock. */
#include "heartbeat.h"

#include <stdio.h>

#include "common/log.h"
#include "common/redis_model.h"
#include "common/util.h"

/* KEYS[1] workers zset, KEYS[2] worker_stale hash, KEYS[3] owner key;
 * ARGV[1] owner token, ARGV[2] stale ms, ARGV[3..] worker ids.
 * Returns {1, now ms}, or {0, other token} when another supervisor owns the id (nothing
 * written). */
static const char *const SCRIPT_HEARTBEAT =
    "local cur = redis.call('GET', KEYS[3])\n"
    "if cur and cur ~= ARGV[1] then return {0, cur} end\n"
    "redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[2])\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local stale = tonumber(ARGV[2])\n"
    "for i = 3, #ARGV do\n"
    "  redis.call('ZADD', KEYS[1], now + stale, ARGV[i])\n"
    "  redis.call('HSET', KEYS[2], ARGV[i], stale)\n"
    "end\n"
    "return {1, now}\n";

int64_t heartbeat_stale_ms(const cfg *c)
{
    return 3LL * c->heartbeat_interval * 1000 + HEARTBEAT_GRACE_MS;
}

int heartbeat_beat(rconn *rc, const cfg *c, const char *token, const char *const *ids, size_t n,
                   int64_t *now, char *other, size_t otherlen)
{
    cleanup_free char *workers = key_workers(c->redis_prefix);
    cleanup_free char *stale_key = key_worker_stale(c->redis_prefix);
    cleanup_free char *owner = key_owner(c->redis_prefix, c->worker_id);
    char stale[32];
    snprintf(stale, sizeof stale, "%lld", (long long)heartbeat_stale_ms(c));
    size_t argc = 8 + n;
    cleanup_free const char **argv = xcalloc(argc, sizeof *argv);
    const char *fixed[] = {"EVAL", SCRIPT_HEARTBEAT, "3", workers, stale_key, owner, token, stale};
    for (size_t i = 0; i < 8; i++)
        argv[i] = fixed[i];
    for (size_t i = 0; i < n; i++)
        argv[8 + i] = ids[i];
    redisReply *r = rconn_commandv(rc, (int)argc, argv, NULL);
    if (!r)
        return -1;
    int res = -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_INTEGER) {
        redisReply *second = r->element[1];
        if (r->element[0]->integer == 1 && second->type == REDIS_REPLY_INTEGER) {
            *now = second->integer;
            res = 1;
        } else if (r->element[0]->integer == 0 && second->type == REDIS_REPLY_STRING) {
            snprintf(other, otherlen, "%s", second->str);
            res = 0;
        }
    }
    if (res < 0)
        log_error("heartbeat script failed: %s",
                  r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    freeReplyObject(r);
    return res;
}
