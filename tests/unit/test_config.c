/* Unit tests for common/config: defaults, parsing, and start-up errors that name the variable. */
#include <stdlib.h>

#include "tests/unit/check.h"
#include "common/config.h"

static const char *vars[] = {"REDIS_URL",
                             "API_PORT",
                             "API_KEYS",
                             "CPU_LIMIT",
                             "LOG_LEVEL",
                             "EXECUTOR",
                             "DEFAULT_TIMEOUT",
                             "MAX_TIMEOUT",
                             "WORKER_ID",
                             "API_THREADS",
                             "REDIS_SENTINELS",
                             "REDIS_MIN_REPLICAS_ACK",
                             "REDIS_PREFIX",
                             "REDIS_MASTER_NAME",
                             "MAX_JOB_SECONDS",
                             "REDIS_TIMEOUT",
                             "SESSION_TTL",
                             "SESSION_MAX_LIFETIME",
                             "MAX_SESSIONS_PER_WORKER",
                             NULL};

static void reset(void)
{
    for (const char **v = vars; *v; v++)
        unsetenv(*v);
}

/* Loads with one variable set and expects failure naming it. */
static void bad(const char *name, const char *value)
{
    reset();
    setenv(name, value, 1);
    cfg c;
    char err[256] = "";
    check(cfg_load(&c, err, sizeof err) == -1);
    check(strstr(err, name) == err);
    if (strstr(err, name) != err)
        fprintf(stderr, "  message was: %s\n", err);
}

int main(void)
{
    cfg c;
    char err[256];

    test("defaults");
    reset();
    check(cfg_load(&c, err, sizeof err) == 0);
    check_str(c.redis_host, "127.0.0.1");
    check(c.redis_port == 6379 && c.redis_db == 0 && c.redis_password == NULL);
    check(c.api_port == 8000);
    check(c.api_threads >= 1);
    check(c.n_api_keys == 0);
    check(c.default_timeout == 10 && c.max_timeout == 30);
    check(c.default_memory_mb == 256 && c.pids_limit == 50 && c.cpu_limit == 0.5);
    check_str(c.redis_prefix, "coderunner:");
    check(c.worker_id != NULL && c.worker_id[0]);
    check(c.session_ttl == 3600 && c.session_max_lifetime == 86400);
    check(c.max_sessions_per_worker == 16);
    cfg_free(&c);

    test("sessions");
    reset();
    setenv("SESSION_TTL", "60", 1);
    setenv("SESSION_MAX_LIFETIME", "600", 1);
    setenv("MAX_SESSIONS_PER_WORKER", "0", 1);
    check(cfg_load(&c, err, sizeof err) == 0);
    check(c.session_ttl == 60 && c.session_max_lifetime == 600 && c.max_sessions_per_worker == 0);
    cfg_free(&c);
    setenv("SESSION_TTL", "601", 1);
    check(cfg_load(&c, err, sizeof err) == -1);
    check(strstr(err, "SESSION_TTL") == err);

    test("redis url with password and db");
    reset();
    setenv("REDIS_URL", "redis://:s3cret@redis.example:6380/2", 1);
    check(cfg_load(&c, err, sizeof err) == 0);
    check_str(c.redis_host, "redis.example");
    check(c.redis_port == 6380 && c.redis_db == 2);
    check_str(c.redis_password, "s3cret");
    cfg_free(&c);

    test("redis url with an ACL user");
    reset();
    setenv("REDIS_URL", "redis://app:pw@10.0.0.5/0", 1);
    check(cfg_load(&c, err, sizeof err) == 0);
    check_str(c.redis_user, "app");
    check_str(c.redis_password, "pw");
    check(c.redis_port == 6379);
    cfg_free(&c);

    test("sentinels, and WAIT by default with them");
    reset();
    check(cfg_load(&c, err, sizeof err) == 0);
    check(c.n_sentinels == 0 && c.redis_min_replicas_ack == 0);
    cfg_free(&c);
    setenv("REDIS_SENTINELS", "s1:26379, 10.0.0.2:26380,[::1]:26381", 1);
    setenv("REDIS_MASTER_NAME", "cr", 1);
    check(cfg_load(&c, err, sizeof err) == 0);
    check(c.n_sentinels == 3 && c.redis_min_replicas_ack == 1);
    if (c.n_sentinels == 3) {
        check_str(c.sentinels[0].host, "s1");
        check(c.sentinels[1].port == 26380);
        check_str(c.sentinels[2].host, "[::1]");
    }
    check_str(c.redis_master_name, "cr");
    cfg_free(&c);
    setenv("REDIS_MIN_REPLICAS_ACK", "0", 1);
    check(cfg_load(&c, err, sizeof err) == 0);
    check(c.redis_min_replicas_ack == 0);
    cfg_free(&c);

    test("a hash-tag prefix for Redis Cluster");
    reset();
    setenv("REDIS_PREFIX", "{cr}:", 1);
    check(cfg_load(&c, err, sizeof err) == 0);
    cfg_free(&c);

    test("api keys");
    reset();
    setenv("API_KEYS", "alpha, beta,gamma", 1);
    check(cfg_load(&c, err, sizeof err) == 0);
    check(c.n_api_keys == 3);
    if (c.n_api_keys == 3) {
        check_str(c.api_keys[0], "alpha");
        check_str(c.api_keys[2], "gamma");
    }
    cfg_free(&c);

    test("numbers");
    reset();
    setenv("CPU_LIMIT", "1.5", 1);
    setenv("API_PORT", "9000", 1);
    check(cfg_load(&c, err, sizeof err) == 0);
    check(c.cpu_limit == 1.5 && c.api_port == 9000);
    cfg_free(&c);

    test("bad values name their variable");
    bad("API_PORT", "abc");
    bad("API_PORT", "70000");
    bad("API_PORT", "80x");
    bad("CPU_LIMIT", "-1");
    bad("REDIS_URL", "http://x");
    bad("REDIS_URL", "redis://host:port");
    bad("LOG_LEVEL", "loud");
    bad("EXECUTOR", "vm");
    bad("WORKER_ID", "a/b");
    bad("DEFAULT_TIMEOUT", "31");
    bad("REDIS_SENTINELS", "nohostport");
    bad("REDIS_SENTINELS", "host:0");
    bad("REDIS_SENTINELS", " , ");
    bad("REDIS_PREFIX", "cr{x}:");
    bad("REDIS_PREFIX", "{}:");
    bad("REDIS_PREFIX", "{a}{b}:");
    bad("REDIS_PREFIX", "{a:");
    bad("MAX_JOB_SECONDS", "0");
    bad("REDIS_TIMEOUT", "0");
    bad("SESSION_TTL", "0");
    bad("SESSION_MAX_LIFETIME", "-1");
    bad("MAX_SESSIONS_PER_WORKER", "many");
    reset();
    return check_done();
}
