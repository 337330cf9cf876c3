"""The remote executor's EC2 fleet against moto's server mode (ec2_support.py): a real EC2 Query
API that nobody here wrote, in a namespace of the test network, with moto checking every
request's SigV4 signature and the caller's IAM policy (actions), and the test harness playing the
cloud (an agent in a namespace with each running executor instance's private address).

Checked: discovery by tag (only instances tagged code-runner-role=executor, pending or running,
are used) and jobs on them; under a burst of waiting jobs from three worker supervisors exactly one
instance is launched (the elected launcher), with the configured AMI, type, subnet, security
group, instance profile, tag and user data, and the jobs then run on it; EC2_MIN_INSTANCES is
kept by launching; idle instances above it are terminated while a busy one is not; the IAM
policy of deploy/executor-host/ grants exactly the actions the worker calls, scoped by tag, and
moto refuses a worker whose policy lacks one (the job's FAILURE says so); credentials from the
instance metadata service (IMDSv2) sign requests that botocore signs identically."""
import base64
import json
import os
import re
import socket
import threading
import time

import pytest

import harness
import netns
from ec2_support import IMDS, REGION, TAG, Cloud
from harness import SOURCE_DIR, wait_until
from remote_support import TOKEN
from sentinel_support import Node

POLICY_FILE = os.path.join(SOURCE_DIR, "deploy", "executor-host", "iam-policy.json")
USER_DATA = os.path.join(SOURCE_DIR, "deploy", "executor-host", "cloud-init.yaml")
SLEEP = "import time\ntime.sleep({s})\nprint({tok!r})\n"


def actions_only(policy):
    """The policy as moto can evaluate it: the same actions, without resource ARNs and
    conditions (moto checks neither)."""
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": st["Effect"], "Action": st["Action"], "Resource": "*"}
        for st in policy["Statement"]]}


class Region:
    """A worker host (10.<index>.0.200: Redis, the api, worker supervisors) and the cloud."""

    def __init__(self, workdir, tag, index, auth=True):
        self.workdir, self.tag = workdir, tag
        self.net = netns.Network(tag, index=index)
        self.workers, self.api, self.redis, self.cloud = [], None, None, None
        try:
            self.w = self.net.add("w", 200)
            self.cloud = Cloud(workdir, self.net, self.w, auth=auth)
            netns.run_in(self.w, self._setup)
        except BaseException:
            self.stop()
            raise

    def _setup(self):
        self.redis = Node(self.workdir, f"redis-{self.tag}", addr=self.w.addr, port=6379,
                          prefix=self.w.prefix)
        self.api = harness.Api(self.workdir, self.redis, host=self.w, EXECUTOR="remote")

    def start_worker(self, creds=None, **env):
        base = dict(AWS_REGION=REGION, AWS_ENDPOINT_URL=self.cloud.endpoint,
                    EC2_AGENT_URL="http://{ip}:8100", EC2_TAG="=".join(TAG),
                    EC2_DISCOVERY_INTERVAL=1, REMOTE_PROBE_INTERVAL=1, REMOTE_DOWN_RETRY=1,
                    EXECUTOR_AUTH_TOKEN=TOKEN, WORKER_CONCURRENCY=2,
                    WORKER_ID=f"{self.tag}w{len(self.workers)}", AWS_EC2_METADATA_DISABLED="true")
        if creds:
            base.update(AWS_ACCESS_KEY_ID=creds["key"], AWS_SECRET_ACCESS_KEY=creds["secret"])
        base.update(env)
        w = harness.Worker(self.workdir, self.redis, host=self.w, EXECUTOR="remote", **base)
        self.workers.append(w)
        return w

    def call(self, fn, *args, **kw):
        return netns.run_in(self.w, lambda: fn(*args, **kw))

    def submit(self, body):
        return self.call(self.api.submit, body)

    def result(self, tid, timeout=120):
        return self.call(self.api.wait_result, tid, timeout)

    def logs(self):
        return "".join(w.proc.output() for w in self.workers)

    def stop(self):
        for w in self.workers:
            w.stop()
        if self.cloud:
            self.cloud.stop()
        if self.api:
            self.api.stop()
        if self.redis:
            self.redis.stop()
        self.net.close()

    def check(self):
        harness.check_clean(self.api, *self.workers, *self.cloud.all_agents())


