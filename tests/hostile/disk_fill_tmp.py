# Fill /tmp until the disk says no: a size-capped tmpfs, never the host's disk.
n = 0
try:
    with open("/tmp/fill.bin", "wb") as f:
        while n < 100000:
            f.write(b"\0" * (1 << 20))
            f.flush()
            n += 1
    print("ESCAPED wrote", n, "MiB")
except OSError as e:
    print("CONTAINED /tmp full after", n, "MiB:", e.strerror)
