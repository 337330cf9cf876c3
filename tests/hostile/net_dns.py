# Resolve a public name: there is no resolver and no route.
import socket
try:
    print("ESCAPED", socket.getaddrinfo("deb.debian.org", 80))
except OSError as e:
    print("CONTAINED", e)
