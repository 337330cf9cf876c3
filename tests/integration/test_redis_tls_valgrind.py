"""The TLS paths under valgrind: the api and the worker (supervisor and worker processes) over
mutual TLS to a real redis-server, with hiredis's TLS half and OpenSSL loaded at start-up, run
jobs end to end; an api given the wrong CA refuses the server and explains why. Every process
valgrind watched must report no error and no leak (OpenSSL included)."""
import glob
import os
import re
import signal

import harness
from harness import wait_until
from queue_support import py
from tls_support import SERVER_NAME, Pki, ServerTls, TlsRedis

VALGRIND = ["valgrind", "--leak-check=full", "--show-leak-kinds=definite,indirect,possible",
            "--errors-for-leak-kinds=definite,indirect,possible", "--error-exitcode=99",
            "--trace-children=no", "--child-silent-after-fork=no"]


def under_valgrind(program, cls, workdir, redis, log, **env):
    """An Api or Worker object whose process is the program under valgrind."""
    p = cls.__new__(cls)
    p.host, p.workdir, p.procs = None, workdir, []
    p.env = harness.base_env(redis, **env)
    vg_log = os.path.join(workdir, f"valgrind-{log}-%p.log")
    argv = VALGRIND + [f"--log-file={vg_log}", os.path.join(harness.BUILD_DIR, program)]
    if program == "worker":
        # as in test_worker_valgrind: the builtin runtime's setrlimit needs valgrind's own limit
        argv = ["prlimit", "--nofile=1024:1024"] + argv
    p.proc = harness.Process(argv, p.env, os.path.join(workdir, f"{log}.log"))
    p.procs.append(p.proc)
    return p, vg_log


def healthy(api):
    try:
        return api.request("GET", "/health")[0] == 200
    except OSError:  # not listening yet: valgrind starts slowly
        return False


def report(vg_log):
    out = ""
    for name in sorted(glob.glob(vg_log.replace("%p", "*"))):
        with open(name) as f:
            out += f"--- {name}\n" + f.read()
    return out


def check_report(vg_log, at_least):
    out = report(vg_log)
    summaries = re.findall(r"ERROR SUMMARY: (\d+) errors", out)
    assert len(summaries) >= at_least, out[-4000:]
    assert all(n == "0" for n in summaries), out[-6000:]
    assert not re.search(r"(definitely|indirectly|possibly) lost: [1-9]", out), out[-6000:]
    return len(summaries)


def test_tls_paths_have_no_leaks(workdir):
    ca = Pki(workdir)
    cert, key = ca.issue("server", SERVER_NAME, f"DNS:{SERVER_NAME},IP:127.0.0.1")
    client = ca.issue("client", "code-runner", usage="clientAuth")
    other = Pki(workdir, "other-ca")
    redis = TlsRedis(workdir, ServerTls(ca, cert, key, *client, auth_clients=True))
    tls = dict(REDIS_TLS_CA_FILE=ca.ca, REDIS_TLS_CERT_FILE=client[0],
               REDIS_TLS_KEY_FILE=client[1])
    port = harness.free_port()
    api, api_vg = under_valgrind("api", harness.Api, workdir, redis, "api", API_PORT=port,
                                 API_HOST="127.0.0.1", API_THREADS=2, **tls)
    api.addr, api.port = "127.0.0.1", port
    wid = f"vgtls{harness.free_port()}"
    w, w_vg = under_valgrind("worker", harness.Worker, workdir, redis, "worker", WORKER_ID=wid,
                             STATE_DIR=f"/run/code-runner-test/{wid}", WORKER_CONCURRENCY=2,
                             **tls)
    wrong = None
    try:
        wait_until(lambda: healthy(api), timeout=120,
                   what="the api (valgrind) to reach redis over TLS")
        ids = [(api.submit(py("import sys; print(sys.stdin.read() * 2)", stdin=f"v{i}")), i)
               for i in range(3)]
        for tid, i in ids:
            r = api.wait_result(tid, timeout=180)
            assert r["status"] == "SUCCESS" and r["result"]["output"] == f"v{i}v{i}\n", r
        # The wrong CA: refused, the reason logged, then a clean stop.
        wport = harness.free_port()
        wrong, wrong_vg = under_valgrind("api", harness.Api, workdir, redis, "api-wrong-ca",
                                         API_PORT=wport, API_HOST="127.0.0.1", API_THREADS=1,
                                         REDIS_TLS_CA_FILE=other.ca)
        wait_until(lambda: "certificate verify failed" in wrong.proc.output(), timeout=120,
                   what="the api with the wrong CA to log the verification failure")
        assert wrong.proc.stop(signal.SIGTERM, timeout=120) == 0, report(wrong_vg)[-4000:]
        check_report(wrong_vg, 1)
    finally:
        w_code = w.proc.stop(signal.SIGTERM, timeout=120)
        api_code = api.proc.stop(signal.SIGTERM, timeout=120)
        if wrong:
            wrong.proc.stop(signal.SIGTERM, timeout=120)
        redis.stop()
    assert w_code == 0, report(w_vg)[-4000:]
    assert api_code == 0, report(api_vg)[-4000:]
    check_report(api_vg, 1)
    n = check_report(w_vg, 3)  # the supervisor and both worker processes
    print(f"valgrind: api and {n} worker processes over TLS, no errors, no leaks")
