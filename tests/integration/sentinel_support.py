"""A Redis master, its replica and three sentinels (Debian's redis-server and redis-sentinel), on
loopback or on hosts of a test network (netns.py), in plain TCP or TLS only (tls: a
tls_support.ServerTls): what the Sentinel tests and the multi-host chaos test run our programs
against."""
import os
import signal
import socket

import harness
import tls_support
from harness import wait_until

MASTER_NAME = "mymaster"


def resp(addr, port, *args, timeout=5, tls=None):
    """One command over RESP to addr:port; str, int, list or None (RuntimeError on -ERR)."""
    if tls:
        return tls_support.resp(addr, port, tls, *args, timeout=timeout)
    with socket.create_connection((addr, port), timeout=timeout) as s:
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        s.sendall(out)
        return harness.read_resp(s.makefile("rb"))


class Node:
    """redis-server (a master or a replica) with AOF, appendfsync always."""

    def __init__(self, workdir, name, addr="127.0.0.1", port=None, prefix=(), replicaof=None,
                 tls=None):
        self.name, self.addr, self.prefix, self.tls = name, addr, list(prefix), tls
        self.port = port or harness.free_port()
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.replicaof = replicaof
        self.proc = None
        self.start()

    def start(self):
        ports = (["--port", "0", "--tls-port", str(self.port), *self.tls.server_args()]
                 if self.tls else ["--port", str(self.port)])
        argv = self.prefix + [
            "redis-server", *ports, "--bind", self.addr, "--dir", self.dir,
            "--save", "", "--appendonly", "yes", "--appendfsync", "always",
            "--protected-mode", "no", "--maxmemory-policy", "noeviction",
            "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"]
        if self.replicaof and not os.path.exists(os.path.join(self.dir, "started")):
            argv += ["--replicaof", self.replicaof.addr, str(self.replicaof.port)]
        self.proc = harness.Process(argv, dict(os.environ), os.path.join(self.dir, "redis.log"))
        open(os.path.join(self.dir, "started"), "w").close()  # a restart keeps its given role
        wait_until(self.ping, timeout=60, what=f"redis {self.name} to answer")

    def cmd(self, *args):
        return resp(self.addr, self.port, *args, tls=self.tls)

    @property
    def url(self):
        return f"{'rediss' if self.tls else 'redis'}://{self.addr}:{self.port}/0"

    def ping(self):
        try:
            return self.cmd("PING") == "PONG"
        except (OSError, RuntimeError):
            return False

    def role(self):
        try:
            return self.cmd("ROLE")[0]
        except (OSError, RuntimeError):
            return None

    def kill(self):
        if self.proc:
            self.proc.kill()
            self.proc = None

    def stop(self):
        if self.proc:
            self.proc.stop()
            self.proc = None

    def signal(self, sig):
        if self.proc:
            os.kill(self.proc.pid, sig)


class Sentinel:
    def __init__(self, workdir, name, master, addr="127.0.0.1", port=None, prefix=(),
                 down_after_ms=1500, quorum=2, tls=None):
        self.name, self.addr, self.prefix, self.tls = name, addr, list(prefix), tls
        self.port = port or harness.free_port()
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "sentinel.conf")
        with open(self.conf, "w") as f:  # redis-sentinel rewrites it as it learns
            f.write((f"port 0\ntls-port {self.port}\n{tls.conf_lines()}" if tls else
                     f"port {self.port}\n") +
                    f"bind {self.addr}\nprotected-mode no\ndir {self.dir}\n"
                    f"sentinel monitor {MASTER_NAME} {master.addr} {master.port} {quorum}\n"
                    f"sentinel down-after-milliseconds {MASTER_NAME} {down_after_ms}\n"
                    f"sentinel failover-timeout {MASTER_NAME} 10000\n"
                    f"sentinel parallel-syncs {MASTER_NAME} 1\n")
        self.proc = harness.Process(self.prefix + ["redis-sentinel", self.conf], dict(os.environ),
                                    os.path.join(self.dir, "sentinel.log"))
        wait_until(self.ping, timeout=30, what=f"sentinel {name} to answer")

    def cmd(self, *args):
        return resp(self.addr, self.port, *args, tls=self.tls)

    def ping(self):
        try:
            return self.cmd("PING") == "PONG"
        except (OSError, RuntimeError):
            return False

    def master(self):
        """(addr, port) this sentinel names as the master, or None."""
        try:
            r = self.cmd("SENTINEL", "get-master-addr-by-name", MASTER_NAME)
        except (OSError, RuntimeError):
            return None
        return (r[0], int(r[1])) if r else None

    def stop(self):
        if self.proc:
            self.proc.stop()
            self.proc = None

    @property
    def endpoint(self):
        return f"{self.addr}:{self.port}"


class Group:
    """Master, replica and three sentinels; the master moves on failover."""

    def __init__(self, workdir, hosts=None, down_after_ms=1500, tls=None):
        """hosts: None for loopback, or a dict name -> netns.Host for a, b, s1, s2, s3."""
        def where(n):
            if not hosts:
                return {"tls": tls}
            h = hosts[n]
            return {"addr": h.addr, "port": 6379 if n in "ab" else 26379, "prefix": h.prefix,
                    "tls": tls}

        self.nodes = {"a": Node(workdir, "redis-a", **where("a"))}
        self.nodes["b"] = Node(workdir, "redis-b", replicaof=self.nodes["a"], **where("b"))
        wait_until(lambda: "master_link_status:up" in self.nodes["b"].cmd("INFO", "replication"),
                   timeout=30, what="the replica to sync")
        self.sentinels = [Sentinel(workdir, f"sentinel-{i}", self.nodes["a"],
                                   down_after_ms=down_after_ms, **where(f"s{i}"))
                          for i in (1, 2, 3)]
        wait_until(lambda: all(len(s.cmd("SENTINEL", "sentinels", MASTER_NAME)) == 2 and
                               s.cmd("SENTINEL", "replicas", MASTER_NAME)
                               for s in self.sentinels),
                   timeout=30, what="the sentinels to find each other and the replica")

    @property
    def endpoints(self):
        return ",".join(s.endpoint for s in self.sentinels)

    def master(self):
        """The node the sentinels agree is the master (and that says so), or None."""
        named = {s.master() for s in self.sentinels}
        if len(named) != 1:
            return None
        addr = named.pop()
        for n in self.nodes.values():
            if n.proc and (n.addr, n.port) == addr and n.role() == "master":
                return n
        return None

    def replica(self):
        m = self.master()
        return next((n for n in self.nodes.values() if n is not m), None)

    def wait_failover(self, old, timeout=30):
        return wait_until(lambda: (lambda m: m if m and m is not old else None)(self.master()),
                          timeout=timeout, what="the sentinels to promote the replica")

    def wait_synced(self, timeout=60):
        """Both nodes up, one master, the other its replica in sync."""
        def ok():
            m = self.master()
            r = self.replica()
            if not m or not r or not r.proc:
                return False
            try:
                return "master_link_status:up" in r.cmd("INFO", "replication")
            except (OSError, RuntimeError):
                return False
        wait_until(ok, timeout=timeout, what="master and replica in sync")

    def stop(self):
        for s in self.sentinels:
            s.stop()
        for n in self.nodes.values():
            if n.proc:
                n.signal(signal.SIGCONT)
            n.stop()
