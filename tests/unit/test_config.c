/* Unit tests for common/config: defaults, parsing, and start-up errors that name the variable. */
#include <stdlib.h>
#include <unistd.h>

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
                             "SANDBOX_UID_BASE",
                             "REDIS_TLS_CA_FILE",
                             "REDIS_TLS_CERT_FILE",
                             "REDIS_TLS_KEY_FILE",
                             "REDIS_TLS_SERVER_NAME",
                             "SESSION_TTL",
                             "SESSION_MAX_LIFETIME",
                             "MAX_SESSIONS_PER_WORKER",
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

/* The same with rediss:// and another variable set as well; the message must name `name`. */
static void bad_tls(const char *name, const char *value, const char *other, const char *ovalue)
{
    reset();
    setenv("REDIS_URL", "rediss://127.0.0.1:6380/0", 1);
    if (other)
        setenv(other, ovalue, 1);
    setenv(name, value, 1);
    cfg c;
    char err[256] = "";
    check(cfg_load(&c, err, sizeof err) == -1);
    check(strstr(err, name) == err);
    if (strstr(err, name) != err)
        fprintf(stderr, "  message was: %s\n", err);
}

/* A small readable file for the REDIS_TLS_*_FILE cases (what it holds is not parsed here). */
static void make_file(char *path)
{
    int fd = mkstemp(path);
    check(fd >= 0 && write(fd, "x\n", 2) == 2);
    if (fd >= 0)
        close(fd);
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

    test("the sandbox users: SANDBOX_UID_BASE + slot");
    reset();
    check(cfg_load(&c, err, sizeof err) == 0);
    check(c.sandbox_uid_base == 60000);
    cfg_free(&c);
    setenv("SANDBOX_UID_BASE", "200000", 1);
    check(cfg_load(&c, err, sizeof err) == 0);
    check(c.sandbox_uid_base == 200000);
    cfg_free(&c);

    test("rediss:// turns TLS on, for the sentinels too");
    reset();
    check(cfg_load(&c, err, sizeof err) == 0);
    check(!c.redis_tls && c.redis_tls_ca_file == NULL && c.redis_tls_ctx == NULL);
    cfg_free(&c);
    setenv("REDIS_URL", "rediss://app:pw@redis.example:6380/3", 1);
    check(cfg_load(&c, err, sizeof err) == 0);
    check(c.redis_tls);
    check_str(c.redis_host, "redis.example");
    check(c.redis_port == 6380 && c.redis_db == 3);
    check_str(c.redis_user, "app");
    check_str(c.redis_password, "pw");
    check(c.redis_tls_ca_file == NULL && c.redis_tls_cert_file == NULL);
    check(c.redis_tls_server_name == NULL && c.redis_tls_ctx == NULL); /* redis_tls_load's job */
    cfg_free(&c);
    setenv("REDIS_URL", "rediss://10.0.0.7", 1);
    check(cfg_load(&c, err, sizeof err) == 0);
    check(c.redis_tls && c.redis_port == 6379);
    cfg_free(&c);

    test("REDIS_TLS_* files and the server name");
    char ca[] = "/tmp/cr-test-ca-XXXXXX", crt[] = "/tmp/cr-test-crt-XXXXXX",
         key[] = "/tmp/cr-test-key-XXXXXX";
    make_file(ca);
    make_file(crt);
    make_file(key);
    reset();
    setenv("REDIS_URL", "rediss://127.0.0.1:6380/0", 1);
    setenv("REDIS_TLS_CA_FILE", ca, 1);
    setenv("REDIS_TLS_CERT_FILE", crt, 1);
    setenv("REDIS_TLS_KEY_FILE", key, 1);
    setenv("REDIS_TLS_SERVER_NAME", "redis.internal.example", 1);
    check(cfg_load(&c, err, sizeof err) == 0);
    check_str(c.redis_tls_ca_file, ca);
    check_str(c.redis_tls_cert_file, crt);
    check_str(c.redis_tls_key_file, key);
    check_str(c.redis_tls_server_name, "redis.internal.example");
    cfg_free(&c);
    setenv("REDIS_TLS_SERVER_NAME", "10.1.2.3", 1); /* an address: its IP SAN is verified */
    check(cfg_load(&c, err, sizeof err) == 0);
    cfg_free(&c);
    setenv("REDIS_TLS_CA_FILE", "", 1); /* empty is unset: the system's CAs */
    check(cfg_load(&c, err, sizeof err) == 0);
    check(c.redis_tls_ca_file == NULL);
    cfg_free(&c);

    test("REDIS_TLS_* errors name their variable");
    bad("REDIS_TLS_CA_FILE", ca); /* with redis://: refused, never plain text silently */
    bad("REDIS_TLS_CERT_FILE", crt);
    bad("REDIS_TLS_KEY_FILE", key);
    bad("REDIS_TLS_SERVER_NAME", "redis.example");
    bad("REDIS_URL", "redisss://x");
    bad("REDIS_URL", "rediss:/x");
    bad_tls("REDIS_TLS_CA_FILE", "/nonexistent/ca.crt", NULL, NULL);
    bad_tls("REDIS_TLS_CA_FILE", "/tmp", NULL, NULL); /* a directory */
    bad_tls("REDIS_TLS_CERT_FILE", crt, NULL, NULL);  /* without its key */
    bad_tls("REDIS_TLS_KEY_FILE", key, NULL, NULL);   /* without its certificate */
    bad_tls("REDIS_TLS_KEY_FILE", "/nonexistent/k.pem", "REDIS_TLS_CERT_FILE", crt);
    bad_tls("REDIS_TLS_SERVER_NAME", "two words", NULL, NULL);
    bad_tls("REDIS_TLS_SERVER_NAME", "a/b", NULL, NULL);
    unlink(ca);
    unlink(crt);
    unlink(key);

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
    bad("SANDBOX_UID_BASE", "0"); /* root */
    bad("SANDBOX_UID_BASE", "4294967295");
    bad("SESSION_TTL", "0");
    bad("SESSION_MAX_LIFETIME", "-1");
    bad("MAX_SESSIONS_PER_WORKER", "many");
    bad("EXECUTOR_ALLOW_NO_TOKEN", "2");
    bad("REMOTE_STALL_TIMEOUT", "1");
    bad("IDLE_INSTANCE_WAIT_TIMEOUT", "-1");
    bad("IDLE_INSTANCE_POLL_INTERVAL", "0");
    bad("EC2_MAX_INSTANCES", "-1");
    bad("EC2_IDLE_TERMINATE_SECONDS", "0");
    reset();
    return check_done();
}
