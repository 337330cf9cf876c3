# Start threads until it fails: threads count against the pids limit too.
import threading, time
n = 0
try:
    while n < 100000:
        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
        n += 1
except RuntimeError as e:
    print("CONTAINED thread start failed after", n, ":", e)
else:
    print("ESCAPED started", n, "threads")
