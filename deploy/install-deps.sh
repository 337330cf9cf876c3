#!/usr/bin/env bash
# Installs the Debian packages code-runner needs to build, run and test (idempotent: apt runs
# only when something is missing). Used by deploy/start.sh and tests/run.sh.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config clang clang-format libclang-rt-14-dev valgrind
  libhiredict-shims-dev libssl-dev libevent-dev libjansson-dev libcurl4-openssl-dev uuid-dev
  libseccomp-dev
  redis-server redis-sentinel runc runsc debootstrap jq curl ca-certificates openssl
  iproute2 nftables stunnel4
  python3 python3-pytest python3-jsonschema systemd
  prometheus
)
# Tools the tests take whichever way the machine has them: Node.js and npm (the npm packages of
# tests/npm: schemas and validators) and kubectl (renders deploy/k8s). Debian's packages when
# missing; a newer one installed some other way is used as it is.
command -v npm >/dev/null 2>&1 || PACKAGES+=(nodejs npm)
command -v kubectl >/dev/null 2>&1 || PACKAGES+=(kubernetes-client)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: need root to install: ${missing[*]}" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
# hiredis with TLS (rediss://): Debian 12's libhiredis 0.14 has none, so hiredis 1.x comes as
# hiredict from bookworm-backports, whose shims give it hiredis's headers and pkg-config names
# (it replaces libhiredis-dev). The backports source is added only when none is configured, with
# a pin that takes hiredict from it and nothing else (deploy/apt/).
APT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/apt
if ! grep -rqsE '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  install -m 0644 "$APT_DIR/bookworm-backports.sources" /etc/apt/sources.list.d/
  install -m 0644 "$APT_DIR/code-runner-backports.pref" /etc/apt/preferences.d/
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The packaged redis-server, redis-sentinel and prometheus services are not ours: code-runner
# (and its tests) start their own instances (prometheus and promtool: tests/integration/
# test_metrics.py).
systemctl disable --now redis-server redis-sentinel prometheus >/dev/null 2>&1 || true
echo "install-deps: done"
