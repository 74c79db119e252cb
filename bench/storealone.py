"""The store alone, for bench/bench.py's ceilings: insert exactly the documents a pipeline row wrote, at that row's
batch sizes, into a fresh collection of the same FerretDB, and measure documents/s and FerretDB's CPU.

- The documents are read back as raw BSON (pymongo's RawBSONDocument), whatever their shape, and inserted byte for
  byte. A row's documents are the log's positions [before, after) in its natural order: FerretDB v1 (SQLite) returns
  a collection in insertion order (its table's rowid), so the row's sampled task ids must be among them (checked).
- The batch sizes come from each events replica's `taskbus_store_batch_records` histogram (GET /metrics on its
  METRICS_PORT), scraped before and after the row: per bucket, that many batches with sizes inside the bucket, chosen
  so that their total is the histogram's _sum.
- One client thread per events replica (the pipeline's writers), each with its own connection, sends its replica's
  batches one after the other with an unordered insert_many, as the writer thread of common/store.c does.
"""
import math
import os
import random
import re
import threading
import time
import urllib.request

BATCH_FAMILY = "taskbus_store_batch_records"
COLLECTION = "ceiling_store_alone"


def proc_cpu(pid):
    """utime + stime of a live process in seconds, from /proc/<pid>/stat; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def scrape_histogram(port, family=BATCH_FAMILY):
    """{"buckets": [(le, cumulative count), ...] ascending with +Inf last, "sum": s, "count": n} of a histogram
    without labels, from GET /metrics on 'port'; None when the family is missing (METRICS=off)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            text = r.read().decode()
    except OSError:
        return None
    buckets = [(math.inf if le == "+Inf" else float(le), float(v)) for le, v in
               re.findall(r"^" + family + r'_bucket\{le="([^"]+)"\} (\S+)$', text, re.M)]
    s = re.search(r"^" + family + r"_sum (\S+)$", text, re.M)
    n = re.search(r"^" + family + r"_count (\S+)$", text, re.M)
    if not buckets or not s or not n:
        return None
    return {"buckets": sorted(buckets), "sum": float(s.group(1)), "count": float(n.group(1))}


def histogram_delta(before, after):
    """The batches of a row: per bucket (lo, hi] how many batches, and their total records."""
    if not before or not after:
        return None
    per_bucket, lo = [], 0.0
    prev = 0.0
    for (le, a), (_, b) in zip(after["buckets"], before["buckets"]):
        cum = a - b
        per_bucket.append((lo, le, int(round(cum - prev))))
        prev, lo = cum, le
    return {"buckets": [b for b in per_bucket if b[2] > 0], "sum": int(round(after["sum"] - before["sum"])),
            "count": int(round(after["count"] - before["count"]))}


def batch_sizes(delta, cap=100000, seed=1):
    """Integer batch sizes consistent with a histogram delta: delta["count"] batches, each inside its bucket, summing
    to delta["sum"] (as closely as the buckets allow). Every bucket's sizes sit at the same relative place t in
    [lo+1, hi], t found by bisection; the order is shuffled with a fixed seed."""
    spans = [(int(lo) + 1, int(min(hi, cap)), n) for lo, hi, n in delta["buckets"]]

    def total(t):
        return sum(n * (a + t * (b - a)) for a, b, n in spans)
    lo_t, hi_t = 0.0, 1.0
    for _ in range(60):
        mid = (lo_t + hi_t) / 2
        if total(mid) < delta["sum"]:
            lo_t = mid
        else:
            hi_t = mid
    t = (lo_t + hi_t) / 2
    sizes = []
    for a, b, n in spans:
        want = n * (a + t * (b - a))
        base = int(want // n) if n else 0
        extra = int(round(want - base * n))
        sizes += [min(b, max(a, base + (1 if i < extra else 0))) for i in range(n)]
    random.Random(seed).shuffle(sizes)
    return sizes


def read_window(db, before, after, batch_size=20000):
    """The log's documents at natural-order positions [before, after), as raw BSON."""
    from bson.codec_options import CodecOptions
    from bson.raw_bson import RawBSONDocument
    coll = db.get_collection("events", codec_options=CodecOptions(document_class=RawBSONDocument))
    return list(coll.find({}, batch_size=batch_size).skip(before).limit(max(0, after - before)))


def insert_alone(uri, db_name, docs, per_writer_sizes, ferret_pid):
    """Insert 'docs' into a fresh collection: writer i sends consecutive documents in batches of
    per_writer_sizes[i] (cycled if documents remain), all writers at once. Returns the figures: documents, batches,
    seconds, FerretDB's CPU seconds and this process's CPU seconds over the inserts. The collection is dropped after."""
    import pymongo
    shares = [sum(s) for s in per_writer_sizes]
    total = sum(shares) or 1
    plans, start = [], 0
    for i, sizes in enumerate(per_writer_sizes):
        n = len(docs) - start if i == len(per_writer_sizes) - 1 else round(len(docs) * shares[i] / total)
        mine, plan, k = docs[start:start + n], [], 0
        start += n
        while k < len(mine) and sizes:
            for s in sizes:
                if k >= len(mine):
                    break
                plan.append(mine[k:k + s])
                k += s
        plans.append(plan)
    clients = [pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000) for _ in plans]
    try:
        db = clients[0][db_name]
        db.drop_collection(COLLECTION)
        db.create_collection(COLLECTION)
        for c in clients:
            c[db_name].command("ping")
        errors = []
        go = threading.Barrier(len(plans) + 1)

        def writer(client, plan):
            coll = client[db_name][COLLECTION]
            go.wait()
            try:
                for batch in plan:
                    coll.insert_many(batch, ordered=False)
            except Exception as e:  # reported, and the figures are then not used
                errors.append(f"{type(e).__name__}: {e}"[:500])
        threads = [threading.Thread(target=writer, args=(c, p)) for c, p in zip(clients, plans)]
        for th in threads:
            th.start()
        f0, c0 = proc_cpu(ferret_pid), sum(os.times()[:2])
        t0 = time.monotonic()
        go.wait()
        for th in threads:
            th.join()
        seconds = time.monotonic() - t0
        f1, c1 = proc_cpu(ferret_pid), sum(os.times()[:2])
        count = db.command("collStats", COLLECTION)["count"]
        db.drop_collection(COLLECTION)
    finally:
        for c in clients:
            c.close()
    return {"docs": sum(len(b) for p in plans for b in p), "stored": count, "batches": sum(len(p) for p in plans),
            "writers": len(plans), "seconds": seconds,
            "ferretdb_cpu": (f1 - f0) if f0 is not None and f1 is not None else None, "client_cpu": c1 - c0,
            "errors": errors}
