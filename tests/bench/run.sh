#!/usr/bin/env bash
# Benchmarks (never part of the pass/fail suite): builds a Release tree in build-bench, starts its
# own redis-server, api and worker on free loopback ports, prints a table of ratios against
# references measured in the same run and writes tests/bench/out/bench.json. See README.md here.
#   tests/bench/run.sh [--quick] [--sections latency,profile,throughput,throughput-executors,
#                                 api,replication,seed,scale,sessions,remote]
#                      [--executors oci/builtin,oci/runc,oci/runsc,docker,docker/runsc]
# The primary executor (throughput, seed, scale, the targets) is oci/builtin, the worker's default
# runtime; --executors picks what the latency table (and throughput-executors) compares with it.
# Needs root (namespaces, cgroups, mounts; runc/runsc for those executors), redis-server,
# redis-benchmark, wrk, gcc, python3; the docker and seed
# sections need a running dockerd (tests/docker-engine.sh start) and the images imported into it
# (images/docker-import.sh python gcc).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${CR_BENCH_BUILD:-$ROOT/build-bench}"
export CR_BENCH_BUILD="$BUILD"

for tool in redis-server redis-benchmark wrk gcc python3 cmake; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing" >&2; exit 1; }
done

echo "bench: building Release in $BUILD" >&2
{ cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null &&
    cmake --build "$BUILD" -j"$(nproc)" --target api worker cr-init sandbox_cli >/dev/null; } ||
    { echo "bench: build failed" >&2; exit 1; }

# 10 000 long-polls need more descriptors than the usual 1024 (api and client inherit this).
ulimit -Hn 65536 2>/dev/null || true
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 20000 2>/dev/null || true

WORK="$(mktemp -d /tmp/cr-bench-XXXXXX)"
DRIVER_PID=""
cleanup() {
    trap - INT TERM EXIT
    [ -n "$DRIVER_PID" ] && kill -TERM "$DRIVER_PID" 2>/dev/null && wait "$DRIVER_PID" 2>/dev/null
    # Backstop: whatever the driver recorded and did not stop (each started in its own session).
    if [ -f "$WORK/pids" ]; then
        while read -r pid; do
            kill -0 "$pid" 2>/dev/null || continue
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null
        done < <(tac "$WORK/pids")
    fi
    [ -x "$WORK/seedstack/run.sh" ] && "$WORK/seedstack/run.sh" stop >/dev/null 2>&1 || true
    if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench: logs kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

python3 "$ROOT/tests/bench/bench.py" --workdir "$WORK" "$@" &
DRIVER_PID=$!
rc=0
wait "$DRIVER_PID" || rc=$?
DRIVER_PID=""
exit "$rc"
