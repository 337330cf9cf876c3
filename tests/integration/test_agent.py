"""The executor-host agent (`worker --serve`) on its own, as a remote worker and a hostile client
see it: the real binary on loopback (and, for the refusal to listen elsewhere without a token, in
a network namespace of its own), real jobs in real sandboxes.

Checked: Bearer authentication on every route but /health (missing, wrong, right; the token from
a file, never in the job processes' environment or any command line); capacity (slots, busy,
languages, images); jobs and their answers (the result JSON a worker writes to Redis; invalid
requests as FAILURE; code and input arriving byte for byte whatever shell syntax they hold); the
newline heartbeat while a job runs; 503 when every slot is busy and while draining; SIGTERM drains
(the running job is answered, then exit 0); a job process SIGKILLed mid-job answers an error and
is restarted; a client that goes away leaves the agent serving; hostile input: garbage JSON, a
missing id, an oversized body (413), a slow client (cut at CLIENT_TIMEOUT while others are
served), unknown routes and methods."""
import base64
import os
import signal
import socket
import threading
import time

import pytest

import harness
import netns
from harness import wait_until
from remote_support import TOKEN, Agent, raw_exchange
from support import worker_leftovers as leftovers

PY_SLEEP = "import time, sys\ntime.sleep({s})\nprint('slept', flush=True)\n"


@pytest.fixture
def start_agent(workdir):
    started = []

    def start(**kw):
        a = Agent(workdir, **kw)
        started.append(a)
        return a

    yield start
    for a in started:
        a.stop()
    harness.check_clean(*started)
    ids = [a.id.replace("-", "_") for a in started]
    assert not leftovers(ids, [a.env["STATE_DIR"] for a in started])


def test_auth_and_capacity(start_agent):
    a = start_agent()
    assert a.request("GET", "/health", token=None)[:2] == (200, {"status": "ok"})
    for token in (None, "wrong", TOKEN + "x", TOKEN[:-1]):
        status, body, headers = a.request("GET", "/v1/capacity", token=token)
        assert status == 401 and "token" in body["error"], (token, status, body)
        assert headers.get("WWW-Authenticate") == "Bearer"
        status, body = a.job({"language": "python", "code": "print(1)"}, token=token)
        assert status == 401, (token, status, body)
    cap = a.capacity()
    assert cap["slots"] == 2 and cap["busy"] == 0 and cap["idle"] == 2 and not cap["draining"]
    assert cap["executor"] == "oci" and cap["runtime"] == "builtin"
    with open(os.path.join(harness.SOURCE_DIR, "images", "languages.json")) as f:
        import json
        table = json.load(f)["languages"]
    built = [lang for lang in table
             if os.path.isdir(os.path.join(harness.IMAGES_DIR, lang["image"], "rootfs"))]
    assert cap["languages"] == [lang["id"] for lang in built]
    assert sorted(cap["images"]) == sorted({lang["image"] for lang in built})
    assert a.request("GET", "/nope")[0] == 404
    assert a.request("GET", "/v1/jobs")[0] == 405
    assert a.request("POST", "/v1/capacity", b"{}")[0] == 405


def test_token_from_file_and_out_of_sight(start_agent, workdir):
    path = os.path.join(workdir, "token")
    with open(path, "w") as f:
        f.write(TOKEN + "\n")
    os.chmod(path, 0o400)
    a = start_agent(token=None, EXECUTOR_AUTH_TOKEN_FILE=path)
    a.token = TOKEN
    status, body = a.job({"language": "python", "code": "print(6 * 7)"})
    assert status == 200 and body["status"] == "SUCCESS" and body["result"]["output"] == "42\n"
    assert a.request("GET", "/v1/capacity", token="nope")[0] == 401
    for pid in [a.proc.pid] + a.job_pids():
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            assert TOKEN.encode() not in f.read()
    for pid in a.job_pids():  # the job processes have no token at all
        with open(f"/proc/{pid}/environ", "rb") as f:
            assert b"EXECUTOR_AUTH_TOKEN" not in f.read()
    assert TOKEN not in a.proc.output()


def test_token_env_never_reaches_job_processes(start_agent):
    a = start_agent()
    a.capacity()
    for pid in a.job_pids():
        with open(f"/proc/{pid}/environ", "rb") as f:
            assert TOKEN.encode() not in f.read()
    assert TOKEN not in a.proc.output()


def test_refuses_to_start_without_token(workdir):
    # Both ways at once: ambiguous.
    p = Agent(workdir, wait=False, EXECUTOR_AUTH_TOKEN_FILE="/nonexistent")
    p.proc.expected_exit = {1}
    p.proc.proc.wait(30)
    assert "both set" in p.proc.output()
    # No token, loopback, but not allowed explicitly.
    p = Agent(workdir, token=None, wait=False)
    p.proc.expected_exit = {1}
    p.proc.proc.wait(30)
    assert "needs a token" in p.proc.output()
    # Allowed without a token only on loopback: on a test host's address it refuses, before it
    # listens there.
    net = netns.Network("ag", index=78)
    try:
        h = net.add("h", 2)
        p = Agent(workdir, host=h, token=None, wait=False, EXECUTOR_ALLOW_NO_TOKEN=1)
        p.proc.expected_exit = {1}
        p.proc.proc.wait(30)
        assert "needs a token" in p.proc.output() and p.proc.proc.returncode == 1
        harness.check_clean(p)
    finally:
        net.close()


