"""The remote section of tests/bench/run.sh: the remote executor's cost, measured beside the local
oci executor in the same run, on test hosts in network namespaces (tests/integration/netns.py: a
bridge of its own, no route off the machine). A worker host runs Redis, two apis (two key
prefixes: one for a local oci/builtin worker, one for a remote worker) and both workers; three
executor hosts run an agent each (oci/builtin, 4 slots). Measured, python print(1):
  latency   POST ?wait=30 one at a time, local and remote alternately: p50, p99, and the p50
            difference (the remote hop: lease, HTTP round trip, release); with 1 and 3 hosts
  throughput  the same batch through each (WORKER_CONCURRENCY=4 on both sides), local before and
            after the remote runs; the ratio remote/local
Everything runs on this machine's cores, the agents' sandboxes included: the remote figures say
what the hop costs, not what more hosts would add."""
import os
import statistics
import time

import netns

TOKEN = "bench-token-" + "5" * 24
INDEX = 71  # 10.71.0.0/24


def remote_section(b, M, rep):
    """b: the bench module (spawn, stop, Http, batch_ours...); returns the section's figures."""
    net = netns.Network("bn", index=INDEX)
    started = []
    try:
        w = net.add("w", 2)
        hosts = [net.add(f"e{k}", 11 + k) for k in range(3)]
        return netns.run_in(w, _measure, b, M, rep, w, hosts, started)
    finally:
        for p in reversed(started):
            b.stop(p, 30)
        net.close()
        _tidy()


def _tidy():
    """The state directories of our workers and agents (lock files), unless still mounted."""
    import shutil
    base = "/run/code-runner-bench"
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split()[4] for line in f]
    for name in ("benchlocal", "benchremote1", "benchremote3", "benchagent0", "benchagent1",
                 "benchagent2"):
        d = os.path.join(base, name)
        if not any(m.startswith(d + "/") for m in mounts):
            shutil.rmtree(d, ignore_errors=True)


class _Api:
    def __init__(self, b, w, port, prefix, started, **env):
        self.port = port
        e = _env(b, prefix, API_HOST="127.0.0.1", API_PORT=port, MAX_QUEUE_LENGTH=1 << 30,
                 CLIENT_TIMEOUT=120, **env)
        self.proc = b.spawn(f"api-{prefix[:-1]}", w.prefix + [os.path.join(b.BUILD, "api")], e)
        started.append(self.proc)
        b.wait_until(lambda: b.http_json(port, "GET", "/health")[0] == 200, 15, "api /health")


def _env(b, prefix, **extra):
    env = dict(os.environ)
    env.update({"REDIS_URL": _env.redis_url, "REDIS_PREFIX": prefix,
                "LANGUAGES_FILE": os.path.join(b.ROOT, "images", "languages.json"),
                "IMAGES_DIR": b.IMAGES_DIR, "LOG_LEVEL": "warn"})
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _worker(b, w, prefix, wid, started, **env):
    e = _env(b, prefix, WORKER_ID=wid, STATE_DIR=f"/run/code-runner-bench/{wid}",
             WORKER_SHUTDOWN_GRACE=10, WORKER_CONCURRENCY=4, **env)
    p = b.spawn(f"worker-{wid}", w.prefix + [os.path.join(b.BUILD, "worker")], e)
    started.append(p)
    b.wait_until(lambda: len([c for c in b.children_of(p.pid)
                              if b.comm(c).startswith("cr-worker")]) >= 4 or p.poll() is not None,
                 15, "worker processes")
    if p.poll() is not None:
        raise RuntimeError(f"worker {wid} exited; see {b.WORK}/worker-{wid}.log")
    return p


def _kids_rss(b, p):
    return [b.rss_kib(c) for c in b.children_of(p.pid) if b.comm(c).startswith("cr-worker")]


