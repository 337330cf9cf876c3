"""The fleet under chaos: hosts are network namespaces this test makes on this machine (netns.py:
a bridge in a namespace of its own, no route off the machine): one for the api, three worker
hosts (a supervisor with two worker processes each), a Redis master and its replica, three
sentinels (Debian's redis-server and redis-sentinel), and one for the test's clients.

Under a stream of mixed jobs (python, C, JavaScript; quick, slow, failing, timing out), at seeded
random moments: the Redis master SIGKILLed (the sentinels promote the replica; it comes back as
a replica); a whole worker host SIGKILLed (and started again later); a supervisor stopped past
the stale threshold, then its host killed; a host's network cut (every packet dropped) past the
threshold, then restored; Redis (master and replica) stopped past the threshold; the api
killed and started again; a second supervisor started with a WORKER_ID already in use.

Checked at the end, not printed: every job answered 200 has exactly one final result, SUCCESS
with its own program's output (or FAILURE only for "died N times"); none is PENDING; no task
burned an attempt unless a host holding it was killed, stopped or cut off (a Redis outage, a
failover, an api restart or a duplicate id cost none); runs beyond the first are reported and
bounded (each is an attempt, or a write lost with a killed master); the duplicate supervisor
refused to start; nothing is left behind. Bounded for CI (about 3 minutes, and only in the
normal pass of tests/run.sh, not again under ASan); by hand:
    FLEET_SECONDS=600 FLEET_SEED=1234 python3 -m pytest -q -s tests/integration/test_fleet_chaos.py
The seed is printed, and named in the failure message."""
import http.client
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
import netns
from harness import wait_until
from sentinel_support import Group
from harness import state_dir
from support import worker_leftovers

PREFIX = "test:"
SECONDS = float(os.environ.get("FLEET_SECONDS", "60"))
SEED = int(os.environ.get("FLEET_SEED", str(int(time.time()))))
CLIENTS = 4
IN_FLIGHT = 4
HOSTS = 3
CONCURRENCY = 2
MAX_ATTEMPTS = 6
DRAIN_S = 180

C_PROGRAM = '#include <stdio.h>\nint main(void) { puts("%s"); return 0; }\n'

KINDS = [("print", 35), ("raise", 15), ("c", 10), ("js", 10), ("sleep", 20), ("time_limit", 10)]


def make_job(rng, kind, token):
    if kind == "print":
        return {"language": "python", "code": f"print({token!r})"}
    if kind == "raise":
        return {"language": "python", "code": f"raise RuntimeError({token!r})"}
    if kind == "c":
        return {"language": "c", "code": C_PROGRAM % token}
    if kind == "js":
        return {"language": "javascript", "code": f"console.log({token!r})"}
    if kind == "sleep":
        return {"language": "python",
                "code": f"import time\ntime.sleep({rng.uniform(0.3, 2.0):.2f})\nprint({token!r})"}
    return {"language": "python", "timeout": 1,
            "code": f"import time\nprint({token!r}, flush=True)\ntime.sleep(30)"}


def check_result(kind, token, body):
    status, res = body.get("status"), body.get("result")
    if status == "FAILURE":
        return None if re.fullmatch(r"the worker running this job died \d+ times; giving up",
                                    res or "") else f"unexpected FAILURE {res!r}"
    if status != "SUCCESS" or not isinstance(res, dict):
        return f"not final: {body!r}"
    out, err, verdict = res.get("output", ""), res.get("error", ""), res.get("verdict")
    if set(re.findall(r"tok[0-9a-f]{32}", out + err)) - {token}:
        return f"output of another task in {res!r}"
    if kind in ("print", "c", "js", "sleep"):
        ok = verdict == "ok" and out == token + "\n"
    elif kind == "raise":
        ok = verdict == "runtime_error" and f"RuntimeError: {token}" in err
    else:
        ok = verdict == "time_limit" and out in ("", token + "\n")
    return None if ok else f"wrong result for a {kind} job: {res!r}"


