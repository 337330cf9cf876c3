"""The hostile-program corpus (tests/hostile/cases.json) run through the real api and worker,
against every sandbox backend and runtime this machine has: each case must end with an expected
verdict, the host unharmed (api and worker alive, planted host files intact, no stray process,
no connection received) and nothing left behind. The docker backend uses the engine that
tests/docker-engine.sh starts (stopped again at the end when this module started it), with the
corpus's images imported by images/docker-import.sh."""
import contextlib
import json
import os
import pathlib
import re
import secrets
import select
import shutil
import socket

import pytest

import harness
from support import docker_engine, docker_objects, import_images, languages, list_containers

HOSTILE = pathlib.Path(harness.SOURCE_DIR) / "tests" / "hostile"
CASES = json.loads((HOSTILE / "cases.json").read_text())["cases"]
BY_FILE = {c["file"]: c for c in CASES}

ALL_BACKENDS = {
    "oci-builtin": {"EXECUTOR": "oci", "OCI_RUNTIME": "builtin"},
    "oci-runc": {"EXECUTOR": "oci", "OCI_RUNTIME": "runc"},
    "oci-runsc": {"EXECUTOR": "oci", "OCI_RUNTIME": "runsc"},
    "docker-runc": {"EXECUTOR": "docker", "DOCKER_RUNTIME": "runc"},
}
# CR_HOSTILE_BACKENDS (comma-separated ids; default all): tests/run.sh's ASan pass repeats the
# corpus on the backends whose sandboxing is our own code (the builtin runtime, the docker
# backend), not again on runc and runsc, which the first pass covers.
BACKENDS = [pytest.param(ALL_BACKENDS[b], id=b)
            for b in os.environ.get("CR_HOSTILE_BACKENDS", ",".join(ALL_BACKENDS)).split(",")]


def corpus_images():
    """The images (languages.json "image") the corpus's languages run in."""
    image_of = {lang_id: lang["image"] for lang_id, lang in languages().items()}
    return sorted({image_of[c["language"]] for c in CASES})


class Host:
    """What a program must not be able to touch: a canary file, a secret in the worker's
    environment, TCP and UDP listeners on the host's loopback."""

    def __init__(self, workdir):
        self.secret = "cr-secret-" + secrets.token_hex(8)
        self.marker = "cr-marker-" + secrets.token_hex(8)
        self.canary_dir = pathlib.Path(workdir) / "canary"
        self.canary_dir.mkdir()
        self.canary = self.canary_dir / "host-secret.txt"
        self.canary_text = "host canary " + secrets.token_hex(8)
        self.canary.write_text(self.canary_text)
        self.tcp = socket.socket()
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(16)
        self.port = self.tcp.getsockname()[1]
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", self.port))

    def fill(self, source):
        return (source.replace("{{CANARY_PATH}}", str(self.canary))
                .replace("{{HOST_PORT}}", str(self.port)).replace("{{MARKER}}", self.marker))

    def assert_unharmed(self):
        assert self.canary.read_text() == self.canary_text
        assert sorted(p.name for p in self.canary_dir.iterdir()) == ["host-secret.txt"]
        ready, _, _ = select.select([self.tcp, self.udp], [], [], 0)
        assert not ready, "a sandboxed program reached a host listener"

    def marker_processes(self):
        found = []
        for proc in pathlib.Path("/proc").glob("[0-9]*"):
            try:
                if self.marker.encode() in (proc / "cmdline").read_bytes():
                    found.append(proc.name)
            except OSError:
                pass
        return found

    def close(self):
        self.tcp.close()
        self.udp.close()


WORKSPACE_MB = 16  # the stack's workspace and /tmp size


