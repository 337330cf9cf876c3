/* The reaper's Lua scripts: requeue (or fail, after too many attempts) what dead worker processes
 * held, atomically, with the time taken from Redis so that every host agrees; and the fleet-wide
 * scan for processing lists that no registered worker owns. */
#include "reaper.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/redis_model.h"
#include "common/util.h"
#include "worker/heartbeat.h"

/* The sessions of a dead worker process wid die with it: each live one turns to error, every
 * task still queued for them (its squeue and sproc lists) to FAILURE, and its session keys go.
 * Part of LUA_REQUEUE (same KEYS and ARGV; uses now and moved). */
#define LUA_END_SESSIONS                                                                           \
    "local function end_sessions(wid)\n"                                                           \
    "  local p = ARGV[1]\n"                                                                        \
    "  local why = 'the host running this session stopped; create a new session (its '\n"          \
    "             .. 'workspace is gone)'\n"                                                       \
    "  for _, sid in ipairs(redis.call('SMEMBERS', p .. 'sessions:' .. wid)) do\n"                 \
    "    local sk = p .. 'session:' .. sid\n"                                                      \
    "    local st = redis.call('HGET', sk, 'status')\n"                                            \
    "    if st and st ~= 'stopped' and st ~= 'error' and\n"                                        \
    "       redis.call('HGET', sk, 'owner') == wid then\n"                                         \
    "      redis.call('HSET', sk, 'status', 'error', 'message', why)\n"                            \
    "      redis.call('EXPIRE', sk, ARGV[3])\n"                                                    \
    "    end\n"                                                                                    \
    "  end\n"                                                                                      \
    "  local msg = cjson.encode(why)\n"                                                            \
    "  for _, l in ipairs({p .. 'sproc:' .. wid, p .. 'squeue:' .. wid}) do\n"                     \
    "    for _, id in ipairs(redis.call('LRANGE', l, 0, -1)) do\n"                                 \
    "      local tk = p .. 'task:' .. id\n"                                                        \
    "      local st = redis.call('HGET', tk, 'status')\n"                                          \
    "      if st == 'PENDING' or st == 'RUNNING' then\n"                                           \
    "        redis.call('HSET', tk, 'status', 'FAILURE', 'result', msg, 'finished_at', now)\n"     \
    "        redis.call('HDEL', tk, 'lease')\n"                                                    \
    "        redis.call('EXPIRE', tk, ARGV[3])\n"                                                  \
    "        redis.call('PUBLISH', KEYS[3], id)\n"                                                 \
    "        moved = moved + 1\n"                                                                  \
    "      end\n"                                                                                  \
    "    end\n"                                                                                    \
    "    redis.call('DEL', l)\n"                                                                   \
    "  end\n"                                                                                      \
    "  redis.call('DEL', p .. 'sessions:' .. wid, p .. 'session_expiry:' .. wid)\n"                \
    "  redis.call('ZREM', p .. 'session_free', wid)\n"                                             \
    "end\n"

/* Shared by every script. KEYS[1] workers zset, KEYS[2] queue, KEYS[3] done channel,
 * KEYS[4] worker_stale hash, KEYS[5] orphans hash; ARGV[1] prefix, ARGV[2] max attempts,
 * ARGV[3] result ttl s. */
#define LUA_REQUEUE                                                                                \
    "local t = redis.call('TIME')\n"                                                               \
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"                      \
    "local max = tonumber(ARGV[2])\n"                                                              \
    "local moved, failed = 0, 0\n" LUA_END_SESSIONS "local function requeue(wid, count)\n"         \
    "  local plist = ARGV[1] .. 'processing:' .. wid\n"                                            \
    "  local ids = redis.call('LRANGE', plist, 0, -1)\n"                                           \
    "  for _, id in ipairs(ids) do\n"                                                              \
    "    local tk = ARGV[1] .. 'task:' .. id\n"                                                    \
    "    local st = redis.call('HGET', tk, 'status')\n"                                            \
    "    if st == 'PENDING' or st == 'RUNNING' then\n"                                             \
    "      local n = 0\n"                                                                          \
    "      if count then n = redis.call('HINCRBY', tk, 'attempts', 1) end\n"                       \
    "      if count and n >= max then\n"                                                           \
    "        local msg = string.format("                                                           \
    "'the worker running this job died %d times; giving up', n)\n"                                 \
    "        redis.call('HSET', tk, 'status', 'FAILURE', 'result', cjson.encode(msg),\n"           \
    "                   'finished_at', now)\n"                                                     \
    "        redis.call('HDEL', tk, 'lease')\n"                                                    \
    "        redis.call('EXPIRE', tk, ARGV[3])\n"                                                  \
    "        redis.call('PUBLISH', KEYS[3], id)\n"                                                 \
    "        failed = failed + 1\n"                                                                \
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
    "  redis.call('HDEL', KEYS[4], wid)\n"                                                         \
    "  redis.call('HDEL', KEYS[5], wid)\n"                                                         \
    "  end_sessions(wid)\n"                                                                        \
    "end\n"

