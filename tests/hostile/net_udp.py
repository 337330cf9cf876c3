# UDP out, and a look at the interfaces: only a loopback that reaches nothing of the host.
import socket
names = [n for _, n in socket.if_nameindex()]
print("interfaces", names)
try:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1)
    s.sendto(b"hello", ("127.0.0.1", {{HOST_PORT}}))
    s.recvfrom(10)
    print("ESCAPED got an answer")
except OSError as e:
    if set(names) <= {"lo"}:
        print("CONTAINED", e)
    else:
        print("ESCAPED interfaces", names)
