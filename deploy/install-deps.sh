#!/usr/bin/env bash
# Installs the Debian packages code-runner needs to build, run and test (idempotent: apt runs
# only when something is missing). Used by deploy/start.sh and tests/run.sh.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config clang clang-format libclang-rt-14-dev valgrind
  libhiredis-dev libevent-dev libjansson-dev libcurl4-openssl-dev uuid-dev libseccomp-dev
  redis-server redis-sentinel runc runsc debootstrap jq curl ca-certificates openssl
  iproute2 nftables stunnel4
  python3 python3-pytest python3-jsonschema systemd
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
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The packaged redis-server and redis-sentinel services are not ours: code-runner (and its
# tests) start their own instances.
systemctl disable --now redis-server redis-sentinel >/dev/null 2>&1 || true
echo "install-deps: done"