/* ARGV[4]: 1 when the death counts as an attempt, ARGV[5..]: worker ids. */
static const char *const SCRIPT_REQUEUE =
    LUA_REQUEUE "for i = 5, #ARGV do requeue(ARGV[i], ARGV[4] == '1') end\n"
                "return {moved, failed}\n";

/* ARGV[4]: connected_since (ms), ARGV[5]: stale ms for workers that left none. At most 100
 * workers per call (the next tick takes the rest). */
static const char *const SCRIPT_REAP = LUA_REQUEUE
    "local since, def = tonumber(ARGV[4]), tonumber(ARGV[5])\n"
    "local late = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now, 'LIMIT', 0, 100)\n"
    "for _, wid in ipairs(late) do\n"
    "  local stale = tonumber(redis.call('HGET', KEYS[4], wid)) or def\n"
    "  if now - since >= stale then requeue(wid, true) end\n"
    "end\n"
    "return {moved, failed}\n";

/* ARGV[4]: connected_since (ms), ARGV[5]: our stale ms, ARGV[6..]: worker ids whose processing
 * list a SCAN found. A list without a registered worker is noted in orphans the first time and
 * requeued when it is still so a stale threshold later; notes about lists that are gone or
 * whose worker came back are dropped. */
static const char *const SCRIPT_ORPHANS =
    LUA_REQUEUE "local since, own = tonumber(ARGV[4]), tonumber(ARGV[5])\n"
                "local function orphaned(wid)\n"
                "  return not redis.call('ZSCORE', KEYS[1], wid) and\n"
                "         redis.call('EXISTS', ARGV[1] .. 'processing:' .. wid) == 1\n"
                "end\n"
                "for _, wid in ipairs(redis.call('HKEYS', KEYS[5])) do\n"
                "  if not orphaned(wid) then redis.call('HDEL', KEYS[5], wid) end\n"
                "end\n"
                "for i = 6, #ARGV do\n"
                "  local wid = ARGV[i]\n"
                "  if orphaned(wid) then\n"
                "    local first = tonumber(redis.call('HGET', KEYS[5], wid))\n"
                "    local stale = math.max(own, tonumber(redis.call('HGET', KEYS[4], wid)) or 0)\n"
                "    if not first then\n"
                "      redis.call('HSET', KEYS[5], wid, now)\n"
                "    elseif now - first >= stale and now - since >= stale then\n"
                "      requeue(wid, true)\n"
                "    end\n"
                "  end\n"
                "end\n"
                "return {moved, failed}\n";

#define ORPHAN_BATCH 100

static long run(rconn *rc, const cfg *c, const char *script, const char *const *extra, size_t n,
                long *failed)
{
    cleanup_free char *workers = key_workers(c->redis_prefix);
    cleanup_free char *queue = key_queue(c->redis_prefix);
    cleanup_free char *done = key_done_channel(c->redis_prefix);
    cleanup_free char *stale = key_worker_stale(c->redis_prefix);
    cleanup_free char *orphans = key_orphans(c->redis_prefix);
    char max[16], ttl[16];
    snprintf(max, sizeof max, "%d", c->task_max_attempts);
    snprintf(ttl, sizeof ttl, "%d", c->result_ttl);
    const char *fixed[] = {"EVAL",  script,          "5", workers, queue, done, stale,
                           orphans, c->redis_prefix, max, ttl};
    size_t nfixed = sizeof fixed / sizeof *fixed;
    size_t argc = nfixed + n;
    cleanup_free const char **argv = xcalloc(argc, sizeof *argv);
    memcpy(argv, fixed, sizeof fixed);
    for (size_t i = 0; i < n; i++)
        argv[nfixed + i] = extra[i];
    redisReply *r = rconn_commandv(rc, (int)argc, argv, NULL);
    if (!r)
        return -1;
    long moved = -1;
    *failed = 0;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_INTEGER && r->element[1]->type == REDIS_REPLY_INTEGER) {
        moved = (long)r->element[0]->integer;
        *failed = (long)r->element[1]->integer;
    } else {
        log_error("reaper script failed: %s", r->type == REDIS_REPLY_ERROR ? r->str : "bad reply");
    }
    freeReplyObject(r);
    return moved;
}

