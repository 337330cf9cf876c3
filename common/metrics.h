/* Metrics: the Prometheus counters, gauges and histograms of both programs, updated without locks
 * by many writers and summed when scraped (GET /metrics, text exposition format 0.0.4).
 *
 * ADDING A METRIC is one row in METRICS_TABLE below and one call where the thing happens:
 *     X(SESSIONS_OPENED, WORKER, COUNTER, "code_runner_sessions_opened_total", NONE,
 *       "Sessions opened, by language", DIM_LANGUAGE)
 *     metric_inc(M_SESSIONS_OPENED, metrics_language_index(lang->id));
 * A row is: id (M_<id> in code), the program that exports it (API, WORKER or BOTH), its type,
 * its name (code_runner_ prefix; units in the name, base units seconds and bytes; counters end in
 * _total), its histogram buckets (a BUCKETS_* set, NONE otherwise), its help text, and its label
 * dimensions (up to METRICS_MAX_DIMS DIM_* values, none for a plain number). The calls take one
 * index per dimension, in the row's order:
 *     metric_inc(M_X, i...)        counter or gauge += 1         metric_add(M_X, v, i...)
 *     metric_set(M_X, v, i...)     gauge = v                      metric_observe(M_X, v, i...)
 * A new label dimension is one more DIM_* value here and a row in fixed_dims[] of metrics.c (or
 * values given at start-up with metrics_dim_values, as the language ids are).
 *
 * How it works: every writer (an api event loop thread, the worker supervisor, each worker
 * process) owns a shard, an array holding every cell (one number) of the program's metrics that
 * only it writes, so that an update is a relaxed atomic load and store of 8 bytes in memory no
 * other writer touches: no lock, no locked instruction, no cache line shared between event loops.
 * A scrape reads every shard with relaxed atomic loads and sums them (gauges marked GAUGE_MIN take
 * the smallest value instead). The shards live in one shared anonymous mapping made before the
 * worker supervisor forks, so one endpoint per host sees its worker processes: a worker process
 * that dies leaves its counts there and its replacement in the same slot adds to them. Counters
 * therefore only reset when the program restarts, as Prometheus expects. A thread or process that
 * attached no shard (tools, unit tests) makes every call a no-op.
 * The registry is process-wide state (set up once at start-up, then only the cells change), the
 * one exception to passing state by handle: counting happens in every layer, and a handle
 * threaded through all of them would make each new counter a change to many signatures.
 *
 * API (start-up, in this order, before any thread or fork):
 *   metrics_dim_values(dim, values, n)  the values of a dimension known at start-up (routes,
 *                                       executor); copied. metrics_dim_languages(table) for the
 *                                       language ids.
 *   metrics_init(program, nshards)      the registry of program (METRICS_API or METRICS_WORKER).
 *   metrics_attach(shard)               this thread (or process) writes shard from now on.
 *   metrics_reset_gauges(shard)         gauges of a writer that is gone back to 0 (a dead worker
 *                                       process's busy slot).
 *   metrics_render(&text)               the exposition of every metric of the program, appended.
 *   metrics_authorized(cfg, header)     whether an Authorization header may read /metrics:
 *                                       "Bearer <METRICS_TOKEN>" when it is set, else one of
 *                                       API_KEYS as on every other route, anything when neither.
 *   metrics_free()                      unmap and forget everything (every process calls it). */
#ifndef CR_METRICS_H
#define CR_METRICS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/config.h"
#include "common/languages.h"
#include "common/result.h"

/* Which program exports a row. */
#define METRICS_API 1u
#define METRICS_WORKER 2u
#define METRICS_BOTH 3u

#define METRICS_MAX_DIMS 3

enum metric_type {
    METRIC_COUNTER,   /* only goes up; summed over writers */
    METRIC_GAUGE,     /* goes up and down; summed over writers */
    METRIC_GAUGE_MIN, /* goes up and down; the smallest writer's value (every loop connected?) */
    METRIC_HISTOGRAM, /* observations counted in buckets, with their sum */
};

/* Label dimensions: the label(s) a dimension sets and its fixed list of values (metrics.c). */
enum metric_dim {
    DIM_NONE,        /* no label (unused slots of a row) */
    DIM_ROUTE,       /* route: the api's routes, "other" first (values from the api) */
    DIM_CODE,        /* code: the HTTP status codes the api sends, then "other" */
    DIM_REJECT,      /* reason: why POST /run-code was refused (MV_REJECT_*) */
    DIM_CONNECTION,  /* connection: the api's Redis connections (MV_CONN_*) */
    DIM_LANGUAGE,    /* language: the language table's ids, then "other" (values at start-up) */
    DIM_EXECUTOR,    /* executor: "<EXECUTOR>/<runtime>", as oci/builtin (value at start-up) */
    DIM_RESULT,      /* status and verdict: SUCCESS with each verdict, FAILURE without one */
    DIM_REAP_REASON, /* reason: why the reaper gave jobs back (MV_REAP_*) */
    DIM_REAP_ACTION, /* outcome: requeued, or failed after TASK_MAX_ATTEMPTS (MV_REAPED_*) */
    DIM_WARM,        /* outcome: what became of a container started ahead (MV_WARM_*) */
    DIM_COUNT
};

