"""Live sessions on the docker backend (runc, the engine of tests/docker-engine.sh, stopped again
at the end when this module started it): the workspace is a tmpfs on the host bound into each
run's step containers, so state flows through files from run to run (python, and C compiled in
one run, executed in the next), each run is a fresh container with a job's sandbox (user,
read-only image, no network, no capabilities, seccomp) that leaves no process behind, the
session outlives the ordinary jobs of its worker process (their cleanup of leftovers), the file
routes refuse traversal and links, and DELETE or a killed owner leave no container, volume,
mount, directory or Redis key. An engine that does not see the worker's files (reached over
TCP here) refuses sessions with a message saying why."""
import os
import secrets
import signal
import socket
import threading
import types

import pytest

import harness
from session_support import (PREFIX, Client, assert_no_host_leftovers, host_leftovers, owner_pid,
                             session_keys)
from support import docker_engine, docker_objects, import_images
from test_sessions import marker_processes

DOCKER_SOCK = os.environ.get("DOCKER_SOCK", "/var/run/docker.sock")


def start_stack(workdir, offers=True, **env):
    redis = harness.Redis(workdir)
    api = harness.Api(workdir, redis, RESULT_TTL=2)
    worker = harness.Worker(workdir, redis, EXECUTOR="docker", DOCKER_RUNTIME="runc",
                            WORKER_CONCURRENCY=1, HEARTBEAT_INTERVAL=1, RESULT_TTL=2,
                            MAX_SESSIONS_PER_WORKER=4, **env)
    st = types.SimpleNamespace(redis=redis, api=api, worker=worker, client=Client(api))
    if offers:
        offering(st)
    return st


def offering(st):
    harness.wait_until(lambda: st.redis.cmd("ZRANGE", f"{PREFIX}session_free", 0, -1),
                       timeout=30, what="the worker process to offer its places")


def stop_stack(st):
    code = st.worker.stop()
    st.api.stop()
    st.redis.stop()
    harness.check_clean(st.api, st.worker)
    return code


@pytest.fixture(scope="module")
def stack():
    with docker_engine():  # stopped at the end if started here
        import_images("python", "gcc")
        workdir = harness.make_workdir()
        st = start_stack(workdir)
        yield st
        assert stop_stack(st) == 0
        assert not docker_objects(f"{st.worker.id}-")
        harness.remove_workdir(workdir)


def no_leftovers(st, sid):
    """Nothing of the session on the host (mounts, directories) or in the engine (containers,
    volumes)."""
    assert_no_host_leftovers(st.worker, sid)
    harness.wait_until(lambda: not docker_objects(f"{st.worker.id}-"), timeout=10,
                       what=f"no container or volume: {docker_objects(st.worker.id)}")


def test_python_state_across_runs_in_a_jobs_sandbox(stack):
    s, worker = stack.client, stack.worker
    sid = s.create("python")
    assert s.get(sid)["container_id"] == f"cr-docker-{worker.id}-0-S{sid}"
    assert s.ok(sid, "open('helper.py', 'w').write('def answer():\\n    return 41\\n')\n"
                     "print('written')") == "written\n"
    out = s.ok(sid, "import helper, os, sys\nprint(helper.answer() + 1)\n"
                    "print(sys.stdin.read(), sys.argv[1:], os.getcwd(), os.getuid())",
               stdin="in", args=["a", "b c"])
    assert out == f"42\nin ['a', 'b c'] /workspace {worker.env['SANDBOX_UID_BASE']}\n"
    # the sandbox of a job's step: no capabilities, seccomp, no new privileges, the image
    # read-only, no network; the worker's stdin file is not in the workspace
    out = s.ok(sid, "import os, socket\n"
                    "st = dict(l.split(':\\t') for l in open('/proc/self/status').read()"
                    ".splitlines() if ':\\t' in l)\n"
                    "print(st['CapEff'], st['Seccomp'], st['NoNewPrivs'])\n"
                    "try:\n    open('/usr/x', 'w')\nexcept OSError as e:\n    print(e.errno)\n"
                    "print(sorted(n for _, n in socket.if_nameindex()))\n"
                    "print(sorted(os.listdir('.')))")
    head, listing = out.rsplit("\n", 2)[:2]
    assert head == "0000000000000000 2 1\n30\n['lo']", out
    assert "helper.py" in listing and "main.py" in listing and ".stdin" not in listing, out
    s.delete(sid)
    s.wait_status(sid, {"stopped"})


