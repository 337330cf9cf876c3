"""The worker program end to end (real redis-server, api, worker and sandbox): jobs run, and the
reliable queue keeps its promise when worker processes, the supervisor or Redis die."""
import json
import os
import re
import signal
import time
import uuid

import pytest

import harness
from harness import wait_until
from queue_support import (PREFIX, children, comm, exited, finished, holder, our_processes, processing,
                           py, sleeper, task, worker_process)

@pytest.fixture(autouse=True)
def leaves_nothing_behind(redis):
    """After each test (its workers stopped): no process left, no job held by anyone."""
    yield
    wait_until(lambda: not our_processes(redis), timeout=15, what="worker processes to exit")
    assert processing(redis) == {}


# ---------------------------------------------------------------------------------------------
# Jobs run end to end


def test_print_runs_and_long_poll_returns_result(api, start_worker):
    start_worker()
    tid = api.submit(py("print(42)"))
    r = finished(api, tid)
    assert r["status"] == "SUCCESS", r
    assert r["result"]["output"] == "42\n"
    assert r["result"]["verdict"] == "ok"
    assert r["result"]["exit_code"] == 0

    # A long-poll answers as soon as the job is done, not when its wait runs out.
    tid = api.submit(sleeper(1, "slow"))
    t0 = time.monotonic()
    r = api.result(tid, wait=20)
    assert r["status"] == "SUCCESS" and r["result"]["output"] == "slow\n", r
    assert time.monotonic() - t0 < 15


def test_exception_is_runtime_error(api, start_worker):
    start_worker()
    r = finished(api, api.submit(py("raise ValueError('boom')")))
    assert r["status"] == "SUCCESS", r
    assert r["result"]["verdict"] == "runtime_error"
    assert r["result"]["exit_code"] != 0
    assert "ValueError: boom" in r["result"]["error"]


def test_stdin_and_args_reach_the_program(api, start_worker):
    start_worker()
    code = "import sys\nprint(sys.argv[1:])\nprint(sys.stdin.read().upper(), end='')"
    r = finished(api, api.submit(py(code, stdin="hello\nworld\n", args=["a b", "--x"])))
    assert r["status"] == "SUCCESS", r
    assert r["result"]["output"] == "['a b', '--x']\nHELLO\nWORLD\n"


def test_many_jobs_all_succeed(api, start_worker):
    start_worker(WORKER_CONCURRENCY=8)
    ids = {api.submit(py(f"print({i} * 7)")): i for i in range(200)}
    for tid, i in ids.items():
        r = finished(api, tid, timeout=300)
        assert r["status"] == "SUCCESS", (i, r)
        assert r["result"]["output"] == f"{i * 7}\n", (i, r)


def test_sandbox_is_torn_down_after_the_answer(api, start_worker):
    """The answer is written before the sandbox is torn down, and the teardown still happens:
    no job directory and no workspace mount left, also for a Java job run under its own class
    name (its adapted language copy is kept with the sandbox until the teardown)."""
    w = start_worker()
    java = dict(language="java", code='public class Solution {\n    public static void '
                'main(String[] a) { System.out.println("sol"); }\n}\n')
    for req, out in ((py("print(1)"), "1\n"), (java, "sol\n"), (py("raise SystemExit(2)"), "")):
        r = finished(api, api.submit(req))
        assert r["status"] == "SUCCESS" and r["result"]["output"] == out, r
    state = w.env["STATE_DIR"]

    def nothing_left():
        # what is left is at most the container started ahead for the next job (warm*)
        procs = [os.path.join(state, d) for d in os.listdir(state)]  # one dir per process
        jobs = [j for d in procs if os.path.isdir(d) for j in os.listdir(d)
                if not j.startswith("warm")]
        with open("/proc/self/mountinfo") as f:
            mounts = [line for line in f if f" {state}/" in line and "/warm" not in line]
        return not jobs and not mounts

    wait_until(nothing_left, timeout=15, what="the job sandboxes to be torn down")


# How long before the program its container's PID 1 (cr-init) was made: start times count
# from boot whatever the pid namespace, and exec keeps them.
PID1_AGE = py("import os\nt = lambda p: int(open(p).read().rsplit(')', 1)[1].split()[19])\n"
              "print((t('/proc/self/stat') - t('/proc/1/stat')) / os.sysconf('SC_CLK_TCK'))")


