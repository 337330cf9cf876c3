# Fill the workspace until the disk says no: it is a small tmpfs of the job's own.
n = 0
try:
    with open("fill.bin", "wb") as f:
        while n < 100000:
            f.write(b"\0" * (1 << 20))
            f.flush()
            n += 1
    print("ESCAPED wrote", n, "MiB")
except OSError as e:
    print("CONTAINED workspace full after", n, "MiB:", e.strerror)
