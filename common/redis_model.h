/* The Redis data model shared by the API and the worker: key names and the Lua scripts that
 * change a task's state atomically. Every key starts with REDIS_PREFIX (cfg.redis_prefix).
 *
 *   {prefix}task:{id}          hash   status PENDING|RUNNING|SUCCESS|FAILURE, request (JSON),
 *                                     result (JSON: object for SUCCESS, string for FAILURE),
 *                                     created_at/started_at/finished_at (ms since epoch),
 *                                     attempts (times its worker died under it), worker, lease
 *                                     (claim token). No expiry while queued or running: it
 *                                     expires RESULT_TTL seconds after its final write.
 *   {prefix}queue              list   task ids; API LPUSHes, workers BLMOVE RIGHT -> LEFT.
 *   {prefix}processing:{wid}   list   ids one worker process holds (in flight).
 *   {prefix}workers            zset   worker process id -> deadline (ms, Redis's clock): past it
 *                                     without a new heartbeat the process is presumed dead.
 *   {prefix}worker_stale       hash   worker process id -> its stale threshold (ms), so that a
 *                                     reaper judges every worker by that worker's own setting.
 *   {prefix}owner:{WORKER_ID}  string the token of the supervisor that owns WORKER_ID; expires
 *                                     with its heartbeats (a second supervisor with the same id
 *                                     refuses to start while it lives).
 *   {prefix}orphans            hash   worker process id -> when its processing list was first
 *                                     seen without a registered owner (the orphan scan).
 *   {prefix}orphan_scan        string lock: one supervisor of the fleet scans per interval.
 *   {prefix}done               channel  completion announcement: the message is the task id,
 *                                     PUBLISHed by the same script that writes the final state.
 *                                     API event loops subscribe once and wake their long-polls.
 *   {prefix}probe:{token}      channel  one API event loop's liveness probe of its own two
 *                                     connections (it PUBLISHes to itself every second).
 *
 * Live sessions (common/session.h; README "Live sessions"): a session is owned by one worker
 * process {wid}; everything done to it is a task (the hash above, with two more fields: op,
 * create|run|put|get|list|delete, and session, its id; a create task's id is the session id)
 * queued for the owner only.
 *   {prefix}session:{sid}      hash   status pending|creating|ready|executing|stopping|stopped|
 *                                     error, environment (language id), owner ({wid}),
 *                                     created_at, last_execution (ms), memory_mb, timeout, ttl
 *                                     (s, its runs' defaults and its idle expiry), expires_at
 *                                     (ms: created_at + SESSION_MAX_LIFETIME), container_id,
 *                                     message (why it stopped or failed). No expiry while it
 *                                     lives; RESULT_TTL seconds once stopped or in error.
 *   {prefix}sessions:{wid}     set    the sessions {wid} holds (or is about to create).
 *   {prefix}session_free       zset   {wid} -> places left (MAX_SESSIONS_PER_WORKER minus its
 *                                     sessions), for each worker process that hosts sessions.
 *   {prefix}squeue:{wid}       list   task ids for {wid}'s sessions; the api LPUSHes (a delete
 *                                     is RPUSHed: taken next), {wid} BLMOVEs RIGHT -> LEFT into
 *   {prefix}sproc:{wid}        list   the session tasks {wid} has taken and not finished.
 *   {prefix}session_expiry:{wid}  zset  sid -> when {wid} stops it (ms): the idle deadline
 *                                     (last activity + ttl), never past expires_at.
 * The reaper's give-back of a dead {wid} turns its live sessions to error and its queued
 * session tasks to FAILURE, and deletes these keys of {wid}.
 *
 * The remote executor's shared view of the executor hosts (EXECUTOR=remote; a host is its
 * agent's base URL; scripts in worker/executors/remote/pool.c, times on Redis's clock in ms):
 *   {prefix}remote:slots:{url}  zset  slot leases on the host: "<worker process>/<random>" ->
 *                                     expiry (the job's bound: a dead worker's lease frees itself)
 *   {prefix}remote:held:{wid}   string "<url> <lease>" a worker process holds (its supervisor
 *                                     frees it at once when the process dies)
 *   {prefix}remote:hosts        hash  url -> the host's last capacity report (JSON)
 *   {prefix}remote:seen         hash  url -> when that report was taken
 *   {prefix}remote:down         zset  url -> until when it is down (failed a job, unreachable,
 *                                     refused us): no lease until a probe finds it healthy
 *   {prefix}remote:why          hash  url -> why it was last marked down
 *   {prefix}remote:probe:{url}  string lock: one worker process of the fleet probes a host
 *   {prefix}remote:freed        list  a token per released lease: waiting workers BLPOP it
 *   {prefix}remote:lastused     hash  url -> when a lease on it was last taken or released
 *   {prefix}remote:offer        zset  language id -> until when some healthy host offers it
 *                                     (GET /languages lists those when EXECUTOR=remote)
 *
 * Key helpers return a newly allocated string (caller frees). */
#ifndef CR_REDIS_MODEL_H
#define CR_REDIS_MODEL_H

char *key_task(const char *prefix, const char *id);
char *key_queue(const char *prefix);
char *key_processing(const char *prefix, const char *worker);
char *key_workers(const char *prefix);
char *key_worker_stale(const char *prefix);
char *key_owner(const char *prefix, const char *worker_id);
char *key_orphans(const char *prefix);
char *key_orphan_scan(const char *prefix);
char *key_done_channel(const char *prefix);
char *key_probe_channel(const char *prefix, const char *token);
char *key_session(const char *prefix, const char *sid);
char *key_sessions_of(const char *prefix, const char *wid);
char *key_session_free(const char *prefix);
char *key_squeue(const char *prefix, const char *wid);
char *key_sproc(const char *prefix, const char *wid);
char *key_session_expiry(const char *prefix, const char *wid);
/* {prefix}remote:{name}, and the per-host and per-worker keys above. */
char *key_remote(const char *prefix, const char *name);
char *key_remote_slots(const char *prefix, const char *url);
char *key_remote_held(const char *prefix, const char *worker);

/* Enqueue a new task: write the hash and push the id in one step, unless the queue is full.
 * KEYS[1] task key, KEYS[2] queue key
 * ARGV[1] task id, ARGV[2] request JSON, ARGV[3] now ms, ARGV[4] max queue length
 * Returns 1 when enqueued, 0 when the queue was full (nothing written). */
extern const char *const SCRIPT_ENQUEUE;

/* Write a final state (SUCCESS or FAILURE), only if the caller still holds the job.
 * KEYS[1] task key, KEYS[2] processing list of the caller, KEYS[3] done channel
 * ARGV[1] task id, ARGV[2] lease token, ARGV[3] status, ARGV[4] result JSON, ARGV[5] now ms,
 * ARGV[6] ttl s
 * Returns 1 when written (and announced), 0 when the lease was lost (nothing written). */
extern const char *const SCRIPT_FINISH;

/* Read the queue's state for GET /metrics, changing nothing: cheap (the processing lists of
 * registered worker processes are counted, one LLEN each).
 * KEYS[1] queue key, KEYS[2] workers zset; ARGV[1] prefix
 * Returns {queued jobs, created_at of the job taken next (the list's tail) or "" when none,
 * jobs in processing lists, registered worker processes}. */
extern const char *const SCRIPT_QUEUE_STATS;
/* The languages some executor host offers now.
 * KEYS[1] {prefix}remote:offer
 * Returns the ids whose expiry has not passed. */
extern const char *const SCRIPT_REMOTE_OFFERED;

#endif
