"""Redis over TLS (REDIS_URL rediss://) against a real redis-server that serves TLS only, with
certificates the test makes with openssl: the api and the worker run jobs end to end; a server
whose certificate the configured CA did not sign, or that does not carry the expected name, is
refused by both (the api answers 503, the worker takes no job, their logs name the failure,
nothing reaches Redis); a server that requires client certificates takes ours and refuses
clients without one; Sentinel over TLS finds the master and follows a failover; TLS settings
that cannot work stop both programs at start-up, naming the variable."""
import os
import subprocess

import pytest

import harness
from harness import wait_until
from queue_support import finished, py, submit_after_outage
from sentinel_support import Group
from tls_support import SERVER_NAME, Pki, ServerTls, TlsRedis


class Certs:
    """Our CA with a server certificate naming redis.test and 127.0.0.1, one naming only
    redis.test, and a client certificate; another CA (that signed nothing of the servers') with a
    client certificate of its own."""

    def __init__(self, workdir):
        self.ca = Pki(workdir, "ca")
        self.server = self.ca.issue("server", SERVER_NAME, f"DNS:{SERVER_NAME},IP:127.0.0.1")
        self.server_dns = self.ca.issue("server-dns", SERVER_NAME, f"DNS:{SERVER_NAME}")
        self.client = self.ca.issue("client", "code-runner", usage="clientAuth")
        self.other = Pki(workdir, "other-ca")
        self.stranger = self.other.issue("stranger", "code-runner", usage="clientAuth")

    def server_tls(self, cert=None, auth_clients=False):
        cert, key = cert or self.server
        return ServerTls(self.ca, cert, key, *self.client, auth_clients=auth_clients)


@pytest.fixture
def certs(workdir):
    return Certs(workdir)


@pytest.fixture
def servers():
    """TLS redis-servers and sentinel groups the test starts, stopped at its end."""
    started = []
    yield started
    for s in started:
        s.stop()


def start(workdir, redis, **env):
    """The api and a worker (two processes) with this TLS environment."""
    api = harness.Api(workdir, redis, **env)
    w = harness.Worker(workdir, redis, WORKER_CONCURRENCY=2, HEARTBEAT_INTERVAL=1, **env)
    return api, w


def stop_clean(api, w):
    assert w.stop() == 0
    assert api.stop() == 0
    harness.check_clean(api, w)


def run_jobs(api, n=4):
    """n jobs whose outputs depend on their input: each comes back with its own."""
    wait_until(lambda: api.request("GET", "/health")[0] == 200, timeout=20,
               what="the api to reach redis over TLS")
    ids = [(submit_after_outage(api, py("import sys; print(sys.stdin.read()[::-1], 6 * 7)",
                                        stdin=f"job{i}")), i) for i in range(n)]
    for tid, i in ids:
        r = finished(api, tid)
        assert r["status"] == "SUCCESS" and r["result"]["output"] == f"{i}boj 42\n", (tid, r)
    # ?wait= answers through the subscriber connection, TLS as well.
    status, body, _ = api.request("POST", "/run-code?wait=20", py("print('inline')"))
    assert status == 200 and body["status"] == "SUCCESS", body
    assert body["result"]["output"] == "inline\n", body
    return [tid for tid, _ in ids]


def refused(api, w, redis, *marks):
    """Both programs refuse the server: a log line of each names the failure (one of marks),
    /health and POST answer 503, the worker started no worker process and nothing was written."""
    def logged(p):
        return next((line for line in p.proc.output().splitlines()
                     if " warn " in line and any(m in line for m in marks)), None)
    line = wait_until(lambda: logged(api), timeout=20, what=f"the api to log one of {marks}")
    assert "127.0.0.1" in line, line
    line = wait_until(lambda: logged(w), timeout=20, what=f"the worker to log one of {marks}")
    assert f"127.0.0.1:{redis.port}" in line or "sentinel" in line, line
    status, body, _ = api.request("GET", "/health")
    assert status == 503, (status, body)
    status, body, _ = api.request("POST", "/run-code", py("print('never')"))
    assert status == 503, (status, body)
    out = w.proc.output()
    assert "owns its WORKER_ID" not in out and "started worker process" not in out, out[-2000:]
    assert harness.children(w.proc.pid) == []
    return out


