/* Configuration: one table row per environment variable (name, field, default, parser); filled
 * once at start-up, strictly parsed, read-only afterwards. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/redis_tls.h"
#include "common/util.h"

enum kind {
    K_STR,   /* any non-empty string */
    K_INT,   /* integer within [min, max] */
    K_LONG,  /* long within [min, max] */
    K_DOUBLE /* number within [min, max] */
};

/* One option: its variable, where it goes, its default and its bounds. */
typedef struct option {
    const char *name; /* environment variable */
    enum kind kind;
    size_t offset;   /* offsetof the field in struct cfg */
    const char *def; /* default as text; NULL: computed (see below) */
    double min, max; /* bounds for numbers */
} option;

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
#define STR(name, field, def)                                                                      \
    {                                                                                              \
        name, K_STR, offsetof(cfg, field), def, 0, 0                                               \
    }
#define INT(name, field, def, lo, hi)                                                              \
    {                                                                                              \
        name, K_INT, offsetof(cfg, field), STRINGIFY(def), lo, hi                                  \
    }
#define LONG(name, field, def, lo, hi)                                                             \
    {                                                                                              \
        name, K_LONG, offsetof(cfg, field), STRINGIFY(def), lo, hi                                 \
    }
#define DBL(name, field, def, lo, hi)                                                              \
    {                                                                                              \
        name, K_DOUBLE, offsetof(cfg, field), STRINGIFY(def), lo, hi                               \
    }

