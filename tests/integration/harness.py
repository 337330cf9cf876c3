"""Test harness: starts the real redis-server, api and worker binaries on free ports in a
temporary directory, and talks HTTP to the API with the standard library only."""
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from support import SANITIZER_MARKS  # what fails a test when one of our programs' logs holds it

SOURCE_DIR = os.environ.get("CR_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD_DIR = os.environ.get("CR_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))
IMAGES_DIR = os.environ.get("IMAGES_DIR", "/var/lib/code-runner/images")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout=10.0, step=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def children(pid):
    """The pids whose parent is pid (every thread's list), [] when it is gone."""
    out = []
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/children") as f:
                out += [int(p) for p in f.read().split()]
    except OSError:
        pass
    return out


def comm(pid):
    """The process name of pid, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


class Process:
    """A child process with its log in the test's temporary directory; stop() by its pid.
    problems() says what went wrong with it: an exit status the test did not expect (a test that
    SIGKILLs it with kill() expects any), or a sanitizer report in its log."""

    def __init__(self, argv, env, log_path, cwd=SOURCE_DIR):
        self.argv, self.log_path = argv, log_path
        self.killed = False        # kill() was used: any exit status is expected
        self.expected_exit = {0}   # exit statuses that are not a problem
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Signal and wait; SIGKILL the whole group if it does not exit. Returns the exit code."""
        if self.alive():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    # Defined after stop(): in the class body this name would hide the signal module from
    # stop()'s default argument.
    def signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def kill(self):
        """SIGKILL this process only (children are left to their fate, as in a crash)."""
        self.killed = True
        if self.alive():
            self.proc.kill()
        self.proc.wait()
        self.log.close()

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def exit_problems(self):
        """What is wrong with how this process ended: [] when nothing."""
        code = self.proc.poll()
        if code is None:
            return [f"pid {self.pid} still running"]
        if not self.killed and code not in self.expected_exit:
            return [f"pid {self.pid} exited with status {code}"]
        return []

    def problems(self):
        """exit_problems() and the sanitizer reports in its log."""
        log = self.output()
        return self.exit_problems() + [f"log has a sanitizer report ({m})"
                                       for m in SANITIZER_MARKS if m in log]


class Program:
    """Base of Api and Worker: one of our programs, perhaps started several times (procs), each
    run logging to the same file."""

    proc = None

    def problems(self):
        out = []
        for p in self.procs:
            out += p.exit_problems()
        if self.proc:
            log = self.proc.output()
            out += [f"log has a sanitizer report ({m})" for m in SANITIZER_MARKS if m in log]
        return out


def check_clean(*programs):
    """Fail (AssertionError) when any of our stopped programs (Api, Worker) exited with an
    unexpected status, logged a sanitizer report or (worker) lost a worker process the test did
    not kill. The log's tail goes into the message."""
    bad = []
    for p in programs:
        if p is None or p.proc is None:
            continue
        probs = p.problems()
        if probs:
            bad.append(f"{p.describe()}: {'; '.join(probs)}\n{p.proc.output()[-3000:]}")
    assert not bad, "\n\n".join(bad)


