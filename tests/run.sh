#!/usr/bin/env bash
# Runs the whole test suite as CI does: installs what it needs, checks the C sources are formatted
# (clang-format), builds, makes the sandbox images,
# then runs every test (ctest, a job per core) in a normal build, the api tests again under
# valgrind, the sandbox and the worker in a pure cgroup v2 VM, the tests of our C code's logic
# again under ASan+UBSan (see below), and each fuzz target for a bounded time.
#   tests/run.sh            everything
#   tests/run.sh -R regex   only the ctest tests matching regex (both builds)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export IMAGES_DIR="${IMAGES_DIR:-/var/lib/code-runner/images}"

"$ROOT/deploy/install-deps.sh"

echo "== clang-format: every C source as .clang-format lays it out"
git -C "$ROOT" ls-files '*.c' '*.h' | (cd "$ROOT" && xargs clang-format --dry-run -Werror)

"$ROOT/images/build.sh"

run_suite() { # build dir, ctest exclude regex, extra cmake args...
  local dir="$1" exclude="$2"; shift 2
  echo "== build $dir $*"
  cmake -S "$ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=Debug "$@" >/dev/null
  cmake --build "$dir" -j"$(nproc)" >"$dir.build.log" 2>&1 || { tail -40 "$dir.build.log"; return 1; }
  echo "== test $dir"
  # a job per core: tests/CMakeLists.txt makes the tests that measure time or CPU run alone
  (cd "$dir" && ctest --output-on-failure --timeout 900 -j"$(nproc)" ${exclude:+-E "$exclude"} \
    "${CTEST_ARGS[@]}")
}

CTEST_ARGS=("$@")
run_suite "$ROOT/build-test" ""
if [ ${#CTEST_ARGS[@]} -eq 0 ]; then
  echo "== valgrind: the api integration tests with every api under valgrind (leaks are errors)"
  (cd "$ROOT/build-test" && CR_API_VALGRIND=1 ctest --output-on-failure --timeout 900 -R 'integration/test_api$')
  echo "== cgroup v2: the sandbox and the worker in a pure cgroup v2 VM (this host is hybrid)"
  CG2_BUILD_DIR="$ROOT/build-cg2" "$ROOT/tests/cgroup2/run-vm.sh"
fi
# The ASan pass repeats the tests of our own C code's logic. Once is enough for the rest, to keep
# the suite within its time: the compose test builds its own images from the sources (no
# sanitizers there); valgrind cannot run a sanitized binary; the multi-host chaos test (minutes)
# has its code paths under ASan in test_sentinel, test_delivery and test_chaos (a shorter run
# there); the language corpus's time is the compilers' (the job runner's paths are the same for
# every language and run under ASan in test_worker and test_sandbox); the hostile corpus runs
# again on the backends whose sandboxing is our code (builtin runtime, docker backend), not on
# runc and runsc; test_sandbox on builtin and runc; the sessions' hostile corpus, the docker
# executor's matrix and the EC2 fleet against moto have their C paths under ASan in
# test_sessions, test_hostile and test_remote*; the Kubernetes and systemd checks run no C.
CHAOS_SECONDS="${CHAOS_SECONDS:-60}" CR_HOSTILE_BACKENDS="oci-builtin,docker-runc" \
OCI_RUNTIMES="builtin,runc" \
ASAN_OPTIONS="detect_leaks=1:abort_on_error=0" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
  run_suite "$ROOT/build-asan" \
  "integration/test_(compose|docker|fleet_chaos|k8s|languages|remote_ec2|session_hostile|systemd)$|integration/test_(worker|redis_tls)_valgrind" \
  -DCR_SANITIZE=ON

echo "== fuzz (bounded)"
FUZZ_SECONDS="${FUZZ_SECONDS:-20}" "$ROOT/tests/fuzz/run.sh"