static const option options[] = {
    STR("REDIS_URL", redis_url, CFG_DEFAULT_REDIS_URL),
    STR("REDIS_PREFIX", redis_prefix, CFG_DEFAULT_REDIS_PREFIX),
    STR("REDIS_MASTER_NAME", redis_master_name, CFG_DEFAULT_REDIS_MASTER_NAME),
    INT("REDIS_MIN_REPLICAS_ACK", redis_min_replicas_ack, -1, -1, 100), /* -1: see cfg_load */
    STR("API_HOST", api_host, CFG_DEFAULT_API_HOST),
    INT("API_PORT", api_port, CFG_DEFAULT_API_PORT, 1, 65535),
    INT("API_THREADS", api_threads, 0, 0, 256), /* 0: number of cores */
    LONG("MAX_BODY_BYTES", max_body_bytes, CFG_DEFAULT_MAX_BODY_BYTES, 1024, 1L << 30),
    LONG("MAX_QUEUE_LENGTH", max_queue_length, CFG_DEFAULT_MAX_QUEUE_LENGTH, 1, 1L << 40),
    INT("RESULT_TTL", result_ttl, CFG_DEFAULT_RESULT_TTL, 1, 365 * 86400),
    INT("CLIENT_TIMEOUT", client_timeout, CFG_DEFAULT_CLIENT_TIMEOUT, 1, 3600),
    INT("WORKER_CONCURRENCY", worker_concurrency, CFG_DEFAULT_WORKER_CONCURRENCY, 1, 1024),
    STR("WORKER_ID", worker_id, NULL), /* NULL: host name */
    STR("EXECUTOR", executor, CFG_DEFAULT_EXECUTOR),
    STR("OCI_RUNTIME", oci_runtime, CFG_DEFAULT_OCI_RUNTIME),
    STR("DOCKER_HOST", docker_host, CFG_DEFAULT_DOCKER_HOST),
    STR("DOCKER_RUNTIME", docker_runtime, CFG_DEFAULT_DOCKER_RUNTIME),
    STR("IMAGES_DIR", images_dir, CFG_DEFAULT_IMAGES_DIR),
    STR("STATE_DIR", state_dir, CFG_DEFAULT_STATE_DIR),
    STR("LANGUAGES_FILE", languages_file, CFG_DEFAULT_LANGUAGES_FILE),
    INT("DEFAULT_TIMEOUT", default_timeout, CFG_DEFAULT_TIMEOUT, 1, 3600),
    INT("MAX_TIMEOUT", max_timeout, CFG_DEFAULT_MAX_TIMEOUT, 1, 3600),
    INT("DEFAULT_MEMORY_MB", default_memory_mb, CFG_DEFAULT_MEMORY_MB, 8, 1 << 20),
    INT("MAX_MEMORY_MB", max_memory_mb, CFG_DEFAULT_MAX_MEMORY_MB, 8, 1 << 20),
    INT("PIDS_LIMIT", pids_limit, CFG_DEFAULT_PIDS_LIMIT, 1, 1 << 20),
    DBL("CPU_LIMIT", cpu_limit, CFG_DEFAULT_CPU_LIMIT, 0.01, 1024),
    LONG("OUTPUT_LIMIT_BYTES", output_limit_bytes, CFG_DEFAULT_OUTPUT_LIMIT_BYTES, 1, 1L << 32),
    INT("WORKSPACE_MB", workspace_mb, CFG_DEFAULT_WORKSPACE_MB, 1, 1 << 20),
    INT("TASK_MAX_ATTEMPTS", task_max_attempts, CFG_DEFAULT_TASK_MAX_ATTEMPTS, 1, 1000),
    INT("HEARTBEAT_INTERVAL", heartbeat_interval, CFG_DEFAULT_HEARTBEAT_INTERVAL, 1, 3600),
    INT("WORKER_SHUTDOWN_GRACE", worker_shutdown_grace, CFG_DEFAULT_WORKER_SHUTDOWN_GRACE, 0,
        86400),
    INT("MAX_JOB_SECONDS", max_job_seconds, CFG_DEFAULT_MAX_JOB_SECONDS, 1, 7 * 86400),
    INT("REDIS_TIMEOUT", redis_timeout, CFG_DEFAULT_REDIS_TIMEOUT, 1, 300),
    INT("ORPHAN_SCAN_INTERVAL", orphan_scan_interval, CFG_DEFAULT_ORPHAN_SCAN_INTERVAL, 1, 86400),
    INT("METRICS_PORT", metrics_port, CFG_DEFAULT_METRICS_PORT, 0, 65535),
    STR("METRICS_HOST", metrics_host, CFG_DEFAULT_METRICS_HOST),
    STR("METRICS_TOKEN", metrics_token, NULL), /* NULL: unset */
    /* at most 2e9 + WORKER_CONCURRENCY (1024): every slot's uid is a valid, positive uid_t */
    INT("SANDBOX_UID_BASE", sandbox_uid_base, CFG_DEFAULT_SANDBOX_UID_BASE, 1, 2000000000),
    STR("REDIS_TLS_CA_FILE", redis_tls_ca_file, NULL),
    STR("REDIS_TLS_CERT_FILE", redis_tls_cert_file, NULL),
    STR("REDIS_TLS_KEY_FILE", redis_tls_key_file, NULL),
    STR("REDIS_TLS_SERVER_NAME", redis_tls_server_name, NULL),
    INT("SESSION_TTL", session_ttl, CFG_DEFAULT_SESSION_TTL, 1, 365 * 86400),
    INT("SESSION_MAX_LIFETIME", session_max_lifetime, CFG_DEFAULT_SESSION_MAX_LIFETIME, 1,
        365 * 86400),
    INT("MAX_SESSIONS_PER_WORKER", max_sessions_per_worker, CFG_DEFAULT_MAX_SESSIONS_PER_WORKER, 0,
        100000),
    STR("EXECUTOR_LISTEN", executor_listen, CFG_DEFAULT_EXECUTOR_LISTEN),
    STR("EXECUTOR_AUTH_TOKEN", executor_auth_token, NULL),
    STR("EXECUTOR_AUTH_TOKEN_FILE", executor_auth_token_file, NULL),
    INT("EXECUTOR_ALLOW_NO_TOKEN", executor_allow_no_token, 0, 0, 1),
    STR("REMOTE_EXECUTORS", remote_executors, NULL),
    STR("REMOTE_CA_FILE", remote_ca_file, NULL),
    STR("REMOTE_TLS_NAME", remote_tls_name, NULL),
    INT("REMOTE_CONNECT_TIMEOUT", remote_connect_timeout, CFG_DEFAULT_REMOTE_CONNECT_TIMEOUT, 1,
        300),
    INT("REMOTE_STALL_TIMEOUT", remote_stall_timeout, CFG_DEFAULT_REMOTE_STALL_TIMEOUT, 2, 3600),
    INT("IDLE_INSTANCE_WAIT_TIMEOUT", idle_instance_wait_timeout,
        CFG_DEFAULT_IDLE_INSTANCE_WAIT_TIMEOUT, 0, 86400),
    INT("IDLE_INSTANCE_POLL_INTERVAL", idle_instance_poll_interval,
        CFG_DEFAULT_IDLE_INSTANCE_POLL_INTERVAL, 1, 3600),
    INT("REMOTE_DOWN_RETRY", remote_down_retry, CFG_DEFAULT_REMOTE_DOWN_RETRY, 1, 86400),
    INT("REMOTE_PROBE_INTERVAL", remote_probe_interval, CFG_DEFAULT_REMOTE_PROBE_INTERVAL, 1, 3600),
    STR("AWS_REGION", aws_region, NULL),
    STR("AWS_ENDPOINT_URL", aws_endpoint_url, NULL),
    STR("EC2_TAG", ec2_tag, CFG_DEFAULT_EC2_TAG),
    STR("EC2_AGENT_URL", ec2_agent_url, CFG_DEFAULT_EC2_AGENT_URL),
    INT("EC2_DISCOVERY_INTERVAL", ec2_discovery_interval, CFG_DEFAULT_EC2_DISCOVERY_INTERVAL, 1,
        3600),
    INT("EC2_MIN_INSTANCES", ec2_min_instances, 0, 0, 10000),
    INT("EC2_MAX_INSTANCES", ec2_max_instances, CFG_DEFAULT_EC2_MAX_INSTANCES, 0, 10000),
    STR("EC2_AMI_ID", ec2_ami_id, NULL),
    STR("EC2_INSTANCE_TYPE", ec2_instance_type, CFG_DEFAULT_EC2_INSTANCE_TYPE),
    STR("EC2_SECURITY_GROUP_ID", ec2_security_group_id, NULL),
    STR("EC2_IAM_INSTANCE_PROFILE_ARN", ec2_iam_instance_profile_arn, NULL),
    STR("EC2_SUBNET_ID", ec2_subnet_id, NULL),
    STR("EC2_USER_DATA_FILE", ec2_user_data_file, CFG_DEFAULT_EC2_USER_DATA_FILE),
    INT("EC2_IDLE_TERMINATE_SECONDS", ec2_idle_terminate_seconds,
        CFG_DEFAULT_EC2_IDLE_TERMINATE_SECONDS, 1, 30 * 86400),
    INT("EC2_LAUNCH_COOLDOWN", ec2_launch_cooldown, CFG_DEFAULT_EC2_LAUNCH_COOLDOWN, 1, 86400),
};

