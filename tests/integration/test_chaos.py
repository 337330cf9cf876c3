"""Chaos: a stream of mixed jobs while worker processes, whole supervisors, the api and Redis are
killed at random moments, and Redis goes away (stopped or stalled) for longer than the workers'
stale threshold. The promise checked at the end: every task that got a 200 ends as SUCCESS (with
its own program's output: no result crosses over to another task) or FAILURE (only "died
TASK_MAX_ATTEMPTS times"), nothing stays PENDING, no task burned an attempt unless a worker
process holding it was killed (a Redis outage or an api restart costs none), no task ran more
often than its attempts allow, and no container, cgroup, mount or workspace is left behind.

Bounded for CI (about 4 minutes here). By hand, scale it up:
    CHAOS_SECONDS=900 CHAOS_JOBS=5000 python3 -m pytest -q -s tests/integration/test_chaos.py
    CHAOS_APPENDFSYNC=everysec ...  the cheaper setting: a SIGKILL of Redis may lose the last
                                    second of acknowledged enqueues (see below)
    CHAOS_SEED=1234 ...             replay a fault schedule

Redis runs with AOF, appendfsync always by default, as deploy/start.sh and the compose file run
it: then no accepted job may be lost at all, even to a SIGKILL of Redis. With everysec a hard crash of Redis may lose
up to about a second of acknowledged writes (two when the disk is slow), including enqueues the
api already answered 200 for: such a task answers 404. That loss is accepted only for tasks
whose 200 came less than LOSS_WINDOW_S before a SIGKILL of Redis, counted and printed; anywhere
else (and with appendfsync always, anywhere at all) a 404 fails the test."""
import http.client
import json
import os
import random
import re
import shutil
import signal
import threading
import time
import uuid

import pytest

import harness
from harness import state_dir
from support import worker_leftovers
from harness import wait_until

PREFIX = "test:"
SECONDS = float(os.environ.get("CHAOS_SECONDS", "150"))   # length of the fault phase
JOBS = int(os.environ.get("CHAOS_JOBS", "0"))            # stop submitting after this many (0: time)
MIN_JOBS = int(os.environ.get("CHAOS_MIN_JOBS", "300"))   # fewer accepted than this fails the test
FSYNC = os.environ.get("CHAOS_APPENDFSYNC", "always")
SEED = int(os.environ.get("CHAOS_SEED", str(int(time.time()))))
CLIENTS = int(os.environ.get("CHAOS_CLIENTS", "6"))      # submitting threads
IN_FLIGHT = 4                                            # accepted, unfinished jobs per client
CONCURRENCY = 3                                          # worker processes per supervisor
MAX_ATTEMPTS = 5
LOSS_WINDOW_S = 3.0
DRAIN_TIMEOUT_S = float(os.environ.get("CHAOS_DRAIN_SECONDS", "150"))

C_PROGRAM = '#include <stdio.h>\nint main(void) { puts("%s"); return 0; }\n'


class AofRedis(harness.Redis):
    """harness.Redis with the appendfsync policy of this run (the port stays across restarts)."""

    def start(self):
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                "--save", "", "--appendonly", "yes", "--appendfsync", FSYNC,
                "--maxmemory-policy", "noeviction", "--protected-mode", "no"]
        self.proc = harness.Process(argv, dict(os.environ), os.path.join(self.dir, "redis.log"))
        wait_until(self.ping, timeout=60, what="redis to answer PING")

    def ping(self):
        try:
            return self.cmd("PING") == "PONG"
        except (OSError, RuntimeError):  # RuntimeError: LOADING while it reads its AOF
            return False


# ---------------------------------------------------------------------------------------------
# Jobs: each carries a unique token its result must show.

KINDS = [  # (name, weight)
    ("print", 40), ("raise", 20), ("c", 10), ("sleep", 20), ("time_limit", 10),
]


