#!/usr/bin/env python3
"""The benchmark driver behind tests/bench/run.sh: starts its own redis-server, api and worker
(Release build) on free loopback ports, measures each section against a reference run right beside
it, prints a table and writes out/bench.json. Standard library only; every child is started in its
own session, recorded in WORKDIR/pids and stopped by pid (run.sh's trap is the backstop)."""
import argparse
import concurrent.futures
import http.client
import json
import math
import os
import platform
import queue
import re
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402  the /proc helpers and RESP reader of the test harness
import remote_bench  # noqa: E402  section 7 (tests/bench/remote_bench.py)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HERE = os.path.join(ROOT, "tests", "bench")
BUILD = os.environ.get("CR_BENCH_BUILD", os.path.join(ROOT, "build-bench"))
IMAGES_DIR = os.environ.get("IMAGES_DIR", "/var/lib/code-runner/images")
SEED_SRC = os.environ.get("SEED_DIR", "/work/shared/anchors/seedstack")
PREFIX = "bench:"
PY_BODY = {"language": "python", "code": "print(1)"}
C_SRC = '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n'
C_BODY = {"language": "c", "code": C_SRC}

# The executors a run can measure (--executors), as worker environments.
EXECUTORS = {
    "oci/builtin": {"EXECUTOR": "oci", "OCI_RUNTIME": "builtin"},
    "oci/runc": {"EXECUTOR": "oci", "OCI_RUNTIME": "runc"},
    "oci/runsc": {"EXECUTOR": "oci", "OCI_RUNTIME": "runsc"},
    "docker": {"EXECUTOR": "docker"},
    "docker/runsc": {"EXECUTOR": "docker", "DOCKER_RUNTIME": "runsc"},
}
# The one the targets are about ("the OCI backend" with its default runtime, which the
# worker starts itself): throughput, the seed comparison, the scale drain, CPU per job, targets.
PRIMARY = "oci/builtin"
# The runtime whose bundle (config.json) section 1b takes apart; builtin writes no bundle.
BUNDLE_EXECUTOR = "oci/runc"
DEFAULT_EXECUTORS = "oci/builtin,oci/runc,oci/runsc,docker"

# Counts per mode. quick is for iterating on the harness, not for figures.
MODES = {
    "full": dict(lat_py=60, lat_c=50, tput=500, api_d=10, api_rep=3, seed_lat=30, seed_tput=200,
                 scale_n=100000, drain_s=60, hold=10000, probe=200, wtg_reps=25, sess_run=60,
                 sess_new=60, sess_idle=500),
    "quick": dict(lat_py=15, lat_c=8, tput=100, api_d=4, api_rep=1, seed_lat=8, seed_tput=40,
                  scale_n=10000, drain_s=15, hold=2000, probe=100, wtg_reps=6, sess_run=15,
                  sess_new=15, sess_idle=100),
}

WORK = None          # temporary directory (set in main)
CHILDREN = []        # Popen objects we started, newest last
LOG = sys.stderr


def say(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=LOG, flush=True)


