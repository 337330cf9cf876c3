/* The executor hosts shared through Redis: the view of them, probes, slot leases, down marks and
 * the wait for a free slot (see pool.h; the keys are described in common/redis_model.h). */
#include "pool.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/redis_model.h"
#include "common/util.h"
#include "worker/rconn.h"

#define VIEW_EVERY_MS 1000 /* the shared view is re-read at most this often unless forced */
#define OFFER_TTL_PROBES 3 /* a language stays offered this many probe intervals after a probe */

/* Every time below is Redis's clock in ms, so that all workers of the fleet agree. */
#define LUA_NOW                                                                                    \
    "local t = redis.call('TIME')\n"                                                               \
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

/* KEYS hosts, seen, down, why; ARGV the urls. Returns now, then per url: report, seen, down
 * until, why ("" or "0" when none). */
static const char *const SCRIPT_VIEW =
    LUA_NOW "local out = {now}\n"
            "for i = 1, #ARGV do\n"
            "  local u = ARGV[i]\n"
            "  out[#out + 1] = redis.call('HGET', KEYS[1], u) or ''\n"
            "  out[#out + 1] = redis.call('HGET', KEYS[2], u) or '0'\n"
            "  out[#out + 1] = redis.call('ZSCORE', KEYS[3], u) or '0'\n"
            "  out[#out + 1] = redis.call('HGET', KEYS[4], u) or ''\n"
            "end\n"
            "return out\n";

/* A healthy probe. KEYS hosts, seen, down, why, offer; ARGV url, report, offer ttl ms, then the
 * languages it offers. */
static const char *const SCRIPT_PROBED =
    LUA_NOW "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])\n"
            "redis.call('HSET', KEYS[2], ARGV[1], now)\n"
            "redis.call('ZREM', KEYS[3], ARGV[1])\n"
            "redis.call('HDEL', KEYS[4], ARGV[1])\n"
            "redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now)\n"
            "for i = 4, #ARGV do\n"
            "  redis.call('ZADD', KEYS[5], 'GT', now + tonumber(ARGV[3]), ARGV[i])\n"
            "end\n"
            "return now\n";

/* KEYS down, why; ARGV url, ms, why. Returns until when it is down. */
static const char *const SCRIPT_DOWN = LUA_NOW "local u = now + tonumber(ARGV[2])\n"
                                               "redis.call('ZADD', KEYS[1], 'GT', u, ARGV[1])\n"
                                               "redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])\n"
                                               "return u\n";

/* KEYS down, held, lastused, then the slot zset of each candidate; ARGV lease token, ttl ms,
 * rotation, then url and capacity of each candidate. The candidate that is not down and has the
 * most free slots (the rotation breaks ties, so that equal hosts share the work) gets the
 * lease. Returns its position (1-based), or 0. */
static const char *const SCRIPT_ACQUIRE =
    LUA_NOW "local n = #KEYS - 3\n"
            "local best, most = 0, 0\n"
            "for k = 0, n - 1 do\n"
            "  local i = (k + tonumber(ARGV[3])) % n + 1\n"
            "  local url, cap = ARGV[2 + 2 * i], tonumber(ARGV[3 + 2 * i])\n"
            "  if not redis.call('ZSCORE', KEYS[1], url) then\n"
            "    redis.call('ZREMRANGEBYSCORE', KEYS[3 + i], '-inf', now)\n"
            "    local free = cap - redis.call('ZCARD', KEYS[3 + i])\n"
            "    if free > most then best, most = i, free end\n"
            "  end\n"
            "end\n"
            "if best == 0 then return 0 end\n"
            "local ttl = tonumber(ARGV[2])\n"
            "redis.call('ZADD', KEYS[3 + best], now + ttl, ARGV[1])\n"
            "redis.call('PEXPIRE', KEYS[3 + best], ttl, 'GT')\n"
            "if redis.call('PTTL', KEYS[3 + best]) < 0 then redis.call('PEXPIRE', KEYS[3 + best], "
            "ttl) end\n"
            "redis.call('SET', KEYS[2], ARGV[2 + 2 * best] .. ' ' .. ARGV[1], 'PX', ttl)\n"
            "redis.call('HSET', KEYS[3], ARGV[2 + 2 * best], now)\n"
            "return best\n";