def expected_rlimits(case):
    """What rlimits.py must print: every limit as the configuration makes it (-1: unlimited)."""
    pids = languages()[case["language"]]["limits"]["run"]["pids"]
    timeout = case["timeout"]
    return {"NOFILE": (1024, 1024), "NPROC": (pids, pids), "CORE": (0, 0),
            "FSIZE": (WORKSPACE_MB << 20, WORKSPACE_MB << 20), "STACK": (8 << 20, -1),
            "MEMLOCK": (8 << 20, 8 << 20), "MSGQUEUE": (819200, 819200),
            "SIGPENDING": (4096, 4096), "RTPRIO": (0, 0), "NICE": (0, 0),
            "CPU": (timeout, timeout + 1), "AS": (-1, -1), "DATA": (-1, -1), "RSS": (-1, -1),
            "RTTIME": (-1, -1)}


class Stack:
    """redis-server + api + worker for one backend, with a secret in the worker's environment."""

    def __init__(self, workdir, backend):
        self.backend = backend
        self.host = Host(workdir)
        self.redis = self.api = self.worker = None
        try:
            self.redis = harness.Redis(workdir)
            self.api = harness.Api(workdir, self.redis, MAX_QUEUE_LENGTH=1000)
            self.worker = harness.Worker(workdir, self.redis, WORKER_CONCURRENCY=2,
                                         HEARTBEAT_INTERVAL=1, OUTPUT_LIMIT_BYTES=65536,
                                         WORKSPACE_MB=WORKSPACE_MB, CR_TEST_SECRET=self.host.secret,
                                         **backend)
        except BaseException:
            self.stop()  # what did start (a missing binary must not leave Redis running)
            raise

    def run(self, case, source=None):
        body = {"language": case["language"], "code": self.host.fill(source or (HOSTILE / case["file"]).read_text())}
        for k in ("timeout", "memory_mb"):
            if k in case:
                body[k] = case[k]
        task = self.api.submit(body)
        return self.api.wait_result(task, timeout=120)

    def runtime_containers(self):
        """Containers (and, for docker, volumes) of this worker that still exist."""
        if self.backend.get("EXECUTOR") == "docker":
            return docker_objects(f"{self.worker.id}-")
        # not a leftover: the container the builtin runtime starts for the next job after
        # this one was torn down (fresh namespaces, cgroup and workspace; used once)
        return [c for c in list_containers(self.backend["OCI_RUNTIME"])
                if c.startswith(f"cr-{self.worker.id}") and "-warm" not in c]

    def state_files(self):
        d = pathlib.Path(self.worker.env["STATE_DIR"])
        return [str(p) for p in d.rglob("*") if p.is_dir() and "job" in p.name] if d.exists() else []

    def assert_clean(self):
        harness.wait_until(lambda: not self.runtime_containers(), timeout=10, what="no containers")
        assert self.api.request("GET", "/health")[0] == 200
        assert self.worker.proc.alive(), self.worker.proc.output()[-3000:]
        self.host.assert_unharmed()
        harness.wait_until(lambda: not self.host.marker_processes(), timeout=5,
                           what="no process of the job left on the host")

    def stop(self):
        code = self.worker.stop() if self.worker else None
        for part in (self.api, self.redis):
            if part:
                part.stop()
        self.host.close()
        return code


@pytest.fixture(scope="module", params=BACKENDS)
def stack(request):
    backend = request.param
    if backend.get("OCI_RUNTIME") == "runsc" and not shutil.which("runsc"):
        pytest.fail("runsc is not installed (deploy/install-deps.sh installs it)")
    with contextlib.ExitStack() as engine:
        if backend["EXECUTOR"] == "docker":
            engine.enter_context(docker_engine())  # stopped at the end if started here
            import_images(*corpus_images())
        workdir = harness.make_workdir()
        s = Stack(workdir, backend)
        yield s
        assert s.stop() == 0
        # a non-zero exit, a sanitizer report or a lost worker process fails the module
        harness.check_clean(s.api, s.worker)
        assert not s.runtime_containers()
    harness.remove_workdir(workdir)


def configured(case):
    """The limits of a case's run step, by the names cases.json's expressions use."""
    lim = languages()[case["language"]]["limits"]["run"]
    return {"pids": lim["pids"], "memory_mb": case.get("memory_mb", lim["memory_mb"]),
            "workspace_mb": WORKSPACE_MB, "nofile": 1024}


