"""The api against a real redis-server: routes, validation, the atomic enqueue, expiry, queue
limit, long-polls, authentication, Redis outages, shutdown and start-up errors, and what GET
/metrics counts of all that.
Run with CR_API_VALGRIND=1 to run every api under valgrind and fail on leaks or errors."""
import base64
import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

import harness
import metrics_support
from api_support import SLOW, SUCCESS, VALGRIND, Api, finish, raw_get, read_response

PY = {"language": "python", "code": "print('hi')"}


@pytest.fixture
def start_api(workdir, redis):
    """Like conftest's, with the valgrind variant; checks every api's exit (and valgrind)."""
    started = []

    def start(**env):
        a = Api(workdir, redis, **env)
        started.append(a)
        return a

    yield start
    for a in started:
        code = a.stop()
        out = a.proc.output()
        assert code == 0, f"api exit {code}\n{out[-4000:]}"
        assert "Sanitizer" not in out and "runtime error" not in out, out[-4000:]
        if VALGRIND:
            report = a.valgrind_report()
            assert code == 0, f"api exit {code}\n{report[-4000:]}"
            assert "ERROR SUMMARY: 0 errors" in report, report[-4000:]


@pytest.fixture
def api(start_api):
    return start_api()


def finish_later(redis, task_id, status, result, delay):
    t = threading.Timer(delay, finish, (redis, task_id, status, result))
    t.start()
    return t


# ---- simple routes ----

def test_health_ok(api):
    status, body, headers = api.request("GET", "/health")
    assert (status, body) == (200, {"status": "ok"})
    assert headers["Content-Type"] == "application/json"


def test_languages_lists_python(api):
    status, body, _ = api.request("GET", "/languages")
    assert status == 200
    langs = body["languages"] if isinstance(body, dict) else body
    py = [l for l in langs if l["id"] == "python"]
    assert py and "py" in py[0]["aliases"] and py[0]["version"]


def test_unknown_route_404(api):
    for path in ["/", "/nope", "/run-code/x", "/results", "/healthz"]:
        status, body, headers = api.request("GET", path)
        assert status == 404 and "error" in body, path
        assert headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("method,path,allow", [
    ("GET", "/run-code", "POST"),
    ("PUT", "/run-code", "POST"),
    ("POST", "/health", "GET, HEAD"),
    ("DELETE", "/languages", "GET, HEAD"),
    ("POST", "/results/2b1e6e0e-8d36-4a0c-9f5c-0f6f4d5c1a11", "GET, HEAD"),
    ("PATCH", "/health", "GET, HEAD"),
])
def test_wrong_method_405(api, method, path, allow):
    status, body, headers = api.request(method, path, body="{}")
    assert status == 405 and "error" in body
    assert headers["Allow"] == allow
    assert headers["Content-Type"] == "application/json"


# ---- POST /run-code ----

def test_run_code_enqueues_atomically(api, redis):
    task_id = api.submit({"language": "py", "code": "print(1)", "stdin": "x", "timeout": 5})
    key = f"test:task:{task_id}"
    assert redis.cmd("HGET", key, "status") == "PENDING"
    stored = json.loads(redis.cmd("HGET", key, "request"))
    assert stored["language"] == "python"  # alias resolved, canonical form
    assert stored["code"] == "print(1)" and stored["stdin"] == "x" and stored["timeout"] == 5
    assert int(redis.cmd("HGET", key, "created_at")) > 0
    assert redis.cmd("LRANGE", "test:queue", 0, -1) == [task_id]
    assert redis.cmd("TTL", key) == -1  # no expiry before the final write (test_delivery)
    assert api.result(task_id) == {"status": "PENDING", "result": None}


def test_run_code_base64_round_trip(api, redis):
    code = base64.b64encode(b"print('\xc3\xa9')").decode()
    task_id = api.submit({"language": "python", "code": code, "base64": True})
    stored = json.loads(redis.cmd("HGET", f"test:task:{task_id}", "request"))
    assert stored["base64"] is True and base64.b64decode(stored["code"]) == b"print('\xc3\xa9')"