/* Values of the fixed dimensions, as indexes. */
enum {
    MV_REJECT_INVALID,      /* 400: malformed JSON, invalid field, bad ?wait */
    MV_REJECT_UNAUTHORIZED, /* 401: missing or wrong API key */
    MV_REJECT_TOO_LARGE,    /* 413: body over MAX_BODY_BYTES */
    MV_REJECT_QUEUE_FULL,   /* 503: MAX_QUEUE_LENGTH reached */
    MV_REJECT_UNAVAILABLE,  /* 503: Redis unreachable, silent, not a master, or shutting down */
};
enum {
    MV_CONN_COMMAND,    /* commands (enqueues, reads) */
    MV_CONN_SUBSCRIBER, /* the completion channel (long-polls) */
};
enum {
    MV_REAP_DIED,    /* a worker process of this host died (or a previous run's left jobs) */
    MV_REAP_STOPPED, /* this host stopped its worker processes (no attempt counted) */
    MV_REAP_STALE,   /* a worker anywhere whose heartbeats went stale */
    MV_REAP_ORPHAN,  /* a processing list no registered worker owned */
};
enum {
    MV_REAPED_REQUEUED, /* back in the queue */
    MV_REAPED_FAILED,   /* FAILURE: TASK_MAX_ATTEMPTS reached */
};
enum {
    MV_WARM_USED,      /* ran the first step of a job */
    MV_WARM_DISCARDED, /* never ran anything: another image was asked for, the worker process
                          stopped, or it could not start the step */
};

/* Bucket sets of histograms (upper bounds in metrics.c; +Inf is implied). */
enum metric_buckets {
    BUCKETS_NONE,    /* not a histogram */
    BUCKETS_ENQUEUE, /* 0.5 ms to 5 s: a Redis round trip (and WAIT) */
    BUCKETS_JOB,     /* 5 ms to 10 min: a whole job */
    BUCKETS_SETUP,   /* 0.5 ms to 10 s: making a sandbox */
};

/* clang-format off */
#define METRICS_TABLE(X)                                                                           \
    /* the api */                                                                                  \
    X(HTTP_REQUESTS, API, COUNTER, "code_runner_http_requests_total", NONE,                       \
      "HTTP requests answered, by route and status code", DIM_ROUTE, DIM_CODE)                     \
    X(SUBMISSIONS_REJECTED, API, COUNTER, "code_runner_submissions_rejected_total", NONE,          \
      "POST /run-code requests refused (nothing enqueued, or not acknowledged), by reason",        \
      DIM_REJECT)                                                                                  \
    X(ENQUEUE_DURATION, API, HISTOGRAM, "code_runner_enqueue_duration_seconds", ENQUEUE,          \
      "Time from sending a valid submission to Redis to its acknowledgement (replicated with "     \
      "REDIS_MIN_REPLICAS_ACK)")                                                                   \
    X(LONGPOLLS, API, GAUGE, "code_runner_longpolls", NONE,                                        \
      "Requests waiting for their task to finish (?wait=S) now")                                   \
    X(REDIS_CONNECTED, API, GAUGE_MIN, "code_runner_redis_connected", NONE,                        \
      "1 when this connection to the Redis master is up in every event loop, else 0",              \
      DIM_CONNECTION)                                                                              \
    /* the worker */                                                                               \
    X(JOBS, WORKER, COUNTER, "code_runner_jobs_total", NONE,                                       \
      "Jobs whose final result this host wrote, by language, status and (SUCCESS) verdict",        \
      DIM_LANGUAGE, DIM_RESULT)                                                                    \
    X(JOB_DURATION, WORKER, HISTOGRAM, "code_runner_job_duration_seconds", JOB,                    \
      "Wall time of a job in its sandbox: set-up, compile and every run, by language and "         \
      "executor", DIM_LANGUAGE, DIM_EXECUTOR)                                                      \
    X(SANDBOX_SETUP, WORKER, HISTOGRAM, "code_runner_sandbox_setup_seconds", SETUP,                \
      "Time to make a job's sandbox (workspace and files; a container started ahead adopted) "     \
      "before its first step, by language and executor", DIM_LANGUAGE, DIM_EXECUTOR)              \
    X(WORKER_SLOTS, WORKER, GAUGE, "code_runner_worker_slots", NONE,                               \
      "Worker processes this host runs when all are up (WORKER_CONCURRENCY)")                      \
    X(WORKER_BUSY_SLOTS, WORKER, GAUGE, "code_runner_worker_busy_slots", NONE,                     \
      "Worker processes holding a job now")                                                        \
    X(WORKER_PROCESSES, WORKER, GAUGE, "code_runner_worker_processes", NONE,                       \
      "Worker processes alive now (fewer than the slots while one is restarted)")                  \
    X(WORKER_RESTARTS, WORKER, COUNTER, "code_runner_worker_process_restarts_total", NONE,         \
      "Worker processes started again after one died")                                            \
    X(WORKER_REDIS_CONNECTED, WORKER, GAUGE, "code_runner_worker_redis_connected", NONE,           \
      "1 when the supervisor's last heartbeat reached Redis (its worker processes take jobs), "    \
      "else 0")                                                                                    \
    X(REAPER_JOBS, WORKER, COUNTER, "code_runner_reaper_jobs_total", NONE,                         \
      "Jobs this host's reaper gave back, by why and what became of them", DIM_REAP_REASON,        \
      DIM_REAP_ACTION)                                                                             \
    X(WARM_CONTAINERS, WORKER, COUNTER, "code_runner_warm_containers_total", NONE,                 \
      "Containers started ahead for the next job (builtin runtime), by what became of them",       \
      DIM_WARM)