def make_job(rng, kind, token):
    if kind == "print":
        return {"language": "python", "code": f"print({token!r})"}
    if kind == "raise":
        return {"language": "python", "code": f"raise RuntimeError({token!r})"}
    if kind == "c":
        return {"language": "c", "code": C_PROGRAM % token}
    if kind == "sleep":
        s = round(rng.uniform(0.2, 1.0), 2)
        return {"language": "python", "code": f"import time\ntime.sleep({s})\nprint({token!r})"}
    if kind == "time_limit":
        return {"language": "python", "timeout": 1,
                "code": f"import time\nprint({token!r}, flush=True)\ntime.sleep(30)"}
    raise ValueError(kind)


def check_result(kind, token, body):
    """None when body is a correct final answer for a job of this kind and token, else why not."""
    status, res = body.get("status"), body.get("result")
    if status == "FAILURE":
        want = f"the worker running this job died {MAX_ATTEMPTS} times; giving up"
        return None if res == want else f"unexpected FAILURE {res!r}"
    if status != "SUCCESS" or not isinstance(res, dict):
        return f"not final: {body!r}"
    out, err, verdict = res.get("output", ""), res.get("error", ""), res.get("verdict")
    others = set(re.findall(r"tok[0-9a-f]{32}", out + err)) - {token}
    if others:
        return f"output of other tasks {sorted(others)} in {res!r}"
    if kind in ("print", "c", "sleep"):
        ok = verdict == "ok" and out == token + "\n" and res.get("exit_code") == 0
    elif kind == "raise":
        ok = verdict == "runtime_error" and f"RuntimeError: {token}" in err and out == ""
    else:
        ok = verdict == "time_limit" and out in ("", token + "\n")
    return None if ok else f"wrong result for a {kind} job: {res!r}"


# ---------------------------------------------------------------------------------------------
# HTTP client that survives the api going away


class Unavailable(Exception):
    """No answer that counts: connection refused/reset/timed out, or 503."""


