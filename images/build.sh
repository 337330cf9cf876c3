#!/bin/bash
# Builds the sandbox images: IMAGES_DIR/<image>/rootfs trees, each a copy of one shared Debian base
# (debootstrap minbase, cached in CACHE_DIR) plus its recipe (images/<image>/packages, post-install).
# Usage: images/build.sh [image...]   (default: every image of languages.json that has a recipe)
#
# Recipe of an image, one directory images/<image>/:
#   packages       apt packages to install, one a line ('#' comments)         (required)
#   post-install   optional script run inside the image (chroot, /bin/sh) after the packages
# Layout written:
#   IMAGES_DIR/<image>            symlink to .store/<image>-<hash> (switched atomically)
#   IMAGES_DIR/.store/<image>-<hash>/rootfs, recipe.sha256, version-<langid>
# An image is rebuilt only when its hash (base recipe + its recipe + its languages.json entries +
# BUILD_ABI) changed. Builds go to a temporary directory first, so an interrupted build never
# leaves a half image in place.
set -euo pipefail

BUILD_ABI=1 # bump when a change of this script (or debian-slim.sh) must rebuild every image
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=images/debian-slim.sh
. "$HERE/debian-slim.sh" # SLIM_SUITE, MIRROR, slim_debootstrap, slim_configure, slim_strip
SUITE=$SLIM_SUITE
IMAGES_DIR=${IMAGES_DIR:-/var/lib/code-runner/images}
CACHE_DIR=${CACHE_DIR:-/var/cache/code-runner}
LANGUAGES_FILE=${LANGUAGES_FILE:-$HERE/languages.json}
CHROOT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

TMP_DIRS=()    # removed on exit (interrupted builds)
PROC_MOUNTS=() # unmounted on exit

step() { printf '[build.sh %(%H:%M:%S)T] %s\n' -1 "$*"; }
fail() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

# Unmount whatever is mounted at or below a directory (a hard-killed build's /proc).
umount_under() {
    local d m
    d=$(realpath -m "$1")
    awk '{print $2}' /proc/self/mounts | { grep -E "^$d(/|$)" || true; } | sort -r |
        while read -r m; do umount -l "$m" || true; done
}

remove_tree() { umount_under "$1"; rm -rf --one-file-system "$1"; }

