# Open files until the descriptor limit: RLIMIT_NOFILE stops it, the host table is untouched.
import os
fds = []
try:
    while len(fds) < 1000000:
        fds.append(os.open("/dev/null", os.O_RDONLY))
    print("ESCAPED opened", len(fds))
except OSError as e:
    print("CONTAINED descriptors ran out at", len(fds), ":", e.strerror)
