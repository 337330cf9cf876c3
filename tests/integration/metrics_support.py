"""What the metrics tests share: reading a Prometheus text exposition, promtool's checks, and a
real Prometheus server (Debian's package) started in the test's directory and stopped by its
pid."""
import http.client
import json
import os
import subprocess
import urllib.parse

import harness

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
ALERTS = os.path.join(harness.SOURCE_DIR, "deploy", "prometheus", "alerts.yml")
EXAMPLE_CONFIG = os.path.join(harness.SOURCE_DIR, "deploy", "prometheus", "prometheus.yml")


def parse(text):
    """{series: value} of an exposition, the series written as it is ('name{a="b"}')."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            out[series] = float(value)
    return out


def scrape(host, port, headers=None):
    """GET /metrics: (status, body text, headers)."""
    c = http.client.HTTPConnection(host, port, timeout=30)
    try:
        c.request("GET", "/metrics", headers=headers or {})
        r = c.getresponse()
        return r.status, r.read().decode(), dict(r.getheaders())
    finally:
        c.close()


def promtool(*args, stdin=None):
    """Run promtool; returns the CompletedProcess (text)."""
    return subprocess.run([PROMTOOL, *args], input=stdin, capture_output=True, text=True,
                          timeout=120)


def check_exposition(text):
    """promtool check metrics: the exposition parses and follows Prometheus's naming rules (it
    reports problems on stdout or stderr and exits non-zero)."""
    r = promtool("check", "metrics", stdin=text)
    assert r.returncode == 0 and not r.stdout.strip(), (r.stdout, r.stderr)


class Prometheus:
    """A real Prometheus on a free loopback port, scraping targets every second. Its
    configuration, data and log are in workdir; stop() ends it by its pid. jobs: {job name:
    (["host:port", ...], bearer token or None)}."""

    def __init__(self, workdir, jobs, rule_files=()):
        self.dir = os.path.join(workdir, "prometheus")
        os.makedirs(self.dir, exist_ok=True)
        self.port = harness.free_port()
        lines = ["global:", "  scrape_interval: 1s", "  scrape_timeout: 1s",
                 "  evaluation_interval: 1s", "rule_files:"]
        lines += [f"  - {json.dumps(f)}" for f in rule_files] or ["  []"]
        lines.append("scrape_configs:")
        for name, (targets, token) in jobs.items():
            lines += [f"  - job_name: {json.dumps(name)}"]
            if token:
                lines += ["    authorization:", f"      credentials: {json.dumps(token)}"]
            lines += ["    static_configs:", f"      - targets: {json.dumps(targets)}"]
        self.config = os.path.join(self.dir, "prometheus.yml")
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")
        r = promtool("check", "config", self.config)
        assert r.returncode == 0, r.stdout + r.stderr
        argv = [PROMETHEUS, f"--config.file={self.config}",
                f"--storage.tsdb.path={os.path.join(self.dir, 'data')}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.console.templates=/nonexistent", "--web.console.libraries=/nonexistent"]
        self.proc = harness.Process(argv, dict(os.environ), os.path.join(self.dir, "log"),
                                    cwd=self.dir)
        harness.wait_until(self.ready, timeout=30, step=0.2, what="prometheus to be ready")

    def get(self, path, **params):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            q = "?" + urllib.parse.urlencode(params) if params else ""
            c.request("GET", path + q)
            r = c.getresponse()
            return r.status, r.read().decode()
        finally:
            c.close()

    def ready(self):
        if not self.proc.alive():
            raise AssertionError("prometheus exited:\n" + self.proc.output()[-3000:])
        try:
            return self.get("/-/ready")[0] == 200
        except OSError:
            return False

    def api(self, path, **params):
        status, body = self.get(f"/api/v1/{path}", **params)
        data = json.loads(body)
        assert status == 200 and data["status"] == "success", (path, params, body)
        return data["data"]

    def query(self, expr):
        """An instant query: {frozenset of label items: value} (the vector's samples)."""
        out = {}
        for s in self.api("query", query=expr)["result"]:
            out[frozenset(s["metric"].items())] = float(s["value"][1])
        return out

    def value(self, expr):
        """The single value of a query that aggregates to one sample (None when empty)."""
        r = self.query(expr)
        assert len(r) <= 1, (expr, r)
        return next(iter(r.values())) if r else None

    def stop(self):
        if self.proc.alive():
            self.proc.stop()
        return self.proc.proc.returncode