def test_c_compiles_in_one_run_and_the_next_executes_it(stack):
    s = stack.client
    sid = s.create("c")
    r = s.run(sid, '#include <stdio.h>\nint main(void){puts("built in run one");return 3;}',
              filename="first.c")
    assert r["exit_code"] == 3 and r["stdout"] == "built in run one\n", r
    assert s.list(sid)["first"]["type"] == "file"
    r = s.run(sid, '#include <unistd.h>\nint main(void){'
                   'execl("./first", "./first", (char *)0); return 99;}')
    assert r["stdout"] == "built in run one\n" and r["exit_code"] == 3, r
    s.delete(sid)
    s.wait_status(sid, {"stopped"})


def test_background_process_gone_and_ordinary_jobs_leave_the_session_alone(stack):
    """A run's leftovers die with its container; a job on the same worker process (whose
    cleanup removes the process's leftover containers and volumes) leaves the session whole."""
    s, api = stack.client, stack.api
    marker = "cr-bg-" + secrets.token_hex(6)
    sid = s.create("python")
    s.ok(sid, "import subprocess\nopen('kept', 'w').write('state')\n"
              f"subprocess.Popen(['python3', '-c', 'import time; time.sleep(1000)', '{marker}'],"
              " start_new_session=True)\nprint('started')")
    assert not marker_processes(marker), "a process of the earlier run is still there"
    out = s.ok(sid, "import os\nprint([p for p in os.listdir('/proc') if p.isdigit() and "
                    f"b'{marker}' in open(f'/proc/{{p}}/cmdline', 'rb').read()])")
    assert out == "[]\n"
    for _ in range(2):  # the one worker process runs the job between the session's runs
        res = api.wait_result(api.submit({"language": "python", "code": "print(6 * 7)"}))
        assert res["status"] == "SUCCESS" and res["result"]["output"] == "42\n", res
    assert s.ok(sid, "print(open('kept').read())") == "state\n"
    s.delete(sid)
    s.wait_status(sid, {"stopped"})


def test_file_routes_traversal_and_links(stack):
    s = stack.client
    sid = s.create("python")
    blob = bytes(range(256)) * 3
    assert s.put(sid, "data/deep/blob.bin", blob)["size"] == len(blob)
    assert s.get_file(sid, "data/deep/blob.bin") == blob
    assert s.ok(sid, "import os\nst = os.stat('data/deep')\n"
                     "print(open('data/deep/blob.bin','rb').read() == bytes(range(256))*3, "
                     "st.st_uid == os.getuid())") == "True True\n"
    s.ok(sid, "import os\nos.symlink('/etc/passwd', 'passwd')\nos.symlink('/', 'root')\n"
              "open('out.txt', 'w').write('from the run')")
    listing = s.list(sid)
    assert listing["data/deep/blob.bin"] == {"path": "data/deep/blob.bin", "type": "file",
                                             "size": 768}
    assert listing["passwd"]["type"] == "symlink" and listing["data"]["type"] == "directory"
    assert s.get_file(sid, "out.txt") == b"from the run"
    assert "symbolic link" in s.get_file(sid, "passwd", expect=409)["error"]
    assert "symbolic link" in s.put(sid, "root/etc/x", b"x", expect=409)["error"]
    s.put(sid, "passwd", b"replaced")  # the link is replaced, never written through
    assert s.get_file(sid, "passwd") == b"replaced"
    assert open("/etc/passwd").read().startswith("root:")
    for path in ("../escape", "a/../../escape", "%2e%2e/escape", "%2Fetc%2Fpasswd"):
        assert s.get_file(sid, path, expect=400, raw_path=True)["error"].startswith(
            "bad file path")
        s.put(sid, path, b"x", expect=400, raw_path=True)
    assert "no such file" in s.get_file(sid, "missing.txt", expect=404)["error"]
    s.delete(sid)
    s.wait_status(sid, {"stopped"})


