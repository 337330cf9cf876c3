"""pytest fixtures: a fresh temporary directory and redis-server per test, and the api/worker
started on demand. Everything started is stopped by its pid when the test ends, and the test
fails when one of our programs exited with an unexpected status, logged a sanitizer report or
(worker) lost a worker process the test did not kill (harness.check_clean)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402


@pytest.fixture
def workdir():
    d = harness.make_workdir()
    yield d
    harness.remove_workdir(d)


@pytest.fixture
def redis(workdir):
    r = harness.Redis(workdir)
    yield r
    r.stop()


@pytest.fixture
def start_api(workdir, redis):
    started = []

    def start(**env):
        a = harness.Api(workdir, redis, **env)
        started.append(a)
        return a

    yield start
    for a in started:
        a.stop()
    harness.check_clean(*started)


@pytest.fixture
def api(start_api):
    return start_api()


@pytest.fixture
def start_worker(workdir, redis):
    started = []

    def start(**env):
        w = harness.Worker(workdir, redis, **env)
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()
    harness.check_clean(*started)
