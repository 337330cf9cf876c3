#!/bin/sh
# PID 1 of the cgroup2 VM (tests/cgroup2/run-vm.sh), on the guest's root (a copy of the python
# image) after the initramfs: no systemd, only what a pure cgroup v2 host looks like to the
# worker (cgroup2 at /sys/fs/cgroup, mounted as systemd mounts it), then the checks, then power
# off. Its output is the serial console, which run-vm.sh reads.
bb=/cr-vm/bin/busybox
export PATH=/cr-vm/bin:/usr/sbin:/usr/bin:/sbin:/bin

$bb mount -t proc -o nosuid,nodev,noexec proc /proc
$bb mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
$bb mount -t cgroup2 -o nosuid,nodev,noexec,nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup
$bb mount -t tmpfs -o nosuid,nodev,mode=755 tmpfs /run
$bb mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /tmp
$bb mkdir -p /dev/pts /dev/shm
$bb mount -t devpts -o nosuid,noexec,gid=5,mode=620,ptmxmode=000 devpts /dev/pts
$bb mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /dev/shm
$bb hostname cg2-guest
$bb ip link set lo up

# As under systemd: controllers enabled from the root down, no process in the root cgroup but
# kernel threads, and the service in a leaf cgroup of its own.
cg=/sys/fs/cgroup
echo "+cpu +memory +pids +io" >$cg/cgroup.subtree_control
$bb mkdir -p $cg/init.scope $cg/system.slice/code-runner.service
echo "+cpu +memory +pids" >$cg/system.slice/cgroup.subtree_control
echo $$ >$cg/init.scope/cgroup.procs

echo "CG2-GUEST up: $(cat /proc/cmdline)"
$bb sh -c "echo \$\$ >$cg/system.slice/code-runner.service/cgroup.procs &&
           exec python3 /cr-vm/guest_checks.py"
echo "CG2-GUEST checks exited with $?"
$bb sync
$bb poweroff -f