# ---------------------------------------------------------------- processes ----

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(name, argv, env=None, cwd=None):
    log = open(os.path.join(WORK, f"{name}.log"), "ab")
    p = subprocess.Popen(argv, env=env, cwd=cwd or WORK, stdout=log, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()
    p.bench_name = name
    CHILDREN.append(p)
    with open(os.path.join(WORK, "pids"), "a") as f:
        f.write(f"{p.pid}\n")
    return p


def stop(p, timeout=40):
    """SIGTERM the pid, wait; SIGKILL its process group if it does not exit in time."""
    if p is None:
        return
    if p.poll() is None:
        try:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            say(f"{p.bench_name} ({p.pid}) ignored SIGTERM for {timeout}s, killing its group")
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
    if p in CHILDREN:
        CHILDREN.remove(p)


def stop_all():
    for p in reversed(list(CHILDREN)):
        stop(p, 20)


def wait_until(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if pred():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"timed out after {timeout}s waiting for {what}")


def rss_kib(pid, field="VmRSS"):
    """VmRSS (or another /proc/PID/status field, e.g. RssAnon: private pages) in KiB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_s(pid):
    """(own, reaped children) CPU seconds of pid."""
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    t = os.sysconf("SC_CLK_TCK")
    return (int(f[11]) + int(f[12])) / t, (int(f[13]) + int(f[14])) / t


def children_of(pid):
    return harness.children(pid)


def comm(pid):
    return harness.comm(pid) or "?"


def tree_rss_kib(pid):
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss_kib(p)
        todo += children_of(p)
    return total


# ---------------------------------------------------------------- redis ----

class RespConn:
    """A one-connection RESP client of the redis-server on a loopback port."""

    def __init__(self, port):
        self.port, self.sock = port, None

    def cmd(self, *args):
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
            self.f = self.sock.makefile("rb")
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        try:
            self.sock.sendall(out)
            return harness.read_resp(self.f)
        except OSError:
            self.sock = None
            raise


class Redis(RespConn):
    """Our own redis-server (foreground, so its pid is ours) and a client of it."""

    def __init__(self):
        super().__init__(free_port())
        d = os.path.join(WORK, "redis")
        os.makedirs(d, exist_ok=True)
        self.proc = spawn("redis", ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                    "--dir", d, "--save", "", "--appendonly", "no",
                                    "--protected-mode", "no", "--maxmemory-policy", "noeviction"])
        wait_until(lambda: self.cmd("PING") == "PONG", 10, "redis PING")

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def info_int(self, section, field):
        for line in self.cmd("INFO", section).splitlines():
            if line.startswith(field + ":"):
                return int(line.split(":")[1])
        return 0


# ---------------------------------------------------------------- ours ----

def base_env(redis, **extra):
    env = dict(os.environ)
    env.update({"REDIS_URL": redis.url, "REDIS_PREFIX": PREFIX,
                "LANGUAGES_FILE": os.path.join(ROOT, "images", "languages.json"),
                "IMAGES_DIR": IMAGES_DIR, "LOG_LEVEL": "warn"})
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Api:
    def __init__(self, redis, **extra):
        self.port = free_port()
        env = base_env(redis, API_HOST="127.0.0.1", API_PORT=self.port,
                       MAX_QUEUE_LENGTH=1 << 30, CLIENT_TIMEOUT=120, **extra)
        self.proc = spawn("api", [os.path.join(BUILD, "api")], env)
        wait_until(lambda: http_json(self.port, "GET", "/health")[0] == 200, 15, "api /health")

    @property
    def pid(self):
        return self.proc.pid


class Worker:
    def __init__(self, redis, n, **env):
        wid = f"bench{free_port()}"
        env.setdefault("EXECUTOR", "oci")
        self.label = env.get("EXECUTOR") + ("/" + env.get("OCI_RUNTIME", "builtin")
                                            if env["EXECUTOR"] == "oci" else "")
        self.env = base_env(redis, WORKER_CONCURRENCY=n, WORKER_ID=wid,
                            STATE_DIR=f"/run/code-runner-bench/{wid}", WORKER_SHUTDOWN_GRACE=10,
                            **env)
        self.proc = spawn(f"worker-{wid}", [os.path.join(BUILD, "worker")], self.env)
        self.n = n
        wait_until(lambda: len(self.children()) >= n or self.proc.poll() is not None, 15,
                   "worker processes")
        if self.proc.poll() is not None:
            raise RuntimeError(f"worker ({self.label}) exited; see {WORK}/worker-{wid}.log")

    def children(self):
        return [c for c in children_of(self.proc.pid) if comm(c).startswith("cr-worker")]

    def rss(self, field="VmRSS"):
        """(supervisor KiB, [worker process KiB...]) — the worker's own processes only; the
        containers (runtime, cr-init, the sandboxed program), runc and docker are not counted."""
        return rss_kib(self.proc.pid, field), [rss_kib(c, field) for c in self.children()]

    def stop(self):
        stop(self.proc, 30)
        # Its STATE_DIR (lock file, empty per-process dirs), unless something is still mounted.
        d = self.env["STATE_DIR"]
        with open("/proc/self/mountinfo") as f:
            busy = any(line.split()[4].startswith(d + "/") for line in f)
        if not busy:
            shutil.rmtree(d, ignore_errors=True)
            try:
                os.rmdir(os.path.dirname(d))
            except OSError:
                pass


class Http:
    """A keep-alive HTTP/1.1 client connection (reconnects when the server closed it)."""

    def __init__(self, port, timeout=60):
        self.port, self.timeout, self.c = port, timeout, None

    def req(self, method, path, body=None):
        for attempt in (0, 1):
            if self.c is None:
                self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                data = json.dumps(body) if isinstance(body, dict) else body
                self.c.request(method, path, body=data,
                               headers={"Content-Type": "application/json"} if data else {})
                r = self.c.getresponse()
                raw = r.read()
                try:
                    return r.status, json.loads(raw)
                except ValueError:
                    return r.status, raw.decode(errors="replace")
            except (http.client.HTTPException, OSError):
                self.c.close()
                self.c = None
                if attempt:
                    raise

    def close(self):
        if self.c:
            self.c.close()


def http_json(port, method, path, body=None, timeout=10):
    h = Http(port, timeout)
    try:
        return h.req(method, path, body)
    finally:
        h.close()


# ---------------------------------------------------------------- stats ----

def pct(xs, q):
    if not xs:
        return None
    s = sorted(xs)
    return s[max(0, min(len(s) - 1, math.ceil(q * len(s)) - 1))]


def ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


def ms(x):
    return None if x is None else round(x * 1000, 2)


def run_bare(argv_list, cwd):
    t0 = time.perf_counter()
    for argv in argv_list:
        subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=True)
    return time.perf_counter() - t0


# ---------------------------------------------------------------- section 1 ----

def job_ok(body, expect):
    return (isinstance(body, dict) and body.get("status") == "SUCCESS"
            and isinstance(body.get("result"), dict) and body["result"].get("output") == expect)


def latency_section(api, redis, M, executors, rep):
    out = {}
    cdir = os.path.join(WORK, "bare-c")
    os.makedirs(cdir, exist_ok=True)
    with open(os.path.join(cdir, "hello.c"), "w") as f:
        f.write(C_SRC)
    bare_py = [["/usr/bin/python3", "-c", "print(1)"]]
    bare_c = [["gcc", "-O2", "-std=gnu17", "-pipe", "-o", "x", "hello.c", "-lm"], ["./x"]]
    for label, env in executors:
        say(f"latency: {label}")
        w = None
        entry = out.setdefault(label, {})
        try:
            w = Worker(redis, 2, **env)
            rep["memory"].setdefault("worker_idle", {})[label] = w.rss()
            rep["memory"].setdefault("worker_idle_anon", {})[label] = w.rss("RssAnon")
            h = Http(api.port)
            for lang, body, expect, n, bare in (("python", PY_BODY, "1\n", M["lat_py"], bare_py),
                                               ("c", C_BODY, "hello\n", M["lat_c"], bare_c)):
                for _ in range(3):  # warm-up: page cache, image, cgroup paths
                    st, b = h.req("POST", "/run-code?wait=30", body)
                    if not job_ok(b, expect):
                        raise RuntimeError(f"{label} {lang} warm-up failed: {st} {str(b)[:300]}")
                ours, ref, inner, first_id = [], [], [], None
                for i in range(n):
                    order = (0, 1) if i % 2 == 0 else (1, 0)
                    for which in order:
                        if which == 0:
                            t0 = time.perf_counter()
                            st, b = h.req("POST", "/run-code?wait=30", body)
                            dt = time.perf_counter() - t0
                            if not job_ok(b, expect):
                                raise RuntimeError(f"{label} {lang}: {st} {str(b)[:300]}")
                            ours.append(dt)
                            inner.append(b["result"].get("wall_ms") or 0)
                            first_id = first_id or b.get("task_id")
                        else:
                            ref.append(run_bare(bare, cdir))
                entry[lang] = {
                    "n": n, "ours_p50_ms": ms(pct(ours, .5)), "ours_p99_ms": ms(pct(ours, .99)),
                    "bare_p50_ms": ms(pct(ref, .5)), "bare_p99_ms": ms(pct(ref, .99)),
                    "ratio_p50": ratio(pct(ours, .5), pct(ref, .5)),
                    "ratio_p99": ratio(pct(ours, .99), pct(ref, .99)),
                    "ours_p99_over_p50": ratio(pct(ours, .99), pct(ours, .5)),
                    "result_wall_ms_p50": pct(inner, .5),
                }
                if lang == "python" and (label == PRIMARY or not rep.get("finished_id")):
                    rep["finished_id"] = first_id
                say(f"  {lang}: ours p50 {entry[lang]['ours_p50_ms']} ms, bare p50 "
                    f"{entry[lang]['bare_p50_ms']} ms")
            if label.startswith("oci/"):  # docker's containers run under dockerd, not ours
                rep.setdefault("cpu_per_job", {})[label] = cpu_per_job(api, redis, w, h,
                                                                       M["lat_py"])
            if label == BUNDLE_EXECUTOR:
                rep["bundle_config"] = capture_config(w, h)
            h.close()
            rep["memory"].setdefault("worker_after_latency", {})[label] = w.rss()
            rep["memory"].setdefault("worker_after_latency_anon", {})[label] = w.rss("RssAnon")
        except Exception as e:  # one executor failing must not lose the others
            say(f"latency {label}: {e}")
            entry["error"] = str(e)[:500]
        finally:
            if w:
                w.stop()
    return out


SANDBOX_CPU = "sandbox (reaped by the worker processes)"


def cpu_per_job(api, redis, w, h, n):
    """CPU milliseconds per python print(1) job (one at a time) by process: the api, redis, the
    worker processes (own), and what they reaped, from /proc/PID/stat (utime+stime, and
    cutime+cstime of the worker processes). A worker process is a child subreaper and reaps every
    container it ran, so its cutime/cstime is the sandbox's CPU: for builtin (no runtime process)
    the child it cloned (set-up, then cr-init) with the program cr-init reaped; for runc also
    `runc run --detach`, `runc init` and `runc delete`; for runsc whatever of its sandbox is
    reparented to the worker process."""
    procs = {"api": api.pid, "redis": redis.proc.pid, "worker supervisor": w.proc.pid}
    kids = w.children()
    before = {k: cpu_s(p) for k, p in procs.items()}
    kb = [cpu_s(k) for k in kids]
    c0 = os.times()
    for _ in range(n):
        st, b = h.req("POST", "/run-code?wait=30", PY_BODY)
        if not job_ok(b, "1\n"):
            raise RuntimeError(f"{w.label} cpu per job: {st} {str(b)[:300]}")
    c1 = os.times()
    after = {k: cpu_s(p) for k, p in procs.items()}
    ka = [cpu_s(k) for k in kids]
    out = {k: round((after[k][0] - before[k][0]) / n * 1000, 2) for k in procs}
    out["worker processes (own)"] = round(sum(a[0] - b[0] for a, b in zip(ka, kb)) / n * 1000, 2)
    out[SANDBOX_CPU] = round(sum(a[1] - b[1] for a, b in zip(ka, kb)) / n * 1000, 2)
    out["total (without the bench client)"] = round(sum(out.values()), 2)
    out["bench client"] = round(((c1.user + c1.system) - (c0.user + c0.system)) / n * 1000, 2)
    out["n"] = n
    return out


def capture_config(w, h):
    """A runc step bundle's config.json, copied while a sleeping job runs (for where_time_goes).
    w must run a runtime that writes bundles (not builtin)."""
    st, b = h.req("POST", "/run-code", {"language": "python", "code": "import time; time.sleep(3)"})
    state = w.env["STATE_DIR"]
    end, found = time.monotonic() + 6, None
    while time.monotonic() < end and not found:
        for dp, dns, fns in os.walk(state):
            if "config.json" in fns:
                found = os.path.join(dp, "config.json")
                break
        time.sleep(0.05)
    dst = os.path.join(WORK, "config.json")
    if found:
        shutil.copy(found, dst)
    h.req("GET", f"/results/{b['task_id']}?wait=30")
    return dst if found else None


def profile_section(api, redis, rep, M):
    """where_time_goes.py on a runc bundle captured from our own job (the latency section's
    oci/runc worker, or a worker started here for it when oci/runc was not measured). The builtin
    runtime writes no bundle: for it the report shows the latency section's CPU per job."""
    cfgp = rep.get("bundle_config")
    if not cfgp or not os.path.exists(cfgp):
        say(f"profile: capturing a bundle from an {BUNDLE_EXECUTOR} job")
        w = h = None
        try:
            w = Worker(redis, 1, **EXECUTORS[BUNDLE_EXECUTOR])
            h = Http(api.port)
            cfgp = rep["bundle_config"] = capture_config(w, h)
        except Exception as e:
            return {"executor": BUNDLE_EXECUTOR, "error": f"capturing a bundle: {str(e)[:300]}"}
        finally:
            if h:
                h.close()
            if w:
                w.stop()
        if not cfgp:
            return {"executor": BUNDLE_EXECUTOR, "error": "no config.json seen in STATE_DIR"}
    sys.path.insert(0, HERE)
    import where_time_goes
    rows = where_time_goes.measure(json.load(open(cfgp)), M["wtg_reps"])
    base = statistics.median(rows["bare python"])
    return {"executor": BUNDLE_EXECUTOR, "reps": M["wtg_reps"],
            "parts": {k: {"p50_ms": ms(statistics.median(v)),
                          "x_bare_python": ratio(statistics.median(v), base)}
                      for k, v in rows.items()}}


# ---------------------------------------------------------------- section 2 ----

def batch_ours(api, n, pollers=4):
    """Submit n print(1) jobs from one keep-alive connection while `pollers` threads long-poll
    GET /results/{id}?wait=30 in submission order. Returns (jobs/s, failures)."""
    ids = queue.Queue()
    done_at, bad = [], []
    lock = threading.Lock()

    def poll():
        h = Http(api.port, 40)
        while True:
            tid = ids.get()
            if tid is None:
                break
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                st, b = h.req("GET", f"/results/{tid}?wait=30")
                if isinstance(b, dict) and b.get("status") != "PENDING":
                    break
            t = time.perf_counter()
            with lock:
                done_at.append(t)
                if not job_ok(b, "1\n"):
                    bad.append(str(b)[:200])
        h.close()

    th = [threading.Thread(target=poll, daemon=True) for _ in range(pollers)]
    for t in th:
        t.start()
    h = Http(api.port)
    t0 = time.perf_counter()
    for _ in range(n):
        st, b = h.req("POST", "/run-code", PY_BODY)
        if st != 200:
            raise RuntimeError(f"submit: {st} {b}")
        ids.put(b["task_id"])
    t_sub = time.perf_counter() - t0
    for _ in th:
        ids.put(None)
    for t in th:
        t.join(300)
    h.close()
    if len(done_at) != n:
        raise RuntimeError(f"only {len(done_at)}/{n} jobs finished")
    return n / (max(done_at) - t0), bad, n / t_sub


def batch_bare(n, par=4):
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(par) as ex:
        list(ex.map(lambda _: run_bare([["/usr/bin/python3", "-c", "print(1)"]], WORK), range(n)))
    return n / (time.perf_counter() - t0)


def sample_rss(w, stop_ev, peaks):
    while not stop_ev.is_set():
        sup, kids = w.rss()
        peaks["supervisor"] = max(peaks.get("supervisor", 0), sup)
        peaks["worker_max"] = max([peaks.get("worker_max", 0)] + kids)
        stop_ev.wait(0.1)


def throughput_section(api, redis, M, rep, label=PRIMARY):
    n = M["tput"]
    say(f"throughput: {n} jobs, WORKER_CONCURRENCY=4, {label}")
    w = Worker(redis, 4, **EXECUTORS[label])
    try:
        batch_ours(api, 8)  # warm-up
        b1 = batch_bare(n)
        peaks, ev = {}, threading.Event()
        th = threading.Thread(target=sample_rss, args=(w, ev, peaks), daemon=True)
        th.start()
        r0 = redis_load(redis)
        ours, bad, sub_rate = batch_ours(api, n)
        r1 = redis_load(redis)
        ev.set()
        th.join()
        b2 = batch_bare(n)
        if label == PRIMARY:
            rep["memory"]["worker_peak_during_throughput"] = peaks
            rep["memory"]["worker_after_throughput"] = w.rss()
        ref = statistics.mean([b1, b2])
        say(f"  ours {ours:.1f} jobs/s, bare {b1:.1f}/{b2:.1f} jobs/s")
        # What each job costs Redis (everything the api, worker and clients asked of it, the
        # polls included): how many jobs a second one Redis core carries, against the job rate
        # of one core of this fleet.
        cpu_ms = (r1["cpu_s"] - r0["cpu_s"]) * 1000 / n
        cores = os.cpu_count() or 1
        redis_cost = {"cpu_ms_per_job": round(cpu_ms, 4),
                      "commands_per_job": round((r1["commands"] - r0["commands"]) / n, 1),
                      "jobs_s_one_redis_core": round(1000 / cpu_ms) if cpu_ms > 0 else None,
                      "jobs_s_per_fleet_core": round(ours / cores, 2)}
        if cpu_ms > 0:
            redis_cost["fleet_cores_to_fill_one_redis_core"] = round((1000 / cpu_ms) /
                                                                     (ours / cores))
        return {"executor": label, "n": n, "ours_jobs_s": round(ours, 2),
                "redis_cost": redis_cost,
                "bare_jobs_s_before": round(b1, 2), "bare_jobs_s_after": round(b2, 2),
                "bare_jobs_s": round(ref, 2),
                "ratio": ratio(ours, ref), "failures": len(bad), "failure_sample": bad[:3],
                "submit_rate_req_s": round(sub_rate, 1)}
    finally:
        w.stop()


def redis_load(redis):
    """Redis's CPU time (user + sys, its main thread and the rest) and commands so far."""
    info = redis.cmd("INFO", "all")
    vals = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    return {"cpu_s": float(vals["used_cpu_user"]) + float(vals["used_cpu_sys"]),
            "commands": int(vals["total_commands_processed"])}


# ---------------------------------------------------------------- section 3 ----

def wrk(url, d, lua=None, conns=64, env=None, timeout_extra=30):
    argv = ["wrk", "-t1", f"-c{conns}", f"-d{d}s", "--latency", "--timeout", "10s"]
    if lua:
        argv += ["-s", lua]
    argv.append(url)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=d + timeout_extra,
                       env=env)
    o = r.stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", o)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", o)
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)\b", o)
    total = re.search(r"(\d+) requests in", o)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", o)
    errs = re.search(r"Socket errors: (.*)", o)

    def conv(mm):
        if not mm:
            return None
        v, u = float(mm.group(1)), mm.group(2)
        return round(v / 1000 if u == "us" else v * 1000 if u == "s" else v, 3)

    if not m:
        raise RuntimeError(f"wrk failed: {o[-500:]} {r.stderr[-500:]}")
    return {"req_s": float(m.group(1)), "p50_ms": conv(p50), "p99_ms": conv(p99),
            "requests": int(total.group(1)) if total else None,
            "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": errs.group(1).strip() if errs else None}


