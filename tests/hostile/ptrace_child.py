# ptrace is denied even on the program's own child.
import ctypes, os, time
libc = ctypes.CDLL(None, use_errno=True)
pid = os.fork()
if pid == 0:
    time.sleep(5)
    os._exit(0)
rc = libc.ptrace(16, pid, None, None)  # PTRACE_ATTACH
err = ctypes.get_errno()
os.kill(pid, 9)
os.waitpid(pid, 0)
print("ESCAPED ptrace attached" if rc == 0 else f"CONTAINED ptrace: {os.strerror(err)}")
