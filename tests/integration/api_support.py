"""Helpers for the api tests: a worker's completion written the way the worker's finish script
writes it, raw-socket long-polls, and (with CR_API_VALGRIND=1) the api run under valgrind with its
report checked when it stops."""
import json
import os
import re
import socket
import time

import harness

VALGRIND = os.environ.get("CR_API_VALGRIND") == "1"
# Timing bounds are stretched under valgrind, which slows everything down ~20x.
SLOW = 10 if VALGRIND else 1


def finish(redis, task_id, status, result, prefix="test:"):
    """What SCRIPT_FINISH does once a worker holds the job: write the final state, then PUBLISH
    the id on {prefix}done."""
    key = f"{prefix}task:{task_id}"
    redis.cmd("HSET", key, "status", status, "result", json.dumps(result),
              "finished_at", int(time.time() * 1000))
    redis.cmd("HDEL", key, "lease")
    redis.cmd("PUBLISH", f"{prefix}done", task_id)


SUCCESS = {"output": "hi\n", "error": "", "exit_code": 0, "signal": None, "verdict": "ok",
           "compile_output": "", "time_ms": 12, "wall_ms": 30, "memory_kb": 9000,
           "truncated": False}


def raw_get(port, path, headers=""):
    """Send a GET on a fresh socket without reading the answer; returns the socket."""
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
    return s


def read_response(s):
    """Read one HTTP response with a Content-Length body; returns (status, json body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise OSError("connection closed before the headers")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    status = int(head.split(b" ", 2)[1])
    m = re.search(rb"(?i)content-length:\s*(\d+)", head)
    n = int(m.group(1)) if m else 0
    while len(body) < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, json.loads(body[:n])


class Api(harness.Api):
    """harness.Api, under valgrind when CR_API_VALGRIND=1."""

    def start(self):
        if not VALGRIND:
            return super().start()
        self.vg_log = os.path.join(self.workdir, f"valgrind-{self.port}-%p.log")
        log = os.path.join(self.workdir, f"api-{self.port}.log")
        argv = ["valgrind", "--leak-check=full", "--show-leak-kinds=definite,indirect,possible",
                "--errors-for-leak-kinds=definite,indirect,possible", "--error-exitcode=99",
                f"--log-file={self.vg_log}", os.path.join(harness.BUILD_DIR, "api")]
        self.proc = harness.Process(argv, self.env, log)
        self.procs.append(self.proc)
        harness.wait_until(self._listening, timeout=60, what="the api (valgrind) to listen")

    def valgrind_report(self):
        out = ""
        d = os.path.dirname(self.vg_log)
        prefix = os.path.basename(self.vg_log).split("%p")[0]
        for name in sorted(os.listdir(d)):
            if name.startswith(prefix):
                with open(os.path.join(d, name)) as f:
                    out += f.read()
        return out
