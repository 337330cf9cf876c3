"""What the sandbox and deployment tests share, written once: the paths (source and build trees,
sandbox_cli, the image store, the Docker engine script and CLI), building and importing the
images, a Docker engine for a test session, the leftover checks (containers, cgroups, mounts,
files, processes; Docker containers and volumes by their worker label), and the Sandbox helpers:
one worker identity that runs requests through tests/tools/sandbox_cli and checks that nothing
is left behind. Standard library only: the cgroup v2 guest (tests/cgroup2/guest_checks.py)
imports it too, without pytest.
Env: CR_BUILD_DIR, CR_SOURCE_DIR, optional IMAGES_DIR, OCI_RUNTIME, CR_SANDBOX_CLI."""

import contextlib
import json
import os
import pathlib
import random
import subprocess
import time
import uuid

SOURCE_DIR = pathlib.Path(os.environ.get("CR_SOURCE_DIR",
                                         pathlib.Path(__file__).resolve().parent.parent.parent))
BUILD_DIR = pathlib.Path(os.environ.get("CR_BUILD_DIR", SOURCE_DIR / "build"))
CLI = pathlib.Path(os.environ.get("CR_SANDBOX_CLI", BUILD_DIR / "tests" / "tools" / "sandbox_cli"))
IMAGES_DIR = pathlib.Path(os.environ.get("IMAGES_DIR", "/var/lib/code-runner/images"))
RUNTIME = os.environ.get("OCI_RUNTIME", "builtin")  # the worker's default
LANGUAGES_FILE = SOURCE_DIR / "images" / "languages.json"
ENGINE = SOURCE_DIR / "tests" / "docker-engine.sh"
DOCKER = "/usr/bin/docker"  # Debian's CLI, installed with the engine


# What a sanitizer or valgrind prints when it found something: any of these in one of our
# programs' logs (or sandbox_cli's stderr) fails the test that started it.
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "ERROR: UndefinedBehaviorSanitizer", "WARNING: MemorySanitizer")


# ---- images ----

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


def ensure_image(image):
    """The image built when it is missing (left as it is otherwise)."""
    if not (IMAGES_DIR / image / "rootfs").is_dir():
        subprocess.run([str(SOURCE_DIR / "images" / "build.sh"), image], check=True, timeout=1800,
                       env=dict(os.environ, IMAGES_DIR=str(IMAGES_DIR)))


# ---- Docker ----

def docker(*args, check=True, timeout=120):
    """The Docker CLI's answer (text); a failure fails the test with what the CLI said."""
    p = subprocess.run([DOCKER, *args], capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} exited {p.returncode}:\n"
                             f"{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


@contextlib.contextmanager
def docker_engine():
    """A Docker engine answering for the time of the block: tests/docker-engine.sh starts one
    when none answers, and stops it again at the end in that case only."""
    was_up = subprocess.run([str(ENGINE), "status"], capture_output=True).returncode == 0
    subprocess.run([str(ENGINE), "start"], check=True, timeout=900)
    try:
        yield
    finally:
        if not was_up:
            subprocess.run([str(ENGINE), "stop"], check=True, timeout=60)


def import_images(*images):
    """The images (built in IMAGES_DIR) imported into the engine as code-runner/<image>:latest."""
    subprocess.run([str(SOURCE_DIR / "images" / "docker-import.sh"), *images], check=True,
                   timeout=1800, env=dict(os.environ, IMAGES_DIR=str(IMAGES_DIR), DOCKER=DOCKER))


def docker_objects(prefix):
    """Sandbox containers and volumes whose code-runner.worker label starts with prefix, one
    "<label> <container id or volume name>" line each."""
    fmt = '{{.Label "code-runner.worker"}} '
    cs = docker("ps", "-a", "--filter", "label=code-runner.service=worker", "--format",
                fmt + "{{.ID}}").stdout.splitlines()
    vs = docker("volume", "ls", "--filter", "label=code-runner.service=worker", "--format",
                fmt + "{{.Name}}").stdout.splitlines()
    return [line for line in cs + vs if line.startswith(prefix)]


# ---- what a finished sandbox may not leave ----

def cgroup_roots():
    """Every cgroup hierarchy mounted here (v1 ones and cgroup2)."""
    roots = []
    with open("/proc/self/mounts") as f:
        for line in f:
            _, mnt, fstype = line.split()[:3]
            if fstype in ("cgroup", "cgroup2"):
                roots.append(pathlib.Path(mnt))
    return roots


def container_cgroups(prefix="cr-"):
    """The containers' cgroups (<hierarchy>/code-runner/<name>) whose name starts with prefix."""
    return [d for root in cgroup_roots() for d in (root / "code-runner").glob(f"{prefix}*")
            if d.is_dir()]


def list_containers(runtime):
    """Every container id the runtime knows. "list" fails when a container it found is deleted
    meanwhile (other tests, other workers on this machine): tried again. The builtin runtime
    keeps no state: its containers are the cgroups it made, named after them."""
    if runtime == "builtin":
        return sorted({d.name for d in container_cgroups()})
    for _ in range(50):
        p = subprocess.run([runtime, "list", "--quiet"], capture_output=True, text=True)
        if p.returncode == 0:
            return p.stdout.split()
        time.sleep(0.05)
    raise AssertionError(f"{runtime} list keeps failing: {p.stderr}")


def processes_in_cgroups(fragment):
    """Live processes whose cgroup path holds fragment. Zombies are dead already: when a worker
    is killed, its containers' inits are reparented to the host's init, which reaps them
    lazily."""
    found = []
    for proc in pathlib.Path("/proc").glob("[0-9]*"):
        try:
            zombie = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
            if fragment in (proc / "cgroup").read_text() and not zombie:
                found.append(proc.name)
        except (OSError, IndexError):
            pass
    return found


