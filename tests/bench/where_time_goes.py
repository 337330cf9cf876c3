#!/usr/bin/env python3
"""Splits one oci/runc job into its parts, interleaved rep by rep (medians), so that the cost of
each layer is a difference of two numbers measured side by side:
  bare python            /usr/bin/python3 -c 'print(1)' on the host
  <rt> --version         the Go (runc) or C (crun) runtime's start-up alone (runc is spawned twice per step)
  <rt> run (fg) true     container set-up + teardown around a no-op program (cr-init ./true)
  <rt> run (fg) python   the same around python3 main.py
  <rt> detach: ...       the worker's way: run --detach, wait for the init, delete --force
  sandbox_cli python     the executor as the worker calls it (tmpfs mounts, spec, run, delete),
                         without Redis or HTTP: with OCI_RUNTIME=runc, and with the builtin
                         runtime (the default: the worker clones the container itself, no
                         bundle) for comparison
Usage: where_time_goes.py CONFIG.json [REPS]
CONFIG.json is a step bundle's config.json captured from a running job of an OCI_RUNTIME=runc
worker (STATE_DIR/<worker>/<job>/s0/config.json; bench.py's profile section captures one; the
builtin runtime writes none). Runs runc, and crun when installed, side by side. Needs root and the Release build in build-bench."""
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("CR_BENCH_BUILD", os.path.join(ROOT, "build-bench"))


def bundle(tmp, template, args, name):
    d = os.path.join(tmp, name)
    ws, st = os.path.join(d, "ws"), os.path.join(d, "st")
    for p in (ws, st):
        os.makedirs(p)
        os.chown(p, 65534, 65534)
    with open(os.path.join(ws, "main.py"), "w") as f:
        f.write("print(1)\n")
    open(os.path.join(st, "0"), "w").close()
    os.chown(os.path.join(st, "0"), 65534, 65534)
    c = json.loads(json.dumps(template))
    c["process"]["args"] = args
    for m in c["mounts"]:
        if m["destination"] == "/workspace":
            m["source"] = ws
        elif m["destination"] == "/dev/.cr/status":
            m["source"] = os.path.join(st, "0")
        elif m["destination"] == "/dev/.cr/init":
            m["source"] = os.path.join(BUILD, "cr-init")
    c["linux"]["cgroupsPath"] = f"/code-runner-wtg/{name}"
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(c, f)
    return d


def timed(argv, **kw):
    t0 = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, **kw)
    return time.perf_counter() - t0


