#!/usr/bin/python3
"""Per-language hello-world latency: through tests/tools/sandbox_cli and the oci executor (compile
included where the language has one) against the same compile + run argv run bare on the host,
chrooted into the same image (its rootfs bind-mounted, /proc and a fresh /tmp mounted), measured
interleaved in one run. Prints a table and writes tests/bench/out/languages.json.
Not part of the test suite. Needs root (and runc or runsc when --runtime names them).
  /usr/bin/python3 tests/bench/languages.py [-n RUNS] [--runtime RT] [LANGUAGE...]
--runtime: the OCI_RUNTIME sandbox_cli runs with (default $OCI_RUNTIME, else builtin, the
worker's default: it clones the container itself; runc, crun, runsc or a path also work).
Env: CR_BUILD_DIR (default build/), IMAGES_DIR.
The script re-executes itself in a private mount namespace (unshare -m): every mount it makes
for the bare runs disappears with it."""
import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("CR_BUILD_DIR", ROOT / "build"))
CLI = BUILD / "tests" / "tools" / "sandbox_cli"
IMAGES_DIR = pathlib.Path(os.environ.get("IMAGES_DIR", "/var/lib/code-runner/images"))
RUNTIME = os.environ.get("OCI_RUNTIME", "builtin")  # --runtime overrides
LANGUAGES_FILE = ROOT / "images" / "languages.json"
OUT = ROOT / "tests" / "bench" / "out" / "languages.json"
DEFAULT_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "HOME": "/tmp", "LANG": "C.UTF-8"}
UID = 65534  # the sandbox user

HELLO = {
    "python": 'print("hello, world")',
    "python-ml": 'print("hello, world")',
    "javascript": 'console.log("hello, world")',
    "java": 'public class Main { public static void main(String[] a) {'
            ' System.out.println("hello, world"); } }',
    "c": '#include <stdio.h>\nint main(void) { puts("hello, world"); return 0; }\n',
    "cpp": '#include <iostream>\nint main() { std::cout << "hello, world\\n"; }\n',
    "rust": 'fn main() { println!("hello, world"); }\n',
    "go": 'package main\nimport "fmt"\nfunc main() { fmt.Println("hello, world") }\n',
}


def set_runtime(rt):
    global RUNTIME
    RUNTIME = rt


def sandbox_run(lang, state_dir):
    """Seconds for one sandbox_cli run of lang's hello world (checked)."""
    env = dict(os.environ, WORKER_ID="benchlang", STATE_DIR=str(state_dir),
               IMAGES_DIR=str(IMAGES_DIR), OCI_RUNTIME=RUNTIME,
               LANGUAGES_FILE=str(LANGUAGES_FILE), LOG_LEVEL="warn")
    req = json.dumps({"language": lang, "code": HELLO[lang]}).encode()
    t0 = time.perf_counter()
    p = subprocess.run([str(CLI), "-"], input=req, env=env, capture_output=True, timeout=120)
    elapsed = time.perf_counter() - t0
    res = json.loads(p.stdout or b"{}")
    if res.get("output") != "hello, world\n":
        sys.exit(f"bench: sandbox run of {lang} failed: {p.stdout!r} {p.stderr!r}")
    return elapsed


