/* Configuration: every setting of both programs, read once from the environment at start-up.
 *
 * API:
 *   cfg_load(&c, err, errlen)  fill c from the environment (defaults for unset variables);
 *                              -1 with a message naming the variable on a bad value.
 *   cfg_free(&c)               release what cfg_load (and redis_tls_load) allocated.
 * After cfg_load the struct is read-only; it is passed by const pointer, never global. */
#ifndef CR_CONFIG_H
#define CR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define CFG_DEFAULT_REDIS_URL "redis://127.0.0.1:6379/0"
#define CFG_DEFAULT_REDIS_PREFIX "coderunner:"
#define CFG_DEFAULT_API_HOST "0.0.0.0"
#define CFG_DEFAULT_API_PORT 8000
#define CFG_DEFAULT_MAX_BODY_BYTES 1048576
#define CFG_DEFAULT_MAX_QUEUE_LENGTH 10000
#define CFG_DEFAULT_RESULT_TTL 3600
#define CFG_DEFAULT_WORKER_CONCURRENCY 2
#define CFG_DEFAULT_EXECUTOR "oci"
#define CFG_DEFAULT_OCI_RUNTIME "builtin"
#define CFG_DEFAULT_DOCKER_HOST "unix:///var/run/docker.sock"
#define CFG_DEFAULT_DOCKER_RUNTIME "runc"
#define CFG_DEFAULT_IMAGES_DIR "/var/lib/code-runner/images"
#define CFG_DEFAULT_STATE_DIR "/run/code-runner"
#define CFG_DEFAULT_LANGUAGES_FILE "images/languages.json"
#define CFG_DEFAULT_TIMEOUT 10
#define CFG_DEFAULT_MAX_TIMEOUT 30
#define CFG_DEFAULT_MEMORY_MB 256
#define CFG_DEFAULT_MAX_MEMORY_MB 1024
#define CFG_DEFAULT_PIDS_LIMIT 50
#define CFG_DEFAULT_CPU_LIMIT 0.5
#define CFG_DEFAULT_OUTPUT_LIMIT_BYTES 1048576
#define CFG_DEFAULT_WORKSPACE_MB 64
#define CFG_DEFAULT_TASK_MAX_ATTEMPTS 3
#define CFG_DEFAULT_HEARTBEAT_INTERVAL 2
#define CFG_DEFAULT_WORKER_SHUTDOWN_GRACE 30
#define CFG_DEFAULT_MAX_JOB_SECONDS 3600
#define CFG_DEFAULT_REDIS_TIMEOUT 5
#define CFG_DEFAULT_ORPHAN_SCAN_INTERVAL 60
#define CFG_DEFAULT_REDIS_MASTER_NAME "mymaster"
#define CFG_DEFAULT_CLIENT_TIMEOUT 60
#define CFG_DEFAULT_LOG_LEVEL "info"
#define CFG_DEFAULT_METRICS_PORT 0
#define CFG_DEFAULT_METRICS_HOST "0.0.0.0"
#define CFG_DEFAULT_SANDBOX_UID_BASE 60000

struct redis_tls;
#define CFG_DEFAULT_SESSION_TTL 3600
#define CFG_DEFAULT_SESSION_MAX_LIFETIME 86400
#define CFG_DEFAULT_MAX_SESSIONS_PER_WORKER 16
#define CFG_DEFAULT_EXECUTOR_LISTEN "127.0.0.1:8100"
#define CFG_DEFAULT_REMOTE_CONNECT_TIMEOUT 3
#define CFG_DEFAULT_REMOTE_STALL_TIMEOUT 10
#define CFG_DEFAULT_IDLE_INSTANCE_WAIT_TIMEOUT 120
#define CFG_DEFAULT_IDLE_INSTANCE_POLL_INTERVAL 5
#define CFG_DEFAULT_REMOTE_DOWN_RETRY 10
#define CFG_DEFAULT_REMOTE_PROBE_INTERVAL 10
#define CFG_DEFAULT_EC2_TAG "code-runner-role=executor"
#define CFG_DEFAULT_EC2_AGENT_URL "https://{ip}:8443"
#define CFG_DEFAULT_EC2_DISCOVERY_INTERVAL 30
#define CFG_DEFAULT_EC2_MAX_INSTANCES 4
#define CFG_DEFAULT_EC2_INSTANCE_TYPE "c6i.large"
#define CFG_DEFAULT_EC2_USER_DATA_FILE "deploy/executor-host/cloud-init.yaml"
#define CFG_DEFAULT_EC2_IDLE_TERMINATE_SECONDS 600
#define CFG_DEFAULT_EC2_LAUNCH_COOLDOWN 120

/* A host and port (a Redis Sentinel of REDIS_SENTINELS). */
typedef struct cfg_endpoint {
    char *host; /* owned */
    int port;
} cfg_endpoint;

