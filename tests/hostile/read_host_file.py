# Read a file the test planted on the host: the sandbox sees only its image.
import sys
path = "{{CANARY_PATH}}"
try:
    print("ESCAPED", open(path).read())
except OSError as e:
    print("CONTAINED", path, e.strerror)
