#!/bin/bash
# Runs the sandbox on a PURE cgroup v2 host, which this (hybrid v1 + empty cgroup2) machine is
# not: the worker's v2 code paths (worker/sandbox/cgroup_limits.c: mkdir, subtree_control,
# memory.max, memory.swap.max, pids.max, cpu.max; worker/sandbox/cgroup.c: cpu.stat,
# memory.peak, memory.events, removal; worker/executors/oci/builtin/: CLONE_INTO_CGROUP, cgroup2
# read-only at /sys/fs/cgroup)
# otherwise never run here.
#
# Boots a guest (1 vCPU, 1.5 GiB) on Debian's kernel with cgroup_no_v1=all and no systemd:
# guest-init.sh mounts cgroup2 at /sys/fs/cgroup and runs guest_checks.py, which runs this
# tree's sandbox_cli (OCI_RUNTIME=builtin, and runc for hello world) against the python image,
# then the worker itself (with the api and redis-server) whose containers are started ahead of
# their job, and prints one "CG2-CHECK PASS|FAIL" line per check. The exit code is 0 only when every check
# passed (1: a check failed, 2: the guest did not report).
#
# Guest: Debian's linux-image and busybox-static (apt-get download), an initramfs that loads
# virtio/ext4 and mounts two disks: root.img (a copy of the python image's rootfs, plus a
# second copy at /images/python as the sandbox image), cached under CACHE_DIR keyed by a hash of
# its inputs, and payload.img (sandbox_cli, cr-init, api, worker, their libraries, the host's
# runc and redis-server, languages.json, the guest scripts and tests/integration/support.py),
# made on every run. The root disk is opened with snapshot=on: never written.
#
# Accelerator: KVM where /dev/kvm is hardware virtualization (kvm_intel or kvm_amd); otherwise
# qemu's TCG emulation (about 4 s to boot, a few times slower to run). A /dev/kvm served by
# kvm_pvm (PVM, as on Firecracker sandboxes without nested VMX/SVM) boots only PVM-enlightened
# guest kernels (CONFIG_PVM_GUEST); Debian's hangs there right after "Probing EDD".
#
#   tests/cgroup2/run-vm.sh            env: CG2_BUILD_DIR (/tmp/cg2-build), CG2_TIMEOUT (300 s),
#                                           CG2_CACHE_DIR (/var/cache/code-runner/cgroup2-vm),
#                                           CG2_ACCEL (auto, kvm or tcg)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SOURCE_DIR=$(cd "$HERE/../.." && pwd)
BUILD_DIR=${CG2_BUILD_DIR:-/tmp/cg2-build}
CACHE_DIR=${CG2_CACHE_DIR:-/var/cache/code-runner/cgroup2-vm}
IMAGES_DIR=${IMAGES_DIR:-/var/lib/code-runner/images}
TIMEOUT=${CG2_TIMEOUT:-300}
MEMORY_MB=1536
# Bump when the layout of the cached guest changes.
GUEST_LAYOUT=1
# The initramfs's modules, dependencies first (their modinfo "depends=").
MODULES="drivers/virtio/virtio_ring drivers/virtio/virtio
         drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci_legacy_dev
         drivers/virtio/virtio_pci drivers/block/virtio_blk
         lib/crc16 fs/mbcache fs/jbd2/jbd2 crypto/crc32c_generic fs/ext4/ext4"

WORK=$(mktemp -d /tmp/cg2-vm.XXXXXX)
QEMU_PID=
cleanup() {
    if [ -n "$QEMU_PID" ] && kill -0 "$QEMU_PID" 2>/dev/null; then
        kill "$QEMU_PID" 2>/dev/null || true
        wait "$QEMU_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

T0=$SECONDS
stage() { printf '== [%3ds] %s\n' $((SECONDS - T0)) "$*"; }
die() { echo "run-vm.sh: $*" >&2; exit 2; }

# ---- stage 1: host tools ----
host_tools() {
    stage "host tools"
    local missing=()
    command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
    command -v cpio >/dev/null || missing+=(cpio)
    command -v mkfs.ext4 >/dev/null || missing+=(e2fsprogs)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
            -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null
    fi
}

# ACCEL: qemu's options for KVM or TCG (see the top).
accelerator() {
    local how=${CG2_ACCEL:-auto}
    if [ "$how" = auto ]; then
        how=tcg
        if [ -c /dev/kvm ] && { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; }; then
            how=kvm
        fi
    fi
    case $how in
    # arch-capabilities off: nested under some hypervisors KVM refuses its MSR
    kvm) ACCEL=(-enable-kvm -cpu host,-arch-capabilities) ;;
    tcg) ACCEL=(-accel tcg -cpu max) ;;
    *) die "CG2_ACCEL=$how: auto, kvm or tcg" ;;
    esac
    local why=""
    [ "$how" = tcg ] && [ -d /sys/module/kvm_pvm ] &&
        why=" (/dev/kvm is PVM here: it cannot boot Debian's kernel)"
    echo "accelerator: $how$why"
}