def test_first_container_is_started_ahead(api, start_worker):
    """oci/builtin (the default): after a job, the worker process starts the next job's first
    container in the same image and leaves it waiting; the next job in that image runs in it
    (its PID 1 was made long before the program), a job in another image gets a fresh one; one
    container serves one step only; a stopped worker leaves nothing behind."""
    from support import cgroup_roots
    w = start_worker(WORKER_CONCURRENCY=1)
    state = w.env["STATE_DIR"]

    mine = "cr-" + re.sub(r"[^A-Za-z0-9_.]", "_", f"{w.id}-")  # container ids: sanitized

    def ahead():
        return sorted({d.name for root in cgroup_roots()
                       for d in (root / "code-runner").glob("cr-*warm*") if d.name.startswith(mine)})

    r = finished(api, api.submit(py("print(1)")))
    assert r["status"] == "SUCCESS" and r["result"]["output"] == "1\n", r
    wait_until(lambda: len(ahead()) == 1, timeout=15, what="a container started ahead")
    first = ahead()[0]
    time.sleep(1.5)
    r = finished(api, api.submit(PID1_AGE))
    assert r["status"] == "SUCCESS", r
    assert float(r["result"]["output"]) >= 1.0, r  # the container made before the job
    wait_until(lambda: len(ahead()) == 1 and ahead()[0] != first, timeout=15,
               what="a new container started ahead (one is never used twice)")
    # a job in another image (C: gcc) cannot use the python one: a fresh container
    c_age = dict(language="c", code='#include <stdio.h>\n#include <sys/stat.h>\n'
                 'int main(void){puts("c"); return 0;}\n')
    time.sleep(1.5)
    r = finished(api, api.submit(c_age))
    assert r["status"] == "SUCCESS" and r["result"]["output"] == "c\n", r
    time.sleep(1.5)
    r = finished(api, api.submit(PID1_AGE))  # python again, after a C job: a fresh container
    assert r["status"] == "SUCCESS" and float(r["result"]["output"]) < 1.0, r
    wait_until(lambda: len(ahead()) == 1, timeout=15, what="a container started ahead")
    w.stop()
    assert ahead() == []
    with open("/proc/self/mountinfo") as f:
        assert not [line for line in f if f" {state}/" in line]
    left = [os.path.join(d, j) for d in (os.path.join(state, x) for x in os.listdir(state))
            if os.path.isdir(d) for j in os.listdir(d)] if os.path.isdir(state) else []
    assert left == []


def test_corrupt_request_ends_as_failure(redis, api, start_worker):
    start_worker()
    corrupt, unknown_lang, no_request, expired = (str(uuid.uuid4()) for _ in range(4))
    bad = {
        corrupt: '{"language": "python", "code": ',
        unknown_lang: json.dumps({"language": "cobol-85", "code": "x"}),
        no_request: None,
    }
    for tid, request in bad.items():
        args = ["HSET", f"{PREFIX}task:{tid}", "status", "PENDING", "attempts", 0]
        if request is not None:
            args += ["request", request]
        redis.cmd(*args)
        redis.cmd("LPUSH", f"{PREFIX}queue", tid)
    # An id whose task hash expired is dropped, not run and not kept.
    redis.cmd("LPUSH", f"{PREFIX}queue", expired)
    for tid in bad:
        r = finished(api, tid)
        assert r["status"] == "FAILURE", (tid, r)
        assert r["result"].startswith("invalid stored request"), r
    assert "malformed JSON" in api.result(corrupt)["result"]
    assert "cobol-85" in api.result(unknown_lang)["result"]
    wait_until(lambda: processing(redis) == {} and redis.cmd("LLEN", f"{PREFIX}queue") == 0,
               what="the expired id to be dropped")
    assert redis.cmd("EXISTS", f"{PREFIX}task:{expired}") == 0
    # The worker is still fine afterwards.
    r = finished(api, api.submit(py("print('after')")))
    assert r["result"]["output"] == "after\n"


# ---------------------------------------------------------------------------------------------
# Reliability


def test_killed_worker_process_job_is_requeued(redis, api, start_worker):
    w = start_worker(WORKER_CONCURRENCY=1)
    w.child_deaths_expected = True
    tid = api.submit(sleeper(3, "survived"))
    wid = wait_until(lambda: holder(redis, tid), timeout=60, what="the job to run")
    pid = wait_until(lambda: worker_process(w, wid), what="the worker process")
    os.kill(pid, signal.SIGKILL)
    r = finished(api, tid)
    assert r["status"] == "SUCCESS", r
    assert r["result"]["output"] == "survived\n"
    assert task(redis, tid, "attempts") == "1"
    # The supervisor started a new worker process in its place.
    new = wait_until(lambda: worker_process(w, wid), what="a new worker process")
    assert new != pid
    assert w.proc.alive()


