"""EC2 for the remote executor's tests, played by moto's server mode (moto_server, a real
implementation of the EC2 Query API that nobody here wrote) in a namespace of the test network:
the region's endpoint at 10.<net>.0.250 and, for IMDSv2, the instance metadata service at
169.254.169.254 (an address the test gives that namespace; the worker host gets a route to it
over the test bridge only). botocore, AWS's client library, sets moto up and looks at it, from a
helper process (aws_helper.py) under the Python moto is installed with. The player plays the
cloud: for each running instance tagged as an executor host, a namespace with that instance's
private address and an agent in it, as the user data would start it; gone when the instance is.

moto is found with MOTO_PYTHON (a Python that imports moto and botocore), else in pyenv's
Pythons, else the system's; a test that needs it and finds none fails, it never skips."""
import glob
import json
import os
import subprocess
import threading
import time

import pytest

import harness
import netns
from harness import wait_until
from remote_support import Agent

REGION = "us-east-1"
TAG = ("code-runner-role", "executor")
IMDS = "169.254.169.254"


def moto_python():
    """A Python interpreter that imports moto.server and botocore; the test fails without."""
    candidates = [os.environ.get("MOTO_PYTHON")] + \
        sorted(glob.glob("/root/.pyenv/versions/*/bin/python3"), reverse=True) + \
        sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/*/bin/python3")), reverse=True) + \
        ["/usr/bin/python3"]
    for py in candidates:
        if py and os.path.exists(py) and subprocess.run(
                [py, "-c", "import moto.server, botocore"], capture_output=True).returncode == 0:
            return py
    pytest.fail("moto_server (moto 5, with botocore) is needed for the EC2 tests and was not "
                "found: set MOTO_PYTHON to a Python that has it")


class Helper:
    """aws_helper.py in a namespace that reaches the cloud; call() and sign() return its answer
    or raise with its error."""

    def __init__(self, python, host, workdir):
        self.log = open(os.path.join(workdir, "aws-helper.log"), "ab")
        self.proc = subprocess.Popen(
            host.prefix + [python, os.path.join(os.path.dirname(__file__), "aws_helper.py")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.lock = threading.Lock()

    def request(self, **req):
        with self.lock:
            self.proc.stdin.write(json.dumps(req) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("aws_helper.py died: see aws-helper.log")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer["ok"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(10)
        self.log.close()


class Cloud:
    """moto_server in namespace "cloud" of net, reached from host (the worker host). With auth,
    moto checks every request's SigV4 signature (botocore's code) and the caller's IAM policy
    (actions only: moto evaluates neither resources nor conditions); the first three calls,
    which make the admin user, are the only unsigned ones it takes."""

    def __init__(self, workdir, net, host, auth=True):
        self.workdir, self.net, self.host = workdir, net, host
        self.python = moto_python()
        self.agents = {}   # instance id -> Agent
        self.gone = []     # the agents of instances that were terminated
        self.launched_seen = set()
        self.moto = self.helper = None
        self.stop_ev = threading.Event()
        self.player = None
        self.vm = net.add("cloud", 250)
        subprocess.run(["ip", "-n", self.vm.ns, "addr", "add", f"{IMDS}/32", "dev", "eth0"],
                       check=True)
        subprocess.run(["ip", "-n", host.ns, "route", "add", f"{IMDS}/32", "dev", "eth0"],
                       check=True)
        self.endpoint = f"http://{self.vm.addr}"
        env = dict(os.environ)
        if auth:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"
        self.moto = harness.Process(
            self.vm.prefix + [self.python, "-c", "from moto.server import main; main()", "-H",
                              "0.0.0.0", "-p", "80"], env, os.path.join(workdir, "moto.log"))
        wait_until(lambda: "Running on" in self.moto.output() or not self.moto.alive(),
                   timeout=60, what="moto_server to start")
        assert self.moto.alive(), self.moto.output()
        self.helper = Helper(self.python, host, workdir)
        self.admin = {"key": "boot", "secret": "boot"}
        if auth:  # the three unsigned calls: an admin user and its key
            self.call("iam", "create_user", UserName="admin")
            self.call("iam", "put_user_policy", UserName="admin", PolicyName="all",
                      PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                          {"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
            k = self.call("iam", "create_access_key", UserName="admin")["AccessKey"]
            self.admin = {"key": k["AccessKeyId"], "secret": k["SecretAccessKey"]}
        octet = net.index
        self.vpc = self.call("ec2", "create_vpc", CidrBlock=f"10.{octet}.0.0/16")["Vpc"]["VpcId"]
        self.subnet = self.call("ec2", "create_subnet", VpcId=self.vpc,
                                CidrBlock=f"10.{octet}.0.0/24")["Subnet"]["SubnetId"]
        self.sg = self.call("ec2", "create_security_group", GroupName="executors",
                            Description="executor hosts", VpcId=self.vpc)["GroupId"]
        self.call("iam", "create_role", RoleName="code-runner-executor",
                  AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                      {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                       "Action": "sts:AssumeRole"}]}))
        prof = self.call("iam", "create_instance_profile",
                         InstanceProfileName="code-runner-executor")["InstanceProfile"]
        self.profile_arn = prof["Arn"]
        self.call("iam", "add_role_to_instance_profile", InstanceProfileName="code-runner-executor",
                  RoleName="code-runner-executor")
        self.ami = self.call("ec2", "describe_images", Owners=["amazon"])["Images"][0]["ImageId"]

    def call(self, service, method, creds=None, **params):
        return self.helper.request(op="call", endpoint=self.endpoint, region=REGION,
                                   creds=creds or self.admin, service=service, method=method,
                                   params=params)

    def user(self, name, policy):
        """An IAM user with this policy document; its credentials."""
        self.call("iam", "create_user", UserName=name)
        self.call("iam", "put_user_policy", UserName=name, PolicyName="p",
                  PolicyDocument=json.dumps(policy))
        k = self.call("iam", "create_access_key", UserName=name)["AccessKey"]
        return {"key": k["AccessKeyId"], "secret": k["SecretAccessKey"]}

    def run_tagged(self, count=1, tag=TAG):
        r = self.call("ec2", "run_instances", ImageId=self.ami, MinCount=count, MaxCount=count,
                      SubnetId=self.subnet, TagSpecifications=[{"ResourceType": "instance", "Tags": [
                          {"Key": tag[0], "Value": tag[1]}]}])
        return [i["InstanceId"] for i in r["Instances"]]

    def instances(self, tagged=True):
        """Every instance (tagged as executor hosts, when tagged): dicts as botocore gives."""
        kw = {"Filters": [{"Name": f"tag:{TAG[0]}", "Values": [TAG[1]]}]} if tagged else {}
        r = self.call("ec2", "describe_instances", **kw)
        return [i for res in r["Reservations"] for i in res["Instances"]]

    # -- the player --

    def play(self, **agent_env):
        """From now on, each running tagged instance gets its agent; a gone one loses it."""
        def loop():
            netns.enter(self.host)
            while not self.stop_ev.is_set():
                try:
                    self._turn(agent_env)
                except Exception as e:  # noqa: BLE001 -- shown in the test's log, tried again
                    print(f"cloud player: {e}")
                self.stop_ev.wait(0.3)
        self.player = threading.Thread(target=loop, daemon=True)
        self.player.start()

    def _turn(self, agent_env):
        live = {}
        for i in self.instances():
            self.launched_seen.add(i["InstanceId"])
            if i["State"]["Name"] == "running" and i.get("PrivateIpAddress"):
                live[i["InstanceId"]] = i["PrivateIpAddress"]
        for iid, ip in live.items():
            if iid not in self.agents:
                h = self.net.add(iid[-8:], int(ip.rsplit(".", 1)[1]))
                assert h.addr == ip, (h.addr, ip)
                self.agents[iid] = Agent(self.workdir, host=h, WORKER_ID=f"vm{iid[-8:]}",
                                         **agent_env)
        for iid in [i for i in self.agents if i not in live]:
            a = self.agents.pop(iid)
            a.stop()  # the VM is terminated: its agent goes with it
            self.gone.append(a)
            self.net.remove(iid[-8:])

    def stop(self):
        self.stop_ev.set()
        if self.player:
            self.player.join(30)
        for a in self.agents.values():
            a.stop()
        if self.helper:
            self.helper.stop()
        if self.moto:
            self.moto.stop()

    def all_agents(self):
        return list(self.agents.values()) + list(self.gone)
