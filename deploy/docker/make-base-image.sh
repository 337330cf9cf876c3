#!/bin/bash
# Makes a local debian:bookworm-slim image (debootstrap minbase from the Debian mirror, trimmed the
# way the official slim image is), for hosts that cannot pull from a registry: every Dockerfile of
# code-runner starts FROM debian:bookworm-slim. Does nothing when the engine already has the tag.
# Usage: deploy/docker/make-base-image.sh [--force]     Env: MIRROR, BASE_IMAGE, DOCKER
set -euo pipefail

MIRROR=${MIRROR:-http://deb.debian.org/debian}
BASE_IMAGE=${BASE_IMAGE:-debian:bookworm-slim}
DOCKER=${DOCKER:-docker}
SUITE=bookworm

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
debootstrap --variant=minbase "$SUITE" "$ROOT" "$MIRROR" >"$TMP/debootstrap.log" 2>&1 ||
    { tail -n 20 "$TMP/debootstrap.log" >&2; fail "debootstrap failed"; }

# As in the official slim image: no documentation, man pages or translations from later installs,
# no recommends, no service starts inside image builds, the mirror in sources.list.
cat >"$ROOT/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-exclude=/usr/share/lintian/*
path-exclude=/usr/share/linda/*
EOF
cat >"$ROOT/etc/apt/apt.conf.d/docker-slim" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
EOF
# apt keeps no package cache and no downloaded .deb in image layers (the official docker-clean).
cat >"$ROOT/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod 755 "$ROOT/usr/sbin/policy-rc.d"
cat >"$ROOT/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb http://deb.debian.org/debian-security $SUITE-security main
EOF
find "$ROOT/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
rm -rf "$ROOT"/usr/share/man/* "$ROOT"/usr/share/info/* "$ROOT"/usr/share/locale/* \
    "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/cache/apt/archives/*.deb \
    "$ROOT"/var/log/* "$ROOT"/tmp/* "$ROOT"/var/tmp/*
: >"$ROOT/etc/resolv.conf"
: >"$ROOT/etc/hostname"

say "importing as $BASE_IMAGE"
tar -C "$ROOT" --numeric-owner -cf - . |
    $DOCKER import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' --change "LABEL code-runner.base=debootstrap-$SUITE-minbase" \
        - "$BASE_IMAGE" >/dev/null
say "$BASE_IMAGE: done ($($DOCKER image inspect -f '{{.Size}}' "$BASE_IMAGE" | numfmt --to=iec))"
