/* The EC2 fleet: discovery shared in Redis, the launcher's election, the minimum, and the
 * retirement of idle instances (see fleet.h; keys in common/redis_model.h). */
#include "fleet.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "common/b64.h"
#include "common/log.h"
#include "common/redis_model.h"
#include "common/util.h"
#include "worker/executors/remote/aws.h"
#include "worker/executors/remote/ec2.h"

#define SYNC_EVERY_MS 1000
#define USER_DATA_MAX 16384      /* bytes: EC2's limit on user data */
#define ERROR_LOG_EVERY_MS 60000 /* a failing EC2 call is logged this often, not every turn */

/* Retire a host if it is idle: no live lease, and no lease taken or given back (or, never used,
 * no launch) for idle ms. Retired, it is down (no lease is granted any more) in the same step.
 * KEYS slots, lastused, down, why; ARGV url, idle ms, launch time ms. Returns 1 when retired. */
static const char *const SCRIPT_RETIRE =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
    "if redis.call('ZCARD', KEYS[1]) > 0 then return 0 end\n"
    "local last = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or ARGV[3])\n"
    "if now - last < tonumber(ARGV[2]) then return 0 end\n"
    "redis.call('ZADD', KEYS[3], now + 315360000000, ARGV[1])\n" /* ten years: for good */
    "redis.call('HSET', KEYS[4], ARGV[1], 'retired: idle, being terminated')\n"
    "return 1\n";

struct fleet {
    const cfg *c;              /* borrowed */
    pool *pool;                /* borrowed */
    rconn *rc;                 /* borrowed: the pool's */
    char *wid;                 /* owned */
    aws *aws;                  /* owned */
    char *tag_key, *tag_value; /* owned; EC2_TAG split */
    char *user_data_b64;       /* owned; NULL when no EC2_AMI_ID: nothing is launched */
    char *k_instances, *k_upkeep, *k_launch; /* owned */
    char *seen_json; /* owned; the shared list as last read, to tell a change */
    char **urls;     /* owned, with their strings */
    size_t n;
    size_t n_instances; /* pending and running, from the last list */
    int64_t synced_at;  /* monotonic */
    char last_error[1024];
    int64_t error_logged_at;
};

static void urls_clear(fleet *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->urls[i]);
    free(f->urls);
    f->urls = NULL;
    f->n = 0;
}

void fleet_free(fleet *f)
{
    if (!f)
        return;
    aws_free(f->aws);
    urls_clear(f);
    free(f->wid);
    free(f->tag_key);
    free(f->tag_value);
    free(f->user_data_b64);
    free(f->k_instances);
    free(f->k_upkeep);
    free(f->k_launch);
    free(f->seen_json);
    free(f);
}
CLEANUP_FUNC(fleet, fleet_free)

static int read_user_data(fleet *f, char *err, size_t errlen)
{
    const char *path = f->c->ec2_user_data_file;
    FILE *fp = fopen(path, "re");
    if (!fp)
        return set_error(err, errlen, "EC2_USER_DATA_FILE: cannot open %s: %s", path,
                         strerror(errno));
    cleanup_free char *buf = xmalloc(USER_DATA_MAX + 1);
    size_t n = fread(buf, 1, USER_DATA_MAX + 1, fp);
    fclose(fp);
    if (n > USER_DATA_MAX)
        return set_error(err, errlen, "EC2_USER_DATA_FILE: %s is over EC2's %d bytes", path,
                         USER_DATA_MAX);
    f->user_data_b64 = b64_encode(buf, n);
    return 0;
}

int fleet_create(const cfg *c, pool *p, const char *worker_id, fleet **out, char *err,
                 size_t errlen)
{
    *out = NULL;
    const char *eq = strchr(c->ec2_tag, '=');
    if (!eq || eq == c->ec2_tag || !eq[1])
        return set_error(err, errlen, "EC2_TAG: '%s' is not key=value", c->ec2_tag);
    if (!strstr(c->ec2_agent_url, "{ip}"))
        return set_error(err, errlen, "EC2_AGENT_URL: '%s' has no {ip}", c->ec2_agent_url);
    if (c->ec2_min_instances > c->ec2_max_instances)
        return set_error(err, errlen, "EC2_MIN_INSTANCES (%d) is above EC2_MAX_INSTANCES (%d)",
                         c->ec2_min_instances, c->ec2_max_instances);
    cleanup_ptr(fleet) fleet *f = xcalloc(1, sizeof *f);
    f->c = c;
    f->pool = p;
    f->rc = pool_redis(p);
    f->wid = xstrdup(worker_id);
    f->tag_key = xstrndup(c->ec2_tag, (size_t)(eq - c->ec2_tag));
    f->tag_value = xstrdup(eq + 1);
    f->k_instances = key_remote(c->redis_prefix, "ec2:instances");
    f->k_upkeep = key_remote(c->redis_prefix, "ec2:upkeep");
    f->k_launch = key_remote(c->redis_prefix, "ec2:launch");
    if (c->ec2_ami_id && read_user_data(f, err, errlen) < 0)
        return -1;
    if (aws_create(c, &f->aws, err, errlen) < 0)
        return -1;
    *out = steal_pointer(&f);
    return 0;
}