/* KEYS slots, held, lastused, freed; ARGV lease token, url. */
static const char *const SCRIPT_RELEASE =
    LUA_NOW "local removed = redis.call('ZREM', KEYS[1], ARGV[1])\n"
            "if redis.call('GET', KEYS[2]) == ARGV[2] .. ' ' .. ARGV[1] then\n"
            "  redis.call('DEL', KEYS[2])\n"
            "end\n"
            "redis.call('HSET', KEYS[3], ARGV[2], now)\n"
            "redis.call('LPUSH', KEYS[4], '1')\n"
            "redis.call('LTRIM', KEYS[4], 0, 63)\n" /* a few wake-ups for waiters, no more */
            "return removed\n";

/* One host as this process sees it: from the shared view, refreshed by pool_refresh. */
typedef struct phost {
    rclient_target t;      /* owned */
    char *slots_key;       /* owned; {prefix}remote:slots:<url> */
    long slots;            /* its capacity, from its last report; 0 when none */
    json_t *languages;     /* owned; the ids its last report listed, NULL before any */
    int64_t seen_ms;       /* when that report was taken, 0 before any */
    int64_t down_until;    /* down until then (the fleet's view), 0 when not down */
    char *why;             /* owned; why it went down, NULL when not down */
    int64_t refused_until; /* it refuses this worker until then (our token or CA: not the host's
                            * fault, so not shared with the fleet), 0 when not */
    char *refusal;         /* owned; what it said, NULL when it does not refuse us */
} phost;

struct pool {
    const cfg *c;    /* borrowed */
    rclient *client; /* borrowed; for probes */
    char *wid;       /* owned; this worker process */
    rconn *rc;       /* owned */
    phost *hosts;    /* owned array of n */
    size_t n;
    int64_t now_ms;    /* Redis's time at the last view */
    int64_t viewed_at; /* monotonic time of the last view, 0 before */
    char *k_hosts, *k_seen, *k_down, *k_why, *k_freed, *k_lastused, *k_offer, *k_held; /* owned */
};

static void host_clear(phost *h)
{
    rclient_target_clear(&h->t);
    free(h->slots_key);
    json_decref(h->languages);
    free(h->why);
    free(h->refusal);
    memset(h, 0, sizeof *h);
}

pool *pool_create(const cfg *c, rclient *client, const char *worker_id)
{
    pool *p = xcalloc(1, sizeof *p);
    p->c = c;
    p->client = client;
    p->wid = xstrdup(worker_id);
    /* A wait (BLPOP) lasts up to a poll interval: the reply timeout covers it. */
    p->rc = rconn_create(c, (c->idle_instance_poll_interval + c->redis_timeout) * 1000);
    const char *pre = c->redis_prefix;
    p->k_hosts = key_remote(pre, "hosts");
    p->k_seen = key_remote(pre, "seen");
    p->k_down = key_remote(pre, "down");
    p->k_why = key_remote(pre, "why");
    p->k_freed = key_remote(pre, "freed");
    p->k_lastused = key_remote(pre, "lastused");
    p->k_offer = key_remote(pre, "offer");
    p->k_held = key_remote_held(pre, worker_id);
    return p;
}

void pool_free(pool *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        host_clear(&p->hosts[i]);
    free(p->hosts);
    rconn_free(p->rc);
    free(p->wid);
    free(p->k_hosts), free(p->k_seen), free(p->k_down), free(p->k_why);
    free(p->k_freed), free(p->k_lastused), free(p->k_offer), free(p->k_held);
    free(p);
}

