# AF_VSOCK reaches the hypervisor or other VMs: it must not open or connect.
import socket
try:
    s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    s.settimeout(1)
    s.connect((2, 1024))
    print("ESCAPED connected over vsock")
except OSError as e:
    print("CONTAINED", e.strerror)