def redis_bench(redis, n, args, rand=None):
    argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(redis.port), "-c", "64", "-n", str(n),
            "--csv"]
    if rand:
        argv += ["-r", str(rand)]
    r = subprocess.run(argv + args, capture_output=True, text=True, timeout=120)
    rows = [l for l in r.stdout.splitlines() if l.startswith('"') and not l.startswith('"test"')]
    if not rows:
        raise RuntimeError(f"redis-benchmark failed: {r.stdout[-300:]} {r.stderr[-300:]}")
    f = [x.strip('"') for x in rows[-1].split('","')]  # the test name may hold quotes: from the end
    return {"req_s": float(f[-7]), "p50_ms": float(f[-4]), "p99_ms": float(f[-2]), "requests": n}


def enqueue_script():
    """SCRIPT_ENQUEUE exactly as common/redis_model.c has it (the C string literals joined)."""
    src = open(os.path.join(ROOT, "common", "redis_model.c")).read()
    body = src.split("SCRIPT_ENQUEUE =", 1)[1].split(";\n", 1)[0]
    lits = re.findall(r'"((?:[^"\\]|\\.)*)"', body)
    return "".join(bytes(l, "utf-8").decode("unicode_escape") for l in lits)


def write_lua(name, text):
    p = os.path.join(WORK, name)
    with open(p, "w") as f:
        f.write(text)
    return p


POST_LUA = """wrk.method = "POST"
wrk.body = '{"language":"python","code":"print(1)"}'
wrk.headers["Content-Type"] = "application/json"
local limit = tonumber(os.getenv("BENCH_LIMIT") or "0")
local n = 0
response = function(status, headers, body)
  n = n + 1
  if limit > 0 and n >= limit then wrk.thread:stop() end
end
"""


def median_of(runs, key):
    return statistics.median([r[key] for r in runs if r.get(key) is not None] or [0])


def api_section(api, redis, M, rep):
    d, R = M["api_d"], M["api_rep"]
    post_lua = write_lua("post.lua", POST_LUA)
    base = f"http://127.0.0.1:{api.port}"
    out = {}
    # GET /results/{finished id} against HMGET of the same hash (what the api asks Redis).
    tid = rep.get("finished_id")
    if not tid:
        h = Http(api.port)
        tid = h.req("POST", "/run-code", PY_BODY)[1]["task_id"]
        h.close()
    say(f"api: GET /results ({R}x{d}s) vs redis-benchmark HMGET")
    ours, ref = [], []
    for _ in range(R):
        ours.append(wrk(f"{base}/results/{tid}", d))
        ref.append(redis_bench(redis, 300000 if d >= 8 else 100000,
                               ["HMGET", f"{PREFIX}task:{tid}", "status", "result"]))
    out["results"] = {"task_state": redis.cmd("HGET", f"{PREFIX}task:{tid}", "status"),
                      "ours_runs": ours, "ref_runs": ref}
    # POST /run-code (no worker) against EVALSHA of the api's own enqueue script.
    script = enqueue_script()
    sha = redis.cmd("SCRIPT", "LOAD", script)
    h = Http(api.port)
    probe = h.req("POST", "/run-code", PY_BODY)[1]["task_id"]
    h.close()
    req_json = redis.cmd("HGET", f"{PREFIX}task:{probe}", "request")
    say(f"api: POST /run-code ({R}x{d}s) vs redis-benchmark EVALSHA enqueue "
        f"(request JSON {len(req_json)} B)")
    ours, ref = [], []
    for _ in range(R):
        redis.cmd("FLUSHDB")
        ours.append(wrk(f"{base}/run-code", d, lua=post_lua))
        ours[-1]["queued"] = redis.cmd("LLEN", f"{PREFIX}queue")
        redis.cmd("FLUSHDB")
        redis.cmd("SCRIPT", "LOAD", script)
        ref.append(redis_bench(redis, 400000 if d >= 8 else 150000, [
            "EVALSHA", sha, "2", f"{PREFIX}task:00000000-0000-4000-8000-__rand_int__",
            f"{PREFIX}queue", "00000000-0000-4000-8000-__rand_int__", req_json,
            str(int(time.time() * 1000)), str(1 << 30)], rand=10 ** 11))
        ref[-1]["queued"] = redis.cmd("LLEN", f"{PREFIX}queue")
    redis.cmd("FLUSHDB")
    out["enqueue"] = {"script_sha": sha, "ours_runs": ours, "ref_runs": ref}
    for k in ("results", "enqueue"):
        s = out[k]
        for who in ("ours", "ref"):
            s[f"{who}_req_s"] = round(median_of(s[f"{who}_runs"], "req_s"), 1)
            s[f"{who}_p99_ms"] = round(median_of(s[f"{who}_runs"], "p99_ms"), 3)
        s["ratio_req_s"] = ratio(s["ours_req_s"], s["ref_req_s"])
        say(f"  {k}: ours {s['ours_req_s']} req/s, redis-benchmark {s['ref_req_s']} req/s")
    rep["memory"]["api_after_wrk"] = rss_kib(api.pid)
    return out


