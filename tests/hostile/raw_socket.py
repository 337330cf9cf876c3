# Raw and packet sockets need capabilities the sandbox does not have.
import socket
for fam, kind, name in [(socket.AF_INET, socket.SOCK_RAW, "raw"), (socket.AF_PACKET, socket.SOCK_RAW, "packet")]:
    try:
        socket.socket(fam, kind, socket.IPPROTO_ICMP if name == "raw" else 0)
        print("ESCAPED opened", name)
        break
    except OSError as e:
        print(name, "refused:", e.strerror)
else:
    print("CONTAINED")
