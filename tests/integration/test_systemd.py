"""deploy/systemd checked with systemd's own tools (no systemd runs as PID 1 here): `systemd-analyze
verify` passes on the api and worker units and on Debian's redis-server.service with our drop-in,
in a throw-away root laid out as `deploy/start.sh --systemd` installs them (the real binaries in
/usr/local/bin); any warning counts as a failure, and broken units prove that verify fails.
`systemd-analyze security --offline` scores the api's hardening, and the drop-in's Redis
arguments are run by a real redis-server."""
import os
import re
import shlex
import shutil
import subprocess

import pytest

import harness

SYSTEMD = os.path.join(harness.SOURCE_DIR, "deploy", "systemd")
UNITS = ["code-runner-api.service", "code-runner-worker.service", "redis-server.service"]
DROP_IN = os.path.join(SYSTEMD, "redis-server.service.d", "code-runner.conf")


def analyze():
    path = shutil.which("systemd-analyze")
    assert path, "systemd-analyze is missing (deploy/install-deps.sh installs systemd)"
    return path


def make_root(dest):
    """dest as deploy/start.sh --systemd leaves a machine: systemd's unit library, our units and
    drop-in in /etc/systemd/system, the binaries in /usr/local/bin, the environment file."""
    lib = "/lib/systemd/system"
    assert os.path.isfile(os.path.join(lib, "redis-server.service")), \
        "Debian's redis-server.service is missing (deploy/install-deps.sh installs redis-server)"
    shutil.copytree(lib, os.path.join(dest, "lib/systemd/system"), symlinks=True)
    etc = os.path.join(dest, "etc/systemd/system")
    os.makedirs(os.path.join(etc, "redis-server.service.d"))
    for u in UNITS[:2]:
        shutil.copy(os.path.join(SYSTEMD, u), etc)
    shutil.copy(DROP_IN, os.path.join(etc, "redis-server.service.d"))
    os.makedirs(os.path.join(dest, "etc/code-runner"))
    shutil.copy(os.path.join(SYSTEMD, "code-runner.env"), os.path.join(dest, "etc/code-runner"))
    bindir = os.path.join(dest, "usr/local/bin")
    os.makedirs(bindir)
    for src, name in (("api", "code-runner-api"), ("worker", "code-runner-worker"),
                      ("cr-init", "cr-init")):
        shutil.copy(os.path.join(harness.BUILD_DIR, src), os.path.join(bindir, name))
    os.makedirs(os.path.join(dest, "usr/bin"))
    shutil.copy(shutil.which("redis-server"), os.path.join(dest, "usr/bin"))
    return dest


def verify(root, unit):
    r = subprocess.run([analyze(), "verify", "--man=no", f"--root={root}", unit],
                       capture_output=True, text=True, timeout=60)
    return r.returncode, (r.stdout + r.stderr).strip()


@pytest.fixture
def root(tmp_path):
    return make_root(str(tmp_path / "root"))


@pytest.mark.parametrize("unit", UNITS)
def test_verify_passes(root, unit):
    rc, out = verify(root, unit)
    assert rc == 0 and out == "", out


@pytest.mark.parametrize("breakage", ["unknown key", "bad value", "missing binary", "drop-in typo"])
def test_verify_fails_on_broken_unit(root, breakage):
    etc = os.path.join(root, "etc/systemd/system")
    unit = "redis-server.service" if breakage == "drop-in typo" else "code-runner-api.service"
    path = (os.path.join(etc, "redis-server.service.d", "code-runner.conf")
            if breakage == "drop-in typo" else os.path.join(etc, unit))
    with open(path) as f:
        text = f.read()
    if breakage == "unknown key":
        text = text.replace("PrivateTmp=yes", "PrivateTemp=yes")
    elif breakage == "bad value":
        text = text.replace("Restart=on-failure", "Restart=sometimes")
    elif breakage == "missing binary":
        os.remove(os.path.join(root, "usr/local/bin/code-runner-api"))
    else:
        text = text.replace("ExecStart=\n", "ExecStrat=\n")
    with open(path, "w") as f:
        f.write(text)
    rc, out = verify(root, unit)
    assert rc != 0 or out != "", f"{breakage}: verify saw nothing wrong"


def exposure(root, unit):
    r = subprocess.run([analyze(), "security", "--offline=yes", f"--root={root}", unit],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", r.stdout + r.stderr)
    assert m, r.stdout + r.stderr
    return float(m.group(1))


def test_hardening_scores(root):
    """systemd's own exposure score (0 best, 10 worst): the api is as locked down as Debian's
    redis unit; the worker, which needs root and capabilities to make sandboxes, scores worse
    but keeps what hardening it can take (the bare default scores 9.6)."""
    api, worker = exposure(root, UNITS[0]), exposure(root, UNITS[1])
    assert api <= 2.0, api
    assert worker <= 6.0, worker
    with open(os.path.join(root, "etc/systemd/system", UNITS[0])) as f:
        api_unit = f.read()
    for directive in ("DynamicUser=yes", "ProtectSystem=strict", "PrivateTmp=yes",
                      "NoNewPrivileges=yes", "RestrictAddressFamilies=", "SystemCallFilter=",
                      "CapabilityBoundingSet=\n", "Restart=", "EnvironmentFile="):
        assert directive in api_unit, directive


def test_worker_unit_explains_its_grants():
    """Every capability the worker keeps is named in the comment above the line that grants it."""
    with open(os.path.join(SYSTEMD, UNITS[1])) as f:
        text = f.read()
    (line,) = re.findall(r"^CapabilityBoundingSet=(.*)$", text, re.M)
    comment = text[:text.index("CapabilityBoundingSet=")].rsplit("\n\n", 1)[-1]
    for cap in line.split():
        assert cap.removeprefix("CAP_") in comment, cap


def test_drop_in_arguments_make_redis_durable(workdir):
    """The drop-in's ExecStart, run by a real redis-server (our own port and directory in place
    of Debian's config file), gives appendonly yes and appendfsync always."""
    with open(DROP_IN) as f:
        (line,) = [ln for ln in f.read().splitlines() if re.match(r"ExecStart=\S", ln)]
    argv = shlex.split(line.split("=", 1)[1])
    assert argv[:2] == ["/usr/bin/redis-server", "/etc/redis/redis.conf"]
    port = harness.free_port()
    conf = os.path.join(workdir, "redis.conf")
    with open(conf, "w") as f:
        f.write(f"port {port}\nbind 127.0.0.1\ndir {workdir}\n")
    proc = harness.Process([shutil.which("redis-server"), conf] + argv[2:], dict(os.environ),
                           os.path.join(workdir, "redis.log"))
    try:
        def get(name):
            with harness.socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(f"*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n${len(name)}\r\n{name}\r\n".encode())
                return harness.read_resp(s.makefile("rb"))[1]

        def up():
            try:
                return get("appendonly")
            except OSError:
                return None

        harness.wait_until(up, what="redis-server with the drop-in's arguments")
        assert get("appendonly") == "yes"
        assert get("appendfsync") == "always"
        assert get("maxmemory-policy") == "noeviction"
    finally:
        proc.stop()
