#!/bin/bash
# Makes a local debian:bookworm-slim image (debootstrap minbase from the Debian mirror, trimmed
# the way the official slim image is, with images/debian-slim.sh as the sandbox images are), for
# hosts that cannot pull from a registry: every Dockerfile of code-runner starts FROM
# debian:bookworm-slim. Does nothing when the engine already has the tag.
# Usage: deploy/docker/make-base-image.sh [--force]     Env: MIRROR, BASE_IMAGE, DOCKER
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=images/debian-slim.sh
. "$HERE/../../images/debian-slim.sh" # SLIM_SUITE, MIRROR, slim_debootstrap, slim_configure...
BASE_IMAGE=${BASE_IMAGE:-debian:bookworm-slim}
DOCKER=${DOCKER:-docker}
SUITE=$SLIM_SUITE

say() { printf '[make-base-image %(%H:%M:%S)T] %s\n' -1 "$*"; }
fail() { printf 'make-base-image: %s\n' "$*" >&2; exit 1; }

present() { $DOCKER image inspect "$BASE_IMAGE" >/dev/null 2>&1; }
if [ "${1:-}" != --force ] && present; then
    say "$BASE_IMAGE: present"
    exit 0
fi
[ "$(id -u)" = 0 ] || fail "must run as root (debootstrap)"
exec 9>/var/lock/code-runner-base-image.lock
flock 9 # one build at a time; a concurrent run may have made it meanwhile
if [ "${1:-}" != --force ] && present; then
    say "$BASE_IMAGE: present"
    exit 0
fi
if ! command -v debootstrap >/dev/null; then
    say "installing debootstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

TMP=$(mktemp -d /var/tmp/base-image-XXXXXX)
# The tree is removed on exit; one file system only, never below a mount left by a killed run.
cleanup() {
    awk '{print $2}' /proc/self/mounts | { grep "^$TMP/" || true; } | sort -r |
        while read -r m; do umount -l "$m" || true; done
    rm -rf --one-file-system "$TMP"
}
trap cleanup EXIT
ROOT=$TMP/rootfs

say "debootstrap --variant=minbase $SUITE from $MIRROR (a few minutes)"
slim_debootstrap "$ROOT" "$TMP/debootstrap.log" || fail "debootstrap failed"

# As in the official slim image: the slim settings (no documentation, man pages or translations
# from later installs, no recommends, no service starts inside image builds); for Docker layers
# also no apt cache, the mirror in sources.list and no host name.
slim_configure "$ROOT"
# apt keeps no package cache and no downloaded .deb in image layers (the official docker-clean).
cat >"$ROOT/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
cat >"$ROOT/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb http://deb.debian.org/debian-security $SUITE-security main
EOF
slim_strip "$ROOT"
: >"$ROOT/etc/hostname"

say "importing as $BASE_IMAGE"
tar -C "$ROOT" --numeric-owner -cf - . |
    $DOCKER import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' --change "LABEL code-runner.base=debootstrap-$SUITE-minbase" \
        - "$BASE_IMAGE" >/dev/null
say "$BASE_IMAGE: done ($($DOCKER image inspect -f '{{.Size}}' "$BASE_IMAGE" | numfmt --to=iec))"
