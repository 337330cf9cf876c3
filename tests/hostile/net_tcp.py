# TCP to a listener on the host's loopback: the sandbox has its own empty network namespace.
import socket
try:
    s = socket.create_connection(("127.0.0.1", {{HOST_PORT}}), timeout=2)
    print("ESCAPED connected")
except OSError as e:
    print("CONTAINED", e)
