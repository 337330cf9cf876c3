/* The worker process's side of the reliable queue: announce, take (BLMOVE), claim, finish,
 * release. */
#include "queue.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/redis_model.h"
#include "common/util.h"
#include "worker/heartbeat.h"

/* Register a worker process: a deadline on Redis's clock (as heartbeat.c writes) and its stale
 * threshold. Expects KEYS[3] workers zset, KEYS[4] worker_stale hash, ARGV[2] worker id,
 * ARGV[5] stale ms; defines now. */
#define LUA_REGISTER                                                                               \
    "local t = redis.call('TIME')\n"                                                               \
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"                      \
    "redis.call('ZADD', KEYS[3], now + tonumber(ARGV[5]), ARGV[2])\n"                              \
    "redis.call('HSET', KEYS[4], ARGV[2], ARGV[5])\n"

/* The owner key holding another supervisor's token means WORKER_ID was taken over; a missing one
 * only that our supervisor has not renewed it yet (after an outage), which it does unless another
 * took it first.
 * KEYS[1] task, KEYS[2] our processing list, KEYS[3] workers, KEYS[4] worker_stale, KEYS[5] owner
 * key, KEYS[6] queue; ARGV[1] id, ARGV[2] worker id, ARGV[3] lease, ARGV[4] owner token,
 * ARGV[5] stale ms. Returns {1, request or nil} when claimed, {0, why} when skipped, {-1, why}
 * when our supervisor lost WORKER_ID (the id goes back to the queue, taken next). */
static const char *const SCRIPT_CLAIM =
    "if not redis.call('LPOS', KEYS[2], ARGV[1]) then return {0, 'not in our list'} end\n"
    "local owner = redis.call('GET', KEYS[5])\n"
    "if owner and owner ~= ARGV[4] then\n"
    "  redis.call('LREM', KEYS[2], 0, ARGV[1])\n"
    "  redis.call('RPUSH', KEYS[6], ARGV[1])\n"
    "  return {-1, 'our supervisor does not own its WORKER_ID'}\n"
    "end\n"
    "local st = redis.call('HGET', KEYS[1], 'status')\n"
    "if st ~= 'PENDING' and st ~= 'RUNNING' then\n"
    "  redis.call('LREM', KEYS[2], 0, ARGV[1])\n"
    "  return {0, st and ('already ' .. st) or 'task expired'}\n"
    "end\n" LUA_REGISTER
    "redis.call('HSET', KEYS[1], 'status', 'RUNNING', 'worker', ARGV[2], 'lease', ARGV[3],\n"
    "           'started_at', now)\n"
    "return {1, redis.call('HGET', KEYS[1], 'request')}\n";

/* KEYS[1] our processing list, KEYS[2] queue; ARGV[1] id. */
static const char *const SCRIPT_RELEASE = "if redis.call('LREM', KEYS[1], 0, ARGV[1]) > 0 then\n"
                                          "  redis.call('RPUSH', KEYS[2], ARGV[1])\n"
                                          "end\n"
                                          "return 1\n";

/* KEYS[1] our processing list, KEYS[2] queue, KEYS[3] workers, KEYS[4] worker_stale, KEYS[5]
 * owner key; ARGV[1] prefix, ARGV[2] worker id, ARGV[4] owner token, ARGV[5] stale ms. Registers
 * us; jobs we hold but do not run go back to the queue untouched (PENDING, no lease), without
 * counting an attempt. Returns their count, or -1 when our supervisor lost WORKER_ID. */
static const char *const SCRIPT_ANNOUNCE =
    "local owner = redis.call('GET', KEYS[5])\n"
    "if owner and owner ~= ARGV[4] then return -1 end\n" LUA_REGISTER
    "local ids = redis.call('LRANGE', KEYS[1], 0, -1)\n"
    "for _, id in ipairs(ids) do\n"
    "  local tk = ARGV[1] .. 'task:' .. id\n"
    "  local st = redis.call('HGET', tk, 'status')\n"
    "  if st == 'PENDING' or st == 'RUNNING' then\n"
    "    redis.call('HSET', tk, 'status', 'PENDING')\n"
    "    redis.call('HDEL', tk, 'lease', 'worker')\n"
    "    redis.call('RPUSH', KEYS[2], id)\n"
    "  end\n"
    "end\n"
    "redis.call('DEL', KEYS[1])\n"
    "return #ids\n";

long queue_announce(rconn *rc, const cfg *c, const char *wid, const char *token)
{
    cleanup_free char *plist = key_processing(c->redis_prefix, wid);
    cleanup_free char *queue = key_queue(c->redis_prefix);
    cleanup_free char *workers = key_workers(c->redis_prefix);
    cleanup_free char *stale_key = key_worker_stale(c->redis_prefix);
    cleanup_free char *owner = key_owner(c->redis_prefix, c->worker_id);
    char stale[32];
    snprintf(stale, sizeof stale, "%lld", (long long)heartbeat_stale_ms(c));
    const char *argv[] = {"EVAL", SCRIPT_ANNOUNCE, "5", plist, queue, workers, stale_key,
                          owner,  c->redis_prefix, wid, "",    token, stale};
    redisReply *r = rconn_commandv(rc, (int)(sizeof argv / sizeof *argv), argv, NULL);
    if (!r)
        return -1;
    long n = r->type == REDIS_REPLY_INTEGER ? (long)r->integer : -3;
    if (n == -3)
        log_error("announce script failed: %s",
                  r->type == REDIS_REPLY_ERROR ? r->str : "bad reply");
    freeReplyObject(r);
    return n == -1 ? QUEUE_NOT_OWNER : n < 0 ? -1 : n;
}

