/* Redis key names and the Lua scripts that change a task's state atomically (see the header for
 * the whole model). */
#include "redis_model.h"

#include "common/util.h"

char *key_task(const char *prefix, const char *id)
{
    return xasprintf("%stask:%s", prefix, id);
}
char *key_queue(const char *prefix)
{
    return xasprintf("%squeue", prefix);
}
char *key_processing(const char *prefix, const char *worker)
{
    return xasprintf("%sprocessing:%s", prefix, worker);
}
char *key_workers(const char *prefix)
{
    return xasprintf("%sworkers", prefix);
}
char *key_worker_stale(const char *prefix)
{
    return xasprintf("%sworker_stale", prefix);
}
char *key_owner(const char *prefix, const char *worker_id)
{
    return xasprintf("%sowner:%s", prefix, worker_id);
}
char *key_orphans(const char *prefix)
{
    return xasprintf("%sorphans", prefix);
}
char *key_orphan_scan(const char *prefix)
{
    return xasprintf("%sorphan_scan", prefix);
}
char *key_done_channel(const char *prefix)
{
    return xasprintf("%sdone", prefix);
}
char *key_probe_channel(const char *prefix, const char *token)
{
    return xasprintf("%sprobe:%s", prefix, token);
}
char *key_session(const char *prefix, const char *sid)
{
    return xasprintf("%ssession:%s", prefix, sid);
}
char *key_sessions_of(const char *prefix, const char *wid)
{
    return xasprintf("%ssessions:%s", prefix, wid);
}
char *key_session_free(const char *prefix)
{
    return xasprintf("%ssession_free", prefix);
}
char *key_squeue(const char *prefix, const char *wid)
{
    return xasprintf("%ssqueue:%s", prefix, wid);
}
char *key_sproc(const char *prefix, const char *wid)
{
    return xasprintf("%ssproc:%s", prefix, wid);
}
char *key_session_expiry(const char *prefix, const char *wid)
{
    return xasprintf("%ssession_expiry:%s", prefix, wid);
}

char *key_remote(const char *prefix, const char *name)
{
    return xasprintf("%sremote:%s", prefix, name);
}
char *key_remote_slots(const char *prefix, const char *url)
{
    return xasprintf("%sremote:slots:%s", prefix, url);
}
char *key_remote_held(const char *prefix, const char *worker)
{
    return xasprintf("%sremote:held:%s", prefix, worker);
}

/* No EXPIRE here: a task lives until its final write, however long it waits or runs. */
const char *const SCRIPT_ENQUEUE =
    "if redis.call('LLEN', KEYS[2]) >= tonumber(ARGV[4]) then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'status', 'PENDING', 'request', ARGV[2],\n"
    "           'created_at', ARGV[3], 'attempts', 0)\n"
    "redis.call('LPUSH', KEYS[2], ARGV[1])\n"
    "return 1\n";

const char *const SCRIPT_FINISH =
    "if redis.call('HGET', KEYS[1], 'lease') ~= ARGV[2] then return 0 end\n"
    "if not redis.call('LPOS', KEYS[2], ARGV[1]) then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'status', ARGV[3], 'result', ARGV[4], 'finished_at', ARGV[5])\n"
    "redis.call('HDEL', KEYS[1], 'lease')\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[6])\n"
    "redis.call('LREM', KEYS[2], 0, ARGV[1])\n"
    "redis.call('PUBLISH', KEYS[3], ARGV[1])\n"
    "return 1\n";

const char *const SCRIPT_QUEUE_STATS =
    "local created = false\n"
    "local id = redis.call('LINDEX', KEYS[1], -1)\n"
    "if id then created = redis.call('HGET', ARGV[1] .. 'task:' .. id, 'created_at') end\n"
    "local workers = redis.call('ZRANGE', KEYS[2], 0, -1)\n"
    "local processing = 0\n"
    "for _, wid in ipairs(workers) do\n"
    "  processing = processing + redis.call('LLEN', ARGV[1] .. 'processing:' .. wid)\n"
    "end\n"
    "return {redis.call('LLEN', KEYS[1]), created or '', processing, #workers}\n";

const char *const SCRIPT_REMOTE_OFFERED =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "return redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')\n";
