/* Heartbeats: one Lua script stamps every given worker id with Redis's clock in {prefix}workers. */
#include "heartbeat.h"

#include "common/log.h"
#include "common/redis_model.h"
#include "common/util.h"

/* KEYS[1] workers zset; ARGV: worker ids. Returns the time written (ms). */
static const char *const SCRIPT_HEARTBEAT =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "for _, id in ipairs(ARGV) do redis.call('ZADD', KEYS[1], now, id) end\n"
    "return now\n";

int heartbeat_beat(rconn *rc, const cfg *c, const char *const *ids, size_t n)
{
    if (n == 0)
        return 0;
    cleanup_free char *workers = key_workers(c->redis_prefix);
    size_t argc = 4 + n;
    cleanup_free const char **argv = xcalloc(argc, sizeof *argv);
    argv[0] = "EVAL";
    argv[1] = SCRIPT_HEARTBEAT;
    argv[2] = "1";
    argv[3] = workers;
    for (size_t i = 0; i < n; i++)
        argv[4 + i] = ids[i];
    redisReply *r = rconn_commandv(rc, (int)argc, argv, NULL);
    if (!r)
        return -1;
    int rc_ = r->type == REDIS_REPLY_ERROR ? -1 : 0;
    if (rc_ < 0)
        log_error("heartbeat script failed: %s", r->str);
    freeReplyObject(r);
    return rc_;
}