def test_jobs_run_end_to_end_over_tls(workdir, certs, servers):
    redis = TlsRedis(workdir, certs.server_tls())
    servers.append(redis)
    api, w = start(workdir, redis, REDIS_TLS_CA_FILE=certs.ca.ca)
    try:
        ids = run_jobs(api)
        # The server has no plain port: all of this went over TLS, and it holds the results.
        assert redis.cmd("HGET", f"test:task:{ids[-1]}", "status") == "SUCCESS"
        assert "over TLS" in api.proc.output()
        stop_clean(api, w)
    finally:
        w.stop()
        api.stop()


def test_a_server_our_ca_did_not_sign_is_refused(workdir, certs, servers):
    redis = TlsRedis(workdir, certs.server_tls())
    servers.append(redis)
    api, w = start(workdir, redis, REDIS_TLS_CA_FILE=certs.other.ca)
    try:
        refused(api, w, redis, "certificate verify failed")
        assert redis.cmd("DBSIZE") == 0  # no job, no heartbeat, no WORKER_ID claim
        stop_clean(api, w)
    finally:
        w.stop()
        api.stop()


def test_the_server_name_is_verified(workdir, certs, servers):
    # A certificate that names redis.test but not 127.0.0.1: reached by address, refused...
    redis = TlsRedis(workdir, certs.server_tls(certs.server_dns))
    servers.append(redis)
    api, w = start(workdir, redis, REDIS_TLS_CA_FILE=certs.ca.ca)
    try:
        refused(api, w, redis, "certificate verify failed: IP address mismatch")
        stop_clean(api, w)
    finally:
        w.stop()
        api.stop()
    # ... and a name it does not carry is refused too ...
    api, w = start(workdir, redis, REDIS_TLS_CA_FILE=certs.ca.ca,
                   REDIS_TLS_SERVER_NAME="other.test")
    try:
        refused(api, w, redis, "certificate verify failed: hostname mismatch")
        assert redis.cmd("DBSIZE") == 0
        stop_clean(api, w)
    finally:
        w.stop()
        api.stop()
    # ... while REDIS_TLS_SERVER_NAME, the name it carries, lets both in by address.
    api, w = start(workdir, redis, REDIS_TLS_CA_FILE=certs.ca.ca,
                   REDIS_TLS_SERVER_NAME=SERVER_NAME)
    try:
        run_jobs(api, n=2)
        stop_clean(api, w)
    finally:
        w.stop()
        api.stop()


# What our programs log when a server that requires a client certificate refuses them: the
# server's alert, or, when the connection reset overtook it, our hint naming the setting.
CLIENT_REFUSED = ("alert certificate required", "alert unknown ca", "alert bad certificate",
                  "REDIS_TLS_CERT_FILE")


def test_mutual_tls(workdir, certs, servers):
    redis = TlsRedis(workdir, certs.server_tls(auth_clients=True))
    servers.append(redis)
    # Without a client certificate, then with one of a CA the server does not trust: refused.
    for extra in ({}, dict(zip(("REDIS_TLS_CERT_FILE", "REDIS_TLS_KEY_FILE"), certs.stranger))):
        api, w = start(workdir, redis, REDIS_TLS_CA_FILE=certs.ca.ca, **extra)
        try:
            refused(api, w, redis, *CLIENT_REFUSED)
            assert redis.cmd("DBSIZE") == 0
            stop_clean(api, w)
        finally:
            w.stop()
            api.stop()
    # With ours: jobs run.
    api, w = start(workdir, redis, REDIS_TLS_CA_FILE=certs.ca.ca,
                   REDIS_TLS_CERT_FILE=certs.client[0], REDIS_TLS_KEY_FILE=certs.client[1])
    try:
        run_jobs(api, n=2)
        stop_clean(api, w)
    finally:
        w.stop()
        api.stop()


