"""The docker sandbox for real: tests/tools/sandbox_cli runs programs through job_run and the
docker executor (EXECUTOR=docker) against a real Docker Engine, started by tests/docker-engine.sh
when none answers (and stopped again at the end), with the language images imported by
images/docker-import.sh. Every case checks the verdict and that no container or volume labelled
with its worker id is left. Also runs gVisor (runsc) and the kata-runtime alias for real.
Env: CR_BUILD_DIR, CR_SOURCE_DIR; optional IMAGES_DIR, CR_SANDBOX_CLI, CR_DOCKER_LATENCY_RUNS."""

import base64
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import time

import pytest

from support import (CLI, IMAGES_DIR, SOURCE_DIR, docker, docker_engine, docker_objects,
                     ensure_image, import_images)
from support import DockerSandbox as Sandbox

LATENCY_RUNS = int(os.environ.get("CR_DOCKER_LATENCY_RUNS", "20"))

# Nothing here is skipped: on a machine without what a test needs, it fails and says why
# (deploy/install-deps.sh and tests/docker-engine.sh install all of it).
assert os.geteuid() == 0, "the Docker engine tests need root"


@pytest.fixture(scope="session", autouse=True)
def engine():
    """A running engine with the images imported; stopped at the end if this session started it."""
    if not CLI.exists():
        pytest.fail(f"{CLI} not built")
    with docker_engine():
        ensure_image("python")
        images = ["python"] + (["gcc"] if (IMAGES_DIR / "gcc" / "rootfs").is_dir() else [])
        import_images(*images)
        yield images


@pytest.fixture
def sb():
    s = Sandbox()
    yield s
    s.assert_clean()


def test_hello_world(sb):
    r = sb.run('print("hello, world")')
    assert r["output"] == "hello, world\n" and r["error"] == ""
    assert r["exit_code"] == 0 and r["signal"] is None
    assert r["verdict"] == "ok" and r["truncated"] is False
    assert r["wall_ms"] >= 0 and r["memory_kb"] > 0 and r["time_ms"] > 0


def test_exception_is_runtime_error(sb):
    r = sb.run('print("before")\nraise ValueError("boom")')
    assert r["verdict"] == "runtime_error"
    assert r["exit_code"] == 1 and r["signal"] is None
    assert r["output"] == "before\n"
    assert "ValueError: boom" in r["error"]


def test_stdin_and_args(sb):
    r = sb.run("import sys\nprint(sys.stdin.read().upper(), sys.argv[1:])",
               stdin="two\nlines\n", args=["a b", "--x", "$HOME"])
    assert r["verdict"] == "ok"
    assert r["output"] == "TWO\nLINES\n ['a b', '--x', '$HOME']\n"


def test_binary_stdin_and_output_are_exact(sb):
    code = ("import sys\nd = sys.stdin.buffer.read()\n"
            "sys.stdout.buffer.write(d[::-1] + bytes(range(256)))")
    data = b"\x00\xff\x80no newline at the end"
    r = sb.run(base64.b64encode(code.encode()).decode(), base64=True,
               stdin=base64.b64encode(data).decode())
    assert r["verdict"] == "ok"
    assert base64.b64decode(r["output"]) == data[::-1] + bytes(range(256))


def test_test_cases_each_get_their_stdin(sb):
    tests = [{"stdin": f"{i} {i + 1}\n", "expected": f"{2 * i + 1}\n"} for i in range(3)]
    tests.append({"stdin": "", "expected": "0\n"})
    r = sb.run("import sys\nprint(sum(map(int, sys.stdin.read().split())))", tests=tests)
    assert r["summary"] == {"passed": 4, "total": 4}


def test_compile_then_run_shares_the_workspace(sb, engine):
    assert "gcc" in engine, "the gcc image was not imported"
    r = sb.run('#include <stdio.h>\nint main(){int a,b;scanf("%d %d",&a,&b);'
               'printf("%d\\n",a+b);return 0;}', language="c", stdin="20 22")
    assert r["verdict"] == "ok" and r["output"] == "42\n" and r["compile_output"] == ""
    r = sb.run("int main(){ return x; }", language="c")
    assert r["verdict"] == "compile_error" and "undeclared" in r["compile_output"]


