#!/usr/bin/env bash
# Starts code-runner on this machine (the embedded deployment: Redis with AOF, the api, and the
# worker with the OCI backend), installing packages, building and making images first as needed.
#   deploy/start.sh [start]   install, build, start everything, wait until healthy
#   deploy/start.sh stop      stop what start started (by the pids it recorded)
#   deploy/start.sh status    show what runs
#   deploy/start.sh --systemd install, build, and run the same three as systemd services instead:
#                             the binaries in /usr/local/bin, deploy/systemd's units and Redis
#                             drop-in in /etc/systemd/system, settings in
#                             /etc/code-runner/code-runner.env (kept when it exists)
# Settings come from the environment or a .env file at the top of the repo (see .env.example).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
if [ -f .env ]; then set -a; . ./.env; set +a; fi

RUN_DIR="${RUN_DIR:-/var/lib/code-runner/run}"
REDIS_DATA="${REDIS_DATA:-/var/lib/code-runner/redis}"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
export API_PORT="${API_PORT:-8000}"
export LANGUAGES_FILE="${LANGUAGES_FILE:-$ROOT/images/languages.json}"
export IMAGES_DIR="${IMAGES_DIR:-/var/lib/code-runner/images}"

say() { echo "start: $*"; }
alive() { [ -f "$RUN_DIR/$1.pid" ] && kill -0 "$(cat "$RUN_DIR/$1.pid")" 2>/dev/null; }

redis_port() { # the port of REDIS_URL when it points at this machine, else empty
  local hostport="${REDIS_URL#redis://}"; hostport="${hostport#*@}"; hostport="${hostport%%/*}"
  case "${hostport%%:*}" in 127.0.0.1|localhost) ;; *) return 0 ;; esac
  [[ "$hostport" == *:* ]] && echo "${hostport##*:}" || echo 6379
}

start_bg() { # name, command...: run in the background with a log and a pid file
  local name="$1"; shift
  nohup "$@" >>"$RUN_DIR/$name.log" 2>&1 &
  echo $! >"$RUN_DIR/$name.pid"
}

stop_one() {
  local name="$1" pid
  alive "$name" || { rm -f "$RUN_DIR/$name.pid"; return 0; }
  pid="$(cat "$RUN_DIR/$name.pid")"
  kill -TERM "$pid"
  for _ in $(seq 1 $(( ${WORKER_SHUTDOWN_GRACE:-30} * 10 + 50 ))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  rm -f "$RUN_DIR/$name.pid"
  say "stopped $name ($pid)"
}

do_start() {
  mkdir -p "$RUN_DIR" "$REDIS_DATA"
  "$ROOT/deploy/install-deps.sh"
  say "building (log: $RUN_DIR/build.log)"
  { cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release && cmake --build "$BUILD_DIR" -j"$(nproc)"; } \
    >"$RUN_DIR/build.log" 2>&1 || { tail -30 "$RUN_DIR/build.log"; exit 1; }
  "$ROOT/images/build.sh"

  local port; port="$(redis_port)"
  if [ -n "$port" ] && ! alive redis && ! redis-cli -p "$port" ping >/dev/null 2>&1; then
    # appendfsync always: Redis fsyncs before it answers, so no job the api answered 200 for
    # can be lost to a crash of Redis or of the host (README, "Durability of an accepted job").
    start_bg redis redis-server --port "$port" --bind 127.0.0.1 --dir "$REDIS_DATA" \
      --appendonly yes --appendfsync always --save '' --maxmemory-policy noeviction
    for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
    say "redis on port $port (AOF in $REDIS_DATA)"
  fi
  alive api || { start_bg api "$BUILD_DIR/api"; say "api on port $API_PORT"; }
  alive worker || { start_bg worker "$BUILD_DIR/worker"; say "worker started"; }

  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$API_PORT/health" >/dev/null 2>&1 && break
    sleep 0.1
  done
  if ! curl -sf "http://127.0.0.1:$API_PORT/health" >/dev/null; then
    say "the api is not healthy; see $RUN_DIR/api.log"; exit 1
  fi
  alive worker || { say "the worker exited; see $RUN_DIR/worker.log"; exit 1; }
  say "ready: curl -s -XPOST localhost:$API_PORT/run-code -d '{\"language\":\"python\",\"code\":\"print(42)\"}'"
  say "logs in $RUN_DIR; stop with: deploy/start.sh stop"
}

do_systemd() {
  [ -d /run/systemd/system ] || { say "systemd is not running on this machine"; exit 1; }
  for n in redis api worker; do
    alive "$n" && { say "the embedded $n runs: deploy/start.sh stop first"; exit 1; }
  done
  mkdir -p "$RUN_DIR"
  "$ROOT/deploy/install-deps.sh"
  say "building (log: $RUN_DIR/build.log)"
  { cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release && cmake --build "$BUILD_DIR" -j"$(nproc)"; } \
    >"$RUN_DIR/build.log" 2>&1 || { tail -30 "$RUN_DIR/build.log"; exit 1; }
  "$ROOT/images/build.sh"
  install -m 0755 "$BUILD_DIR/api" /usr/local/bin/code-runner-api
  install -m 0755 "$BUILD_DIR/worker" /usr/local/bin/code-runner-worker
  install -m 0755 "$BUILD_DIR/cr-init" /usr/local/bin/cr-init # found beside the worker
  install -D -m 0644 "$ROOT/images/languages.json" /usr/local/share/code-runner/languages.json
  install -m 0644 "$ROOT/deploy/systemd/code-runner-api.service" \
    "$ROOT/deploy/systemd/code-runner-worker.service" /etc/systemd/system/
  install -D -m 0644 "$ROOT/deploy/systemd/redis-server.service.d/code-runner.conf" \
    /etc/systemd/system/redis-server.service.d/code-runner.conf
  [ -f /etc/code-runner/code-runner.env ] ||
    install -D -m 0600 "$ROOT/deploy/systemd/code-runner.env" /etc/code-runner/code-runner.env
  systemctl daemon-reload
  systemctl enable redis-server >/dev/null 2>&1
  systemctl restart redis-server
  systemctl enable code-runner-api code-runner-worker >/dev/null 2>&1
  systemctl restart code-runner-api code-runner-worker
  local port; port="$(sed -n 's/^API_PORT=//p' /etc/code-runner/code-runner.env | tail -1)"
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:${port:-8000}/health" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -sf "http://127.0.0.1:${port:-8000}/health" >/dev/null ||
    { say "the api is not healthy: journalctl -u code-runner-api"; exit 1; }
  say "ready: systemctl status code-runner-api code-runner-worker redis-server"
}

case "${1:-start}" in
  start) do_start ;;
  --systemd) do_systemd ;;
  stop) stop_one worker; stop_one api; stop_one redis ;;
  status) for n in redis api worker; do
            if alive "$n"; then echo "$n: running ($(cat "$RUN_DIR/$n.pid"))"; else echo "$n: stopped"; fi
          done ;;
  *) sed -n '2,11p' "$0"; exit 2 ;;
esac
