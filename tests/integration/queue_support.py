"""Helpers for tests of the reliable queue against the real worker: jobs, and where a task is in
Redis (status, holder, processing lists), the processes a test started."""
import os
import time

import harness

PREFIX = "test:"


def py(code, **extra):
    return dict(language="python", code=code, **extra)


def sleeper(seconds, out="done"):
    return py(f"import time\ntime.sleep({seconds})\nprint({out!r})")


def task(redis, tid, field):
    return redis.cmd("HGET", f"{PREFIX}task:{tid}", field)


def processing(redis):
    """{worker process id: [task ids]} of every non-empty processing list."""
    keys = redis.cmd("KEYS", f"{PREFIX}processing:*") or []
    return {k[len(PREFIX + "processing:"):]: redis.cmd("LRANGE", k, 0, -1) for k in keys}


def holder(redis, tid):
    """The worker process id whose processing list holds tid, once the job is RUNNING."""
    for wid, ids in processing(redis).items():
        if tid in ids and task(redis, tid, "status") == "RUNNING":
            return wid
    return None


children, comm = harness.children, harness.comm


def worker_process(w, wid):
    """The pid of worker process wid ("<WORKER_ID>-<slot>"), a child of supervisor w."""
    slot = wid.rsplit("-", 1)[1]
    for p in children(w.proc.pid):
        if comm(p) == f"cr-worker-{slot}":
            return p
    return None


def our_processes(redis):
    """Pids of processes started for this test (their environment names this test's Redis)."""
    mark = f"REDIS_URL={redis.url}".encode()
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == os.getpid():
            continue
        try:
            with open(f"/proc/{p}/environ", "rb") as f:
                env = f.read().split(b"\0")
            with open(f"/proc/{p}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
        except OSError:
            continue
        if mark in env and not os.readlink(f"/proc/{p}/exe").endswith("redis-server"):
            pids.append(int(p))
    return pids


def submit_after_outage(api, body, timeout=30):
    """api.submit(), through the 503s of an api still reconnecting (as a client retries)."""
    deadline = time.monotonic() + timeout
    while True:
        status, data, _ = api.request("POST", "/run-code", body)
        if status == 200:
            return data["task_id"]
        assert status == 503 and time.monotonic() < deadline, (status, data)
        time.sleep(0.2)


def finished_after_outage(api, tid, timeout=90):
    """finished(), through the 503s an api answers while it reconnects to Redis."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body, _ = api.request("GET", f"/results/{tid}?wait=5")
        if status == 200 and body["status"] != "PENDING":
            return body
        assert status in (200, 503), (status, body)
        if status == 503:
            time.sleep(0.2)
    raise AssertionError(f"task {tid} not finished after {timeout}s")


def finished(api, tid, timeout=90):
    r = api.wait_result(tid, timeout=timeout)
    assert r["status"] in ("SUCCESS", "FAILURE"), r
    return r


def exited(w, timeout):
    try:
        return w.proc.proc.wait(timeout)
    except Exception:
        return None
