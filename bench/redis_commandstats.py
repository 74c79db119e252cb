"""Redis's time per task, by command: a stack of tests/harness.py (one replica each, Redis with its append-only file)
under `ab -k -c 64` of `{"a1":5,"a2":10}`, with Redis's INFO commandstats reset after a warm-up. Prints redis-server's
CPU per task (from /proc, everything it did) and each command's calls and µs per task (commands a script or a
MULTI/EXEC ran are counted under their own names as well as under EVALSHA/EXEC).

    /usr/bin/python3 bench/redis_commandstats.py [--build build-bench] [--requests 20000] [--no-aof]
"""
import argparse
import os
import subprocess
import sys
import tempfile

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tests"))
import harness  # noqa: E402


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def ab(port, body_file, requests):
    return subprocess.run(["ab", "-q", "-k", "-c", "64", "-n", str(requests), "-p", body_file, "-T", "application/json",
                           f"http://127.0.0.1:{port}/task"], capture_output=True, text=True, check=True).stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(TOP, "build-bench"))
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--no-aof", action="store_true", help="Redis without its append-only file (a measurement only)")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="taskbus-cmdstats-")
    body = os.path.join(work, "body.json")
    with open(body, "w") as f:
        f.write('{"a1":5,"a2":10}')
    stack = harness.Stack(args.build, workdir=work, redis_aof=not args.no_aof)
    try:
        stack.start()
        stack.wait_ready()
        port = stack.frontend_ports[0]
        ab(port, body, 3000)
        redis_pid = next(s for s in stack.servers if s.name.startswith("redis")).pid
        with stack.redis() as r:
            r.command("CONFIG", "RESETSTAT")
            before = cpu_seconds(redis_pid)
            out = ab(port, body, args.requests)
            spent = cpu_seconds(redis_pid) - before
            info = r.command("INFO", "commandstats").decode()
        for line in out.splitlines():
            if line.startswith(("Requests per second", "Failed requests", "Non-2xx")):
                print(line)
        print(f"redis-server CPU per task: {spent / args.requests * 1e6:.1f} µs")
        rows = []
        for line in info.splitlines():
            if line.startswith("cmdstat_"):
                name, rest = line[len("cmdstat_"):].split(":", 1)
                stats = dict(kv.split("=") for kv in rest.strip().split(","))
                rows.append((float(stats["usec"]) / args.requests, name, int(stats["calls"])))
        print(f"{'command':28} {'calls':>9} {'µs per task':>12}")
        for usec, name, calls in sorted(rows, reverse=True):
            print(f"{name:28} {calls:>9,} {usec:>12.2f}")
    finally:
        stack.stop(check=False)


if __name__ == "__main__":
    main()
