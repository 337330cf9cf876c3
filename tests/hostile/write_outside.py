# Write outside the workspace: the image is read-only, the host invisible.
import os
escaped = []
for p in ["/etc/cr-test", "/usr/cr-test", "/cr-test", "/var/cr-test", "/proc/sys/kernel/hostname",
          "/sys/kernel/cr-test", "/proc/sysrq-trigger"]:
    try:
        with open(p, "w") as f:
            f.write("x")
        escaped.append(p)
    except OSError:
        pass
print("ESCAPED " + " ".join(escaped) if escaped else "CONTAINED")
