"""The docker-compose deployment for real: `docker-compose up --build` of docker-compose.yml as its
own project (unique -p, a free API port, WORKER_CONCURRENCY=4, images tagged with the project
name), a submission through the composed API, Redis's durability settings, the worker service
switched to runtime kata-runtime by docker-compose.kata.yml, then `docker-compose down -v` and no
container, volume or network of the project, nor any sandbox of its worker, left behind.
The engine is tests/docker-engine.sh's (started when none answers, stopped again if this test
started it); debian:bookworm-slim comes from deploy/docker/make-base-image.sh and the python
language image from images/build.sh + images/docker-import.sh when the engine has none. The first
run builds the images (a few minutes); later runs hit the build cache.
Env: CR_SOURCE_DIR."""

import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid

import pytest

from harness import free_port
from support import SOURCE_DIR, build_images, docker, docker_engine, docker_objects, import_images

COMPOSE_FILES = ["-f", str(SOURCE_DIR / "docker-compose.yml")]
KATA_FILES = COMPOSE_FILES + ["-f", str(SOURCE_DIR / "docker-compose.kata.yml")]
SERVICES = ("api", "worker", "redis")


def run(args, timeout=120, check=True, **kw):
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {p.returncode}:\n"
                             f"{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


def http(method, url, body=None, timeout=40):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


class Project:
    """One compose project of this test: its name, port, environment and containers."""

    def __init__(self):
        self.name = "crtest" + uuid.uuid4().hex[:10]
        self.port = free_port()
        self.envfile = tempfile.NamedTemporaryFile("w", prefix="compose-", suffix=".env")
        # The developer's .env is not read (--env-file): only what is set here applies.
        self.envfile.write(f"API_PORT={self.port}\nAPI_BIND=127.0.0.1\nWORKER_CONCURRENCY=4\n"
                           f"CODE_RUNNER_TAG={self.name}\nLOG_LEVEL=info\n")
        self.envfile.flush()
        # Nor does the caller's environment for any variable the compose files use.
        used = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)",
                              "".join(pathlib.Path(f).read_text() for f in KATA_FILES[1::2])))
        self.env = {k: v for k, v in os.environ.items()
                    if k not in used and not k.startswith("COMPOSE_")}
        self.ids = {}  # service: container id
        self.worker_ids = set()  # host names of the worker containers that ran (label prefixes)

    def compose(self, *args, files=COMPOSE_FILES, timeout=300, check=True, env=None):
        return run(["docker-compose", "-p", self.name, "--project-directory", str(SOURCE_DIR),
                    "--env-file", self.envfile.name, *files, *args], timeout=timeout,
                   check=check, cwd=SOURCE_DIR, env=dict(self.env, **(env or {})))

    def up(self, *args, **kw):
        self.ids = {}
        return self.compose("up", "-d", *args, **kw)

    def container(self, service):
        if service not in self.ids:
            ids = self.compose("ps", "-q", service).stdout.split()
            assert len(ids) == 1, (service, ids)
            self.ids[service] = ids[0]
        return self.ids[service]

    def exec(self, service, *argv):
        return docker("exec", self.container(service), *argv).stdout

    def inspect(self, service):
        return json.loads(docker("inspect", self.container(service)).stdout)[0]

    def wait_healthy(self, timeout=240):
        deadline = time.monotonic() + timeout
        while True:
            states = {s: self.inspect(s)["State"] for s in SERVICES}
            health = {s: (st["Status"], st.get("Health", {}).get("Status")) for s, st in states.items()}
            if all(h == ("running", "healthy") for h in health.values()):
                w = self.inspect("worker")["Config"]["Hostname"]
                self.worker_ids.add(w)
                return
            if time.monotonic() > deadline:
                logs = self.compose("logs", "--tail=40", check=False).stdout
                raise AssertionError(f"not healthy after {timeout}s: {health}\n{logs}")
            time.sleep(1)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def run_code(self, **request):
        """The final answer of a submission (long-polled until it is no longer PENDING)."""
        status, body = http("POST", self.url("/run-code?wait=30"), request)
        assert status == 200, (status, body)
        deadline = time.monotonic() + 120
        while body["status"] == "PENDING" and time.monotonic() < deadline:
            status, body = http("GET", self.url(f"/results/{body['task_id']}?wait=30"))
            assert status == 200, (status, body)
        return body

    def leftovers(self):
        """Whatever of this project, or of the sandboxes of its workers, still exists."""
        label = f"label=com.docker.compose.project={self.name}"
        found = {
            "containers": docker("ps", "-aq", "--filter", label).stdout.split(),
            "volumes": docker("volume", "ls", "-q", "--filter", label).stdout.split(),
            "networks": docker("network", "ls", "-q", "--filter", label).stdout.split(),
        }
        found["sandboxes"] = [obj for w in self.worker_ids for obj in docker_objects(f"{w}-")]
        return {k: v for k, v in found.items() if v}


