# Leave state behind for the next job: files in /tmp, the workspace and /dev/shm, a lock, a
# background process. state_read.py, run next, must find none of it.
import fcntl, os, subprocess
for p in ["/tmp/cr-state", "cr-state", "/dev/shm/cr-state"]:
    try:
        with open(p, "w") as f:
            f.write("{{MARKER}}")
    except OSError:
        pass
lock = open("/tmp/cr-lock", "w")
fcntl.flock(lock, fcntl.LOCK_EX)
subprocess.Popen(["python3", "-c", "import time; time.sleep(600)", "{{MARKER}}"], start_new_session=True)
print("left state")