static int set_option(cfg *c, const option *o, const char *text, char *err, size_t errlen)
{
    void *field = (char *)c + o->offset;
    long l;
    double d;
    switch (o->kind) {
    case K_STR:
        if (!*text)
            return set_error(err, errlen, "%s: must not be empty", o->name);
        *(char **)field = xstrdup(text);
        return 0;
    case K_INT:
    case K_LONG:
        if (parse_long(text, (long)o->min, (long)o->max, &l) < 0)
            return set_error(err, errlen, "%s: '%s' is not a whole number from %.0f to %.0f",
                             o->name, text, o->min, o->max);
        if (o->kind == K_INT)
            *(int *)field = (int)l;
        else
            *(long *)field = l;
        return 0;
    case K_DOUBLE:
        if (parse_double(text, o->min, o->max, &d) < 0)
            return set_error(err, errlen, "%s: '%s' is not a number from %g to %g", o->name, text,
                             o->min, o->max);
        *(double *)field = d;
        return 0;
    }
    return set_error(err, errlen, "%s: unknown option kind", o->name);
}

/* redis[s]://[[user]:password@]host[:port][/db]; rediss:// is Redis over TLS. */
static int parse_redis_url(cfg *c, char *err, size_t errlen)
{
    const char *u = c->redis_url;
    if (strncmp(u, "rediss://", 9) == 0) {
        c->redis_tls = true;
        u += 9;
    } else if (strncmp(u, "redis://", 8) == 0) {
        u += 8;
    } else {
        return set_error(err, errlen, "REDIS_URL: '%s' must start with redis:// or rediss://", u);
    }
    const char *at = strrchr(u, '@');
    if (at) {
        const char *colon = memchr(u, ':', (size_t)(at - u));
        const char *pw = colon ? colon + 1 : u;
        if (colon && colon > u)
            c->redis_user = xstrndup(u, (size_t)(colon - u));
        c->redis_password = xstrndup(pw, (size_t)(at - pw));
        u = at + 1;
    }
    const char *slash = strchr(u, '/');
    const char *end = slash ? slash : u + strlen(u);
    const char *colon = memchr(u, ':', (size_t)(end - u));
    const char *host_end = colon ? colon : end;
    if (host_end == u)
        return set_error(err, errlen, "REDIS_URL: no host in '%s'", c->redis_url);
    c->redis_host = xstrndup(u, (size_t)(host_end - u));
    c->redis_port = 6379;
    long v;
    if (colon) {
        cleanup_free char *port = xstrndup(colon + 1, (size_t)(end - colon - 1));
        if (parse_long(port, 1, 65535, &v) < 0)
            return set_error(err, errlen, "REDIS_URL: bad port in '%s'", c->redis_url);
        c->redis_port = (int)v;
    }
    if (slash && slash[1]) {
        if (parse_long(slash + 1, 0, 1000000, &v) < 0)
            return set_error(err, errlen, "REDIS_URL: bad database number in '%s'", c->redis_url);
        c->redis_db = (int)v;
    }
    return 0;
}

