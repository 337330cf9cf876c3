#!/bin/bash
# Health check of the worker container: the supervisor (code-runner-worker) runs with at least one
# worker process (cr-worker-<n>), and the Docker Engine answers when it is reached through a unix
# socket (a tcp:// engine is checked by the worker itself at start-up, with its TLS settings).
set -eu
sup=0 workers=0
for f in /proc/[0-9]*/comm; do
    case $(cat "$f" 2>/dev/null) in
    code-runner-wor) sup=1 ;;
    cr-worker-*) workers=$((workers + 1)) ;;
    esac
done
[ "$sup" = 1 ] || { echo "no supervisor"; exit 1; }
[ "$workers" -gt 0 ] || { echo "no worker process"; exit 1; }
host=${DOCKER_HOST:-unix:///var/run/docker.sock}
case $host in
unix://*) curl -sf --max-time 5 --unix-socket "${host#unix://}" http://docker/_ping >/dev/null ||
    { echo "the Docker Engine does not answer on $host"; exit 1; } ;;
esac
echo "ok: $workers worker processes"