def test_sentinel_over_tls(workdir, certs, servers):
    group = Group(workdir, tls=certs.server_tls())
    servers.append(group)
    master = group.master()
    common = dict(REDIS_URL="rediss://127.0.0.1:1/0", REDIS_SENTINELS=group.endpoints,
                  REDIS_MASTER_NAME="mymaster")
    # Sentinels are TLS too (they follow the URL's scheme): with the wrong CA none is trusted.
    api, w = start(workdir, master, REDIS_TLS_CA_FILE=certs.other.ca, **common)
    try:
        refused(api, w, master, "certificate verify failed")
        assert "no sentinel of REDIS_SENTINELS names a master" in w.proc.output()
        stop_clean(api, w)
    finally:
        w.stop()
        api.stop()
    api, w = start(workdir, master, REDIS_TLS_CA_FILE=certs.ca.ca, **common)
    try:
        run_jobs(api, n=2)
        old = group.master()
        group.sentinels[0].cmd("SENTINEL", "failover", "mymaster")
        new = group.wait_failover(old)
        # The api's sentinel connection (TLS) hears +switch-master; both follow to the new master.
        wait_until(lambda: "sentinel reports a failover" in api.proc.output(), timeout=20,
                   what="the api to hear +switch-master")
        group.wait_synced()
        for i in range(2):
            tid = submit_after_outage(api, py(f"print('after {i}')"))
            r = finished(api, tid, timeout=60)
            assert r["status"] == "SUCCESS" and r["result"]["output"] == f"after {i}\n", r
            assert new.cmd("HGET", f"test:task:{tid}", "status") == "SUCCESS"
        stop_clean(api, w)
    finally:
        w.stop()
        api.stop()


def test_tls_settings_that_cannot_work_stop_both_programs(workdir, certs):
    def start_up(**env):
        """Run each program with env; both must exit 1 at once with the same message."""
        messages = []
        for prog in ("api", "worker"):
            e = dict(os.environ, LANGUAGES_FILE=os.path.join(harness.SOURCE_DIR, "images",
                                                             "languages.json"),
                     REDIS_URL="rediss://127.0.0.1:1/0", WORKER_ID="tls-conf",
                     STATE_DIR=os.path.join(workdir, "state"))
            e.update(env)
            r = subprocess.run([os.path.join(harness.BUILD_DIR, prog)], env=e, timeout=20,
                               capture_output=True, text=True)
            assert r.returncode == 1, (prog, r.returncode, r.stderr)
            assert not any(m in r.stderr for m in harness.SANITIZER_MARKS), r.stderr
            messages.append(r.stderr.strip().splitlines()[-1])
        return messages

    ca, (cert, key), (other_cert, _) = certs.ca.ca, certs.client, certs.stranger
    for env, var, words in [
        (dict(REDIS_TLS_CA_FILE=os.path.join(workdir, "missing.crt")), "REDIS_TLS_CA_FILE",
         "No such file"),
        (dict(REDIS_TLS_CA_FILE=workdir), "REDIS_TLS_CA_FILE", "is not a file"),
        (dict(REDIS_TLS_CA_FILE=key), "REDIS_TLS_CA_FILE", "no CA certificate"),
        (dict(REDIS_TLS_CA_FILE=ca, REDIS_TLS_CERT_FILE=cert), "REDIS_TLS_CERT_FILE",
         "without REDIS_TLS_KEY_FILE"),
        (dict(REDIS_TLS_CA_FILE=ca, REDIS_TLS_CERT_FILE=other_cert, REDIS_TLS_KEY_FILE=key),
         "REDIS_TLS_KEY_FILE", "is not the private key"),
        (dict(REDIS_TLS_CA_FILE=ca, REDIS_URL="redis://127.0.0.1:1/0"), "REDIS_TLS_CA_FILE",
         "rediss://"),
    ]:
        for m in start_up(**env):
            assert var in m and words in m, (env, m)
