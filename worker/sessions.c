/* The sessions of one worker process: the session queue's scripts, the wait on both queues,
 * and the work of each session task (create, run, files, delete) with its final write. */
#include "sessions.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/b64.h"
#include "common/log.h"
#include "common/redis_model.h"
#include "common/session.h"
#include "common/task_id.h"
#include "common/util.h"
#include "worker/heartbeat.h"
#include "worker/job_runner.h"
#include "worker/queue.h"
#include "worker/session_run.h"

#define TICK_MS 1000    /* expiry checks at most this often */
#define EXPIRE_BATCH 20 /* sessions stopped per check, at most */
#define LUA_NOW                                                                                    \
    "local t = redis.call('TIME')\n"                                                               \
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

/* KEYS[1] session_free, KEYS[2] sessions:{wid}, KEYS[3] squeue, KEYS[4] sproc, KEYS[5] owner
 * key, KEYS[6] workers, KEYS[7] worker_stale; ARGV[1] wid, ARGV[2] MAX_SESSIONS_PER_WORKER,
 * ARGV[3] owner token, ARGV[4] stale ms, ARGV[5] prefix, ARGV[6] RESULT_TTL, ARGV[7..] the
 * sessions we hold. Returns the ones of those to drop (not ours, stopped or in error), or -1
 * when our supervisor lost WORKER_ID. */
static const char *const SCRIPT_SANNOUNCE =
    "local owner = redis.call('GET', KEYS[5])\n"
    "if owner and owner ~= ARGV[3] then return -1 end\n" LUA_NOW
    "redis.call('ZADD', KEYS[6], now + tonumber(ARGV[4]), ARGV[1])\n"
    "redis.call('HSET', KEYS[7], ARGV[1], ARGV[4])\n"
    "while redis.call('LMOVE', KEYS[4], KEYS[3], 'LEFT', 'RIGHT') do end\n"
    "local mine, drop = {}, {}\n"
    "for i = 7, #ARGV do\n"
    "  local sid = ARGV[i]\n"
    "  mine[sid] = true\n"
    "  local sk = ARGV[5] .. 'session:' .. sid\n"
    "  local st = redis.call('HGET', sk, 'status')\n"
    "  if not st or redis.call('HGET', sk, 'owner') ~= ARGV[1] or st == 'stopped' or\n"
    "     st == 'error' then\n"
    "    drop[#drop + 1] = sid\n"
    "    redis.call('SREM', KEYS[2], sid)\n"
    "  end\n"
    "end\n"
    "for _, sid in ipairs(redis.call('SMEMBERS', KEYS[2])) do\n"
    "  local sk = ARGV[5] .. 'session:' .. sid\n"
    "  local st = redis.call('HGET', sk, 'status')\n"
    "  if not mine[sid] and st ~= 'pending' then\n"
    "    if st and st ~= 'stopped' and st ~= 'error' then\n"
    "      redis.call('HSET', sk, 'status', 'error', 'message',\n"
    "                 'the session\\'s sandbox is gone (its worker process lost it); create a '\n"
    "                 .. 'new session')\n"
    "      redis.call('EXPIRE', sk, ARGV[6])\n"
    "    end\n"
    "    redis.call('SREM', KEYS[2], sid)\n"
    "    redis.call('ZREM', ARGV[5] .. 'session_expiry:' .. ARGV[1], sid)\n"
    "  end\n"
    "end\n"
    "local free = tonumber(ARGV[2]) - redis.call('SCARD', KEYS[2])\n"
    "redis.call('ZADD', KEYS[1], free > 0 and free or 0, ARGV[1])\n"
    "return drop\n";

/* KEYS[1] task, KEYS[2] sproc, KEYS[3] owner key, KEYS[4] squeue, KEYS[5] workers,
 * KEYS[6] worker_stale; ARGV[1] task id, ARGV[2] wid, ARGV[3] lease, ARGV[4] owner token,
 * ARGV[5] stale ms, ARGV[6] prefix. Claims the task as queue.c's claim does; a create
 * turns its session from pending to creating, a run from ready to executing. Returns {1,
 * request, session id, op, and the session's status, owner, environment, memory_mb, timeout,
 * message}, {0, why} skipped, {-1, why} when our supervisor lost WORKER_ID (the task goes back
 * at the head of our queue). */