# ---------------------------------------------------------------- section 4 ----

class Seed:
    """The seed stack, copied to WORK/seedstack (its run.sh writes .run/ next to itself)."""

    def __init__(self):
        self.dir = os.path.join(WORK, "seedstack")
        if not os.path.exists(self.dir):
            shutil.copytree(SEED_SRC, self.dir, ignore=shutil.ignore_patterns("out", ".run"))
            for dp, dns, fns in os.walk(self.dir):
                os.chmod(dp, 0o755)
                for fn in fns:
                    os.chmod(os.path.join(dp, fn), 0o755)
        self.redis_port, self.api_port = free_port(), free_port()
        self.env = dict(os.environ, REDIS_PORT=str(self.redis_port), API_PORT=str(self.api_port),
                        CELERY_CONCURRENCY="4",
                        IMAGE_PYTHON=os.environ.get("SEED_IMAGE", "code-runner/python:latest"))
        self.env.pop("REDIS_URL", None)

    def run(self, *args, timeout=120):
        r = subprocess.run([os.path.join(self.dir, "run.sh"), *args], env=self.env, cwd=self.dir,
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"seed run.sh {' '.join(args)}: {r.stdout[-400:]} {r.stderr[-400:]}")
        return r.stdout

    def pid(self, name):
        try:
            return int(open(os.path.join(self.dir, ".run", f"{name}.pid")).read())
        except (OSError, ValueError):
            return None

    def stop(self):
        try:
            self.run("stop", timeout=90)
        except Exception as e:
            say(f"seed stop: {e}")


def replication_section(redis, M, rep):
    """What "acknowledged means replicated" costs: POST /run-code (no worker) through an api that
    WAITs for one replica, against the same api that does not, in the same run, on one Redis with
    one replica on loopback (the WAIT round trip is the replication link's: a LAN adds its own)."""
    d, R = M["api_d"], M["api_rep"]
    rdir = os.path.join(WORK, "replica")
    os.makedirs(rdir, exist_ok=True)
    rport = free_port()
    replica = spawn("replica", ["redis-server", "--port", str(rport), "--bind", "127.0.0.1",
                                "--dir", rdir, "--save", "", "--appendonly", "no",
                                "--protected-mode", "no", "--replicaof", "127.0.0.1",
                                str(redis.port)])
    out = {}
    apis = []
    try:
        rconn = RespConn(rport)

        def synced():
            try:
                return "master_link_status:up" in rconn.cmd("INFO", "replication")
            except OSError:
                return False
        wait_until(synced, 30, "the replica to sync")
        post_lua = write_lua("post-repl.lua", POST_LUA)
        for ack in (0, 1):
            api = Api(redis, REDIS_MIN_REPLICAS_ACK=ack)
            apis.append(api)
            say(f"replication: POST /run-code with REDIS_MIN_REPLICAS_ACK={ack} ({R}x{d}s)")
            runs = []
            for _ in range(R):
                redis.cmd("FLUSHDB")
                runs.append(wrk(f"http://127.0.0.1:{api.port}/run-code", d, lua=post_lua))
            redis.cmd("FLUSHDB")
            p50 = probe_p50(api.port, 300, "POST", "/run-code", PY_BODY)
            redis.cmd("FLUSHDB")
            out[f"ack{ack}"] = {"req_s": round(median_of(runs, "req_s"), 1),
                                "p99_ms": round(median_of(runs, "p99_ms"), 3),
                                "single_p50_ms": p50, "runs": runs}
        out["ratio_req_s"] = ratio(out["ack1"]["req_s"], out["ack0"]["req_s"])
        out["added_p50_ms"] = round(out["ack1"]["single_p50_ms"] - out["ack0"]["single_p50_ms"], 3)
    finally:
        for api in apis:
            stop(api.proc)
        stop(replica)
    return out


def seed_single(port, n):
    """The seed's own method: submit, poll GET every 10 ms until SUCCESS."""
    h, lat = Http(port), []
    for _ in range(n):
        t0 = time.perf_counter()
        st, b = h.req("POST", "/run-code", PY_BODY)
        tid = b["task_id"]
        while True:
            st, b = h.req("GET", f"/results/{tid}")
            if b.get("status") != "PENDING":
                break
            if time.perf_counter() - t0 > 60:
                raise RuntimeError("seed job did not finish in 60 s")
            time.sleep(0.01)
        if b.get("status") != "SUCCESS":
            raise RuntimeError(f"seed job: {b}")
        lat.append(time.perf_counter() - t0)
        time.sleep(0.05)
    h.close()
    return lat


def seed_batch(port, n):
    """Submit n jobs (one keep-alive connection), then poll in submission order: only the oldest
    unfinished id, every 100 ms (light polling, the seed's best case). jobs/s to last SUCCESS."""
    h = Http(port)
    t0 = time.perf_counter()
    ids = [h.req("POST", "/run-code", PY_BODY)[1]["task_id"] for _ in range(n)]
    last, bad = None, 0
    for tid in ids:
        while True:
            st, b = h.req("GET", f"/results/{tid}")
            if b.get("status") != "PENDING":
                break
            if time.perf_counter() - t0 > 300:
                raise RuntimeError("seed batch did not finish in 300 s")
            time.sleep(0.1)
        bad += b.get("status") != "SUCCESS"
        last = time.perf_counter()
    h.close()
    return n / (last - t0), bad


def seed_section(api, redis, M, rep):
    d, R = M["api_d"], M["api_rep"]
    post_lua = write_lua("post.lua", POST_LUA)
    seed = Seed()
    out = {"image": seed.env["IMAGE_PYTHON"], "ours": PRIMARY}
    w = None
    try:
        say("seed: starting its redis and api (worker stopped)")
        seed.run("start-redis")
        seed.run("start-api")
        out["rss_idle_kib"] = {"api": tree_rss_kib(seed.pid("api"))}
        ours, theirs = [], []
        for _ in range(R):
            redis.cmd("FLUSHDB")
            ours.append(wrk(f"http://127.0.0.1:{api.port}/run-code", d, lua=post_lua))
            seed.run("flush")
            theirs.append(wrk(f"http://127.0.0.1:{seed.api_port}/run-code", d, lua=post_lua))
        redis.cmd("FLUSHDB")
        seed.run("flush")
        out["enqueue"] = {"ours_runs": ours, "seed_runs": theirs,
                          "ours_req_s": round(median_of(ours, "req_s"), 1),
                          "seed_req_s": round(median_of(theirs, "req_s"), 1)}
        out["enqueue"]["ratio"] = ratio(out["enqueue"]["ours_req_s"], out["enqueue"]["seed_req_s"])
        say(f"  enqueue: ours {out['enqueue']['ours_req_s']} req/s, seed "
            f"{out['enqueue']['seed_req_s']} req/s")
        out["rss_after_wrk_kib"] = {"api": tree_rss_kib(seed.pid("api"))}

        say(f"seed: starting its celery worker (concurrency 4); ours ({PRIMARY}) with "
            "WORKER_CONCURRENCY=4")
        seed.run("start-worker", timeout=120)
        out["rss_idle_kib"]["worker_tree"] = tree_rss_kib(seed.pid("worker"))
        w = Worker(redis, 4, **EXECUTORS[PRIMARY])
        h = Http(api.port)
        seed_single(seed.api_port, 2)  # warm-up
        for _ in range(2):
            h.req("POST", "/run-code?wait=30", PY_BODY)
        n = M["seed_lat"]
        mine, theirs = [], []
        for i in range(n):
            t0 = time.perf_counter()
            st, b = h.req("POST", "/run-code?wait=30", PY_BODY)
            if not job_ok(b, "1\n"):
                raise RuntimeError(f"ours: {b}")
            mine.append(time.perf_counter() - t0)
            theirs += seed_single(seed.api_port, 1)
        h.close()
        out["latency"] = {"n": n, "ours_p50_ms": ms(pct(mine, .5)), "ours_p99_ms": ms(pct(mine, .99)),
                          "seed_p50_ms": ms(pct(theirs, .5)), "seed_p99_ms": ms(pct(theirs, .99)),
                          "speedup_p50": ratio(pct(theirs, .5), pct(mine, .5))}
        say(f"  latency p50: ours {out['latency']['ours_p50_ms']} ms, seed "
            f"{out['latency']['seed_p50_ms']} ms")
        n = M["seed_tput"]
        batch_ours(api, 4)
        t_seed, bad = seed_batch(seed.api_port, n)
        t_ours, bad_ours, _ = batch_ours(api, n)
        out["throughput"] = {"n": n, "concurrency": 4, "ours_jobs_s": round(t_ours, 2),
                             "seed_jobs_s": round(t_seed, 2), "seed_failures": bad,
                             "ours_failures": len(bad_ours), "ratio": ratio(t_ours, t_seed)}
        say(f"  throughput: ours {t_ours:.1f} jobs/s, seed {t_seed:.1f} jobs/s")
        out["rss_after_kib"] = {"api": tree_rss_kib(seed.pid("api")),
                                "worker_tree": tree_rss_kib(seed.pid("worker"))}
    except Exception as e:
        say(f"seed: {e}")
        out["error"] = str(e)[:500]
    finally:
        if w:
            w.stop()
        seed.stop()
        redis.cmd("FLUSHDB")
    return out


# ---------------------------------------------------------------- section 6 ----

