"""The remote executor (EXECUTOR=remote) end to end: a worker host (Redis, the api, the worker) and
executor hosts (agents, `worker --serve`), each a network namespace on a bridge of this test's
own (netns.py): no route off the machine, every address one the test gave.

Checked: every language runs on the executor hosts with the same result as the local oci
executor gives for the same request (sandbox_cli, beside it); a wrong or missing token is a 401
and the job ends FAILURE naming it; TLS through a terminator in front of each agent (stunnel, as
deploy/executor-host/ sets it up), the certificate checked against REMOTE_CA_FILE, for the URL's
address or for REMOTE_TLS_NAME; an untrusted certificate ends the job FAILURE naming TLS."""
import os
import re
import subprocess

import pytest

import harness
from remote_support import TOKEN, Fleet
from support import Sandbox
from test_languages import LANGS, SUM

COMPARED = ("output", "error", "exit_code", "signal", "verdict", "compile_output", "truncated",
            "summary")


def same_result(remote, local):
    """The fields that do not depend on timing, and each test's."""
    a = {k: remote.get(k) for k in COMPARED}
    b = {k: local.get(k) for k in COMPARED}
    assert a == b, (a, b)
    for ta, tb in zip(remote.get("tests", []), local.get("tests", [])):
        for k in ("verdict", "output", "error", "exit_code", "signal"):
            assert ta[k] == tb[k], (k, ta, tb)


@pytest.fixture
def fleet(workdir):
    f = Fleet(workdir, "rx", 79, agents=2, agent_env={"WORKER_CONCURRENCY": 2})
    yield f
    f.stop()
    f.check()


def test_every_language_as_locally(fleet, tmp_path):
    for lang in LANGS:
        local = Sandbox(tmp_path / lang, language=lang)
        for body in ({"language": lang, "code": SUM[lang],
                      "tests": [{"stdin": "2 3", "expected_output": "5"},
                                {"stdin": "40 2", "expected_output": "41"}]},):
            got = fleet.run(body, timeout=180)
            assert got["status"] == "SUCCESS", (lang, got)
            want = local.run(body["code"], **{k: v for k, v in body.items()
                                               if k not in ("language", "code")})
            same_result(got["result"], want)
        local.assert_clean()
    ran = "".join(a.proc.output() for a in fleet.agents)
    assert all(f"running {lang} job" in ran for lang in LANGS)
    # Both hosts took jobs.
    assert all("running" in a.proc.output() for a in fleet.agents)


def test_python_failure_modes_as_locally(fleet, tmp_path):
    local = Sandbox(tmp_path, language="python")
    for body in ({"code": "raise SystemExit(7)"},
                 {"code": "import sys\nsys.stderr.write('x' * 50)\nprint('y')"},
                 {"code": "while True: pass", "timeout": 1},
                 {"code": "import base64\nprint(base64.b64encode(bytes(range(256))).decode())",
                  "stdin": "\u00fc\u20ac"}):
        got = fleet.run({"language": "python", **body})
        want = local.run(body["code"], **{k: v for k, v in body.items() if k != "code"})
        same_result(got["result"], want)


@pytest.mark.parametrize("token", ["wrong-token-xyz", None])
def test_wrong_or_missing_token(workdir, token):
    f = Fleet(workdir, "rt", 80, agents=1, start_worker=False)
    try:
        if token:
            f.start_worker(EXECUTOR_AUTH_TOKEN=token)
        else:
            f.workers.append(harness.Worker(workdir, f.redis, host=f.w, EXECUTOR="remote",
                                            REMOTE_EXECUTORS=f.urls(), WORKER_ID="rtw0"))
        got = f.run({"language": "python", "code": "print(1)"})
        assert got["status"] == "FAILURE", got
        assert "answered 401" in got["result"] and "token" in got["result"], got
        assert f.agents[0].proc.output().count("running python job") == 0
    finally:
        f.stop()
    f.check()