cleanup() {
    local m d
    for m in "${PROC_MOUNTS[@]}"; do umount -l "$m" 2>/dev/null || true; done
    for d in "${TMP_DIRS[@]}"; do
        # One file system only: never descend into something mounted below the tree.
        [ -e "$d" ] && remove_tree "$d"
    done
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need_root() { [ "$(id -u)" = 0 ] || fail "must run as root (debootstrap, chroot)"; }

# Install the host tools the build needs, when missing.
host_deps() {
    local missing=()
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    command -v jq >/dev/null || missing+=(jq)
    command -v sha256sum >/dev/null || missing+=(coreutils)
    command -v flock >/dev/null || missing+=(util-linux)
    if [ ${#missing[@]} -gt 0 ]; then
        step "installing host tools: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

# Recipe lines without comments and blank lines.
recipe_packages() { sed -e 's/#.*//' -e 's/[[:space:]]\+/\n/g' "$1" | sed '/^$/d'; }

# Hash of the files of a recipe directory: names and contents, in sorted order.
dir_hash() {
    (cd "$1" && find . -type f ! -name Dockerfile -print0 | LC_ALL=C sort -z |
        xargs -0 -r sha256sum) | sha256sum | cut -c1-16
}

base_hash() {
    { echo "abi=$BUILD_ABI suite=$SUITE mirror=$MIRROR"; dir_hash "$HERE/base"; } |
        sha256sum | cut -c1-16
}

# The languages.json entries of one image (version files depend on them).
image_languages() { jq -c --arg img "$1" '[.languages[] | select(.image == $img)]' "$LANGUAGES_FILE"; }

image_hash() { # limits and argv do not shape an image: only ids and version commands do
    { base_hash; dir_hash "$HERE/$1"; image_languages "$1" | jq -c '[.[] | {id, version_command}]'; } |
        sha256sum | cut -c1-16
}

with_proc() { # with_proc ROOTFS CMD...: run CMD with ROOTFS/proc mounted, unmounted after
    local root=$1; shift
    mount -t proc proc "$root/proc"
    PROC_MOUNTS+=("$root/proc")
    local rc=0
    "$@" || rc=$?
    umount "$root/proc"
    return $rc
}

in_chroot() { # in_chroot ROOTFS CMD...: a clean environment inside the tree
    local root=$1; shift
    env -i PATH=$CHROOT_PATH HOME=/root LC_ALL=C DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes \
        chroot "$root" "$@"
}

# Remove what a sandbox never needs: the slim strip, then the copyright files and the Python
# byte code it keeps.
strip_tree() {
    local r=$1
    slim_strip "$r"
    rm -rf "$r"/usr/share/doc/*
    find "$r"/usr/lib -name '__pycache__' -prune -o -name '*.pyc' -print0 2>/dev/null |
        xargs -0 -r rm -f
}

# The slim settings (later apt installs stay small and start no services), and the sandbox's
# mount points.
configure_base() {
    local r=$1
    slim_configure "$r"
    mkdir -p "$r/workspace"
    chmod 1777 "$r/tmp"
}

# The shared base, built once per base hash into CACHE_DIR/base-<hash>.
ensure_base() {
    local h dir tmp
    h=$(base_hash)
    dir="$CACHE_DIR/base-$h"
    if [ -f "$dir/.complete" ]; then
        step "base $h: cached"
        BASE_DIR=$dir
        return
    fi
    mkdir -p "$CACHE_DIR"
    tmp=$(mktemp -d "$CACHE_DIR/.tmp-base-XXXXXX")
    TMP_DIRS+=("$tmp")
    step "base $h: debootstrap --variant=minbase $SUITE (this takes a few minutes)"
    slim_debootstrap "$tmp/rootfs" "$tmp/debootstrap.log" || fail "debootstrap failed"
    configure_base "$tmp/rootfs"
    local pkgs
    pkgs=$(recipe_packages "$HERE/base/packages" | tr '\n' ' ')
    if [ -n "$pkgs" ]; then
        step "base $h: apt-get install $pkgs"
        apt_install "$tmp/rootfs" $pkgs
    fi
    strip_tree "$tmp/rootfs"
    touch "$tmp/.complete"
    rm -rf --one-file-system "$CACHE_DIR"/base-* # older bases are never used again
    mv -T "$tmp" "$dir"
    BASE_DIR=$dir
    step "base $h: done ($(du -sh "$dir/rootfs" | cut -f1))"
}

apt_install() { # apt_install ROOTFS PKG...
    local r=$1; shift
    cp /etc/resolv.conf "$r/etc/resolv.conf"
    # Some maintainer scripts (openjdk's) link man pages into a directory dpkg excludes.
    mkdir -p "$r/usr/share/man/man1"
    with_proc "$r" in_chroot "$r" apt-get update -qq
    with_proc "$r" in_chroot "$r" apt-get install -y -qq -o Dpkg::Use-Pty=0 "$@" >/dev/null
    in_chroot "$r" apt-get clean
}

# Write version-<langid> for every language of the image, from its version_command.
write_versions() {
    local img=$1 dir=$2 n i id cmd
    n=$(image_languages "$img" | jq length)
    for ((i = 0; i < n; i++)); do
        id=$(image_languages "$img" | jq -r ".[$i].id")
        mapfile -t cmd < <(image_languages "$img" | jq -r ".[$i].version_command // [] | .[]")
        [ ${#cmd[@]} -gt 0 ] || continue
        # With /proc: the JDK's launchers find their libraries through $ORIGIN (/proc/self/exe).
        if ! with_proc "$dir/rootfs" in_chroot "$dir/rootfs" "${cmd[@]}" >"$dir/version-$id.tmp" 2>"$dir/version.err"; then
            cat "$dir/version.err" >&2
            fail "$img: version command of $id failed"
        fi
        head -n1 "$dir/version-$id.tmp" | tr -d '\r\n' >"$dir/version-$id"
        rm -f "$dir/version-$id.tmp" "$dir/version.err"
        step "$img: $id version $(cat "$dir/version-$id")"
    done
}

build_image() {
    local img=$1 h store final tmp pkgs
    [ -f "$HERE/$img/packages" ] || fail "no recipe images/$img/packages"
    h=$(image_hash "$img")
    final="$IMAGES_DIR/.store/$img-$h"
    if [ -L "$IMAGES_DIR/$img" ] && [ "$(readlink "$IMAGES_DIR/$img")" = ".store/$img-$h" ] &&
        [ -f "$final/recipe.sha256" ]; then
        step "$img: up to date ($h)"
        return
    fi
    ensure_base
    mkdir -p "$IMAGES_DIR/.store"
    tmp=$(mktemp -d "$IMAGES_DIR/.store/.tmp-$img-XXXXXX")
    TMP_DIRS+=("$tmp")
    step "$img: copying base"
    cp -a "$BASE_DIR/rootfs" "$tmp/rootfs"
    pkgs=$(recipe_packages "$HERE/$img/packages" | tr '\n' ' ')
    step "$img: apt-get install $pkgs"
    apt_install "$tmp/rootfs" $pkgs
    if [ -f "$HERE/$img/post-install" ]; then
        step "$img: post-install"
        cp "$HERE/$img/post-install" "$tmp/rootfs/tmp/post-install"
        with_proc "$tmp/rootfs" in_chroot "$tmp/rootfs" /bin/sh /tmp/post-install
    fi
    step "$img: stripping"
    strip_tree "$tmp/rootfs"
    write_versions "$img" "$tmp"
    echo "$h" >"$tmp/recipe.sha256"
    chmod 755 "$tmp"
    # Switch atomically: the image name is a symlink replaced by rename(2).
    rm -rf --one-file-system "$final"
    mv -T "$tmp" "$final"
    local prev
    prev=$(readlink "$IMAGES_DIR/$img" 2>/dev/null || true)
    ln -sfn ".store/$img-$h" "$IMAGES_DIR/.$img.link"
    mv -T "$IMAGES_DIR/.$img.link" "$IMAGES_DIR/$img"
    local old
    # The version just replaced stays until the next rebuild: jobs started on it (they pin the
    # resolved path) finish on it; anything older goes.
    for old in "$IMAGES_DIR/.store/$img"-*; do
        if [ "$old" != "$final" ] && [ "$old" != "$IMAGES_DIR/${prev:-none}" ]; then
            rm -rf --one-file-system "$old"
        fi
    done
    step "$img: done ($(du -sh "$final/rootfs" | cut -f1))"
}

# Every image named in languages.json whose recipe directory exists.
default_images() {
    local img
    for img in $(jq -r '[.languages[].image] | unique | .[]' "$LANGUAGES_FILE"); do
        [ -f "$HERE/$img/packages" ] && echo "$img"
    done
    return 0
}

main() {
    need_root
    host_deps
    [ -f "$LANGUAGES_FILE" ] || fail "no $LANGUAGES_FILE"
    mkdir -p "$IMAGES_DIR"
    exec 9>"$IMAGES_DIR/.build.lock"
    flock 9 # one build at a time
    # Left over by an interrupted run (killed hard, so its trap never ran).
    local d
    for d in "$IMAGES_DIR"/.store/.tmp-* "$CACHE_DIR"/.tmp-base-*; do
        [ -e "$d" ] && remove_tree "$d"
    done
    local images=("$@")
    [ ${#images[@]} -gt 0 ] || mapfile -t images < <(default_images)
    [ ${#images[@]} -gt 0 ] || fail "no image to build"
    local img
    for img in "${images[@]}"; do build_image "$img"; done
    step "all done: ${images[*]}"
}

main "$@"