int pool_set_hosts(pool *p, char *const *urls, size_t n, char *err, size_t errlen)
{
    phost *hosts = xcalloc(n ? n : 1, sizeof *hosts);
    for (size_t i = 0; i < n; i++) {
        char why[256];
        if (rclient_target_parse(urls[i], p->c->remote_tls_name, &hosts[i].t, why, sizeof why) <
            0) {
            for (size_t k = 0; k < i; k++)
                host_clear(&hosts[k]);
            free(hosts);
            return set_error(err, errlen, "%s", why);
        }
        hosts[i].slots_key = key_remote_slots(p->c->redis_prefix, hosts[i].t.url);
        for (size_t k = 0; k < p->n; k++) /* keep what we knew of it */
            if (p->hosts[k].t.url && strcmp(p->hosts[k].t.url, hosts[i].t.url) == 0) {
                hosts[i].slots = p->hosts[k].slots;
                hosts[i].languages = json_incref(p->hosts[k].languages);
                hosts[i].seen_ms = p->hosts[k].seen_ms;
                hosts[i].down_until = p->hosts[k].down_until;
                hosts[i].why = p->hosts[k].why ? xstrdup(p->hosts[k].why) : NULL;
                hosts[i].refused_until = p->hosts[k].refused_until;
                hosts[i].refusal = p->hosts[k].refusal ? xstrdup(p->hosts[k].refusal) : NULL;
            }
    }
    for (size_t k = 0; k < p->n; k++)
        host_clear(&p->hosts[k]);
    free(p->hosts);
    p->hosts = hosts;
    p->n = n;
    p->viewed_at = 0;
    return 0;
}

size_t pool_count(const pool *p)
{
    return p->n;
}

size_t pool_unknown(const pool *p)
{
    size_t k = 0;
    for (size_t i = 0; i < p->n; i++)
        k += !p->hosts[i].languages && !p->hosts[i].down_until && !p->hosts[i].refused_until;
    return k;
}

const rclient_target *pool_target(const pool *p, size_t host)
{
    return &p->hosts[host].t;
}

