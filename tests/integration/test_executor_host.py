"""deploy/executor-host/ checked with the tools that will run it (no systemd or cloud runs here):
`systemd-analyze verify` passes on the agent's unit and its TLS front's, in a throw-away root laid
out as install.sh leaves a host; what the files say of each other agrees (ports, credential
names, unit names, the token never in the environment file); the IAM policies are JSON with
only what they must grant; the cloud-init user data is YAML cloud-init reads and holds no
secret; install.sh is valid shell. (The stunnel configuration itself runs in test_remote's TLS
test, and the IAM policy's actions against moto in test_remote_ec2.)"""
import json
import os
import re
import shutil
import subprocess

import yaml

import harness
from test_systemd import analyze

HOST = os.path.join(harness.SOURCE_DIR, "deploy", "executor-host")
UNITS = ["code-runner-agent.service", "code-runner-agent-tls.service"]


def read(name):
    with open(os.path.join(HOST, name)) as f:
        return f.read()


def make_root(dest):
    shutil.copytree("/lib/systemd/system", os.path.join(dest, "lib/systemd/system"), symlinks=True)
    etc = os.path.join(dest, "etc/systemd/system")
    os.makedirs(etc)
    for u in UNITS:
        shutil.copy(os.path.join(HOST, u), etc)
    conf = os.path.join(dest, "etc/code-runner")
    os.makedirs(conf)
    for name in ("executor.env", "executor-stunnel.conf"):
        shutil.copy(os.path.join(HOST, name), conf)
    bindir = os.path.join(dest, "usr/local/bin")
    os.makedirs(bindir)
    shutil.copy(os.path.join(harness.BUILD_DIR, "worker"), os.path.join(bindir, "code-runner-worker"))
    shutil.copy(os.path.join(harness.BUILD_DIR, "cr-init"), bindir)
    stunnel = shutil.which("stunnel4")
    assert stunnel, "stunnel4 is missing (deploy/install-deps.sh installs it)"
    os.makedirs(os.path.join(dest, "usr/bin"))
    shutil.copy(stunnel, os.path.join(dest, "usr/bin"))
    return dest


def test_units_verify(tmp_path):
    root = make_root(str(tmp_path / "root"))
    for unit in UNITS:
        r = subprocess.run([analyze(), "verify", "--man=no", f"--root={root}", unit],
                           capture_output=True, text=True, timeout=60)
        out = (r.stdout + r.stderr).strip()
        assert r.returncode == 0 and out == "", (unit, out)


def test_files_agree():
    agent, tls = read(UNITS[0]), read(UNITS[1])
    stunnel = read("executor-stunnel.conf")
    assert re.search(r"^ExecStart=/usr/local/bin/code-runner-worker --serve$", agent, re.M)
    listen = re.search(r"^Environment=EXECUTOR_LISTEN=(\S+)$", agent, re.M).group(1)
    assert listen.startswith("127.0.0.1:"), "the agent listens on loopback behind its TLS front"
    assert re.search(r"^connect = (\S+)$", stunnel, re.M).group(1) == listen
    # The token: a credential, named by EXECUTOR_AUTH_TOKEN_FILE, never in the settings.
    cred = re.search(r"^LoadCredential=([\w.-]+):/etc/code-runner/executor-token$", agent, re.M)
    assert cred and f"EXECUTOR_AUTH_TOKEN_FILE=%d/{cred.group(1)}" in agent
    assert "EXECUTOR_AUTH_TOKEN=" not in read("executor.env")
    for kind in ("cert", "key"):
        path = re.search(rf"^{kind} = (\S+)$", stunnel, re.M).group(1)
        unit_dir, name = path.rsplit("/", 1)
        assert unit_dir == "/run/credentials/code-runner-agent-tls.service"
        assert re.search(rf"^LoadCredential={re.escape(name)}:/etc/code-runner/{re.escape(name)}$",
                         tls, re.M), name
    assert re.search(r"^sslVersionMin = TLSv1\.2$", stunnel, re.M)
    # cloud-init: YAML for cloud-init, the units it starts exist, nothing secret in it.
    text = read("cloud-init.yaml")
    assert text.startswith("#cloud-config\n") and len(text.encode()) <= 16384
    doc = yaml.safe_load(text)
    cmds = [" ".join(c) if isinstance(c, list) else c for c in doc["runcmd"]]
    started = {u for c in cmds if c.startswith("systemctl") for u in c.split()[2:]}
    assert started == set(UNITS)
    assert not re.search(r"(?i)(secret|password|token)\s*[:=]\s*\S{8,}", text)
    assert all("--with-decryption" in c for c in cmds if "executor-token" in c or "tls-key" in c)
    subprocess.run(["bash", "-n", os.path.join(HOST, "install.sh")], check=True)


def test_policies():
    worker = json.loads(read("iam-policy.json"))
    role = json.loads(read("instance-role-policy.json"))
    for p in (worker, role):
        assert p["Version"] == "2012-10-17"
        assert all(st["Effect"] == "Allow" for st in p["Statement"])
    actions = {a for st in role["Statement"]
               for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])}
    assert actions == {"ssm:GetParameter", "kms:Decrypt"}
    params = [r for st in role["Statement"] if st["Action"] == "ssm:GetParameter"
              for r in st["Resource"]]
    assert params and all(r.startswith("arn:aws:ssm:*:*:parameter/code-runner/") for r in params)
    cloud = read("cloud-init.yaml")
    for r in params:  # the parameters the user data reads, and only those
        assert f"--name /code-runner/{r.rsplit('/', 1)[1]}" in cloud
