"""Live sessions against the real api, worker, Redis and builtin sandbox: state carried by files
from run to run in every language family, each run a fresh process tree (a background process
is gone before the next run), sessions isolated from each other, the file routes (and every
path or link trick refused), lifetimes (DELETE, SESSION_TTL, SESSION_MAX_LIFETIME) that leave
nothing behind on the host or in Redis, capacity (503), a killed owner (error, queued runs
FAILURE, a clean restart), a Redis restart, and ordinary jobs beside sessions."""
import os
import pathlib
import secrets
import signal
import socket
import threading
import time

import pytest

import harness
from support import list_containers
from session_support import (PREFIX, Client, assert_no_host_leftovers, host_leftovers,
                             owner_pid, session_keys)


def start(start_api, start_worker, redis, **env):
    """An api and a worker sharing env, once every worker process offers its places; the
    client of the api."""
    worker_env = {"WORKER_CONCURRENCY": 2, "HEARTBEAT_INTERVAL": 1, **env}
    api = start_api(**{k: v for k, v in env.items() if k.startswith(("SESSION_", "RESULT_",
                                                                      "MAX_"))})
    worker = start_worker(**worker_env)
    if env.get("MAX_SESSIONS_PER_WORKER", 1) != 0:
        harness.wait_until(lambda: len(redis.cmd("ZRANGE", f"{PREFIX}session_free", 0, -1)) ==
                           worker_env["WORKER_CONCURRENCY"], timeout=20,
                           what="the worker processes to offer their places")
    return api, worker, Client(api)


@pytest.fixture
def stack(start_api, start_worker, redis):
    return start(start_api, start_worker, redis)


def sandbox_uids(worker):
    """The users a worker's programs run as: SANDBOX_UID_BASE + slot."""
    base = int(worker.env["SANDBOX_UID_BASE"])
    return range(base, base + int(worker.env["WORKER_CONCURRENCY"]))


# ---- state across runs, in every language family ----

def test_python_module_written_then_imported(stack):
    api, worker, s = stack
    sid = s.create("python")
    assert s.ok(sid, "open('helper.py', 'w').write('def answer():\\n    return 41\\n')\n"
                     "print('written')") == "written\n"
    out = s.ok(sid, "import helper, os, sys\nprint(helper.answer() + 1)\n"
                    "print(sys.stdin.read(), sys.argv[1:], os.getcwd(), os.getuid())",
               stdin="in", args=["a", "b c"])
    head, uid = out.rsplit(" ", 1)
    assert head == "42\nin ['a', 'b c'] /workspace"
    assert int(uid) in sandbox_uids(worker), out  # its worker process's slot user
    files = s.list(sid)
    assert files["helper.py"]["type"] == "file" and files["helper.py"]["size"] == 28
    view = s.get(sid)
    assert view["status"] == "ready" and view["environment"] == "python"
    assert view["last_execution"] and view["created_at"] and view["container_id"]
    s.delete(sid)


def test_c_compiles_then_the_next_run_executes_the_binary(stack):
    api, worker, s = stack
    sid = s.create("c")
    r = s.run(sid, '#include <stdio.h>\nint main(void){puts("built in run one");return 3;}',
              filename="first.c")
    assert r["exit_code"] == 3 and r["stdout"] == "built in run one\n", r
    assert r["compile_output"] == "", r
    assert s.list(sid)["first"]["type"] == "file"
    r = s.run(sid, '#include <unistd.h>\nint main(void){'
                   'execl("./first", "./first", (char *)0); return 99;}')
    assert r["stdout"] == "built in run one\n" and r["exit_code"] == 3, r
    s.delete(sid)


FAMILIES = {
    "javascript": ("require('fs').writeFileSync('lib.js', 'module.exports = () => 41;');",
                   "console.log(require('./lib.js')() + 1)"),
    "java": ("public class Main { public static void main(String[] a) throws Exception {"
             " java.nio.file.Files.writeString(java.nio.file.Path.of(\"state.txt\"), \"42\"); } }",
             "public class Main { public static void main(String[] a) throws Exception {"
             " System.out.println(java.nio.file.Files.readString("
             "java.nio.file.Path.of(\"state.txt\"))); } }"),
    "cpp": ('#include <fstream>\nint main(){std::ofstream("state.txt") << 42;}',
            '#include <fstream>\n#include <iostream>\nint main(){int v; std::ifstream("state.txt")'
            ' >> v; std::cout << v << "\\n";}'),
    "rust": ('fn main(){ std::fs::write("state.txt", "42").unwrap(); }',
             'fn main(){ println!("{}", std::fs::read_to_string("state.txt").unwrap()); }'),
    "go": ('package main\nimport "os"\nfunc main(){ os.WriteFile("state.txt", []byte("42"), '
           '0644) }',
           'package main\nimport ("fmt"; "os")\nfunc main(){ b, _ := os.ReadFile("state.txt");'
           ' fmt.Println(string(b)) }'),
}


