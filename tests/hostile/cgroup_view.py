# What the sandbox shows under /sys/fs/cgroup must be the container's own cgroups only: on a
# cgroup v1 host no hierarchy it did not join (the hybrid layout's cgroup2 would show the host's
# root, with host-wide cpu.stat and pressure files), and every hierarchy that is there shows the
# step's own limits and usage (test_hostile compares the limits with the configuration).
import os

CGROUP2_MAGIC = 0x63677270
root = "/sys/fs/cgroup"
escaped = []


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def fs_is_cgroup2(path):
    # statfs through ctypes: os has no statfs
    import ctypes
    buf = ctypes.create_string_buffer(256)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.statfs(path.encode(), buf) != 0:
        return False
    return int.from_bytes(buf.raw[:8], "little") == CGROUP2_MAGIC


unified = fs_is_cgroup2(root)
dirs = [root] if unified else [os.path.join(root, d) for d in sorted(os.listdir(root))]
print("hierarchies", "unified" if unified else [os.path.basename(d) for d in dirs])
for d in dirs:
    if not unified and fs_is_cgroup2(d):
        escaped.append(d + " (a cgroup2 hierarchy the container did not join)")
    for name in ("memory.limit_in_bytes", "memory.max", "pids.max", "cpu.cfs_quota_us",
                 "cpu.max"):
        v = read(os.path.join(d, name))
        if v is not None:
            print("cgroup", name, v.split()[0])
    # the container's own CPU time is a few seconds at most; a host's root cgroup has hours
    usage = read(os.path.join(d, "cpuacct.usage"))
    if usage is not None and int(usage) > 100 * 10**9:
        escaped.append(f"{d}/cpuacct.usage {usage} ns: not the container's")
    stat = read(os.path.join(d, "cpu.stat"))
    for line in (stat or "").splitlines():
        if line.startswith("usage_usec") and int(line.split()[1]) > 100 * 10**6:
            escaped.append(f"{d}/cpu.stat {line}: not the container's")
print("ESCAPED " + "; ".join(escaped) if escaped else "CONTAINED")
