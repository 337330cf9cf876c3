# Fork until it fails: the pids limit must say no long before the host notices.
import os, sys
n = 0
try:
    while n < 100000:
        if os.fork() == 0:
            import time; time.sleep(30); os._exit(0)
        n += 1
except OSError as e:
    print("CONTAINED fork failed after", n, "children:", e.strerror)
    sys.stdout.flush()
    os._exit(0)
print("ESCAPED forked", n)