@pytest.mark.parametrize("language", sorted(FAMILIES))
def test_state_flows_through_files(stack, language):
    api, worker, s = stack
    sid = s.create(language)
    write, read = FAMILIES[language]
    s.ok(sid, write)
    assert s.ok(sid, read) == "42\n"
    s.delete(sid)


def test_java_class_from_an_earlier_run(stack):
    """A class compiled in one run (filename Util.java) is on the class path of the next."""
    api, worker, s = stack
    sid = s.create("java")
    r = s.run(sid, "public class Util { public static int answer() { return 42; }"
                   " public static void main(String[] a) {} }", filename="Util.java")
    assert r["verdict"] == "ok", (r, s.list(sid))
    assert s.ok(sid, "public class Main { public static void main(String[] a) {"
                     " System.out.println(Util.answer()); } }") == "42\n"
    s.delete(sid)


# ---- a run is a fresh process tree; sessions are apart ----

def test_background_process_is_gone_before_the_next_run(stack):
    api, worker, s = stack
    marker = "cr-bg-" + secrets.token_hex(6)
    sid = s.create("python")
    s.ok(sid, "import subprocess, os, sys\n"
              "sleeper = ['python3', '-c', 'import time; time.sleep(1000)', '" + marker + "']\n"
              "subprocess.Popen(sleeper, start_new_session=True)\n"
              "if os.fork() == 0:\n"
              "    os.setsid()\n"
              "    if os.fork() == 0:\n"
              "        os.execvp('python3', sleeper)\n"
              "    os._exit(0)\n"
              "os.wait()\n"
              "print('left behind')")
    out = s.ok(sid, "import os\nprint(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))")
    pids = eval(out)
    assert pids[0] == 1 and len(pids) == 2, out  # the holder and this run, nothing else
    assert not marker_processes(marker), "a process of the earlier run is still there"
    s.delete(sid)


def marker_processes(marker):
    found = []
    for proc in pathlib.Path("/proc").glob("[0-9]*"):
        try:
            if marker.encode() in (proc / "cmdline").read_bytes():
                found.append(proc.name)
        except OSError:
            pass
    return found


def test_sessions_see_neither_files_nor_processes_of_each_other(stack):
    api, worker, s = stack
    a, b = s.create("python"), s.create("python")
    token = secrets.token_hex(8)
    s.ok(a, f"open('secret.txt', 'w').write('{token}')")
    out = s.ok(b, "import os\nprint(sorted(os.listdir('.')), sorted(os.listdir('/proc')))")
    assert "secret.txt" not in out and token not in out
    procs = [p for p in out.split("] [")[1].strip("]\n").replace("'", "").split(", ")
             if p.isdigit()]
    assert procs[0] == "1" and len(procs) <= 3, out  # the holder, the run (and maybe a thread)
    # the other session's workspace cannot be reached from inside either
    out = s.ok(b, "import os\nfound = []\nfor d, dirs, files in os.walk('/'):\n"
                  "    dirs[:] = [x for x in dirs if d != '/' or x not in ('proc', 'sys')]\n"
                  "    found += [os.path.join(d, f) for f in files if f == 'secret.txt']\n"
                  "print(found)", timeout=20)
    assert out == "[]\n"
    assert s.get_file(b, "secret.txt", expect=404)["error"]
    assert s.get_file(a, "secret.txt") == token.encode()
    s.delete(a)
    s.delete(b)


def test_runs_are_serialized_in_submission_order_and_a_run_waits_for_creating(stack):
    api, worker, s = stack
    created = s.create("python", wait=0)
    assert created["status"] == "pending" and created["environment"] == "python"
    sid = created["session_id"]
    tasks = [s.run_async(sid, f"open('log', 'a').write('{i}')\nprint(open('log').read())")
             for i in range(6)]
    outs = [api.wait_result(t)["result"]["output"] for t in tasks]
    assert outs == ["0\n", "01\n", "012\n", "0123\n", "01234\n", "012345\n"]
    s.delete(sid)


# ---- files ----

