#!/bin/bash
# Imports the sandbox images that images/build.sh made (IMAGES_DIR/<image>/rootfs) into Docker as
# code-runner/<image>:latest, for EXECUTOR=docker. An image is imported again only when its recipe
# hash (IMAGES_DIR/<image>/recipe.sha256, else the rootfs mtime) differs from the image's
# code-runner.recipe label. Usage: images/docker-import.sh [image...]  (default: every built one)
set -euo pipefail

IMAGES_DIR=${IMAGES_DIR:-/var/lib/code-runner/images}
DOCKER=${DOCKER:-docker}

step() { printf '[docker-import.sh %(%H:%M:%S)T] %s\n' -1 "$*"; }
fail() { printf 'docker-import.sh: %s\n' "$*" >&2; exit 1; }

# What identifies the build of an image: the hash build.sh wrote, else the rootfs mtime.
stamp() {
    local dir=$IMAGES_DIR/$1
    if [ -f "$dir/recipe.sha256" ]; then
        tr -d ' \n' <"$dir/recipe.sha256"
    else
        echo "mtime-$(stat -L -c %Y "$dir/rootfs")"
    fi
}

import_image() {
    local img=$1 ref="code-runner/$1:latest" want have
    [ -d "$IMAGES_DIR/$img/rootfs" ] || fail "no $IMAGES_DIR/$img/rootfs (run images/build.sh $img)"
    want=$(stamp "$img")
    have=$($DOCKER image inspect -f '{{index .Config.Labels "code-runner.recipe"}}' "$ref" \
        2>/dev/null || true)
    if [ "$have" = "$want" ]; then
        step "$ref: up to date ($want)"
        return
    fi
    step "$ref: importing $IMAGES_DIR/$img/rootfs ($want)"
    # The rootfs path is resolved first: IMAGES_DIR/<image> is a symlink build.sh switches.
    tar -C "$(realpath "$IMAGES_DIR/$img/rootfs")" --numeric-owner -cf - . |
        $DOCKER import --change "LABEL code-runner.recipe=$want" \
            --change "LABEL code-runner.image=$img" \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'WORKDIR /workspace' - "$ref" >/dev/null
    step "$ref: done"
}

main() {
    command -v "$DOCKER" >/dev/null || fail "no docker CLI ($DOCKER)"
    $DOCKER info >/dev/null 2>&1 || fail "the Docker engine does not answer (DOCKER_HOST=${DOCKER_HOST:-default})"
    local images=("$@") d
    if [ ${#images[@]} -eq 0 ]; then
        for d in "$IMAGES_DIR"/*/rootfs; do
            [ -d "$d" ] && images+=("$(basename "$(dirname "$d")")")
        done
    fi
    [ ${#images[@]} -gt 0 ] || fail "no image under $IMAGES_DIR (run images/build.sh first)"
    local img
    for img in "${images[@]}"; do import_image "$img"; done
    # Older imports of the same names are left untagged; remove those of ours nobody uses.
    $DOCKER image prune -f --filter "label=code-runner.image" >/dev/null 2>&1 || true
}

main "$@"