static const char *const SCRIPT_SCLAIM =
    "if not redis.call('LPOS', KEYS[2], ARGV[1]) then return {0, 'not in our list'} end\n"
    "local owner = redis.call('GET', KEYS[3])\n"
    "if owner and owner ~= ARGV[4] then\n"
    "  redis.call('LREM', KEYS[2], 0, ARGV[1])\n"
    "  redis.call('RPUSH', KEYS[4], ARGV[1])\n"
    "  return {-1, 'our supervisor does not own its WORKER_ID'}\n"
    "end\n"
    "local st = redis.call('HGET', KEYS[1], 'status')\n"
    "if st ~= 'PENDING' and st ~= 'RUNNING' then\n"
    "  redis.call('LREM', KEYS[2], 0, ARGV[1])\n"
    "  return {0, st and ('already ' .. st) or 'task expired'}\n"
    "end\n" LUA_NOW "redis.call('ZADD', KEYS[5], now + tonumber(ARGV[5]), ARGV[2])\n"
    "redis.call('HSET', KEYS[6], ARGV[2], ARGV[5])\n"
    "redis.call('HSET', KEYS[1], 'status', 'RUNNING', 'worker', ARGV[2], 'lease', ARGV[3],\n"
    "           'started_at', now)\n"
    "local sid = redis.call('HGET', KEYS[1], 'session') or ''\n"
    "local op = redis.call('HGET', KEYS[1], 'op') or ''\n"
    "local sk = ARGV[6] .. 'session:' .. sid\n"
    "local s = redis.call('HMGET', sk, 'status', 'owner', 'environment', 'memory_mb',\n"
    "                     'timeout', 'message')\n"
    "if s[1] and s[2] == ARGV[2] then\n"
    "  local to = nil\n"
    "  if op == 'create' and s[1] == 'pending' then to = 'creating' end\n"
    "  if op == 'run' and s[1] == 'ready' then to = 'executing' end\n"
    "  if to then redis.call('HSET', sk, 'status', to) s[1] = to end\n"
    "end\n"
    "return {1, redis.call('HGET', KEYS[1], 'request') or '', sid, op, s[1] or '', s[2] or '',\n"
    "        s[3] or '', s[4] or '', s[5] or '', s[6] or ''}\n";

/* The session's end (stopped, or error): marked, expiring after RESULT_TTL, its place freed.
 * Expects KEYS[4] session, KEYS[5] session_expiry:{wid}, KEYS[6] session_free,
 * KEYS[7] sessions:{wid}; ARGV[5] RESULT_TTL, ARGV[6] wid, ARGV[7] sid, ARGV[9] message ('':
 * keep); change holds stopped or error; st the session's status. */
#define LUA_SESSION_END                                                                            \
    "local function session_end(st, change)\n"                                                     \
    "  if st ~= 'stopped' and st ~= 'error' then\n"                                                \
    "    redis.call('HSET', KEYS[4], 'status', change)\n"                                          \
    "    if ARGV[9] ~= '' then redis.call('HSET', KEYS[4], 'message', ARGV[9]) end\n"              \
    "    redis.call('EXPIRE', KEYS[4], ARGV[5])\n"                                                 \
    "  end\n"                                                                                      \
    "  redis.call('ZREM', KEYS[5], ARGV[7])\n"                                                     \
    "  if redis.call('SREM', KEYS[7], ARGV[7]) == 1 and redis.call('ZSCORE', KEYS[6], ARGV[6])\n"  \
    "  then redis.call('ZINCRBY', KEYS[6], 1, ARGV[6]) end\n"                                      \
    "end\n"

/* Write a session task's final state, only while we still hold it (the checks of SCRIPT_FINISH,
 * redis_model.h), and change its session: ready (after a create or a run: idle deadline from now),
 * touch (after a file operation: the same without the status), stopped or error (LUA_SESSION_END),
 * or nothing (''). KEYS[1] task, KEYS[2] sproc, KEYS[3] done channel, KEYS[4] session, KEYS[5]
 * session_expiry:{wid}, KEYS[6] session_free, KEYS[7] sessions:{wid}
 * ARGV[1] task id, ARGV[2] lease, ARGV[3] status, ARGV[4] result, ARGV[5] RESULT_TTL,
 * ARGV[6] wid, ARGV[7] sid, ARGV[8] change, ARGV[9] message, ARGV[10] container id ('': none),
 * ARGV[11] 1 when a run ended (last_execution). Returns 1 written, 0 lease lost. */
static const char *const SCRIPT_SFINISH = LUA_SESSION_END
    "if redis.call('HGET', KEYS[1], 'lease') ~= ARGV[2] then return 0 end\n"
    "if not redis.call('LPOS', KEYS[2], ARGV[1]) then return 0 end\n" LUA_NOW
    "redis.call('HSET', KEYS[1], 'status', ARGV[3], 'result', ARGV[4], 'finished_at', now)\n"
    "redis.call('HDEL', KEYS[1], 'lease')\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[5])\n"
    "redis.call('LREM', KEYS[2], 0, ARGV[1])\n"
    "redis.call('PUBLISH', KEYS[3], ARGV[1])\n"
    "local change = ARGV[8]\n"
    "local st = redis.call('HGET', KEYS[4], 'status')\n"
    "if change == '' or not st or redis.call('HGET', KEYS[4], 'owner') ~= ARGV[6] then\n"
    "  return 1\n"
    "end\n"
    "if change == 'stopped' or change == 'error' then session_end(st, change) return 1 end\n"
    "if change == 'ready' and (st == 'creating' or st == 'executing') then\n"
    "  redis.call('HSET', KEYS[4], 'status', 'ready')\n"
    "  st = 'ready'\n"
    "end\n"
    "if ARGV[10] ~= '' then redis.call('HSET', KEYS[4], 'container_id', ARGV[10]) end\n"
    "if ARGV[11] == '1' then redis.call('HSET', KEYS[4], 'last_execution', now) end\n"
    "if st == 'ready' or st == 'executing' then\n"
    "  local idle = now + (tonumber(redis.call('HGET', KEYS[4], 'ttl')) or 0) * 1000\n"
    "  local hard = tonumber(redis.call('HGET', KEYS[4], 'expires_at')) or idle\n"
    "  if idle > hard then idle = hard end\n"
    "  redis.call('ZADD', KEYS[5], idle, ARGV[7])\n"
    "end\n"
    "return 1\n";

