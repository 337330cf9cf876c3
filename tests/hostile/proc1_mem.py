# Reach into PID 1 (the sandbox's init, run as the program's own uid): with its memory writable
# through /proc/1/mem, a program could patch it to report a system failure or another verdict
# than the one it earned. PID 1 is not dumpable, so /proc/1 is root's and all of this fails.
# (gVisor's /proc refuses PID 1's memory but still shows its environment and maps, which hold
# nothing the program does not have: a static binary's, and the program's own environment.)
import os

gvisor = os.uname().release == "4.4.0"  # gVisor's kernel version
escaped = []
for path, flags, always in (("/proc/1/mem", os.O_RDWR, True),
                            ("/proc/1/task/1/mem", os.O_RDWR, True),
                            ("/proc/1/mem", os.O_RDONLY, True),
                            ("/proc/1/environ", os.O_RDONLY, not gvisor),
                            ("/proc/1/maps", os.O_RDONLY, not gvisor)):
    try:
        fd = os.open(path, flags)
    except OSError as e:
        print(path, "refused:", e.strerror)
        continue
    try:
        data = os.read(fd, 64)
    except OSError as e:  # opened, but the read failed: still an open it should not have had
        data = e.strerror.encode()
    os.close(fd)
    if always:
        escaped.append(path)
        print("ESCAPED opened", path, data[:32])
    else:
        print("readable in gVisor:", path)
print("uid", os.getuid(), "pid 1 is", open("/proc/1/comm").read().strip())
if not escaped:
    print("CONTAINED")
