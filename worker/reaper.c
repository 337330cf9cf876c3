/* The reaper's Lua scripts: requeue (or fail, after too many attempts) what dead worker processes
 * held, atomically, with the time taken from Redis so that every host agrees. */
#include "reaper.h"

#include <stdio.h>

#include "common/log.h"
#include "common/redis_model.h"
#include "common/util.h"

/* Shared by both scripts. KEYS[1] workers zset, KEYS[2] queue, KEYS[3] done channel;
 * ARGV[1] prefix, ARGV[2] max attempts, ARGV[3] result ttl s. */
#define LUA_REQUEUE                                                                                \
    "local t = redis.call('TIME')\n"                                                               \
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"                      \
    "local max = tonumber(ARGV[2])\n"                                                              \
    "local moved = 0\n"                                                                            \
    "local function requeue(wid)\n"                                                                \
    "  local plist = ARGV[1] .. 'processing:' .. wid\n"                                            \
    "  local ids = redis.call('LRANGE', plist, 0, -1)\n"                                           \
    "  for _, id in ipairs(ids) do\n"                                                              \
    "    local tk = ARGV[1] .. 'task:' .. id\n"                                                    \
    "    local st = redis.call('HGET', tk, 'status')\n"                                            \
    "    if st == 'PENDING' or st == 'RUNNING' then\n"                                             \
    "      local n = redis.call('HINCRBY', tk, 'attempts', 1)\n"                                   \
    "      if n >= max then\n"                                                                     \
    "        local msg = string.format("                                                           \
    "'the worker running this job died %d times; giving up', n)\n"                                 \
    "        redis.call('HSET', tk, 'status', 'FAILURE', 'result', cjson.encode(msg),\n"           \
    "                   'finished_at', now)\n"                                                     \
    "        redis.call('HDEL', tk, 'lease')\n"                                                    \
    "        redis.call('EXPIRE', tk, ARGV[3])\n"                                                  \
    "        redis.call('PUBLISH', KEYS[3], id)\n"                                                 \
    "      else\n"                                                                                 \
    "        redis.call('HSET', tk, 'status', 'PENDING')\n"                                        \
    "        redis.call('HDEL', tk, 'lease', 'worker')\n"                                          \
    "        redis.call('RPUSH', KEYS[2], id)\n"                                                   \
    "      end\n"                                                                                  \
    "      moved = moved + 1\n"                                                                    \
    "    end\n"                                                                                    \
    "  end\n"                                                                                      \
    "  redis.call('DEL', plist)\n"                                                                 \
    "  redis.call('ZREM', KEYS[1], wid)\n"                                                         \
    "end\n"

/* ARGV[4..]: worker ids. */
static const char *const SCRIPT_REQUEUE = LUA_REQUEUE "for i = 4, #ARGV do requeue(ARGV[i]) end\n"
                                                      "return moved\n";

/* ARGV[4]: staleness in ms. At most 100 workers per call (the next tick takes the rest). */
static const char *const SCRIPT_REAP = LUA_REQUEUE
    "local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[4]),\n"
    "                         'LIMIT', 0, 100)\n"
    "for _, wid in ipairs(stale) do requeue(wid) end\n"
    "return moved\n";

static long run(rconn *rc, const cfg *c, const char *script, const char *const *extra, size_t n)
{
    cleanup_free char *workers = key_workers(c->redis_prefix);
    cleanup_free char *queue = key_queue(c->redis_prefix);
    cleanup_free char *done = key_done_channel(c->redis_prefix);
    char max[16], ttl[16];
    snprintf(max, sizeof max, "%d", c->task_max_attempts);
    snprintf(ttl, sizeof ttl, "%d", c->result_ttl);
    size_t argc = 9 + n;
    cleanup_free const char **argv = xcalloc(argc, sizeof *argv);
    const char *fixed[] = {"EVAL", script, "3", workers, queue, done, c->redis_prefix, max, ttl};
    for (size_t i = 0; i < 9; i++)
        argv[i] = fixed[i];
    for (size_t i = 0; i < n; i++)
        argv[9 + i] = extra[i];
    redisReply *r = rconn_commandv(rc, (int)argc, argv, NULL);
    if (!r)
        return -1;
    long moved = -1;
    if (r->type == REDIS_REPLY_INTEGER)
        moved = (long)r->integer;
    else
        log_error("reaper script failed: %s", r->type == REDIS_REPLY_ERROR ? r->str : "bad reply");
    freeReplyObject(r);
    return moved;
}

long reaper_requeue(rconn *rc, const cfg *c, const char *const *ids, size_t n)
{
    if (n == 0)
        return 0;
    long moved = run(rc, c, SCRIPT_REQUEUE, ids, n);
    if (moved > 0)
        log_info("gave back %ld job(s) held by dead worker process(es)", moved);
    return moved;
}

long reaper_reap(rconn *rc, const cfg *c)
{
    char stale[32];
    snprintf(stale, sizeof stale, "%ld", 3L * c->heartbeat_interval * 1000 + REAPER_GRACE_MS);
    const char *extra[] = {stale};
    long moved = run(rc, c, SCRIPT_REAP, extra, 1);
    if (moved > 0)
        log_warn("reaper: gave back %ld job(s) of workers whose heartbeat went stale", moved);
    return moved;
}
