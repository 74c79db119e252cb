"""Redis memory of the read model (the projection) per task: the five seed bodies (wrk, 64 connections) for
--seconds against a stack of optimized daemons, with kept answers off (OUTCOME_TTL_S=0) so that what Redis gains
is the projection; then Redis's used_memory after minus before, per task, and the share of the task hashes and of
the listing indexes (MEMORY USAGE).

    /usr/bin/python3 bench/projection_memory.py --build build-bench [--seconds 20]

Prints a short table and writes it to bench/results/projection-memory.md.
"""
import argparse
import os
import random
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (its wrk script and runner)
import harness  # noqa: E402  (bench put tests/ on the path)

INDEX_PATTERN = "taskbus:index:*:*"  # the sets "taskbus:index:<bucket>:<service>", not taskbus:index:services
HASH_PATTERN = "taskbus:task:*"


def used_memory(redis):
    info = redis.command("INFO", "memory").decode()
    return int(next(line.split(":")[1] for line in info.splitlines() if line.startswith("used_memory:")))


def keys(redis, pattern):
    found, cursor = [], b"0"
    while True:
        cursor, batch = redis.command("SCAN", cursor, "MATCH", pattern, "COUNT", 10000)
        found += batch
        if cursor == b"0":
            return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(bench.TOP, "build-bench"))
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--sample", type=int, default=2000, help="task hashes measured with MEMORY USAGE")
    ap.add_argument("--redis-config", action="append", default=[], metavar="NAME=VALUE",
                    help="CONFIG SET this on the stack's redis-server first (e.g. hash-max-listpack-value=64)")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="taskbus-projmem-")
    stack = harness.Stack(args.build, workdir=work, env={"OUTCOME_TTL_S": "0", "TASK_RETENTION_S": "3600"})
    try:
        stack.start()
        lua = bench.write_lua(work, "mix.lua", bench.BODIES)
        with harness.Redis(stack.redis_port) as redis:
            for kv in args.redis_config:
                redis.command("CONFIG", "SET", *kv.split("=", 1))
            before = used_memory(redis)
            row = bench.wrk(stack.frontend_ports, "/task", lua, args.connections, args.seconds, 2)
            time.sleep(1)  # the last records' projections
            after = used_memory(redis)
            hashes = keys(redis, HASH_PATTERN)
            indexes = keys(redis, INDEX_PATTERN)
            sample = random.sample(hashes, min(args.sample, len(hashes)))
            hash_bytes = sum(redis.command("MEMORY", "USAGE", k, "SAMPLES", 0) for k in sample) / max(1, len(sample))
            index_bytes = sum(redis.command("MEMORY", "USAGE", k, "SAMPLES", 0) for k in indexes)
            entries = sum(redis.command("ZCARD", k) for k in indexes)
        tasks = len(hashes)
        lines = [
            f"Projection memory ({time.strftime('%Y-%m-%d')}, {bench.machine()}; `{' '.join(sys.argv)}`):",
            "",
            "| tasks | req/s | Redis used_memory growth | per task | task hash (mean) | index entries per task | "
            "indexes per task |",
            "|---:|---:|---:|---:|---:|---:|---:|",
            f"| {tasks:,} | {row['rps']:,.0f} | {(after - before) / 1e6:,.1f} MB | {(after - before) / max(1, tasks):,.0f} B "
            f"| {hash_bytes:,.0f} B | {entries / max(1, tasks):.1f} | {index_bytes / max(1, tasks):,.0f} B |",
        ]
        text = "\n".join(lines)
        print(text)
        os.makedirs(os.path.join(bench.TOP, "bench", "results"), exist_ok=True)
        with open(os.path.join(bench.TOP, "bench", "results", "projection-memory.md"), "w") as f:
            f.write(text + "\n")
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
