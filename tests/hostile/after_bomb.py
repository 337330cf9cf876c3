# Run right after a fork bomb on the same worker slot (cases.json "then"): the slot's user, its
# cgroup and the host are back to normal, so this job forks and reaps a few children as usual.
import os

pids = []
for _ in range(10):
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    pids.append(pid)
codes = [os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in pids]
print("forked", len(pids), "children, exit codes", sorted(set(codes)))
print("CONTAINED" if codes == [7] * 10 else "ESCAPED: the slot is not back to normal")