class Fleet:
    """The hosts of net and what runs on them; the calling thread is in the client namespace."""

    def __init__(self, workdir, net, rng):
        self.workdir, self.net, self.rng = workdir, net, rng
        self.h = net.hosts
        self.redis = self.api = None
        self.workers = {}   # host name -> the harness.Worker running there now
        self.all_workers = []
        self.at_risk = set()  # tasks a killed, stopped or cut-off host held
        self.faults = {}
        self.master_kills = 0  # failovers (writes not yet replicated may be lost)
        self.dup_refused = 0
        try:
            self.redis = Group(workdir, hosts=self.h, down_after_ms=2000)
            self.env = dict(REDIS_URL="redis://10.77.0.21:1/0",
                            REDIS_SENTINELS=self.redis.endpoints, REDIS_MIN_REPLICAS_ACK=1,
                            LOG_LEVEL="info")
            self.api = harness.Api(workdir, self.redis.nodes["a"], host=self.h["api"], **self.env)
            for i in range(HOSTS):
                self.start_worker(f"w{i}")
        except BaseException:
            self.stop()
            raise

    def call(self, method, path, body=None, timeout=15):
        """(status, body), or (None, None) when the api does not answer."""
        try:
            status, data, _ = self.api.request(method, path, body, timeout=timeout)
            return status, data
        except (OSError, http.client.HTTPException):
            return None, None

    def start_worker(self, host, wid=None, state=None):
        wid = wid or f"fleet-{host}"
        w = harness.Worker(self.workdir, self.redis.nodes["a"], host=self.h[host], WORKER_ID=wid,
                           STATE_DIR=state or state_dir(wid), WORKER_CONCURRENCY=CONCURRENCY,
                           HEARTBEAT_INTERVAL=1, TASK_MAX_ATTEMPTS=MAX_ATTEMPTS,
                           WORKER_SHUTDOWN_GRACE=5, ORPHAN_SCAN_INTERVAL=5, **self.env)
        w.child_deaths_expected = True
        self.all_workers.append(w)
        if not state:
            self.workers[host] = w
        return w

    # -- what a fault puts at risk: the jobs the host's worker processes hold --

    def held(self, host):
        m = self.redis.master()
        out = set()
        if not m:
            return out
        for k in range(CONCURRENCY):
            try:
                out.update(m.cmd("LRANGE", f"{PREFIX}processing:fleet-{host}-{k}", 0, -1) or [])
            except (OSError, RuntimeError):
                pass
        return out

    def running_on(self, host):
        """Jobs the host's current worker log shows started and not finished."""
        last = {}
        for line in self.workers[host].proc.output().splitlines():
            m = re.search(r"worker\[(\d+)\] \w+ \[([0-9a-f-]{36})\] "
                          r"(running |\w+ written|lease lost)", line)
            if m:
                if m.group(3).startswith("running"):
                    last[m.group(1)] = m.group(2)
                elif last.get(m.group(1)) == m.group(2):
                    del last[m.group(1)]
        return set(last.values())

    def risk(self, host):
        self.at_risk |= self.held(host) | self.running_on(host)

    # -- the faults --

    def master_kill(self):
        old = self.redis.master()
        if not old:
            return False
        old.kill()
        self.redis.wait_failover(old, timeout=40)
        time.sleep(self.rng.uniform(0.5, 2))
        old.start()  # back as the new master's replica
        self.redis.wait_synced(timeout=60)
        self.master_kills += 1
        return True

    def host_kill(self):
        host = self.rng.choice(sorted(self.workers))
        self.risk(host)
        w = self.workers[host]
        w.proc.kill()  # the supervisor; its processes die with it (PDEATHSIG)
        time.sleep(self.rng.uniform(3, 8))
        self.risk(host)
        self.start_worker(host)  # the host comes back: same WORKER_ID, same STATE_DIR
        return True

    def stall_then_kill(self):
        host = self.rng.choice(sorted(self.workers))
        w = self.workers[host]
        self.risk(host)
        os.kill(w.proc.pid, signal.SIGSTOP)
        time.sleep(self.rng.uniform(6, 8))  # past the stale threshold (3 x 1 s + 2 s)
        self.risk(host)
        w.proc.kill()
        time.sleep(self.rng.uniform(1, 3))
        self.start_worker(host)
        return True

    def net_cut(self):
        host = self.rng.choice(sorted(self.workers))
        self.risk(host)
        self.h[host].cut()
        time.sleep(self.rng.uniform(6.5, 9))
        self.risk(host)
        self.h[host].restore()
        return True

    def redis_outage(self):
        nodes = [n for n in self.redis.nodes.values() if n.proc]
        for n in nodes:
            n.signal(signal.SIGSTOP)
        time.sleep(self.rng.uniform(6.5, 8.5))
        for n in nodes:
            n.signal(signal.SIGCONT)
        self.redis.wait_synced(timeout=60)
        self.master_kills += 1  # the sentinels may have switched: writes may be lost as in a kill
        return True

    def api_restart(self):
        self.api.proc.kill()
        time.sleep(self.rng.uniform(0.2, 1.5))
        self.api.start()
        wait_until(lambda: self.call("GET", "/health")[0] == 200, timeout=30,
                   what="the api to come back")
        return True

    def duplicate_id(self):
        """Another host starts a supervisor with a WORKER_ID in use: it must refuse."""
        hosts = sorted(self.workers)
        victim = self.rng.choice(hosts)
        other = self.rng.choice([h for h in hosts if h != victim])
        dup = self.start_worker(other, wid=f"fleet-{victim}",
                                state=state_dir(f"fleet-{victim}") + "-dup")
        dup.proc.expected_exit = {1}
        try:
            dup.proc.proc.wait(30)
        except Exception:
            raise AssertionError("a supervisor with a duplicate WORKER_ID kept running")
        assert dup.proc.proc.returncode == 1, dup.proc.output()[-2000:]
        assert "in use by another supervisor" in dup.proc.output(), dup.proc.output()[-2000:]
        self.dup_refused += 1
        return True

    def inject(self, kind):
        ok = getattr(self, kind)()
        if ok:
            self.faults[kind] = self.faults.get(kind, 0) + 1
        return ok

    def stop(self):
        for w in self.workers.values():
            w.stop()
        if self.api:
            self.api.stop()
        if self.redis:
            self.redis.stop()


