"""The hostile-program corpus (tests/hostile/cases.json) run inside sessions (the builtin runtime;
the docker backend too when BACKENDS names it: the engine of tests/docker-engine.sh, stopped again
at the end when this module started it): each case in a fresh session must end with the verdict and output the corpus expects of a job,
the host unharmed (planted host files intact, no stray process, no connection received), the
session's sandbox still serving its next run (even after kill -9 -1 from inside), and nothing
left once the session is deleted. A case that leaves state for the next job ('then') is
followed in another session, which must find nothing of it; 'twice' runs in two sessions at
once."""
import contextlib
import types

import pytest

import harness
from session_support import PREFIX, Client, assert_no_host_leftovers
from support import docker_engine, docker_objects, import_images
from test_hostile import BY_FILE, CASES, HOSTILE, Host, check, corpus_images

# The docker backend's session runs are its job steps with the session's workspace bound in:
# test_hostile runs the corpus on those steps and test_session_docker checks what a session adds
# (the bind, the stdin file, the cleanup); running the corpus here again for docker (107 s) would
# put the suite over its time. To run it anyway, add
#   pytest.param({"EXECUTOR": "docker", "DOCKER_RUNTIME": "runc"}, id="docker-runc")
BACKENDS = [
    pytest.param({"EXECUTOR": "oci", "OCI_RUNTIME": "builtin"}, id="oci-builtin"),
]


@pytest.fixture(scope="module", params=BACKENDS)
def stack(request):
    backend = request.param
    with contextlib.ExitStack() as engine:
        if backend["EXECUTOR"] == "docker":
            engine.enter_context(docker_engine())  # stopped at the end if started here
            import_images(*corpus_images())
        workdir = harness.make_workdir()
        host = Host(workdir)
        redis = harness.Redis(workdir)
        api = harness.Api(workdir, redis)
        worker = harness.Worker(workdir, redis, WORKER_CONCURRENCY=2, HEARTBEAT_INTERVAL=1,
                                OUTPUT_LIMIT_BYTES=65536, WORKSPACE_MB=16,
                                MAX_SESSIONS_PER_WORKER=4, CR_TEST_SECRET=host.secret, **backend)
        harness.wait_until(lambda: len(redis.cmd("ZRANGE", f"{PREFIX}session_free", 0, -1)) == 2,
                           timeout=20, what="the worker processes to offer their places")
        s = types.SimpleNamespace(host=host, api=api, worker=worker, redis=redis,
                                  client=Client(api), docker=backend["EXECUTOR"] == "docker")
        yield s
        assert worker.stop() == 0
        api.stop()
        redis.stop()
        host.close()
        harness.check_clean(api, worker)
        if s.docker:  # no container or volume of the worker's
            assert not docker_objects(f"{worker.id}-")
    harness.remove_workdir(workdir)


def session_for(stack, case):
    fields = {"memory_mb": case["memory_mb"]} if "memory_mb" in case else {}
    return stack.client.create(case["language"], **fields)


def run_case(stack, sid, case):
    """The case's program run in the session: its task's result, as GET /results gives it."""
    fields = {"timeout": case["timeout"]} if "timeout" in case else {}
    task = stack.client.run_async(sid, stack.host.fill((HOSTILE / case["file"]).read_text()),
                                  **fields)
    return stack.api.wait_result(task, timeout=120)


def finish(stack, sid, case):
    """The session still runs code (unless the case filled its workspace), the host is
    unharmed, and deleting the session leaves nothing."""
    if case["file"] != "disk_fill_workspace.py":
        r = stack.client.run(sid, "print('still here')") if case["language"] == "python" else None
        if r:
            assert r["status"] == "completed" and r["stdout"] == "still here\n", r
        assert stack.client.get(sid)["status"] == "ready"
    stack.host.assert_unharmed()
    harness.wait_until(lambda: not stack.host.marker_processes(), timeout=5,
                       what="no process of the run left on the host")
    stack.client.delete(sid)
    stack.client.wait_status(sid, {"stopped"})
    assert_no_host_leftovers(stack.worker, sid)
    if stack.docker:
        assert not docker_objects(f"{stack.worker.id}-")


RUN_ALONE = [c for c in CASES if not c.get("after_only")]


@pytest.mark.parametrize("case", RUN_ALONE, ids=[c["file"] for c in RUN_ALONE])
def test_hostile_in_a_session(stack, case):
    if case.get("twice"):
        sids = [session_for(stack, case) for _ in range(2)]
        tasks = [stack.client.run_async(sid, stack.host.fill((HOSTILE / case["file"])
                                                             .read_text())) for sid in sids]
        for t in tasks:
            check(case, stack.api.wait_result(t, timeout=120), stack)
        for sid in sids:
            finish(stack, sid, case)
        return
    sid = session_for(stack, case)
    check(case, run_case(stack, sid, case), stack)
    if case.get("then"):
        nxt = BY_FILE[case["then"]]
        other = session_for(stack, nxt)
        check(nxt, run_case(stack, other, nxt), stack)
        finish(stack, other, nxt)
    finish(stack, sid, case)
