"""The remote executor when executor hosts fail, fill up or differ, with real agents in network
namespaces (remote_support.Fleet) and the slot leases in a real Redis.

Checked: a host SIGKILLed mid-job (agent and job processes) -> the job finishes on another host,
is never lost nor left PENDING; a host that hangs (SIGSTOP) is given up after
REMOTE_STALL_TIMEOUT and the job finishes elsewhere; a down host is probed again after
REMOTE_DOWN_RETRY and used again once healthy; attempts are bounded by TASK_MAX_ATTEMPTS (then
FAILURE naming the cause); every slot busy -> the job waits, is woken as soon as a slot frees,
and ends FAILURE naming the wait after IDLE_INSTANCE_WAIT_TIMEOUT; several worker supervisors
never overbook a host (no 503, leases in Redis never above a host's slots); a dead worker
process's lease is freed by its supervisor at once; GET /languages lists what the live hosts
offer, and a language no host offers ends FAILURE at once."""
import os
import re
import signal
import threading
import time

import pytest

import harness
from harness import wait_until
from remote_support import Fleet
from support import worker_leftovers as leftovers

SLEEP = "import time\ntime.sleep({s})\nprint({tok!r})\n"
PREFIX = "test:"


def ran_on(fleet, tid):
    return [a for a in fleet.agents if f"[{tid}] running" in a.proc.output()]


def stamp(log, pattern):
    """Seconds since the epoch of the first log line matching pattern."""
    import datetime
    m = re.search(r"^(\S+)Z \S+ \w+ .*" + pattern, log, re.M)
    assert m, pattern
    return datetime.datetime.fromisoformat(m.group(1)).replace(
        tzinfo=datetime.timezone.utc).timestamp()


def test_host_killed_mid_job(workdir):
    f = Fleet(workdir, "rk", 82, agents=2, agent_env={"WORKER_CONCURRENCY": 1},
              worker_env={"REMOTE_DOWN_RETRY": 2, "REMOTE_PROBE_INTERVAL": 1,
                          "TASK_MAX_ATTEMPTS": 3})
    try:
        tid = f.submit({"language": "python", "code": SLEEP.format(s=3, tok="survivor")})
        wait_until(lambda: ran_on(f, tid), timeout=30, what="the job to start on a host")
        [victim] = ran_on(f, tid)
        victim.proc.kill()  # the agent; its job processes die with it (PDEATHSIG)
        got = f.result(tid)
        assert got["status"] == "SUCCESS" and got["result"]["output"] == "survivor\n", got
        [other] = [a for a in f.agents if a is not victim]
        assert f"[{tid}] running" in other.proc.output()
        assert "attempt 1 of 3" in f.workers[0].proc.output()
        # The host comes back: probed healthy after REMOTE_DOWN_RETRY, then used again.
        f.call(victim.start)
        wait_until(lambda: "healthy again" in f.workers[0].proc.output(), timeout=30,
                   what="the worker to find the host healthy again")
        before = victim.proc.output().count("running python job")
        for k in range(6):
            assert f.run({"language": "python", "code": f"print({k})"})["result"]["output"] == f"{k}\n"
        assert victim.proc.output().count("running python job") > before
    finally:
        f.stop()
    f.check()
    # What the killed job processes left, the restarted ones cleaned up (and the stop the rest).
    assert not leftovers([a.id.replace("-", "_") for a in f.agents],
                         [a.env["STATE_DIR"] for a in f.agents])


