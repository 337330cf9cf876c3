# A channel between concurrent jobs through file locks or shared files: each job has its own
# /tmp, workspace and /dev/shm, so two copies of this program never see each other.
import fcntl, os, time
seen = []
for p in ["/tmp/cr-channel", "/dev/shm/cr-channel", "cr-channel"]:
    try:
        fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except FileExistsError:
        seen.append(p)
    except OSError:
        pass
time.sleep(1.5)
print("ESCAPED saw " + " ".join(seen) if seen else "CONTAINED")
