# One endless line on stdout: cut at the output cap, killed (output_limit, truncated).
import sys
chunk = "x" * 65536
while True:
    sys.stdout.write(chunk)