@pytest.mark.parametrize("body", [
    "{not json",
    "[1, 2]",
    "\"a string\"",
    "",
    json.dumps({"code": "print(1)"}),
    json.dumps({"language": "python"}),
    json.dumps({"language": "python", "code": ""}),
    json.dumps({"language": 3, "code": "x"}),
    json.dumps({"language": "python", "code": 5}),
    json.dumps({"language": "cobol-1959", "code": "x"}),
    json.dumps({"language": "python", "code": "x", "timeout": 31}),
    json.dumps({"language": "python", "code": "x", "timeout": 0}),
    json.dumps({"language": "python", "code": "x", "timeout": "5"}),
    json.dumps({"language": "python", "code": "x", "timeout": 2.5}),
    json.dumps({"language": "python", "code": "x", "memory_mb": 1000000}),
    json.dumps({"language": "python", "code": "x", "args": "a b"}),
    json.dumps({"language": "python", "code": "x", "stdin": 7}),
    json.dumps({"language": "python", "code": "!!!not base64!!!", "base64": True}),
    json.dumps({"language": "python", "code": "x", "base64": "yes"}),
    json.dumps({"language": "python", "code": "x", "unknown_field": 1}),
    '{"language": "python", "code": "x", "code": "y"}',
])
def test_run_code_invalid_400(api, redis, body):
    status, data, headers = api.request("POST", "/run-code", body=body)
    assert status == 400, (body, data)
    assert isinstance(data, dict) and isinstance(data["error"], str) and data["error"]
    assert headers["Content-Type"] == "application/json"
    assert redis.cmd("LLEN", "test:queue") == 0


