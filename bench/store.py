"""The store's cost on its own: insert_many into a fresh FerretDB (SQLite) at batch sizes 1, 100 and 1,000, and the
time of one lookup by _id and one by "task" in a log of --records documents. Documents look like taskbus records.

    /usr/bin/python3 bench/store.py [--records 200000]
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import harness  # noqa: E402


def record(i, prefix):
    return {"_id": f"{prefix}{i}:0", "task": f"{prefix}{i}", "seq": 0, "type": "received",
            "events": "events-host-1-00000000", "frontend": "frontend-host-2-00000000",
            "request": '{"a1":5,"a2":10}', "taskType": "NUMBER", "subtask": "ADD"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=200000)
    args = ap.parse_args()
    stack = harness.Stack(os.path.join(harness.TOP, "build"), events=0, backends={})
    try:
        stack.start_ferretdb()
        col = stack.mongo().events
        for batch, n in ((1, 2000), (100, 20000), (1000, 20000)):
            docs = [record(i, f"b{batch}-") for i in range(n)]
            t0 = time.perf_counter()
            for i in range(0, n, batch):
                col.insert_many(docs[i:i + batch], ordered=False)
            dt = time.perf_counter() - t0
            print(f"insert_many batch {batch:>5}: {n / dt:>8,.0f} documents/s ({dt / n * 1e6:.0f} µs per document)")
        rest = args.records - col.estimated_document_count()
        for i in range(0, max(rest, 0), 1000):
            col.insert_many([record(j, "t") for j in range(i, min(i + 1000, rest))], ordered=False)
        total = col.estimated_document_count()
        for name, query in (("_id", {"_id": "t1234:0"}), ("task", {"task": "t1234"})):
            t0 = time.perf_counter()
            for _ in range(3):
                list(col.find(query))
            print(f"lookup by {name:<4} in {total:,} documents: {(time.perf_counter() - t0) / 3 * 1000:,.1f} ms")
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
