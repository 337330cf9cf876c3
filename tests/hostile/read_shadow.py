# Read password hashes: /etc/shadow is the image's, and unreadable for the sandbox user anyway.
try:
    print("ESCAPED", open("/etc/shadow").read()[:200])
except OSError as e:
    print("CONTAINED", e.strerror)