def make_ca(d, name, *, ip=None, dns=None):
    """A CA and a server certificate it signs (for ip or dns), with openssl; the paths."""
    def ossl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)
    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name} CA",
         "-keyout", f"{name}-ca.key", "-out", f"{name}-ca.pem")
    san = f"IP:{ip}" if ip else f"DNS:{dns}"
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={ip or dns}",
         "-keyout", f"{name}.key", "-out", f"{name}.csr")
    with open(os.path.join(d, f"{name}.ext"), "w") as f:
        f.write(f"subjectAltName={san}\n")
    ossl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{name}-ca.pem", "-CAkey", f"{name}-ca.key",
         "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem")
    return os.path.join(d, f"{name}-ca.pem"), os.path.join(d, f"{name}.pem"), \
        os.path.join(d, f"{name}.key")


def stunnel(workdir, host, cert, key, name):
    """stunnel4 in host's namespace with deploy/executor-host's configuration (its certificate
    and key, and the test host's address, put in): TLS on <addr>:8443 to the agent on
    127.0.0.1:8100."""
    with open(os.path.join(harness.SOURCE_DIR, "deploy", "executor-host",
                           "executor-stunnel.conf")) as f:
        text = f.read()
    for key_, value in (("accept", f"{host.addr}:8443"), ("cert", cert), ("key", key)):
        text, n = re.subn(rf"^{key_} = .*$", f"{key_} = {value}", text, flags=re.M)
        assert n == 1, key_
    conf = os.path.join(workdir, f"stunnel-{name}.conf")
    with open(conf, "w") as f:
        f.write(text)
    p = harness.Process(host.prefix + ["stunnel4", conf], dict(os.environ),
                        os.path.join(workdir, f"stunnel-{name}.log"))
    harness.wait_until(lambda: "Configuration successful" in p.output() or not p.alive(),
                       timeout=20, what="stunnel to start")
    assert p.alive(), p.output()
    return p


def test_tls_through_a_terminator(workdir):
    """Agents on their host's loopback behind stunnel; the worker verifies the certificates."""
    f = Fleet(workdir, "rs", 81, agents=1, start_worker=False,
              agent_env={"EXECUTOR_LISTEN": "127.0.0.1:8100"})
    try:
        h = f.hosts[0]
        ca, cert, key = make_ca(workdir, "ip", ip=h.addr)
        other_ca, _, _ = make_ca(workdir, "other", ip=h.addr)
        ca2, cert2, key2 = make_ca(workdir, "dns", dns="executor.test")
        tls = stunnel(workdir, h, cert, key, "ip")
        f.extra.append(tls)
        url = f"https://{h.addr}:8443"
        f.start_worker(REMOTE_EXECUTORS=url, REMOTE_CA_FILE=ca, WORKER_ID="rsw0")
        got = f.run({"language": "python", "code": "print('over tls')"})
        assert got["status"] == "SUCCESS" and got["result"]["output"] == "over tls\n", got
        # A CA that did not sign it: FAILURE naming TLS, nothing ran.
        f.workers[0].stop()
        f.start_worker(REMOTE_EXECUTORS=url, REMOTE_CA_FILE=other_ca, WORKER_ID="rsw1")
        got = f.run({"language": "python", "code": "print('never')"})
        assert got["status"] == "FAILURE" and "TLS" in got["result"], got
        assert "never" not in f.agents[0].proc.output()
        # One certificate for the whole fleet, for a name: REMOTE_TLS_NAME, URLs by address.
        f.workers[1].stop()
        tls.stop()
        f.extra.append(stunnel(workdir, h, cert2, key2, "dns"))
        f.start_worker(REMOTE_EXECUTORS=url, REMOTE_CA_FILE=ca2,
               REMOTE_TLS_NAME="executor.test", WORKER_ID="rsw2")
        got = f.run({"language": "python", "code": "print('by name')"})
        assert got["status"] == "SUCCESS" and got["result"]["output"] == "by name\n", got
    finally:
        f.stop()
    f.check()