class Task:
    __slots__ = ("id", "kind", "token")

    def __init__(self, tid, kind, token):
        self.id, self.kind, self.token = tid, kind, token


@pytest.fixture
def workdir():
    d = harness.make_workdir()
    yield d
    harness.remove_workdir(d)


def make_network():
    net = netns.Network("fc")
    for name, octet in [("api", 2), ("client", 100), ("a", 21), ("b", 22), ("s1", 31),
                        ("s2", 32), ("s3", 33)] + [(f"w{i}", 10 + i) for i in range(HOSTS)]:
        net.add(name, octet)
    return net


def run_fleet(workdir, net):
    rng = random.Random(SEED)
    print(f"\nfleet chaos: seed {SEED}, {SECONDS:.0f} s of faults")
    fleet = Fleet(workdir, net, rng)
    accepted, lock = [], threading.Lock()
    stop_submitting = threading.Event()
    counters = {"503": 0, "no answer": 0}

    def client(n):
        crng = random.Random(SEED * 100 + n)
        while not stop_submitting.is_set():
            kind = crng.choices([k for k, _ in KINDS], [w for _, w in KINDS])[0]
            token = "tok" + uuid.uuid4().hex
            status, body = fleet.call("POST", "/run-code", make_job(crng, kind, token))
            if status == 200:
                with lock:
                    accepted.append(Task(body["task_id"], kind, token))
            else:
                assert status in (503, None), (status, body)  # anything else is a bug
                with lock:
                    counters["503" if status else "no answer"] += 1
                time.sleep(0.2)
            with lock:
                backlog = len(accepted)
            if backlog > (n + 1) * 200:  # keep the queue near what the fleet drains
                time.sleep(0.5)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(CLIENTS)]
    try:
        for t in threads:
            t.start()
        order = ["master_kill", "host_kill", "stall_then_kill", "net_cut", "redis_outage",
                 "api_restart", "duplicate_id"]
        rng.shuffle(order)
        extra = ["master_kill", "host_kill", "net_cut", "api_restart"]
        log, t0 = [], time.monotonic()
        while order or time.monotonic() - t0 < SECONDS:
            time.sleep(rng.uniform(3, 6))
            kind = order.pop(0) if order else rng.choice(extra)
            if fleet.inject(kind):
                log.append(f"{time.monotonic() - t0:6.1f}s {kind}")
        stop_submitting.set()
        for t in threads:
            t.join(30)
        print("faults:\n  " + "\n  ".join(log))

        # Every accepted job: one final answer, the right one.
        finals, wrong, pending = {}, [], []
        deadline = time.monotonic() + DRAIN_S
        for t in accepted:
            while True:
                status, body = fleet.call("GET", f"/results/{t.id}?wait=10", timeout=30)
                if status == 200 and body["status"] != "PENDING":
                    break
                if time.monotonic() > deadline:
                    break
                if status != 200:
                    time.sleep(0.3)
            if status != 200 or body["status"] == "PENDING":
                pending.append((t.id, t.kind, status, body))
                continue
            finals[t.id] = body
            why = check_result(t.kind, t.token, body)
            if why:
                wrong.append((t.id, why))
        master = fleet.redis.master()
        attempts = {tid: int(master.cmd("HGET", f"{PREFIX}task:{tid}", "attempts") or 0)
                    for tid in finals}
        runs = {}
        for w in fleet.all_workers:
            for m in re.finditer(r"\[([0-9a-f-]{36})\] running ", w.proc.output()):
                runs[m.group(1)] = runs.get(m.group(1), 0) + 1
        unexplained = [(tid, a) for tid, a in attempts.items() if a and tid not in fleet.at_risk]
        beyond = [max(0, runs.get(tid, 0) - 1 - attempts[tid]) for tid in finals]
        duplicates = sum(max(0, runs.get(tid, 0) - 1) for tid in finals)
        bound = fleet.master_kills * HOSTS * CONCURRENCY
        failed = sum(1 for b in finals.values() if b["status"] == "FAILURE")
        print(f"fleet chaos: {len(accepted)} jobs answered 200; {counters} answers retried; "
              f"faults {fleet.faults}")
        print(f"fleet chaos: finished {len(finals)} (FAILURE {failed}); PENDING {len(pending)}; "
              f"wrong {len(wrong)}; attempts {sum(attempts.values())} on "
              f"{sum(1 for a in attempts.values() if a)} tasks, {len(unexplained)} without a "
              f"death; runs beyond the first {duplicates}, {sum(beyond)} of them without an "
              f"attempt (lost writes; bound {bound})")

        assert not pending, pending[:10]
        assert not wrong, wrong[:10]
        assert not unexplained, unexplained[:10]
        assert sum(beyond) <= bound, (sum(beyond), bound)
        assert len(accepted) >= 200, len(accepted)
        assert fleet.dup_refused >= 1
        assert master.cmd("LLEN", f"{PREFIX}queue") == 0

        # Everyone stops cleanly; nothing is left behind.
        for w in fleet.workers.values():
            assert w.stop() == 0, w.id
        fleet.api.stop()
        harness.check_clean(fleet.api, *fleet.all_workers)
        ids = sorted({w.id for w in fleet.all_workers})
        left = worker_leftovers(ids, [state_dir(i) for i in ids] + [state_dir(i) + "-dup" for i in ids])
        assert not left, left[:20]
    except BaseException as e:
        keep = f"/tmp/cr-fleet-{SEED}"
        shutil.copytree(workdir, keep, ignore=shutil.ignore_patterns("appendonlydir"),
                        dirs_exist_ok=True)
        print(f"fleet chaos: seed {SEED}; logs kept in {keep}")
        raise AssertionError(f"fleet chaos failed with FLEET_SEED={SEED}: {e!r}") from e
    finally:
        stop_submitting.set()
        fleet.stop()


def test_fleet_chaos(workdir):
    net = make_network()
    try:
        # The test's own requests leave from the client host, like any client's.
        netns.run_in(net.hosts["client"], run_fleet, workdir, net)
    finally:
        net.close()
