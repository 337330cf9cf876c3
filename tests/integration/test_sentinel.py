"""Redis under Sentinel (Debian's redis-server and redis-sentinel, on loopback): the api and the
worker find the master through the sentinels, follow a failover (the master killed, or a switch
the sentinels order), and a 200 means the enqueue is on a replica (WAIT): a replica that cannot
acknowledge gives 503, never 200."""
import signal
import threading
import time

import pytest

import harness
from harness import wait_until
from queue_support import finished_after_outage, py, submit_after_outage
from sentinel_support import Group


@pytest.fixture
def group(workdir):
    g = Group(workdir)
    yield g
    g.stop()


def start(workdir, group, **env):
    """The api and a worker that know only the sentinels (REDIS_URL points nowhere useful)."""
    common = dict(REDIS_URL="redis://127.0.0.1:1/0", REDIS_SENTINELS=group.endpoints,
                  REDIS_MASTER_NAME="mymaster", **env)
    master = group.master()
    api = harness.Api(workdir, master, **common)
    w = harness.Worker(workdir, master, WORKER_CONCURRENCY=2, HEARTBEAT_INTERVAL=1, **common)
    return api, w


def test_master_killed_nothing_acknowledged_is_lost(workdir, group):
    api, w = start(workdir, group)
    try:
        wait_until(lambda: api.request("GET", "/health")[0] == 200, timeout=20,
                   what="the api to find the master")
        accepted, stop = [], threading.Event()

        def submit():
            i = 0
            while not stop.is_set():
                status, body, _ = api.request("POST", "/run-code", py(f"print({i})"))
                if status == 200:
                    accepted.append((body["task_id"], i))
                else:
                    assert status == 503, (status, body)
                    time.sleep(0.05)
                i += 1

        t = threading.Thread(target=submit)
        t.start()
        time.sleep(2)
        old = group.master()
        old.kill()  # SIGKILL: sentinels promote the replica
        new = group.wait_failover(old)
        time.sleep(1)
        old.start()  # comes back; the sentinels make it the new master's replica
        group.wait_synced()
        time.sleep(2)
        stop.set()
        t.join(30)
        assert len(accepted) > 20, len(accepted)
        for tid, i in accepted:  # every 200 ends with its own output, on the new master
            r = finished_after_outage(api, tid, timeout=120)
            assert r["status"] == "SUCCESS" and r["result"]["output"] == f"{i}\n", (tid, r)
        assert new.cmd("HGET", f"test:task:{accepted[-1][0]}", "status") == "SUCCESS"
        # Both programs follow: the old master is a replica now.
        assert old.role() == "slave"
        assert w.stop() == 0
        api.stop()
        harness.check_clean(api, w)
    finally:
        w.stop()
        api.stop()


def test_switch_ordered_by_sentinels_is_followed_at_once(workdir, group):
    api, w = start(workdir, group)
    try:
        tid = submit_after_outage(api, py("print('before')"))
        assert finished_after_outage(api, tid)["result"]["output"] == "before\n"
        old = group.master()
        group.sentinels[0].cmd("SENTINEL", "failover", "mymaster")  # no fault: a planned switch
        new = group.wait_failover(old)
        wait_until(lambda: "sentinel reports a failover" in api.proc.output(), timeout=20,
                   what="the api to hear +switch-master")
        group.wait_synced()
        for i in range(3):
            tid = submit_after_outage(api, py(f"print('after {i}')"))
            r = finished_after_outage(api, tid, timeout=60)
            assert r["status"] == "SUCCESS" and r["result"]["output"] == f"after {i}\n", r
            assert new.cmd("HGET", f"test:task:{tid}", "status") == "SUCCESS"
        assert w.stop() == 0
        api.stop()
        harness.check_clean(api, w)
    finally:
        w.stop()
        api.stop()


def test_unreplicated_enqueue_is_503_not_200(workdir, group):
    api, w = start(workdir, group, REDIS_TIMEOUT=2)
    try:
        submit_after_outage(api, py("print(1)"))
        replica = group.replica()
        replica.signal(signal.SIGSTOP)  # it cannot acknowledge: WAIT times out (1 s)
        try:
            t0 = time.monotonic()
            status, body, headers = api.request("POST", "/run-code", py("print(2)"))
            assert status == 503 and "replicated" in body["error"], (status, body)
            assert headers.get("Retry-After") == "1"
            assert time.monotonic() - t0 < 5
        finally:
            replica.signal(signal.SIGCONT)
        tid = submit_after_outage(api, py("print(3)"))
        assert finished_after_outage(api, tid)["result"]["output"] == "3\n"
        assert w.stop() == 0
        api.stop()
        harness.check_clean(api, w)
    finally:
        w.stop()
        api.stop()


def test_without_wait_when_told(workdir, group):
    # REDIS_MIN_REPLICAS_ACK=0: the enqueue is answered as soon as the master holds it.
    api, w = start(workdir, group, REDIS_MIN_REPLICAS_ACK=0)
    try:
        replica = group.replica()
        replica.signal(signal.SIGSTOP)
        try:
            tid = submit_after_outage(api, py("print('no wait')"))
            assert finished_after_outage(api, tid)["result"]["output"] == "no wait\n"
        finally:
            replica.signal(signal.SIGCONT)
        assert w.stop() == 0
        api.stop()
        harness.check_clean(api, w)
    finally:
        w.stop()
        api.stop()
