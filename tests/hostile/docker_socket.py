# Reach the Docker or containerd socket, or any host runtime socket: none may be visible.
import os, socket
found = []
for p in ["/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock",
          "/run/runc", "/run/code-runner", "/var/lib/code-runner"]:
    if os.path.exists(p):
        found.append(p)
if found:
    print("ESCAPED visible:", found)
else:
    print("CONTAINED no runtime socket or state visible")