# ---- stage 2: sandbox_cli and cr-init from this tree ----
build_cli() {
    stage "build sandbox_cli, cr-init, api and worker (Release) in $BUILD_DIR"
    if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
        cmake -S "$SOURCE_DIR" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >"$WORK/cmake.log" 2>&1 ||
            { cat "$WORK/cmake.log"; die "cmake failed (deploy/install-deps.sh installs the libraries)"; }
    fi
    make -C "$BUILD_DIR" -j"$(nproc)" sandbox_cli cr-init api worker >"$WORK/make.log" 2>&1 ||
        { tail -40 "$WORK/make.log"; die "build failed"; }
}

# ---- stage 3: the cached guest (kernel, initramfs, root disk) ----
python_image() {
    if [ ! -d "$IMAGES_DIR/python/rootfs" ]; then
        stage "python image missing: images/build.sh python" >&2
        IMAGES_DIR=$IMAGES_DIR "$SOURCE_DIR/images/build.sh" python >/dev/null
    fi
    readlink -f "$IMAGES_DIR/python"
}

# KERNEL_PKG: Debian's package of the current kernel ("linux-image-6.1.0-N-amd64"); VERSIONS:
# it and the versions to be downloaded. apt-get update once when the lists do not know it.
package_versions() {
    if ! apt-cache show linux-image-amd64 >/dev/null 2>&1; then
        apt-get update >/dev/null
    fi
    KERNEL_PKG=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    [ -n "$KERNEL_PKG" ] || die "cannot find the package linux-image-amd64 depends on"
    VERSIONS="$KERNEL_PKG $(apt-cache policy "$KERNEL_PKG" busybox-static |
        awk '/Candidate/ {printf "%s ", $2}')"
}

guest_key() {
    {
        echo "layout $GUEST_LAYOUT"
        echo "packages $1"
        echo "image $2 $(cat "$2/recipe.sha256" 2>/dev/null)"
        echo "modules $MODULES"
        sha256sum <"$HERE/initramfs-init.sh"
    } | sha256sum | cut -c1-16
}

make_initramfs() { # $1 = extracted kernel package, $2 = busybox, $3 = out
    local tree=$WORK/initramfs kver
    kver=$(ls "$1/lib/modules")
    mkdir -p "$tree"/{bin,proc,sys,dev,newroot,modules}
    cp "$2" "$tree/bin/busybox"
    cp "$HERE/initramfs-init.sh" "$tree/init"
    chmod 755 "$tree/init"
    for m in $MODULES; do
        cp "$1/lib/modules/$kver/kernel/$m.ko" "$tree/modules/"
        basename "$m" >>"$tree/modules/order"
    done
    (cd "$tree" && find . | cpio -o -H newc --quiet | gzip -1) >"$3"
}

make_root_disk() { # $1 = python image dir, $2 = out
    local tree=$WORK/root
    cp -a "$1/rootfs" "$tree"
    mkdir -p "$tree/cr-vm" "$tree/images/python"
    cp -a "$1"/. "$tree/images/python/"
    local mb=$(( $(du -sm "$tree" | cut -f1) + 256 ))
    mkfs.ext4 -q -L cg2-root -d "$tree" "$2" "${mb}M"
    rm -rf "$tree"
}

guest() {
    stage "guest: Debian kernel, initramfs, root disk"
    local image key
    image=$(python_image)
    package_versions
    key=$(guest_key "$VERSIONS" "$image")
    GUEST=$CACHE_DIR/$key
    if [ -f "$GUEST/done" ]; then
        echo "cached: $GUEST ($VERSIONS)"
        return
    fi
    echo "building $GUEST ($VERSIONS; python image $image)"
    mkdir -p "$CACHE_DIR"
    exec 9>"$CACHE_DIR/.lock"
    flock 9
    if [ ! -f "$GUEST/done" ]; then
        local dl=$WORK/dl
        mkdir -p "$dl/kernel" "$dl/busybox"
        (cd "$dl" && apt-get download "$KERNEL_PKG" busybox-static >/dev/null 2>&1) ||
            die "apt-get download $KERNEL_PKG busybox-static failed"
        dpkg-deb -x "$dl"/linux-image-*.deb "$dl/kernel"
        dpkg-deb -x "$dl"/busybox-static_*.deb "$dl/busybox"
        rm -rf "$GUEST.tmp"
        mkdir -p "$GUEST.tmp"
        cp "$dl"/kernel/boot/vmlinuz-* "$GUEST.tmp/vmlinuz"
        cp "$dl/busybox/bin/busybox" "$GUEST.tmp/busybox"
        make_initramfs "$dl/kernel" "$dl/busybox/bin/busybox" "$GUEST.tmp/initrd.img"
        make_root_disk "$image" "$GUEST.tmp/root.img"
        echo "$VERSIONS; $image" >"$GUEST.tmp/done"
        # one guest at a time: the older ones go
        find "$CACHE_DIR" -mindepth 1 -maxdepth 1 -type d ! -name "$key*" -exec rm -rf {} +
        mv "$GUEST.tmp" "$GUEST"
    fi
    exec 9>&-
}

