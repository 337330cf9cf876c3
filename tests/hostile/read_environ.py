# Look for the worker's secrets in every environment this program can see.
import os
seen = dict(os.environ)
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            seen[pid] = open(f"/proc/{pid}/environ", "rb").read().decode(errors="replace")
        except OSError:
            pass
print("ENV", seen)
print("CONTAINED looked at", len(seen), "entries")