def test_default_flags_simd_openmp_and_options(sb, engine):
    """The compile and run steps run on the engine's host: -march=native (SSE4.1 intrinsics with
    no target attribute), OpenMP and a request's -D all work in the docker image's g++."""
    assert "gcc" in engine, "the gcc image was not imported"
    code = """#include <immintrin.h>
#include <omp.h>
#include <cstdio>
int main() {
    int seen = 0;
#pragma omp parallel num_threads(THREADS) reduction(| : seen)
    seen |= 1 << omp_get_thread_num();
    __m128i m = _mm_mullo_epi32(_mm_setr_epi32(1, 2, 3, 4), _mm_set1_epi32(seen));
    int o[4];
    _mm_storeu_si128((__m128i *)o, m);
    std::printf("%d %d %d %d %ld\\n", o[0], o[1], o[2], o[3], __cplusplus);
}
"""
    r = sb.run(code, language="cpp", compiler_options=["-DTHREADS=3"])
    assert r["verdict"] == "ok", r
    assert r["output"] == "7 14 21 28 202002\n"


def test_infinite_loop_is_time_limit(sb):
    t0 = time.monotonic()
    r = sb.run("while True:\n    pass", timeout=2)
    elapsed = time.monotonic() - t0
    assert r["verdict"] == "time_limit"
    assert r["signal"] == "SIGKILL"
    assert elapsed < 2 + 2, elapsed
    assert 1900 <= r["wall_ms"] < 4000
    assert r["time_ms"] > 500  # the loop burnt CPU (quota 0.5 core)


def test_memory_hog_is_memory_limit(sb):
    r = sb.run("x = []\nwhile True:\n    x.append(bytearray(10**7))", memory_mb=64)
    assert r["verdict"] == "memory_limit"
    assert r["memory_kb"] > 60 * 1024


def test_fork_bomb_is_contained(sb):
    code = ("import os\nn = 0\ntry:\n    while True:\n        os.fork()\n        n += 1\n"
            "except OSError as e:\n    print(e.errno)\n")
    t0 = time.monotonic()
    r = sb.run(code, timeout=5)
    assert time.monotonic() - t0 < 5 + 3
    assert r["verdict"] in ("ok", "time_limit", "runtime_error")
    assert "11" in r["output"].split()  # EAGAIN from the pids limit


def test_big_output_is_output_limit(sb):
    r = sb.run("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)",
               env={"OUTPUT_LIMIT_BYTES": "100000"})
    assert r["verdict"] == "output_limit" and r["truncated"] is True
    assert r["output"] == "x" * 100000


def test_tmp_write_of_1gb_fails(sb):
    code = ("n = 0\ntry:\n    with open('/tmp/big', 'wb') as f:\n        for _ in range(1024):\n"
            "            f.write(b'\\0' * (1 << 20))\n            n += 1\n"
            "except OSError as e:\n    print('failed', e.errno)\nprint(n)")
    r = sb.run(code, env={"WORKSPACE_MB": "32"})
    lines = r["output"].split()
    assert lines[0] == "failed" and int(lines[-1]) < 64, r


def test_rootfs_is_read_only_and_user_unprivileged(sb):
    r = sb.run("import os\ntry:\n    open('/etc/x', 'w')\nexcept OSError as e:\n    print(e.errno)\n"
               "print(os.getuid(), os.getgid())\n"
               "print(open('/proc/self/status').read().split('CapEff:')[1].split()[0])")
    assert r["output"].split() == ["30", str(sb.uid), str(sb.uid), "0000000000000000"]


def test_no_network(sb):
    code = ("import os, socket\nprint(sorted(os.listdir('/sys/class/net')))\n"
            "s = socket.socket()\ns.settimeout(2)\ntry:\n    s.connect(('1.1.1.1', 80))\n"
            "    print('connected')\nexcept OSError as e:\n    print('refused', e.errno)")
    r = sb.run(code)
    assert r["output"].splitlines()[0] == "['lo']"
    assert r["output"].splitlines()[1].startswith("refused")


def test_unknown_runtime_fails_init_naming_docker_runtime(sb):
    p = sb.call({"language": "python", "code": "print(1)"}, DOCKER_RUNTIME="no-such-runtime")
    assert p.returncode != 0
    assert b"DOCKER_RUNTIME=no-such-runtime" in p.stderr


