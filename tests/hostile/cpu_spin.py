# Spin the CPU forever: the wall-clock limit must kill it (time_limit).
while True:
    pass