def call(port, method, path, body=None, timeout=15):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = json.dumps(body) if body is not None else None
        c.request(method, path, body=data, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        raw = r.read()
    except (OSError, http.client.HTTPException) as e:
        raise Unavailable(repr(e))
    finally:
        c.close()
    if r.status == 503:
        raise Unavailable("503")
    try:
        return r.status, json.loads(raw)
    except ValueError:
        return r.status, raw.decode(errors="replace")



class Task:
    __slots__ = ("id", "kind", "token", "accepted_at", "seen")

    def __init__(self, tid, kind, token, accepted_at):
        self.id, self.kind, self.token, self.accepted_at = tid, kind, token, accepted_at
        self.seen = None  # the first final answer a client saw during the run


# ---------------------------------------------------------------------------------------------
# The system under test and the faults


children, comm = harness.children, harness.comm


class System:
    """Redis, the api and the supervisors of one chaos run, and the faults injected into them."""

    def __init__(self, workdir, rng):
        self.workdir, self.rng = workdir, rng
        self.lock = threading.Lock()  # the api port and the supervisor list change under clients
        self.redis = AofRedis(workdir, aof=True)
        self.api = harness.Api(workdir, self.redis, LOG_LEVEL="info")
        self.serial = 0
        self.ids_used = []        # every WORKER_ID started
        self.abandoned = set()    # ids whose supervisor was killed and not restarted
        self.workers = [self.start_worker(), self.start_worker()]
        self.faults = {k: 0 for k in ("worker_process", "supervisor_same_id", "supervisor_new_id",
                                      "api", "redis_sigterm", "redis_sigkill", "redis_down_long",
                                      "redis_stall_long")}
        self.redis_kills = []     # monotonic times of SIGKILLs of Redis
        self.redis_up = True
        self.at_risk = set()      # tasks a killed worker process may have held (an attempt each)
        self.all_workers = list(self.workers)  # every Worker started, for the final checks

    def start_worker(self, wid=None):
        if wid is None:
            self.serial += 1
            wid = f"chaos{os.getpid()}x{self.serial}"
        w = harness.Worker(self.workdir, self.redis, WORKER_ID=wid, WORKER_CONCURRENCY=CONCURRENCY,
                           HEARTBEAT_INTERVAL=1, TASK_MAX_ATTEMPTS=MAX_ATTEMPTS,
                           WORKER_SHUTDOWN_GRACE=5, ORPHAN_SCAN_INTERVAL=5, LOG_LEVEL="info")
        w.child_deaths_expected = True
        if wid not in self.ids_used:
            self.ids_used.append(wid)
        self.abandoned.discard(wid)
        if hasattr(self, "all_workers"):
            self.all_workers.append(w)
        return w

    @property
    def port(self):
        return self.api.port

    # -- faults --

    # -- what a killed worker process held: each may have cost its task an attempt --

    def held(self, slot_ids):
        out = set()
        for wid in slot_ids:
            try:
                out.update(self.redis.cmd("LRANGE", f"{PREFIX}processing:{wid}", 0, -1) or [])
            except (OSError, RuntimeError):
                pass  # Redis away: the log below still names what ran
        return out

    def ran_by(self, w, pids):
        """The job each of these pids was running when it died: the last one its log shows
        starting and not finishing."""
        last = {}
        for line in w.proc.output().splitlines():
            m = re.search(r"worker\[(\d+)\] \w+ \[([0-9a-f-]{36})\] "
                          r"(running |\w+ written|lease lost)", line)
            if m and int(m.group(1)) in pids:
                pid, tid = int(m.group(1)), m.group(2)
                if m.group(3).startswith("running"):
                    last[pid] = tid
                elif last.get(pid) == tid:
                    del last[pid]
        return set(last.values())

    def kill_worker_process(self):
        w = self.rng.choice(self.workers)
        kids = [p for p in children(w.proc.pid) if (comm(p) or "").startswith("cr-worker-")]
        if not kids:
            return False
        victim = self.rng.choice(kids)
        slot = f"{w.id}-{comm(victim).rsplit('-', 1)[1]}"
        before = self.held([slot])
        os.kill(victim, signal.SIGKILL)
        self.at_risk |= before | self.held([slot]) | self.ran_by(w, {victim})
        self.faults["worker_process"] += 1
        return True

    def kill_supervisor(self, same_id):
        i = self.rng.randrange(len(self.workers))
        w = self.workers[i]
        kids = children(w.proc.pid)
        slots = [f"{w.id}-{k}" for k in range(CONCURRENCY)]
        before = self.held(slots)
        w.proc.kill()  # its worker processes die with it (PDEATHSIG)
        wait_until(lambda: not any(comm(p) for p in kids), timeout=30,
                   what="worker processes to die with their supervisor")
        self.at_risk |= before | self.held(slots) | self.ran_by(w, set(kids))
        time.sleep(self.rng.uniform(0, 3))
        if same_id:
            self.workers[i] = self.start_worker(w.id)  # start-up recovery of the same id
            self.faults["supervisor_same_id"] += 1
        else:
            self.abandoned.add(w.id)  # its jobs come back through the other host's reaper
            self.workers[i] = self.start_worker()
            self.faults["supervisor_new_id"] += 1
        return True

    def kill_api(self):
        self.api.proc.kill()
        time.sleep(self.rng.uniform(0, 1.5))
        self.api.start()
        self.faults["api"] += 1
        return True

    def restart_redis(self, hard):
        self.redis_up = False
        if hard:
            self.redis_kills.append(time.monotonic())
            self.redis.kill()
        else:
            self.redis.stop()
        time.sleep(self.rng.uniform(0.5, 3))
        self.redis.start()
        self.redis_up = True
        self.faults["redis_sigkill" if hard else "redis_sigterm"] += 1
        return True

    def redis_away_long(self, stall):
        """Redis gone for longer than the stale threshold (3 x 1 s + 2 s): stopped and started
        again, or stalled (SIGSTOP) with every connection open. Nobody may be reaped for it."""
        away = self.rng.uniform(6.5, 8.5)
        self.redis_up = False
        if stall:
            os.kill(self.redis.proc.pid, signal.SIGSTOP)
            time.sleep(away)
            os.kill(self.redis.proc.pid, signal.SIGCONT)
        else:
            self.redis.stop()
            time.sleep(away)
            self.redis.start()
        self.redis_up = True
        self.faults["redis_stall_long" if stall else "redis_down_long"] += 1
        return True

    def inject(self, kind):
        return {"worker_process": self.kill_worker_process,
                "supervisor_same_id": lambda: self.kill_supervisor(True),
                "supervisor_new_id": lambda: self.kill_supervisor(False),
                "api": self.kill_api,
                "redis_sigterm": lambda: self.restart_redis(False),
                "redis_sigkill": lambda: self.restart_redis(True),
                "redis_down_long": lambda: self.redis_away_long(False),
                "redis_stall_long": lambda: self.redis_away_long(True)}[kind]()

    def clean_abandoned(self):
        """Start each abandoned WORKER_ID once: its start-up removes what its sandboxes left."""
        for wid in sorted(self.abandoned):
            w = harness.Worker(self.workdir, self.redis, WORKER_ID=wid,
                               WORKER_CONCURRENCY=CONCURRENCY, HEARTBEAT_INTERVAL=1)
            try:
                wait_until(lambda: len([p for p in children(w.proc.pid)
                                        if (comm(p) or "").startswith("cr-worker-")]) ==
                           CONCURRENCY, timeout=30, what="the restarted supervisor")
            finally:
                assert w.stop() == 0
            self.abandoned.discard(wid)

    def stop(self):
        for w in self.workers:
            w.stop()
        if self.abandoned and self.redis_up:
            try:
                self.clean_abandoned()  # after a failure: leave no sandbox behind all the same
            except AssertionError:
                pass
        self.api.stop()
        self.redis.stop()


# ---------------------------------------------------------------------------------------------


def task_field(redis, tid, field):
    return redis.cmd("HGET", f"{PREFIX}task:{tid}", field)


@pytest.fixture
def workdir():
    d = harness.make_workdir()
    yield d
    harness.remove_workdir(d)


def test_chaos(workdir):
    rng = random.Random(SEED)
    print(f"\nchaos: seed {SEED}, {SECONDS:.0f} s of faults, appendfsync {FSYNC}")
    sysm = System(workdir, rng)
    accepted = []                 # Task, in the order their 200 came
    lock = threading.Lock()
    stop_submitting = threading.Event()
    counters = {"submit_retries": 0, "poll_errors": 0, "submitted_non_200": 0}
    failures = []

    def client(n):
        crng = random.Random(SEED * 100 + n)
        mine = []  # accepted, not yet seen final
        while not (stop_submitting.is_set() and not mine):
            if not stop_submitting.is_set() and len(mine) < IN_FLIGHT:
                if JOBS and len(accepted) >= JOBS:
                    stop_submitting.set()
                    continue
                kind = crng.choices([k for k, _ in KINDS], [w for _, w in KINDS])[0]
                token = "tok" + uuid.uuid4().hex  # fresh per attempt: retries are other tasks
                try:
                    status, body = call(sysm.port, "POST", "/run-code", make_job(crng, kind, token))
                except Unavailable:
                    with lock:
                        counters["submit_retries"] += 1
                    time.sleep(0.2)
                    continue
                if status != 200:
                    with lock:
                        counters["submitted_non_200"] += 1
                        failures.append(f"submit answered {status} {body!r}")
                    continue
                t = Task(body["task_id"], kind, token, time.monotonic())
                with lock:
                    accepted.append(t)
                mine.append(t)
                continue
            t = mine[0]
            try:
                status, body = call(sysm.port, "GET", f"/results/{t.id}?wait=2")
            except Unavailable:
                with lock:
                    counters["poll_errors"] += 1
                time.sleep(0.2)
                continue
            if status == 200 and body.get("status") in ("SUCCESS", "FAILURE"):
                t.seen = body
                mine.pop(0)
            elif status == 404:
                mine.pop(0)  # judged at the end (lost to a Redis crash, or a bug)
            elif status != 200:
                with lock:
                    failures.append(f"GET {t.id} answered {status} {body!r}")
                mine.pop(0)
            else:
                mine.append(mine.pop(0))  # PENDING: look at the others, come back later
            if stop_submitting.is_set() and time.monotonic() > drain_deadline:
                break

    drain_deadline = float("inf")
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(CLIENTS)]
    t_start = time.monotonic()
    try:
        for th in threads:
            th.start()
        # Every kind of fault at least once (Redis SIGKILL included), in random order, then at
        # random. Faults are 2-6 s apart so that jobs make progress between them.
        first = ["worker_process", "worker_process", "supervisor_same_id", "supervisor_new_id",
                 "api", "redis_sigterm", "redis_sigkill", "redis_down_long", "redis_stall_long"]
        rng.shuffle(first)
        weighted = (["worker_process"] * 8 + ["supervisor_same_id", "supervisor_new_id"] * 2 +
                    ["api"] * 2 +
                    ["redis_sigterm"] * 1 + ["redis_sigkill"] * 1 +
                    ["redis_down_long"] * 1 + ["redis_stall_long"] * 1)
        log = []
        while True:
            elapsed = time.monotonic() - t_start
            if elapsed >= SECONDS and not first:
                break
            if JOBS and len(accepted) >= JOBS and not first:
                break
            time.sleep(rng.uniform(2, 6))
            kind = first.pop(0) if first else rng.choice(weighted)
            if sysm.inject(kind):
                log.append(f"{time.monotonic() - t_start:6.1f}s {kind}")
        stop_submitting.set()
        t_faults_end = time.monotonic()
        print("faults:\n  " + "\n  ".join(log))

        # Drain: every client waits for its own jobs, then the check below waits for all.
        drain_deadline = time.monotonic() + DRAIN_TIMEOUT_S
        for th in threads:
            th.join(max(1, drain_deadline - time.monotonic()))
        assert not failures, failures[:10]

        # The verdict on every accepted task, each read again at the end.
        pending, lost_in_window, lost_outside, wrong, changed = [], [], [], [], []
        final = {}
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        for t in accepted:
            while True:
                try:
                    status, body = call(sysm.port, "GET", f"/results/{t.id}?wait=5", timeout=20)
                except Unavailable:
                    time.sleep(0.5)
                    continue
                if status == 200 and body["status"] == "PENDING" and time.monotonic() < deadline:
                    continue
                break
            if status == 404:
                in_window = any(0 <= k - t.accepted_at <= LOSS_WINDOW_S for k in sysm.redis_kills)
                (lost_in_window if in_window and FSYNC != "always" else lost_outside).append(t)
                continue
            assert status == 200, (t.id, status, body)
            if body["status"] == "PENDING":
                pending.append(t)
                continue
            final[t.id] = body
            why = check_result(t.kind, t.token, body)
            if why:
                wrong.append((t.id, t.kind, why))
            if t.seen and t.seen["status"] != body["status"]:
                changed.append((t.id, t.seen, body))

        attempts = {t.id: int(task_field(sysm.redis, t.id, "attempts") or 0) for t in accepted
                    if t.id in final}
        # Attempts only for deaths: a task that burned one was held by a killed worker process.
        unexplained = [(tid, a) for tid, a in attempts.items() if a and tid not in sysm.at_risk]
        # Runs: every start of a job in any worker log. A task runs again only after a death.
        runs = {}
        for w in sysm.all_workers:
            for m in re.finditer(r"\[([0-9a-f-]{36})\] running ", w.proc.output()):
                runs[m.group(1)] = runs.get(m.group(1), 0) + 1
        too_many = [(tid, runs.get(tid), a) for tid, a in attempts.items()
                    if runs.get(tid, 0) > a + 1]
        duplicates = sum(max(0, runs.get(tid, 0) - 1) for tid in attempts)
        failed = sum(1 for b in final.values() if b["status"] == "FAILURE")
        by_kind = {}
        for t in accepted:
            by_kind[t.kind] = by_kind.get(t.kind, 0) + 1
        print(f"chaos: {len(accepted)} jobs accepted in {t_faults_end - t_start:.0f} s {by_kind}; "
              f"{counters['submit_retries']} submissions retried (connection error or 503), "
              f"{counters['poll_errors']} polls retried")
        print(f"chaos: faults injected {sysm.faults}")
        print(f"chaos: finished {len(final)} (SUCCESS {len(final) - failed}, FAILURE {failed} after "
              f"{MAX_ATTEMPTS} deaths); requeues (sum of attempts) {sum(attempts.values())}; "
              f"tasks run more than once (attempts > 0) {sum(1 for a in attempts.values() if a)}")
        print(f"chaos: runs beyond the first {duplicates} (each after a killed worker process); "
              f"tasks a killed worker process held {len(sysm.at_risk)}; attempts without a "
              f"death {len(unexplained)}; runs beyond attempts + 1 {len(too_many)}")
        print(f"chaos: lost to Redis SIGKILL within {LOSS_WINDOW_S} s of acceptance "
              f"{len(lost_in_window)}; lost otherwise {len(lost_outside)}; still PENDING "
              f"{len(pending)}; wrong results {len(wrong)}; final status changed {len(changed)}")

        assert not lost_outside, [(t.id, t.kind) for t in lost_outside][:20]
        assert not pending, [(t.id, t.kind, task_field(sysm.redis, t.id, "status"),
                              task_field(sysm.redis, t.id, "worker")) for t in pending][:20]
        assert not wrong, wrong[:20]
        assert not changed, changed[:5]
        assert not unexplained, unexplained[:20]
        assert not too_many, too_many[:20]
        assert len(accepted) >= min(MIN_JOBS, JOBS or MIN_JOBS), len(accepted)
        assert all(n >= 1 for n in sysm.faults.values()), sysm.faults

        # Nothing held by anyone: queue empty, no processing list with ids.
        assert sysm.redis.cmd("LLEN", f"{PREFIX}queue") == 0
        plists = sysm.redis.cmd("KEYS", f"{PREFIX}processing:*") or []
        assert not [(k, sysm.redis.cmd("LRANGE", k, 0, -1)) for k in plists
                    if sysm.redis.cmd("LLEN", k)], plists

        # Leftovers: the live supervisors stop cleanly; an id whose supervisor was killed for
        # good cleans up when it starts again (as a restarted host does), then stops.
        for w in sysm.workers:
            assert w.stop() == 0, w.id
        sysm.api.stop()
        harness.check_clean(sysm.api, *sysm.all_workers)
        stale = worker_leftovers(sorted(sysm.abandoned), [state_dir(i) for i in sysm.abandoned])
        print(f"chaos: leftovers of {len(sysm.abandoned)} abandoned worker ids before their "
              f"restart: {len(stale)}")
        sysm.workers = []
        sysm.clean_abandoned()
        left = worker_leftovers(sysm.ids_used, [state_dir(i) for i in sysm.ids_used])
        assert not left, left[:20]
        print(f"chaos: jobs lost 0 (outside the documented window); leftovers 0 for "
              f"{len(sysm.ids_used)} worker ids")
    except BaseException:
        keep = f"/tmp/cr-chaos-{SEED}"  # the logs of a failed run, for the report
        shutil.copytree(workdir, keep, ignore=shutil.ignore_patterns("redis"), dirs_exist_ok=True)
        print(f"chaos: logs kept in {keep}")
        raise
    finally:
        stop_submitting.set()
        drain_deadline = 0
        sysm.stop()