def worker_user(cloud, name="worker", drop=None):
    with open(POLICY_FILE) as f:
        policy = actions_only(json.load(f))
    if drop:
        for st in policy["Statement"]:
            st["Action"] = [a for a in ([st["Action"]] if isinstance(st["Action"], str)
                                        else st["Action"]) if a != drop]
        policy["Statement"] = [st for st in policy["Statement"] if st["Action"]]
    return cloud.user(name, policy)


def test_discovery_by_tag(workdir):
    r = Region(workdir, "ed", 90)
    try:
        c = r.cloud
        tagged = c.run_tagged(2)
        c.run_tagged(1, tag=(TAG[0], "something-else"))
        c.call("ec2", "run_instances", ImageId=c.ami, MinCount=1, MaxCount=1, SubnetId=c.subnet)
        c.play()
        wait_until(lambda: len(c.agents) == 2, timeout=60, what="the executor instances' agents")
        r.start_worker(creds=worker_user(c), EC2_MAX_INSTANCES=0)
        tids = [r.submit({"language": "python", "code": SLEEP.format(s=0.5, tok=f"d{k}")})
                for k in range(6)]
        for k, tid in enumerate(tids):
            got = r.result(tid)
            assert got["status"] == "SUCCESS" and got["result"]["output"] == f"d{k}\n", got
        ips = {i["InstanceId"]: i["PrivateIpAddress"] for i in c.instances(tagged=False)}
        probed = set(r.call(r.redis.cmd, "HKEYS", "test:remote:hosts"))
        assert probed == {f"http://{ips[i]}:8100" for i in tagged}, probed
        assert all("running python job" in a.proc.output() for a in c.agents.values())
        status, body, _ = r.call(r.api.request, "GET", "/languages")
        assert status == 200 and "python" in [lang["id"] for lang in body["languages"]]
        assert "launched" not in r.logs()
    finally:
        r.stop()
    r.check()


def test_one_launch_under_a_burst(workdir):
    r = Region(workdir, "el", 91)
    try:
        c = r.cloud
        creds = worker_user(c)
        path = os.path.join(workdir, "aws-credentials")
        with open(path, "w") as f:  # the shared credentials file, another profile
            f.write(f"[default]\naws_access_key_id = nope\naws_secret_access_key = nope\n\n"
                    f"[exec]\naws_access_key_id = {creds['key']}\n"
                    f"aws_secret_access_key = {creds['secret']}\n")
        c.play(WORKER_CONCURRENCY=2)
        launch = dict(EC2_AMI_ID=c.ami, EC2_INSTANCE_TYPE="c6i.large",
                      EC2_SECURITY_GROUP_ID=c.sg, EC2_SUBNET_ID=c.subnet,
                      EC2_IAM_INSTANCE_PROFILE_ARN=c.profile_arn, EC2_USER_DATA_FILE=USER_DATA,
                      EC2_MAX_INSTANCES=3, EC2_LAUNCH_COOLDOWN=300, IDLE_INSTANCE_POLL_INTERVAL=1,
                      IDLE_INSTANCE_WAIT_TIMEOUT=120, AWS_SHARED_CREDENTIALS_FILE=path,
                      AWS_PROFILE="exec")
        for _ in range(3):
            r.start_worker(**launch)
        tids = [r.submit({"language": "python", "code": SLEEP.format(s=0.3, tok=f"b{k}")})
                for k in range(6)]
        for k, tid in enumerate(tids):
            got = r.result(tid, timeout=180)
            assert got["status"] == "SUCCESS" and got["result"]["output"] == f"b{k}\n", got
        [inst] = c.instances()
        assert r.logs().count("launched EC2 instance") == 1, r.logs()
        assert inst["ImageId"] == c.ami and inst["InstanceType"] == "c6i.large"
        assert inst["SubnetId"] == c.subnet
        assert [g["GroupId"] for g in inst["SecurityGroups"]] == [c.sg]
        assert inst["IamInstanceProfile"]["Arn"] == c.profile_arn
        assert {"Key": TAG[0], "Value": TAG[1]} in inst["Tags"]
        ud = c.call("ec2", "describe_instance_attribute", InstanceId=inst["InstanceId"],
                    Attribute="userData")["UserData"]["Value"]
        with open(USER_DATA, "rb") as f:
            assert base64.b64decode(ud) == f.read()
        assert "credentials from the shared credentials file" in r.logs()
    finally:
        r.stop()
    r.check()