def test_body_too_large_413_json(start_api):
    api = start_api(MAX_BODY_BYTES=2048)
    big = {"language": "python", "code": "x" * 4096}
    status, data, headers = api.request("POST", "/run-code", body=big)
    assert status == 413 and "error" in data, data
    assert headers["Content-Type"] == "application/json"
    # Chunked, with no Content-Length: capped while reading.
    with socket.create_connection(("127.0.0.1", api.port), timeout=10) as s:
        s.sendall(b"POST /run-code HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        try:
            for _ in range(8):
                s.sendall(b"400\r\n" + b"a" * 1024 + b"\r\n")
        except OSError:
            pass  # the server may close before we finish
        status, data = read_response(s)
        assert status == 413 and "error" in data
    # A body just under the limit is still accepted.
    ok = {"language": "python", "code": "x" * 1900}
    assert api.request("POST", "/run-code", body=ok)[0] == 200


def test_headers_too_large_json(api):
    status, data, headers = api.request("GET", "/health", headers={"X-Big": "a" * 20000})
    assert status in (400, 413, 431) and "error" in data
    assert headers["Content-Type"] == "application/json"


def test_queue_full_503(start_api, redis):
    api = start_api(MAX_QUEUE_LENGTH=2)
    api.submit(PY)
    api.submit(PY)
    status, data, headers = api.request("POST", "/run-code", body=PY)
    assert status == 503 and "error" in data
    assert int(headers["Retry-After"]) > 0
    assert redis.cmd("LLEN", "test:queue") == 2
    assert len(redis.cmd("KEYS", "test:task:*")) == 2


def test_noscript_falls_back_to_eval(api, redis):
    api.submit(PY)
    redis.cmd("SCRIPT", "FLUSH")
    api.submit(PY)
    api.submit(PY)
    assert redis.cmd("LLEN", "test:queue") == 3


# ---- GET /results/{id} ----

@pytest.mark.parametrize("task_id", ["nope", "1234", "2b1e6e0e-8d36-4a0c-9f5c-0f6f4d5c1a1",
                                     "2b1e6e0e-8d36-4a0c-9f5c-0f6f4d5c1a11x",
                                     "zb1e6e0e-8d36-4a0c-9f5c-0f6f4d5c1a11",
                                     "2b1e6e0e-8d36-4a0c-9f5c-0f6f4d5c1a11/x"])
def test_results_malformed_id_404(api, task_id):
    status, data, headers = api.request("GET", f"/results/{task_id}")
    assert status == 404 and "error" in data
    assert headers["Content-Type"] == "application/json"


def test_results_unknown_id_404(api):
    status, data, _ = api.request("GET", "/results/2b1e6e0e-8d36-4a0c-9f5c-0f6f4d5c1a11")
    assert status == 404 and "error" in data


def test_results_success_and_failure(api, redis):
    a, b = api.submit(PY), api.submit(PY)
    redis.cmd("HSET", f"test:task:{a}", "status", "RUNNING")
    assert api.result(a) == {"status": "PENDING", "result": None}
    finish(redis, a, "SUCCESS", SUCCESS)
    finish(redis, b, "FAILURE", "sandbox could not start")
    assert api.result(a) == {"status": "SUCCESS", "result": SUCCESS}
    assert api.result(b) == {"status": "FAILURE", "result": "sandbox could not start"}
    assert api.result(a.upper()) == {"status": "SUCCESS", "result": SUCCESS}


def test_finished_task_expires(start_api, redis):
    # The TTL is set by the final write (here as SCRIPT_FINISH does it); then GET answers 404.
    api = start_api()
    task_id = api.submit(PY)
    finish(redis, task_id, "SUCCESS", SUCCESS)
    redis.cmd("EXPIRE", f"test:task:{task_id}", 1)
    harness.wait_until(lambda: redis.cmd("EXISTS", f"test:task:{task_id}") == 0, timeout=5,
                       what="the task to expire")
    status, data, _ = api.request("GET", f"/results/{task_id}")
    assert status == 404 and "error" in data


@pytest.mark.parametrize("wait", ["abc", "31", "-1", "", "1e9", "nan"])
def test_bad_wait_400(api, wait):
    task_id = api.submit(PY)
    for method, path in [("GET", f"/results/{task_id}?wait={wait}"),
                         ("POST", f"/run-code?wait={wait}")]:
        status, data, _ = api.request(method, path, body=PY if method == "POST" else None)
        assert status == 400 and "error" in data, (path, data)


# ---- long-polls ----

def test_long_poll_wakes_on_completion(api, redis):
    task_id = api.submit(PY)
    delay = 0.5 * SLOW
    t0 = time.monotonic()
    finish_later(redis, task_id, "SUCCESS", SUCCESS, delay)
    r = api.result(task_id, wait=10)
    elapsed = time.monotonic() - t0
    assert r == {"status": "SUCCESS", "result": SUCCESS}
    assert delay <= elapsed < delay + 0.1 * SLOW + 0.05, elapsed


def test_long_poll_failure_wakes(api, redis):
    task_id = api.submit(PY)
    finish_later(redis, task_id, "FAILURE", "no runtime", 0.2)
    assert api.result(task_id, wait=10) == {"status": "FAILURE", "result": "no runtime"}


def test_long_poll_times_out_pending(api):
    task_id = api.submit(PY)
    t0 = time.monotonic()
    status, data, _ = api.request("GET", f"/results/{task_id}?wait=1")
    elapsed = time.monotonic() - t0
    assert (status, data) == (200, {"status": "PENDING", "result": None})
    assert 0.95 <= elapsed < 1.5 * SLOW, elapsed
    status, data, _ = api.request("GET", f"/results/{task_id}?wait=0.3")
    assert data["status"] == "PENDING"


def test_long_poll_on_finished_task_answers_at_once(api, redis):
    task_id = api.submit(PY)
    finish(redis, task_id, "SUCCESS", SUCCESS)
    t0 = time.monotonic()
    assert api.result(task_id, wait=20)["status"] == "SUCCESS"
    assert time.monotonic() - t0 < 0.5 * SLOW


def test_long_poll_unknown_id_404_at_once(api):
    status, _, _ = api.request("GET", "/results/2b1e6e0e-8d36-4a0c-9f5c-0f6f4d5c1a11?wait=20")
    assert status == 404


def test_run_code_wait_pending(api):
    t0 = time.monotonic()
    status, data, _ = api.request("POST", "/run-code?wait=1", body=PY)
    assert status == 200
    assert data["status"] == "PENDING" and data["result"] is None and len(data["task_id"]) == 36
    assert time.monotonic() - t0 >= 0.95


def test_run_code_wait_returns_result_inline(api, redis):
    def worker():
        # Take the job the way a worker would and finish it.
        harness.wait_until(lambda: redis.cmd("LLEN", "test:queue") == 1, timeout=10 * SLOW)
        task_id = redis.cmd("RPOP", "test:queue")
        time.sleep(0.2)
        finish(redis, task_id, "SUCCESS", SUCCESS)
    t = threading.Thread(target=worker)
    t.start()
    status, data, _ = api.request("POST", "/run-code?wait=10", body=PY)
    t.join()
    assert status == 200
    assert data["status"] == "SUCCESS" and data["result"] == SUCCESS and len(data["task_id"]) == 36


def test_completion_of_other_task_does_not_wake(api, redis):
    a, b = api.submit(PY), api.submit(PY)
    finish_later(redis, b, "SUCCESS", SUCCESS, 0.2)
    t0 = time.monotonic()
    assert api.result(a, wait=1) == {"status": "PENDING", "result": None}
    assert time.monotonic() - t0 >= 0.95


def test_many_concurrent_long_polls(api, redis):
    n = 300 if VALGRIND else 2000
    ids = [api.submit(PY) for _ in range(20)]
    socks = [raw_get(api.port, f"/results/{ids[i % len(ids)]}?wait=30") for i in range(n)]
    time.sleep(1.0 * SLOW)  # let every request reach the waiter registry
    t0 = time.monotonic()
    for task_id in ids:
        finish(redis, task_id, "SUCCESS", SUCCESS)
    for s in socks:
        status, data = read_response(s)
        assert status == 200 and data["status"] == "SUCCESS"
        s.close()
    assert time.monotonic() - t0 < 5 * SLOW


def test_client_disconnect_while_waiting(api, redis):
    task_id = api.submit(PY)
    socks = [raw_get(api.port, f"/results/{task_id}?wait=30") for _ in range(50)]
    time.sleep(0.5 * SLOW)
    for s in socks:
        s.close()
    harness.wait_until(lambda: api.proc.output().count("client gone") >= 50, timeout=5 * SLOW,
                       what="the api to notice the closed long-polls")
    # Still healthy, and a later completion finds no stale waiters.
    finish(redis, task_id, "SUCCESS", SUCCESS)
    assert api.request("GET", "/health")[0] == 200
    assert api.result(task_id, wait=5)["status"] == "SUCCESS"


def test_two_threads(start_api, redis):
    api = start_api(API_THREADS=2)
    ids = [api.submit(PY) for _ in range(10)]
    results = {}

    def poll(task_id):
        results[task_id] = api.result(task_id, wait=20)
    threads = [threading.Thread(target=poll, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    time.sleep(0.5 * SLOW)
    for task_id in ids:
        finish(redis, task_id, "SUCCESS", SUCCESS)
    for t in threads:
        t.join()
    assert all(results[i]["status"] == "SUCCESS" for i in ids)
    assert api.proc.output().count("subscribed to test:done") >= 2


def test_client_timeout_spares_long_polls(start_api, redis):
    api = start_api(CLIENT_TIMEOUT=1)
    task_id = api.submit(PY)
    t0 = time.monotonic()
    assert api.result(task_id, wait=2.5)["status"] == "PENDING"
    assert time.monotonic() - t0 >= 2.4
    # An idle connection is closed after CLIENT_TIMEOUT.
    with socket.create_connection(("127.0.0.1", api.port), timeout=10 * SLOW) as s:
        t0 = time.monotonic()
        assert s.recv(100) == b""
        assert 0.9 <= time.monotonic() - t0 < 3 * SLOW


def test_keep_alive_connection_serves_several_requests(api, redis):
    import http.client
    task_id = api.submit(PY)
    c = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    try:
        for path in ["/health", f"/results/{task_id}?wait=0.2", "/languages", "/nope"]:
            c.request("GET", path)
            r = c.getresponse()
            json.loads(r.read())
    finally:
        c.close()


# ---- authentication ----

def test_auth(start_api):
    api = start_api(API_KEYS="key-one,key-two")
    for headers in [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "key-one"},
                    {"Authorization": "Basic a2V5LW9uZQ=="}, {"Authorization": "Bearer key-one2"},
                    {"Authorization": "Bearer key-on"}]:
        for method, path in [("POST", "/run-code"), ("GET", "/languages"),
                             ("GET", "/results/2b1e6e0e-8d36-4a0c-9f5c-0f6f4d5c1a11")]:
            status, data, h = api.request(method, path, body=PY if method == "POST" else None,
                                          headers=headers)
            assert status == 401 and "error" in data, (headers, path)
            assert h["WWW-Authenticate"].startswith("Bearer")
    for key in ["key-one", "key-two"]:
        auth = {"Authorization": f"Bearer {key}"}
        task_id = api.submit(PY, headers=auth)
        status, data, _ = api.request("GET", f"/results/{task_id}", headers=auth)
        assert status == 200 and data["status"] == "PENDING"
        assert api.request("GET", "/languages", headers=auth)[0] == 200
    assert api.request("GET", "/health")[0] == 200


# ---- GET /metrics ----

def metrics_of(api, headers=None):
    """The api's exposition, checked by promtool, as {series: value}."""
    status, text, h = metrics_support.scrape("127.0.0.1", api.port, headers)
    assert status == 200, text
    assert h["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    metrics_support.check_exposition(text)
    return metrics_support.parse(text)


def requests_of(m, route, code):
    return m.get(f'code_runner_http_requests_total{{route="{route}",code="{code}"}}')


def test_metrics_count_requests_refusals_and_the_queue(start_api, redis):
    """Every answer counted by route and status code over two event loops, each refusal of a
    submission by its reason, each acknowledged enqueue in the latency histogram; the queue read
    from Redis at scrape time."""
    api = start_api(API_THREADS=2, MAX_QUEUE_LENGTH=3, MAX_BODY_BYTES=2048)
    ids = [api.submit(PY) for _ in range(3)]
    assert api.request("POST", "/run-code", body=PY)[0] == 503  # queue full
    assert api.request("POST", "/run-code", body="{nope")[0] == 400
    assert api.request("POST", "/run-code?wait=99", body=PY)[0] == 400
    big = {"language": "python", "code": "x" * 4096}
    assert api.request("POST", "/run-code", body=big)[0] == 413  # libevent's, by Content-Length
    for _ in range(2):
        assert api.request("GET", "/results/2b1e6e0e-8d36-4a0c-9f5c-0f6f4d5c1a11")[0] == 404
    assert api.request("GET", f"/results/{ids[0]}")[0] == 200
    assert api.request("DELETE", "/health")[0] == 405
    assert api.request("GET", "/nope")[0] == 404
    # A worker registered with one job in its processing list; the next job waited 10 s.
    redis.cmd("ZADD", "test:workers", int(time.time() * 1000) + 60000, "w-0")
    redis.cmd("RPUSH", "test:processing:w-0", "2b1e6e0e-8d36-4a0c-9f5c-0f6f4d5c1a12")
    tail = redis.cmd("LINDEX", "test:queue", -1)
    redis.cmd("HSET", f"test:task:{tail}", "created_at", int(time.time() * 1000) - 10000)
    harness.wait_until(lambda: metrics_of(api).get(
        'code_runner_redis_connected{connection="subscriber"}') == 1, timeout=5 * SLOW,
        what="both connections of both loops to be up")
    m = metrics_of(api)
    assert requests_of(m, "/run-code", 200) == 3
    assert requests_of(m, "/run-code", 503) == 1
    assert requests_of(m, "/run-code", 400) == 2
    assert requests_of(m, "/run-code", 413) == 1
    assert requests_of(m, "/results/{task_id}", 404) == 2
    assert requests_of(m, "/results/{task_id}", 200) == 1
    assert requests_of(m, "/health", 405) == 1
    assert requests_of(m, "other", 404) == 1
    assert requests_of(m, "/languages", 200) == 0  # a code seen elsewhere shows on every route
    assert requests_of(m, "/run-code", 401) is None  # a code never sent is not shown
    rejected = {r: m[f'code_runner_submissions_rejected_total{{reason="{r}"}}']
                for r in ("invalid", "unauthorized", "too_large", "queue_full", "unavailable")}
    assert rejected == {"invalid": 2, "unauthorized": 0, "too_large": 1, "queue_full": 1,
                        "unavailable": 0}
    assert m["code_runner_enqueue_duration_seconds_count"] == 3
    assert m['code_runner_enqueue_duration_seconds_bucket{le="+Inf"}'] == 3
    assert 0 < m["code_runner_enqueue_duration_seconds_sum"] < 3 * SLOW
    assert m['code_runner_redis_connected{connection="command"}'] == 1
    assert m["code_runner_longpolls"] == 0
    assert m["code_runner_queue_jobs"] == 3
    assert 10 <= m["code_runner_queue_oldest_job_age_seconds"] < 10 + 5 * SLOW
    assert m["code_runner_processing_jobs"] == 1
    assert m["code_runner_registered_worker_processes"] == 1
    # The scrapes themselves are counted (the last one after it answered).
    assert requests_of(metrics_of(api), "/metrics", 200) >= 2


def test_metrics_long_polls_gauge(api, redis):
    """The open long-polls: up when requests wait, down when one is answered, when its client
    goes away and when its wait runs out."""
    ids = [api.submit(PY) for _ in range(3)]
    socks = [raw_get(api.port, f"/results/{i}?wait=30") for i in ids]
    short = raw_get(api.port, f"/results/{ids[0]}?wait={2 * SLOW}")
    harness.wait_until(lambda: metrics_of(api)["code_runner_longpolls"] == 4, timeout=5 * SLOW,
                       what="4 open long-polls")
    finish(redis, ids[1], "SUCCESS", SUCCESS)
    assert read_response(socks[1])[0] == 200
    harness.wait_until(lambda: metrics_of(api)["code_runner_longpolls"] == 3, timeout=5 * SLOW,
                       what="3 open long-polls")
    socks[2].close()
    harness.wait_until(lambda: metrics_of(api)["code_runner_longpolls"] == 2, timeout=5 * SLOW,
                       what="2 open long-polls once a client went away")
    assert read_response(short) == (200, {"status": "PENDING", "result": None})
    harness.wait_until(lambda: metrics_of(api)["code_runner_longpolls"] == 1, timeout=5 * SLOW,
                       what="1 open long-poll once a wait ran out")
    finish(redis, ids[0], "SUCCESS", SUCCESS)
    assert read_response(socks[0])[0] == 200
    assert metrics_of(api)["code_runner_longpolls"] == 0
    for s in socks + [short]:
        s.close()


def test_metrics_without_redis(api, redis):
    """Redis down: /metrics still answers, says so, and leaves the queue out; the refused
    submissions are counted as unavailable. Redis hung: the answer comes within REDIS_TIMEOUT."""
    harness.wait_until(lambda: "code_runner_queue_jobs" in metrics_of(api), timeout=5 * SLOW,
                       what="the queue's metrics")
    redis.kill()
    harness.wait_until(lambda: api.request("GET", "/health")[0] == 503, timeout=5 * SLOW,
                       what="/health to report 503")
    assert api.request("POST", "/run-code", body=PY)[0] == 503
    m = metrics_of(api)
    assert m['code_runner_redis_connected{connection="command"}'] == 0
    assert "code_runner_queue_jobs" not in m
    assert m['code_runner_submissions_rejected_total{reason="unavailable"}'] == 1
    assert requests_of(m, "/health", 503) >= 1
    redis.start()
    harness.wait_until(lambda: metrics_of(api).get("code_runner_queue_jobs") == 0,
                       timeout=10 * SLOW, what="the api to reconnect")
    os.kill(redis.proc.pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        m = metrics_of(api)
        assert time.monotonic() - t0 < 5 + 2 * SLOW
        assert "code_runner_queue_jobs" not in m and "code_runner_longpolls" in m
    finally:
        os.kill(redis.proc.pid, signal.SIGCONT)


def test_metrics_token(start_api):
    """With METRICS_TOKEN, /metrics takes that token and no API key, and the token submits
    nothing; without it, /metrics takes the API keys like every other route."""
    api = start_api(API_KEYS="key-one", METRICS_TOKEN="scrape-me")
    for headers in [{}, {"Authorization": "Bearer key-one"}, {"Authorization": "Bearer scrape"}]:
        status, data, h = api.request("GET", "/metrics", headers=headers)
        assert status == 401 and "METRICS_TOKEN" in data["error"], headers
        assert h["WWW-Authenticate"] == "Bearer"
    assert api.request("POST", "/run-code", body=PY,
                       headers={"Authorization": "Bearer scrape-me"})[0] == 401
    m = metrics_of(api, {"Authorization": "Bearer scrape-me"})
    assert m['code_runner_submissions_rejected_total{reason="unauthorized"}'] == 1
    assert requests_of(m, "/metrics", 401) == 3
    keyed = start_api(API_KEYS="key-one")
    assert keyed.request("GET", "/metrics")[0] == 401
    metrics_of(keyed, {"Authorization": "Bearer key-one"})


# ---- Redis outages ----

def test_redis_down_and_back(api, redis):
    task_id = api.submit(PY)
    # A long-poll registered before the outage...
    before = {}
    t = threading.Thread(target=lambda: before.update(api.result(task_id, wait=25)))
    t.start()
    time.sleep(0.3 * SLOW)
    redis.cmd("SAVE")  # the restarted server loads this snapshot: the task survives
    redis.kill()
    harness.wait_until(lambda: api.request("GET", "/health")[0] == 503, timeout=5 * SLOW,
                       what="/health to report 503")
    status, data, headers = api.request("GET", "/health")
    assert status == 503 and "error" in data and headers["Retry-After"] == "1"
    t0 = time.monotonic()
    status, data, headers = api.request("POST", "/run-code", body=PY)
    assert status == 503 and "error" in data and headers["Retry-After"] == "1"
    status, data, headers = api.request("GET", f"/results/{task_id}")
    assert status == 503 and headers["Retry-After"] == "1"
    assert time.monotonic() - t0 < 1.0 * SLOW  # answered at once, not after a timeout
    assert api.proc.alive()

    redis.start()  # same port
    harness.wait_until(lambda: api.request("GET", "/health")[0] == 200, timeout=10 * SLOW,
                       what="the api to reconnect")
    assert t.is_alive()  # the re-read after reconnect found the task still pending
    time.sleep(0.5 * SLOW)  # the subscriber reconnects independently of the command connection
    finish(redis, task_id, "SUCCESS", SUCCESS)
    t.join(timeout=25)
    assert before == {"status": "SUCCESS", "result": SUCCESS}

    # A long-poll registered after recovery wakes too.
    task2 = api.submit(PY)
    finish_later(redis, task2, "FAILURE", "boom", 0.3)
    assert api.result(task2, wait=10) == {"status": "FAILURE", "result": "boom"}
    out = api.proc.output()
    assert "connection lost" in out and "restored" in out


def test_waiter_woken_by_recheck_after_reconnect(api, redis):
    """A completion published while the API was cut off from Redis is not lost: after the
    resubscribe the API re-reads the tasks it waits for."""
    task_id = api.submit(PY)
    got = {}
    t = threading.Thread(target=lambda: got.update(api.result(task_id, wait=25)))
    t.start()
    time.sleep(0.3 * SLOW)
    finish(redis, task_id, "SUCCESS", SUCCESS)  # normally wakes at once; then:
    t.join(timeout=5)
    assert got["status"] == "SUCCESS"
    task2 = api.submit(PY)
    t = threading.Thread(target=lambda: got.update(api.result(task2, wait=25)))
    t.start()
    time.sleep(0.3 * SLOW)
    # Cut the API's connections (as a network blip would) and finish the task meanwhile.
    for line in redis.cmd("CLIENT", "LIST").splitlines():
        addr = [f for f in line.split() if f.startswith("addr=")][0][5:]
        if "cmd=client" not in line:
            redis.cmd("CLIENT", "KILL", addr)
    key = f"test:task:{task2}"
    redis.cmd("HSET", key, "status", "FAILURE", "result", json.dumps("lost wake-up"))
    t.join(timeout=10 * SLOW)
    assert got == {"status": "FAILURE", "result": "lost wake-up"}


def test_hung_redis_answers_503_in_time(api, redis):
    assert api.request("GET", "/health")[0] == 200
    os.kill(redis.proc.pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        status, data, headers = api.request("GET", "/health")
        assert status == 503 and headers["Retry-After"] == "1"
        assert 4 <= time.monotonic() - t0 < 5 + 2 * SLOW
    finally:
        os.kill(redis.proc.pid, signal.SIGCONT)
    harness.wait_until(lambda: api.request("GET", "/health")[0] == 200, timeout=5 * SLOW,
                       what="the api to see redis again")


def test_starts_while_redis_down(workdir, redis, start_api):
    redis.kill()
    api = start_api()
    assert api.request("GET", "/health")[0] == 503
    redis.start()
    harness.wait_until(lambda: api.request("GET", "/health")[0] == 200, timeout=10 * SLOW,
                       what="the api to connect")
    # Each event loop reconnects on its own backoff: a request reaching a loop that has not
    # reconnected yet gets 503 with Retry-After, never a hang; soon every loop accepts work.
    harness.wait_until(lambda: api.request("POST", "/run-code", PY)[0] == 200, timeout=10 * SLOW,
                       what="every loop to accept submissions")
    api.submit(PY)


def test_redis_password_and_db(workdir):
    r = harness.Redis(workdir)
    try:
        r.cmd("CONFIG", "SET", "requirepass", "s3cret")
        a = Api(workdir, r, REDIS_URL=f"redis://:s3cret@127.0.0.1:{r.port}/3")
        try:
            task_id = a.submit(PY)
            assert a.request("GET", "/health")[0] == 200
            with socket.create_connection(("127.0.0.1", r.port)) as s:
                s.sendall(b"AUTH s3cret\r\nSELECT 3\r\nEXISTS test:task:" + task_id.encode() +
                          b"\r\n")
                time.sleep(0.2)
                assert s.recv(1000).endswith(b":1\r\n")
        finally:
            assert a.stop() == 0
    finally:
        r.stop()


# ---- life cycle ----

def test_sigterm_exits_zero_and_answers_waiters(api, redis):
    task_id = api.submit(PY)
    socks = [raw_get(api.port, f"/results/{task_id}?wait=30") for _ in range(3)]
    time.sleep(0.3 * SLOW)
    t0 = time.monotonic()
    api.proc.signal(signal.SIGTERM)
    for s in socks:
        status, data = read_response(s)
        assert (status, data) == (200, {"status": "PENDING", "result": None})
        s.close()
    api.proc.proc.wait(timeout=10 * SLOW)
    assert api.proc.proc.returncode == 0
    assert time.monotonic() - t0 < 3 * SLOW
    assert "shutting down" in api.proc.output()


def test_sigint_exits_zero(api):
    api.proc.signal(signal.SIGINT)
    assert api.proc.proc.wait(timeout=10 * SLOW) == 0


def run_api_expecting_failure(redis, **env):
    env = harness.base_env(redis, API_HOST="127.0.0.1", **env)
    p = subprocess.run([os.path.join(harness.BUILD_DIR, "api")], env=env, capture_output=True,
                       timeout=10, text=True)
    return p.returncode, p.stdout + p.stderr


@pytest.mark.parametrize("var,value", [("API_PORT", "abc"), ("API_PORT", "70000"),
                                       ("API_THREADS", "-1"), ("MAX_BODY_BYTES", "12x"),
                                       ("REDIS_URL", "http://localhost"),
                                       ("RESULT_TTL", "0")])
def test_bad_config_exits_naming_variable(redis, var, value):
    env = {"API_PORT": harness.free_port(), var: value}
    code, out = run_api_expecting_failure(redis, **env)
    assert code != 0 and var in out, out


def test_unreadable_languages_file(redis, workdir):
    code, out = run_api_expecting_failure(redis, API_PORT=harness.free_port(),
                                          LANGUAGES_FILE=os.path.join(workdir, "missing.json"))
    assert code != 0 and "LANGUAGES_FILE" in out, out


def test_port_in_use(redis):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        code, out = run_api_expecting_failure(redis, API_PORT=s.getsockname()[1])
    assert code != 0 and "API_PORT" in out, out