int queue_take(rconn *rc, const cfg *c, const char *wid, int timeout_s, char **id)
{
    cleanup_free char *queue = key_queue(c->redis_prefix);
    cleanup_free char *plist = key_processing(c->redis_prefix, wid);
    return queue_take_reply(
        rconn_command(rc, "BLMOVE %s %s RIGHT LEFT %d", queue, plist, timeout_s), id);
}

int queue_take_reply(redisReply *r, char **id)
{
    if (!r)
        return -1;
    int got = 0;
    if (r->type == REDIS_REPLY_STRING) {
        *id = xstrndup(r->str, r->len);
        got = 1;
    } else if (r->type != REDIS_REPLY_NIL) {
        log_error("BLMOVE failed: %s", r->type == REDIS_REPLY_ERROR ? r->str : "bad reply");
        got = -1;
    }
    freeReplyObject(r);
    return got;
}

int queue_claim(rconn *rc, const cfg *c, const char *wid, const char *token, const char *id,
                const char *lease, char **request)
{
    cleanup_free char *task = key_task(c->redis_prefix, id);
    cleanup_free char *plist = key_processing(c->redis_prefix, wid);
    cleanup_free char *workers = key_workers(c->redis_prefix);
    cleanup_free char *stale_key = key_worker_stale(c->redis_prefix);
    cleanup_free char *owner = key_owner(c->redis_prefix, c->worker_id);
    cleanup_free char *queue = key_queue(c->redis_prefix);
    char stale[32];
    snprintf(stale, sizeof stale, "%lld", (long long)heartbeat_stale_ms(c));
    *request = NULL;
    const char *argv[] = {"EVAL", SCRIPT_CLAIM, "6", task, plist, workers, stale_key,
                          owner,  queue,        id,  wid,  lease, token,   stale};
    redisReply *r = rconn_commandv(rc, (int)(sizeof argv / sizeof *argv), argv, NULL);
    if (!r)
        return -1;
    int got = -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
        r->element[0]->type == REDIS_REPLY_INTEGER) {
        long long code = r->element[0]->integer;
        redisReply *second = r->elements > 1 ? r->element[1] : NULL;
        const char *why = second && second->type == REDIS_REPLY_STRING ? second->str : "?";
        if (code == 1) {
            got = 1;
            if (second && second->type == REDIS_REPLY_STRING)
                *request = xstrndup(second->str, second->len);
        } else if (code == 0) {
            got = 0;
            log_task(LOG_WARN, id, "not running this job: %s", why);
        } else {
            got = QUEUE_NOT_OWNER;
            log_task(LOG_ERROR, id, "not running this job (put back on the queue): %s", why);
        }
    } else {
        log_task(LOG_ERROR, id, "claim script failed: %s",
                 r->type == REDIS_REPLY_ERROR ? r->str : "bad reply");
    }
    freeReplyObject(r);
    return got;
}

int queue_finish(rconn *rc, const cfg *c, const char *wid, const char *id, const char *lease,
                 task_status status, const char *result)
{
    cleanup_free char *task = key_task(c->redis_prefix, id);
    cleanup_free char *plist = key_processing(c->redis_prefix, wid);
    cleanup_free char *done = key_done_channel(c->redis_prefix);
    char now[32], ttl[16];
    snprintf(now, sizeof now, "%lld", (long long)now_wall_ms());
    snprintf(ttl, sizeof ttl, "%d", c->result_ttl);
    const char *argv[] = {"EVAL", SCRIPT_FINISH,           "3",    task, plist, done, id,
                          lease,  task_status_str(status), result, now,  ttl};
    redisReply *r = rconn_commandv(rc, (int)(sizeof argv / sizeof *argv), argv, NULL);
    if (!r)
        return -1;
    int written = -1;
    if (r->type == REDIS_REPLY_INTEGER)
        written = r->integer == 1;
    else
        log_task(LOG_ERROR, id, "finish script failed: %s",
                 r->type == REDIS_REPLY_ERROR ? r->str : "bad reply");
    freeReplyObject(r);
    return written;
}

int queue_release(rconn *rc, const cfg *c, const char *wid, const char *id)
{
    cleanup_free char *plist = key_processing(c->redis_prefix, wid);
    cleanup_free char *queue = key_queue(c->redis_prefix);
    redisReply *r = rconn_command(rc, "EVAL %s 2 %s %s %s", SCRIPT_RELEASE, plist, queue, id);
    if (!r)
        return -1;
    int ok = r->type == REDIS_REPLY_ERROR ? -1 : 0;
    freeReplyObject(r);
    return ok;
}

int queue_drop(rconn *rc, const cfg *c, const char *wid, const char *id)
{
    cleanup_free char *plist = key_processing(c->redis_prefix, wid);
    redisReply *r = rconn_command(rc, "LREM %s 0 %s", plist, id);
    if (!r)
        return -1;
    int ok = r->type == REDIS_REPLY_ERROR ? -1 : 0;
    freeReplyObject(r);
    return ok;
}
