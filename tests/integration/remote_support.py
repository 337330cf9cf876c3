"""Executor-host agents (`worker --serve`) for the remote executor's tests: the real worker binary
in agent mode, on loopback or in a test host of netns.py, and what a test says to it over HTTP
(the standard library only)."""
import http.client
import json
import os
import re
import signal
import socket
import time

import harness
from harness import BUILD_DIR, IMAGES_DIR, SOURCE_DIR, wait_until

TOKEN = "test-token-" + "7" * 24

# A job process that died while the agent ran (not at a stop): logged at warn or error.
SLOT_DEATH = re.compile(r"job process (\S+) (killed by signal \d+|exited with status [1-9]\d*)")


def agent_env(**extra):
    env = dict(os.environ)
    for k in ("EXECUTOR_AUTH_TOKEN", "EXECUTOR_AUTH_TOKEN_FILE", "EXECUTOR_ALLOW_NO_TOKEN"):
        env.pop(k, None)
    env.update({
        "LANGUAGES_FILE": os.path.join(SOURCE_DIR, "images", "languages.json"),
        "IMAGES_DIR": IMAGES_DIR,
        "LOG_LEVEL": "debug",
        "WORKER_CONCURRENCY": "2",
    })
    env.update({k: str(v) for k, v in extra.items() if v is not None})
    return env


class Agent(harness.Program):
    """`worker --serve` on a free loopback port, or on port 8100 of a test host (netns.Host).
    token=None starts it without EXECUTOR_AUTH_TOKEN (give EXECUTOR_AUTH_TOKEN_FILE or
    EXECUTOR_ALLOW_NO_TOKEN in env then)."""

    def __init__(self, workdir, host=None, port=None, token=TOKEN, wait=True, **env):
        self.host = host
        self.addr = host.addr if host else "127.0.0.1"
        self.port = port or (8100 if host else harness.free_port())
        self.token = token
        env.setdefault("WORKER_ID", f"ag{self.port}{self.addr.replace('.', '')[-4:]}")
        env.setdefault("STATE_DIR", os.path.join("/run/code-runner-test", env["WORKER_ID"]))
        env.setdefault("EXECUTOR_LISTEN", f"{self.addr}:{self.port}")
        if token is not None:
            env.setdefault("EXECUTOR_AUTH_TOKEN", token)
        self.env = agent_env(**env)
        self.id = self.env["WORKER_ID"]
        self.workdir = workdir
        self.proc = None
        self.procs = []
        self.slot_deaths_expected = False
        self.log_path = os.path.join(workdir, f"agent-{self.id}.log")
        self.start(wait)

    @property
    def url(self):
        return f"http://{self.addr}:{self.port}"

    def start(self, wait=True):
        prefix = self.host.prefix if self.host else []
        self.proc = harness.Process(prefix + [os.path.join(BUILD_DIR, "worker"), "--serve"],
                                    self.env, self.log_path)
        self.procs.append(self.proc)
        if wait:
            wait_until(self.healthy, timeout=60, what=f"agent {self.id} to answer /health")

    def healthy(self):
        if not self.proc.alive():
            raise AssertionError(f"agent {self.id} exited:\n" + self.proc.output()[-3000:])
        try:
            return self.request("GET", "/health", timeout=2)[0] == 200
        except OSError:
            return False

    def request(self, method, path, body=None, token="default", headers=None, timeout=60):
        """(status, body: parsed JSON or text, headers). token="default": the agent's own."""
        token = self.token if token == "default" else token
        c = http.client.HTTPConnection(self.addr, self.port, timeout=timeout)
        try:
            h = dict(headers or {})
            if token:
                h["Authorization"] = f"Bearer {token}"
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
                h.setdefault("Content-Type", "application/json")
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

    def job(self, request, job_id=None, **kw):
        """POST /v1/jobs; (status, answer)."""
        job_id = job_id or f"job{time.monotonic_ns()}"
        status, body, _ = self.request("POST", "/v1/jobs", {"id": job_id, "request": request}, **kw)
        return status, body

    def capacity(self):
        status, body, _ = self.request("GET", "/v1/capacity")
        assert status == 200, (status, body)
        return body

    def job_pids(self):
        """The agent's job processes."""
        return [p for p in harness.children(self.proc.pid) if harness.comm(p) == "cr-agent-job"]

    def stop(self, sig=signal.SIGTERM, timeout=60):
        return self.proc.stop(sig, timeout) if self.proc else None

    def describe(self):
        return f"agent {self.id}"

    def problems(self):
        out = super().problems()
        if not self.slot_deaths_expected and self.proc:
            out += [f"job process {m.group(1)} {m.group(2)}"
                    for m in SLOT_DEATH.finditer(self.proc.output())]
        return out