def test_hung_host(workdir):
    f = Fleet(workdir, "rh", 83, agents=2, agent_env={"WORKER_CONCURRENCY": 1},
              worker_env={"REMOTE_STALL_TIMEOUT": 2, "REMOTE_DOWN_RETRY": 2,
                          "REMOTE_PROBE_INTERVAL": 1})
    try:
        tid = f.submit({"language": "python", "code": SLEEP.format(s=2, tok="unstuck")})
        wait_until(lambda: ran_on(f, tid), timeout=30, what="the job to start on a host")
        [victim] = ran_on(f, tid)
        victim.proc.signal(signal.SIGSTOP)
        t0 = time.monotonic()
        got = f.result(tid)
        assert got["status"] == "SUCCESS" and got["result"]["output"] == "unstuck\n", got
        assert time.monotonic() - t0 < 15
        assert "sent nothing for 2 s" in f.workers[0].proc.output()
        victim.proc.signal(signal.SIGCONT)
        wait_until(lambda: "healthy again" in f.workers[0].proc.output(), timeout=30,
                   what="the hung host to be found healthy again")
    finally:
        f.stop()
    f.check()


def test_attempts_bounded(workdir):
    f = Fleet(workdir, "ra", 84, agents=1, agent_env={"WORKER_CONCURRENCY": 1},
              worker_env={"TASK_MAX_ATTEMPTS": 1, "IDLE_INSTANCE_WAIT_TIMEOUT": 5})
    try:
        a = f.agents[0]
        a.slot_deaths_expected = True
        tid = f.submit({"language": "python", "code": SLEEP.format(s=20, tok="doomed")})
        wait_until(lambda: ran_on(f, tid), timeout=30, what="the job to start")
        [pid] = f.call(a.job_pids)
        os.kill(pid, signal.SIGKILL)
        got = f.result(tid)
        assert got["status"] == "FAILURE", got
        assert "failed on 1 executor host" in got["result"] and "signal 9" in got["result"], got
    finally:
        f.stop()
    f.check()


def test_busy_wait_wake_and_failure(workdir):
    f = Fleet(workdir, "rb", 85, agents=1, agent_env={"WORKER_CONCURRENCY": 1}, start_worker=False)
    try:
        # Woken by the release, not by the 5 s poll.
        w = f.start_worker(IDLE_INSTANCE_WAIT_TIMEOUT=30, IDLE_INSTANCE_POLL_INTERVAL=5,
                           WORKER_ID="rbw0")
        first = f.submit({"language": "python", "code": SLEEP.format(s=2, tok="first")})
        wait_until(lambda: ran_on(f, first), timeout=30, what="the first job to start")
        second = f.submit({"language": "python", "code": "print('second')"})
        assert f.result(first)["result"]["output"] == "first\n"
        assert f.result(second)["result"]["output"] == "second\n"
        log = f.agents[0].proc.output()
        gap = stamp(log, rf"\[{second}\] running") - stamp(log, rf"\[{first}\] answered")
        assert gap < 1.5, f"the waiting job started {gap:.2f} s after the slot freed"
        assert "waiting for a free executor slot" in w.proc.output()
        w.stop()
        # Every slot busy past IDLE_INSTANCE_WAIT_TIMEOUT: FAILURE that says so.
        f.start_worker(IDLE_INSTANCE_WAIT_TIMEOUT=3, IDLE_INSTANCE_POLL_INTERVAL=1,
                       WORKER_ID="rbw1")
        long = f.submit({"language": "python", "code": SLEEP.format(s=8, tok="long")})
        wait_until(lambda: ran_on(f, long), timeout=30, what="the long job to start")
        t0 = time.monotonic()
        got = f.run({"language": "python", "code": "print('late')"})
        waited = time.monotonic() - t0
        assert got["status"] == "FAILURE", got
        assert "no executor host had a free slot" in got["result"]
        assert "IDLE_INSTANCE_WAIT_TIMEOUT (3 s)" in got["result"]
        assert 2.5 < waited < 10, waited
        assert f.result(long)["result"]["output"] == "long\n"
    finally:
        f.stop()
    f.check()


