"""Redis CPU of the projection's apply script per task, on a redis-server of its own (no pipeline, no store): the
script is read from common/projection.c, loaded, and called for --tasks tasks as events calls it: one entry per task
commit (the outcome with its arrival, records of the pipeline's shape), --batch entries per script call (default
32, PROJECTION_BATCH; 1 is one call per task), pipelined on one connection; the figure is redis-server's CPU time
(from /proc) divided by the tasks.

    /usr/bin/python3 bench/projection_cost.py [--tasks 30000] [--repeat 5] [--batch 32] [--aof] [--script file.lua]
                                              [--direct]

--script measures another version of the script (e.g. a candidate change) against the same records. --direct
measures the same task commits written as events writes them without the script ("direct writes" in
common/projection.c: HSET, PEXPIREAT NX and GT, ZADD per task, one SADD and one MULTI/EXEC per batch). Each round
uses a fresh redis-server; the median and the lowest of --repeat rounds are printed (shared machines are noisy).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tests"))
import harness  # noqa: E402


def apply_script():
    """The Lua text of apply_lua in common/projection.c (a C string literal, one quoted piece a line)."""
    src = open(os.path.join(TOP, "common", "projection.c")).read()
    start = src.index("static const char apply_lua[] =")
    body = src[start:src.index(";\n", start)].splitlines()[1:]
    return "".join(json.loads(line.strip()) for line in body if line.strip().startswith('"'))


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=30000)
    ap.add_argument("--script", help="a Lua file to measure instead of the one in common/projection.c")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--batch", type=int, default=32, help="task commits per script call (events: PROJECTION_BATCH)")
    ap.add_argument("--aof", action="store_true", help="run redis-server with appendonly yes (as the stack does)")
    ap.add_argument("--direct", action="store_true", help="plain commands, as events writes a first replica's "
                    "task commits, instead of the script")
    args = ap.parse_args()
    lua = None if args.direct else open(args.script).read() if args.script else apply_script()
    rounds = sorted(one_round(lua, args.tasks, args.aof, args.batch) for _ in range(args.repeat))
    what = "direct writes" if args.direct else "--script " + args.script if args.script else "common/projection.c"
    print(f"{args.tasks:,} tasks, {args.repeat} rounds: median {rounds[len(rounds) // 2]:.1f}, lowest {rounds[0]:.1f} "
          f"µs of Redis CPU per task ({what}{', append-only file' if args.aof else ''}, {args.batch} per call)")


def direct_commands(tid, received, outcome, now, retention_ms):
    """The commands events sends for one task commit written directly (common/projection.c, "direct writes")."""
    key, created = f"taskbus:task:{tid}", now
    return [resp("HSET", key, "status", "completed", "created", created, f"{tid}:outcome", outcome, f"{tid}:0",
                 received, "service", "arithmetic", "taskType", "NUMBER", "result", "15"),
            resp("PEXPIREAT", key, now + 2 + retention_ms, "NX"), resp("PEXPIREAT", key, now + 2 + retention_ms, "GT"),
            resp("ZADD", "taskbus:index:completed:arithmetic", 0, f"{created:016d}:{tid}")]


def one_round(lua, tasks, aof, per_call):
    """µs of redis-server CPU per task for 'tasks' tasks on a fresh server."""
    work = tempfile.mkdtemp(prefix="taskbus-projcost-")
    port = harness.free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "yes" if aof else "no", "--appendfsync", "everysec", "--hash-max-listpack-value", "1024", "--dir", work],
                             stdout=subprocess.DEVNULL)
    try:
        harness.wait_until("redis-server", lambda: harness.Redis(port).command("PING") == "PONG")
        client = harness.Redis(port)
        sha = client.command("SCRIPT", "LOAD", lua).decode() if lua else None
        received = {"_id": "X:0", "task": "X", "seq": 0, "type": "received", "at": {"$date": "2026-12-01T20:00:00.123Z"},
                    "events": "events-host-1-0a1b2c3d", "frontend": "frontend-host-2-4e5f6a7b",
                    "request": '{"a1":5,"a2":10}', "taskType": "NUMBER", "subtask": "ADD", "service": "arithmetic",
                    "backend": "arithmetic-host-3-8c9d0e1f", "attempt": 1}
        outcome = {"_id": "X:outcome", "task": "X", "seq": 1, "type": "completed",
                   "at": {"$date": "2026-12-01T20:00:00.125Z"}, "events": "events-host-1-0a1b2c3d", "status": 200,
                   "result": "15", "backend": "arithmetic-host-3-8c9d0e1f"}
        now = int(time.time() * 1000)
        calls, entries = [], []
        for i in range(tasks):
            tid = "%032x" % i
            if not lua:
                if i % per_call == 0:
                    calls.append(resp("MULTI"))
                calls += direct_commands(tid, json.dumps(received).replace("X", tid),
                                         json.dumps(outcome).replace("X", tid), now + i, 600000)
                if i % per_call == per_call - 1 or i == tasks - 1:
                    calls += [resp("SADD", "taskbus:index:services", "arithmetic"), resp("EXEC")]
                continue
            entries += [tid, f"{tid}:outcome", json.dumps(outcome).replace("X", tid), "completed", "arithmetic",
                        "NUMBER", now + i + 2, "15", "", "", f"{tid}:0", json.dumps(received).replace("X", tid), now + i]
            if i % per_call == per_call - 1 or i == tasks - 1:
                calls.append(resp("EVALSHA", sha, 0, 600000, now + tasks, *entries))
                entries = []
        before = cpu_seconds(redis.pid)
        client.sock.sendall(b"".join(calls))
        for _ in calls:
            reply = client._reply()
            if lua and (not isinstance(reply, list) or any(r != 1 for r in reply)):  # an error reply raises
                raise RuntimeError(f"the script answered {reply!r}")
        return (cpu_seconds(redis.pid) - before) / tasks * 1e6
    finally:
        redis.kill()
        redis.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