def _latency(b, ports, n):
    """Alternating one-at-a-time jobs through each api: p50/p99 per port, and the task ids."""
    hs = {k: b.Http(port) for k, port in ports.items()}
    times = {k: [] for k in ports}
    ids = {k: [] for k in ports}
    for k, h in hs.items():  # warm-up: images, connections, containers started ahead
        for _ in range(3):
            st, body = h.req("POST", "/run-code?wait=30", b.PY_BODY)
            if not b.job_ok(body, "1\n"):
                raise RuntimeError(f"{k} warm-up: {st} {str(body)[:300]}")
    keys = list(ports)
    for i in range(n):
        for k in (keys if i % 2 == 0 else keys[::-1]):
            t0 = time.perf_counter()
            st, body = hs[k].req("POST", "/run-code?wait=30", b.PY_BODY)
            dt = time.perf_counter() - t0
            if not b.job_ok(body, "1\n"):
                raise RuntimeError(f"{k}: {st} {str(body)[:300]}")
            times[k].append(dt)
            ids[k].append(body.get("task_id"))
    for h in hs.values():
        h.close()
    return {k: {"p50_ms": b.ms(b.pct(v, .5)), "p99_ms": b.ms(b.pct(v, .99))}
            for k, v in times.items()}, ids


def _hop(b, worker_log, agent_logs, ids):
    """The hop per job, from the logs: the worker's "job ran in" (lease, HTTP call, answer,
    release) less the agent's "answered in" (from the request's arrival to its answer), both in
    whole ms (so the mean is the finer figure)."""
    import re
    def times(paths, what):
        out = {}
        for path in paths:
            with open(path, errors="replace") as f:
                for m in re.finditer(r"\[([0-9a-f-]{36})\] " + what + r" in (\d+) ms", f.read()):
                    out[m.group(1)] = int(m.group(2))
        return out
    w = times([worker_log], "job ran")
    a = times(agent_logs, "answered")
    d = [w[i] - a[i] for i in ids if i in w and i in a]
    if not d:
        return None
    return {"n": len(d), "p50_ms": b.pct(d, .5), "mean_ms": round(statistics.mean(d), 2)}


def _measure(b, M, rep, w, hosts, started):
    out = {"hosts": len(hosts), "slots_per_host": 4, "concurrency": 4}
    rport = b.free_port()
    d = os.path.join(b.WORK, "redis-remote")
    os.makedirs(d, exist_ok=True)
    started.append(b.spawn("redis-remote", w.prefix + [
        "redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--dir", d, "--save", "",
        "--appendonly", "no", "--protected-mode", "no"]))
    redis = b.RespConn(rport)
    b.wait_until(lambda: redis.cmd("PING") == "PONG", 10, "redis PING")
    _env.redis_url = f"redis://127.0.0.1:{rport}/0"
    for k, h in enumerate(hosts):
        env = _env(b, "agent:", EXECUTOR_LISTEN=f"{h.addr}:8100", EXECUTOR_AUTH_TOKEN=TOKEN,
                   WORKER_CONCURRENCY=4, WORKER_ID=f"benchagent{k}", LOG_LEVEL="info",
                   STATE_DIR=f"/run/code-runner-bench/benchagent{k}")
        started.append(b.spawn(f"agent-e{k}", h.prefix + [os.path.join(b.BUILD, "worker"),
                                                          "--serve"], env))
    for h in hosts:
        def healthy(addr=h.addr):
            import http.client
            c = http.client.HTTPConnection(addr, 8100, timeout=2)
            try:
                c.request("GET", "/health")
                return c.getresponse().status == 200
            finally:
                c.close()
        b.wait_until(healthy, 60, f"agent on {h.addr}")
    local_api = _Api(b, w, b.free_port(), "local:", started)
    remote_api = _Api(b, w, b.free_port(), "remote:", started, EXECUTOR="remote")
    local = _worker(b, w, "local:", "benchlocal", started, EXECUTOR="oci", OCI_RUNTIME="builtin")
    urls = [f"http://{h.addr}:8100" for h in hosts]
    n_lat, n_tput = M["lat_py"], M["tput"]
    for count in (1, len(hosts)):
        say = b.say
        say(f"remote: {count} executor host(s)")
        remote = _worker(b, w, "remote:", f"benchremote{count}", started, EXECUTOR="remote",
                         REMOTE_EXECUTORS=",".join(urls[:count]), EXECUTOR_AUTH_TOKEN=TOKEN,
                         LOG_LEVEL="info")
        lat, ids = _latency(b, {"local": local_api.port, "remote": remote_api.port}, n_lat)
        lp, rp = lat["local"]["p50_ms"], lat["remote"]["p50_ms"]
        hop = _hop(b, os.path.join(b.WORK, f"worker-benchremote{count}.log"),
                   [os.path.join(b.WORK, f"agent-e{k}.log") for k in range(len(hosts))],
                   ids["remote"])
        entry = {"latency": {**lat, "n": n_lat, "added_p50_ms": round(rp - lp, 2),
                             "ratio_p50": b.ratio(rp, lp),
                             "ratio_p99": b.ratio(lat["remote"]["p99_ms"], lat["local"]["p99_ms"]),
                             "hop_from_logs": hop}}
        say(f"  latency p50: local {lp} ms, remote {rp} ms ({round(rp - lp, 2):+} ms); "
            f"the hop from the logs: {hop}")
        b.batch_ours(local_api, 8)
        b.batch_ours(remote_api, 8)
        l1, _, _ = b.batch_ours(local_api, n_tput)
        r_rate, bad, _ = b.batch_ours(remote_api, n_tput)
        l2, _, _ = b.batch_ours(local_api, n_tput)
        ref = statistics.mean([l1, l2])
        entry["throughput"] = {"n": n_tput, "local_jobs_s_before": round(l1, 2),
                               "local_jobs_s_after": round(l2, 2), "local_jobs_s": round(ref, 2),
                               "remote_jobs_s": round(r_rate, 2), "ratio": b.ratio(r_rate, ref),
                               "failures": len(bad)}
        say(f"  throughput: local {l1:.1f}/{l2:.1f} jobs/s, remote {r_rate:.1f} jobs/s")
        entry["memory_kib"] = {"remote_worker_processes": _kids_rss(b, remote),
                               "local_worker_processes": _kids_rss(b, local)}
        out[f"hosts_{count}"] = entry
        b.stop(remote, 30)
        started.remove(remote)
    return out