def probe_p50(port, n, method, path, body=None):
    h, lat = Http(port), []
    for _ in range(10):  # warm: connection, allocator, code paths
        h.req(method, path, body)
    for _ in range(n):
        t0 = time.perf_counter()
        st, _ = h.req(method, path, body)
        if st != 200:
            raise RuntimeError(f"{method} {path}: {st}")
        lat.append(time.perf_counter() - t0)
    h.close()
    return ms(pct(lat, .5))


def hold_longpolls(api, redis, count, probe_n, rep):
    h = Http(api.port)
    tid = h.req("POST", "/run-code", PY_BODY)[1]["task_id"]
    h.close()
    before = {"health_p50_ms": probe_p50(api.port, probe_n, "GET", "/health"),
              "post_p50_ms": probe_p50(api.port, probe_n, "POST", "/run-code", PY_BODY),
              "api_rss_kib": rss_kib(api.pid)}
    say(f"scale: opening {count} long-polls GET /results/<pending>?wait=30")
    req = (f"GET /results/{tid}?wait=30 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").encode()
    socks = []
    t0 = time.perf_counter()
    try:
        for i in range(count):
            s = socket.socket()
            s.settimeout(5)
            s.connect(("127.0.0.1", api.port))
            s.sendall(req)
            socks.append(s)
        t_open = time.perf_counter() - t0
        # wait until the api holds them (its open descriptors) or 10 s
        fd_dir = f"/proc/{api.pid}/fd"
        end = time.monotonic() + 10
        while time.monotonic() < end and len(os.listdir(fd_dir)) < count:
            time.sleep(0.1)
        time.sleep(0.5)
        during = {"api_fds": len(os.listdir(fd_dir)), "api_rss_kib": rss_kib(api.pid),
                  "health_p50_ms": probe_p50(api.port, probe_n, "GET", "/health"),
                  "post_p50_ms": probe_p50(api.port, probe_n, "POST", "/run-code", PY_BODY)}
        during["api_rss_kib"] = max(during["api_rss_kib"], rss_kib(api.pid))
        elapsed = time.perf_counter() - t0
        # Finish the task the way the worker's finish script does, and time the fan-out.
        result = json.dumps({"output": "1\n", "error": "", "exit_code": 0, "signal": None,
                             "verdict": "ok", "compile_output": None, "time_ms": 1, "wall_ms": 1,
                             "memory_kb": 1, "truncated": False})
        key = f"{PREFIX}task:{tid}"
        redis.cmd("HSET", key, "status", "SUCCESS", "result", result,
                  "finished_at", str(int(time.time() * 1000)))
        t1 = time.perf_counter()
        redis.cmd("PUBLISH", f"{PREFIX}done", tid)
        sel = selectors.DefaultSelector()
        for s in socks:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, bytearray())
        answered, success, pending_left = 0, 0, len(socks)
        deadline = time.monotonic() + max(5, 35 - elapsed)
        last = t1
        while pending_left and time.monotonic() < deadline:
            for k, _ in sel.select(timeout=1):
                try:
                    chunk = k.fileobj.recv(65536)
                except BlockingIOError:
                    continue
                buf = k.data
                buf += chunk
                if b"\r\n\r\n" in buf and (b'"SUCCESS"' in buf or b'"PENDING"' in buf
                                           or not chunk):
                    answered += 1
                    success += b'"SUCCESS"' in buf
                    pending_left -= 1
                    sel.unregister(k.fileobj)
                    last = time.perf_counter()
                elif not chunk:
                    pending_left -= 1
                    sel.unregister(k.fileobj)
        sel.close()
        wake = {"answered": answered, "success": success, "all_answered_ms": ms(last - t1)}
    finally:
        for s in socks:
            s.close()
    time.sleep(1)
    after = {"api_rss_kib": rss_kib(api.pid)}
    return {"count": count, "open_s": round(t_open, 2), "before": before, "during": during,
            "wake": wake, "after": after,
            "health_p50_ratio": ratio(during["health_p50_ms"], before["health_p50_ms"]),
            "post_p50_ratio": ratio(during["post_p50_ms"], before["post_p50_ms"])}