char *const *fleet_urls(const fleet *f, size_t *n)
{
    *n = f->n;
    return f->urls;
}

void fleet_status(const fleet *f, char *buf, size_t len)
{
    snprintf(buf, len, "EC2: %zu instance(s) tagged %s=%s%s%s", f->n_instances, f->tag_key,
             f->tag_value, f->last_error[0] ? "; last error: " : "", f->last_error);
}

static void note_error(fleet *f, const char *err)
{
    snprintf(f->last_error, sizeof f->last_error, "%s", err);
    int64_t now = now_mono_ms();
    if (!f->error_logged_at || now - f->error_logged_at >= ERROR_LOG_EVERY_MS) {
        log_error("%s", err);
        f->error_logged_at = now;
    }
}

/* SET key NX PX ms: true when this worker process got it. */
static bool take_lock(fleet *f, const char *key, long ms)
{
    redisReply *r = rconn_command(f->rc, "SET %s %s NX PX %ld", key, f->wid, ms);
    bool got = r && r->type == REDIS_REPLY_STATUS;
    if (r)
        freeReplyObject(r);
    return got;
}

static char *agent_url(const fleet *f, const char *ip)
{
    const char *tpl = f->c->ec2_agent_url, *at = strstr(tpl, "{ip}");
    return xasprintf("%.*s%s%s", (int)(at - tpl), tpl, ip, at + 4);
}

static json_t *instance_json(const ec2_instance *i)
{
    return json_pack("{s:s, s:s, s:s?, s:I}", "id", i->id, "state", i->state, "ip", i->ip,
                     "launched", (json_int_t)i->launch_ms);
}

/* Publish the list for the fleet; the URLs of hosts no longer in it are forgotten. */
static void publish(fleet *f, json_t *list)
{
    redisReply *old = rconn_command(f->rc, "GET %s", f->k_instances);
    json_t *before = old && old->type == REDIS_REPLY_STRING ? json_loads(old->str, 0, NULL) : NULL;
    if (old)
        freeReplyObject(old);
    size_t i, k;
    json_t *a, *b;
    json_array_foreach(before, i, a)
    {
        const char *ip = json_string_value(json_object_get(a, "ip"));
        bool still = false;
        json_array_foreach(list, k, b) still |=
            ip && json_string_value(json_object_get(b, "ip")) &&
            strcmp(ip, json_string_value(json_object_get(b, "ip"))) == 0;
        if (ip && !still) {
            cleanup_free char *url = agent_url(f, ip);
            pool_forget_host(f->pool, url);
            log_info("executor host %s (%s) is gone from EC2", url,
                     json_string_value(json_object_get(a, "id")));
        }
    }
    json_decref(before);
    cleanup_free char *text = json_dumps(list, JSON_COMPACT);
    long ttl = (long)f->c->ec2_discovery_interval * 3000;
    redisReply *r = rconn_command(f->rc, "SET %s %s PX %ld", f->k_instances, text, ttl);
    if (r)
        freeReplyObject(r);
}

static int launch(fleet *f, json_t *list, const char *why)
{
    const cfg *c = f->c;
    ec2_launch l = {.ami = c->ec2_ami_id,
                    .instance_type = c->ec2_instance_type,
                    .security_group = c->ec2_security_group_id,
                    .subnet = c->ec2_subnet_id,
                    .instance_profile = c->ec2_iam_instance_profile_arn,
                    .tag_key = f->tag_key,
                    .tag_value = f->tag_value,
                    .user_data_b64 = f->user_data_b64};
    ec2_instance inst;
    char err[1024];
    if (ec2_run(f->aws, &l, &inst, err, sizeof err) < 0) {
        note_error(f, err);
        return -1;
    }
    log_info("launched EC2 instance %s (%s, %s) %s", inst.id, c->ec2_instance_type,
             inst.ip ? inst.ip : "no address yet", why);
    json_array_append_new(list, instance_json(&inst));
    free(inst.id);
    free(inst.state);
    free(inst.ip);
    return 0;
}

