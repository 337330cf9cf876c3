# Grow the heap without end: the memory cap must kill it (memory_limit).
chunks = []
while True:
    chunks.append(bytearray(16 * 1024 * 1024))