/* A session's end outside a task (an expiry, a sandbox found dead): LUA_SESSION_END.
 * KEYS[4..7] as SCRIPT_SFINISH's (KEYS[1..3] unused), ARGV[5..9] too. */
static const char *const SCRIPT_SEND =
    LUA_SESSION_END "local st = redis.call('HGET', KEYS[4], 'status')\n"
                    "if st and redis.call('HGET', KEYS[4], 'owner') == ARGV[6] then\n"
                    "  session_end(st, ARGV[8])\n"
                    "else\n"
                    "  redis.call('ZREM', KEYS[5], ARGV[7])\n"
                    "end\n"
                    "return 1\n";

/* Sessions past their deadline: marked stopping (no more work taken), returned for teardown.
 * KEYS[1] session_expiry:{wid}; ARGV[1] prefix, ARGV[2] wid, ARGV[3] at most this many. */
static const char *const SCRIPT_SEXPIRE =
    LUA_NOW "local out = {}\n"
            "for _, sid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0,\n"
            "                                ARGV[3])) do\n"
            "  redis.call('ZREM', KEYS[1], sid)\n"
            "  local sk = ARGV[1] .. 'session:' .. sid\n"
            "  local s = redis.call('HMGET', sk, 'status', 'owner', 'expires_at')\n"
            "  if s[2] == ARGV[2] and (s[1] == 'ready' or s[1] == 'executing' or\n"
            "                          s[1] == 'creating' or s[1] == 'pending') then\n"
            "    local hard = tonumber(s[3]) or 0\n"
            "    local why = 'expired: idle for longer than its ttl'\n"
            "    if hard > 0 and now >= hard then\n"
            "      why = 'expired: it reached SESSION_MAX_LIFETIME'\n"
            "    end\n"
            "    redis.call('HSET', sk, 'status', 'stopping', 'message', why)\n"
            "    out[#out + 1] = sid\n"
            "    out[#out + 1] = why\n"
            "  end\n"
            "end\n"
            "return out\n";

/* One session this process holds: made by a create task, destroyed by a delete task, an
 * expiry, a dead sandbox or sessions_free. */
typedef struct held {
    char sid[TASK_ID_LEN + 1];
    sandbox *sb;          /* owned; destroyed with ex->destroy */
    const language *lang; /* borrowed from the table */
    int memory_mb;        /* its runs' memory cap */
    int timeout;          /* its runs' default wall clock, seconds */
} held;

struct session_host {
    const cfg *c;
    const lang_table *langs;
    const executor *ex;
    backend *be;
    const char *wid;   /* borrowed from the link */
    const char *token; /* the supervisor's owner token */
    volatile sig_atomic_t *stop;
    rconn *rs;          /* owned; our own connection, for the BLMOVE on our queue */
    bool b_out;         /* a BLMOVE on our queue is in flight on rs */
    int64_t b_sent_ms;  /* when it was sent */
    bool b_dirty;       /* rs broke with a BLMOVE in flight: announce before the next */
    unsigned a_epoch;   /* rc's epoch whose client id we know */
    long long a_client; /* CLIENT ID of rc's connection, 0 when unknown */
    bool a_out;         /* rc's BLMOVE on the shared queue is still to be read (taken back
                         * with CLIENT UNBLOCK, read once the session task is answered) */
    bool unblock_out;   /* that CLIENT UNBLOCK's reply is still to be read on rs */
    char *next_job;     /* owned; a job of the shared queue to give out next */
    held *v;            /* owned array */
    size_t n, cap;
    int64_t next_tick_ms;
};

session_host *sessions_start(const cfg *c, const lang_table *langs, const executor *ex, backend *be,
                             const worker_link *link, volatile sig_atomic_t *stop)
{
    if (c->max_sessions_per_worker <= 0 || !ex->session_open)
        return NULL;
    const char *why = ex->sessions_refused ? ex->sessions_refused(be) : NULL;
    if (why) {
        if (link->slot == 0) /* one line per host, not one per process */
            log_warn("this worker hosts no sessions: %s", why);
        return NULL;
    }
    session_host *sh = xcalloc(1, sizeof *sh);
    *sh = (session_host){.c = c,
                         .langs = langs,
                         .ex = ex,
                         .be = be,
                         .wid = link->wid,
                         .token = link->token,
                         .stop = stop,
                         .rs = rconn_create(c, (WORKER_TAKE_TIMEOUT_S + c->redis_timeout) * 1000),
                         .b_dirty = true};
    return sh;
}

static held *find(session_host *sh, const char *sid)
{
    for (size_t i = 0; i < sh->n; i++)
        if (strcmp(sh->v[i].sid, sid) == 0)
            return &sh->v[i];
    return NULL;
}

/* Tear a session's sandbox down and forget it. */
static void drop(session_host *sh, held *h)
{
    int64_t t0 = now_mono_ms();
    sh->ex->destroy(h->sb);
    log_debug("session %s: sandbox torn down in %lld ms", h->sid, (long long)(now_mono_ms() - t0));
    *h = sh->v[--sh->n];
}

void sessions_free(session_host *sh)
{
    if (!sh)
        return;
    while (sh->n)
        drop(sh, &sh->v[0]);
    free(sh->v);
    free(sh->next_job);
    rconn_free(sh->rs);
    free(sh);
}

/* ---- Redis ---- */