/* EVAL script with keys and args (NULL-terminated vectors); the reply (caller frees) or NULL. */
static redisReply *eval(pool *p, const char *script, const char *const *keys, size_t nkeys,
                        const char *const *args, size_t nargs)
{
    size_t argc = 3 + nkeys + nargs;
    cleanup_free const char **argv = xcalloc(argc, sizeof *argv);
    char nk[24];
    snprintf(nk, sizeof nk, "%zu", nkeys);
    argv[0] = "EVAL";
    argv[1] = script;
    argv[2] = nk;
    memcpy(argv + 3, keys, nkeys * sizeof *keys);
    memcpy(argv + 3 + nkeys, args, nargs * sizeof *args);
    redisReply *r = rconn_commandv(p->rc, (int)argc, argv, NULL);
    if (r && r->type == REDIS_REPLY_ERROR) {
        log_error("remote executor: redis script failed: %s", r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

static const char *elem_str(const redisReply *r, size_t i)
{
    return r && r->type == REDIS_REPLY_ARRAY && i < r->elements &&
                   r->element[i]->type == REDIS_REPLY_STRING
               ? r->element[i]->str
               : "";
}

static int64_t to_ms(const char *s)
{
    return (int64_t)strtod(s, NULL);
}

/* Re-read the shared view of our hosts. */
static int view(pool *p)
{
    cleanup_free const char **urls = xcalloc(p->n ? p->n : 1, sizeof *urls);
    for (size_t i = 0; i < p->n; i++)
        urls[i] = p->hosts[i].t.url;
    const char *keys[] = {p->k_hosts, p->k_seen, p->k_down, p->k_why};
    redisReply *r = eval(p, SCRIPT_VIEW, keys, 4, urls, p->n);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 1 + 4 * p->n ||
        r->element[0]->type != REDIS_REPLY_INTEGER) {
        if (r)
            freeReplyObject(r);
        return -1;
    }
    p->now_ms = r->element[0]->integer;
    for (size_t i = 0; i < p->n; i++) {
        phost *h = &p->hosts[i];
        const char *report = elem_str(r, 1 + 4 * i), *why = elem_str(r, 4 + 4 * i);
        json_t *j = *report ? json_loads(report, 0, NULL) : NULL;
        json_t *langs = json_object_get(j, "languages");
        if (json_is_array(langs)) {
            json_decref(h->languages);
            h->languages = json_incref(langs);
            h->slots = (long)json_integer_value(json_object_get(j, "slots"));
        }
        json_decref(j);
        h->seen_ms = to_ms(elem_str(r, 2 + 4 * i));
        h->down_until = to_ms(elem_str(r, 3 + 4 * i));
        free(h->why);
        h->why = *why ? xstrdup(why) : NULL;
    }
    freeReplyObject(r);
    p->viewed_at = now_mono_ms();
    return 0;
}

void pool_mark_down(pool *p, size_t host, const char *why)
{
    phost *h = &p->hosts[host];
    char ms[24];
    snprintf(ms, sizeof ms, "%ld", (long)p->c->remote_down_retry * 1000);
    const char *keys[] = {p->k_down, p->k_why};
    const char *args[] = {h->t.url, ms, why};
    redisReply *r = eval(p, SCRIPT_DOWN, keys, 2, args, 3);
    h->down_until = r && r->type == REDIS_REPLY_INTEGER ? r->integer : p->now_ms + 1;
    free(h->why);
    h->why = xstrdup(why);
    if (r)
        freeReplyObject(r);
    log_warn("executor host %s down for %d s: %s", h->t.url, p->c->remote_down_retry, why);
}

void pool_mark_refused(pool *p, size_t host, const char *why)
{
    phost *h = &p->hosts[host];
    h->refused_until = p->now_ms + (int64_t)p->c->remote_down_retry * 1000;
    free(h->refusal);
    h->refusal = xstrdup(why);
    log_warn("executor host %s refuses this worker (asked again in %d s): %s", h->t.url,
             p->c->remote_down_retry, why);
}

static bool is_draining(const json_t *cap)
{
    return json_is_true(json_object_get(cap, "draining"));
}

/* Probe host i (we hold its probe lock): a healthy report goes to the view, anything else marks
 * it down. */
static void probe(pool *p, size_t i)
{
    phost *h = &p->hosts[i];
    char err[512];
    json_t *cap = NULL;
    rcall r = rclient_capacity(p->client, &h->t, &cap, err, sizeof err);
    if (r == RCALL_OK && is_draining(cap)) {
        json_decref(cap);
        pool_mark_down(p, i, "draining (it was stopped)");
        return;
    }
    if (r == RCALL_REFUSED || r == RCALL_TLS) {
        pool_mark_refused(p, i, err);
        return;
    }
    if (r != RCALL_OK) {
        pool_mark_down(p, i, err);
        return;
    }
    json_t *langs = json_object_get(cap, "languages");
    size_t nl = json_array_size(langs);
    cleanup_free char *report = json_dumps(cap, JSON_COMPACT);
    cleanup_free const char **args = xcalloc(3 + nl, sizeof *args);
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%ld", (long)p->c->remote_probe_interval * OFFER_TTL_PROBES * 1000);
    args[0] = h->t.url;
    args[1] = report;
    args[2] = ttl;
    size_t k = 3;
    for (size_t j = 0; j < nl; j++) {
        const char *id = json_string_value(json_array_get(langs, j));
        if (id)
            args[k++] = id;
    }
    const char *keys[] = {p->k_hosts, p->k_seen, p->k_down, p->k_why, p->k_offer};
    redisReply *rr = eval(p, SCRIPT_PROBED, keys, 5, args, k);
    bool was_down = h->down_until != 0 || h->refused_until != 0;
    h->refused_until = 0;
    free(h->refusal);
    h->refusal = NULL;
    if (rr && rr->type == REDIS_REPLY_INTEGER) {
        json_decref(h->languages);
        h->languages = json_incref(langs);
        h->slots = (long)json_integer_value(json_object_get(cap, "slots"));
        h->seen_ms = rr->integer;
        h->down_until = 0;
        free(h->why);
        h->why = NULL;
        if (was_down)
            log_info("executor host %s healthy again: back in use", h->t.url);
    }
    if (rr)
        freeReplyObject(rr);
    json_decref(cap);
}

/* Take host i's probe lock for ms: one worker process of the fleet probes it. */
static bool probe_turn(pool *p, size_t i, long ms)
{
    cleanup_free char *key = xasprintf("%sremote:probe:%s", p->c->redis_prefix, p->hosts[i].t.url);
    redisReply *r = rconn_command(p->rc, "SET %s %s NX PX %ld", key, p->wid, ms);
    bool got = r && r->type == REDIS_REPLY_STATUS;
    if (r)
        freeReplyObject(r);
    return got;
}

void pool_refresh(pool *p, bool force)
{
    if (!force && p->viewed_at && now_mono_ms() - p->viewed_at < VIEW_EVERY_MS)
        return;
    if (view(p) < 0)
        return;
    long interval = (long)p->c->remote_probe_interval * 1000;
    long retry = (long)p->c->remote_down_retry * 1000;
    for (size_t i = 0; i < p->n; i++) {
        phost *h = &p->hosts[i];
        if (h->refused_until) { /* only we can tell whether it takes us again */
            if (p->now_ms >= h->refused_until)
                probe(p, i);
            continue;
        }
        bool due = h->down_until ? p->now_ms >= h->down_until
                                 : !h->seen_ms || p->now_ms - h->seen_ms >= interval;
        if (due &&
            probe_turn(p, i, h->down_until ? (retry < interval ? retry : interval) : interval))
            probe(p, i);
    }
}

static bool offers(const phost *h, const char *lang)
{
    size_t i;
    json_t *v;
    json_array_foreach(h->languages, i,
                       v) if (strcmp(json_string_value(v) ? json_string_value(v) : "", lang) ==
                              0) return true;
    return false;
}

int pool_acquire(pool *p, const char *lang, long ttl_ms, pool_lease *lease)
{
    memset(lease, 0, sizeof *lease);
    cleanup_free size_t *cand = xcalloc(p->n ? p->n : 1, sizeof *cand);
    size_t nc = 0;
    for (size_t i = 0; i < p->n; i++)
        if (!p->hosts[i].down_until && !p->hosts[i].refused_until && p->hosts[i].slots > 0 &&
            offers(&p->hosts[i], lang))
            cand[nc++] = i;
    if (nc == 0)
        return 0;
    char hex[17], ttl[24], rot[24];
    random_hex(hex, 8);
    snprintf(lease->token, sizeof lease->token, "%.60s/%s", p->wid, hex);
    snprintf(ttl, sizeof ttl, "%ld", ttl_ms);
    snprintf(rot, sizeof rot, "%lu", strtoul(hex + 8, NULL, 16) % nc);
    cleanup_free const char **keys = xcalloc(3 + nc, sizeof *keys);
    cleanup_free const char **args = xcalloc(3 + 2 * nc, sizeof *args);
    cleanup_free char(*caps)[24] = xcalloc(nc, sizeof *caps);
    keys[0] = p->k_down, keys[1] = p->k_held, keys[2] = p->k_lastused;
    args[0] = lease->token, args[1] = ttl, args[2] = rot;
    for (size_t k = 0; k < nc; k++) {
        const phost *h = &p->hosts[cand[k]];
        keys[3 + k] = h->slots_key;
        snprintf(caps[k], sizeof caps[k], "%ld", h->slots);
        args[3 + 2 * k] = h->t.url;
        args[4 + 2 * k] = caps[k];
    }
    redisReply *r = eval(p, SCRIPT_ACQUIRE, keys, 3 + nc, args, 3 + 2 * nc);
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        if (r)
            freeReplyObject(r);
        return -1;
    }
    long long best = r->integer;
    freeReplyObject(r);
    if (best < 1 || (size_t)best > nc)
        return 0;
    lease->host = cand[best - 1];
    lease->url = xstrdup(p->hosts[lease->host].t.url);
    return 1;
}

/* RELEASE over an rconn (the pool's, or the supervisor's for a dead process's lease). */
static void release_on(rconn *rc, const cfg *c, const char *wid, const char *url, const char *token)
{
    cleanup_free char *slots = key_remote_slots(c->redis_prefix, url);
    cleanup_free char *held = key_remote_held(c->redis_prefix, wid);
    cleanup_free char *lastused = key_remote(c->redis_prefix, "lastused");
    cleanup_free char *freed = key_remote(c->redis_prefix, "freed");
    const char *argv[] = {"EVAL", SCRIPT_RELEASE, "4", slots, held, lastused, freed, token, url};
    redisReply *r = rconn_commandv(rc, 9, argv, NULL);
    if (!r || r->type == REDIS_REPLY_ERROR)
        log_warn("cannot release the slot lease %s on %s (%s): it expires with its job's bound",
                 token, url, r ? r->str : "redis unreachable");
    if (r)
        freeReplyObject(r);
}

void pool_release(pool *p, pool_lease *lease)
{
    if (!lease->url)
        return;
    release_on(p->rc, p->c, p->wid, lease->url, lease->token);
    free(lease->url);
    lease->url = NULL;
}

void pool_wait(pool *p, long ms)
{
    if (ms <= 0)
        return;
    char secs[32];
    snprintf(secs, sizeof secs, "%.3f", ms / 1000.0);
    int64_t t0 = now_mono_ms();
    redisReply *r = rconn_command(p->rc, "BLPOP %s %s", p->k_freed, secs);
    if (r) {
        freeReplyObject(r);
        return;
    }
    int64_t left = ms - (now_mono_ms() - t0); /* Redis away: sleep instead, a little at a time */
    if (left > 200)
        left = 200;
    if (left > 0) {
        struct timespec ts = {left / 1000, (left % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

pool_why pool_explain(pool *p, const char *lang, char *buf, size_t len)
{
    size_t known = 0, offering = 0, down = 0, refused = 0;
    const char *last_why = NULL, *last_url = NULL;
    for (size_t i = 0; i < p->n; i++) {
        const phost *h = &p->hosts[i];
        known += h->languages != NULL;
        offering += h->languages && offers(h, lang);
        if (h->refused_until) {
            refused++;
            last_why = h->refusal, last_url = h->t.url;
        } else if (h->down_until) {
            down++;
            last_why = h->why, last_url = h->t.url;
        }
    }
    snprintf(buf, len,
             "%zu executor host(s): %zu offer %s, %zu down, %zu refuse this worker%s%s%s%s", p->n,
             offering, lang, down, refused, last_why ? " (" : "", last_url ? last_url : "",
             last_why ? ": " : "", last_why ? last_why : "");
    if (last_why) {
        size_t n = strlen(buf);
        snprintf(buf + n, len - n, ")");
    }
    if (p->n && refused == p->n)
        return POOL_REFUSED;
    if (p->n && known == p->n && offering == 0)
        return POOL_NO_LANGUAGE;
    return POOL_WAIT;
}

void pool_release_stale(const cfg *c, const char *worker_id)
{
    rconn *rc = rconn_create(c, c->redis_timeout * 1000);
    cleanup_free char *held = key_remote_held(c->redis_prefix, worker_id);
    redisReply *r = rconn_command(rc, "GET %s", held);
    if (r && r->type == REDIS_REPLY_STRING) {
        char *sp = strrchr(r->str, ' ');
        if (sp) {
            *sp = '\0';
            release_on(rc, c, worker_id, r->str, sp + 1);
            log_info("freed the slot lease %s held on %s by dead worker process %s", sp + 1, r->str,
                     worker_id);
        }
    }
    if (r)
        freeReplyObject(r);
    rconn_free(rc);
}

rconn *pool_redis(pool *p)
{
    return p->rc;
}

/* KEYS hosts, seen, down, why, lastused, slots; ARGV url. */
static const char *const SCRIPT_FORGET = "redis.call('HDEL', KEYS[1], ARGV[1])\n"
                                         "redis.call('HDEL', KEYS[2], ARGV[1])\n"
                                         "redis.call('ZREM', KEYS[3], ARGV[1])\n"
                                         "redis.call('HDEL', KEYS[4], ARGV[1])\n"
                                         "redis.call('HDEL', KEYS[5], ARGV[1])\n"
                                         "redis.call('DEL', KEYS[6])\n"
                                         "return 1\n";

void pool_forget_host(pool *p, const char *url)
{
    cleanup_free char *slots = key_remote_slots(p->c->redis_prefix, url);
    const char *keys[] = {p->k_hosts, p->k_seen, p->k_down, p->k_why, p->k_lastused, slots};
    const char *args[] = {url};
    redisReply *r = eval(p, SCRIPT_FORGET, keys, 6, args, 1);
    if (r)
        freeReplyObject(r);
}
