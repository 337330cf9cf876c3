"""The npm packages some tests validate against (tests/npm/package.json: the official OpenAPI 3.1
schema, the Kubernetes and KEDA object models), installed with `npm ci` from the committed lock
file into a cache keyed by that file's hash, so a run installs them once and later runs reuse
them. A missing node or npm, or a failed install, fails the test that needs them."""
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile

import harness

NPM_DIR = os.path.join(harness.SOURCE_DIR, "tests", "npm")
CACHE_ROOT = os.environ.get("CR_NPM_CACHE", "/var/cache/code-runner/npm")


def _tool(name):
    path = shutil.which(name)
    assert path, f"{name} is not installed (deploy/install-deps.sh installs nodejs and npm)"
    return path


def node():
    return _tool("node")


def node_modules():
    """The node_modules directory of tests/npm's locked packages, installed when missing."""
    with open(os.path.join(NPM_DIR, "package-lock.json"), "rb") as f:
        lock = f.read()
    with open(os.path.join(NPM_DIR, "package.json"), "rb") as f:
        key = hashlib.sha256(lock + f.read()).hexdigest()[:16]
    dest = os.path.join(CACHE_ROOT, key)
    done = os.path.join(dest, "node_modules")
    if os.path.isdir(done):
        return done
    os.makedirs(CACHE_ROOT, exist_ok=True)
    with open(os.path.join(CACHE_ROOT, ".lock"), "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)  # another test run may be installing the same set
        if os.path.isdir(done):
            return done
        npm = _tool("npm")
        tmp = tempfile.mkdtemp(prefix=f"{key}.", dir=CACHE_ROOT)
        try:
            for name in ("package.json", "package-lock.json"):
                shutil.copy(os.path.join(NPM_DIR, name), tmp)
            r = subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund",
                                "--loglevel=error"], cwd=tmp, capture_output=True, text=True,
                               timeout=300)
            assert r.returncode == 0, f"npm ci in {tmp} failed:\n{r.stdout}\n{r.stderr}"
            os.rename(tmp, dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return done


def run_node(script, *args, input=None, timeout=120):
    """Run a tests/npm script with the cached packages; returns the CompletedProcess."""
    env = dict(os.environ, NODE_PATH=node_modules())
    return subprocess.run([node(), os.path.join(NPM_DIR, script), *args], input=input, env=env,
                          capture_output=True, text=True, timeout=timeout)
