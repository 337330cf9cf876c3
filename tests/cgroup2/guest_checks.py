"""The checks run-vm.sh runs inside its pure cgroup v2 guest: sandbox_cli (builtin runtime, and
runc for hello world) against the python image, one PASS/FAIL line per check, then a summary
line that run-vm.sh reads from the serial console:
    CG2-CHECK PASS|FAIL <name>: <detail>
    CG2-RESULT passed=N failed=M
Runs with the python image's own python3 as the guest's root file system; paths come from
guest-init.sh (the payload disk at /cr-vm, the sandbox image under /images). The leftover checks
are the integration tests' (tests/integration/support.py, copied beside this file)."""

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "integration")]  # the guest, the host's tree
import support  # noqa: E402

PAYLOAD = "/cr-vm"
CLI = f"{PAYLOAD}/bin/sandbox_cli"
STATE_DIR = "/run/code-runner"
CGROUP_PARENT = "/sys/fs/cgroup/code-runner"
WORKER = "vm"
ENV = dict(os.environ, WORKER_ID=WORKER, STATE_DIR=STATE_DIR, IMAGES_DIR="/images",
           LANGUAGES_FILE=f"{PAYLOAD}/languages.json", LOG_LEVEL="warn",
           LD_LIBRARY_PATH=f"{PAYLOAD}/lib", PATH=f"{PAYLOAD}/bin:/usr/sbin:/usr/bin:/sbin:/bin")

results = []     # (name, ok)
dirty_runs = []  # (run name, what was left)
runs_done = 0


def report(name, ok, detail):
    results.append((name, ok))
    print(f"CG2-CHECK {'PASS' if ok else 'FAIL'} {name}: {detail}", flush=True)


def leftovers(runtime):
    """What a finished run may not leave: cgroups, mounts and files under STATE_DIR, live
    processes in a code-runner cgroup, runc containers."""
    left = {"cgroups": sorted(d.name for d in support.container_cgroups("")),
            "mounts": support.mounts_under(STATE_DIR),
            "files": support.files_under(os.path.join(STATE_DIR, WORKER)),
            "processes": support.processes_in_cgroups("/code-runner/")}
    if runtime == "runc":
        left["containers"] = support.list_containers("runc")
    return {k: v for k, v in left.items() if v}


def run(name, code, runtime="builtin", wait=120, **fields):
    """Result object of one sandbox_cli run (None on a failure, printed); notes leftovers."""
    global runs_done
    runs_done += 1
    request = json.dumps({"language": "python", "code": code, **fields})
    t0 = time.monotonic()
    try:
        p = subprocess.run([CLI, "-"], input=request, capture_output=True, text=True,
                           timeout=wait, env=dict(ENV, OCI_RUNTIME=runtime))
    except subprocess.TimeoutExpired:
        print(f"  {name}: sandbox_cli still running after {wait} s", flush=True)
        return None
    took = time.monotonic() - t0
    left = leftovers(runtime)
    if left:
        dirty_runs.append((name, left))
    try:
        res = json.loads(p.stdout)
    except ValueError:
        res = None
    if p.returncode != 0 or not isinstance(res, dict) or "failure" in res:
        print(f"  {name}: sandbox_cli rc={p.returncode} stdout={p.stdout.strip()[:2000]!r} "
              f"stderr={p.stderr.strip()[:2000]!r}", flush=True)
        return None
    short = {k: (v[:200] if isinstance(v, str) else v) for k, v in res.items()}
    print(f"  {name} ({took:.2f} s): {json.dumps(short)}", flush=True)
    return res


def summary(res):
    if res is None:
        return "no result (see above)"
    return (f"verdict={res.get('verdict')} exit={res.get('exit_code')} "
            f"signal={res.get('signal')} time_ms={res.get('time_ms')} "
            f"memory_kb={res.get('memory_kb')}")


def check_hello(runtime):
    res = run(f"hello[{runtime}]", "print('hello from v2')", runtime=runtime)
    ok = (res is not None and res.get("verdict") == "ok" and res.get("output") == "hello from v2\n"
          and isinstance(res.get("memory_kb"), int) and res["memory_kb"] > 0
          and isinstance(res.get("time_ms"), int) and res["time_ms"] >= 0)
    report(f"1 hello world ({runtime}): ok, memory_kb > 0, time_ms >= 0", ok, summary(res))


def check_memory():
    code = "a = []\nwhile True:\n    a.append(bytearray(10**7))\n"
    res = run("memory hog", code, memory_mb=64)
    ok = res is not None and res.get("verdict") == "memory_limit"
    report("2 memory hog with memory_mb=64: memory_limit", ok, summary(res))


