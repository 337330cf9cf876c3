# Sleep past the wall-clock limit without using CPU: killed at the limit (time_limit).
import time
time.sleep(3600)
print("ESCAPED woke up")
