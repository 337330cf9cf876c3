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
                             "EXECUTOR_ALLOW_NO_TOKEN",
                             "REMOTE_STALL_TIMEOUT",
                             "REMOTE_EXECUTORS",
                             "IDLE_INSTANCE_WAIT_TIMEOUT",
                             "IDLE_INSTANCE_POLL_INTERVAL",
                             "EC2_MAX_INSTANCES",
                             "EC2_IDLE_TERMINATE_SECONDS",
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
    cfg_free(&c);

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

    test("remote executors: defaults and values");
    reset();
    setenv("EXECUTOR", "remote", 1);
    setenv("REMOTE_EXECUTORS", "https://a:8443,https://b:8443", 1);
    check(cfg_load(&c, err, sizeof err) == 0);
    check_str(c.executor, "remote");
    check_str(c.remote_executors, "https://a:8443,https://b:8443");
    check(c.idle_instance_wait_timeout == 120 && c.idle_instance_poll_interval == 5);
    check(c.remote_stall_timeout == 10 && c.remote_down_retry == 10);
    check_str(c.executor_listen, "127.0.0.1:8100");
    check(c.executor_auth_token == NULL && c.executor_allow_no_token == 0);
    check(c.aws_region == NULL && c.ec2_ami_id == NULL && c.ec2_max_instances == 4);
    check_str(c.ec2_tag, "code-runner-role=executor");
    check_str(c.ec2_agent_url, "https://{ip}:8443");
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
    bad("EXECUTOR_ALLOW_NO_TOKEN", "2");
    bad("REMOTE_STALL_TIMEOUT", "1");
    bad("IDLE_INSTANCE_WAIT_TIMEOUT", "-1");
    bad("IDLE_INSTANCE_POLL_INTERVAL", "0");
    bad("EC2_MAX_INSTANCES", "-1");
    bad("EC2_IDLE_TERMINATE_SECONDS", "0");
    reset();
    return check_done();
}
