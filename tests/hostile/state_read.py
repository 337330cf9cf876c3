# Look for anything an earlier job left: files, locks, processes.
import fcntl, os
found = []
for p in ["/tmp/cr-state", "cr-state", "/dev/shm/cr-state", "/tmp/cr-lock"]:
    if os.path.exists(p):
        found.append(p)
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            if b"{{MARKER}}" in open(f"/proc/{pid}/cmdline", "rb").read():
                found.append("process " + pid)
        except OSError:
            pass
print("ESCAPED " + " ".join(found) if found else "CONTAINED")