def test_no_overbooking_across_workers(workdir):
    f = Fleet(workdir, "ro", 86, agents=2, agent_env={"WORKER_CONCURRENCY": 1}, start_worker=False)
    try:
        for k in range(2):
            f.start_worker(WORKER_ID=f"row{k}", WORKER_CONCURRENCY=2)
        peak = {}
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                for h in f.hosts:
                    try:
                        n = f.redis.cmd("ZCARD", f"{PREFIX}remote:slots:http://{h.addr}:8100")
                    except (OSError, RuntimeError):
                        continue
                    peak[h.addr] = max(peak.get(h.addr, 0), n)
                time.sleep(0.05)

        t = threading.Thread(target=lambda: f.call(watch))
        t.start()
        try:
            tids = [f.submit({"language": "python", "code": SLEEP.format(s=1, tok=f"j{k}")})
                    for k in range(8)]
            for k, tid in enumerate(tids):
                got = f.result(tid)
                assert got["status"] == "SUCCESS" and got["result"]["output"] == f"j{k}\n", got
        finally:
            stop.set()
            t.join()
        assert peak and max(peak.values()) == 1, peak  # one slot each: never two leases
        logs = "".join(w.proc.output() for w in f.workers)
        assert "answered 503" not in logs
        assert all("running python job" in a.proc.output() for a in f.agents)
    finally:
        f.stop()
    f.check()


def test_dead_worker_frees_its_lease(workdir):
    f = Fleet(workdir, "rl", 87, agents=1, agent_env={"WORKER_CONCURRENCY": 1},
              worker_env={"WORKER_CONCURRENCY": 1, "HEARTBEAT_INTERVAL": 1})
    try:
        w = f.workers[0]
        w.child_deaths_expected = True
        tid = f.submit({"language": "python", "code": SLEEP.format(s=3, tok="again")})
        wait_until(lambda: ran_on(f, tid), timeout=30, what="the job to start")
        key = f"{PREFIX}remote:slots:http://{f.hosts[0].addr}:8100"
        assert f.call(f.redis.cmd, "ZCARD", key) == 1
        [proc] = [p for p in harness.children(w.proc.pid) if harness.comm(p) == "cr-worker-0"]
        os.kill(proc, signal.SIGKILL)
        wait_until(lambda: f.call(f.redis.cmd, "ZCARD", key) == 0, timeout=5,
                   what="the supervisor to free the dead process's lease")
        assert "freed the slot lease" in w.proc.output()
        got = f.result(tid)  # requeued, run again
        assert got["status"] == "SUCCESS" and got["result"]["output"] == "again\n", got
    finally:
        f.stop()
    f.check()


def test_languages_follow_the_hosts(workdir):
    only = {}
    for name, images in (("py", ["python"]), ("c", ["gcc"])):
        d = os.path.join(workdir, f"images-{name}")
        os.makedirs(d)
        for img in images:
            os.symlink(os.path.join(harness.IMAGES_DIR, img), os.path.join(d, img))
        only[name] = d
    f = Fleet(workdir, "rg", 88, agents=0, start_worker=False)
    try:
        for k, name in enumerate(("py", "c")):
            h = f.net.add(f"g{k}", 21 + k)
            f.hosts.append(h)
            f.call(f.start_agent, h, IMAGES_DIR=only[name])
        f.start_worker(REMOTE_PROBE_INTERVAL=1, REMOTE_DOWN_RETRY=1, IDLE_INSTANCE_WAIT_TIMEOUT=3)

        def offered():
            status, body, _ = f.call(f.api.request, "GET", "/languages")
            assert status == 200, (status, body)
            return sorted(lang["id"] for lang in body["languages"])

        wait_until(lambda: offered() == ["c", "cpp", "python"], timeout=20,
                   what="GET /languages to list what the hosts offer")
        assert f.run({"language": "c", "code": "int main(void){return 0;}"})["status"] == "SUCCESS"
        got = f.run({"language": "go", "code": "package main\nfunc main(){}"})
        assert got["status"] == "FAILURE" and "no executor host offers go" in got["result"], got
        f.agents[1].stop()  # the C host goes away: C is no longer offered
        wait_until(lambda: offered() == ["python"], timeout=20,
                   what="GET /languages to drop what no live host offers")
    finally:
        f.stop()
    f.check()
