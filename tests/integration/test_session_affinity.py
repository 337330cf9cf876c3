"""Session affinity across a fleet: two worker supervisors with WORKER_CONCURRENCY=4 share one
Redis (8 worker processes taking from the shared queue); 20 sessions each do 10 runs at once
(one client thread per session). Every run must land in its own session: it finds the
session's own token file and the log of exactly the runs before it, in order; the task of each
run was claimed by the session's owner and by nothing else; the sessions are spread over both
hosts; and ordinary jobs submitted meanwhile all succeed."""
import threading

import harness
from session_support import PREFIX, Client, assert_no_host_leftovers

SESSIONS = 20
RUNS = 10

CODE = """import os
i = {i}
if i == 0:
    open('token', 'w').write('{sid}')
with open('log', 'a') as f:
    f.write(f'{{i}} ')
print(open('token').read(), open('log').read().split(), sorted(os.listdir('.')))
"""


def test_twenty_sessions_ten_runs_each_across_two_supervisors(redis, start_api, start_worker):
    api = start_api(API_THREADS=2, MAX_SESSIONS_PER_WORKER=5)
    workers = [start_worker(WORKER_CONCURRENCY=4, HEARTBEAT_INTERVAL=1,
                            MAX_SESSIONS_PER_WORKER=5) for _ in range(2)]
    harness.wait_until(lambda: len(redis.cmd("ZRANGE", f"{PREFIX}session_free", 0, -1)) == 8,
                       timeout=30, what="eight worker processes offering places")
    s = Client(api)
    sids = [s.create("python", wait=30) for _ in range(SESSIONS)]
    owners = {sid: redis.cmd("HGET", f"{PREFIX}session:{sid}", "owner") for sid in sids}
    assert len(set(owners.values())) >= 4, owners
    assert {o.rsplit("-", 1)[0] for o in owners.values()} == {w.id for w in workers}, owners
    results, errors = {sid: [] for sid in sids}, []

    def session_client(sid):
        try:
            for i in range(RUNS):
                r = s.run(sid, CODE.format(i=i, sid=sid))
                results[sid].append((r["task_id"], r))
        except Exception as e:  # reported below, with the others
            errors.append(f"{sid}: {e!r}")

    threads = [threading.Thread(target=session_client, args=(sid,)) for sid in sids]
    for t in threads:
        t.start()
    jobs = [api.submit({"language": "python", "code": f"print({k} * 2)"}) for k in range(10)]
    for t in threads:
        t.join(timeout=600)
    assert not errors, errors
    for k, j in enumerate(jobs):
        assert api.wait_result(j)["result"]["output"] == f"{k * 2}\n"
    for sid in sids:
        assert len(results[sid]) == RUNS, (sid, results[sid])
        for i, (task, r) in enumerate(results[sid]):
            assert r["status"] == "completed" and r["verdict"] == "ok", r
            want = f"{sid} {[str(k) for k in range(i + 1)]} ['log', 'main.py', 'token']\n"
            assert r["stdout"] == want, (sid, i, r["stdout"])
            assert redis.cmd("HGET", f"{PREFIX}task:{task}", "worker") == owners[sid], \
                (sid, task, "claimed by another process than the session's owner")
    for sid in sids:
        s.delete(sid)
    for sid in sids:
        s.wait_status(sid, {"stopped"})
    for w in workers:
        assert_no_host_leftovers(w)
