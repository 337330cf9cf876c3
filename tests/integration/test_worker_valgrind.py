"""The worker supervisor and its worker processes under valgrind, driven through the real api:
jobs of every outcome, a SIGKILLed worker process (restart, requeue, cleanup) and a graceful
stop. Every process valgrind watched (the supervisor and each forked worker process; runc and
cr-init are exec'd and run natively) must report no error and no leak."""
import glob
import os
import re
import signal
import time

import harness

PY = "python"


def worker_children(w):
    out = []
    for task in glob.glob(f"/proc/{w.proc.pid}/task/*/children"):
        with open(task) as f:
            out += [int(p) for p in f.read().split()]
    return out


def test_worker_paths_have_no_leaks(workdir, redis, api):
    vg_log = os.path.join(workdir, "valgrind-worker-%p.log")
    w = harness.Worker.__new__(harness.Worker)
    env = {"WORKER_ID": f"vg{harness.free_port()}", "WORKER_CONCURRENCY": 2,
           "HEARTBEAT_INTERVAL": 1}
    env["STATE_DIR"] = os.path.join("/run/code-runner-test", env["WORKER_ID"])
    w.env = harness.base_env(redis, **env)
    w.id, w.workdir = env["WORKER_ID"], workdir
    # valgrind lets a process set RLIMIT_NOFILE's hard limit only to the one it started with:
    # with 1024 (the sandbox's own limit) the builtin runtime's setrlimit in the container's
    # first process (still valgrind's until it execs) is accepted
    argv = ["prlimit", "--nofile=1024:1024", "valgrind", "--leak-check=full", "--show-leak-kinds=definite,indirect,possible",
            "--errors-for-leak-kinds=definite,indirect,possible", "--error-exitcode=99",
            "--trace-children=no", "--child-silent-after-fork=no", f"--log-file={vg_log}",
            os.path.join(harness.BUILD_DIR, "worker")]
    w.proc = harness.Process(argv, w.env, os.path.join(workdir, "worker-vg.log"))
    try:
        jobs = {
            "ok": {"language": PY, "code": "import sys\nprint(sys.stdin.read().upper())", "stdin": "hi"},
            "error": {"language": PY, "code": "raise SystemExit(3)"},
            "timeout": {"language": PY, "code": "while True: pass", "timeout": 1},
            "tests": {"language": PY, "code": "print(int(input()) * 2)",
                      "tests": [{"stdin": "2", "expected_output": "4"},
                                {"stdin": "3", "expected_output": "7"}]},
            "bad": {"language": PY, "code": "print(1)"},
        }
        ids = {k: api.submit(v) for k, v in jobs.items()}
        # A corrupt stored request: the worker must end it FAILURE (a path of its own).
        redis.cmd("HSET", f"test:task:{ids['bad']}", "request", "{not json")
        results = {k: api.wait_result(t, timeout=180) for k, t in ids.items()}
        assert results["ok"]["result"]["output"] == "HI\n"
        assert results["error"]["result"]["exit_code"] == 3
        assert results["timeout"]["result"]["verdict"] == "time_limit"
        assert results["tests"]["result"]["summary"]["passed"] == 1
        # "bad" may have been taken before the request was overwritten: either outcome is fine,
        # the point is that the worker walked one of the two paths under valgrind.
        assert results["bad"]["status"] in ("SUCCESS", "FAILURE")
        # Kill a worker process in the middle of a job: restart, cleanup, requeue.
        slow = api.submit({"language": PY, "code": "import time\ntime.sleep(4)\nprint('done')",
                           "timeout": 20})
        harness.wait_until(lambda: any(redis.cmd("LLEN", k) for k in
                                       redis.cmd("KEYS", f"test:processing:{w.id}-*") or []),
                           timeout=60, what="the slow job to start")
        time.sleep(1)
        holder = next(k for k in redis.cmd("KEYS", f"test:processing:{w.id}-*")
                      if redis.cmd("LLEN", k))
        slot = int(holder.rsplit("-", 1)[1])
        children = worker_children(w)
        victim = None
        for pid in children:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip().endswith(f"-{slot}"):
                    victim = pid
        victim = victim or children[0]
        os.kill(victim, signal.SIGKILL)
        r = api.wait_result(slow, timeout=180)
        assert r["status"] == "SUCCESS" and r["result"]["output"] == "done\n", r
    finally:
        code = w.proc.stop(signal.SIGTERM, timeout=120)
    report = ""
    for name in sorted(glob.glob(vg_log.replace("%p", "*"))):
        with open(name) as f:
            report += f"--- {name}\n" + f.read()
    assert code == 0, report[-4000:]
    summaries = re.findall(r"ERROR SUMMARY: (\d+) errors", report)
    print(f"valgrind: {len(summaries)} processes checked, errors {summaries}")
    assert len(summaries) >= 3, report[-4000:]  # the supervisor and at least two processes
    # The SIGKILLed process never reaches its summary; every other one must be clean.
    assert all(n == "0" for n in summaries), report[-6000:]
    assert not re.search(r"(definitely|indirectly) lost: [1-9]", report), report[-6000:]