class Redis:
    """A real redis-server on a free loopback port, data in its own directory."""

    def __init__(self, workdir, aof=False, port=None):
        self.dir = os.path.join(workdir, "redis")
        os.makedirs(self.dir, exist_ok=True)
        self.port = port or free_port()
        self.aof = aof
        self.proc = None
        self.start()

    def start(self):
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                "--save", "", "--appendonly", "yes" if self.aof else "no",
                "--appendfsync", "everysec", "--protected-mode", "no"]
        self.proc = Process(argv, dict(os.environ), os.path.join(self.dir, "redis.log"))
        wait_until(self.ping, what="redis to answer PING")

    def ping(self):
        try:
            return self.cmd("PING") == "PONG"
        except (OSError, RuntimeError):  # RuntimeError: LOADING while it reads its AOF
            return False

    def stop(self):
        if self.proc:
            self.proc.stop(signal.SIGTERM)
            self.proc = None

    def kill(self):
        if self.proc:
            self.proc.kill()
            self.proc = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def cmd(self, *args):
        """One command over RESP; returns str, int, list or None."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            out = b"*%d\r\n" % len(args)
            for a in args:
                a = a if isinstance(a, bytes) else str(a).encode()
                out += b"$%d\r\n%s\r\n" % (len(a), a)
            s.sendall(out)
            f = s.makefile("rb")
            return read_resp(f)


def read_resp(f):
    line = f.readline()
    if not line:
        raise OSError("redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode(errors="surrogateescape")
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [read_resp(f) for _ in range(n)]
    raise RuntimeError(f"bad RESP line {line!r}")


def state_dir(worker_id):
    """The STATE_DIR tests give a worker with this WORKER_ID."""
    return os.path.join("/run/code-runner-test", worker_id)


def base_env(redis, **extra):
    env = dict(os.environ)
    env.update({
        "REDIS_URL": redis.url,
        "REDIS_PREFIX": "test:",
        "LANGUAGES_FILE": os.path.join(SOURCE_DIR, "images", "languages.json"),
        "IMAGES_DIR": IMAGES_DIR,
        "LOG_LEVEL": "debug",
    })
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Api(Program):
    """The real api binary on a free loopback port, or, with host (a netns.Host), on port 8000 of
    that test host."""

    def __init__(self, workdir, redis, host=None, **env):
        self.host = host
        self.addr = host.addr if host else "127.0.0.1"
        self.port = 8000 if host else free_port()
        self.env = base_env(redis, API_HOST=self.addr, API_PORT=self.port, **env)
        self.workdir = workdir
        self.proc = None
        self.procs = []
        self.start()

    def start(self):
        log = os.path.join(self.workdir, f"api-{self.port}.log")
        prefix = self.host.prefix if self.host else []
        self.proc = Process(prefix + [os.path.join(BUILD_DIR, "api")], self.env, log)
        self.procs.append(self.proc)
        wait_until(self._listening, what="the api to listen")

    def _listening(self):
        if not self.proc.alive():
            raise AssertionError("api exited:\n" + self.proc.output())
        try:
            socket.create_connection((self.addr, self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def request(self, method, path, body=None, headers=None, timeout=40):
        """Returns (status, parsed JSON or raw text, response headers)."""
        c = http.client.HTTPConnection(self.addr, self.port, timeout=timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
            h = {"Content-Type": "application/json"}
            h.update(headers or {})
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            try:
                parsed = json.loads(data)
            except ValueError:
                parsed = data.decode(errors="replace")
            return r.status, parsed, dict(r.getheaders())
        finally:
            c.close()

    def submit(self, body, **kw):
        status, data, _ = self.request("POST", "/run-code", body, **kw)
        assert status == 200, (status, data)
        return data["task_id"]

    def result(self, task_id, wait=None):
        path = f"/results/{task_id}" + (f"?wait={wait}" if wait else "")
        status, data, _ = self.request("GET", path)
        assert status == 200, (status, data)
        return data

    def wait_result(self, task_id, timeout=60):
        """Long-poll until the task is finished; returns the {status, result} body."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self.result(task_id, wait=min(30, max(1, int(deadline - time.monotonic()))))
            if r["status"] != "PENDING":
                return r
        raise AssertionError(f"task {task_id} still PENDING after {timeout}s")

    def stop(self, sig=signal.SIGTERM):
        return self.proc.stop(sig) if self.proc else None

    def describe(self):
        return f"api on port {self.port}"


# A worker process that died while the supervisor was running (not at a stop): logged at warn.
CHILD_DEATH = re.compile(r" warn worker process (\S+) \(pid \d+\) "
                         r"(killed by signal \d+|exited with status [1-9]\d*)")


class Worker(Program):
    """The real worker supervisor (with host, a netns.Host, in that test host)."""

    def __init__(self, workdir, redis, host=None, **env):
        self.host = host
        env.setdefault("WORKER_ID", f"w{free_port()}")
        # A sandbox user range of its own (slot k runs as base + k): workers of tests running
        # side by side never share a user, nor its per-user kernel budgets.
        env.setdefault("SANDBOX_UID_BASE", 100_000_000 + 64 * random.randrange(1 << 20))
        env.setdefault("STATE_DIR", state_dir(env["WORKER_ID"]))
        self.env = base_env(redis, **env)
        self.id = self.env["WORKER_ID"]
        self.workdir = workdir
        self.proc = None
        self.procs = []
        self.child_deaths_expected = False  # the test kills worker processes itself
        # One log per Worker (its restarts append to it), even for two with one WORKER_ID.
        self.log_path = os.path.join(workdir, f"worker-{self.id}.log")
        k = 1
        while os.path.exists(self.log_path):
            k += 1
            self.log_path = os.path.join(workdir, f"worker-{self.id}-{k}.log")
        self.start()

    def start(self):
        prefix = self.host.prefix if self.host else []
        self.proc = Process(prefix + [os.path.join(BUILD_DIR, "worker")], self.env, self.log_path)
        self.procs.append(self.proc)

    def stop(self, sig=signal.SIGTERM, timeout=60):
        return self.proc.stop(sig, timeout) if self.proc else None

    def describe(self):
        return f"worker {self.id}"

    def problems(self):
        out = super().problems()
        if not self.child_deaths_expected and self.proc:
            out += [f"worker process {m.group(1)} {m.group(2)}"
                    for m in CHILD_DEATH.finditer(self.proc.output())]
        return out


def make_workdir():
    return tempfile.mkdtemp(prefix="cr-test-")


def remove_workdir(d):
    if os.environ.get("CR_KEEP_WORKDIR"):  # debugging: keep the logs
        print(f"kept {d}")
        return
    shutil.rmtree(d, ignore_errors=True)
