#!/bin/busybox sh
# /init of the cgroup2 VM's initramfs (tests/cgroup2/run-vm.sh): loads the Debian kernel's
# virtio and ext4 modules (listed in dependency order in /modules/order), mounts the guest's
# root disk (/dev/vda, the python image plus the sandbox image) and the payload disk (/dev/vdb,
# read-only: this tree's sandbox_cli, cr-init and checks) at /cr-vm, and hands over to
# /cr-vm/guest-init.sh. Any failure powers the guest off with a CG2-BOOT FAIL line.
/bin/busybox --install -s /bin
export PATH=/bin

fail() {
    echo "CG2-BOOT FAIL: $*"
    poweroff -f
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules/order); do
    insmod "/modules/$m.ko" || fail "insmod $m"
done
for i in $(seq 50); do
    [ -b /dev/vda ] && [ -b /dev/vdb ] && break
    sleep 0.1
done
mount -t ext4 /dev/vda /newroot || fail "mount /dev/vda (root disk)"
mount -t ext4 -o ro /dev/vdb /newroot/cr-vm || fail "mount /dev/vdb (payload disk)"
mount --move /dev /newroot/dev || fail "move /dev"
umount /proc /sys
exec switch_root /newroot /cr-vm/guest-init.sh