def test_file_routes(stack):
    api, worker, s = stack
    sid = s.create("python")
    blob = bytes(range(256)) * 3
    assert s.put(sid, "data/deep/blob.bin", blob)["size"] == len(blob)
    assert s.get_file(sid, "data/deep/blob.bin") == blob
    s.put(sid, "name with space.txt", b"x")
    assert s.ok(sid, "print(open('data/deep/blob.bin','rb').read() == bytes(range(256))*3,"
                     " open('name with space.txt').read())") == "True x\n"
    listing = s.list(sid)
    assert listing["data"]["type"] == "directory"
    assert listing["data/deep/blob.bin"] == {"path": "data/deep/blob.bin", "type": "file",
                                             "size": 768}
    s.put(sid, "data/deep/blob.bin", b"short")  # overwrite truncates
    assert s.get_file(sid, "data/deep/blob.bin") == b"short"
    # written by the worker for the program: owned by the user the program runs as
    assert s.ok(sid, "import os\nst = os.stat('data/deep')\nprint(st.st_uid == os.getuid(), "
                     "st.st_uid)").startswith("True ")
    assert "no such file" in s.get_file(sid, "missing.txt", expect=404)["error"]
    assert "directory" in s.get_file(sid, "data", expect=409)["error"]
    s.put(sid, "data", b"x", expect=409)
    s.delete(sid)


@pytest.mark.parametrize("path", ["../escape", "a/../../escape", "%2e%2e/escape", "a/%2E%2E/b",
                                  "./a", "a//b", "a/", "%2Fetc%2Fpasswd", "a%00b"])
def test_path_traversal_is_refused(stack, path):
    api, worker, s = stack
    sid = s.create("python")
    body = s.get_file(sid, path, expect=400, raw_path=True)
    assert body["error"].startswith("bad file path"), body
    s.put(sid, path, b"x", expect=400, raw_path=True)
    s.delete(sid)


def test_links_planted_by_a_run_are_never_followed(stack, workdir):
    api, worker, s = stack
    canary = pathlib.Path(workdir) / "canary.txt"
    canary.write_text("host canary")
    os.chmod(workdir, 0o755)
    sid = s.create("python")
    s.ok(sid, "import os\n"
              f"os.symlink('{canary}', 'to_canary')\n"
              "os.symlink('/', 'root')\n"
              "os.symlink('/etc/passwd', 'passwd')\n"
              "os.mkdir('d')\n"
              "os.symlink('/tmp', 'd/tmp')\n"
              "os.mkfifo('fifo')\n")
    for path in ("to_canary", "passwd", "root/etc/hostname", "d/tmp/x"):
        err = s.get_file(sid, path, expect=409)["error"]
        assert "symbolic link" in err, (path, err)
    for path in ("root/etc/hostname", "d/tmp/x", "root/new/dir/x"):  # links in directories
        assert "symbolic link" in s.put(sid, path, b"overwritten", expect=409)["error"]
    assert "not a regular file" in s.get_file(sid, "fifo", expect=409)["error"]
    listing = s.list(sid)
    assert listing["to_canary"]["type"] == "symlink" and listing["fifo"]["type"] == "other"
    assert "passwd" in listing and not [p for p in listing if p.startswith("root/")]
    # a PUT makes the path a regular file: the link (or FIFO) there is replaced, not followed
    for path in ("to_canary", "passwd", "fifo"):
        s.put(sid, path, b"replaced")
        assert s.get_file(sid, path) == b"replaced"
        assert s.list(sid)[path]["type"] == "file"
    assert canary.read_text() == "host canary"
    assert open("/etc/passwd").read().startswith("root:")
    # the code file of a run too: a link planted there does not break the session
    s.ok(sid, "import os\nos.remove('main.py')\nos.symlink('/etc/shadow', 'main.py')")
    assert s.ok(sid, "print('runs again')") == "runs again\n"
    s.delete(sid)


def test_file_size_is_capped(start_api, start_worker, redis):
    api, worker, s = start(start_api, start_worker, redis, WORKSPACE_MB=1, MAX_BODY_BYTES=3 << 20)
    sid = s.create("python")
    s.put(sid, "big", b"x" * (2 << 20), expect=507)
    assert s.get_file(sid, "big") == b""  # given back, not half written
    s.put(sid, "fits", b"y" * 4096)
    with socket.create_connection((api.addr, api.port), timeout=30) as c:
        c.sendall(f"PUT {s.file_url(sid, 'huge')} HTTP/1.1\r\nHost: x\r\n"
                  f"Content-Length: {(3 << 20) + 1}\r\n\r\n".encode())
        assert c.recv(4096).startswith(b"HTTP/1.1 413"), "a body over MAX_BODY_BYTES"
    s.ok(sid, "open('grown', 'wb').write(b'g' * 900000)")
    s.delete(sid)


