"""Shared helpers of the sandbox tests: paths, building the images, and Sandbox, one worker
identity with its own STATE_DIR that runs requests through tests/tools/sandbox_cli and checks
that nothing is left behind (containers, cgroups, mounts, files, processes).
Env: CR_BUILD_DIR, CR_SOURCE_DIR, optional IMAGES_DIR, OCI_RUNTIME, CR_SANDBOX_CLI."""

import json
import os
import pathlib
import subprocess
import time
import uuid

SOURCE_DIR = pathlib.Path(os.environ.get("CR_SOURCE_DIR", pathlib.Path(__file__).parents[2]))
BUILD_DIR = pathlib.Path(os.environ.get("CR_BUILD_DIR", SOURCE_DIR / "build"))
CLI = pathlib.Path(os.environ.get("CR_SANDBOX_CLI", BUILD_DIR / "tests" / "tools" / "sandbox_cli"))
IMAGES_DIR = pathlib.Path(os.environ.get("IMAGES_DIR", "/var/lib/code-runner/images"))
RUNTIME = os.environ.get("OCI_RUNTIME", "builtin")  # the worker's default
LANGUAGES_FILE = SOURCE_DIR / "images" / "languages.json"


def languages():
    """The entries of images/languages.json, by id."""
    with open(LANGUAGES_FILE) as f:
        return {lang["id"]: lang for lang in json.load(f)["languages"]}


def build_images(*images):
    """images/build.sh for the given images (all when none): incremental, fast when up to date,
    and it rebuilds an image whose recipe or languages.json entries changed."""
    env = dict(os.environ, IMAGES_DIR=str(IMAGES_DIR))
    argv = [str(SOURCE_DIR / "images" / "build.sh"), *images]
    # Once more on failure: removing an old image version can race with a job still using it.
    if subprocess.run(argv, env=env, timeout=3600, stdout=subprocess.DEVNULL).returncode != 0:
        subprocess.run(argv, env=env, check=True, timeout=3600, stdout=subprocess.DEVNULL)


def list_containers(runtime):
    """Every container id the runtime knows. "list" fails when a container it found is deleted
    meanwhile (other tests, other workers on this machine): tried again. The builtin runtime
    keeps no state: its containers are the cgroups it made, named after them."""
    if runtime == "builtin":
        return sorted({d.name for root in cgroup_roots() for d in (root / "code-runner").glob("cr-*")
                       if d.is_dir()})
    for _ in range(50):
        p = subprocess.run([runtime, "list", "--quiet"], capture_output=True, text=True)
        if p.returncode == 0:
            return p.stdout.split()
        time.sleep(0.05)
    raise AssertionError(f"{runtime} list keeps failing: {p.stderr}")


def cgroup_roots():
    roots = []
    with open("/proc/self/mounts") as f:
        for line in f:
            _, mnt, fstype = line.split()[:3]
            if fstype in ("cgroup", "cgroup2"):
                roots.append(pathlib.Path(mnt))
    return roots


class Sandbox:
    """One worker identity with its own STATE_DIR; runs requests and checks for leftovers."""

    def __init__(self, tmp_path, language="python", languages_file=LANGUAGES_FILE,
                 runtime=RUNTIME):
        self.runtime = runtime
        self.worker = "t" + uuid.uuid4().hex[:10]
        self.language = language
        self.state_dir = tmp_path / "state"
        tmp_path.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ, WORKER_ID=self.worker, STATE_DIR=str(self.state_dir),
                        IMAGES_DIR=str(IMAGES_DIR), OCI_RUNTIME=runtime,
                        LANGUAGES_FILE=str(languages_file), LOG_LEVEL="warn")

    def request(self, code, **fields):
        return json.dumps({"language": self.language, "code": code, **fields})

    def run(self, code, wait=120, **fields):
        """The result object of running code (a FAILURE fails the test)."""
        p = subprocess.run([str(CLI), "-"], input=self.request(code, **fields).encode(),
                           env=self.env, capture_output=True, timeout=wait)
        assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
        return json.loads(p.stdout)

    def spawn(self, code, **fields):
        p = subprocess.Popen([str(CLI), "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=self.env)
        p.stdin.write(self.request(code, **fields).encode())
        p.stdin.close()
        return p

    def containers(self):
        return [c for c in list_containers(self.runtime) if c.startswith(f"cr-{self.worker}-")]

    def cgroups(self):
        return [d for root in cgroup_roots() for d in (root / "code-runner").glob(
            f"cr-{self.worker}-*")]

    def processes(self):
        """Live processes of our containers. Zombies are dead already: when a worker is killed,
        its containers' inits are reparented to the host's init, which reaps them lazily."""
        found = []
        for proc in pathlib.Path("/proc").glob("[0-9]*"):
            try:
                zombie = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
                if f"cr-{self.worker}-" in (proc / "cgroup").read_text() and not zombie:
                    found.append(proc.name)
            except (OSError, IndexError):
                pass
        return found

    def mounts(self):
        with open("/proc/self/mountinfo") as f:
            return [line.split()[4] for line in f if str(self.state_dir) in line.split()[4]]

    def leftovers(self):
        mine = self.state_dir / self.worker
        files = [str(p) for p in mine.rglob("*")] if mine.exists() else []
        return {"containers": self.containers(), "cgroups": self.cgroups(),
                "mounts": self.mounts(), "files": files, "processes": self.processes()}

    def assert_clean(self):
        empty = {"containers": [], "cgroups": [], "mounts": [], "files": [], "processes": []}
        assert self.leftovers() == empty
