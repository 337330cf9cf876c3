#!/usr/bin/env bash
# The docker-compose deployment, start to finish, on a fresh Debian 12 machine (as root):
# installs docker.io and docker-compose when missing, starts the engine when it does not answer,
# makes a local debian:bookworm-slim when the engine has none (deploy/docker/make-base-image.sh),
# makes the language images code-runner/<image>:latest, then builds the service images and runs
# `docker-compose up -d` (what `docker-compose up -d --build` does, with the build output in a log)
# and waits until every service is healthy.
#   deploy/compose-up.sh [up]     all of the above (idempotent: what exists is reused)
#   deploy/compose-up.sh down     docker-compose down (the Redis volume is kept)
#   deploy/compose-up.sh status   docker-compose ps
# Settings: .env beside docker-compose.yml (optional; see .env.example) or the environment, plus:
#   LANGUAGE_IMAGES  import (default): images/build.sh makes each rootfs and images/docker-import.sh
#                    imports it (works without any registry); dockerfile: docker build each
#                    images/Dockerfile (the standard way; needs debian:bookworm-slim)
#   IMAGES           the language images to make (default: every image of images/languages.json)
#   KATA=1           also docker-compose.kata.yml: the worker service itself runs under Kata
#   COMPOSE_PROJECT_NAME  (default code-runner), HEALTH_TIMEOUT seconds (default 300)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

export COMPOSE_PROJECT_NAME="${COMPOSE_PROJECT_NAME:-code-runner}"
LANGUAGE_IMAGES="${LANGUAGE_IMAGES:-import}"
HEALTH_TIMEOUT="${HEALTH_TIMEOUT:-300}"
COMPOSE_FILES=(-f docker-compose.yml)
[ "${KATA:-0}" = 1 ] && COMPOSE_FILES+=(-f docker-compose.kata.yml)

say() { printf '[compose-up %(%H:%M:%S)T] %s\n' -1 "$*"; }
fail() { printf 'compose-up: %s\n' "$*" >&2; exit 1; }
compose() { docker-compose "${COMPOSE_FILES[@]}" "$@"; }

# The value of a variable from the environment, else from .env, else a default.
setting() {
  local name="$1" def="$2" v="${!1:-}"
  if [ -z "$v" ] && [ -f .env ]; then
    v="$(sed -n "s/^[[:space:]]*$name=//p" .env | tail -n1 | sed -e 's/^["'\'']//' -e 's/["'\'']$//')"
  fi
  echo "${v:-$def}"
}

install_packages() {
  local missing=()
  command -v docker >/dev/null && [ -x /usr/sbin/dockerd ] || missing+=(docker.io)
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v jq >/dev/null || missing+=(jq)
  command -v curl >/dev/null || missing+=(curl)
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || fail "missing ${missing[*]} and not root to install them"
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The engine: the running one, else systemd's docker service, else a dockerd of our own
# (tests/docker-engine.sh, for machines without systemd).
start_engine() {
  docker info >/dev/null 2>&1 && return 0
  if command -v systemctl >/dev/null && systemctl enable --now docker >/dev/null 2>&1; then
    local i
    for ((i = 0; i < 60; i++)); do docker info >/dev/null 2>&1 && return 0; sleep 1; done
  fi
  say "no systemd docker service; starting dockerd with tests/docker-engine.sh"
  "$ROOT/tests/docker-engine.sh" start
  docker info >/dev/null 2>&1 || fail "the Docker engine does not answer"
}

language_images() {
  local images=()
  if [ -n "${IMAGES:-}" ]; then
    read -ra images <<<"$IMAGES"
  else
    mapfile -t images < <(jq -r '[.languages[].image] | unique | .[]' images/languages.json)
  fi
  case "$LANGUAGE_IMAGES" in
  import)
    "$ROOT/images/build.sh" "${images[@]}"
    "$ROOT/images/docker-import.sh" "${images[@]}"
    ;;
  dockerfile)
    local img
    for img in "${images[@]}"; do
      say "code-runner/$img:latest: docker build -f images/Dockerfile --build-arg IMAGE=$img"
      docker build --network host -q -f images/Dockerfile --build-arg "IMAGE=$img" \
        -t "code-runner/$img:latest" . >/dev/null
    done
    ;;
  *) fail "LANGUAGE_IMAGES must be import or dockerfile, not $LANGUAGE_IMAGES" ;;
  esac
}

# Wait until every container of the project reports healthy (each service has a health check).
wait_healthy() {
  local deadline=$((SECONDS + HEALTH_TIMEOUT)) ids id state bad
  while :; do
    ids="$(compose ps -q)"
    [ -n "$ids" ] || fail "no container of project $COMPOSE_PROJECT_NAME is running"
    bad=""
    for id in $ids; do
      state="$(docker inspect -f '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$id")"
      case "$state" in *" running healthy") ;; *) bad="$bad ${state#/}," ;; esac
    done
    [ -z "$bad" ] && return 0
    if ((SECONDS >= deadline)); then
      compose ps >&2
      compose logs --tail=30 >&2
      fail "not healthy after ${HEALTH_TIMEOUT}s:${bad%,}"
    fi
    sleep 2
  done
}

do_up() {
  install_packages
  start_engine
  "$ROOT/deploy/docker/make-base-image.sh"
  language_images
  local log="${TMPDIR:-/tmp}/code-runner-compose-build.log"
  say "docker-compose build (log: $log)"
  compose build >"$log" 2>&1 || { tail -n 40 "$log" >&2; fail "docker-compose build failed"; }
  say "docker-compose up -d (project $COMPOSE_PROJECT_NAME)"
  compose up -d --remove-orphans
  say "waiting for the services to be healthy"
  wait_healthy
  local port
  port="$(setting API_PORT 8000)"
  curl -sf "http://127.0.0.1:$port/health" >/dev/null || fail "GET /health on port $port failed"
  compose ps
  say "ready: curl -s -XPOST 'localhost:$port/run-code?wait=10' -d '{\"language\":\"python\",\"code\":\"print(42)\"}'"
  say "logs: docker-compose logs -f; stop: deploy/compose-up.sh down"
}

case "${1:-up}" in
up) do_up ;;
down) compose down --remove-orphans ;;
status) compose ps ;;
*) fail "usage: $0 [up|down|status]" ;;
esac
