# Plant symlinks and hardlinks where the worker may later read, write or remove files on the host
# side (the class of Judge0's CVE-2024-28185/28189). Host-side work must never follow them.
import os
target = "{{CANARY_PATH}}"
planted = []
for name in ["main.py", "stdin", "stdout", "stderr", "input", "output", "compile_output",
             "main", "a.out", "run", "box", "tmp", ".."]:
    try:
        if os.path.lexists(name):
            os.rename(name, name + ".orig")
        os.symlink(target, name)
        planted.append(name)
    except OSError:
        pass
try:
    os.link(target, "hard")
    planted.append("hard(link)")
except OSError as e:
    print("hardlink refused:", e.strerror)
for d in ["/tmp", "."]:
    try:
        os.symlink("/", os.path.join(d, "rootlink"))
    except OSError:
        pass
print("planted", planted)
print("CONTAINED")
