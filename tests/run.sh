#!/usr/bin/env bash
# Runs the whole test suite as CI does: installs what it needs, checks the C sources are formatted
# (clang-format), builds, makes the sandbox images,
# then runs every test (ctest) in a normal build, the api tests again under valgrind, the sandbox
# and the worker in a pure cgroup v2 VM, everything again under ASan+UBSan, and each fuzz target
# for a bounded time.
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
  (cd "$dir" && ctest --output-on-failure --timeout 900 ${exclude:+-E "$exclude"} "${CTEST_ARGS[@]}")
}

CTEST_ARGS=("$@")
run_suite "$ROOT/build-test" ""
if [ ${#CTEST_ARGS[@]} -eq 0 ]; then
  echo "== valgrind: the api integration tests with every api under valgrind (leaks are errors)"
  (cd "$ROOT/build-test" && CR_API_VALGRIND=1 ctest --output-on-failure --timeout 900 -R 'integration/test_api$')
  echo "== cgroup v2: the sandbox and the worker in a pure cgroup v2 VM (this host is hybrid)"
  CG2_BUILD_DIR="$ROOT/build-cg2" "$ROOT/tests/cgroup2/run-vm.sh"
fi
# The compose test builds its own images from the sources (no sanitizers there): once is enough;
# valgrind cannot run a sanitized binary; the multi-host chaos test (minutes) runs once, its code
# paths are under ASan in test_sentinel, test_delivery and test_chaos (a shorter run there).
# Also once, to keep the suite within its time: the language corpus (its time is the compilers';
# the job runner's paths are the same for every language and run under ASan in test_worker and
# test_sandbox), the hostile corpus in sessions (the session paths are under ASan in
# test_sessions, the corpus in test_hostile) and the EC2 fleet against moto (its C paths are
# under ASan in test_remote and test_remote_failover).
CHAOS_SECONDS="${CHAOS_SECONDS:-60}" \
ASAN_OPTIONS="detect_leaks=1:abort_on_error=0" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
  run_suite "$ROOT/build-asan" \
  "integration/test_(compose|fleet_chaos|languages|session_hostile|remote_ec2)$|integration/test_(worker|redis_tls)_valgrind" \
  -DCR_SANITIZE=ON

echo "== fuzz (bounded)"
FUZZ_SECONDS="${FUZZ_SECONDS:-30}" "$ROOT/tests/fuzz/run.sh"
