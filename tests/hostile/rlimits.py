# Every resource limit is set explicitly, whatever the worker's own environment: this prints them
# all and test_hostile compares each with the configuration (nothing inherited, RTPRIO 0 so no
# SCHED_FIFO escape from the CPU quota, NICE 0), then tries to raise the ones it must not.
# (gVisor keeps priorities inside its own kernel, where no host thread's changes: a lower nice
# value is allowed there, and harmless.)
import os
import resource

NAMES = ["NOFILE", "NPROC", "CORE", "FSIZE", "STACK", "MEMLOCK", "MSGQUEUE", "SIGPENDING",
         "RTPRIO", "NICE", "CPU", "AS", "DATA", "RSS", "RTTIME"]
for name in NAMES:
    soft, hard = resource.getrlimit(getattr(resource, "RLIMIT_" + name))
    print("RLIMIT", name, soft, hard)

escaped = []
for name in ("NOFILE", "NPROC", "RTPRIO", "CPU"):
    res = getattr(resource, "RLIMIT_" + name)
    soft, hard = resource.getrlimit(res)
    try:
        resource.setrlimit(res, (soft, resource.RLIM_INFINITY))
        escaped.append(name)
    except (ValueError, OSError):
        pass
try:
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    escaped.append("SCHED_FIFO")
except OSError as e:
    print("SCHED_FIFO:", e.strerror)
try:
    os.nice(-1)
    if os.uname().release != "4.4.0":  # gVisor's kernel version
        escaped.append("nice -1")
except OSError as e:
    print("nice -1:", e.strerror)
print("ESCAPED raised " + ", ".join(escaped) if escaped else "CONTAINED")