def check_pids():
    # threads: each one is a task of the cgroup; pids.max (50) stops them before 50
    code = ("import threading, time\nn = 0\ntry:\n    while n < 10000:\n"
            "        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
            "        n += 1\nexcept RuntimeError as e:\n    print(n, e)\n    raise SystemExit(3)\n"
            "print(n, 'threads and no limit')\n")
    res = run("thread bomb", code, timeout=10)
    n = -1
    if res is not None:
        try:
            n = int(res.get("output", "").split()[0])
        except (ValueError, IndexError):
            pass
    ok = res is not None and res.get("verdict") != "ok" and 0 < n < 50
    report("3a thread bomb: stopped by pids.max (50) before 50 threads", ok,
           f"threads started={n} {summary(res)}")
    # processes: a fork bomb until the timeout; then the guest must still run a job
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    t0 = time.monotonic()
    res = run("fork bomb", code, timeout=3)
    took = time.monotonic() - t0
    after = run("hello after the fork bomb", "print('still fine')")
    ok = (res is not None and res.get("verdict") != "ok" and took < 30 and after is not None
          and after.get("output") == "still fine\n")
    report("3b fork bomb: contained (not ok, ended, guest still runs a job)", ok,
           f"took {took:.1f} s, {summary(res)}; next job: {summary(after)}")


def check_timeout():
    res = run("infinite loop", "while True:\n    pass\n", timeout=1)
    ok = res is not None and res.get("verdict") == "time_limit"
    report("4 infinite loop with timeout=1: time_limit", ok, summary(res))
    # cpu.max is "50000 100000" (cpus 0.5): one busy second of wall clock is about 0.5 s of CPU
    cpu = res.get("time_ms", -1) if res else -1
    ok = res is not None and 100 <= cpu <= 800
    report("4b cpu.max (0.5 CPU): time_ms of the 1 s loop between 100 and 800", ok,
           f"time_ms={cpu} wall_ms={res.get('wall_ms') if res else None}")


INSPECT = r"""
import json, os
mounts = []
for line in open('/proc/self/mountinfo'):
    f = line.split()
    if f[4] == '/sys/fs/cgroup':
        sep = f.index('-')
        mounts.append({'options': f[5], 'fstype': f[sep + 1], 'super': f[sep + 3]})
def read(name):
    try:
        return open('/sys/fs/cgroup/' + name).read().strip()
    except OSError as e:
        return 'error: %s' % e
try:
    open('/sys/fs/cgroup/memory.max', 'w').write('max')
    write = 'allowed'
except OSError as e:
    write = 'refused: %s' % e
print(json.dumps({'mounts': mounts, 'memory.max': read('memory.max'),
                  'pids.max': read('pids.max'), 'cpu.max': read('cpu.max'),
                  'self': open('/proc/self/cgroup').read().strip(), 'write': write}))
"""


def check_cgroupfs():
    res = run("cgroupfs inside", INSPECT)
    try:
        seen = json.loads(res["output"])
    except (TypeError, ValueError, KeyError):
        report("5 /sys/fs/cgroup inside: cgroup2, read-only, own limits", False, summary(res))
        return
    top = seen["mounts"][-1] if seen["mounts"] else {}
    ok = (top.get("fstype") == "cgroup2" and "ro" in top.get("options", "").split(",")
          and seen["memory.max"] == "268435456" and seen["pids.max"] == "50"
          and seen["cpu.max"] == "50000 100000" and seen["self"] == "0::/"
          and seen["write"].startswith("refused"))
    report("5 /sys/fs/cgroup inside: cgroup2, read-only, own limits", ok, json.dumps(seen))


