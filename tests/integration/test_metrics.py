"""Prometheus metrics against the real things: a real Prometheus (Debian's package) scrapes a real
api and worker on loopback while real jobs run, and what its HTTP API answers must match what ran
(jobs by status and verdict, languages, histograms, refusals, the reaper, restarts, slots, the
queue). The expositions pass promtool check metrics; the example alert rules pass promtool check
rules, fire where they should under promtool test rules, and load into that Prometheus; the
README shows them as deploy/prometheus/alerts.yml has them. The worker's endpoint is driven as a
misbehaving client would."""
import collections
import json
import os
import re
import shutil
import signal
import socket
import time
import uuid

import harness
import metrics_support
from harness import wait_until
from metrics_support import ALERTS, EXAMPLE_CONFIG, Prometheus, check_exposition, parse, promtool
from queue_support import PREFIX, finished, holder, py, sleeper, worker_process

HERE = os.path.dirname(os.path.abspath(__file__))
RULES_TEST = os.path.join(HERE, "prometheus_alerts_test.yml")
TOKEN = "scrape-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


# ---- the alert rules and the example configuration ----

def test_alert_rules_pass_promtool():
    r = promtool("check", "rules", ALERTS)
    assert r.returncode == 0 and "SUCCESS: 3 rules found" in r.stdout, r.stdout + r.stderr
    r = promtool("test", "rules", RULES_TEST)
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr


def test_alert_unit_tests_can_fail(workdir):
    """promtool test rules catches a broken rule: without its vector(0), the idle-workers alert
    would stay quiet when no worker host is scraped at all."""
    d = os.path.join(workdir, "deploy", "prometheus")
    os.makedirs(d)
    with open(ALERTS) as f:
        rules = f.read()
    broken = rules.replace("(sum(code_runner_worker_busy_slots) or vector(0))",
                           "sum(code_runner_worker_busy_slots)")
    assert broken != rules
    with open(os.path.join(d, "alerts.yml"), "w") as f:
        f.write(broken)
    tests = os.path.join(workdir, "tests", "integration")
    os.makedirs(tests)
    shutil.copy(RULES_TEST, tests)
    assert promtool("check", "rules", os.path.join(d, "alerts.yml")).returncode == 0
    r = promtool("test", "rules", os.path.join(tests, os.path.basename(RULES_TEST)))
    assert r.returncode != 0, r.stdout
    assert "alertname: CodeRunnerNoBusySlotsWhileQueueGrows" in r.stdout + r.stderr, r.stderr


def test_readme_shows_the_alert_rules():
    """The README's example rules are deploy/prometheus/alerts.yml's, as written there."""
    with open(os.path.join(harness.SOURCE_DIR, "README.md")) as f:
        readme = f.read()
    blocks = re.findall(r"```yaml\n(.*?)```", readme, re.S)
    with open(ALERTS) as f:
        rules = f.read()
    body = rules[rules.index("groups:"):]
    assert body in blocks, "README: the alert rules differ from deploy/prometheus/alerts.yml"


def test_example_configuration_passes_promtool(workdir):
    """deploy/prometheus/prometheus.yml, with its token file where it says (promtool checks the
    file exists) and alerts.yml beside it."""
    with open(EXAMPLE_CONFIG) as f:
        conf = f.read()
    token = os.path.join(workdir, "token")
    with open(token, "w") as f:
        f.write(TOKEN)
    assert "/etc/prometheus/code-runner-metrics-token" in conf
    path = os.path.join(workdir, "prometheus.yml")
    with open(path, "w") as f:
        f.write(conf.replace("/etc/prometheus/code-runner-metrics-token", token))
    shutil.copy(ALERTS, workdir)
    r = promtool("check", "config", path)
    assert r.returncode == 0 and "SUCCESS: 1 rule files found" in r.stdout, r.stdout + r.stderr


# ---- a real Prometheus scraping a real api and worker ----

def forge_unknown_language(redis):
    """A task whose stored request names no language (as a newer api might write): the worker
    cannot run it and writes FAILURE."""
    tid = str(uuid.uuid4())
    redis.cmd("HSET", f"{PREFIX}task:{tid}", "status", "PENDING", "attempts", 0, "created_at",
              int(time.time() * 1000), "request",
              json.dumps({"language": "cobol-85", "code": "x"}))
    redis.cmd("LPUSH", f"{PREFIX}queue", tid)
    return tid


JOBS = [  # (request, the verdict it must get)
    (py("print('ok')"), "ok"),
    (py("print('ok')"), "ok"),
    (py("print('ok')"), "ok"),
    (py("import sys; sys.exit(3)"), "runtime_error"),
    (py("raise SystemExit(4)"), "runtime_error"),
    (py("while True: pass", timeout=1), "time_limit"),
    (py("print('x')", tests=[{"stdin": "", "expected_output": "x\n"}]), "accepted"),
    (py("print('y')", tests=[{"stdin": "", "expected_output": "x\n"}]), "wrong_answer"),
    ({"language": "c", "code": "int main(void) { return 0; }"}, "ok"),
    ({"language": "c", "code": "int main(void) { return 0 }"}, "compile_error"),
]


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def scraped(port):
    """The worker's numbers, {} while its endpoint is not up yet."""
    try:
        status, text, _ = metrics_support.scrape("127.0.0.1", port, AUTH)
    except OSError:
        return {}
    return parse(text) if status == 200 else {}