/* REDIS_SENTINELS: host:port[,host:port...]. */
static int parse_sentinels(cfg *c, const char *text, char *err, size_t errlen)
{
    cleanup_free char *copy = xstrdup(text);
    char *save = NULL;
    for (char *tok = strtok_r(copy, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
        char *colon = strrchr(tok, ':');
        long port;
        if (!colon || colon == tok || parse_long(colon + 1, 1, 65535, &port) < 0)
            return set_error(err, errlen, "REDIS_SENTINELS: '%s' is not host:port", tok);
        c->sentinels = xrealloc(c->sentinels, (c->n_sentinels + 1) * sizeof *c->sentinels);
        c->sentinels[c->n_sentinels].host = xstrndup(tok, (size_t)(colon - tok));
        c->sentinels[c->n_sentinels++].port = (int)port;
    }
    if (c->n_sentinels == 0)
        return set_error(err, errlen, "REDIS_SENTINELS: no host:port in '%s'", text);
    return 0;
}

/* REDIS_PREFIX with a hash tag ("{cr}:") puts every key in one Redis Cluster slot: the tag must
 * open the prefix, be non-empty and be the prefix's only braces. */
static int check_prefix(const char *p, char *err, size_t errlen)
{
    if (!strpbrk(p, "{}"))
        return 0;
    const char *close = strchr(p, '}');
    if (p[0] != '{' || !close || close == p + 1 || strpbrk(close + 1, "{}") ||
        memchr(p + 1, '{', (size_t)(close - p - 1)))
        return set_error(err, errlen,
                         "REDIS_PREFIX: '%s': a hash tag must open the prefix, hold at least one "
                         "character and be its only braces, as in {cr}:",
                         p);
    return 0;
}

/* A file of REDIS_TLS_*: a regular file this process can read (what it holds is checked when
 * the TLS context is made, see common/redis_tls.h). */
static int check_readable(const char *name, const char *path, char *err, size_t errlen)
{
    cleanup_fd int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return set_error(err, errlen, "%s: cannot read '%s': %s", name, path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return set_error(err, errlen, "%s: '%s' is not a file", name, path);
    char byte;
    if (read(fd, &byte, 1) < 0)
        return set_error(err, errlen, "%s: cannot read '%s': %s", name, path, strerror(errno));
    return 0;
}

/* REDIS_TLS_*: only with rediss://, certificate and key together, files readable, a server
 * name that is a host name (or an address). */
static int check_tls(const cfg *c, char *err, size_t errlen)
{
    const struct {
        const char *name, *value;
        bool file;
    } vars[] = {
        {"REDIS_TLS_CA_FILE", c->redis_tls_ca_file, true},
        {"REDIS_TLS_CERT_FILE", c->redis_tls_cert_file, true},
        {"REDIS_TLS_KEY_FILE", c->redis_tls_key_file, true},
        {"REDIS_TLS_SERVER_NAME", c->redis_tls_server_name, false},
    };
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        if (!vars[i].value)
            continue;
        if (!c->redis_tls)
            return set_error(err, errlen,
                             "%s: set, but REDIS_URL does not start with rediss:// (TLS to Redis "
                             "is on with rediss:// only)",
                             vars[i].name);
        if (vars[i].file && check_readable(vars[i].name, vars[i].value, err, errlen) < 0)
            return -1;
    }
    if (!c->redis_tls_cert_file != !c->redis_tls_key_file)
        return set_error(err, errlen, "%s: set without %s (a client certificate needs its key)",
                         c->redis_tls_cert_file ? "REDIS_TLS_CERT_FILE" : "REDIS_TLS_KEY_FILE",
                         c->redis_tls_cert_file ? "REDIS_TLS_KEY_FILE" : "REDIS_TLS_CERT_FILE");
    const char *sn = c->redis_tls_server_name;
    if (sn && (strlen(sn) > 253 ||
               strspn(sn, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:") !=
                   strlen(sn)))
        return set_error(err, errlen, "REDIS_TLS_SERVER_NAME: '%s' is not a host name", sn);
    return 0;
}

static int parse_api_keys(cfg *c, const char *text)
{
    cleanup_free char *copy = xstrdup(text);
    char *save = NULL;
    for (char *tok = strtok_r(copy, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
        c->api_keys = xrealloc(c->api_keys, (c->n_api_keys + 1) * sizeof *c->api_keys);
        c->api_keys[c->n_api_keys++] = xstrdup(tok);
    }
    return 0;
}

int cfg_load(cfg *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < sizeof options / sizeof *options; i++) {
        const option *o = &options[i];
        const char *v = getenv(o->name);
        if (!v || !*v)
            v = o->def;
        if (v && set_option(c, o, v, err, errlen) < 0)
            goto fail;
    }
    c->worker_id_given = c->worker_id != NULL;
    if (!c->worker_id) {
        char host[256] = "localhost";
        gethostname(host, sizeof host - 1);
        c->worker_id = xstrdup(host);
    }
    if (strspn(c->worker_id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
        strlen(c->worker_id)) {
        set_error(err, errlen, "WORKER_ID: '%s' may only hold letters, digits, '.', '_' and '-'",
                  c->worker_id);
        goto fail;
    }
    if (c->api_threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->api_threads = n > 0 ? (int)n : 1;
    }
    if (parse_redis_url(c, err, errlen) < 0)
        goto fail;
    if (check_prefix(c->redis_prefix, err, errlen) < 0)
        goto fail;
    if (check_tls(c, err, errlen) < 0)
        goto fail;
    const char *sentinels = getenv("REDIS_SENTINELS");
    if (sentinels && *sentinels && parse_sentinels(c, sentinels, err, errlen) < 0)
        goto fail;
    const char *spw = getenv("REDIS_SENTINEL_PASSWORD");
    if (spw && *spw)
        c->redis_sentinel_password = xstrdup(spw);
    if (c->redis_min_replicas_ack < 0)
        c->redis_min_replicas_ack = c->n_sentinels ? 1 : 0;
    const char *keys = getenv("API_KEYS");
    if (keys && *keys)
        parse_api_keys(c, keys);
    const char *level = getenv("LOG_LEVEL");
    c->log_level = log_level_parse(level && *level ? level : CFG_DEFAULT_LOG_LEVEL);
    if (c->log_level < 0) {
        set_error(err, errlen, "LOG_LEVEL: '%s' is not one of debug, info, warn, error", level);
        goto fail;
    }
    if (strcmp(c->executor, "oci") != 0 && strcmp(c->executor, "docker") != 0 &&
        strcmp(c->executor, "remote") != 0) {
        set_error(err, errlen, "EXECUTOR: '%s' is not one of oci, docker, remote", c->executor);
        goto fail;
    }
    if (c->default_timeout > c->max_timeout) {
        set_error(err, errlen, "DEFAULT_TIMEOUT: %d is above MAX_TIMEOUT %d", c->default_timeout,
                  c->max_timeout);
        goto fail;
    }
    if (c->default_memory_mb > c->max_memory_mb) {
        set_error(err, errlen, "DEFAULT_MEMORY_MB: %d is above MAX_MEMORY_MB %d",
                  c->default_memory_mb, c->max_memory_mb);
        goto fail;
    }
    if (c->session_ttl > c->session_max_lifetime) {
        set_error(err, errlen, "SESSION_TTL: %d is above SESSION_MAX_LIFETIME %d", c->session_ttl,
                  c->session_max_lifetime);
        goto fail;
    }
    return 0;
fail:
    cfg_free(c);
    return -1;
}

void cfg_free(cfg *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < sizeof options / sizeof *options; i++)
        if (options[i].kind == K_STR)
            free(*(char **)((char *)c + options[i].offset));
    free(c->redis_host);
    free(c->redis_user);
    free(c->redis_password);
    for (size_t i = 0; i < c->n_sentinels; i++)
        free(c->sentinels[i].host);
    free(c->sentinels);
    free(c->redis_sentinel_password);
    for (size_t i = 0; i < c->n_api_keys; i++)
        free(c->api_keys[i]);
    free(c->api_keys);
    redis_tls_free(c->redis_tls_ctx);
    memset(c, 0, sizeof *c);
}
