#!/usr/bin/env python3
"""Soak: steady load on the real api, worker and Redis for SOAK_SECONDS (default 300), sampling
the resident memory of the api, the worker supervisor, its worker processes and Redis every
SOAK_SAMPLE seconds, then saying whether each stayed flat (mean of the last quarter of the
samples against the first quarter). Not part of CI; run by hand after a build:

    tests/soak/soak.py                      # 5 minutes
    SOAK_SECONDS=3600 SOAK_CLIENTS=8 tests/soak/soak.py

Environment: SOAK_SECONDS, SOAK_SAMPLE (5), SOAK_CLIENTS (4 submitting threads),
SOAK_CONCURRENCY (2 worker processes), SOAK_GROWTH_PCT (10) and SOAK_GROWTH_MIB (4): a process
is "flat" when its last-quarter mean is within max(GROWTH_PCT %, GROWTH_MIB MiB) of its
first-quarter mean. CR_BUILD_DIR picks the binaries (default build/). Exit status 1 when
something grew or jobs failed."""
import http.client
import json
import os
import random
import statistics
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness  # noqa: E402

SECONDS = float(os.environ.get("SOAK_SECONDS", "300"))
SAMPLE = float(os.environ.get("SOAK_SAMPLE", "5"))
CLIENTS = int(os.environ.get("SOAK_CLIENTS", "4"))
CONCURRENCY = int(os.environ.get("SOAK_CONCURRENCY", "2"))
GROWTH_PCT = float(os.environ.get("SOAK_GROWTH_PCT", "10"))
GROWTH_MIB = float(os.environ.get("SOAK_GROWTH_MIB", "4"))


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def worker_processes(sup_pid):
    pids = []
    try:
        for t in os.listdir(f"/proc/{sup_pid}/task"):
            with open(f"/proc/{sup_pid}/task/{t}/children") as f:
                for p in f.read().split():
                    try:
                        with open(f"/proc/{p}/comm") as c:
                            if c.read().startswith("cr-worker-"):
                                pids.append(int(p))
                    except OSError:
                        pass
    except OSError:
        pass
    return pids


def job(rng):
    token = uuid.uuid4().hex
    kind = rng.choice(["print", "print", "raise", "stdin", "big_output"])
    if kind == "print":
        return {"language": "python", "code": f"print({token!r})"}, token
    if kind == "raise":
        return {"language": "python", "code": f"raise ValueError({token!r})"}, token
    if kind == "stdin":
        return {"language": "python", "code": "import sys; print(sys.stdin.read())",
                "stdin": token}, token
    return {"language": "python", "code": f"print({token!r}); print('x' * 200000)"}, token


def main():
    workdir = harness.make_workdir()
    redis = harness.Redis(workdir, aof=True)
    api = harness.Api(workdir, redis, LOG_LEVEL="info")
    worker = harness.Worker(workdir, redis, WORKER_CONCURRENCY=CONCURRENCY, LOG_LEVEL="info")
    stop = threading.Event()
    counts = {"done": 0, "bad": 0, "errors": 0}
    lock = threading.Lock()

    def client(n):
        rng = random.Random(n)
        while not stop.is_set():
            body, token = job(rng)
            try:
                c = http.client.HTTPConnection("127.0.0.1", api.port, timeout=60)
                c.request("POST", "/run-code?wait=30", json.dumps(body),
                          {"Content-Type": "application/json"})
                r = c.getresponse()
                data = json.loads(r.read())
                c.close()
                if data.get("status") == "PENDING":
                    data = api.wait_result(data["task_id"], timeout=120)
                res = data.get("result") or {}
                ok = data.get("status") == "SUCCESS" and token in (res.get("output", "") +
                                                                    res.get("error", ""))
                with lock:
                    counts["done" if ok else "bad"] += 1
            except Exception:  # noqa: BLE001 - counted, the soak goes on
                with lock:
                    counts["errors"] += 1
                time.sleep(1)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(CLIENTS)]
    samples = {"api": [], "supervisor": [], "worker processes": [], "redis": []}
    t0 = time.monotonic()
    try:
        for t in threads:
            t.start()
        print(f"soak: {SECONDS:.0f} s, {CLIENTS} clients, {CONCURRENCY} worker processes; "
              f"sampling every {SAMPLE:.0f} s")
        while time.monotonic() - t0 < SECONDS:
            time.sleep(SAMPLE)
            row = {"api": rss_kib(api.proc.pid), "supervisor": rss_kib(worker.proc.pid),
                   "worker processes": sum(rss_kib(p) for p in worker_processes(worker.proc.pid)),
                   "redis": rss_kib(redis.proc.pid)}
            for k, v in row.items():
                samples[k].append(v)
            print(f"  {time.monotonic() - t0:6.0f} s  jobs {counts['done']:6d}  " +
                  "  ".join(f"{k} {v / 1024:.1f} MiB" for k, v in row.items()), flush=True)
    finally:
        stop.set()
        for t in threads:
            t.join(70)
        worker.stop()
        api.stop()
        redis.stop()
        harness.remove_workdir(workdir)

    elapsed = time.monotonic() - t0
    print(f"soak: {counts['done']} jobs right ({counts['done'] / elapsed:.1f}/s), "
          f"{counts['bad']} wrong, {counts['errors']} client errors")
    grew = []
    for k, v in samples.items():
        q = max(1, len(v) // 4)
        first, last = statistics.mean(v[:q]), statistics.mean(v[-q:])
        limit = max(first * GROWTH_PCT / 100, GROWTH_MIB * 1024)
        flat = last - first <= limit
        judged = k != "redis"  # Redis holds every result for RESULT_TTL: it grows by design
        if judged and not flat:
            grew.append(k)
        verdict = ("flat" if flat else "GREW") if judged else "(results kept RESULT_TTL; not judged)"
        print(f"soak: {k:17s} first quarter {first / 1024:7.1f} MiB, last quarter "
              f"{last / 1024:7.1f} MiB, max {max(v) / 1024:7.1f} MiB: {verdict}")
    ok = not grew and counts["bad"] == 0 and counts["done"] > 0
    print("soak: " + ("PASS" if ok else f"FAIL (grew: {grew or 'none'}, wrong: {counts['bad']})"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
