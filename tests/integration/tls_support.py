"""TLS for the Redis-over-TLS tests: a certificate authority and the certificates it signs, made
by the test with openssl, the redis-server arguments that serve TLS only, and RESP over TLS for
the tests' own look at the server."""
import os
import shutil
import socket
import ssl
import subprocess

import harness
from harness import wait_until

SERVER_NAME = "redis.test"  # the DNS name in every server certificate the tests make


def openssl(*args, cwd):
    tool = shutil.which("openssl")
    assert tool, "openssl is missing (deploy/install-deps.sh installs it)"
    r = subprocess.run([tool, *args], cwd=cwd, capture_output=True, text=True)
    assert r.returncode == 0, f"openssl {' '.join(args)}: {r.stderr}"


class Pki:
    """A CA (P-256 keys, valid two days) in its own directory, and the certificates it signs."""

    def __init__(self, workdir, name="ca"):
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.ca = os.path.join(self.dir, "ca.crt")
        self.ca_key = os.path.join(self.dir, "ca.key")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-days", "2", "-subj", f"/CN=code-runner test {name}",
                "-keyout", self.ca_key, "-out", self.ca, cwd=self.dir)

    def issue(self, name, cn, san=None, usage=None):
        """A certificate and its key signed by this CA: (cert path, key path). san: the
        subjectAltName ("DNS:redis.test,IP:127.0.0.1"); usage: extendedKeyUsage."""
        cert, key, csr = (os.path.join(self.dir, f"{name}.{x}") for x in ("crt", "key", "csr"))
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-subj", f"/CN={cn}", "-keyout", key, "-out", csr, cwd=self.dir)
        ext = os.path.join(self.dir, f"{name}.ext")
        with open(ext, "w") as f:
            if san:
                f.write(f"subjectAltName={san}\n")
            if usage:
                f.write(f"extendedKeyUsage={usage}\n")
        openssl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key,
                "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", cert, cwd=self.dir)
        return cert, key


class ServerTls:
    """What a TLS redis-server (or sentinel) is given, and how the tests talk to it: its
    certificate and key, the CA it trusts for clients, whether it requires a client certificate,
    and the client certificate the tests' own connections show."""

    def __init__(self, pki, cert, key, client_cert, client_key, auth_clients=False):
        self.pki, self.cert, self.key = pki, cert, key
        self.client_cert, self.client_key = client_cert, client_key
        self.auth_clients = auth_clients

    def server_args(self):
        """redis-server arguments for TLS on the port given by --tls-port (and replication and
        sentinel links over TLS too)."""
        return ["--tls-cert-file", self.cert, "--tls-key-file", self.key,
                "--tls-ca-cert-file", self.pki.ca,
                "--tls-auth-clients", "yes" if self.auth_clients else "no",
                "--tls-replication", "yes"]

    def conf_lines(self):
        """The same as redis.conf (sentinel.conf) lines."""
        a = self.server_args()
        return "".join(f"{a[i][2:]} {a[i + 1]}\n" for i in range(0, len(a), 2))

    def wrap(self, sock):
        ctx = ssl.create_default_context(cafile=self.pki.ca)
        ctx.load_cert_chain(self.client_cert, self.client_key)
        return ctx.wrap_socket(sock, server_hostname=SERVER_NAME)


def resp(addr, port, tls, *args, timeout=5):
    """One command over RESP on TLS; str, int, list or None (RuntimeError on -ERR)."""
    with tls.wrap(socket.create_connection((addr, port), timeout=timeout)) as s:
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        s.sendall(out)
        return harness.read_resp(s.makefile("rb"))


class TlsRedis:
    """A real redis-server serving TLS only (no plain port) on a free loopback port."""

    def __init__(self, workdir, tls, name="redis"):
        self.tls = tls
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = harness.free_port()
        argv = ["redis-server", "--port", "0", "--tls-port", str(self.port), "--bind", "127.0.0.1",
                "--dir", self.dir, "--save", "", "--appendonly", "no", "--protected-mode", "no",
                *tls.server_args()]
        self.proc = harness.Process(argv, dict(os.environ), os.path.join(self.dir, "redis.log"))
        wait_until(self.ping, timeout=20, what=f"redis {name} to answer over TLS")

    def cmd(self, *args):
        return resp("127.0.0.1", self.port, self.tls, *args)

    def ping(self):
        assert self.proc.alive(), "redis-server exited (built without TLS?):\n" + self.proc.output()
        try:
            return self.cmd("PING") == "PONG"
        except (OSError, RuntimeError):
            return False

    @property
    def url(self):
        return f"rediss://127.0.0.1:{self.port}/0"

    def stop(self):
        if self.proc:
            self.proc.stop()
            self.proc = None