# ---- lifetimes: nothing left behind ----

def test_delete_leaves_nothing(start_api, start_worker, redis):
    api, worker, s = start(start_api, start_worker, redis, RESULT_TTL=2)
    sid = s.create("python")
    s.ok(sid, "open('f', 'w').write('x')")
    assert host_leftovers(worker, sid)["holders"], host_leftovers(worker, sid)
    d = s.delete(sid)
    assert d == {"session_id": sid, "status": "stopping", "message": "deleted by its client"}
    view = s.wait_status(sid, {"stopped"})
    assert view["message"] == "deleted by its client"
    assert s.delete(sid)["status"] == "stopped"  # again: as it is
    r = s.run(sid, "print(1)", expect=409)
    assert r["error"] == "the session is stopped: deleted by its client"
    assert_no_host_leftovers(worker, sid)
    harness.wait_until(lambda: s.gone(sid) and not session_keys(redis, sid),
                       timeout=10, what=f"no key of the session: {session_keys(redis, sid)}")


def test_ttl_expiry_leaves_nothing(start_api, start_worker, redis):
    api, worker, s = start(start_api, start_worker, redis, SESSION_TTL=3, RESULT_TTL=2)
    short = s.create("python", ttl=1)
    sid = s.create("python")
    t0 = time.monotonic()
    view = s.wait_status(short, {"stopped"}, timeout=10)
    assert view["message"] == "expired: idle for longer than its ttl"
    for _ in range(3):  # activity keeps it alive past its ttl
        time.sleep(1)
        s.ok(sid, "print(1)")
    assert s.get(sid)["status"] == "ready"
    s.wait_status(sid, {"stopped"}, timeout=10)
    assert time.monotonic() - t0 > 5
    for x in (short, sid):
        assert_no_host_leftovers(worker, x)
        harness.wait_until(lambda: s.gone(x) and not session_keys(redis, x),
                           timeout=10, what="no key of the expired session")


def test_max_lifetime(start_api, start_worker, redis):
    api, worker, s = start(start_api, start_worker, redis, SESSION_MAX_LIFETIME=3, SESSION_TTL=3)
    sid = s.create("python")
    deadline = time.monotonic() + 15
    while s.get(sid)["status"] == "ready" and time.monotonic() < deadline:
        s.run(sid, "print(1)", expect=(200))
        time.sleep(0.3)
    view = s.wait_status(sid, {"stopped"})
    assert view["message"] == "expired: it reached SESSION_MAX_LIFETIME", view
    assert_no_host_leftovers(worker, sid)


def test_capacity_answers_503_and_writes_nothing(start_api, start_worker, redis):
    api, worker, s = start(start_api, start_worker, redis, MAX_SESSIONS_PER_WORKER=1)
    a, b = s.create("python"), s.create("python")  # one per worker process
    keys = sorted(redis.cmd("KEYS", f"{PREFIX}*"))
    status, data, headers = api.request("POST", "/api/v1/sessions", {"environment": "python"})
    assert status == 503 and headers.get("Retry-After") == "5", (status, data, headers)
    assert "MAX_SESSIONS_PER_WORKER" in data["error"]
    assert sorted(redis.cmd("KEYS", f"{PREFIX}*")) == keys  # nothing half made
    s.delete(a)
    s.wait_status(a, {"stopped"})
    c = s.create("python")
    assert s.ok(c, "print(3)") == "3\n"
    for x in (b, c):
        s.delete(x)


def test_no_worker_for_sessions_answers_503(start_api, start_worker, redis):
    api, worker, s = start(start_api, start_worker, redis, MAX_SESSIONS_PER_WORKER=0)
    status, data, headers = api.request("POST", "/api/v1/sessions", {"environment": "python"})
    assert status == 503 and "no worker process hosts sessions" in data["error"], data
    assert headers.get("Retry-After")
    assert api.wait_result(api.submit({"language": "python", "code": "print(1)"}))[
        "status"] == "SUCCESS"


# ---- faults ----