/* What a script gave back, in the metrics: requeued, and failed at TASK_MAX_ATTEMPTS. */
static void count_given_back(int reason, long moved, long failed)
{
    if (moved <= 0)
        return;
    metric_add(M_REAPER_JOBS, (double)(moved - failed), reason, MV_REAPED_REQUEUED);
    metric_add(M_REAPER_JOBS, (double)failed, reason, MV_REAPED_FAILED);
}

long reaper_requeue(rconn *rc, const cfg *c, const char *const *ids, size_t n, bool count)
{
    if (n == 0)
        return 0;
    cleanup_free const char **extra = xcalloc(n + 1, sizeof *extra);
    extra[0] = count ? "1" : "0";
    memcpy(extra + 1, ids, n * sizeof *ids);
    long failed;
    long moved = run(rc, c, SCRIPT_REQUEUE, extra, n + 1, &failed);
    count_given_back(count ? MV_REAP_DIED : MV_REAP_STOPPED, moved, failed);
    if (moved > 0)
        log_info("gave back %ld job(s) held by %s worker process(es)%s", moved,
                 count ? "dead" : "stopped", count ? "" : " (no attempt counted)");
    return moved;
}

long reaper_reap(rconn *rc, const cfg *c, int64_t connected_since)
{
    char since[32], stale[32];
    snprintf(since, sizeof since, "%lld", (long long)connected_since);
    snprintf(stale, sizeof stale, "%lld", (long long)heartbeat_stale_ms(c));
    const char *extra[] = {since, stale};
    long failed;
    long moved = run(rc, c, SCRIPT_REAP, extra, 2, &failed);
    count_given_back(MV_REAP_STALE, moved, failed);
    if (moved > 0)
        log_warn("reaper: gave back %ld job(s) of workers whose heartbeat went stale", moved);
    return moved;
}

/* SCAN's MATCH pattern for every processing list: the prefix with glob characters escaped. */
static char *processing_pattern(const char *prefix)
{
    size_t len = strlen(prefix);
    char *p = xmalloc(2 * len + sizeof "processing:*");
    char *o = p;
    for (const char *s = prefix; *s; s++) {
        if (strchr("*?[]\\", *s))
            *o++ = '\\';
        *o++ = *s;
    }
    strcpy(o, "processing:*");
    return p;
}

/* One ORPHAN script call over a batch of worker ids; the count given back, or -1. */
static long orphan_batch(rconn *rc, const cfg *c, int64_t since, const char **wids, size_t n)
{
    char s_since[32], s_stale[32];
    snprintf(s_since, sizeof s_since, "%lld", (long long)since);
    snprintf(s_stale, sizeof s_stale, "%lld", (long long)heartbeat_stale_ms(c));
    cleanup_free const char **extra = xcalloc(n + 2, sizeof *extra);
    extra[0] = s_since;
    extra[1] = s_stale;
    if (n)
        memcpy(extra + 2, wids, n * sizeof *wids);
    long failed;
    long moved = run(rc, c, SCRIPT_ORPHANS, extra, n + 2, &failed);
    count_given_back(MV_REAP_ORPHAN, moved, failed);
    return moved;
}

long reaper_scan_orphans(rconn *rc, const cfg *c, int64_t connected_since)
{
    cleanup_free char *lock = key_orphan_scan(c->redis_prefix);
    redisReply *r =
        rconn_command(rc, "SET %s 1 NX PX %lld", lock, (long long)c->orphan_scan_interval * 1000);
    if (!r)
        return -1;
    bool ours = r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    if (!ours)
        return 0; /* another supervisor scans this interval */
    cleanup_free char *pattern = processing_pattern(c->redis_prefix);
    size_t skip = strlen(c->redis_prefix) + strlen("processing:");
    char cursor[32] = "0";
    long moved = 0;
    bool batched = false;
    do {
        r = rconn_command(rc, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        if (!r)
            return -1;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
            log_error("orphan scan: unexpected SCAN reply");
            freeReplyObject(r);
            return -1;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        redisReply *keys = r->element[1];
        const char *wids[ORPHAN_BATCH];
        size_t k = 0;
        for (size_t i = 0; i <= keys->elements; i++) {
            if (i < keys->elements && keys->element[i]->type == REDIS_REPLY_STRING &&
                keys->element[i]->len > skip)
                wids[k++] = keys->element[i]->str + skip;
            if (k == ORPHAN_BATCH || (i == keys->elements && k > 0)) {
                long m = orphan_batch(rc, c, connected_since, wids, k);
                if (m < 0) {
                    freeReplyObject(r);
                    return -1;
                }
                moved += m;
                k = 0;
                batched = true;
            }
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    if (!batched && orphan_batch(rc, c, connected_since, NULL, 0) < 0) /* drops stale notes */
        return -1;
    if (moved > 0)
        log_warn("reaper: gave back %ld job(s) from processing lists no live worker owned", moved);
    return moved;
}