def check_report(case, spec, out):
    """The number the program reports lies where the configured limits put it."""
    pattern, low, high = spec
    m = re.search(pattern, out)
    assert m, (case["file"], pattern, out)
    names = configured(case)
    assert eval(low, {}, names) <= int(m.group(1)) <= eval(high, {}, names), \
        (case["file"], m.group(0), low, high, names)


def check(case, res, stack):
    assert res["status"] == "SUCCESS", res
    r = res["result"]
    out = r.get("output") or ""
    assert r["verdict"] in case["verdict"], (case["file"], r)
    if "reports" in case:
        check_report(case, case["reports"], out)
    if "reports_if_ok" in case and r["verdict"] == "ok":
        check_report(case, case["reports_if_ok"], out)
    if case.get("memory_near_cap"):  # killed at the cap, not before it or past it
        cap_kb = configured(case)["memory_mb"] * 1024
        assert cap_kb * 0.9 <= r["memory_kb"] <= cap_kb * 1.05, (case["file"], r)
    if case.get("contained"):
        assert "CONTAINED" in out and "ESCAPED" not in out, (case["file"], r)
    for bad in case.get("stdout_lacks", []):
        assert bad not in out, (case["file"], r)
    for bad in case.get("compile_output_lacks", []):
        assert bad not in (r.get("compile_output") or ""), (case["file"], r)
    if case.get("stdout_lacks_secret"):
        assert stack.host.secret not in json.dumps(r)
    if "signal" in case:
        assert r["signal"] == case["signal"], r
    if case.get("truncated"):
        assert r["truncated"] is True, r
    if case.get("base64_output"):
        assert r.get("base64") is True, r
    if case.get("cgroup_limits"):  # each limit shown is the step's, as configured
        limits = languages()[case["language"]]["limits"]["run"]
        want = {"memory.limit_in_bytes": limits["memory_mb"] << 20,
                "memory.max": limits["memory_mb"] << 20, "pids.max": limits["pids"],
                "cpu.cfs_quota_us": int(limits["cpus"] * 100000),
                "cpu.max": int(limits["cpus"] * 100000)}
        for m in re.finditer(r"^cgroup (\S+) (\S+)$", out, re.M):
            assert int(m.group(2)) == want[m.group(1)], (m.group(0), want)
    if case.get("rlimits"):
        seen = {m.group(1): (int(m.group(2)), int(m.group(3)))
                for m in re.finditer(r"^RLIMIT (\w+) (-?\d+) (-?\d+)$", out, re.M)}
        assert seen == expected_rlimits(case), out


RUN_ALONE = [c for c in CASES if not c.get("after_only")]


@pytest.mark.parametrize("case", RUN_ALONE, ids=[c["file"] for c in RUN_ALONE])
def test_hostile(stack, case):
    if case.get("twice"):
        tasks = [stack.api.submit({"language": case["language"],
                                   "code": stack.host.fill((HOSTILE / case["file"]).read_text())})
                 for _ in range(2)]
        results = [stack.api.wait_result(t, timeout=120) for t in tasks]
        for res in results:
            check(case, res, stack)
        if case.get("slot_uids"):  # the two ran at once, one in each slot, each as its user
            base = int(stack.worker.env["SANDBOX_UID_BASE"])
            uids = {int(re.search(r"^uid (\d+)$", r["result"]["output"], re.M).group(1))
                    for r in results}
            assert uids == {base, base + 1}, (uids, base)
    else:
        check(case, stack.run(case), stack)
    if case.get("then"):
        nxt = BY_FILE[case["then"]]
        # Both worker processes must run the follow-up, so that it lands where the first ran.
        for t in [stack.api.submit({"language": nxt["language"],
                                    "code": stack.host.fill((HOSTILE / nxt["file"]).read_text())})
                  for _ in range(2)]:
            check(nxt, stack.api.wait_result(t, timeout=120), stack)
    stack.assert_clean()


def test_corpus_is_large_enough():
    assert len(CASES) >= 30
    assert len({c["language"] for c in CASES}) >= 5