def test_loopback_without_token(start_agent):
    a = start_agent(token=None, EXECUTOR_ALLOW_NO_TOKEN=1)
    status, body = a.job({"language": "python", "code": "print('open')"})
    assert status == 200 and body["result"]["output"] == "open\n"


def test_jobs_and_answers(start_agent):
    a = start_agent()
    status, body = a.job({"language": "c", "code": "#include <stdio.h>\nint main(void){puts(\"hi\");return 3;}"})
    assert status == 200 and body["status"] == "SUCCESS", body
    r = body["result"]
    assert r["output"] == "hi\n" and r["exit_code"] == 3 and r["verdict"] == "runtime_error"
    assert r["compile_output"] == "" and set(r) >= {"time_ms", "wall_ms", "memory_kb", "truncated"}
    # Tests, limits, verdicts: the same object the worker writes.
    status, body = a.job({"language": "python", "code": "print(input()[::-1])",
                          "tests": [{"stdin": "abc", "expected_output": "cba"},
                                    {"stdin": "xy", "expected_output": "no"}]})
    r = body["result"]
    assert r["summary"] == {"passed": 1, "total": 2} and r["verdict"] == "wrong_answer"
    # The system could not run it: FAILURE with the reason, not an HTTP error.
    status, body = a.job({"language": "cobol", "code": "x"})
    assert status == 200 and body["status"] == "FAILURE" and "cobol" in body["result"]
    status, body = a.job({"language": "python", "code": "x", "timeout": 100000})
    assert status == 200 and body["status"] == "FAILURE" and "timeout" in body["result"]


def test_code_travels_byte_for_byte(start_agent, tmp_path):
    """Shell syntax, quotes, NULs and non-UTF-8 bytes reach the program as they were sent."""
    a = start_agent()
    marker = tmp_path / "pwned"
    nasty = f"'; touch {marker}; echo \"$(touch {marker})\" `touch {marker}` \\ \n\t ü €"
    code = "import sys\nsys.stdout.write(" + repr(nasty) + ")\n"
    status, body = a.job({"language": "python", "code": code})
    assert body["status"] == "SUCCESS" and body["result"]["output"] == nasty, body
    blob = bytes(range(256)) * 3
    status, body = a.job({"language": "python", "base64": True,
                          "code": base64.b64encode(b"import sys\nsys.stdout.buffer.write(sys.stdin.buffer.read()[::-1])\n").decode(),
                          "stdin": base64.b64encode(blob).decode()})
    r = body["result"]
    assert r["base64"] is True and base64.b64decode(r["output"]) == blob[::-1]
    assert not marker.exists()


def test_heartbeat_and_busy(start_agent):
    a = start_agent(WORKER_CONCURRENCY=1)
    got = {}

    def slow():
        c = socket.create_connection((a.addr, a.port), timeout=30)
        body = ('{"id": "slow1", "request": {"language": "python", "code": %s}}'
                % __import__("json").dumps(PY_SLEEP.format(s=3))).encode()
        c.sendall(b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode() +
                  b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        t0, stamps, data = time.monotonic(), [], b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            stamps.append((time.monotonic() - t0, chunk))
            data += chunk
            if b'"status"' in data and data.endswith(b"\r\n0\r\n\r\n"):
                break
        c.close()
        got["stamps"], got["data"] = stamps, data

    t = threading.Thread(target=slow)
    t.start()
    wait_until(lambda: a.capacity()["busy"] == 1, timeout=10, what="the slow job to start")
    status, body, headers = a.request("POST", "/v1/jobs", {"id": "x", "request": {"language": "python", "code": "1"}})
    assert status == 503 and headers.get("Retry-After") == "1" and "busy" in body["error"]
    t.join(30)
    data = got["data"]
    assert b"200 OK" in data.split(b"\r\n")[0] and b"chunked" in data.lower()
    # Newlines came while it ran, at about one a second, before the answer.
    early = [s for s, chunk in got["stamps"] if b"\n" in chunk and b"status" not in chunk and s < 3]
    assert len(early) >= 1, got["stamps"]
    assert b'"output":"slept\\n"' in data
    assert a.capacity()["busy"] == 0


def test_drain_on_sigterm(start_agent):
    a = start_agent(WORKER_CONCURRENCY=1)
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("r", a.job(
        {"language": "python", "code": PY_SLEEP.format(s=2)}, job_id="drainjob")))
    t.start()
    wait_until(lambda: a.capacity()["busy"] == 1, timeout=10, what="the job to start")
    a.proc.signal(signal.SIGTERM)
    wait_until(lambda: a.request("GET", "/health", token=None)[0] == 503, timeout=5,
               what="health to say draining")
    assert a.request("GET", "/health", token=None)[1] == {"status": "draining"}
    status, body, headers = a.request("POST", "/v1/jobs", {"id": "late", "request": {"language": "python", "code": "1"}})
    assert status == 503 and "draining" in body["error"] and headers.get("Retry-After")
    t.join(30)
    status, body = out["r"]
    assert status == 200 and body["result"]["output"] == "slept\n"
    a.proc.proc.wait(30)
    assert a.proc.proc.returncode == 0