/* After a failed command: the reconnect's backoff, or a little (Redis answered an error). */
static void pause_after_error(session_host *sh, rconn *rc)
{
    rconn_wait(rc, sh->stop);
    struct timespec ts = {0, 100 * 1000000L};
    if (!*sh->stop)
        nanosleep(&ts, NULL);
}

/* The shared queue's BLMOVE taken back when our queue answered: read its reply now (a job it
 * still took is given out next). */
static void collect_shared(session_host *sh, rconn *rc)
{
    if (!sh->a_out)
        return;
    sh->a_out = false;
    char *job = NULL;
    if (queue_take_reply(rconn_recv(rc), &job) > 0) {
        free(sh->next_job);
        sh->next_job = job;
    }
}

int sessions_announce(session_host *sh, rconn *rc)
{
    collect_shared(sh, rc);
    if (sh->b_out || sh->unblock_out) { /* replies dropped: what it took is in sproc, put back */
        rconn_reset(sh->rs);
        sh->b_out = sh->unblock_out = false;
    }
    const cfg *c = sh->c;
    cleanup_free char *free_key = key_session_free(c->redis_prefix);
    cleanup_free char *mine = key_sessions_of(c->redis_prefix, sh->wid);
    cleanup_free char *squeue = key_squeue(c->redis_prefix, sh->wid);
    cleanup_free char *sproc = key_sproc(c->redis_prefix, sh->wid);
    cleanup_free char *owner = key_owner(c->redis_prefix, c->worker_id);
    cleanup_free char *workers = key_workers(c->redis_prefix);
    cleanup_free char *stale_key = key_worker_stale(c->redis_prefix);
    char max[16], stale[32], ttl[16];
    snprintf(max, sizeof max, "%d", c->max_sessions_per_worker);
    snprintf(stale, sizeof stale, "%lld", (long long)heartbeat_stale_ms(c));
    snprintf(ttl, sizeof ttl, "%d", c->result_ttl);
    const char *fixed[] = {
        "EVAL",  SCRIPT_SANNOUNCE, "7",     free_key, mine,      squeue, sproc,           owner,
        workers, stale_key,        sh->wid, max,      sh->token, stale,  c->redis_prefix, ttl};
    size_t nf = sizeof fixed / sizeof *fixed;
    cleanup_free const char **argv = xcalloc(nf + sh->n, sizeof *argv);
    memcpy(argv, fixed, sizeof fixed);
    for (size_t i = 0; i < sh->n; i++)
        argv[nf + i] = sh->v[i].sid;
    redisReply *r = rconn_commandv(rc, (int)(nf + sh->n), argv, NULL);
    if (!r)
        return -1;
    int rc_ = 0;
    if (r->type == REDIS_REPLY_INTEGER && r->integer == -1) {
        rc_ = QUEUE_NOT_OWNER;
    } else if (r->type != REDIS_REPLY_ARRAY) {
        log_error("session announce failed: %s",
                  r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        rc_ = -1;
    } else {
        for (size_t i = 0; i < r->elements; i++) {
            held *h =
                r->element[i]->type == REDIS_REPLY_STRING ? find(sh, r->element[i]->str) : NULL;
            if (h) {
                log_warn("session %s: redis no longer gives it to us; tearing it down", h->sid);
                drop(sh, h);
            }
        }
        sh->b_dirty = false;
    }
    freeReplyObject(r);
    return rc_;
}

/* CLIENT ID of rc's connection, for CLIENT UNBLOCK; 0 when unknown. */
static void learn_client_id(session_host *sh, rconn *rc)
{
    if (sh->a_epoch == rconn_epoch(rc) && sh->a_client)
        return;
    sh->a_client = 0;
    redisReply *r = rconn_command(rc, "CLIENT ID");
    if (r && r->type == REDIS_REPLY_INTEGER)
        sh->a_client = r->integer;
    if (r)
        freeReplyObject(r);
    sh->a_epoch = rconn_epoch(rc);
}

static int send_take(session_host *sh)
{
    cleanup_free char *squeue = key_squeue(sh->c->redis_prefix, sh->wid);
    cleanup_free char *sproc = key_sproc(sh->c->redis_prefix, sh->wid);
    char t[16];
    snprintf(t, sizeof t, "%d", WORKER_TAKE_TIMEOUT_S);
    const char *argv[] = {"BLMOVE", squeue, sproc, "RIGHT", "LEFT", t};
    if (rconn_send(sh->rs, 6, argv) < 0) {
        sh->b_dirty = true;
        return -1;
    }
    sh->b_out = true;
    sh->b_sent_ms = now_mono_ms();
    return 0;
}

int sessions_take(session_host *sh, rconn *rc, char **id, bool *is_session)
{
    const cfg *c = sh->c;
    *id = NULL;
    *is_session = false;
    collect_shared(sh, rc); /* normally read already, at the end of the session task */
    if (sh->next_job) {
        *id = steal_pointer(&sh->next_job);
        return 1;
    }
    if (rconn_ensure(sh->rs) < 0) /* our queue waits; the shared one is served meanwhile */
        return queue_take(rc, c, sh->wid, WORKER_TAKE_TIMEOUT_S, id);
    if (sh->b_dirty) {
        int a = sessions_announce(sh, rc);
        if (a < 0)
            return a;
    }
    learn_client_id(sh, rc);
    cleanup_free char *queue = key_queue(c->redis_prefix);
    cleanup_free char *plist = key_processing(c->redis_prefix, sh->wid);
    char t[16];
    snprintf(t, sizeof t, "%d", WORKER_TAKE_TIMEOUT_S);
    const char *blmove[] = {"BLMOVE", queue, plist, "RIGHT", "LEFT", t};
    if (rconn_send(rc, 6, blmove) < 0)
        return -1;
    if (!sh->b_out)
        send_take(sh);
    char *job = NULL, *mine = NULL;
    bool a_out = true;
    int a_got = 0;
    int wait_ms = (WORKER_TAKE_TIMEOUT_S + c->redis_timeout) * 1000;
    while (a_out && !mine) {
        struct pollfd p[2] = {{.fd = rconn_fd(rc), .events = POLLIN},
                              {.fd = sh->b_out ? rconn_fd(sh->rs) : -1, .events = POLLIN}};
        int n = poll(p, 2, wait_ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) /* Redis silent past the BLMOVE's timeout: the blocking read decides */
            break;
        if (p[1].revents) {
            sh->b_out = false;
            int g = queue_take_reply(rconn_recv(sh->rs), &mine);
            if (g < 0)
                sh->b_dirty = true;
            else if (g == 0 && !*sh->stop)
                send_take(sh); /* keep our queue watched while the shared one is */
        }
        if (p[0].revents) {
            a_got = queue_take_reply(rconn_recv(rc), &job);
            a_out = false;
        }
    }
    if (a_out && mine) {
        /* Take the shared queue's BLMOVE back, without waiting: the UNBLOCK goes out ahead of
         * the claim on our connection, and rc's reply (nil, or a job it took meanwhile, given
         * out next) is read once the session task is answered (collect_shared). */
        char cid[32];
        snprintf(cid, sizeof cid, "%lld", sh->a_client);
        const char *unblock[] = {"CLIENT", "UNBLOCK", cid};
        sh->unblock_out = sh->a_client && rconn_send(sh->rs, 3, unblock) == 0;
        sh->a_out = true;
        a_out = false;
    }
    if (a_out)
        a_got = queue_take_reply(rconn_recv(rc), &job);
    if (sh->b_out && now_mono_ms() - sh->b_sent_ms > wait_ms + 1000) {
        log_warn("no answer on the session queue's connection; connecting again");
        rconn_reset(sh->rs); /* what its BLMOVE took is in sproc: the announce puts it back */
        sh->b_out = false;
        sh->b_dirty = true;
    }
    if (mine) {
        *id = mine;
        *is_session = true;
        sh->next_job = job;
        return 1;
    }
    if (a_got > 0) {
        *id = job;
        return 1;
    }
    return a_got;
}

/* A command on our connection, after the CLIENT UNBLOCK sent ahead of it (its reply read and
 * dropped on the way): one round trip for both. */
static redisReply *command(session_host *sh, int argc, const char **argv)
{
    if (!sh->unblock_out)
        return rconn_commandv(sh->rs, argc, argv, NULL);
    sh->unblock_out = false;
    if (rconn_send(sh->rs, argc, argv) < 0)
        return NULL;
    redisReply *r = rconn_recv(sh->rs);
    if (!r)
        return NULL;
    freeReplyObject(r);
    return rconn_recv(sh->rs);
}

/* ---- one session task ---- */

/* What a claim gave: the task's request and op, its session as Redis has it. */
typedef struct claim {
    char *request; /* owned */
    char sid[TASK_ID_LEN + 1];
    session_op op;
    session_status status;
    bool ours; /* the session's owner is this process */
    char *environment, *message;
    int memory_mb, timeout;
} claim;

static void claim_clear(claim *cl)
{
    free(cl->request);
    free(cl->environment);
    free(cl->message);
}

static char *str_at(const redisReply *r, size_t i)
{
    return i < r->elements && r->element[i]->type == REDIS_REPLY_STRING
               ? xstrndup(r->element[i]->str, r->element[i]->len)
               : xstrdup("");
}

/* 1 claimed, 0 skipped, QUEUE_NOT_OWNER, -1 Redis error. */
static int claim_task(session_host *sh, rconn *rc, const char *id, const char *lease, claim *cl)
{
    const cfg *c = sh->c;
    cleanup_free char *task = key_task(c->redis_prefix, id);
    cleanup_free char *sproc = key_sproc(c->redis_prefix, sh->wid);
    cleanup_free char *owner = key_owner(c->redis_prefix, c->worker_id);
    cleanup_free char *squeue = key_squeue(c->redis_prefix, sh->wid);
    cleanup_free char *workers = key_workers(c->redis_prefix);
    cleanup_free char *stale_key = key_worker_stale(c->redis_prefix);
    char stale[32];
    snprintf(stale, sizeof stale, "%lld", (long long)heartbeat_stale_ms(c));
    const char *argv[] = {"EVAL",  SCRIPT_SCLAIM, "6",       task,      sproc,
                          owner,   squeue,        workers,   stale_key, id,
                          sh->wid, lease,         sh->token, stale,     c->redis_prefix};
    (void)rc;
    redisReply *r = command(sh, (int)(sizeof argv / sizeof *argv), argv);
    if (!r)
        return -1;
    int got = -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2 &&
        r->element[0]->type == REDIS_REPLY_INTEGER) {
        long long code = r->element[0]->integer;
        if (code == 1 && r->elements >= 10) {
            got = 1;
            cl->request = str_at(r, 1);
            cleanup_free char *sid = str_at(r, 2), *op = str_at(r, 3), *st = str_at(r, 4);
            cleanup_free char *own = str_at(r, 5), *mem = str_at(r, 7), *to = str_at(r, 8);
            snprintf(cl->sid, sizeof cl->sid, "%s", sid);
            if (session_op_parse(op, &cl->op) < 0)
                cl->op = SESSION_OP_RUN;
            if (session_status_parse(st, &cl->status) < 0)
                cl->status = SESSION_STOPPED; /* the session is gone */
            cl->ours = strcmp(own, sh->wid) == 0;
            cl->environment = str_at(r, 6);
            cl->message = str_at(r, 9);
            long v;
            cl->memory_mb = parse_long(mem, 1, 1 << 20, &v) == 0 ? (int)v : c->default_memory_mb;
            cl->timeout = parse_long(to, 1, 86400, &v) == 0 ? (int)v : c->default_timeout;
        } else if (code == 0) {
            got = 0;
            log_task(LOG_WARN, id, "not doing this session task: %s",
                     r->element[1]->type == REDIS_REPLY_STRING ? r->element[1]->str : "?");
        } else if (code == -1) {
            got = QUEUE_NOT_OWNER;
        }
    }
    if (got == -1)
        log_task(LOG_ERROR, id, "session claim failed: %s",
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    freeReplyObject(r);
    return got;
}

/* How a finished session task changes its session. */
typedef struct change {
    const char *to;           /* "", "ready", "touch", "stopped", "error" */
    char message[512];        /* "" or why it stopped */
    const char *container_id; /* "" or the sandbox's name */
    bool ran;                 /* a run ended: last_execution */
} change;

static change to(const char *what, const char *message)
{
    change ch = {.to = what, .container_id = ""};
    snprintf(ch.message, sizeof ch.message, "%s", message);
    return ch;
}

/* SCRIPT_SFINISH (or SCRIPT_SEND with id NULL), retried until Redis answers; 1 written, 0 lease
 * lost. */
static int finish(session_host *sh, rconn *rc, const char *id, const char *lease,
                  task_status status, const char *result, const char *sid, const change *ch)
{
    const cfg *c = sh->c;
    cleanup_free char *task = key_task(c->redis_prefix, id ? id : "-");
    cleanup_free char *sproc = key_sproc(c->redis_prefix, sh->wid);
    cleanup_free char *done = key_done_channel(c->redis_prefix);
    cleanup_free char *skey = key_session(c->redis_prefix, sid);
    cleanup_free char *expiry = key_session_expiry(c->redis_prefix, sh->wid);
    cleanup_free char *free_key = key_session_free(c->redis_prefix);
    cleanup_free char *mine = key_sessions_of(c->redis_prefix, sh->wid);
    char ttl[16];
    snprintf(ttl, sizeof ttl, "%d", c->result_ttl);
    const char *argv[] = {"EVAL",
                          id ? SCRIPT_SFINISH : SCRIPT_SEND,
                          "7",
                          task,
                          sproc,
                          done,
                          skey,
                          expiry,
                          free_key,
                          mine,
                          id ? id : "",
                          lease ? lease : "",
                          task_status_str(status),
                          result ? result : "",
                          ttl,
                          sh->wid,
                          sid,
                          ch->to,
                          ch->message,
                          ch->container_id,
                          ch->ran ? "1" : "0"};
    for (int tries = 0;; tries++) {
        redisReply *r = id ? command(sh, (int)(sizeof argv / sizeof *argv), argv)
                           : rconn_commandv(rc, (int)(sizeof argv / sizeof *argv), argv, NULL);
        int written = -1;
        if (r && r->type == REDIS_REPLY_INTEGER)
            written = r->integer == 1;
        else if (r)
            log_error("session finish script failed: %s",
                      r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        if (r)
            freeReplyObject(r);
        if (written >= 0) {
            if (written == 0 && id)
                log_task(LOG_WARN, id,
                         "lease lost (this worker was presumed dead); dropping "
                         "this result");
            return written;
        }
        if (tries == 0)
            log_warn("cannot write a session's state yet; retrying until redis answers");
        rconn_wait(id ? sh->rs : rc, NULL); /* even when stopping: the grace bounds it */
        nanosleep(&(struct timespec){0, 100 * 1000000L}, NULL);
    }
}

/* A JSON string of msg (a FAILURE's result; caller frees). */
static char *failure_text(const char *msg)
{
    json_t *s = json_string(msg);
    if (!s)
        s = json_string("the session could not do this");
    char *t = json_dumps(s, JSON_ENCODE_ANY);
    json_decref(s);
    return t;
}

static char *dump(json_t *o)
{
    char *t = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!t)
        abort(); /* only allocation failure makes json_dumps fail here */
    return t;
}

/* Why a session cannot take work, for the client. */
static char *not_live(const claim *cl)
{
    return xasprintf("the session is %s%s%s%s", cl->status == SESSION_ERROR ? "in " : "",
                     session_status_str(cl->status), *cl->message ? ": " : "", cl->message);
}

static void do_create(session_host *sh, const claim *cl, task_status *st, char **result, change *ch)
{
    if (cl->status != SESSION_CREATING || !cl->ours) {
        cleanup_free char *why = not_live(cl);
        *result = failure_text(why);
        return;
    }
    const language *lang = lang_table_find(sh->langs, cl->environment);
    char err[1024] = "";
    sandbox *sb = NULL;
    int64_t t0 = now_mono_ms();
    if (!lang) {
        snprintf(err, sizeof err, "this worker does not know the environment '%s'",
                 cl->environment);
    } else if (sh->n >= (size_t)sh->c->max_sessions_per_worker) {
        snprintf(err, sizeof err, "this worker process holds MAX_SESSIONS_PER_WORKER sessions");
    } else if (sh->ex->session_open(sh->be, lang, cl->memory_mb, cl->sid, &sb, err, sizeof err) ==
               0) {
        if (sh->n == sh->cap) {
            sh->cap = sh->cap ? 2 * sh->cap : 8;
            sh->v = xrealloc(sh->v, sh->cap * sizeof *sh->v);
        }
        held *h = &sh->v[sh->n++];
        *h = (held){.sb = sb, .lang = lang, .memory_mb = cl->memory_mb, .timeout = cl->timeout};
        snprintf(h->sid, sizeof h->sid, "%s", cl->sid);
        const char *name = sh->ex->session_name(sb);
        log_info("session %s: %s sandbox %s ready in %lld ms", cl->sid, lang->id, name,
                 (long long)(now_mono_ms() - t0));
        *st = TASK_SUCCESS;
        *result = dump(json_pack("{s:s, s:s, s:s}", "session_id", cl->sid, "status", "ready",
                                 "container_id", name));
        *ch = to("ready", "");
        ch->container_id = name;
        return;
    }
    log_error("session %s: cannot make its sandbox: %s", cl->sid, err);
    cleanup_free char *msg = xasprintf("the session's sandbox could not be made: %s", err);
    *result = failure_text(msg);
    *ch = to("error", msg);
}

/* A run: write the code to its file, then the language's steps in the sandbox. */
static void do_run(session_host *sh, held *h, const claim *cl, const char *id, task_status *st,
                   char **result, change *ch)
{
    char err[512];
    json_t *o = json_loads(cl->request, 0, NULL);
    session_run run;
    if (session_run_from_json(o, sh->c, &run, err, sizeof err) < 0) {
        json_decref(o);
        cleanup_free char *msg = xasprintf("invalid stored run: %s", err);
        *result = failure_text(msg);
        *ch = to("ready", "");
        return;
    }
    json_decref(o);
    job_request req;
    session_run_request(&run, h->lang, h->memory_mb, h->timeout, sh->c, &req);
    job_language *jl = session_run_language(h->lang, run.filename, &req);
    const language *lang = jl ? &jl->lang : h->lang;
    const char *file = session_run_file(h->lang, jl);
    exec_file_error fe = {0};
    char *failure = NULL;
    json_t *res = NULL;
    int64_t t0 = now_mono_ms();
    if (sh->ex->file_put(h->sb, file, req.code, req.code_len, &fe) < 0)
        failure = xasprintf("cannot write %s: %s", file, fe.msg);
    else
        res = job_run_in(sh->ex, h->sb, sh->c, lang, &req, id, &failure);
    main_class_free(jl);
    session_run_free(&run);
    *ch = to("ready", "");
    ch->ran = true;
    if (res) {
        *st = TASK_SUCCESS;
        *result = dump(res);
        log_task(LOG_INFO, id, "session %s: ran in %lld ms", h->sid,
                 (long long)(now_mono_ms() - t0));
    } else {
        *result = failure_text(failure ? failure : "the run failed");
    }
    free(failure);
}

/* An error of a file operation as its result object: {"ok": false, "http", "error"}. */
static char *file_error(const exec_file_error *fe)
{
    int code = fe->errnum == ENOENT   ? 404
               : fe->errnum == EFBIG  ? 413
               : fe->errnum == ENOSPC ? 507
               : fe->errnum == ELOOP || fe->errnum == ENOTDIR || fe->errnum == EISDIR ||
                       fe->errnum == EINVAL || fe->errnum == EXDEV || fe->errnum == ENAMETOOLONG
                   ? 409
                   : 500;
    return dump(json_pack("{s:b, s:i, s:s}", "ok", 0, "http", code, "error", fe->msg));
}

static void do_file(session_host *sh, held *h, const claim *cl, task_status *st, char **result,
                    change *ch)
{
    json_t *o = json_loads(cl->request, 0, NULL);
    const char *path = json_string_value(json_object_get(o, "path"));
    char why[128];
    exec_file_error fe = {0};
    *st = TASK_SUCCESS;
    *ch = to("touch", "");
    if (cl->op != SESSION_OP_LIST && (!path || session_path_check(path, why, sizeof why) < 0)) {
        fe = (exec_file_error){.errnum = EINVAL};
        snprintf(fe.msg, sizeof fe.msg, "bad file path");
        *result = file_error(&fe);
    } else if (cl->op == SESSION_OP_LIST) {
        json_t *files = NULL;
        *result = sh->ex->file_list(h->sb, &files, &fe) == 0
                      ? dump(json_pack("{s:b, s:o}", "ok", 1, "files", files))
                      : file_error(&fe);
    } else if (cl->op == SESSION_OP_PUT) {
        const char *b64 = json_string_value(json_object_get(o, "content"));
        cleanup_free char *data = NULL;
        size_t len = 0;
        if (!b64 || b64_decode(b64, strlen(b64), &data, &len) < 0) {
            fe = (exec_file_error){.errnum = EINVAL};
            snprintf(fe.msg, sizeof fe.msg, "the stored content is not base64");
            *result = file_error(&fe);
        } else {
            *result = sh->ex->file_put(h->sb, path, data, len, &fe) == 0
                          ? dump(json_pack("{s:b, s:I}", "ok", 1, "size", (json_int_t)len))
                          : file_error(&fe);
        }
    } else {
        json_int_t max = json_integer_value(json_object_get(o, "max"));
        cleanup_free char *data = NULL;
        size_t len = 0;
        if (sh->ex->file_get(h->sb, path, max > 0 ? (size_t)max : (size_t)sh->c->max_body_bytes,
                             &data, &len, &fe) < 0) {
            *result = file_error(&fe);
        } else {
            cleanup_free char *b64 = b64_encode(data, len);
            *result = dump(
                json_pack("{s:b, s:I, s:s}", "ok", 1, "size", (json_int_t)len, "content", b64));
        }
    }
    json_decref(o);
}

int sessions_run(session_host *sh, rconn *rc, const char *id)
{
    char lease[33];
    random_hex(lease, 16);
    claim cl = {0};
    int got;
    while ((got = claim_task(sh, rc, id, lease, &cl)) == -1) {
        if (*sh->stop) {
            collect_shared(sh, rc);
            return -1; /* left in sproc: our death or the next announce deals with it */
        }
        pause_after_error(sh, sh->rs);
    }
    if (got != 1) {
        claim_clear(&cl);
        collect_shared(sh, rc);
        return got == QUEUE_NOT_OWNER ? QUEUE_NOT_OWNER : 0;
    }
    task_status st = TASK_FAILURE;
    char *result = NULL;
    change ch = to("", "");
    held *h = find(sh, cl.sid);
    bool live = cl.ours && session_status_live(cl.status);
    log_task(LOG_DEBUG, id, "session %s: %s (session %s)", cl.sid, session_op_str(cl.op),
             session_status_str(cl.status));
    if (cl.op == SESSION_OP_CREATE) {
        do_create(sh, &cl, &st, &result, &ch);
    } else if (cl.op == SESSION_OP_DELETE) {
        if (h)
            drop(sh, h);
        st = TASK_SUCCESS;
        result = dump(json_pack("{s:s, s:s}", "session_id", cl.sid, "status", "stopped"));
        ch = to("stopped", "");
    } else if (!live || !h) {
        cleanup_free char *why = live ? xstrdup("the session's sandbox is gone") : not_live(&cl);
        result = failure_text(why);
        if (live) /* Redis says it lives, we do not hold it: it is lost */
            ch = to("error", "the session's sandbox is gone; create a new session");
    } else if (!sh->ex->session_alive(h->sb)) {
        drop(sh, h);
        result = failure_text("the session's sandbox stopped; create a new session");
        ch = to("error", "the session's sandbox stopped unexpectedly; create a new session");
    } else if (cl.op == SESSION_OP_RUN) {
        do_run(sh, h, &cl, id, &st, &result, &ch);
        if (st == TASK_FAILURE && !sh->ex->session_alive(h->sb)) {
            drop(sh, h);
            ch = to("error", "the session's sandbox stopped during a run; create a new session");
        }
    } else {
        do_file(sh, h, &cl, &st, &result, &ch);
    }
    int written = finish(sh, rc, id, lease, st, result, cl.sid, &ch);
    h = find(sh, cl.sid);
    if (written == 0 && cl.op == SESSION_OP_CREATE && h)
        drop(sh, h); /* presumed dead and reaped meanwhile: the session is in error already */
    else if (h && (cl.op == SESSION_OP_RUN || cl.op == SESSION_OP_CREATE) && sh->ex->session_tidy)
        sh->ex->session_tidy(h->sb); /* answered: what could wait is done now */
    free(result);
    claim_clear(&cl);
    collect_shared(sh, rc);
    return 0;
}

void sessions_tick(session_host *sh, rconn *rc)
{
    int64_t now = now_mono_ms();
    if (now < sh->next_tick_ms)
        return;
    sh->next_tick_ms = now + TICK_MS;
    const cfg *c = sh->c;
    cleanup_free char *expiry = key_session_expiry(c->redis_prefix, sh->wid);
    char batch[16];
    snprintf(batch, sizeof batch, "%d", EXPIRE_BATCH);
    const char *argv[] = {"EVAL", SCRIPT_SEXPIRE, "1", expiry, c->redis_prefix, sh->wid, batch};
    redisReply *r = rconn_commandv(rc, 7, argv, NULL);
    if (!r)
        return;
    if (r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i + 1 < r->elements; i += 2) {
            if (r->element[i]->type != REDIS_REPLY_STRING)
                continue;
            const char *sid = r->element[i]->str;
            held *h = find(sh, sid);
            log_info("session %s: %s; stopping it", sid,
                     r->element[i + 1]->type == REDIS_REPLY_STRING ? r->element[i + 1]->str
                                                                   : "expired");
            if (h)
                drop(sh, h);
            change ch = to("stopped", "");
            finish(sh, rc, NULL, NULL, TASK_SUCCESS, NULL, sid, &ch);
        }
    }
    freeReplyObject(r);
}