def test_delete_leaves_nothing(stack):
    s = stack.client
    sid = s.create("python")
    s.ok(sid, "open('f', 'w').write('x')")
    left = host_leftovers(stack.worker, sid)
    assert left["mounts"] and left["dirs"], left  # the workspace tmpfs while it lives
    s.delete(sid)
    assert s.wait_status(sid, {"stopped"})["message"] == "deleted by its client"
    no_leftovers(stack, sid)
    harness.wait_until(lambda: s.gone(sid) and not session_keys(stack.redis, sid), timeout=10,
                       what=f"no key of the session: {session_keys(stack.redis, sid)}")


def test_killed_owner_leaves_nothing(stack):
    s, worker = stack.client, stack.worker
    worker.child_deaths_expected = True
    sid = s.create("python")
    s.ok(sid, "open('f', 'w').write('x')")
    busy = s.run_async(sid, "import time; time.sleep(60)")
    harness.wait_until(lambda: s.get(sid)["status"] == "executing" and docker_objects(
        f"{worker.id}-"), timeout=20, what="the run's container")
    assert host_leftovers(worker, sid)["mounts"]
    os.kill(owner_pid(worker, stack.redis, sid), signal.SIGKILL)
    assert stack.api.wait_result(busy, timeout=30)["status"] == "FAILURE"
    assert s.get(sid)["status"] == "error"
    # the supervisor's cleanup of the dead process (the running container included), then its
    # successor's start
    no_leftovers(stack, sid)
    offering(stack)
    other = s.create("python")
    assert s.ok(other, "print('after the restart')") == "after the restart\n"
    s.delete(other)
    s.wait_status(other, {"stopped"})


class TcpToUnix:
    """A plain TCP front of the engine's socket on loopback: an engine the worker reaches over
    the network, whose process it cannot see."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    @staticmethod
    def pipe(a, b):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            u = socket.socket(socket.AF_UNIX)
            u.connect(self.path)
            threading.Thread(target=self.pipe, args=(c, u), daemon=True).start()
            threading.Thread(target=self.pipe, args=(u, c), daemon=True).start()

    def close(self):
        self.sock.close()


def test_engine_that_does_not_see_our_files_refuses_sessions(stack):
    front = TcpToUnix(DOCKER_SOCK)
    workdir = harness.make_workdir()
    try:
        st = start_stack(workdir, offers=False, DOCKER_HOST=f"tcp://127.0.0.1:{front.port}")
        try:
            # the worker says why, once, and offers no place: creating a session is a 503
            harness.wait_until(lambda: "sees this worker's files" in st.worker.proc.output(), timeout=30,
                               what="the worker to say why it hosts no sessions")
            assert "EXECUTOR=oci" in st.worker.proc.output()
            assert not st.redis.cmd("ZRANGE", f"{PREFIX}session_free", 0, -1)
            status, body, headers = st.api.request("POST", "/api/v1/sessions?wait=20",
                                                   {"environment": "python"})
            assert status == 503 and "no worker process hosts sessions" in body["error"], body
            assert headers.get("Retry-After"), headers
            # jobs still run through that engine
            res = st.api.wait_result(st.api.submit({"language": "python", "code": "print(2)"}))
            assert res["status"] == "SUCCESS" and res["result"]["output"] == "2\n", res
        finally:
            assert stop_stack(st) == 0
        assert not docker_objects(f"{st.worker.id}-")
    finally:
        front.close()
        harness.remove_workdir(workdir)
