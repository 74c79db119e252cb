"""Where each process of the pipeline spends its CPU: `perf record` of a whole local stack under the bench's POST load,
then the top functions of each process (frontend, events, backends, redis-server, FerretDB) by their share of that
process's samples. Writes bench/results/profile-latest.md.

    /usr/bin/python3 bench/profile.py --build build-bench [--seconds 20] [--conns 64] [--top 15]

Needs Debian's linux-perf and permission to profile other processes (root, or kernel.perf_event_paranoid <= 1).
Optimized daemons without frame pointers give flat profiles (self time per function), which is what the table shows.
"""
import argparse
import collections
import datetime
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (bench/bench.py: wrk, its Lua script)

harness = bench.harness


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default="build-bench", help="directory with the daemons (default build-bench)")
    p.add_argument("--seconds", type=float, default=20, help="seconds of load under perf (default 20)")
    p.add_argument("--conns", type=int, default=bench.TARGET_CONNS, help="connections (default 64)")
    p.add_argument("--top", type=int, default=15, help="functions per process (default 15)")
    p.add_argument("--out", default=os.path.join(bench.TOP, "bench", "results"), help="where the report goes")
    return p.parse_args()


def samples(perf_data, pids):
    """{process name: Counter(symbol: samples)} from `perf script`, for the pids of the stack."""
    out = subprocess.run(["perf", "script", "-i", perf_data, "-F", "pid,ip,sym,dso"], capture_output=True,
                         text=True, timeout=600).stdout
    per = collections.defaultdict(collections.Counter)
    for line in out.splitlines():
        parts = line.split(None, 2)  # pid, ip, "symbol (dso)"
        if len(parts) < 3 or not parts[0].isdigit() or int(parts[0]) not in pids:
            continue
        sym = parts[2].strip()
        if "(" in sym:  # keep the function and the library's base name
            name, dso = sym.rsplit("(", 1)
            sym = f"{name.strip() or '[unknown]'} ({os.path.basename(dso.rstrip(')'))})"
        per[pids[int(parts[0])]][sym] += 1
    return per


def main():
    args = parse_args()
    if not shutil.which("perf"):
        sys.exit("profile: perf is missing (Debian linux-perf)")
    command = shlex.join([sys.executable] + sys.argv)
    started = datetime.datetime.now(datetime.timezone.utc)
    work = tempfile.mkdtemp(prefix="taskbus-profile-")
    lua = bench.write_lua(work, "mix.lua", bench.BODIES)
    env = dict(bench.STACK_ENV)
    stack = harness.Stack(args.build, workdir=os.path.join(work, "stack"), env=env)
    perf_data = os.path.join(work, "perf.data")
    try:
        stack.start()
        bench.wrk(stack.frontend_ports, "/task", lua, 16, 3, 2)  # warm-up
        procs = stack.daemons + stack.servers
        pids = {p.pid: p.name for p in procs}
        perf = subprocess.Popen(["perf", "record", "-F", "499", "-o", perf_data, "-p",
                                 ",".join(str(p) for p in pids)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(1)
        row = bench.wrk(stack.frontend_ports, "/task", lua, args.conns, args.seconds, 2)
        perf.send_signal(2)
        perf.wait(timeout=60)
    finally:
        stack.stop()
    per = samples(perf_data, pids)
    total = sum(sum(c.values()) for c in per.values())
    lines = [f"# Where the CPU goes ({started:%Y-%m-%d %H:%M} UTC)", "", f"- command: `{command}`",
             f"- machine: {bench.machine()}",
             f"- load: wrk, {args.conns} connections, the five seed bodies, {args.seconds:g} s: "
             f"{row['rps']:,.0f} req/s, p99 {row['p99']:.1f} ms",
             f"- perf record -F 499 of every process of the stack; {total:,} samples", ""]
    for name, c in sorted(per.items(), key=lambda kv: -sum(kv[1].values())):
        n = sum(c.values())
        lines += [f"## {name}: {n:,} samples ({100 * n / max(total, 1):.1f} % of the stack's)", "",
                  "| % of the process | function (library) |", "|---:|---|"]
        lines += [f"| {100 * k / n:.1f} | `{sym}` |" for sym, k in c.most_common(args.top)]
        lines.append("")
    report = "\n".join(lines) + "\n"
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "profile-latest.md"), "w") as f:
        f.write(report)
    print(report)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