def test_minimum_and_idle_termination(workdir):
    r = Region(workdir, "ei", 92)
    try:
        c = r.cloud
        c.play()
        r.start_worker(creds=worker_user(c), EC2_AMI_ID=c.ami, EC2_USER_DATA_FILE=USER_DATA,
                       EC2_SUBNET_ID=c.subnet, EC2_MIN_INSTANCES=1, EC2_MAX_INSTANCES=4,
                       EC2_IDLE_TERMINATE_SECONDS=4)
        wait_until(lambda: len(c.instances()) == 1, timeout=30,
                   what="EC2_MIN_INSTANCES to be launched")
        assert "to keep EC2_MIN_INSTANCES" in r.logs()
        c.run_tagged(2)
        wait_until(lambda: len(c.agents) == 3, timeout=60, what="three agents")
        wait_until(lambda: len(r.call(r.redis.cmd, "HKEYS", "test:remote:hosts")) == 3,
                   timeout=30, what="the worker to know the three hosts")
        tid = r.submit({"language": "python", "code": SLEEP.format(s=9, tok="busy")})
        wait_until(lambda: [a for a in c.agents.values() if f"[{tid}] running" in a.proc.output()],
                   timeout=30, what="the long job to start")
        [busy] = [i for i, a in c.agents.items() if f"[{tid}] running" in a.proc.output()]

        def states():
            return {i["InstanceId"]: i["State"]["Name"] for i in c.instances()}

        wait_until(lambda: sorted(s for i, s in states().items() if i != busy) ==
                   ["terminated", "terminated"], timeout=30,
                   what="the two idle instances to be terminated")
        assert states()[busy] == "running"
        got = r.result(tid)
        assert got["status"] == "SUCCESS" and got["result"]["output"] == "busy\n", got
        time.sleep(6)  # idle now, but the last one: EC2_MIN_INSTANCES keeps it
        assert states()[busy] == "running"
        assert r.logs().count("terminated EC2 instance") == 2
    finally:
        r.stop()
    r.check()


def test_iam_policy_grants_what_the_worker_calls(workdir):
    with open(POLICY_FILE) as f:
        policy = json.load(f)
    with open(os.path.join(SOURCE_DIR, "worker", "executors", "remote", "ec2.c")) as f:
        called = {f"ec2:{a}" for a in re.findall(r'aws_call\(a, "(\w+)"', f.read())}
    assert called == {"ec2:DescribeInstances", "ec2:RunInstances", "ec2:TerminateInstances"}
    granted = {}
    for st in policy["Statement"]:
        assert st["Effect"] == "Allow" and "*" not in str(st["Action"])
        for a in [st["Action"]] if isinstance(st["Action"], str) else st["Action"]:
            granted.setdefault(a, []).append(st)
    # Exactly those, and what launching with a tag and a role needs; nothing else.
    assert set(granted) == called | {"ec2:CreateTags", "iam:PassRole"}
    cond = lambda a: [st.get("Condition", {}) for st in granted[a]]  # noqa: E731
    assert any("aws:RequestTag/code-runner-role" in c.get("StringEquals", {})
               for c in cond("ec2:RunInstances"))
    assert all(c["StringEquals"]["aws:ResourceTag/code-runner-role"] == "executor"
               for c in cond("ec2:TerminateInstances"))
    assert all(c["StringEquals"]["ec2:CreateAction"] == "RunInstances"
               for c in cond("ec2:CreateTags"))
    assert all(c["StringEquals"]["iam:PassedToService"] == "ec2.amazonaws.com"
               for c in cond("iam:PassRole"))
    # moto enforces the actions: without DescribeInstances the worker finds nothing, and the
    # job's FAILURE says why.
    r = Region(workdir, "ep", 93)
    try:
        r.start_worker(creds=worker_user(r.cloud, "blind", drop="ec2:DescribeInstances"),
                       IDLE_INSTANCE_WAIT_TIMEOUT=4, EC2_MAX_INSTANCES=0)
        tid = r.submit({"language": "python", "code": "print(1)"})
        got = r.result(tid)
        assert got["status"] == "FAILURE", got
        assert "DescribeInstances" in got["result"] and "not authorized" in got["result"], got
    finally:
        r.stop()
    r.check()