def test_job_process_killed_mid_job(start_agent):
    a = start_agent(WORKER_CONCURRENCY=1)
    a.slot_deaths_expected = True
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("r", a.job(
        {"language": "python", "code": PY_SLEEP.format(s=20)}, job_id="victim")))
    t.start()
    wait_until(lambda: a.capacity()["busy"] == 1, timeout=10, what="the job to start")
    [pid] = a.job_pids()
    os.kill(pid, signal.SIGKILL)
    t.join(30)
    status, body = out["r"]
    assert status == 200 and "killed by signal 9" in body["error"], body
    wait_until(lambda: a.capacity()["idle"] == 1, timeout=15, what="the job process to restart")
    status, body = a.job({"language": "python", "code": "print('again')"})
    assert body["result"]["output"] == "again\n"


def test_client_gone_mid_job(start_agent):
    a = start_agent(WORKER_CONCURRENCY=1)
    body = ('{"id": "left", "request": {"language": "python", "code": %s}}'
            % __import__("json").dumps(PY_SLEEP.format(s=3))).encode()
    with socket.create_connection((a.addr, a.port), timeout=10) as c:
        c.sendall(b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode() +
                  b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        assert c.recv(100).startswith(b"HTTP/1.1 200")  # accepted: a slot runs it
    wait_until(lambda: "went away" in a.proc.output(), timeout=10, what="the agent to notice")
    wait_until(lambda: a.capacity()["idle"] == 1, timeout=15, what="the job to end")
    status, body = a.job({"language": "python", "code": "print('next')"})
    assert body["result"]["output"] == "next\n"


def test_hostile_bodies(start_agent):
    a = start_agent(MAX_BODY_BYTES=65536)
    for body, what in ((b"garbage", "not JSON"), (b"[1,2]", "object"),
                       (b'{"request": {}}', "'id'"), (b'{"id": "a b", "request": {}}', "'id'"),
                       (b'{"id": "x", "request": "print(1)"}', "'request'"),
                       (b'{"id": "x", "id": "y", "request": {}}', "not JSON")):
        status, reply, _ = a.request("POST", "/v1/jobs", body)
        assert status == 400 and what in reply["error"], (body, status, reply)
    big = b'{"id": "big", "request": {"language": "python", "code": "' + b"#" * 200000 + b'"}}'
    resp = raw_exchange(a.addr, a.port, b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                        + TOKEN.encode() + b"\r\nContent-Length: %d\r\n\r\n" % len(big) + big[:1000])
    assert resp.startswith(b"HTTP/1.1 413"), resp[:200]
    # Still serving.
    status, body = a.job({"language": "python", "code": "print(1)"})
    assert body["result"]["output"] == "1\n"


def test_slow_clients(start_agent):
    """A request trickled a byte at a time holds no slot and holds nobody up; one that stops
    sending is cut after CLIENT_TIMEOUT; a crowd of idle connections does not stop the jobs."""
    a = start_agent(CLIENT_TIMEOUT=2, WORKER_CONCURRENCY=1)
    idle = [socket.create_connection((a.addr, a.port), timeout=10) for _ in range(100)]
    stalled = socket.create_connection((a.addr, a.port), timeout=10)
    stalled.sendall(b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Le")
    t0 = time.monotonic()
    trickle = socket.create_connection((a.addr, a.port), timeout=10)
    body = b'{"id": "trickled", "request": {"language": "python", "code": "print(7)"}}'
    req = (b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode() +
           b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    cut_at = None
    try:
        for i, byte in enumerate(req[:40]):
            trickle.send(bytes([byte]))
            time.sleep(0.05)
            if i % 10 == 0:  # meanwhile the only slot serves others
                status, r = a.job({"language": "python", "code": f"print({i})"})
                assert r["result"]["output"] == f"{i}\n"
                assert a.capacity()["busy"] == 0
            if cut_at is None:
                stalled.settimeout(0.001)
                try:
                    if stalled.recv(1) == b"":
                        cut_at = time.monotonic() - t0
                except socket.timeout:
                    pass
                except OSError:
                    cut_at = time.monotonic() - t0
        trickle.sendall(req[40:])
        data = b""
        while b'"status"' not in data:
            data += trickle.recv(65536)
        assert b'"output":"7\\n"' in data or b'"output":"7\\n' in data, data
        stalled.settimeout(10)
        if cut_at is None:
            assert stalled.recv(1) == b""
            cut_at = time.monotonic() - t0
        assert 1.5 < cut_at < 8, cut_at
    finally:
        for s in idle + [stalled, trickle]:
            s.close()