def table_lines(b, r):
    """The section's lines of the bench table."""
    L = ["", "7. Remote executor (EXECUTOR=remote) vs local oci/builtin, same run, python print(1);"
         " the agents' sandboxes on this machine's cores too"]
    if r.get("error"):
        return L + [f"  ERROR {r['error'][:200]}"]
    row = "{:<44} {:>14} {:>14} {:>9}"
    L.append(row.format("", "remote", "local", "ratio"))
    for k in (1, r.get("hosts", 3)):
        e = r.get(f"hosts_{k}")
        if not e:
            continue
        la, tp = e["latency"], e["throughput"]
        L.append(row.format(f"  {k} host(s): latency p50|p99 (n={la['n']})",
                            f"{b.fmt(la['remote']['p50_ms'])}|{b.fmt(la['remote']['p99_ms'])}ms",
                            f"{b.fmt(la['local']['p50_ms'])}|{b.fmt(la['local']['p99_ms'])}ms",
                            f"{b.fmt(la['ratio_p50'])}x"))
        hop = la.get("hop_from_logs") or {}
        L.append(f"      remote - local at p50: {la['added_p50_ms']} ms; the hop per job from the "
                 f"logs (worker's job time - agent's): p50 {hop.get('p50_ms')} ms, mean "
                 f"{hop.get('mean_ms')} ms (n={hop.get('n')})")
        L.append(row.format(f"  {k} host(s): throughput jobs/s ({tp['n']} jobs)",
                            b.fmt(tp["remote_jobs_s"]), b.fmt(tp["local_jobs_s"]),
                            f"{b.fmt(tp['ratio'])}x"))
        m = e.get("memory_kib", {})
        L.append(f"      (local before/after {tp['local_jobs_s_before']}/{tp['local_jobs_s_after']}; "
                 f"failures {tp['failures']}; worker process VmRSS KiB remote "
                 f"{m.get('remote_worker_processes')}, local {m.get('local_worker_processes')})")
    return L