/* Retire and terminate idle instances above the minimum; returns how many went. */
static size_t retire_idle(fleet *f, const ec2_instance *list, size_t n, size_t count)
{
    const cfg *c = f->c;
    size_t gone = 0;
    cleanup_free char *lastused = key_remote(c->redis_prefix, "lastused");
    cleanup_free char *down = key_remote(c->redis_prefix, "down");
    cleanup_free char *why = key_remote(c->redis_prefix, "why");
    char idle[24];
    snprintf(idle, sizeof idle, "%lld", (long long)c->ec2_idle_terminate_seconds * 1000);
    for (size_t i = 0; i < n && count - gone > (size_t)c->ec2_min_instances; i++) {
        if (!list[i].ip || strcmp(list[i].state, "running") != 0)
            continue;
        cleanup_free char *url = agent_url(f, list[i].ip);
        cleanup_free char *slots = key_remote_slots(c->redis_prefix, url);
        char launched[24];
        snprintf(launched, sizeof launched, "%lld", (long long)list[i].launch_ms);
        const char *argv[] = {"EVAL", SCRIPT_RETIRE, "4", slots, lastused,
                              down,   why,           url, idle,  launched};
        redisReply *r = rconn_commandv(f->rc, 10, argv, NULL);
        bool retired = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
        if (r)
            freeReplyObject(r);
        if (!retired)
            continue;
        char err[1024];
        if (ec2_terminate(f->aws, list[i].id, err, sizeof err) < 0) {
            note_error(f, err);
            redisReply *u = rconn_command(f->rc, "ZREM %s %s", down, url); /* keep using it */
            if (u)
                freeReplyObject(u);
            continue;
        }
        log_info("terminated EC2 instance %s (%s): idle for %d s, above EC2_MIN_INSTANCES (%d)",
                 list[i].id, url, c->ec2_idle_terminate_seconds, c->ec2_min_instances);
        gone++;
    }
    return gone;
}

/* Our turn: discover, publish, keep the minimum, retire the idle. */
static void upkeep(fleet *f)
{
    const cfg *c = f->c;
    ec2_instance *list;
    size_t n;
    char err[1024];
    if (ec2_describe(f->aws, f->tag_key, f->tag_value, &list, &n, err, sizeof err) < 0) {
        note_error(f, err);
        return;
    }
    f->last_error[0] = '\0';
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, instance_json(&list[i]));
    size_t count = n;
    while (f->user_data_b64 && count < (size_t)c->ec2_min_instances &&
           launch(f, arr, "to keep EC2_MIN_INSTANCES") == 0)
        count++;
    if (count > (size_t)c->ec2_min_instances) {
        size_t gone = retire_idle(f, list, n, count);
        if (gone) { /* drop them from what the fleet sees now */
            json_t *kept = json_array();
            size_t i;
            json_t *v;
            json_array_foreach(arr, i, v)
            {
                const char *ip = json_string_value(json_object_get(v, "ip"));
                cleanup_free char *url = ip ? agent_url(f, ip) : NULL;
                redisReply *r =
                    url ? rconn_command(f->rc, "HGET %sremote:why %s", c->redis_prefix, url) : NULL;
                bool out = r && r->type == REDIS_REPLY_STRING && strncmp(r->str, "retired", 7) == 0;
                if (r)
                    freeReplyObject(r);
                if (!out)
                    json_array_append(kept, v);
            }
            json_decref(arr);
            arr = kept;
        }
    }
    publish(f, arr);
    json_decref(arr);
    ec2_instances_free(list, n);
}

bool fleet_sync(fleet *f, bool may_upkeep)
{
    int64_t now = now_mono_ms();
    if (f->synced_at && now - f->synced_at < SYNC_EVERY_MS)
        return false;
    f->synced_at = now;
    if (may_upkeep && take_lock(f, f->k_upkeep, (long)f->c->ec2_discovery_interval * 1000))
        upkeep(f);
    redisReply *r = rconn_command(f->rc, "GET %s", f->k_instances);
    if (!r || r->type != REDIS_REPLY_STRING ||
        (f->seen_json && strcmp(f->seen_json, r->str) == 0)) {
        if (r)
            freeReplyObject(r);
        return false; /* unchanged, or not known yet: keep what we have */
    }
    free(f->seen_json);
    f->seen_json = xstrdup(r->str);
    freeReplyObject(r);
    json_t *list = json_loads(f->seen_json, 0, NULL);
    urls_clear(f);
    f->n_instances = json_array_size(list);
    f->urls = xcalloc(f->n_instances ? f->n_instances : 1, sizeof *f->urls);
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        const char *ip = json_string_value(json_object_get(v, "ip"));
        if (ip)
            f->urls[f->n++] = agent_url(f, ip);
    }
    json_decref(list);
    return true;
}

void fleet_want_more(fleet *f)
{
    const cfg *c = f->c;
    if (!f->user_data_b64 || c->ec2_max_instances == 0)
        return; /* launching is not configured */
    if (!take_lock(f, f->k_launch, (long)c->ec2_launch_cooldown * 1000))
        return; /* another worker launched within the cooldown, or is launching now */
    ec2_instance *list;
    size_t n;
    char err[1024];
    if (ec2_describe(f->aws, f->tag_key, f->tag_value, &list, &n, err, sizeof err) < 0) {
        note_error(f, err);
        return;
    }
    if (n >= (size_t)c->ec2_max_instances) {
        log_info("jobs wait for an executor slot, but EC2_MAX_INSTANCES (%d) instances run "
                 "already",
                 c->ec2_max_instances);
        ec2_instances_free(list, n);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, instance_json(&list[i]));
    ec2_instances_free(list, n);
    if (launch(f, arr, "because jobs wait for an executor slot") == 0)
        publish(f, arr);
    json_decref(arr);
    f->synced_at = 0; /* read it back at once */
}