class Recorder:
    """A TCP proxy in the cloud's namespace, 10.<net>.0.250:81 -> moto on port 80, keeping what
    clients send."""

    def __init__(self, host):
        self.sent = []
        self.ready = threading.Event()
        self.closed = False
        threading.Thread(target=self._serve, args=(host,), daemon=True).start()
        self.ready.wait(10)

    def _serve(self, host):
        netns.enter(host)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host.addr, 81))
        self.listener.listen(16)
        self.ready.set()
        while not self.closed:
            try:
                c, _ = self.listener.accept()
            except OSError:
                return
            up = socket.create_connection(("127.0.0.1", 80), timeout=10)
            buf = bytearray()
            self.sent.append(buf)
            threading.Thread(target=self._pipe, args=(c, up, buf), daemon=True).start()
            threading.Thread(target=self._pipe, args=(up, c, None), daemon=True).start()

    @staticmethod
    def _pipe(a, b, keep):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                if keep is not None:
                    keep += data
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.closed = True
        self.listener.close()


def first_request(raw):
    head, _, body = bytes(raw).partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    method, path, _ = lines[0].split(" ")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    n = int(headers.get("Content-Length", "0"))
    return method, path, headers, body[:n].decode()


def test_sigv4_with_imds_credentials_matches_botocore(workdir):
    r = Region(workdir, "es", 94, auth=False)
    rec = None
    try:
        rec = Recorder(r.cloud.vm)
        r.start_worker(AWS_ENDPOINT_URL=f"http://{r.cloud.vm.addr}:81",
                       AWS_EC2_METADATA_DISABLED="", HOME=workdir,
                       AWS_SHARED_CREDENTIALS_FILE=os.path.join(workdir, "none"),
                       EC2_MAX_INSTANCES=0)
        wait_until(lambda: any(b"Action=DescribeInstances" in bytes(s) for s in rec.sent),
                   timeout=30, what="the worker's DescribeInstances")
        raw = next(s for s in rec.sent if b"Action=DescribeInstances" in bytes(s))
        method, path, headers, body = first_request(raw)
        auth = headers["Authorization"]
        # moto's instance metadata service hands out these (IMDSv2: the token came first).
        assert auth.startswith("AWS4-HMAC-SHA256 Credential=test-key/")
        assert f"/{REGION}/ec2/aws4_request" in auth
        signed = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
        assert {"host", "x-amz-date", "x-amz-security-token", "content-type"} <= set(signed)
        assert headers["X-Amz-Security-Token"] == "test-session-token"
        assert "Filter.1.Name=tag%3Acode-runner-role" in body
        want = r.cloud.helper.request(
            op="sign", region=REGION, service="ec2",
            creds={"key": "test-key", "secret": "test-secret-key", "token": "test-session-token"},
            method=method, url=f"http://{headers['Host']}{path}", headers=headers, body=body)
        assert auth.endswith("Signature=" + want["signature"]), (auth, want)
        assert "AWS credentials from the instance metadata" in r.logs()
    finally:
        if rec:
            rec.close()
        r.stop()
    r.check()