def by(labels, result):
    """Prometheus query result as {tuple of the values of labels: value}, zeros left out."""
    out = {}
    for metric, v in result.items():
        m = dict(metric)
        if v:
            out[tuple(m.get(l, "") for l in labels)] = v
    return out


def test_prometheus_counts_what_ran(workdir, redis, start_api, start_worker):
    api = start_api(METRICS_TOKEN=TOKEN, API_THREADS=2)
    mport = harness.free_port()
    w = start_worker(WORKER_CONCURRENCY=2, METRICS_PORT=mport, METRICS_HOST="127.0.0.1",
                     METRICS_TOKEN=TOKEN)
    w.child_deaths_expected = True  # one worker process is killed below
    wait_until(lambda: listening(mport), timeout=30, what="the worker's metrics endpoint")
    prom = Prometheus(workdir, {"api": ([f"127.0.0.1:{api.port}"], TOKEN),
                                "worker": ([f"127.0.0.1:{mport}"], TOKEN)}, rule_files=[ALERTS])
    try:
        wait_until(lambda: prom.value("sum(up)") == 2, timeout=30, step=0.5,
                   what="prometheus to scrape both targets")

        # Jobs of every kind; what the api answered is the truth the counts must match.
        ids = [(api.submit(req), want) for req, want in JOBS]
        for _ in range(2):
            assert api.request("POST", "/run-code", body={"language": "brainfuck"})[0] == 400
        results = []
        for tid, want in ids:
            r = finished(api, tid)
            assert r["status"] == "SUCCESS" and r["result"]["verdict"] == want, (want, r)
            results.append(("SUCCESS", r["result"]["verdict"]))
        failed = forge_unknown_language(redis)
        r = finished(api, failed)
        assert r["status"] == "FAILURE", r
        results.append(("FAILURE", ""))
        # A worker process killed while it runs a job: the supervisor gives the job back
        # (the reaper's requeue), restarts the process, and the job runs again and counts once.
        setups = 'code_runner_sandbox_setup_seconds_count{language="python",executor="oci/builtin"}'
        assert scraped(mport)[setups] == 8
        tid = api.submit(sleeper(2, "survived"))
        wid = wait_until(lambda: holder(redis, tid), timeout=60, what="the job to run")
        pid = wait_until(lambda: worker_process(w, wid), what="its worker process")
        wait_until(lambda: scraped(mport)[setups] == 9, what="its sandbox")  # then it sleeps
        os.kill(pid, signal.SIGKILL)
        r = finished(api, tid)
        assert r["status"] == "SUCCESS" and r["result"]["output"] == "survived\n", r
        results.append(("SUCCESS", "ok"))
        submitted = len(JOBS) + 1

        expected = collections.Counter(results)
        wait_until(lambda: prom.value("sum(code_runner_jobs_total)") == len(results), timeout=30,
                   step=0.5, what="prometheus to have scraped every job")
        got = by(("status", "verdict"), prom.query(
            "sum by (status, verdict) (code_runner_jobs_total)"))
        assert got == dict(expected), got
        langs = by(("language",), prom.query("sum by (language) (code_runner_jobs_total)"))
        assert langs == {("python",): 9, ("c",): 2, ("other",): 1}, langs
        # Every job that ran in a sandbox is in the wall-time histogram once (the killed attempt
        # never finished), and every attempt in the set-up one (the killed one had its sandbox);
        # the executor label names the builtin runtime.
        for hist, python in (("code_runner_job_duration_seconds_count", 9),
                             ("code_runner_sandbox_setup_seconds_count", 10)):
            counts = by(("language", "executor"), prom.query(hist))
            assert counts == {("python", "oci/builtin"): python, ("c", "oci/builtin"): 2}, \
                (hist, counts)
        median = prom.value("histogram_quantile(0.5, sum by (le) "
                            "(code_runner_job_duration_seconds_bucket))")
        assert 0 < median < 10, median

        assert prom.value('sum(code_runner_http_requests_total{route="/run-code",code="200"})') \
            == submitted
        assert prom.value('sum(code_runner_submissions_rejected_total{reason="invalid"})') == 2
        assert prom.value("sum(code_runner_enqueue_duration_seconds_count)") == submitted
        assert prom.value('code_runner_reaper_jobs_total{reason="died",outcome="requeued"}') == 1
        assert prom.value('sum(code_runner_reaper_jobs_total{outcome="failed"})') == 0
        assert prom.value("code_runner_worker_process_restarts_total") == 1
        assert prom.value("code_runner_worker_slots") == 2
        assert prom.value('code_runner_warm_containers_total{outcome="used"}') >= 1
        wait_until(lambda: prom.value("code_runner_worker_busy_slots") == 0 and
                   prom.value("code_runner_worker_processes") == 2 and
                   prom.value("code_runner_queue_jobs") == 0 and
                   prom.value("code_runner_processing_jobs") == 0, timeout=30, step=0.5,
                   what="an idle worker and an empty queue in prometheus")
        assert prom.value("code_runner_registered_worker_processes") == 2
        assert prom.value("code_runner_worker_redis_connected") == 1
        assert prom.value('min(code_runner_redis_connected)') == 1

        # The alert rules are loaded and evaluate without error on the real series (none can
        # fire yet: each needs its condition for minutes; promtool test rules checks when they
        # do).
        groups = prom.api("rules")["groups"]
        rules = {r["name"]: r for g in groups for r in g["rules"]}
        assert set(rules) == {"CodeRunnerQueueTooOld", "CodeRunnerFailureRate",
                              "CodeRunnerNoBusySlotsWhileQueueGrows"}, set(rules)
        for name, rule in rules.items():
            assert rule["health"] == "ok" and rule["state"] != "firing", rule

        for port in (api.port, mport):
            status, text, _ = metrics_support.scrape("127.0.0.1", port, AUTH)
            assert status == 200
            check_exposition(text)
    finally:
        assert prom.stop() == 0, prom.proc.output()[-3000:]


