"""Where a task's time goes: a stack of tests/harness.py under wrk (the five seed bodies, 64 connections by default),
and the mean of each stage of `taskbus_stage_seconds` over each row, from the daemons' GET /metrics before and after
it, with the store's bulk inserts (`taskbus_store_insert_seconds`, `taskbus_store_batch_records`). Prints one block
per row; nothing is written.

    /usr/bin/python3 bench/stages.py [--build build-bench] [--rounds 2] [--seconds 8] [--conns 64] [--events 1]
                                     [KEY=VALUE ...]

KEY=VALUE pairs go to every daemon's environment, e.g. `STORE_LINGER_MS=0`. A task's answer waits for its record's
bulk insert (`store_commit`, from store_append to stored), inside `events` (arrival at events to its answer), inside
`end_to_end` (the frontend, as the client saw it).
"""
import argparse
import os
import re
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (bench/bench.py: wrk, its Lua script)

harness = bench.harness
FAMILIES = ("taskbus_stage_seconds", "taskbus_store_insert_seconds", "taskbus_store_batch_records")


def scrape(port):
    """{(family, labels, "sum" | "count"): value} of FAMILIES from GET /metrics on 'port'."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    found = {}
    for family in FAMILIES:
        for m in re.finditer(r"^" + family + r"_(sum|count)(\{[^}]*\})? (\S+)$", text, re.M):
            found[(family, m.group(2) or "", m.group(1))] = float(m.group(3))
    return found


def report(name, before, after):
    """The lines of one daemon: each series' mean over the row (ms for seconds, records for batch sizes)."""
    lines = []
    for key in sorted(k for k in after if k[2] == "sum"):
        count_key = key[:2] + ("count",)
        n = after.get(count_key, 0) - before.get(count_key, 0)
        if n <= 0:
            continue
        mean = (after[key] - before.get(key, 0)) / n
        shown = f"{mean * 1000:.2f} ms" if key[0].endswith("_seconds") else f"{mean:.1f}"
        lines.append(f"  {name} {key[0]}{key[1]}: mean {shown} over {n:,.0f}")
    return lines


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default="build-bench", help="directory with the daemons (default build-bench)")
    p.add_argument("--rounds", type=int, default=2, help="rows of load (default 2)")
    p.add_argument("--seconds", type=float, default=8, help="seconds per row (default 8)")
    p.add_argument("--conns", type=int, default=bench.TARGET_CONNS, help="connections (default 64)")
    p.add_argument("--events", type=int, default=1, help="events replicas (default 1)")
    p.add_argument("env", nargs="*", metavar="KEY=VALUE", help="daemon environment")
    args = p.parse_args()
    extra = dict(kv.split("=", 1) for kv in args.env if "=" in kv)
    if len(extra) != len(args.env):
        p.error("environment settings are KEY=VALUE")
    env = dict(bench.STACK_ENV)
    env.update(extra)
    work = tempfile.mkdtemp(prefix="taskbus-stages-")
    script = bench.write_lua(work, "mix.lua", bench.BODIES)
    stack = harness.Stack(args.build, workdir=work, env=env, events=args.events)
    stack.start()
    try:
        bench.wrk(stack.frontend_ports, "/task", script, 16, 2, 2)   # warm-up: a stack's first seconds are slower
        procs = [d for d in stack.daemons if d.name.startswith(("frontend", "events"))]
        for k in range(args.rounds):
            before = {d.name: scrape(d.metrics_port) for d in procs}
            row = bench.wrk(stack.frontend_ports, "/task", script, args.conns, args.seconds, 2)
            after = {d.name: scrape(d.metrics_port) for d in procs}
            print(f"row {k + 1}: {row['rps']:,.0f} req/s, p50 {row['p50']:.2f} ms, p99 {row['p99']:.2f} ms, "
                  f"non-2xx {row['non2xx']}")
            for d in procs:
                print("\n".join(report(d.name, before[d.name], after[d.name])))
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