class Chroot:
    """An image's rootfs bound at a private path with /proc and an empty tmpfs /tmp: the bare
    reference. Lives in this process's private mount namespace."""

    def __init__(self, image, base):
        self.root = base / image
        self.root.mkdir()
        rootfs = (IMAGES_DIR / image / "rootfs").resolve()
        subprocess.run(["mount", "--bind", str(rootfs), str(self.root)], check=True)
        subprocess.run(["mount", "-t", "proc", "proc", str(self.root / "proc")], check=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=1777", "tmpfs",
                        str(self.root / "tmp")], check=True)

    def fresh_tmp(self):
        """Empty /tmp (no compiler cache survives a run, as in the sandbox)."""
        tmp = self.root / "tmp"
        for child in tmp.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()

    def run(self, lang, entry):
        """Seconds for compile + run of lang's hello world in a fresh /tmp/w (checked)."""
        self.fresh_tmp()
        work = self.root / "tmp" / "w"
        work.mkdir()
        (work / entry["source_file"]).write_text(HELLO[lang])
        os.chown(work, UID, UID)
        os.chown(work / entry["source_file"], UID, UID)
        env = dict(DEFAULT_ENV, **entry.get("env", {}))
        root = str(self.root)

        def enter():
            os.chroot(root)
            os.chdir("/tmp/w")
            os.setgroups([])
            os.setgid(UID)
            os.setuid(UID)

        out = b""
        t0 = time.perf_counter()
        for argv in ([entry["compile"]] if entry["compile"] else []) + [entry["run"]]:
            argv = [a for a in argv if a != "{options}"]  # the request options' slot
            p = subprocess.run(argv, env=env, preexec_fn=enter, capture_output=True,
                               timeout=120)
            if p.returncode != 0:
                sys.exit(f"bench: bare {lang} {argv[0]} failed: {p.stderr[-2000:]!r}")
            out = p.stdout
        elapsed = time.perf_counter() - t0
        if out != b"hello, world\n":
            sys.exit(f"bench: bare run of {lang} printed {out!r}")
        return elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--runs", type=int, default=5)
    ap.add_argument("--runtime", default=RUNTIME,
                    help="OCI_RUNTIME for sandbox_cli: builtin (default), runc, crun, runsc, ...")
    ap.add_argument("languages", nargs="*")
    args = ap.parse_args()
    set_runtime(args.runtime)
    if os.geteuid() != 0:
        sys.exit("bench: needs root (sandbox, mounts, chroot)")
    if os.environ.get("CR_BENCH_UNSHARED") != "1":
        env = dict(os.environ, CR_BENCH_UNSHARED="1")
        os.execvpe("unshare", ["unshare", "--mount", "--propagation", "private",
                               sys.executable, *sys.argv], env)
    if not CLI.exists():
        subprocess.run(["cmake", "--build", str(BUILD), "--target", "sandbox_cli"], check=True,
                       stdout=subprocess.DEVNULL)
    table = {e["id"]: e for e in json.loads(LANGUAGES_FILE.read_text())["languages"]}
    langs = args.languages or list(HELLO)
    results = []
    with tempfile.TemporaryDirectory(prefix="cr-bench-lang-") as tmp:
        base = pathlib.Path(tmp)
        state = base / "state"
        chroots = {}
        for lang in langs:
            entry = table[lang]
            image = entry["image"]
            if image not in chroots:
                chroots[image] = Chroot(image, base)
            sandbox_run(lang, state)  # warm-up: page cache, both paths
            chroots[image].run(lang, entry)
            sb, bare = [], []
            for _ in range(args.runs):  # interleaved, so that both see the same machine
                sb.append(sandbox_run(lang, state))
                bare.append(chroots[image].run(lang, entry))
            row = {"language": lang, "compiled": bool(entry["compile"]), "runs": args.runs,
                   "sandbox_ms": round(statistics.median(sb) * 1000, 1),
                   "bare_ms": round(statistics.median(bare) * 1000, 1)}
            row["ratio"] = round(row["sandbox_ms"] / row["bare_ms"], 2)
            results.append(row)
            print(f"bench: {lang} done", file=sys.stderr)
        for c in chroots.values():  # the namespace would drop them too; be tidy
            subprocess.run(["umount", "-R", str(c.root)], check=False)
    print(f"sandbox: sandbox_cli, OCI_RUNTIME={RUNTIME}; bare: the same argv chrooted into the "
          "image")
    print(f"{'language':<12} {'compile':>7} {'sandbox ms':>11} {'bare ms':>9} {'ratio':>6}")
    for r in results:
        print(f"{r['language']:<12} {'yes' if r['compiled'] else 'no':>7} "
              f"{r['sandbox_ms']:>11.1f} {r['bare_ms']:>9.1f} {r['ratio']:>6.2f}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    doc = {"runtime": RUNTIME, "runs": args.runs, "statistic": "median wall time",
           "nproc": os.cpu_count(), "results": results}
    OUT.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"bench: wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
