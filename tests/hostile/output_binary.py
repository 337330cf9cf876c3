# Endless binary noise on stdout and stderr: capped, and returned base64 (not valid UTF-8).
import os
while True:
    os.write(1, os.urandom(65536))
    os.write(2, os.urandom(4096))
