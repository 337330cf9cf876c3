#!/usr/bin/env bash
# Makes this machine an executor host (or the image an EC2 fleet launches, EC2_AMI_ID): installs
# what code-runner needs, builds it, makes the language images, and installs the agent and its
# TLS front as systemd services (deploy/executor-host/*.service), the settings in
# /etc/code-runner/executor.env (kept when present). Run as root on Debian 12:
#   deploy/executor-host/install.sh [--runtime builtin|runc|runsc|kata-runtime] [--no-start]
# Then give it its secrets (root only, never on a command line):
#   install -m 0400 /dev/stdin /etc/code-runner/executor-token   < token-file
#   install -m 0400 cert.pem /etc/code-runner/executor-tls.pem   # and key.pem as
#   install -m 0400 key.pem  /etc/code-runner/executor-tls.key   #   executor-tls.key
# (on an EC2 fleet, cloud-init.yaml fetches them from SSM Parameter Store at boot instead).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
RUNTIME=builtin
START=1
while [ $# -gt 0 ]; do
  case "$1" in
    --runtime) RUNTIME="$2"; shift 2 ;;
    --no-start) START=0; shift ;;
    *) sed -n '2,12p' "$0"; exit 2 ;;
  esac
done
say() { echo "executor-host: $*"; }
"$ROOT/deploy/install-deps.sh"
case "$RUNTIME" in
  builtin|runc|runsc) ;;
  kata-runtime) command -v kata-runtime >/dev/null ||
      { say "install Kata Containers first (from its releases; it needs KVM)"; exit 1; } ;;
  *) say "unknown runtime $RUNTIME"; exit 2 ;;
esac
BUILD="$ROOT/build-executor"
say "building (log: $BUILD.log)"
{ cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCR_TESTS=OFF &&
  cmake --build "$BUILD" -j"$(nproc)"; } >"$BUILD.log" 2>&1 || { tail -30 "$BUILD.log"; exit 1; }
"$ROOT/images/build.sh"
install -m 0755 "$BUILD/worker" /usr/local/bin/code-runner-worker
install -m 0755 "$BUILD/cr-init" /usr/local/bin/cr-init # found beside the worker
install -D -m 0644 "$ROOT/images/languages.json" /usr/local/share/code-runner/languages.json
install -m 0644 "$ROOT/deploy/executor-host/code-runner-agent.service" \
  "$ROOT/deploy/executor-host/code-runner-agent-tls.service" /etc/systemd/system/
install -D -m 0644 "$ROOT/deploy/executor-host/executor-stunnel.conf" \
  /etc/code-runner/executor-stunnel.conf
if [ ! -f /etc/code-runner/executor.env ]; then
  install -D -m 0644 "$ROOT/deploy/executor-host/executor.env" /etc/code-runner/executor.env
  sed -i "s/^OCI_RUNTIME=.*/OCI_RUNTIME=$RUNTIME/" /etc/code-runner/executor.env
fi
systemctl daemon-reload
systemctl enable code-runner-agent code-runner-agent-tls >/dev/null 2>&1
if [ "$START" = 1 ] && [ -s /etc/code-runner/executor-token ]; then
  systemctl restart code-runner-agent code-runner-agent-tls
  say "started: systemctl status code-runner-agent code-runner-agent-tls"
else
  say "installed; start once /etc/code-runner/executor-token (and the TLS files) are in place"
fi