def test_killed_owner_errors_its_sessions_and_fails_their_queued_runs(stack, redis):
    api, worker, s = stack
    worker.child_deaths_expected = True
    sid = s.create("python")
    s.ok(sid, "open('f', 'w').write('x')")
    busy = s.run_async(sid, "import time; time.sleep(30)")
    queued = [s.run_async(sid, f"print({i})") for i in range(3)]
    harness.wait_until(lambda: s.get(sid)["status"] == "executing", timeout=20)
    pid = owner_pid(worker, redis, sid)
    os.kill(pid, signal.SIGKILL)
    why = "the host running this session stopped; create a new session (its workspace is gone)"
    for t in [busy] + queued:
        assert api.wait_result(t, timeout=20) == {"status": "FAILURE", "result": why}
    view = s.get(sid)
    assert view["status"] == "error" and view["message"] == why
    r = s.run(sid, "print(1)", expect=409)
    assert r["error"] == "the session is in error: " + why
    assert_no_host_leftovers(worker, sid)
    # the restarted process is clean and takes new sessions
    other = s.create("python")
    assert s.ok(other, "import os\nprint(os.listdir('.'))") == "['main.py']\n"
    s.delete(other)


def test_redis_restart_keeps_sessions(workdir, start_api, start_worker):
    redis = harness.Redis(os.path.join(workdir, "aof"), aof=True)
    try:
        api = start_api(REDIS_URL=redis.url)
        worker = start_worker(REDIS_URL=redis.url, WORKER_CONCURRENCY=1, HEARTBEAT_INTERVAL=1)
        s = Client(api)
        sid = harness.wait_until(lambda: try_create(s), timeout=15, what="a session")
        s.ok(sid, "open('kept', 'w').write('before')")
        redis.stop()
        time.sleep(1)
        redis.start()
        out = harness.wait_until(lambda: try_run(s, sid), timeout=30, what="a run after the restart")
        assert out == "before\n"
        s.delete(sid)
    finally:
        for p in [worker, api]:
            p.stop()
        redis.stop()


def try_create(s):
    status, data, _ = s.api.request("POST", "/api/v1/sessions?wait=10", {"environment": "python"})
    return data["session_id"] if status == 200 and data["status"] == "ready" else None


def try_run(s, sid):
    status, data, _ = s.api.request("POST", f"/api/v1/sessions/{sid}/execute",
                                    {"code": "print(open('kept').read())"})
    return data["stdout"] if status == 200 and data.get("status") == "completed" else None


# ---- ordinary jobs beside sessions ----

def test_a_job_does_not_wait_behind_a_session_run(stack):
    """The owner's own queue answered first: its BLMOVE on the shared queue was taken back, so a
    job submitted while the session runs goes to the other worker process at once."""
    api, worker, s = stack
    sid = s.create("python")
    busy = s.run_async(sid, "import time; time.sleep(6)")
    harness.wait_until(lambda: s.get(sid)["status"] == "executing", timeout=20)
    for _ in range(3):
        t0 = time.monotonic()
        r = api.wait_result(api.submit({"language": "python", "code": "print('job')"}))
        assert r["result"]["output"] == "job\n"
        assert time.monotonic() - t0 < 4, "the job waited behind the session's run"
    assert api.wait_result(busy)["status"] == "SUCCESS"
    s.delete(sid)


def test_many_sessions_at_once(stack):
    api, worker, s = stack
    sids = [s.create("python") for _ in range(6)]
    outs = {}

    def work(sid):
        for i in range(3):
            outs.setdefault(sid, []).append(
                s.ok(sid, f"open('n','a').write('{i}')\nprint(open('n').read())"))

    threads = [threading.Thread(target=work, args=(x,)) for x in sids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(outs[x] == ["0\n", "01\n", "012\n"] for x in sids), outs
    for x in sids:
        s.delete(x)


# ---- other OCI runtimes: each run a container of its own on the session's workspace ----

@pytest.mark.parametrize("runtime", ["runc", "runsc"])
def test_sessions_under_another_oci_runtime(start_api, start_worker, redis, runtime):
    api, worker, s = start(start_api, start_worker, redis, OCI_RUNTIME=runtime,
                           WORKER_CONCURRENCY=1)
    marker = "cr-bg-" + secrets.token_hex(6)
    sid = s.create("python")
    assert s.get(sid)["container_id"].startswith(f"cr-{worker.id}_0-")
    s.ok(sid, "import subprocess\nopen('kept', 'w').write('state')\n"
              f"subprocess.Popen(['python3', '-c', 'import time; time.sleep(1000)', '{marker}'],"
              " start_new_session=True)")
    assert s.ok(sid, "print(open('kept').read())") == "state\n"
    assert not marker_processes(marker)
    s.put(sid, "up.txt", b"uploaded")
    assert s.ok(sid, "print(open('up.txt').read())") == "uploaded\n"
    s.delete(sid)
    s.wait_status(sid, {"stopped"})
    assert_no_host_leftovers(worker)
    assert not [c for c in list_containers(runtime) if c.startswith(f"cr-{worker.id}")]