def test_unreachable_engine_says_so(sb):
    p = sb.call({"language": "python", "code": "print(1)"}, DOCKER_HOST="unix:///nonexistent.sock")
    assert p.returncode != 0
    assert b"cannot reach the Docker engine at unix:///nonexistent.sock" in p.stderr


def test_missing_image_is_a_failure_naming_it(sb, tmp_path):
    table = json.loads((SOURCE_DIR / "images" / "languages.json").read_text())
    for lang in table["languages"]:
        if lang["id"] == "python":
            lang["image"] = "no-such-image"
    (tmp_path / "languages.json").write_text(json.dumps(table))
    p = sb.call({"language": "python", "code": "print(1)"},
                LANGUAGES_FILE=str(tmp_path / "languages.json"))
    assert p.returncode == 2, p
    assert "code-runner/no-such-image:latest" in json.loads(p.stdout)["failure"]


def test_gvisor_runs_and_enforces_limits(sb):
    assert shutil.which("runsc"), "runsc is not installed (deploy/install-deps.sh installs it)"
    env = {"DOCKER_RUNTIME": "runsc"}
    r = sb.run("import ctypes, os, platform\nprint(platform.release())\n"
               "libc = ctypes.CDLL(None, use_errno=True)\n"
               "print(libc.syscall(103, 10, None, 0), ctypes.get_errno())\n"  # syslog(SIZE_BUFFER), x86_64 numbers
               "print(libc.syscall(425, 1, None), ctypes.get_errno())", env=env)  # io_uring_setup
    assert r["verdict"] == "ok", r
    lines = r["output"].splitlines()
    assert lines[0] == "4.4.0"  # gVisor's own kernel version
    # our seccomp profile applies inside gVisor too (the engine registers runsc with
    # --oci-seccomp): the kernel log and io_uring are refused with EPERM
    assert lines[1:] == ["-1 1", "-1 1"], r
    # Killed at its 2 s limit, not after some other bound: the step's own wall time (container
    # set-up aside, which a loaded machine stretches) stays near the limit.
    r = sb.run("while True:\n    pass", timeout=2, env=env)
    assert r["verdict"] == "time_limit" and 2000 <= r["wall_ms"] < 4000, r
    r = sb.run("x = []\nwhile True:\n    x.append(bytearray(10**7))", memory_mb=96, env=env)
    assert r["verdict"] == "memory_limit", r


@pytest.mark.parametrize("runtime", ["runc", "runsc"])
def test_cpu_view_and_init(sb, runtime):
    """As in the oci backend: the step runs on its slot's CPU (a quota of 0.5 core: one CPU)
    and sees that one only (/sys/devices/system/cpu, /proc/cpuinfo, /proc/stat, its affinity),
    under cr-init as PID 1, not dumpable (the engine is local and sees the worker's files, so it
    binds them)."""
    code = ("import json, os, subprocess\n"
            "print(json.dumps({'cpu_count': os.cpu_count(), 'affinity': sorted(os.sched_getaffinity(0)),"
            " 'cpuinfo': sum(1 for l in open('/proc/cpuinfo') if l.startswith('processor')),"
            " 'stat': sum(1 for l in open('/proc/stat') if l[:3] == 'cpu' and l[3].isdigit()),"
            " 'nproc': int(subprocess.run(['nproc'], capture_output=True, text=True).stdout),"
            " 'init': open('/proc/1/cmdline').read().split('\\0')[0],"
            " 'init_mem': os.access('/proc/1/mem', os.W_OK)}))\n")
    host = sorted(os.sched_getaffinity(0))
    for slot in (0, 1):
        p = sb.call(sb.request(code), args=("--slot", str(slot), "-"), DOCKER_RUNTIME=runtime)
        assert p.returncode == 0, p
        r = json.loads(p.stdout)
        assert r["verdict"] == "ok", r
        seen = json.loads(r["output"])
        mine = [0] if runtime == "runsc" else [host[slot % len(host)]]  # gVisor numbers from 0
        assert seen["affinity"] == mine, (seen, host)
        assert seen["cpu_count"] == seen["cpuinfo"] == seen["stat"] == seen["nproc"] == 1, seen
        assert seen["init"] == "/dev/.cr/init" and seen["init_mem"] is False, seen