# ---- stage 4: the payload disk (this tree's binaries and the guest scripts) ----
copy_libs() { # the shared libraries of $@, less those of glibc (the guest's own)
    ldd "$@" | awk '/=> \// {print $3}' | sort -u | while read -r lib; do
        case $(basename "$lib") in
        libc.so.* | libm.so.* | libpthread.so.* | libdl.so.* | ld-linux*) ;;
        *) cp -L "$lib" "$WORK/payload/lib/" ;;
        esac
    done
}

payload() {
    stage "payload disk: sandbox_cli, cr-init, api, worker, runc, redis-server, guest scripts"
    local p=$WORK/payload bin
    local bins=("$BUILD_DIR/tests/tools/sandbox_cli" "$BUILD_DIR/api" "$BUILD_DIR/worker")
    mkdir -p "$p/bin" "$p/lib"
    cp "${bins[@]}" "$BUILD_DIR/cr-init" "$GUEST/busybox" "$p/bin/"
    # the host's: runc for its hello world, redis-server for the worker's check
    for bin in runc redis-server; do
        command -v "$bin" >/dev/null ||
            die "$bin is not installed on the host (deploy/install-deps.sh installs it)"
        cp "$(command -v "$bin")" "$p/bin/"
        bins+=("$(command -v "$bin")")
    done
    copy_libs "${bins[@]}"
    cp "$SOURCE_DIR/images/languages.json" "$HERE/guest-init.sh" "$HERE/guest_checks.py" \
        "$SOURCE_DIR/tests/integration/support.py" "$p/"
    chmod 755 "$p/guest-init.sh"
    mkfs.ext4 -q -L cg2-payload -d "$p" "$WORK/payload.img" 64M
}

# ---- stage 5: boot, read the serial console, judge ----
boot() {
    stage "boot: 1 vCPU, ${MEMORY_MB} MiB, ${ACCEL[*]}, cgroup_no_v1=all (timeout ${TIMEOUT} s)"
    local log=$WORK/console.log
    : >"$log"
    qemu-system-x86_64 "${ACCEL[@]}" -smp 1 -m "$MEMORY_MB" \
        -nodefaults -no-reboot -display none -monitor none -serial "file:$log" \
        -kernel "$GUEST/vmlinuz" -initrd "$GUEST/initrd.img" \
        -append "console=ttyS0 quiet panic=-1 cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1" \
        -drive "file=$GUEST/root.img,format=raw,if=virtio,snapshot=on" \
        -drive "file=$WORK/payload.img,format=raw,if=virtio,readonly=on" &
    QEMU_PID=$!
    tail -n +1 --pid="$QEMU_PID" -f "$log" &
    local tail_pid=$! deadline=$((SECONDS + TIMEOUT))
    while kill -0 "$QEMU_PID" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
        sleep 1
    done
    if kill -0 "$QEMU_PID" 2>/dev/null; then
        echo "run-vm.sh: the guest is still running after ${TIMEOUT} s: killed"
        kill "$QEMU_PID"
    fi
    wait "$QEMU_PID" 2>/dev/null || true
    QEMU_PID=
    wait "$tail_pid" 2>/dev/null || true
    tr -d '\r' <"$log" >"$WORK/console.txt"
}

verdict() {
    stage "result"
    local summary
    grep -E '^CG2-(CHECK|BOOT)' "$WORK/console.txt" || true
    summary=$(grep -E '^CG2-RESULT ' "$WORK/console.txt" | tail -1 || true)
    if [ -z "$summary" ]; then
        echo "FAIL: the guest did not report (boot failure or timeout; console above)"
        return 2
    fi
    echo "$summary (total ${SECONDS} s)"
    case $summary in
    *" failed=0") echo "PASS: every cgroup v2 check passed"; return 0 ;;
    *) echo "FAIL: some cgroup v2 checks failed"; return 1 ;;
    esac
}

host_tools
accelerator
build_cli
guest
payload
boot
verdict
