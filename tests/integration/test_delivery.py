"""The delivery promise under the faults a fleet meets (issue "delivery holes"), each against the
real api, worker and redis-server: a 200 only after Redis acknowledged the task; no expiry before
the final write; processing lists that no registered worker owns are found; Redis outages longer
than the stale threshold reap nobody and burn no attempt; a reaper judges each worker by that
worker's own heartbeat setting; WORKER_ID is exclusive across hosts and unique by default; a
server that turned replica (READONLY) is left for the master; a half-open Redis connection is
noticed; a stop gives jobs back without counting an attempt."""
import os
import re
import shutil
import signal
import threading
import time

import pytest

import harness
from harness import wait_until
from queue_support import (PREFIX, exited, finished, finished_after_outage, holder,
                           our_processes, processing, py, sleeper, submit_after_outage, task)
from tcp_proxy import TcpProxy


@pytest.fixture(autouse=True)
def leaves_nothing_behind(redis):
    """After each test (its workers stopped): no process left, no job held by anyone."""
    yield
    wait_until(lambda: not our_processes(redis), timeout=15, what="worker processes to exit")
    assert processing(redis) == {}


def runs_of(worker, tid):
    """How many times the worker's log shows the job starting to run."""
    return len(re.findall(rf"\[{tid}\] running ", worker.proc.output()))


def post_in_thread(api, path, body, timeout=30):
    """POST in a thread; returns (thread, box) with box["answer"] = (status, body) or error."""
    box = {}

    def go():
        try:
            status, data, headers = api.request("POST", path, body, timeout=timeout)
            box["answer"] = (status, data, headers)
            box["at"] = time.monotonic()
        except OSError as e:
            box["answer"] = ("error", repr(e), {})

    t = threading.Thread(target=go)
    t.start()
    return t, box


# ---- 1. a 200 only after Redis acknowledged the enqueue ----

