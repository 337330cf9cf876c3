"""What the session tests share: a client of the session routes over a harness.Api, and what a
session may leave on the host (its cgroups, mounts, directory, holder process) and in Redis."""
import http.client
import json
import os
import pathlib
import urllib.parse

import harness
from support import cgroup_roots, mounts_under

PREFIX = "test:"


class Client:
    """The session routes of one api."""

    def __init__(self, api):
        self.api = api

    def create(self, environment="python", wait=20, expect=200, **fields):
        path = "/api/v1/sessions" + (f"?wait={wait}" if wait else "")
        status, data, headers = self.api.request("POST", path, {"environment": environment,
                                                                 **fields})
        assert status == expect, (status, data)
        if expect == 200 and wait:
            assert data["status"] == "ready", data
        return data["session_id"] if expect == 200 and wait else data

    def get(self, sid, expect=200):
        status, data, _ = self.api.request("GET", f"/api/v1/sessions/{sid}")
        assert status == expect, (status, data)
        return data

    def gone(self, sid):
        """True once GET answers 404."""
        return self.api.request("GET", f"/api/v1/sessions/{sid}")[0] == 404

    def run(self, sid, code, expect=200, **fields):
        status, data, _ = self.api.request("POST", f"/api/v1/sessions/{sid}/execute",
                                           {"code": code, **fields}, timeout=150)
        assert status == expect, (status, data)
        return data

    def ok(self, sid, code, **fields):
        """Run code; it must complete with verdict ok. Returns its stdout."""
        r = self.run(sid, code, **fields)
        assert r["status"] == "completed" and r["verdict"] == "ok", r
        return r["stdout"]

    def run_async(self, sid, code, **fields):
        status, data, _ = self.api.request("POST", f"/api/v1/sessions/{sid}/execute?async=1",
                                           {"code": code, **fields})
        assert status == 202 and data["status"] == "pending", (status, data)
        return data["task_id"]

    def delete(self, sid, expect=200):
        status, data, _ = self.api.request("DELETE", f"/api/v1/sessions/{sid}")
        assert status == expect, (status, data)
        return data

    def file_url(self, sid, path):
        return f"/api/v1/sessions/{sid}/files/{urllib.parse.quote(path, safe='/')}"

    def put(self, sid, path, data, expect=200, raw_path=False):
        url = f"/api/v1/sessions/{sid}/files/{path}" if raw_path else self.file_url(sid, path)
        status, body, _ = self.api.request("PUT", url, data,
                                           headers={"Content-Type": "application/octet-stream"})
        assert status == expect, (status, body)
        return body

    def get_file(self, sid, path, expect=200, raw_path=False):
        """The file's bytes (expect 200), or the parsed error body."""
        url = f"/api/v1/sessions/{sid}/files/{path}" if raw_path else self.file_url(sid, path)
        c = http.client.HTTPConnection(self.api.addr, self.api.port, timeout=60)
        try:
            c.request("GET", url)
            r = c.getresponse()
            data = r.read()
            assert r.status == expect, (r.status, data)
            if r.status == 200:
                assert r.getheader("Content-Type") == "application/octet-stream"
                return data
            return json.loads(data)
        finally:
            c.close()

    def list(self, sid, expect=200):
        status, data, _ = self.api.request("GET", f"/api/v1/sessions/{sid}/files")
        assert status == expect, (status, data)
        return {f["path"]: f for f in data["files"]} if status == 200 else data

    def wait_status(self, sid, want, timeout=30):
        return harness.wait_until(lambda: self.get(sid)["status"] in want and self.get(sid),
                                  timeout=timeout, step=0.1, what=f"session status {want}")


def host_leftovers(worker, sid=None):
    """What sessions of worker (all of them, or the one named by the first 8 hex digits of sid)
    left on this host: cgroups, mounts under its STATE_DIR, session directories, holders."""
    w = worker.id.replace("-", "_")
    tag = f"S{sid.replace('-', '_')[:8]}" if sid else "S"
    cgroups = [str(d) for root in cgroup_roots()
               for d in (root / "code-runner").glob(f"cr-{w}_*-{tag}*") if d.is_dir()]
    state = pathlib.Path(worker.env["STATE_DIR"])
    mounts = [m for m in mounts_under(state) if f"/{tag}" in m]
    dirs = [str(p) for p in state.glob(f"*/{tag}*")] if state.exists() else []
    return {"cgroups": cgroups, "mounts": mounts, "dirs": dirs, "holders": holders(cgroups)}


def holders(cgroups):
    """Live processes in the given cgroups (and their children)."""
    found = set()
    for d in cgroups:
        for f in pathlib.Path(d).rglob("cgroup.procs"):
            try:
                found |= {p for p in f.read_text().split() if os.path.exists(f"/proc/{p}")}
            except OSError:
                pass
    return sorted(found)


def assert_no_host_leftovers(worker, sid=None, timeout=10):
    empty = {"cgroups": [], "mounts": [], "dirs": [], "holders": []}
    harness.wait_until(lambda: host_leftovers(worker, sid) == empty, timeout=timeout,
                       what=f"no leftovers of {sid or 'any session'}: "
                            f"{host_leftovers(worker, sid)}")


def session_keys(redis, sid):
    """Redis keys that name the session (its hash, its create task) or hold it."""
    keys = [k for k in (redis.cmd("KEYS", f"{PREFIX}*") or []) if sid in k]
    for k in redis.cmd("KEYS", f"{PREFIX}sessions:*") or []:
        if redis.cmd("SISMEMBER", k, sid):
            keys.append(k)
    for k in redis.cmd("KEYS", f"{PREFIX}session_expiry:*") or []:
        if redis.cmd("ZSCORE", k, sid) is not None:
            keys.append(k)
    return keys


def owner_pid(worker, redis, sid):
    """The pid of the worker process that holds sid (its comm is cr-worker-<slot>)."""
    wid = redis.cmd("HGET", f"{PREFIX}session:{sid}", "owner")
    slot = wid.rsplit("-", 1)[1]
    for pid in harness.children(worker.proc.pid):
        if harness.comm(pid) == f"cr-worker-{slot}":
            return pid
    raise AssertionError(f"no worker process for {wid}")