def test_kata_runtime_alias_runs_a_job(sb):
    r = sb.run('print("kata")', env={"DOCKER_RUNTIME": "kata-runtime"})
    assert r["verdict"] == "ok" and r["output"] == "kata\n"


def test_cleanup_stale_removes_only_its_own_worker():
    mine, other = Sandbox(), Sandbox()
    ids = {}
    root = pathlib.Path("/sys/fs/cgroup/memory")
    top = (root if root.is_dir() else pathlib.Path("/sys/fs/cgroup")) / "code-runner-docker"
    for s in (mine, other):
        (top / f"{s.worker}.left-1").mkdir(parents=True)
    for s in (mine, other):
        labels = ["--label", "code-runner.service=worker", "--label",
                  f"code-runner.worker={s.worker}", "--label", "code-runner.job=left"]
        docker("volume", "create", *labels, f"cr-test-{s.worker}")
        ids[s.worker] = docker("run", "-d", "--network", "none", *labels, "-v",
                               f"cr-test-{s.worker}:/workspace", "code-runner/python:latest",
                               "sleep", "600").stdout.strip()
    try:
        assert mine.leftovers()["containers"] and mine.leftovers()["volumes"]
        p = mine.cleanup_stale()
        assert p.returncode == 0, p
        mine.assert_clean()
        left = other.leftovers()
        assert left["containers"] == [ids[other.worker][:12]]
        assert left["volumes"] == [f"cr-test-{other.worker}"]
        assert left["cgroups"] == [str(top / f"{other.worker}.left-1")]
    finally:
        for s in (mine, other):
            if (top / f"{s.worker}.left-1").exists():
                (top / f"{s.worker}.left-1").rmdir()
        docker("rm", "-f", ids[other.worker], check=False)
        docker("volume", "rm", "-f", f"cr-test-{other.worker}", check=False)
        docker("rm", "-f", ids[mine.worker], check=False)
        docker("volume", "rm", "-f", f"cr-test-{mine.worker}", check=False)


def step_latencies(sb, runtime, n):
    """Per-step wall times (ms) of n run steps of print(1) in one job, from the debug log: the
    time between the removals of consecutive step containers (create, attach, start, follow,
    wait, inspect, remove, cgroup accounting)."""
    p = sb.call({"language": "python", "code": "print(1)",
                 "tests": [{"stdin": "", "expected": "1"}] * n},
                DOCKER_RUNTIME=runtime, LOG_LEVEL="debug")
    assert p.returncode == 0, p.stderr[-2000:]
    assert json.loads(p.stdout)["summary"]["passed"] == n
    stamps = []
    for line in p.stderr.decode().splitlines():
        if "PUT /containers/" in line or ("DELETE /containers/" in line and stamps):
            t = line.split()[0]  # 2026-11-21T10:00:00.123Z
            stamps.append(float(t[17:23]) * 1000 + 60000 * int(t[14:16]) + 3600000 * int(t[11:13]))
    return [b - a for a, b in zip(stamps, stamps[1:])][:n]