def test_killed_supervisor_jobs_taken_over_by_another_worker(redis, api, start_worker):
    a = start_worker(WORKER_CONCURRENCY=2, HEARTBEAT_INTERVAL=1)
    tids = [api.submit(sleeper(3, f"job{i}")) for i in range(2)]
    for tid in tids:
        wait_until(lambda: holder(redis, tid), timeout=60, what="the jobs to run")
    kids = children(a.proc.pid)
    a.proc.kill()  # SIGKILL the supervisor alone; its children die with it (PDEATHSIG)
    wait_until(lambda: not any(os.path.exists(f"/proc/{p}/stat") and comm(p) for p in kids),
               what="worker processes to die with their supervisor")
    b = start_worker(WORKER_CONCURRENCY=2, HEARTBEAT_INTERVAL=1)  # another WORKER_ID
    for i, tid in enumerate(tids):
        r = finished(api, tid)
        assert r["status"] == "SUCCESS", r
        assert r["result"]["output"] == f"job{i}\n"
        assert task(redis, tid, "attempts") == "1"
        assert task(redis, tid, "worker").startswith(b.id + "-")
    # The dead supervisor's workers are gone from the heartbeat set; restarting it with its own
    # WORKER_ID cleans up whatever its sandboxes left.
    members = redis.cmd("ZRANGE", f"{PREFIX}workers", 0, -1)
    assert not [m for m in members if m.startswith(a.id + "-")], members
    a.start()
    wait_until(lambda: len(children(a.proc.pid)) == 2, what="the restarted supervisor")


def test_restarted_supervisor_requeues_at_once(redis, api, start_worker):
    # A long heartbeat interval: the job must come back through the start-up recovery of the
    # same WORKER_ID, not through the reaper.
    a = start_worker(WORKER_CONCURRENCY=1, HEARTBEAT_INTERVAL=60)
    tid = api.submit(sleeper(3, "again"))
    wait_until(lambda: holder(redis, tid), timeout=60, what="the job to run")
    a.proc.kill()
    t0 = time.monotonic()
    a.start()
    r = finished(api, tid)
    assert r["status"] == "SUCCESS" and r["result"]["output"] == "again\n", r
    assert time.monotonic() - t0 < 60
    assert task(redis, tid, "attempts") == "1"


def test_presumed_dead_worker_loses_its_lease(redis, api, start_worker):
    # Freeze supervisor A (its worker process runs on): its heartbeats stop, B's reaper gives the
    # job back, B runs it; A's late result is dropped because its lease is gone.
    a = start_worker(WORKER_CONCURRENCY=1, HEARTBEAT_INTERVAL=1)
    tid = api.submit(sleeper(7, "once"))
    wid = wait_until(lambda: holder(redis, tid), timeout=60, what="the job to run")
    assert wid.startswith(a.id + "-")
    a.proc.signal(signal.SIGSTOP)
    try:
        b = start_worker(WORKER_CONCURRENCY=1, HEARTBEAT_INTERVAL=1)
        wait_until(lambda: (holder(redis, tid) or "").startswith(b.id + "-"), timeout=30,
                   what="another worker to take the job over")
        wait_until(lambda: "lease lost" in a.proc.output(), timeout=30,
                   what="the first worker to lose its lease")
    finally:
        a.proc.signal(signal.SIGCONT)
    r = finished(api, tid)
    assert r["status"] == "SUCCESS" and r["result"]["output"] == "once\n", r
    assert task(redis, tid, "worker").startswith(b.id + "-")
    assert task(redis, tid, "attempts") == "1"


def test_job_that_kills_its_worker_fails_after_max_attempts(redis, api, start_worker):
    w = start_worker(WORKER_CONCURRENCY=1, TASK_MAX_ATTEMPTS=3)
    w.child_deaths_expected = True
    tid = api.submit(sleeper(30))
    kills = 0
    while True:
        wid = wait_until(lambda: holder(redis, tid) or task(redis, tid, "status") == "FAILURE",
                         timeout=60, what="the job to run again")
        if wid is True:
            break
        assert kills < 3, "the job should have failed by now"
        pid = wait_until(lambda: worker_process(w, wid), what="the worker process")
        os.kill(pid, signal.SIGKILL)
        kills += 1
        wait_until(lambda: task(redis, tid, "attempts") == str(kills), what="the give-back")
    r = finished(api, tid)
    assert kills == 3
    assert r["status"] == "FAILURE", r
    assert r["result"] == "the worker running this job died 3 times; giving up"
    assert redis.cmd("LLEN", f"{PREFIX}queue") == 0
    # Other jobs still run.
    r = finished(api, api.submit(py("print(1)")))
    assert r["status"] == "SUCCESS"