def detached(rt, b, cid):
    """run --detach, wait until the init is gone, delete: (run, wait, delete) seconds."""
    pidf = os.path.join(b, "init.pid")
    t0 = time.perf_counter()
    subprocess.run([rt, "run", "--detach", "--bundle", b, "--pid-file", pidf, cid],
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True)
    t1 = time.perf_counter()
    pid = int(open(pidf).read())
    while os.path.exists(f"/proc/{pid}") and open(f"/proc/{pid}/stat").read().split()[2] != "Z":
        time.sleep(0.0005)
    t2 = time.perf_counter()
    subprocess.run([rt, "delete", "--force", cid], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    t3 = time.perf_counter()
    return t1 - t0, t2 - t1, t3 - t2


def works(rt, tmp, template):
    """crun refuses hosts with hybrid cgroups (v1 controllers + cgroup2): try it once."""
    if not shutil.which(rt):
        return False
    b = bundle(tmp, template, ["/dev/.cr/init", "/bin/true"], f"try-{rt}")
    r = subprocess.run([rt, "run", "--bundle", b, f"wtg-try-{rt}"], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True)
    subprocess.run([rt, "delete", "--force", f"wtg-try-{rt}"], capture_output=True)
    if r.returncode != 0:
        print(f"({rt} skipped: {r.stderr.strip()[-120:]})", file=sys.stderr)
    return r.returncode == 0


def measure(template, reps):
    """{part: [seconds per rep]}, the parts interleaved rep by rep."""
    tmp = tempfile.mkdtemp(prefix="cr-wtg-")
    os.chmod(tmp, 0o755)
    req = os.path.join(tmp, "req.json")
    with open(req, "w") as f:
        json.dump({"language": "python", "code": "print(1)"}, f)
    env = dict(os.environ, LANGUAGES_FILE=os.path.join(ROOT, "images", "languages.json"),
               STATE_DIR=os.path.join(tmp, "state"), WORKER_ID="wtg", LOG_LEVEL="error")
    cli = os.path.join(BUILD, "tests", "tools", "sandbox_cli")
    # sandbox_cli finds cr-init beside itself
    shutil.copy(os.path.join(BUILD, "cr-init"), os.path.join(os.path.dirname(cli), "cr-init"))
    rts = ["runc"] + [r for r in ("crun",) if works(r, tmp, template)]
    nocg = json.loads(json.dumps(template))  # the same spec without cgroup limits
    nocg["linux"].pop("resources", None)
    nocg["linux"].pop("cgroupsPath", None)
    nocg["linux"]["namespaces"] = [n for n in nocg["linux"]["namespaces"] if n["type"] != "cgroup"]
    nocg["mounts"] = [m for m in nocg["mounts"] if m["destination"] != "/sys/fs/cgroup"]
    keys = ["bare python", "runc run (fg) true, no cgroups"]
    for rt in rts:
        keys += [f"{rt} --version", f"{rt} run (fg) true", f"{rt} run (fg) python",
                 f"{rt} detach: run --detach", f"{rt} detach: wait init",
                 f"{rt} detach: delete --force", f"{rt} detach: total"]
    keys += ["sandbox_cli python (runc)", "sandbox_cli python (builtin)"]
    rows = {k: [] for k in keys}
    try:
        for i in range(reps):
            rows["bare python"].append(timed(["/usr/bin/python3", "-c", "print(1)"]))
            bn = bundle(tmp, nocg, ["/dev/.cr/init", "/bin/true"], f"n{i}")
            rows["runc run (fg) true, no cgroups"].append(
                timed(["runc", "run", "--bundle", bn, f"wtg-n{i}"], stdin=subprocess.DEVNULL))
            for rt in rts:
                bt = bundle(tmp, template, ["/dev/.cr/init", "/bin/true"], f"{rt}t{i}")
                bp = bundle(tmp, template, ["/dev/.cr/init", "python3", "main.py"], f"{rt}p{i}")
                bd = bundle(tmp, template, ["/dev/.cr/init", "python3", "main.py"], f"{rt}d{i}")
                rows[f"{rt} --version"].append(timed([rt, "--version"]))
                rows[f"{rt} run (fg) true"].append(
                    timed([rt, "run", "--bundle", bt, f"wtg-{rt}t{i}"], stdin=subprocess.DEVNULL))
                rows[f"{rt} run (fg) python"].append(
                    timed([rt, "run", "--bundle", bp, f"wtg-{rt}p{i}"], stdin=subprocess.DEVNULL))
                r, w, d = detached(rt, bd, f"wtg-{rt}d{i}")
                rows[f"{rt} detach: run --detach"].append(r)
                rows[f"{rt} detach: wait init"].append(w)
                rows[f"{rt} detach: delete --force"].append(d)
                rows[f"{rt} detach: total"].append(r + w + d)
            for rt in ("runc", "builtin"):
                rows[f"sandbox_cli python ({rt})"].append(
                    timed([cli, req], env=dict(env, OCI_RUNTIME=rt)))
    finally:
        for i in range(reps):
            for rt in rts:
                for n in ("t", "p", "d"):
                    subprocess.run([rt, "delete", "--force", f"wtg-{rt}{n}{i}"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            subprocess.run(["runc", "delete", "--force", f"wtg-n{i}"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)
        for d in glob.glob("/sys/fs/cgroup/*/code-runner-wtg") + ["/sys/fs/cgroup/code-runner-wtg"]:
            try:
                os.rmdir(d)
            except OSError:
                pass
    return rows


def main():
    template = json.load(open(sys.argv[1]))
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    rows = measure(template, reps)
    base = statistics.median(rows["bare python"])
    print(f"{'part (median of ' + str(reps) + ')':<28} {'ms':>8} {'x bare python':>14}")
    for k, v in rows.items():
        m = statistics.median(v)
        print(f"{k:<28} {m * 1000:8.1f} {m / base:14.2f}")


if __name__ == "__main__":
    main()
