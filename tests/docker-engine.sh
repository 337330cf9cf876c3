#!/bin/bash
# Starts a Docker Engine for the docker executor's tests when none answers (installing docker.io
# and runsc from Debian when missing), with runsc (gVisor) and a "kata-runtime" alias of runc.
# Usage: tests/docker-engine.sh [start|stop|status]   (idempotent; stop ends only our dockerd)
#
# The engine listens on DOCKER_SOCK (default /var/run/docker.sock, the Docker CLI's default);
# its pid file, daemon.json and log live in DOCKER_TEST_DIR (default
# /var/lib/code-runner/docker-test). Containers must use network "none": no bridge, no iptables.
set -euo pipefail

DOCKER_TEST_DIR=${DOCKER_TEST_DIR:-/var/lib/code-runner/docker-test}
DOCKER_SOCK=${DOCKER_SOCK:-/var/run/docker.sock}
PIDFILE=$DOCKER_TEST_DIR/dockerd.pid
LOG=$DOCKER_TEST_DIR/dockerd.log
CONFIG=$DOCKER_TEST_DIR/daemon.json
DOCKER=/usr/bin/docker # Debian's CLI, matching its engine

say() { printf 'docker-engine.sh: %s\n' "$*" >&2; }
fail() { say "$*"; exit 1; }

answers() { curl -sf --max-time 3 --unix-socket "$DOCKER_SOCK" http://d/_ping >/dev/null 2>&1; }

# The pid of the dockerd this script started, when it still runs.
our_pid() {
    local pid
    [ -f "$PIDFILE" ] || return 1
    pid=$(cat "$PIDFILE")
    [ -n "$pid" ] && [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] ||
        return 1
    echo "$pid"
}

install_missing() {
    local missing=()
    [ -x /usr/sbin/dockerd ] && [ -x "$DOCKER" ] || missing+=(docker.io)
    command -v runsc >/dev/null || missing+=(runsc)
    command -v curl >/dev/null || missing+=(curl)
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" = 0 ] || fail "missing ${missing[*]} and not root to install them"
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

write_config() {
    local runsc runc
    runsc=$(command -v runsc)
    runc=$(command -v runc)
    mkdir -p "$DOCKER_TEST_DIR"
    cat >"$CONFIG.tmp" <<EOF
{
  "runtimes": {
    "runsc": {"path": "$runsc", "runtimeArgs": ["--network=none", "--oci-seccomp"]},
    "kata-runtime": {"path": "$runc"}
  }
}
EOF
    mv "$CONFIG.tmp" "$CONFIG"
}

start() {
    if answers; then
        our_pid >/dev/null || say "using the engine already answering on $DOCKER_SOCK"
        return 0
    fi
    install_missing
    write_config
    say "starting dockerd (log $LOG)"
    # setsid: the engine outlives this script and the test that ran it; stopped by "stop".
    setsid /usr/sbin/dockerd --iptables=false --ip-masq=false --bridge=none \
        --storage-driver=overlay2 --config-file "$CONFIG" --pidfile "$PIDFILE" \
        --host "unix://$DOCKER_SOCK" >>"$LOG" 2>&1 </dev/null &
    local i
    for ((i = 0; i < 300; i++)); do
        answers && { say "dockerd up (pid $(cat "$PIDFILE" 2>/dev/null))"; return 0; }
        sleep 0.1
    done
    tail -n 20 "$LOG" >&2
    fail "dockerd did not answer on $DOCKER_SOCK within 30 s"
}

stop() {
    local pid i
    if ! pid=$(our_pid); then
        say "no dockerd of ours is running"
        return 0
    fi
    say "stopping dockerd (pid $pid)"
    kill -TERM "$pid"
    for ((i = 0; i < 300; i++)); do
        [ -d "/proc/$pid" ] || { rm -f "$PIDFILE"; return 0; }
        sleep 0.1
    done
    fail "dockerd (pid $pid) did not stop within 30 s"
}

case ${1:-start} in
start) start ;;
stop) stop ;;
status) if answers; then echo "up (started here: $(our_pid || echo no))"; else echo down; exit 1; fi ;;
*) fail "usage: $0 [start|stop|status]" ;;
esac