@pytest.fixture(scope="module")
def engine():
    """A running engine with debian:bookworm-slim and code-runner/python:latest."""
    assert os.geteuid() == 0, "the compose test drives the Docker engine: run it as root"
    if not shutil.which("docker-compose"):
        run(["apt-get", "install", "-y", "-qq", "docker-compose"], timeout=600,
            env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    with docker_engine():
        run([str(SOURCE_DIR / "deploy" / "docker" / "make-base-image.sh")], timeout=900)
        if docker("image", "inspect", "code-runner/python:latest", check=False).returncode != 0:
            build_images("python")
            import_images("python")
        yield


@pytest.fixture(scope="module")
def project(engine):
    """The composed deployment, up and healthy; torn down with `down -v`, leaving nothing."""
    p = Project()
    try:
        p.up("--build", timeout=1500)
        p.wait_healthy()
        yield p
    finally:
        down = p.compose("down", "-v", "--remove-orphans", "--timeout", "60", files=KATA_FILES,
                         env={"KATA_DOCKER_HOST": "unix:///var/run/docker.sock"}, check=False)
        # The images tagged for this project; --no-prune keeps their layers (the build cache).
        for s in SERVICES:
            docker("rmi", "--no-prune", f"code-runner/{s}:{p.name}", check=False)
        p.envfile.close()
        left = p.leftovers()
        assert down.returncode == 0, down.stderr
        assert not left, f"left behind by project {p.name}: {left}"


def test_submission_through_the_composed_api(project):
    status, body = http("GET", project.url("/health"))
    assert (status, body) == (200, {"status": "ok"})
    body = project.run_code(language="python", code="print(42)")
    assert body["status"] == "SUCCESS", body
    assert body["result"]["output"] == "42\n"
    assert body["result"]["verdict"] == "ok"
    # The sandbox has no network interface but lo, even though the worker is on compose's network.
    body = project.run_code(language="python",
                            code="print(sorted(l.split(':')[0].strip() for l in "
                                 "open('/proc/net/dev').read().splitlines()[2:]))")
    assert body["status"] == "SUCCESS", body
    assert body["result"]["output"] == "['lo']\n", body


def test_services_are_configured_as_documented(project):
    for s in SERVICES:
        info = project.inspect(s)
        assert info["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped", s
        assert info["Config"]["Healthcheck"]["Test"], s
    api = project.inspect("api")
    assert api["Config"]["User"] == "10001:10001"
    worker = project.inspect("worker")
    env = dict(e.split("=", 1) for e in worker["Config"]["Env"])
    assert env["EXECUTOR"] == "docker" and env["WORKER_CONCURRENCY"] == "4"
    assert env["DOCKER_RUNTIME"] == "runc"
    assert any(m["Destination"] == "/var/run/docker.sock" for m in worker["Mounts"])


def test_redis_runs_with_aof_and_noeviction(project):
    def config(name):
        return project.exec("redis", "redis-cli", "config", "get", name).split()[1]

    assert config("appendonly") == "yes"
    assert config("appendfsync") == "always"
    assert config("maxmemory-policy") == "noeviction"
    aof = project.exec("redis", "ls", "/data/appendonlydir").split()
    assert any(f.endswith(".incr.aof") for f in aof), aof
    mounts = project.inspect("redis")["Mounts"]
    assert [m["Name"] for m in mounts if m["Destination"] == "/data"] == \
        [f"{project.name}_redis-data"]


def test_kata_override_runs_the_worker_under_kata_runtime(project):
    # Without an engine address the override refuses (a unix socket does not reach into a VM).
    p = project.compose("-f", str(SOURCE_DIR / "docker-compose.kata.yml"), "config", check=False)
    assert p.returncode != 0 and "KATA_DOCKER_HOST" in p.stderr
    conf = project.compose("config", files=KATA_FILES,
                           env={"KATA_DOCKER_HOST": "tcp://engine.example:2376"}).stdout
    assert "runtime: kata-runtime" in conf and "DOCKER_HOST: tcp://engine.example:2376" in conf
    assert "DOCKER_TLS_VERIFY: '1'" in conf
    # For real: kata-runtime is registered with this engine (tests/docker-engine.sh: an alias of
    # runc here, so the engine's unix socket still reaches the worker).
    runtimes = json.loads(docker("info", "--format", "{{json .Runtimes}}").stdout)
    assert "kata-runtime" in runtimes, runtimes
    project.up("worker", files=KATA_FILES,
                    env={"KATA_DOCKER_HOST": "unix:///var/run/docker.sock",
                         "KATA_DOCKER_TLS_VERIFY": ""})
    project.wait_healthy()
    assert project.inspect("worker")["HostConfig"]["Runtime"] == "kata-runtime"
    body = project.run_code(language="python", code="print(42)")
    assert body["status"] == "SUCCESS" and body["result"]["output"] == "42\n", body
