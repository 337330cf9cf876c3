# Fill /dev/shm: it must be small, private to the job, and counted against the job's limits.
import os
n = 0
try:
    with open("/dev/shm/fill", "wb") as f:
        while n < 4096:
            f.write(b"x" * (1 << 20))
            f.flush()
            n += 1
    print("ESCAPED wrote", n, "MiB to /dev/shm")
except OSError as e:
    print("CONTAINED /dev/shm refused after", n, "MiB:", e.strerror)
