# A child that outlives the program (new session, SIGHUP ignored): it must not survive the job.
import os, signal, sys, time
if os.fork() == 0:
    os.setsid()
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    if os.fork() == 0:
        os.execvp("python3", ["python3", "-c", "import time; time.sleep(600)", "{{MARKER}}"])
    os._exit(0)
time.sleep(0.5)
print("parent done")
