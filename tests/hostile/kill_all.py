# kill -9 -1: only the program's own processes may die, never the worker or the host.
import os, signal
os.kill(-1, signal.SIGKILL)
print("survived")