def raw_exchange(addr, port, data, timeout=10):
    """Send bytes on a fresh connection and read until the agent closes it; the bytes read."""
    with socket.create_connection((addr, port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


class Fleet:
    """Executor hosts and a worker host, as network namespaces on a bridge (netns.py), every
    address one this fleet gives: a worker host (10.<index>.0.2) with Redis, the api and the
    worker (EXECUTOR=remote), and executor hosts e0, e1... (10.<index>.0.11, .12...) each with an
    agent on port 8100. The test's HTTP calls go through call(), in the worker host's namespace.
    stop() stops everything; check() then fails on unexpected exits or sanitizer reports."""

    def __init__(self, workdir, tag, index, agents=2, agent_env=None, worker_env=None,
                 start_worker=True, api_env=None):
        import netns
        self.workdir, self.tag = workdir, tag
        self.net = netns.Network(tag, index=index)
        self.agents, self.workers, self.extra = [], [], []
        self.redis = self.api = None
        try:
            self.w = self.net.add("w", 2)
            self.hosts = [self.net.add(f"e{k}", 11 + k) for k in range(agents)]
            self.call(self._setup, agent_env, worker_env, start_worker, api_env)
        except BaseException:
            self.stop()
            raise

    def _setup(self, agent_env, worker_env, start_worker, api_env):
        from sentinel_support import Node
        self.redis = Node(self.workdir, f"redis-{self.tag}", addr=self.w.addr, port=6379,
                          prefix=self.w.prefix)
        for h in self.hosts:
            self.start_agent(h, **(agent_env or {}))
        self.api = harness.Api(self.workdir, self.redis, host=self.w, EXECUTOR="remote",
                               **(api_env or {}))
        if start_worker:
            self.start_worker(**(worker_env or {}))

    def start_agent(self, host, **env):
        """An agent on host (a thread in the worker host's namespace calls it)."""
        loopback = env.get("EXECUTOR_LISTEN", "").startswith("127.")
        a = Agent(self.workdir, host=host, wait=not loopback, **env)
        if loopback:  # out of our reach: its log says when it listens
            wait_until(lambda: "listening on" in a.proc.output() or not a.proc.alive(),
                       timeout=60, what="the agent to listen")
            assert a.proc.alive(), a.proc.output()
        self.agents.append(a)
        return a

    def urls(self, hosts=None):
        return ",".join(f"http://{h.addr}:8100" for h in (hosts or self.hosts))

    def start_worker(self, **env):
        env.setdefault("REMOTE_EXECUTORS", self.urls())
        env.setdefault("EXECUTOR_AUTH_TOKEN", TOKEN)
        env.setdefault("WORKER_CONCURRENCY", 2)
        env.setdefault("WORKER_ID", f"{self.tag}w{len(self.workers)}")
        w = harness.Worker(self.workdir, self.redis, host=self.w, EXECUTOR="remote", **env)
        self.workers.append(w)
        return w

    def call(self, fn, *args, **kw):
        """fn(*args, **kw) from inside the worker host's network namespace."""
        import netns
        return netns.run_in(self.w, lambda: fn(*args, **kw))

    def run(self, body, timeout=120):
        """Submit body through the api and wait for its final {status, result}."""
        def go():
            tid = self.api.submit(body)
            return self.api.wait_result(tid, timeout=timeout)
        return self.call(go)

    def submit(self, body):
        return self.call(self.api.submit, body)

    def result(self, tid, timeout=120):
        return self.call(self.api.wait_result, tid, timeout)

    def stop(self):
        for w in self.workers:
            w.stop()
        for a in self.agents:
            a.stop()
        for p in self.extra:
            p.stop()
        if self.api:
            self.api.stop()
        if self.redis:
            self.redis.stop()
        self.net.close()

    def check(self):
        """After stop(): our programs ended as expected, and the agents left nothing behind."""
        from support import worker_leftovers as leftovers
        harness.check_clean(self.api, *self.workers, *self.agents)
        left = leftovers([a.id.replace("-", "_") for a in self.agents],
                         [a.env["STATE_DIR"] for a in self.agents])
        assert not left, left