/* The whole configuration. Strings are owned by the struct (freed by cfg_free). */
typedef struct cfg {
    char *redis_url;               /* owned; REDIS_URL as given */
    char *redis_host;              /* owned; parsed from redis_url */
    int redis_port;                /* parsed from redis_url */
    char *redis_user;              /* owned; ACL user of the URL, NULL for the default user */
    char *redis_password;          /* owned; NULL when the URL has none */
    int redis_db;                  /* parsed from redis_url (path), default 0 */
    char *redis_prefix;            /* owned; REDIS_PREFIX, prepended to every key */
    cfg_endpoint *sentinels;       /* owned array; REDIS_SENTINELS: the master is found through
                                    * them (REDIS_URL then gives only user, password and db) */
    size_t n_sentinels;            /* 0: REDIS_URL names the server */
    char *redis_master_name;       /* owned; REDIS_MASTER_NAME, the master's name in Sentinel */
    char *redis_sentinel_password; /* owned; REDIS_SENTINEL_PASSWORD, NULL when unset */
    int redis_min_replicas_ack;    /* REDIS_MIN_REPLICAS_ACK: replicas that must hold an enqueue
                                    * before its 200 (WAIT); default 1 with sentinels, else 0 */
    char *api_host;                /* owned; API_HOST, address the API listens on */
    int api_port;                  /* API_PORT */
    int api_threads;               /* API_THREADS, event loops; default: number of cores */
    char **api_keys;               /* owned array of owned strings; API_KEYS, comma separated */
    size_t n_api_keys;             /* 0: authentication off */
    long max_body_bytes;           /* MAX_BODY_BYTES, larger POST bodies get 413 */
    long max_queue_length;         /* MAX_QUEUE_LENGTH, longer queue gets 503 */
    int result_ttl;                /* RESULT_TTL seconds, expiry of task hashes */
    int client_timeout;            /* CLIENT_TIMEOUT seconds, idle/slow HTTP connections */
    int worker_concurrency;        /* WORKER_CONCURRENCY, worker processes per supervisor */
    char *worker_id;               /* owned; WORKER_ID; default: the host name (the worker makes
                                    * it unique, see worker/identity.h) */
    bool worker_id_given;          /* WORKER_ID was set in the environment */
    char *executor;                /* owned; EXECUTOR: "oci", "docker" or "remote" */
    char *oci_runtime;             /* owned; OCI_RUNTIME: builtin, runc, crun, runsc,
                                    * kata-runtime */
    char *docker_host;             /* owned; DOCKER_HOST */
    char *docker_runtime;          /* owned; DOCKER_RUNTIME */
    char *images_dir;              /* owned; IMAGES_DIR, holds <image>/rootfs trees */
    char *state_dir;               /* owned; STATE_DIR, per-job bundles and workspaces */
    char *languages_file;          /* owned; LANGUAGES_FILE */
    int default_timeout;           /* DEFAULT_TIMEOUT seconds */
    int max_timeout;               /* MAX_TIMEOUT seconds */
    int default_memory_mb;         /* DEFAULT_MEMORY_MB */
    int max_memory_mb;             /* MAX_MEMORY_MB */
    int pids_limit;                /* PIDS_LIMIT */
    double cpu_limit;              /* CPU_LIMIT cores */
    long output_limit_bytes;       /* OUTPUT_LIMIT_BYTES, cap on stdout and on stderr */
    int workspace_mb;              /* WORKSPACE_MB, size of the job's tmpfs workspace and /tmp */
    int task_max_attempts;         /* TASK_MAX_ATTEMPTS, requeues before FAILURE */
    int heartbeat_interval;        /* HEARTBEAT_INTERVAL seconds */
    int worker_shutdown_grace;     /* WORKER_SHUTDOWN_GRACE seconds */
    int max_job_seconds;      /* MAX_JOB_SECONDS, bound on a whole job's run (compile + runs) */
    int redis_timeout;        /* REDIS_TIMEOUT seconds: Redis silent this long is gone */
    int orphan_scan_interval; /* ORPHAN_SCAN_INTERVAL seconds between scans for processing
                               * lists whose worker is not registered */
    int log_level;            /* LOG_LEVEL parsed to an enum log_level */
    int metrics_port;         /* METRICS_PORT: the worker supervisor's GET /metrics, 0 = off */
    char *metrics_host;       /* owned; METRICS_HOST, the address it listens on */
    char *metrics_token;      /* owned; METRICS_TOKEN, the bearer token GET /metrics needs
                               * (api and worker); NULL: the API keys, as on other routes */
    int sandbox_uid_base;     /* SANDBOX_UID_BASE: worker process k runs its programs as uid and
                               * gid SANDBOX_UID_BASE + k, one user per concurrent slot */

    /* TLS to Redis (common/redis_tls.h) */
    bool redis_tls;                  /* REDIS_URL is rediss://: TLS to Redis and the sentinels */
    char *redis_tls_ca_file;         /* owned; REDIS_TLS_CA_FILE, the CAs that sign the servers'
                                      * certificates; NULL: the system's CAs */
    char *redis_tls_cert_file;       /* owned; REDIS_TLS_CERT_FILE, client certificate (mutual
                                      * TLS), NULL for none */
    char *redis_tls_key_file;        /* owned; REDIS_TLS_KEY_FILE, its private key */
    char *redis_tls_server_name;     /* owned; REDIS_TLS_SERVER_NAME, the name sent (SNI) and
                                      * verified for every server; NULL: the address used */
    struct redis_tls *redis_tls_ctx; /* owned; made by redis_tls_load when redis_tls, else NULL */
    int session_ttl;             /* SESSION_TTL seconds: a session idle this long is stopped (the
                                  * default of a session's own ttl) */
    int session_max_lifetime;    /* SESSION_MAX_LIFETIME seconds: no session lives longer */
    int max_sessions_per_worker; /* MAX_SESSIONS_PER_WORKER: sessions one worker process holds;
                                  * 0: it hosts none */
    /* The executor-host agent (worker --serve) and the remote executor that calls it. */
    char *executor_listen;           /* owned; EXECUTOR_LISTEN, host:port the agent serves on */
    char *executor_auth_token;       /* owned; EXECUTOR_AUTH_TOKEN (secret: never logged), NULL
                                      * when unset */
    char *executor_auth_token_file;  /* owned; EXECUTOR_AUTH_TOKEN_FILE, NULL when unset */
    int executor_allow_no_token;     /* EXECUTOR_ALLOW_NO_TOKEN: 1 lets an agent listening on
                                      * loopback only run without a token */
    char *remote_executors;          /* owned; REMOTE_EXECUTORS, the agents' base URLs, comma
                                      * separated (EXECUTOR=remote), NULL when unset */
    char *remote_ca_file;            /* owned; REMOTE_CA_FILE, CAs that sign the agents' TLS
                                      * certificates, NULL: the system's */
    char *remote_tls_name;           /* owned; REMOTE_TLS_NAME, the name every agent's certificate
                                      * is checked against (instead of the URL's host), or NULL */
    int remote_connect_timeout;      /* REMOTE_CONNECT_TIMEOUT seconds to connect to an agent */
    int remote_stall_timeout;        /* REMOTE_STALL_TIMEOUT seconds an agent may send nothing
                                      * during a job before it is taken for hung */
    int idle_instance_wait_timeout;  /* IDLE_INSTANCE_WAIT_TIMEOUT seconds a job waits for a free
                                      * slot on some executor host, then FAILURE */
    int idle_instance_poll_interval; /* IDLE_INSTANCE_POLL_INTERVAL seconds between looks while
                                      * it waits (a released slot wakes it sooner) */
    int remote_down_retry;           /* REMOTE_DOWN_RETRY seconds before a host that went down
                                      * is probed again */
    int remote_probe_interval;       /* REMOTE_PROBE_INTERVAL seconds between probes of a
                                      * healthy host's capacity (one prober for the fleet) */
    /* EC2 discovery and scaling of executor hosts (EXECUTOR=remote with AWS_REGION). */
    char *aws_region;                   /* owned; AWS_REGION, NULL: no EC2 */
    char *aws_endpoint_url;             /* owned; AWS_ENDPOINT_URL, NULL: AWS's own */
    char *ec2_tag;                      /* owned; EC2_TAG, key=value marking executor hosts */
    char *ec2_agent_url;                /* owned; EC2_AGENT_URL, an agent's URL, {ip} replaced */
    int ec2_discovery_interval;         /* EC2_DISCOVERY_INTERVAL seconds between looks */
    int ec2_min_instances;              /* EC2_MIN_INSTANCES kept running */
    int ec2_max_instances;              /* EC2_MAX_INSTANCES never exceeded by launches */
    char *ec2_ami_id;                   /* owned; EC2_AMI_ID, NULL: nothing is launched */
    char *ec2_instance_type;            /* owned; EC2_INSTANCE_TYPE */
    char *ec2_security_group_id;        /* owned; EC2_SECURITY_GROUP_ID or NULL */
    char *ec2_iam_instance_profile_arn; /* owned; EC2_IAM_INSTANCE_PROFILE_ARN or NULL */
    char *ec2_subnet_id;                /* owned; EC2_SUBNET_ID or NULL */
    char *ec2_user_data_file;           /* owned; EC2_USER_DATA_FILE, the launch's user data */
    int ec2_idle_terminate_seconds;     /* EC2_IDLE_TERMINATE_SECONDS an instance above the
                                         * minimum may go without a lease */
    int ec2_launch_cooldown;            /* EC2_LAUNCH_COOLDOWN seconds: at most one launch in
                                         * the fleet per this */
} cfg;

int cfg_load(cfg *c, char *err, size_t errlen);
void cfg_free(cfg *c);

#endif
