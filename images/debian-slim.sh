# The "slim" Debian tree that code-runner makes with debootstrap, in one place for the two
# scripts that make one: images/build.sh (the shared base of the sandbox images) and
# deploy/docker/make-base-image.sh (a local debian:bookworm-slim for the Dockerfiles).
# Sourced by both (bash); defines SLIM_SUITE, MIRROR (unless set) and:
#   slim_debootstrap ROOT LOG   debootstrap --variant=minbase SLIM_SUITE from MIRROR into ROOT,
#                               its output in LOG (the tail shown on failure); status 0/1
#   slim_configure ROOT         dpkg and apt settings that keep later installs small (no
#                               documentation but copyright files, no man pages, translations,
#                               recommends or suggests) and start no service inside the tree
#   slim_strip ROOT             remove what neither needs: documentation but copyright files,
#                               man and info pages, locales, apt lists and caches, dpkg and
#                               debconf backups, logs, temporary files; empty resolv.conf
# images/build.sh does not hash this file: a change that must reach images already built bumps
# its BUILD_ABI.

SLIM_SUITE=bookworm
MIRROR=${MIRROR:-http://deb.debian.org/debian}

slim_debootstrap() {
    debootstrap --variant=minbase "$SLIM_SUITE" "$1" "$MIRROR" >"$2" 2>&1 && return 0
    tail -n 20 "$2" >&2
    return 1
}

slim_configure() {
    local r=$1
    cat >"$r/etc/dpkg/dpkg.cfg.d/code-runner-slim" <<'SLIM'
# code-runner slim tree: no documentation but copyright files, no man pages or translations.
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-exclude=/usr/share/lintian/*
path-exclude=/usr/share/linda/*
SLIM
    cat >"$r/etc/apt/apt.conf.d/code-runner-slim" <<'SLIM'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
SLIM
    # services installed later do not start inside the tree
    printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"
    chmod 755 "$r/usr/sbin/policy-rc.d"
}

slim_strip() {
    local r=$1
    find "$r/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null ||
        true
    rm -rf "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/usr/share/locale/* \
        "$r"/usr/share/lintian/* "$r"/usr/share/linda/* \
        "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/var/cache/apt/archives/*.deb \
        "$r"/var/cache/debconf/*-old "$r"/var/lib/dpkg/*-old "$r"/var/log/* "$r"/tmp/* \
        "$r"/var/tmp/*
    : >"$r/etc/resolv.conf"
}