def test_waiting_post_is_not_answered_before_redis_acknowledges(start_api, redis):
    api = start_api(REDIS_TIMEOUT=3)
    # With Redis answering, ?wait without a worker ends in 200 PENDING for a task that exists.
    status, body, _ = api.request("POST", "/run-code?wait=1", py("print(1)"))
    assert status == 200 and body["status"] == "PENDING", body
    assert task(redis, body["task_id"], "status") == "PENDING"
    # Redis stalled: the wait (1 s) must not answer 200; the Redis deadline (3 s) answers 503.
    os.kill(redis.proc.pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        t, box = post_in_thread(api, "/run-code?wait=1", py("print(2)"))
        t2, box2 = post_in_thread(api, "/run-code", py("print(3)"))
        t.join(20)
        t2.join(20)
        status, data, headers = box["answer"]
        assert status == 503, (status, data)
        assert headers.get("Retry-After") == "1"
        assert box["at"] - t0 >= 2.5  # the deadline, not the wait
        assert box2["answer"][0] == 503, box2
    finally:
        os.kill(redis.proc.pid, signal.SIGCONT)
    # Once Redis answers again, so does the api.
    wait_until(lambda: api.request("POST", "/run-code?wait=1", py("print(4)"))[0] == 200,
               timeout=15, what="the api to enqueue again")


def test_waiting_get_is_not_answered_pending_while_redis_is_stalled(start_api, redis):
    api = start_api(REDIS_TIMEOUT=2)
    tid = api.submit(py("print(1)"))
    os.kill(redis.proc.pid, signal.SIGSTOP)
    try:
        status, data, _ = api.request("GET", f"/results/{tid}?wait=1", timeout=20)
        assert status == 503, (status, data)
    finally:
        os.kill(redis.proc.pid, signal.SIGCONT)


# ---- 2. no TTL before the final write ----

def test_task_outlives_result_ttl_while_queued_and_running(start_api, start_worker, redis):
    api = start_api(RESULT_TTL=2)
    tid = api.submit(sleeper(3, "late but here"))
    assert redis.cmd("TTL", f"{PREFIX}task:{tid}") == -1
    time.sleep(3.5)  # queued longer than RESULT_TTL
    assert task(redis, tid, "status") == "PENDING"
    start_worker(RESULT_TTL=2)
    wait_until(lambda: holder(redis, tid), timeout=60, what="the job to run")
    assert redis.cmd("TTL", f"{PREFIX}task:{tid}") == -1  # running: still no expiry
    r = finished(api, tid)
    assert r["status"] == "SUCCESS" and r["result"]["output"] == "late but here\n", r
    assert 0 < redis.cmd("TTL", f"{PREFIX}task:{tid}") <= 2  # expires after the final write
    wait_until(lambda: api.request("GET", f"/results/{tid}")[0] == 404, timeout=10,
               what="the finished task to expire")


# ---- 3. processing lists that no registered worker owns ----

def test_orphaned_processing_list_is_found_and_given_back(api, start_worker, redis):
    # What a host leaves when it dies right after a BLMOVE while unregistered (its supervisor had
    # been reaped as stale): a processing list no heartbeat names.
    tid = api.submit(py("print('found')"))
    redis.cmd("LMOVE", f"{PREFIX}queue", f"{PREFIX}processing:ghost-0", "RIGHT", "LEFT")
    assert redis.cmd("ZSCORE", f"{PREFIX}workers", "ghost-0") is None
    start_worker(HEARTBEAT_INTERVAL=1, ORPHAN_SCAN_INTERVAL=1)
    r = finished(api, tid, timeout=60)
    assert r["status"] == "SUCCESS" and r["result"]["output"] == "found\n", r
    assert task(redis, tid, "attempts") == "1"  # its holder died: that counts
    assert redis.cmd("EXISTS", f"{PREFIX}processing:ghost-0") == 0
    assert redis.cmd("HLEN", f"{PREFIX}orphans") == 0


def test_claim_registers_its_worker(api, start_worker, redis):
    w = start_worker(WORKER_CONCURRENCY=1, HEARTBEAT_INTERVAL=30)
    wid = f"{w.id}-0"
    wait_until(lambda: redis.cmd("ZSCORE", f"{PREFIX}workers", wid), what="the registration")
    redis.cmd("ZREM", f"{PREFIX}workers", wid)  # reaped as stale while alive
    tid = api.submit(sleeper(2, "seen"))
    wait_until(lambda: holder(redis, tid) == wid, timeout=60, what="the job to run")
    deadline = float(redis.cmd("ZSCORE", f"{PREFIX}workers", wid))
    assert deadline > time.time() * 1000  # registered again by the claim, deadline ahead
    assert finished(api, tid)["result"]["output"] == "seen\n"


def test_stalled_supervisor_takes_no_new_job(api, start_worker, redis):
    # A stopped supervisor no longer heartbeats for its worker processes: they must not take
    # jobs they would be presumed dead with.
    a = start_worker(WORKER_CONCURRENCY=1, HEARTBEAT_INTERVAL=1)
    wait_until(lambda: "worker process %s-0 ready" % a.id in a.proc.output(), timeout=30,
               what="a's worker process")
    a.proc.signal(signal.SIGSTOP)
    try:
        time.sleep(6)  # past a's stale threshold (3 x 1 s + 2 s)
        b = start_worker(WORKER_CONCURRENCY=1, HEARTBEAT_INTERVAL=1)
        tids = [api.submit(py(f"print({i})")) for i in range(4)]
        for i, tid in enumerate(tids):
            r = finished(api, tid)
            assert r["status"] == "SUCCESS" and r["result"]["output"] == f"{i}\n", r
            assert task(redis, tid, "attempts") == "0"
            assert runs_of(a, tid) == 0 and runs_of(b, tid) == 1
    finally:
        a.proc.signal(signal.SIGCONT)


# ---- 4. Redis outages longer than the stale threshold ----

@pytest.mark.parametrize("outage", ["stall", "restart"])
def test_long_redis_outage_reaps_no_live_worker(workdir, outage):
    r = harness.Redis(workdir, aof=True)
    api = a = b = None
    try:
        api = harness.Api(workdir, r)
        a = harness.Worker(workdir, r, WORKER_CONCURRENCY=1, HEARTBEAT_INTERVAL=1)
        b = harness.Worker(workdir, r, WORKER_CONCURRENCY=1, HEARTBEAT_INTERVAL=1)
        tids = [api.submit(dict(sleeper(14, f"once {i}"), timeout=25)) for i in range(2)]
        for tid in tids:
            wait_until(lambda: holder(r, tid), timeout=60, what="both jobs to run")
        # Redis away for 8 s, past the stale threshold of 5 s, while both jobs run.
        if outage == "stall":
            os.kill(r.proc.pid, signal.SIGSTOP)
            time.sleep(8)
            os.kill(r.proc.pid, signal.SIGCONT)
        else:
            r.stop()
            time.sleep(8)
            r.start()
        for i, tid in enumerate(tids):
            res = finished_after_outage(api, tid)
            assert res["status"] == "SUCCESS" and res["result"]["output"] == f"once {i}\n", res
            assert task(r, tid, "attempts") == "0"
            assert runs_of(a, tid) + runs_of(b, tid) == 1  # ran exactly once
        assert "gave back" not in a.proc.output() + b.proc.output()
        for w in (a, b):
            assert w.stop() == 0
        api.stop()
        harness.check_clean(api, a, b)
    finally:
        for p in (a, b, api):
            if p:
                p.stop()
        r.stop()


def test_reaper_uses_each_workers_own_threshold(api, start_worker, redis):
    # a beats every 10 s (stale after 32 s); b every second (stale after 5 s). b must judge a
    # by a's setting: a's 12 s job runs once, with no attempt counted.
    a = start_worker(WORKER_CONCURRENCY=1, HEARTBEAT_INTERVAL=10)
    tid = api.submit(dict(sleeper(12, "slow beat"), timeout=20))
    wait_until(lambda: holder(redis, tid) == f"{a.id}-0", timeout=60, what="a to run the job")
    b = start_worker(WORKER_CONCURRENCY=1, HEARTBEAT_INTERVAL=1)
    r = finished(api, tid)
    assert r["status"] == "SUCCESS" and r["result"]["output"] == "slow beat\n", r
    assert task(redis, tid, "attempts") == "0"
    assert runs_of(a, tid) + runs_of(b, tid) == 1
    assert redis.cmd("HGET", f"{PREFIX}worker_stale", f"{a.id}-0") == "32000"
    assert redis.cmd("HGET", f"{PREFIX}worker_stale", f"{b.id}-0") == "5000"


# ---- 5. WORKER_ID exclusive across hosts, unique by default ----

def test_duplicate_worker_id_elsewhere_refuses_to_start(api, start_worker, redis):
    a = start_worker(WORKER_CONCURRENCY=2, HEARTBEAT_INTERVAL=1)
    wait_until(lambda: redis.cmd("GET", f"{PREFIX}owner:{a.id}"), what="a to own its id")
    tids = [api.submit(sleeper(2, f"a{i}")) for i in range(4)]
    # Another host (its own STATE_DIR) with the same WORKER_ID: it watches a's claim being
    # renewed, refuses, and touches nothing of a's.
    b = start_worker(WORKER_ID=a.id, STATE_DIR=a.env["STATE_DIR"] + "-elsewhere",
                     HEARTBEAT_INTERVAL=1)
    b.proc.expected_exit = {1}
    assert exited(b, 30) == 1
    assert "in use by another supervisor" in b.proc.output()
    for i, tid in enumerate(tids):
        r = finished(api, tid)
        assert r["status"] == "SUCCESS" and r["result"]["output"] == f"a{i}\n", r
        assert r["result"]["verdict"] == "ok" and task(redis, tid, "attempts") == "0"
    assert a.proc.alive()


def test_dead_owner_elsewhere_is_taken_over_after_its_claim_expires(api, start_worker, redis):
    a = start_worker(WORKER_CONCURRENCY=1, HEARTBEAT_INTERVAL=1)
    a.child_deaths_expected = True
    tid = api.submit(sleeper(3, "moved"))
    wait_until(lambda: holder(redis, tid), timeout=60, what="the job to run")
    a.proc.kill()  # the host dies; its children die with the supervisor
    t0 = time.monotonic()
    b = start_worker(WORKER_ID=a.id, STATE_DIR=a.env["STATE_DIR"] + "-elsewhere",
                     HEARTBEAT_INTERVAL=1)
    r = finished(api, tid)
    assert r["status"] == "SUCCESS" and r["result"]["output"] == "moved\n", r
    assert task(redis, tid, "attempts") == "1"
    assert time.monotonic() - t0 < 30
    assert "waiting up to" in b.proc.output()


def test_owner_that_lost_its_id_stops_without_touching_jobs(api, start_worker, redis):
    # a is cut off (stopped) past its threshold; b, elsewhere, takes the id over. When a comes
    # back it must find out, kill its processes and leave b's lists alone.
    a = start_worker(WORKER_CONCURRENCY=1, HEARTBEAT_INTERVAL=1)
    a.proc.expected_exit = {1}
    a.child_deaths_expected = True
    wait_until(lambda: "worker process %s-0 ready" % a.id in a.proc.output(), timeout=30,
               what="a's worker process")
    a.proc.signal(signal.SIGSTOP)
    b = start_worker(WORKER_ID=a.id, STATE_DIR=a.env["STATE_DIR"] + "-elsewhere",
                     HEARTBEAT_INTERVAL=1, WORKER_CONCURRENCY=1)
    wait_until(lambda: "owns its WORKER_ID" in b.proc.output(), timeout=30, what="b to take over")
    tids = [api.submit(sleeper(1, f"b{i}")) for i in range(3)]
    a.proc.signal(signal.SIGCONT)
    assert exited(a, 30) == 1
    assert "taken over by another supervisor" in a.proc.output()
    for i, tid in enumerate(tids):
        r = finished(api, tid)
        assert r["status"] == "SUCCESS" and r["result"]["output"] == f"b{i}\n", r
        assert r["result"]["verdict"] == "ok"
    assert b.proc.alive()


def test_default_worker_id_is_unique_and_kept(workdir, redis):
    base = os.path.join("/run/code-runner-test", f"default{os.getpid()}")
    ws = []
    try:
        for d in ("one", "two", "one"):
            env = harness.base_env(redis, STATE_DIR=os.path.join(base, d), WORKER_CONCURRENCY=1)
            env.pop("WORKER_ID", None)
            log = os.path.join(workdir, f"default-{d}-{len(ws)}.log")
            p = harness.Process([os.path.join(harness.BUILD_DIR, "worker")], env, log)
            ws.append(p)
            wait_until(lambda: "owns its WORKER_ID" in p.output(), timeout=30,
                       what="the worker to start")
            if len(ws) == 2:
                ws[0].stop()  # the third reuses one's STATE_DIR after one stopped
        ids = [re.search(r"supervisor (\S+) owns its WORKER_ID", p.output()).group(1) for p in ws]
        host = os.uname().nodename
        assert all(re.fullmatch(re.escape(host) + r"-[0-9a-f]{8}", i) for i in ids), ids
        assert ids[0] != ids[1] and ids[0] == ids[2], ids
    finally:
        for p in ws:
            p.stop()
        shutil.rmtree(base, ignore_errors=True)
    for p in ws:
        assert p.problems() == [], p.output()[-2000:]


# ---- 6. a server that turned replica is left for the master ----

def test_failover_behind_one_address_is_followed(workdir):
    # A managed Redis fails over behind one address: the old master turns replica (READONLY),
    # the address now leads to the promoted one. Existing connections still reach the old one.
    old = harness.Redis(workdir, aof=False)
    new_dir = os.path.join(workdir, "new")
    new = harness.Redis(new_dir, aof=False)
    proxy = TcpProxy(old.port)
    api = w = None
    try:
        new.cmd("REPLICAOF", "127.0.0.1", str(old.port))
        env = {"REDIS_URL": proxy.url}
        api = harness.Api(workdir, old, **env)
        w = harness.Worker(workdir, old, WORKER_CONCURRENCY=1, HEARTBEAT_INTERVAL=1, **env)
        assert finished(api, api.submit(py("print('before')")))["result"]["output"] == "before\n"
        wait_until(lambda: new.cmd("INFO", "replication").find("master_link_status:up") >= 0,
                   what="the replica to sync")
        # Failover: promote the replica, demote the old master, move the address.
        new.cmd("REPLICAOF", "NO", "ONE")
        old.cmd("REPLICAOF", "127.0.0.1", str(new.port))
        proxy.switch(new.port)
        # Both programs leave the old master for the address's new server.
        wait_until(lambda: api.request("GET", "/health")[0] == 200 and
                   api.request("POST", "/run-code", py("print(0)"))[0] == 200,
                   timeout=30, what="the api to reach the new master")
        for i in range(3):
            tid = submit_after_outage(api, py(f"print('after {i}')"))
            r = finished_after_outage(api, tid, timeout=60)
            assert r["status"] == "SUCCESS" and r["result"]["output"] == f"after {i}\n", r
        assert "READONLY" in api.proc.output() or "not a master" in api.proc.output()
        assert w.stop() == 0
        api.stop()
        harness.check_clean(api, w)
    finally:
        for p in (w, api):
            if p:
                p.stop()
        proxy.close()
        old.stop()
        new.stop()


def test_health_is_503_on_a_replica(start_api, redis, workdir):
    api = start_api()
    assert api.request("GET", "/health")[0] == 200
    other = harness.Redis(os.path.join(workdir, "other"))
    try:
        redis.cmd("REPLICAOF", "127.0.0.1", str(other.port))
        wait_until(lambda: api.request("GET", "/health")[0] == 503, timeout=15,
                   what="/health to see the replica")
        status, data, _ = api.request("POST", "/run-code", py("print(1)"))
        assert status == 503, data
        redis.cmd("REPLICAOF", "NO", "ONE")
        wait_until(lambda: api.request("GET", "/health")[0] == 200, timeout=15,
                   what="/health to see a master again")
    finally:
        other.stop()


# ---- 7. a half-open Redis connection ----

def test_half_open_connections_are_noticed(workdir):
    r = harness.Redis(workdir)
    proxy = TcpProxy(r.port)
    api = w = None
    try:
        # The api reaches Redis through the proxy; the worker directly.
        api = harness.Api(workdir, r, REDIS_URL=proxy.url, REDIS_TIMEOUT=2, API_THREADS=1)
        w = harness.Worker(workdir, r, WORKER_CONCURRENCY=1)
        assert finished(api, api.submit(py("print('warm')")))["result"]["output"] == "warm\n"
        tid = api.submit(sleeper(2, "woken"))
        t0 = time.monotonic()
        # A long-poll registered, then every packet on the api's sockets dropped.
        got = {}
        th = threading.Thread(target=lambda: got.update(r=api.request(
            "GET", f"/results/{tid}?wait=25", timeout=40)))
        th.start()
        time.sleep(0.5)
        assert proxy.freeze_existing() == 2  # the command and the subscriber connection
        th.join(40)
        status, body, _ = got["r"]
        assert status == 200 and body["status"] == "SUCCESS", body
        assert body["result"]["output"] == "woken\n"
        assert time.monotonic() - t0 < 12  # noticed within REDIS_TIMEOUT, not the 25 s wait
        wait_until(lambda: api.request("GET", "/health")[0] == 200, timeout=10,
                   what="/health on the new connections")
        assert "given up" in api.proc.output()
        assert w.stop() == 0
        api.stop()
        harness.check_clean(api, w)
    finally:
        for p in (w, api):
            if p:
                p.stop()
        proxy.close()
        r.stop()


# ---- 8. a stop gives jobs back without counting an attempt; MAX_JOB_SECONDS ----

def test_deploys_burn_no_attempt(api, start_worker, redis):
    tid = api.submit(sleeper(6, "deployed"))
    for _ in range(3):  # three deploys, TASK_MAX_ATTEMPTS=1: any counted stop would fail it
        w = start_worker(WORKER_CONCURRENCY=1, WORKER_SHUTDOWN_GRACE=1, TASK_MAX_ATTEMPTS=1)
        wait_until(lambda: holder(redis, tid), timeout=60, what="the job to run")
        w.proc.signal(signal.SIGTERM)
        assert exited(w, 20) == 0
        assert task(redis, tid, "status") == "PENDING" and task(redis, tid, "attempts") == "0"
    w = start_worker(WORKER_CONCURRENCY=1, TASK_MAX_ATTEMPTS=1)
    r = finished(api, tid)
    assert r["status"] == "SUCCESS" and r["result"]["output"] == "deployed\n", r


def test_job_over_max_job_seconds_is_refused(start_api):
    api = start_api(MAX_JOB_SECONDS=60)
    tests = [{"stdin": "", "expected_output": ""}] * 7
    status, body, _ = api.request("POST", "/run-code", py("print()", timeout=10, tests=tests))
    assert status == 400, body
    assert "MAX_JOB_SECONDS" in body["error"] and "70 s" in body["error"], body
    status, body, _ = api.request("POST", "/run-code", py("print()", timeout=10, tests=tests[:6]))
    assert status == 200, body