def test_step_latency(sb, capsys):
    """Measures (does not judge) the median step latency of print(1) with runc and runsc, next to
    `docker run --rm` of the same program as the reference."""
    ref = []
    for _ in range(max(LATENCY_RUNS // 2, 3)):
        t0 = time.monotonic()
        docker("run", "--rm", "--network", "none", "code-runner/python:latest", "python3", "-c",
               "print(1)")
        ref.append((time.monotonic() - t0) * 1000)
    lines = [f"docker run --rm (CLI, reference): median {statistics.median(ref):.0f} ms"]
    for rt in ["runc"] + (["runsc"] if shutil.which("runsc") else []):
        lat = step_latencies(sb, rt, LATENCY_RUNS)
        assert len(lat) == LATENCY_RUNS
        lines.append(f"docker executor step, {rt}: median {statistics.median(lat):.0f} ms "
                     f"over {len(lat)} steps (min {min(lat):.0f}, max {max(lat):.0f})")
    with capsys.disabled():
        print("\n" + "\n".join(lines))


def make_certs(d):
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as for dockerd --tlsverify."""
    def ossl(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True, timeout=60)
    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test-ca",
         "-keyout", "ca-key.pem", "-out", "ca.pem")
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    (d / "client.cnf").write_text("extendedKeyUsage=clientAuth\n")
    for name, ext in (("server", "san.cnf"), ("client", "client.cnf")):
        ossl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout",
             f"{name}-key.pem", "-out", f"{name}.csr")
        ossl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
             "-CAcreateserial", "-days", "1", "-extfile", ext, "-out", f"{name}.pem")
    (d / "cert.pem").write_bytes((d / "client.pem").read_bytes())
    (d / "key.pem").write_bytes((d / "client-key.pem").read_bytes())


class TlsProxy:
    """tcp://127.0.0.1:<port> with TLS and client-certificate checks, forwarded to the engine's
    unix socket: how a remote engine started with --tlsverify looks to the worker."""

    def __init__(self, certs):
        import socket
        import ssl
        import threading
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(certs / "ca.pem"))
        self.ctx.load_cert_chain(certs / "server.pem", certs / "server-key.pem")
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.handshakes = 0
        self.threading, self.socket = threading, socket
        threading.Thread(target=self.serve, daemon=True).start()

    def pipe(self, a, b):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(self.socket.SHUT_RDWR)
            except OSError:
                pass

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
                tls = self.ctx.wrap_socket(conn, server_side=True)
            except OSError:
                if self.sock.fileno() < 0:
                    return
                continue
            self.handshakes += 1
            up = self.socket.socket(self.socket.AF_UNIX)
            up.connect("/var/run/docker.sock")
            self.threading.Thread(target=self.pipe, args=(tls, up), daemon=True).start()
            self.threading.Thread(target=self.pipe, args=(up, tls), daemon=True).start()

    def close(self):
        self.sock.close()


def test_tcp_engine_with_tls_verify(sb, tmp_path):
    assert shutil.which("openssl"), "openssl is not installed (deploy/install-deps.sh installs it)"
    make_certs(tmp_path)
    proxy = TlsProxy(tmp_path)
    try:
        env = {"DOCKER_HOST": f"tcp://127.0.0.1:{proxy.port}", "DOCKER_TLS_VERIFY": "1",
               "DOCKER_CERT_PATH": str(tmp_path)}
        r = sb.run("import sys\nprint(sys.stdin.read()[::-1])", stdin="olleh", env=env)
        assert r["verdict"] == "ok" and r["output"] == "hello\n"
        assert proxy.handshakes >= 2  # control connection (kept alive) and the attach stream
        bad = dict(env, DOCKER_CERT_PATH=str(tmp_path / "missing"))
        p = sb.call({"language": "python", "code": "print(1)"}, **bad)
        assert p.returncode != 0 and b"DOCKER_CERT_PATH" in p.stderr
    finally:
        proxy.close()


def test_worker_end_to_end_and_killed_worker_leaves_nothing(api, start_worker):
    """The real api and worker with EXECUTOR=docker: jobs succeed; a worker process killed in
    the middle of a job is replaced, and what it left in the engine is removed."""
    import signal as sig
    w = start_worker(EXECUTOR="docker", DOCKER_RUNTIME="runc", WORKER_CONCURRENCY=2)
    w.child_deaths_expected = True  # this test kills the worker processes itself
    ids = [api.submit({"language": "python", "code": f"print({i} * 2)"}) for i in range(4)]
    for i, tid in enumerate(ids):
        r = api.wait_result(tid, timeout=60)
        assert r["status"] == "SUCCESS" and r["result"]["output"] == f"{i * 2}\n", r
    slow = api.submit({"language": "python", "code": "import time\ntime.sleep(20)", "timeout": 25})
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(
            "-" in line for line in docker_objects(w.id)):
        time.sleep(0.1)
    owners = {line.split()[0] for line in docker_objects(w.id)}
    assert owners, "the slow job never started"
    # Kill every worker process (the supervisor restarts them and cleans up after the dead).
    for pid in subprocess.run(["pgrep", "-P", str(w.proc.pid)], capture_output=True,
                              text=True).stdout.split():
        os.kill(int(pid), sig.SIGKILL)
    # The job is requeued and may be retried at once by the replacement process, which has the
    # same worker id (and so the same labels): what must be gone is everything once it is over.
    r = api.wait_result(slow, timeout=90)
    assert r["status"] in ("SUCCESS", "FAILURE"), r
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and docker_objects(w.id):
        time.sleep(0.2)
    assert not docker_objects(w.id)
    w.stop()
    assert docker_objects(w.id) == []
