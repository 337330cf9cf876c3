"""Test hosts on this machine: network namespaces the test makes, joined by a bridge that lives in
a namespace of its own (the switch). Every address is one the test gives inside its namespaces;
no namespace has any route but its own /24 (no default route, no address in the machine's own
namespace), so no packet can leave the machine, even if set-up goes wrong halfway.

    net = Network("fc")                    # namespaces cr-fc-*
    h = net.add("api", 2)                  # 10.<net>.0.2 in namespace cr-fc-api
    Process(h.prefix + argv, ...)          # a program in that namespace (network only)
    h.cut(); h.restore()                   # drop every packet of its link, and stop dropping
    run_in(h, fn)                          # fn in a thread that joined h's network namespace
    net.remove("api")                      # one host gone (its namespace and link)
    net.close()                            # every namespace gone
Programs are started with `nsenter --net`, not `ip netns exec`: the latter also makes a mount
namespace with its own /sys, which would hide /sys/fs/cgroup from the worker."""
import ctypes
import os
import subprocess
import threading

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL("libc.so.6", use_errno=True)


def _run(*argv):
    r = subprocess.run(list(argv), capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {r.stderr.strip()}")
    return r.stdout


class Host:
    def __init__(self, net, name, addr):
        self.net, self.ns, self.addr = net, name, addr

    @property
    def prefix(self):
        """Command prefix that runs a program in this host's network namespace."""
        return ["nsenter", f"--net=/run/netns/{self.ns}"]

    def routes(self):
        return _run("ip", "-n", self.ns, "route", "show").strip().splitlines()

    def cut(self):
        """Drop every packet in and out of the host's link (established connections too)."""
        rules = ("table inet crcut {\n"
                 " chain i { type filter hook input priority -200; iifname \"eth0\" drop; }\n"
                 " chain o { type filter hook output priority -200; oifname \"eth0\" drop; }\n"
                 "}\n")
        r = subprocess.run(["ip", "netns", "exec", self.ns, "nft", "-f", "-"], input=rules,
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"nft in {self.ns}: {r.stderr.strip()}")

    def restore(self):
        _run("ip", "netns", "exec", self.ns, "nft", "delete", "table", "inet", "crcut")


class Network:
    def __init__(self, tag, index=77):
        self.tag, self.index = tag, index
        self.switch = f"cr-{tag}-sw"
        self.hosts = {}
        self.close(quiet=True)  # what a killed earlier run left
        _run("ip", "netns", "add", self.switch)
        _run("ip", "-n", self.switch, "link", "add", "br0", "type", "bridge")
        _run("ip", "-n", self.switch, "link", "set", "br0", "up")

    def add(self, name, octet):
        ns = f"cr-{self.tag}-{name}"
        addr = f"10.{self.index}.0.{octet}"
        _run("ip", "netns", "add", ns)
        peer = f"p{self.tag}{octet}"[:15]
        _run("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", peer,
             "netns", self.switch)
        _run("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
        _run("ip", "-n", ns, "link", "set", "eth0", "up")
        _run("ip", "-n", ns, "link", "set", "lo", "up")
        _run("ip", "-n", self.switch, "link", "set", peer, "master", "br0")
        _run("ip", "-n", self.switch, "link", "set", peer, "up")
        h = Host(self, ns, addr)
        routes = h.routes()
        # Only the host's own subnet: nothing can be routed off the machine.
        assert routes and all(r.startswith(f"10.{self.index}.0.0/24 ") for r in routes), routes
        self.hosts[name] = h
        return h

    def remove(self, name):
        """A host gone: its namespace deleted (its end of the link goes with it)."""
        h = self.hosts.pop(name)
        _run("ip", "netns", "del", h.ns)

    def close(self, quiet=False):
        out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            name = line.split()[0] if line.split() else ""
            if name.startswith(f"cr-{self.tag}-"):
                r = subprocess.run(["ip", "netns", "del", name], capture_output=True, text=True)
                if r.returncode != 0 and not quiet:
                    raise RuntimeError(f"ip netns del {name}: {r.stderr.strip()}")


def enter(host):
    """Move the calling thread into host's network namespace (threads it starts follow)."""
    fd = os.open(f"/run/netns/{host.ns}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, f"setns into {host.ns}: {os.strerror(e)}")
    finally:
        os.close(fd)


def run_in(host, fn, *args):
    """fn(*args) in a thread inside host's network namespace; returns its value or raises."""
    box = {}

    def body():
        try:
            enter(host)
            box["value"] = fn(*args)
        except BaseException as e:  # re-raised in the caller
            box["error"] = e

    t = threading.Thread(target=body)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")