# ---- the worker's endpoint ----

def raw(port, data, read=True):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    if data:
        s.sendall(data)
    if not read:
        return s
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    s.close()
    return out


def status_of(answer):
    return int(answer.split(b" ", 2)[1])


def test_worker_endpoint(redis, start_worker):
    """GET and HEAD of /metrics only, the token, bounded heads, busy connections that do not hold
    the others up, and the host's numbers."""
    port = harness.free_port()
    w = start_worker(WORKER_CONCURRENCY=3, METRICS_PORT=port, METRICS_HOST="127.0.0.1",
                     METRICS_TOKEN=TOKEN)
    wait_until(lambda: scraped(port).get("code_runner_worker_processes") == 3, timeout=30,
               what="three worker processes")
    status, text, headers = metrics_support.scrape("127.0.0.1", port, AUTH)
    assert status == 200 and headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    check_exposition(text)
    m = parse(text)
    assert m["code_runner_worker_slots"] == 3 and m["code_runner_worker_busy_slots"] == 0
    assert m["code_runner_worker_process_restarts_total"] == 0
    assert "# TYPE code_runner_jobs_total counter" in text
    assert "code_runner_http_requests_total" not in text  # the api's

    auth = f"Authorization: Bearer {TOKEN}\r\n".encode()
    assert status_of(raw(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")) == 401
    assert status_of(raw(port, b"GET /metrics HTTP/1.1\r\nAuthorization: Bearer no\r\n\r\n")) \
        == 401
    assert status_of(raw(port, b"GET /other HTTP/1.1\r\n" + auth + b"\r\n")) == 404
    assert status_of(raw(port, b"POST /metrics HTTP/1.1\r\n" + auth + b"\r\n")) == 405
    assert status_of(raw(port, b"nonsense\r\n\r\n")) == 400
    line = b"GET /metrics HTTP/1.1\r\nX: "
    assert status_of(raw(port, line + b"a" * (8191 - len(line)))) == 431  # all read: no RST
    head = raw(port, b"HEAD /metrics HTTP/1.0\r\n" + auth + b"\r\n")
    assert status_of(head) == 200 and head.endswith(b"\r\n\r\n"), head[-200:]
    assert int(re.search(rb"Content-Length: (\d+)", head).group(1)) > 1000

    # Silent clients take every connection slot: the next scrape waits in the backlog, and is
    # answered once they time out; meanwhile the supervisor goes on (a worker process killed now
    # is restarted).
    w.child_deaths_expected = True
    t_silent = time.monotonic()
    silent = [raw(port, b"GET /metr", read=False) for _ in range(8)]
    wid = f"{w.id}-0"
    pid = worker_process(w, wid)
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: worker_process(w, wid) not in (None, pid), timeout=10,
               what="the killed worker process to be restarted")
    answer = raw(port, b"GET /metrics HTTP/1.1\r\n" + auth + b"\r\n")
    assert status_of(answer) == 200
    assert 9 < time.monotonic() - t_silent < 15
    assert b"code_runner_worker_process_restarts_total 1\n" in answer
    for s in silent:
        assert s.recv(100) == b""  # closed by the server
        s.close()


def test_worker_endpoint_off_by_default_and_port_in_use(redis, start_worker):
    w = start_worker(WORKER_CONCURRENCY=1)
    wait_until(lambda: "ready" in w.proc.output(), timeout=30, what="the worker")
    assert "metrics on" not in w.proc.output()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        bad = start_worker(WORKER_CONCURRENCY=1, METRICS_PORT=port, METRICS_HOST="127.0.0.1")
        bad.proc.expected_exit = {1}
        assert bad.proc.proc.wait(30) == 1
        assert f"METRICS_HOST/METRICS_PORT: cannot listen on 127.0.0.1:{port}" in \
            bad.proc.output()