def mounts_under(path):
    """Mount points at or below path."""
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(str(path))]


def files_under(path):
    """Every file and directory below path (none when it does not exist)."""
    return [os.path.join(d, n) for d, dirs, files in os.walk(path) for n in dirs + files]


def worker_leftovers(ids, state_dirs):
    """What the sandboxes of these worker ids left: runc containers, cgroups, mounts under their
    STATE_DIRs and job directories (STATE_DIR/<process>/<job>)."""
    prefixes = tuple(f"cr-{i}{sep}" for i in ids for sep in "-_")
    found = [f"runc container {n}" for n in list_containers("runc") if n.startswith(prefixes)]
    found += [f"cgroup {d}" for d in container_cgroups() if d.name.startswith(prefixes)]
    for d in state_dirs:
        found += [f"mount {m}" for m in mounts_under(d) if m == d or m.startswith(d + "/")]
        if os.path.isdir(d):
            for slot in os.listdir(d):
                p = os.path.join(d, slot)
                if os.path.isdir(p):
                    found += [f"job dir {p}/{j}" for j in os.listdir(p)]
    return found
def uid_base():
    """A SANDBOX_UID_BASE of its own for one worker or sandbox_cli identity (slots 0-15 above
    it), so that tests running side by side on this machine never share a sandbox user (and with
    it the per-user kernel budgets the tests exhaust on purpose)."""
    return 200000 + 16 * random.randrange(1 << 20)


# ---- sandbox_cli ----

class CliSandbox:
    """One worker identity whose requests sandbox_cli runs; env: its environment."""

    wait = 120  # seconds a request may take

    def __init__(self, language="python", **env):
        self.worker = "t" + uuid.uuid4().hex[:10]
        self.language = language
        self.uid = uid_base()  # the sandbox user of slot 0, which sandbox_cli runs as
        self.env = dict(os.environ, WORKER_ID=self.worker, IMAGES_DIR=str(IMAGES_DIR),
                        LANGUAGES_FILE=str(LANGUAGES_FILE), LOG_LEVEL="warn",
                        SANDBOX_UID_BASE=str(self.uid))
        self.env.update(env)

    def request(self, code, **fields):
        return json.dumps({"language": self.language, "code": code, **fields})

    def call(self, request, wait=None, args=("-",), **env):
        """sandbox_cli ARGS with request (a dict, or JSON text) on stdin; env overrides. A
        sanitizer report on its stderr fails the test, whatever it exited with."""
        text = request if isinstance(request, str) else json.dumps(request)
        p = subprocess.run([str(CLI), *args], input=text.encode(), env=dict(self.env, **env),
                           capture_output=True, timeout=wait or self.wait)
        err = p.stderr.decode(errors="replace")
        marks = [m for m in SANITIZER_MARKS if m in err]
        assert not marks, f"sandbox_cli reported {marks}:\n{err[-3000:]}"
        return p

    def run(self, code, wait=None, env=None, **fields):
        """The result object of running code (a FAILURE fails the test)."""
        p = self.call(self.request(code, **fields), wait, **(env or {}))
        assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
        return json.loads(p.stdout)

    def spawn(self, code, **fields):
        p = subprocess.Popen([str(CLI), "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=self.env)
        p.stdin.write(self.request(code, **fields).encode())
        p.stdin.close()
        return p

    def cleanup_stale(self, worker=None):
        """sandbox_cli --cleanup-stale for this worker id (or another)."""
        return subprocess.run([str(CLI), "--cleanup-stale", worker or self.worker], env=self.env,
                              capture_output=True, timeout=60)


class Sandbox(CliSandbox):
    """The oci executor, with a STATE_DIR of its own under tmp_path."""

    def __init__(self, tmp_path, language="python", languages_file=LANGUAGES_FILE,
                 runtime=RUNTIME):
        self.runtime = runtime
        self.state_dir = tmp_path / "state"
        tmp_path.mkdir(parents=True, exist_ok=True)
        super().__init__(language, STATE_DIR=str(self.state_dir), OCI_RUNTIME=runtime,
                         LANGUAGES_FILE=str(languages_file))

    def containers(self):
        return [c for c in list_containers(self.runtime) if c.startswith(f"cr-{self.worker}-")]

    def cgroups(self):
        return container_cgroups(f"cr-{self.worker}-")

    def processes(self):
        return processes_in_cgroups(f"cr-{self.worker}-")

    def mounts(self):
        return mounts_under(self.state_dir)

    def leftovers(self):
        return {"containers": self.containers(), "cgroups": self.cgroups(),
                "mounts": self.mounts(), "files": files_under(self.state_dir / self.worker),
                "processes": self.processes()}

    def assert_clean(self):
        empty = {"containers": [], "cgroups": [], "mounts": [], "files": [], "processes": []}
        assert self.leftovers() == empty


class DockerSandbox(CliSandbox):
    """The docker executor (runtime runc unless env says otherwise)."""

    wait = 90

    def __init__(self, **env):
        super().__init__(**{"EXECUTOR": "docker", "DOCKER_RUNTIME": "runc", **env})

    def leftovers(self, worker=None):
        worker = worker or self.worker
        label = f"label=code-runner.worker={worker}"
        containers = docker("ps", "-aq", "--filter", label).stdout.split()
        volumes = docker("volume", "ls", "-q", "--filter", label).stdout.split()
        cgroups = [str(p) for p in pathlib.Path("/sys/fs/cgroup").glob(
            f"*/code-runner-docker/{worker}.*") if p.is_dir()]
        return {"containers": containers, "volumes": volumes, "cgroups": cgroups}

    def assert_clean(self):
        assert self.leftovers() == {"containers": [], "volumes": [], "cgroups": []}