def scale_section(api, redis, M, rep, tput_ours, bare_rate):
    out = {}
    n = M["scale_n"]
    redis.cmd("FLUSHDB")
    mem0 = redis.info_int("memory", "used_memory")
    say(f"scale: enqueue {n} tasks with wrk (stops at {n} answers)")
    lua = write_lua("post.lua", POST_LUA)
    env = dict(os.environ, BENCH_LIMIT=str(n))
    # wrk has no request count: its thread stops itself after n answers (post.lua) and we SIGINT
    # it (it then prints its summary) once the queue holds n; at most 300 s.
    p = subprocess.Popen(["wrk", "-t1", "-c64", "-d300s", "--timeout", "10s", "-s", lua,
                          f"http://127.0.0.1:{api.port}/run-code"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    t0 = time.perf_counter()
    while p.poll() is None and time.perf_counter() - t0 < 300:
        if redis.cmd("LLEN", f"{PREFIX}queue") >= n:
            break
        time.sleep(0.05)
    t_fill = time.perf_counter() - t0
    p.send_signal(signal.SIGINT)
    try:
        wout = p.communicate(timeout=20)[0]
    except subprocess.TimeoutExpired:
        p.kill()
        wout = p.communicate()[0]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", wout or "")
    time.sleep(0.5)
    queued = redis.cmd("LLEN", f"{PREFIX}queue")
    mem1 = redis.info_int("memory", "used_memory")
    out["enqueue"] = {"target": n, "queued": queued, "fill_s": round(t_fill, 2),
                      "wrk_req_s": round(queued / t_fill, 1),
                      "non2xx": int(non2xx.group(1)) if non2xx else 0,
                      "redis_used_memory_delta_b": mem1 - mem0,
                      "bytes_per_task": round((mem1 - mem0) / queued, 1) if queued else None}
    rep["memory"]["api_after_100k_enqueue"] = rss_kib(api.pid)
    say(f"  queued {queued}, {out['enqueue']['bytes_per_task']} B/task in Redis")
    # Drain from the deep queue for a fixed window.
    W = M["drain_s"]
    say(f"scale: drain from a {queued}-deep queue for {W}s (WORKER_CONCURRENCY=4, {PRIMARY})")
    w = Worker(redis, 4, **EXECUTORS[PRIMARY])
    try:
        time.sleep(3)  # past start-up
        l0, t0 = redis.cmd("LLEN", f"{PREFIX}queue"), time.perf_counter()
        time.sleep(W)
        l1, t1 = redis.cmd("LLEN", f"{PREFIX}queue"), time.perf_counter()
        rate = (l0 - l1) / (t1 - t0)
        out["drain"] = {"executor": PRIMARY, "window_s": W, "queue_depth": l0,
                        "jobs_s": round(rate, 2),
                        "vs_shallow_queue_ratio": ratio(rate, tput_ours),
                        "vs_bare_parallel_ratio": ratio(rate, bare_rate),
                        "note": f"rate over {W}s from a {l0}-deep queue, not the whole queue "
                                f"(~{l0 / rate / 60:.0f} min at this rate)" if rate > 0 else
                                f"nothing drained in {W}s"}
        say(f"  drained {rate:.1f} jobs/s")
    finally:
        w.stop()
    redis.cmd("FLUSHDB")
    try:
        out["longpoll"] = hold_longpolls(api, redis, M["hold"], M["probe"], rep)
    except Exception as e:
        say(f"long-poll hold: {e}")
        out["longpoll"] = {"error": str(e)[:500]}
    redis.cmd("FLUSHDB")
    return out


# ---------------------------------------------------------------- section 7 ----

def meminfo():
    """/proc/meminfo in KiB by field."""
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1)
            out[k] = int(v.split()[0])
    return out


def session_pss_kib(worker_pid):
    """(Pss of every session holder, cr-init --session, below the worker in KiB: their share of
    the host's memory; how many there are)."""
    total, n, todo = 0, 0, [worker_pid]
    while todo:
        p = todo.pop()
        todo += children_of(p)
        try:
            if b"--session" in open(f"/proc/{p}/cmdline", "rb").read():
                n += 1
                with open(f"/proc/{p}/smaps_rollup") as f:
                    total += sum(int(line.split()[1]) for line in f if line.startswith("Pss:"))
        except OSError:
            pass
    return total, n


def create_session(h, wait=30):
    st, b = h.req("POST", f"/api/v1/sessions?wait={wait}", {"environment": "python"})
    if st != 200 or b.get("status") != "ready":
        raise RuntimeError(f"session create: {st} {str(b)[:300]}")
    return b["session_id"]


def sessions_section(api, redis, M, rep):
    """A run in a ready session vs bare exec of the same program file, session creation (to
    ready), and many idle sessions with the host memory each costs (MemAvailable before and
    after, beside the holders' own Pss and the kernel's slab and shmem)."""
    out = {"executor": PRIMARY}
    n_idle = M["sess_idle"]
    w = Worker(redis, 2, MAX_SESSIONS_PER_WORKER=n_idle // 2 + 10)
    wait_until(lambda: len(redis.cmd("ZRANGE", PREFIX + "session_free", 0, -1) or []) == 2, 15,
               "worker processes offering session places")
    h = Http(api.port)
    pdir = os.path.join(WORK, "bare-session")
    os.makedirs(pdir, exist_ok=True)
    with open(os.path.join(pdir, "main.py"), "w") as f:
        f.write("print(1)")
    bare = [["/usr/bin/python3", "main.py"]]
    try:
        say("sessions: a run in a ready session vs bare exec of the same file")
        sid = create_session(h)
        run = f"/api/v1/sessions/{sid}/execute"
        for _ in range(3):  # warm-up
            h.req("POST", run, {"code": "print(1)"})
        ours, ref, inner, outside = [], [], [], []
        holder = [p for p in children_of(w.children()[0]) + children_of(w.children()[1])
                  if b"--session" in open(f"/proc/{p}/cmdline", "rb").read()]
        procs = {"api": [api.pid], "redis": [redis.proc.pid], "worker processes (own)": w.children()}
        cpu0 = {k: sum(cpu_s(p)[0] for p in v) for k, v in procs.items()}
        run0 = sum(sum(cpu_s(p)) for p in holder)
        bare0 = os.times()
        for i in range(M["sess_run"]):
            for which in ((0, 1) if i % 2 == 0 else (1, 0)):
                if which == 0:
                    t0 = time.perf_counter()
                    st, b = h.req("POST", run, {"code": "print(1)"})
                    dt = time.perf_counter() - t0
                    if st != 200 or b.get("stdout") != "1\n":
                        raise RuntimeError(f"session run: {st} {str(b)[:300]}")
                    ours.append(dt)
                    inner.append(b.get("wall_ms") or 0)
                    outside.append(dt * 1000 - (b.get("wall_ms") or 0))
                else:
                    ref.append(run_bare(bare, pdir))
        n = len(ours)
        bare1 = os.times()
        cpu = {k: round((sum(cpu_s(p)[0] for p in v) - cpu0[k]) * 1000 / n, 2)
               for k, v in procs.items()}
        cpu["the run (holder and program)"] = round(
            (sum(sum(cpu_s(p)) for p in holder) - run0) * 1000 / n, 2)
        cpu["bare python (for comparison)"] = round(
            (bare1.children_user + bare1.children_system - bare0.children_user -
             bare0.children_system) * 1000 / len(ref), 2)
        out["run"] = {"n": n, "ours_p50_ms": ms(pct(ours, .5)),
                      "ours_p99_ms": ms(pct(ours, .99)), "bare_p50_ms": ms(pct(ref, .5)),
                      "bare_p99_ms": ms(pct(ref, .99)),
                      "ratio_p50": ratio(pct(ours, .5), pct(ref, .5)),
                      "run_wall_ms_p50": pct(inner, .5),
                      "outside_the_run_ms_p50": round(pct(outside, .5), 2),
                      "cpu_ms_per_run": cpu}
        say(f"  run p50 {out['run']['ours_p50_ms']} ms vs bare {out['run']['bare_p50_ms']} ms")
        say("sessions: creation (POST /api/v1/sessions?wait=30, answered once ready)")
        made, times, ref = [sid], [], []
        for _ in range(M["sess_new"]):
            t0 = time.perf_counter()
            made.append(create_session(h))
            times.append(time.perf_counter() - t0)
            ref.append(run_bare(bare, pdir))
        out["create"] = {"n": len(times), "p50_ms": ms(pct(times, .5)),
                         "p99_ms": ms(pct(times, .99)), "bare_exec_p50_ms": ms(pct(ref, .5)),
                         "ratio_to_bare_exec": ratio(pct(times, .5), pct(ref, .5))}
        say(f"  create p50 {out['create']['p50_ms']} ms")
        for x in made:
            h.req("DELETE", f"/api/v1/sessions/{x}")
        wait_until(lambda: session_pss_kib(w.proc.pid)[1] == 0, 60, "sessions torn down")
        time.sleep(3)  # the kernel frees network namespaces asynchronously
        say(f"sessions: {n_idle} idle sessions, made in batches")
        # The kernel's share (namespaces, mounts, cgroups, tmpfs pages, the holders' stacks and
        # page tables) from /proc/meminfo's deltas, measured per batch of sessions: on a shared
        # machine others move these counters too, so the median batch is what one session costs.
        # Plus the holders' own pages (Pss) and what the worker processes grew by.
        kinds = ("Slab", "KernelStack", "PageTables", "Percpu", "Shmem")
        batch = max(10, n_idle // 5)
        idle, per, avail, proc_before = [], {k: [] for k in kinds}, [], w.rss()
        t0 = time.perf_counter()
        while len(idle) < n_idle:
            k = min(batch, n_idle - len(idle))
            before = meminfo()
            idle += [create_session(h) for _ in range(k)]
            time.sleep(1)
            after = meminfo()
            for f in kinds:
                if f in after:
                    per[f].append((after[f] - before[f]) / k)
            avail.append((before["MemAvailable"] - after["MemAvailable"]) / k)
        make_s = time.perf_counter() - t0
        proc_after = w.rss()
        pss, holders = session_pss_kib(w.proc.pid)
        st, b = h.req("POST", f"/api/v1/sessions/{idle[-1]}/execute", {"code": "print(2)"})
        med = {f: statistics.median(v) for f, v in per.items() if v}
        grew = (sum(proc_after[1]) - sum(proc_before[1])) / n_idle
        out["idle"] = {
            "sessions": n_idle, "batches": len(avail), "holders": holders,
            "made_in_s": round(make_s, 2),
            "host_kib_per_session": round(sum(med.values()) + pss / max(holders, 1) + grew, 1),
            "memavailable_kib_per_session": round(statistics.median(avail), 1),
            **{f"{f.lower()}_kib_per_session": round(v, 1) for f, v in med.items()},
            "holder_pss_kib_per_session": round(pss / max(holders, 1), 1),
            "worker_processes_kib_before": proc_before, "worker_processes_kib_after": proc_after,
            "a_run_with_all_idle_ok": st == 200 and b.get("stdout") == "2\n"}
        after = meminfo()
        say(f"  {n_idle} idle: {out['idle']['host_kib_per_session']} KiB of host memory each, "
            f"holder Pss {out['idle']['holder_pss_kib_per_session']} KiB")
        for x in idle:
            h.req("DELETE", f"/api/v1/sessions/{x}")
        wait_until(lambda: session_pss_kib(w.proc.pid)[1] == 0, 120, "idle sessions torn down")
        time.sleep(3)
        out["idle"]["host_kib_back_after_delete"] = (meminfo()["MemAvailable"]
                                                     - after["MemAvailable"])
    finally:
        h.close()
        w.stop()
    return out


# ---------------------------------------------------------------- report ----

def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = open("/proc/meminfo").readline().split()[1]
    return {"cores": os.cpu_count(), "kernel": platform.release(), "cpu_model": model,
            "mem_total_mib": int(mem) // 1024, "hostname": socket.gethostname(),
            "loadavg_at_start": open("/proc/loadavg").read().split()[:3],
            "date": time.strftime("%Y-%m-%d %H:%M:%S %z")}


def fmt(x, unit=""):
    if x is None:
        return "-"
    if isinstance(x, float):
        x = f"{x:.3g}" if abs(x) < 10 else f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.1f}"
    return f"{x}{unit}"


def targets(rep):
    t = []
    lat = rep.get("latency", {})

    def add(name, value, op, limit):
        holds = None if value is None else (value <= limit if op == "<=" else value >= limit)
        t.append({"target": name, "value": value, "limit": f"{op} {limit}", "holds": holds})

    # Evaluated on the primary executor (the OCI backend with its default runtime); the other
    # executors are in the tables above.
    py = lat.get(PRIMARY, {}).get("python", {})
    add(f"latency python {PRIMARY}: p50 ours/bare", py.get("ratio_p50"), "<=", 1.5)
    add(f"latency python {PRIMARY}: p99/p50 (ours)", py.get("ours_p99_over_p50"), "<=", 2.0)
    tp = rep.get("throughput", {})
    add(f"throughput c=4 {tp.get('executor', PRIMARY)}: ours/bare parallel", tp.get("ratio"),
        ">=", 0.6)
    api = rep.get("api", {})
    add("api enqueue: ours/redis-benchmark EVALSHA", api.get("enqueue", {}).get("ratio_req_s"),
        ">=", 0.4)
    seed = rep.get("seed", {})
    add("api enqueue: ours/seed", seed.get("enqueue", {}).get("ratio"), ">=", 20)
    add(f"per-job latency p50: seed/ours ({seed.get('ours', PRIMARY)})",
        seed.get("latency", {}).get("speedup_p50"), ">=", 10)
    mem = rep.get("memory", {})
    add("api RSS idle (MiB)", round(mem.get("api_idle_kib", 0) / 1024, 2) or None, "<=", 10)
    hold = rep.get("scale", {}).get("longpoll", {})
    v = hold.get("during", {}).get("api_rss_kib")
    add(f"api RSS under {hold.get('count', '?')} long-polls (MiB)", v and round(v / 1024, 2),
        "<=", 64)
    sup = kid = 0
    for k in ("worker_idle", "worker_after_latency"):
        if PRIMARY in mem.get(k, {}):
            s_, kids = mem[k][PRIMARY]
            sup, kid = max(sup, s_), max([kid] + kids)
    peak = mem.get("worker_peak_during_throughput", {})  # measured on the primary only
    sup, kid = max(sup, peak.get("supervisor", 0)), max(kid, peak.get("worker_max", 0))
    add(f"worker supervisor VmRSS {PRIMARY}, worst (MiB)", round(sup / 1024, 2) or None,
        "<=", 5)
    add(f"worker process VmRSS {PRIMARY}, worst (MiB)", round(kid / 1024, 2) or None, "<=", 5)
    se = rep.get("sessions", {})
    add("session run p50: ours/bare exec", se.get("run", {}).get("ratio_p50"), "<=", 1.1)
    add("session creation p50 (ms)", se.get("create", {}).get("p50_ms"), "<=", 15)
    add("host memory per idle session (KiB)", se.get("idle", {}).get("host_kib_per_session"),
        "<=", 1024)
    r1 = rep.get("remote", {}).get("hosts_1", {})
    add("remote, 1 host: latency p50 added (ms)", r1.get("latency", {}).get("added_p50_ms"),
        "<=", 2)
    r3 = rep.get("remote", {}).get("hosts_3", {})
    add("remote, 3 hosts: throughput remote/local", r3.get("throughput", {}).get("ratio"),
        ">=", 0.9)
    return t


def table(rep):
    L = []
    m = rep["machine"]
    L.append(f"code-runner benchmarks ({rep['mode']} mode) — {m['cores']} cores, {m['cpu_model']}, "
             f"kernel {m['kernel']}, {m['mem_total_mib']} MiB, load {' '.join(m['loadavg_at_start'])}, "
             f"{m['date']}")
    L.append("Every ratio is against a reference measured in this same run.")
    row = "{:<44} {:>14} {:>14} {:>9}"
    if rep.get("latency"):
        L.append("")
        L.append("1. Per-job latency, POST /run-code?wait=30 one at a time vs bare fork/exec "
                 "on the host")
        L.append(row.format("executor / program", "ours p50|p99", "bare p50|p99", "ratio"))
    for ex, d in rep.get("latency", {}).items():
        if "error" in d and not d.get("python"):
            L.append(f"  {ex}: ERROR {d['error'][:90]}")
            continue
        for lang in ("python", "c"):
            x = d.get(lang)
            if not x:
                continue
            L.append(row.format(f"  {ex} {lang} (n={x['n']})",
                                f"{fmt(x['ours_p50_ms'])}|{fmt(x['ours_p99_ms'])} ms",
                                f"{fmt(x['bare_p50_ms'])}|{fmt(x['bare_p99_ms'])} ms",
                                f"{fmt(x['ratio_p50'])}x"))
            L.append(row.format("      p99 ratio / ours p99:p50 / sandbox wall p50",
                                f"{fmt(x['ratio_p99'])}x", f"{fmt(x['ours_p99_over_p50'])}",
                                f"{fmt(x['result_wall_ms_p50'])}ms"))
        if d.get("error"):
            L.append(f"  {ex}: ERROR {d['error'][:90]}")
    cpu = rep.get("cpu_per_job", {})
    if cpu:
        L.append("  CPU ms per python print(1) job, one at a time (/proc/PID/stat; sandbox = what "
                 "the worker processes reaped)")
        for ex, c in cpu.items():
            L.append(f"    {ex} (n={c['n']}): " + ", ".join(
                f"{k} {v}" for k, v in c.items() if k != "n"))
    pr = rep.get("profile")
    if pr:
        L.append("")
        L.append(f"1b. Where the time of one python job goes (tests/bench/where_time_goes.py, "
                 f"interleaved, median of {pr.get('reps')})")
        c = cpu.get(PRIMARY)
        if c and PRIMARY != pr.get("executor"):
            L.append(f"  {PRIMARY}: the worker clones the container itself (no runtime process, no "
                     f"bundle); CPU ms per job (section 1, n={c['n']}):")
            L.append(f"    sandbox (the cloned child's set-up, cr-init, the program) "
                     f"{c.get(SANDBOX_CPU)}, worker processes "
                     f"{c.get('worker processes (own)')}, supervisor {c.get('worker supervisor')}, "
                     f"redis {c.get('redis')}, api {c.get('api')}; total "
                     f"{c.get('total (without the bench client)')}")
        L.append(f"  {pr.get('executor', BUNDLE_EXECUTOR)}: its bundle's config.json taken apart "
                 "(runc, crun when it works here; sandbox_cli with both runtimes):")
        if pr.get("error"):
            L.append(f"  ERROR {pr['error']}")
        for k, v in pr.get("parts", {}).items():
            L.append(f"  {k:<44} {fmt(v['p50_ms']):>8} ms {fmt(v['x_bare_python']):>8}x bare")
    tps = ([rep["throughput"]] if rep.get("throughput") else []) + \
        list(rep.get("throughput_executors", {}).values())
    if tps:
        L.append("")
        L.append("2. Throughput, python print(1), WORKER_CONCURRENCY=4, first submit -> last "
                 "SUCCESS, vs bare 4 at a time")
        L.append(row.format("", "ours jobs/s", "bare jobs/s", "ratio"))
    for t in tps:
        ex = t.get("executor", PRIMARY)
        if t.get("error"):
            L.append(f"  {ex}: ERROR {t['error'][:90]}")
            continue
        L.append(row.format(f"  {ex}{', primary' if ex == PRIMARY else ''} ({t['n']} jobs)",
                            fmt(t["ours_jobs_s"]), fmt(t["bare_jobs_s"]), f"{fmt(t['ratio'])}x"))
        L.append(f"      (bare before/after: {t['bare_jobs_s_before']}/{t['bare_jobs_s_after']}; "
                 f"failures {t['failures']}; submit rate {t['submit_rate_req_s']} req/s)")
        rc = t.get("redis_cost")
        if rc:
            L.append(f"      Redis per job: {rc['cpu_ms_per_job']} ms CPU, "
                     f"{rc['commands_per_job']} commands; one Redis core carries "
                     f"{rc['jobs_s_one_redis_core']} jobs/s = the job rate of "
                     f"{rc.get('fleet_cores_to_fill_one_redis_core')} fleet cores")
    api = rep.get("api")
    if api:
        L.append("")
        L.append("3. API (wrk -t1 -c64, no worker) vs redis-benchmark -c64 doing the same Redis work")
        L.append(row.format("", "ours req/s|p99", "redis req/s|p99", "ratio"))
        for k, name in (("enqueue", "POST /run-code vs EVALSHA enqueue"),
                        ("results", "GET /results/{id} vs HMGET")):
            s = api[k]
            L.append(row.format(f"  {name}", f"{fmt(s['ours_req_s'])}|{fmt(s['ours_p99_ms'])}ms",
                                f"{fmt(s['ref_req_s'])}|{fmt(s['ref_p99_ms'])}ms",
                                f"{fmt(s['ratio_req_s'])}x"))
    repl = rep.get("replication")
    if repl:
        L.append("")
        L.append("3b. Acknowledged means replicated: POST /run-code WAITing for 1 replica vs not")
        L.append(row.format("", "WAIT req/s|p50", "no WAIT req/s|p50", "ratio"))
        a1, a0 = repl["ack1"], repl["ack0"]
        L.append(row.format("  POST /run-code (wrk -c64; p50 of one client)",
                            f"{fmt(a1['req_s'])}|{fmt(a1['single_p50_ms'])}ms",
                            f"{fmt(a0['req_s'])}|{fmt(a0['single_p50_ms'])}ms",
                            f"{fmt(repl['ratio_req_s'])}x"))
    seed = rep.get("seed")
    if seed:
        L.append("")
        L.append(f"4. Against the seed stack (FastAPI + Celery + docker-py), same run; ours: "
                 f"{seed.get('ours', PRIMARY)}")
        if seed.get("error"):
            L.append(f"  ERROR {seed['error'][:100]}")
        L.append(row.format("", "ours", "seed", "ours/seed"))
        e = seed.get("enqueue")
        if e:
            L.append(row.format("  enqueue req/s (wrk -c64 POST)", fmt(e["ours_req_s"]),
                                fmt(e["seed_req_s"]), f"{fmt(e['ratio'])}x"))
        l = seed.get("latency")
        if l:
            L.append(row.format(f"  single-job latency p50 ms (n={l['n']})", fmt(l["ours_p50_ms"]),
                                fmt(l["seed_p50_ms"]),
                                f"{fmt(ratio(l['ours_p50_ms'], l['seed_p50_ms']))}x"))
            L.append(f"      (seed/ours speed-up {fmt(l['speedup_p50'])}x; p99 ours "
                     f"{fmt(l['ours_p99_ms'])} ms, seed {fmt(l['seed_p99_ms'])} ms)")
        t = seed.get("throughput")
        if t:
            L.append(row.format(f"  throughput jobs/s ({t['n']} jobs, c=4)", fmt(t["ours_jobs_s"]),
                                fmt(t["seed_jobs_s"]), f"{fmt(t['ratio'])}x"))
        ri, ra = seed.get("rss_idle_kib", {}), seed.get("rss_after_kib", {})
        if ri:
            L.append(f"  seed RSS: uvicorn {fmt(ri.get('api', 0) // 1024)} MiB idle, "
                     f"{fmt(ra.get('api', 0) // 1024)} MiB after; celery tree "
                     f"{fmt(ri.get('worker_tree', 0) // 1024)} MiB idle, "
                     f"{fmt(ra.get('worker_tree', 0) // 1024)} MiB after")
    mem = rep.get("memory", {})
    L.append("")
    L.append("5. Memory (VmRSS, KiB)")
    L.append(f"  api: idle {mem.get('api_idle_kib')}, after latency {mem.get('api_after_latency')}, "
             f"after wrk {mem.get('api_after_wrk')}, after 100k enqueue "
             f"{mem.get('api_after_100k_enqueue')}")
    for k in ("worker_idle", "worker_after_latency"):
        for ex, (sup, kids) in mem.get(k, {}).items():
            asup, akids = mem.get(k + "_anon", {}).get(ex, (None, None))
            L.append(f"  worker {k[7:]} {ex}: supervisor {sup} (private {asup}), processes "
                     f"{kids} (private {akids})")
    if mem.get("worker_peak_during_throughput"):
        p = mem["worker_peak_during_throughput"]
        L.append(f"  worker peak during throughput ({PRIMARY}, c=4): supervisor "
                 f"{p.get('supervisor')}, largest process {p.get('worker_max')}")
    sc = rep.get("scale")
    if sc:
        L.append("")
        L.append("6. Scale")
        e = sc.get("enqueue", {})
        L.append(f"  enqueue {e.get('queued')} tasks: {fmt(e.get('wrk_req_s'))} req/s, Redis "
                 f"{fmt(e.get('bytes_per_task'))} B/task (used_memory delta "
                 f"{e.get('redis_used_memory_delta_b')} B)")
        d = sc.get("drain", {})
        if d:
            L.append(f"  drain ({d.get('executor', PRIMARY)}) from a {d['queue_depth']}-deep "
                     f"queue: {d['jobs_s']} jobs/s over "
                     f"{d['window_s']} s = {fmt(d['vs_shallow_queue_ratio'])}x the shallow-queue "
                     f"rate of section 2, {fmt(d['vs_bare_parallel_ratio'])}x bare parallel")
        h = sc.get("longpoll", {})
        if h.get("error"):
            L.append(f"  long-poll hold: ERROR {h['error'][:100]}")
        elif h:
            b, du, wk = h["before"], h["during"], h["wake"]
            L.append(f"  {h['count']} long-polls held (opened in {h['open_s']} s; api fds "
                     f"{du['api_fds']}): api RSS {b['api_rss_kib']} -> {du['api_rss_kib']} KiB "
                     f"(after close {h['after']['api_rss_kib']})")
            L.append(f"    GET /health p50 {b['health_p50_ms']} -> {du['health_p50_ms']} ms "
                     f"({fmt(h['health_p50_ratio'])}x); POST /run-code p50 {b['post_p50_ms']} -> "
                     f"{du['post_p50_ms']} ms ({fmt(h['post_p50_ratio'])}x)")
            L.append(f"    one PUBLISH woke {wk['answered']} ({wk['success']} SUCCESS) in "
                     f"{wk['all_answered_ms']} ms")
    se = rep.get("sessions")
    if se:
        L.append("")
        L.append(f"7. Sessions ({se.get('executor')})")
        if se.get("error"):
            L.append(f"  ERROR {se['error'][:100]}")
        r, c, i = se.get("run", {}), se.get("create", {}), se.get("idle", {})
        if r:
            L.append(row.format(f"  a run in a ready session, python (n={r['n']})",
                                f"{fmt(r['ours_p50_ms'])}|{fmt(r['ours_p99_ms'])} ms",
                                f"{fmt(r['bare_p50_ms'])}|{fmt(r['bare_p99_ms'])} ms",
                                f"{fmt(r['ratio_p50'])}x"))
            L.append(f"      (POST .../execute answered vs /usr/bin/python3 main.py; the run's own "
                     f"wall p50 {fmt(r['run_wall_ms_p50'])} ms, the rest (HTTP, Redis, worker) p50 "
                     f"{fmt(r.get('outside_the_run_ms_p50'))} ms)")
            L.append("      CPU ms per run: " + ", ".join(
                f"{k} {v}" for k, v in r.get("cpu_ms_per_run", {}).items()))
        if c:
            L.append(f"  creation to ready (n={c['n']}): p50 {fmt(c['p50_ms'])} ms, p99 "
                     f"{fmt(c['p99_ms'])} ms ({fmt(c['ratio_to_bare_exec'])}x a bare python exec "
                     f"of {fmt(c['bare_exec_p50_ms'])} ms)")
        if i:
            L.append(f"  {i['sessions']} idle sessions (made in {i['made_in_s']} s, {i['holders']} "
                     f"holders; median of {i.get('batches')} batches): host memory "
                     f"{fmt(i['host_kib_per_session'])} KiB each: slab "
                     f"{fmt(i.get('slab_kib_per_session'))}, percpu "
                     f"{fmt(i.get('percpu_kib_per_session'))}, kernel stacks "
                     f"{fmt(i.get('kernelstack_kib_per_session'))}, page tables "
                     f"{fmt(i.get('pagetables_kib_per_session'))}, shmem "
                     f"{fmt(i.get('shmem_kib_per_session'))}, holder Pss "
                     f"{fmt(i['holder_pss_kib_per_session'])} KiB (MemAvailable moved "
                     f"{fmt(i['memavailable_kib_per_session'])} KiB each)")
            L.append(f"      worker processes KiB {i['worker_processes_kib_before']} -> "
                     f"{i['worker_processes_kib_after']}; a run with all of them idle: "
                     f"{'ok' if i['a_run_with_all_idle_ok'] else 'FAILED'}; MemAvailable back "
                     f"after deleting them: {i.get('host_kib_back_after_delete')} KiB")
    if rep.get("remote"):
        L += remote_bench.table_lines(sys.modules[__name__], rep["remote"])
    L.append("")
    L.append("Targets")
    for t in rep["targets"]:
        mark = "n/a " if t["holds"] is None else "HOLD" if t["holds"] else "MISS"
        L.append(f"  [{mark}] {t['target']:<50} {fmt(t['value']):>10}  (target {t['limit']})")
    return "\n".join(L)


def main():
    global WORK
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--sections",
                    default="latency,profile,throughput,api,replication,seed,scale,sessions,remote")
    ap.add_argument("--executors", default=DEFAULT_EXECUTORS,
                    help=f"comma-separated, of: {', '.join(EXECUTORS)}; the primary ({PRIMARY}) "
                         "runs throughput, seed and scale whatever this says")
    a = ap.parse_args()
    WORK = a.workdir
    M = MODES["quick" if a.quick else "full"]
    secs = a.sections.split(",")
    exlist = [e for e in a.executors.split(",") if e]
    unknown = [e for e in exlist if e not in EXECUTORS]
    if unknown:
        ap.error(f"unknown executor(s) {', '.join(unknown)}; known: {', '.join(EXECUTORS)}")
    rep = {"machine": machine(), "mode": "quick" if a.quick else "full", "counts": M,
           "memory": {}}

    def on_signal(sig, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    redis = api = None
    try:
        redis = Redis()
        api = Api(redis)
        time.sleep(0.5)
        rep["memory"]["api_idle_kib"] = rss_kib(api.pid)
        rep["primary"] = PRIMARY
        if "latency" in secs:
            exs = [(e, EXECUTORS[e]) for e in exlist]
            rep["latency"] = latency_section(api, redis, M, exs, rep)
            rep["memory"]["api_after_latency"] = rss_kib(api.pid)
        if "profile" in secs:
            say(f"profile: where the time of one {BUNDLE_EXECUTOR} job goes (where_time_goes.py)")
            rep["profile"] = profile_section(api, redis, rep, M)
        if "throughput" in secs:
            try:
                rep["throughput"] = throughput_section(api, redis, M, rep)
            except Exception as ex:
                say(f"throughput {PRIMARY}: {ex}")
                rep["throughput"] = {"executor": PRIMARY, "error": str(ex)[:500]}
        if "throughput-executors" in secs:  # the same, per executor other than the primary
            rep["throughput_executors"] = {}
            for e in exlist:
                if e == PRIMARY:
                    continue
                try:
                    rep["throughput_executors"][e] = throughput_section(api, redis, M, rep, e)
                except Exception as ex:  # one executor failing must not lose the others
                    say(f"throughput {e}: {ex}")
                    rep["throughput_executors"][e] = {"executor": e, "error": str(ex)[:500]}
        if "api" in secs:
            rep["api"] = api_section(api, redis, M, rep)
        if "replication" in secs:
            rep["replication"] = replication_section(redis, M, rep)
        if "seed" in secs:
            rep["seed"] = seed_section(api, redis, M, rep)
        if "remote" in secs:
            say("remote: the remote executor beside the local one, hosts in namespaces")
            try:
                rep["remote"] = remote_bench.remote_section(sys.modules[__name__], M, rep)
            except Exception as ex:
                say(f"remote: {ex}")
                rep["remote"] = {"error": str(ex)[:500]}
        if "scale" in secs:
            tp = rep.get("throughput", {})
            rep["scale"] = scale_section(api, redis, M, rep, tp.get("ours_jobs_s"),
                                         tp.get("bare_jobs_s"))
        if "sessions" in secs:
            try:
                rep["sessions"] = sessions_section(api, redis, M, rep)
            except Exception as ex:
                say(f"sessions: {ex}")
                rep["sessions"] = {"executor": PRIMARY, "error": str(ex)[:500]}
    except KeyboardInterrupt:
        say("interrupted; stopping what we started")
        rep["interrupted"] = True
    finally:
        stop_all()
    rep["targets"] = targets(rep)
    os.makedirs(a.out, exist_ok=True)
    name = "bench-quick" if a.quick else "bench"  # a quick run does not replace the full figures
    with open(os.path.join(a.out, name + ".json"), "w") as f:
        json.dump(rep, f, indent=2)
    txt = table(rep)
    with open(os.path.join(a.out, name + ".txt"), "w") as f:
        f.write(txt + "\n")
    print(txt)
    return 1 if rep.get("interrupted") else 0


if __name__ == "__main__":
    sys.exit(main())
