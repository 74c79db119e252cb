"""Fill a taskbus event log with N records of exactly the pipeline's shape, fast, to measure reads at a given log size.

Each prefilled task gets the two records that events writes for a task answered on the first try (events/record.c):
a `received` record `_id "<task>:0"` (seq 0) and its outcome `_id "<task>:outcome"` (seq 1, `completed`, or `failed`
for the division by zero), with the same field names, order and BSON types as a real run's documents. Task ids have
the length of the frontend's ids (29 characters) but start with PREFIX, which the frontend's hexadecimal ids never do,
so a reader can tell prefilled tasks from the pipeline's own. The documents go through the MongoDB wire protocol
(pymongo `insert_many`, unordered, BATCH documents at a time) from several processes at once (one per core).

    /usr/bin/python3 bench/prefill.py --records 1000000   # starts its own FerretDB, fills it, prints the rate
    /usr/bin/python3 bench/prefill.py --records 1000000 --uri mongodb://127.0.0.1:PORT/taskbus
"""
import argparse
import datetime
import multiprocessing
import os
import sys
import time

PREFIX = "prefill-"
BATCH = 10000
# (request, taskType, subtask, service, outcome type, result or error, status), in the five seed bodies' rotation.
SHAPES = [('{"a1":5,"a2":10}', "NUMBER", "ADD", "arithmetic", "completed", "15", 200),
          ('{"s1":4,"s2":7}', "NUMBER", "SUBTRACT", "arithmetic", "completed", "-3", 200),
          ('{"m1":4,"m2":7}', "NUMBER", "MULTIPLY", "arithmetic", "completed", "28", 200),
          ('{"d1":4,"d2":7}', "NUMBER", "DIVIDE", "arithmetic", "completed", "0.571429", 200),
          ('{"a1":"a","a2":"b"}', "STRING", "ADD", "string", "completed", "ab", 200),
          ('{"d1":4,"d2":0}', "NUMBER", "DIVIDE", "arithmetic", "failed", "division by zero", 422)]
EVENTS_ID = "events-vm-10505-8c4bf4b7"
FRONTEND_ID = "frontend-vm-10508-5b53f652"
BACKEND_IDS = {"arithmetic": "arithmetic-vm-10506-e059de73", "string": "string-vm-10507-075e48d8"}


def task_id(worker, i):
    """The id of prefilled task i of 'worker': PREFIX, 8 hex digits, '-', 12 digits (29 characters)."""
    return f"{PREFIX}{worker:08x}-{i:012d}"


def records(worker, first, count, start):
    """The 2 * count records of tasks first .. first + count - 1 of 'worker', their times counting up from 'start'
    (a naive UTC datetime) by 1 ms per task."""
    docs = []
    for i in range(first, first + count):
        t = task_id(worker, i)
        request, task_type, subtask, service, outcome, text, status = SHAPES[i % len(SHAPES)]
        at = start + datetime.timedelta(milliseconds=i)
        backend = BACKEND_IDS[service]
        docs.append({"_id": t + ":0", "task": t, "seq": 0, "type": "received", "at": at, "events": EVENTS_ID,
                     "frontend": FRONTEND_ID, "request": request, "taskType": task_type, "subtask": subtask,
                     "service": service, "backend": backend, "attempt": 1})
        end = {"_id": t + ":outcome", "task": t, "seq": 1, "type": outcome, "at": at, "events": EVENTS_ID,
               "status": status}
        end["result" if outcome == "completed" else "error"] = text
        end["backend"] = backend
        docs.append(end)
    return docs


def _fill(uri, collection, worker, tasks, start, batch):
    import pymongo
    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
    try:
        col = client.get_default_database("taskbus")[collection]
        per = max(batch // 2, 1)
        for first in range(0, tasks, per):
            col.insert_many(records(worker, first, min(per, tasks - first), start), ordered=False)
    finally:
        client.close()


def fill(uri, n, collection="events", processes=None, batch=BATCH, progress=None):
    """Insert n records (rounded up to whole tasks: received + outcome) into 'collection' of the database in 'uri'
    from 'processes' processes (default: one per core). Returns (records inserted, seconds). Raises RuntimeError
    when a process fails. 'progress', when given, is called with no argument about every 10 s while it runs.
    Prefilled task ids never repeat across calls: each call numbers its workers from a fresh base."""
    processes = processes or os.cpu_count() or 2
    tasks = (n + 1) // 2
    base = int(time.time() * 1000) & 0x0fffffff  # worker ids unique per call (ms clock), still 8 hex digits
    start = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(days=30)
    ctx = multiprocessing.get_context("fork")
    shares = [tasks // processes + (1 if w < tasks % processes else 0) for w in range(processes)]
    t0 = time.monotonic()
    procs = [ctx.Process(target=_fill, args=(uri, collection, base + w, shares[w], start, batch), daemon=True)
             for w in range(processes) if shares[w]]
    for p in procs:
        p.start()
    try:
        for p in procs:
            while p.is_alive():
                p.join(10)
                if p.is_alive() and progress:
                    progress()
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
    failed = [p.exitcode for p in procs if p.exitcode != 0]
    if failed:
        raise RuntimeError(f"prefill: {len(failed)} of {len(procs)} processes failed (exit {failed})")
    return 2 * tasks, time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=1000000)
    ap.add_argument("--uri", help="MongoDB URI with a database (default: start a FerretDB of our own)")
    ap.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--batch", type=int, default=BATCH, help="documents per insert_many")
    args = ap.parse_args()
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
    import harness
    stack = None
    if not args.uri:
        stack = harness.Stack(os.path.join(harness.TOP, "build"), events=0, backends={})
        stack.start_ferretdb()
        args.uri = stack.mongo_uri
    try:
        import pymongo
        db = pymongo.MongoClient(args.uri).get_default_database("taskbus")
        t_last = [time.monotonic(), db.command("collStats", "events").get("count", 0)]

        def progress():
            now, count = time.monotonic(), db.command("collStats", "events")["count"]
            print(f"prefill: {count:,} records, {(count - t_last[1]) / (now - t_last[0]):,.0f}/s", flush=True)
            t_last[:] = [now, count]

        n, secs = fill(args.uri, args.records, processes=args.processes, batch=args.batch, progress=progress)
        total = db.command("collStats", "events")["count"]
        print(f"prefill: {n:,} records in {secs:.1f} s = {n / secs:,.0f} records/s "
              f"({args.processes} processes, batch {args.batch}); the log holds {total:,}")
    finally:
        if stack:
            stack.stop()


if __name__ == "__main__":
    main()