/* clang-format on */

enum metric_id {
#define METRIC_ENUM(id, ...) M_##id,
    METRICS_TABLE(METRIC_ENUM)
#undef METRIC_ENUM
        M_COUNT
};

/* A growing text buffer for the exposition. */
typedef struct metrics_text {
    char *s;    /* owned; NUL-terminated; NULL while empty */
    size_t len; /* bytes in s, NUL excluded */
    size_t cap;
} metrics_text;

enum metrics_op {
    METRICS_ADD,     /* counter or gauge += v */
    METRICS_SET,     /* gauge = v */
    METRICS_OBSERVE, /* histogram: one observation of v */
};

/* The calls: one label index per dimension of the row, in order (see the top). The array handed
 * to metrics_update starts with the number of indexes given. */
#define METRIC_LABELS(...)                                                                         \
    (const int[])                                                                                  \
    {                                                                                              \
        (int)(sizeof((int[]){0, __VA_ARGS__}) / sizeof(int)) - 1, __VA_ARGS__                      \
    }
#define metric_add(id, v, ...) metrics_update((id), METRICS_ADD, (v), METRIC_LABELS(__VA_ARGS__))
#define metric_inc(id, ...) metric_add((id), 1, __VA_ARGS__)
#define metric_set(id, v, ...) metrics_update((id), METRICS_SET, (v), METRIC_LABELS(__VA_ARGS__))
#define metric_observe(id, v, ...)                                                                 \
    metrics_update((id), METRICS_OBSERVE, (v), METRIC_LABELS(__VA_ARGS__))

void metrics_dim_values(enum metric_dim d, const char *const *values, size_t n);
/* DIM_LANGUAGE: the table's ids, then "other" (a job whose language is unknown). */
void metrics_dim_languages(const lang_table *t);
void metrics_init(unsigned program, size_t nshards);
void metrics_attach(size_t shard);
void metrics_reset_gauges(size_t shard);
/* idx[0] is the number of label indexes that follow; a wrong number or an index out of range is
 * a bug: it aborts in debug builds and is ignored otherwise. */
void metrics_update(enum metric_id id, enum metrics_op op, double v, const int *idx);
void metrics_render(metrics_text *t);
bool metrics_authorized(const cfg *c, const char *authorization);
void metrics_free(void);

/* Index helpers for the dimensions whose values come from elsewhere. */
int metrics_code_index(int http_status);            /* DIM_CODE */
int metrics_language_index(const char *lang_id);    /* DIM_LANGUAGE; "other" when unknown */
int metrics_result_index(task_status s, verdict v); /* DIM_RESULT; v ignored for FAILURE */

/* Seconds of CLOCK_MONOTONIC, for durations. */
double metrics_now(void);

/* Append printf-style text; a gauge family of one unlabelled value (for values read at scrape
 * time, such as the queue's length); free the buffer (accepts an empty one). */
void metrics_text_add(metrics_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void metrics_text_gauge(metrics_text *t, const char *name, const char *help, double v);
void metrics_text_free(metrics_text *t);

/* The Content-Type of the exposition. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