def test_sigterm_drains_running_jobs(redis, api, start_worker):
    w = start_worker(WORKER_CONCURRENCY=1, WORKER_SHUTDOWN_GRACE=30)
    running = api.submit(sleeper(2, "drained"))
    wait_until(lambda: holder(redis, running), timeout=60, what="the job to run")
    queued = api.submit(py("print('later')"))
    w.proc.signal(signal.SIGTERM)
    assert exited(w, 30) == 0
    r = api.result(running)
    assert r["status"] == "SUCCESS" and r["result"]["output"] == "drained\n", r
    # The job that had not started is still queued, untouched, for the next worker.
    assert redis.cmd("LRANGE", f"{PREFIX}queue", 0, -1) == [queued]
    assert task(redis, queued, "status") == "PENDING"
    assert task(redis, queued, "attempts") == "0"
    assert redis.cmd("ZRANGE", f"{PREFIX}workers", 0, -1) == []
    start_worker()
    assert finished(api, queued)["result"]["output"] == "later\n"


def test_grace_over_and_sighup_kill_and_requeue(redis, api, start_worker):
    # A stop is the system's doing, not the program's: the job goes back to the queue (first in
    # line) without counting an attempt, however many deploys it meets (TASK_MAX_ATTEMPTS=2).
    w = start_worker(WORKER_CONCURRENCY=1, WORKER_SHUTDOWN_GRACE=1, TASK_MAX_ATTEMPTS=2)
    tid = api.submit(sleeper(4, "second try"))
    wait_until(lambda: holder(redis, tid), timeout=60, what="the job to run")
    t0 = time.monotonic()
    w.proc.signal(signal.SIGTERM)  # grace 1 s < 4 s: killed and given back
    assert exited(w, 20) == 0
    assert time.monotonic() - t0 < 10
    assert task(redis, tid, "status") == "PENDING"
    assert task(redis, tid, "attempts") == "0"
    assert redis.cmd("LRANGE", f"{PREFIX}queue", 0, -1) == [tid]
    assert "without counting an attempt" in w.proc.output()

    for _ in range(2):
        w2 = start_worker(WORKER_CONCURRENCY=1, TASK_MAX_ATTEMPTS=2)
        wait_until(lambda: holder(redis, tid), timeout=60, what="the job to run again")
        w2.proc.signal(signal.SIGHUP)  # fast stop
        assert exited(w2, 10) == 0
        assert task(redis, tid, "status") == "PENDING"
        assert task(redis, tid, "attempts") == "0"

    start_worker(WORKER_CONCURRENCY=1)
    r = finished(api, tid)
    assert r["status"] == "SUCCESS" and r["result"]["output"] == "second try\n", r


def test_second_supervisor_with_same_id_refuses(start_worker):
    a = start_worker()
    wait_until(lambda: len(children(a.proc.pid)) == 2, what="the first supervisor")
    b = start_worker(WORKER_ID=a.id, STATE_DIR=a.env["STATE_DIR"])
    b.proc.expected_exit = {1}
    assert exited(b, 10) == 1
    assert "already running" in b.proc.output()
    assert a.proc.alive()


def test_redis_restart_under_running_worker(workdir):
    r = harness.Redis(workdir, aof=True)
    api = w = None
    try:
        api = harness.Api(workdir, r)
        w = harness.Worker(workdir, r, WORKER_CONCURRENCY=2, HEARTBEAT_INTERVAL=1)
        assert finished(api, api.submit(py("print('before')")))["result"]["output"] == "before\n"
        # A job running while Redis goes away writes its result once Redis is back.
        tid = api.submit(sleeper(3, "across"))
        wait_until(lambda: holder(r, tid), timeout=60, what="the job to run")
        r.stop()
        time.sleep(4)
        r.start()
        # The api answers 503 until it has reconnected, as clients are told to retry.
        wait_until(lambda: api.request("GET", "/health")[0] == 200, what="the api to reconnect")
        r2 = finished(api, tid)
        assert r2["status"] == "SUCCESS" and r2["result"]["output"] == "across\n", r2
        for i in range(5):
            out = finished(api, api.submit(py(f"print({i})")))
            assert out["status"] == "SUCCESS" and out["result"]["output"] == f"{i}\n", out
        assert w.proc.alive()
        assert w.stop() == 0
        api.stop()
        harness.check_clean(api, w)
        wait_until(lambda: not our_processes(r), timeout=15, what="worker processes to exit")
        assert processing(r) == {}
    finally:
        if w:
            w.stop()
        if api:
            api.stop()
        r.stop()


def test_warns_when_redis_may_evict(redis, start_worker):
    redis.cmd("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
    w = start_worker()
    wait_until(lambda: "not 'noeviction'" in w.proc.output(), what="the eviction warning")