def http(method, path, body=None, timeout=60):
    import urllib.request
    req = urllib.request.Request(f"http://127.0.0.1:8000{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def check_worker():
    """The worker itself (redis-server, api, worker): its jobs after the first run in a container
    started ahead without limits, whose v2 limits are written once the job is known."""
    env = dict(ENV, WORKER_ID="vmw", WORKER_CONCURRENCY="1", REDIS_URL="redis://127.0.0.1:6379/0",
               API_HOST="127.0.0.1", API_PORT="8000", API_THREADS="1", OCI_RUNTIME="builtin",
               WORKER_SHUTDOWN_GRACE="5", LOG_LEVEL="info")
    log = open("/tmp/worker-stack.log", "w")
    procs = [subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
             for argv in (["redis-server", "--bind", "127.0.0.1", "--port", "6379", "--save", "",
                           "--appendonly", "no"], [f"{PAYLOAD}/bin/api"],
                          [f"{PAYLOAD}/bin/worker"])]
    got, detail, ok = {}, "", False
    try:
        for _ in range(300):
            try:
                if http("GET", "/health", timeout=2).get("status") == "ok":
                    break
            except OSError:
                time.sleep(0.2)
        jobs = {"first": ({"code": "print('first')"}, lambda r: r["verdict"] == "ok"),
                "second": ({"code": "print('second')"}, lambda r: r["verdict"] == "ok"),
                "hog": ({"code": "a = []\nwhile True:\n    a.append(bytearray(10**7))\n",
                         "memory_mb": 64}, lambda r: r["verdict"] == "memory_limit"),
                "inspect": ({"code": INSPECT, "memory_mb": 128},
                            lambda r: r["verdict"] == "ok" and json.loads(r["output"])[
                                "memory.max"] == "134217728"),
                "loop": ({"code": "while True:\n    pass\n", "timeout": 1},
                         lambda r: r["verdict"] == "time_limit")}
        for name, (fields, good) in jobs.items():
            answer = http("POST", "/run-code?wait=30", {"language": "python", **fields})
            res = answer.get("result")
            ok_job = answer.get("status") == "SUCCESS" and isinstance(res, dict) and good(res)
            got[name] = summary(res) if isinstance(res, dict) else f"{answer}"
            if name == "inspect" and isinstance(res, dict):
                got[name] += " memory.max=" + json.loads(res.get("output") or "{}").get(
                    "memory.max", "?")
            print(f"  worker job {name}: {'ok' if ok_job else 'WRONG'}: {got[name]}", flush=True)
            if not ok_job:
                detail += f"{name} wrong; "
        for _ in range(100):  # started after the answer, once the job's sandbox is gone
            ahead = [e.name for e in os.scandir(CGROUP_PARENT) if "warm" in e.name]
            if ahead:
                break
            time.sleep(0.1)
        print(f"  worker: containers started ahead while idle: {ahead}", flush=True)
        if not ahead:
            detail += "no container started ahead (the warm path did not run); "
        ok = not detail
    except Exception as e:
        detail += repr(e)
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        log.close()
    left = leftovers("builtin")
    if left:
        detail += f"left after the worker stopped: {json.dumps(left)}"
        ok = False
    if not ok:
        with open("/tmp/worker-stack.log") as f:
            print("  worker stack log (last 40 lines):\n    " + "    ".join(f.readlines()[-40:]),
                  flush=True)
    report("7 worker + api + redis: jobs in containers started ahead (v2 limits written late),"
           " nothing left after it stops", ok, detail or json.dumps(got))


def check_clean():
    detail = "; ".join(f"{name}: {json.dumps(left)}" for name, left in dirty_runs)
    report(f"6 nothing left after each of the {runs_done} runs "
           f"(no cgroup under {CGROUP_PARENT}, no mount or file under {STATE_DIR}, no process)",
           not dirty_runs, detail or "clean")


def main():
    with open("/proc/self/mountinfo") as f:
        root = [l for l in f if l.split()[4] == "/sys/fs/cgroup"]
    print(f"guest: kernel {os.uname().release}, /sys/fs/cgroup: {root[0].split(' - ')[1].strip()}"
          if root else "guest: /sys/fs/cgroup is not mounted", flush=True)
    print("guest: cgroup.controllers = "
          + open("/sys/fs/cgroup/cgroup.controllers").read().strip(), flush=True)
    print("guest: checks run in the cgroup " + open("/proc/self/cgroup").read().strip(),
          flush=True)
    has_v1 = any(l.split()[2] == "cgroup" for l in open("/proc/mounts"))
    report("0 pure cgroup v2 guest (no v1 hierarchy, cgroup2 at /sys/fs/cgroup)",
           bool(root) and " cgroup2 " in root[0] and not has_v1,
           f"v1 hierarchies mounted: {'yes' if has_v1 else 'none'}")
    checks = [lambda: check_hello("builtin"), check_memory, check_pids, check_timeout,
              check_cgroupfs, lambda: check_hello("runc"), check_worker]
    for check in checks:
        try:
            check()
        except Exception as e:  # a bug here is one FAIL, not a silent guest
            report(f"{getattr(check, '__name__', 'check')} raised", False, repr(e))
    check_clean()
    failed = sum(1 for _, ok in results if not ok)
    print(f"CG2-RESULT passed={len(results) - failed} failed={failed}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
