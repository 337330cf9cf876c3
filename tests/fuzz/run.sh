#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan on) and runs each for FUZZ_SECONDS
# (default 30), growing its corpus under tests/fuzz/corpus/<name>/. A crash stops the run with
# the crashing input saved in tests/fuzz/crashes/; copy it into the corpus to keep it as a
# regression test.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}"
SECONDS_EACH="${FUZZ_SECONDS:-30}"
CC=clang cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Debug -DCR_SANITIZE=ON -DCR_FUZZ=ON >/dev/null
cmake --build "$BUILD" -j"$(nproc)" >"$BUILD.log" 2>&1 || { tail -40 "$BUILD.log"; exit 1; }
mkdir -p "$ROOT/tests/fuzz/crashes"
total=0
for bin in "$BUILD"/tests/fuzz/fuzz_*; do
  name="$(basename "$bin")"; name="${name#fuzz_}"
  corpus="$ROOT/tests/fuzz/corpus/$name"; mkdir -p "$corpus"
  fresh="$(mktemp -d)"
  echo "== fuzz $name for ${SECONDS_EACH}s"
  # New inputs go to a scratch directory; the committed corpus is only read.
  "$bin" -max_total_time="$SECONDS_EACH" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$ROOT/tests/fuzz/crashes/$name-" "$fresh" "$corpus" 2>"$BUILD/$name.log" \
    || { tail -60 "$BUILD/$name.log"; rm -rf "$fresh"; exit 1; }
  runs="$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$BUILD/$name.log" | tail -1)"
  echo "fuzz $name: ${runs:-0} executions, no crash"
  total=$((total + ${runs:-0}))
  rm -rf "$fresh"
done
echo "fuzz: $total executions in all"
