"""Memory under a long or wide load: the five seed bodies (wrk) against a stack of optimized daemons for --seconds at
--connections, sampling every daemon's resident memory (VmRSS) as it goes. Two uses:

    /usr/bin/python3 bench/soak.py --build build-bench                         # 5 minutes at 64 connections: flat?
    /usr/bin/python3 bench/soak.py --build build-bench --connections 9000 --seconds 10 [--env CONNECTION_MEMORY=2048]

Prints a table (and writes it to bench/results/soak-<connections>.md): RSS per daemon at each sample, peak (VmHWM),
requests/s and non-2xx answers.
"""
import argparse
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (reuses its wrk script, runner and parsers)
import harness  # noqa: E402  (bench put tests/ on the path)


def rss_mb(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(bench.TOP, "build-bench"))
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--env", action="append", default=[], help="KEY=VALUE for the daemons")
    args = ap.parse_args()
    bench.raise_nofile(args.connections + 1000)
    env = dict(kv.split("=", 1) for kv in args.env)
    env.setdefault("MAX_IN_FLIGHT", str(max(10000, args.connections)))
    work = tempfile.mkdtemp(prefix="taskbus-soak-")
    stack = harness.Stack(args.build, workdir=work, env=env)
    rows, stop = [], threading.Event()
    try:
        stack.start()
        daemons = [(d.name, d.pid) for d in stack.daemons]
        lua = bench.write_lua(work, "mix.lua", bench.BODIES)

        def sample():
            t0 = time.monotonic()
            while not stop.wait(args.seconds / args.samples):
                rows.append((time.monotonic() - t0, [rss_mb(pid, "VmRSS") for _, pid in daemons]))

        sampler = threading.Thread(target=sample)
        sampler.start()
        result = bench.wrk(stack.frontend_ports, "/task", lua, args.connections, args.seconds, 2)
        stop.set()
        sampler.join()
        peaks = [rss_mb(pid, "VmHWM") for _, pid in daemons]
    finally:
        stop.set()
        stack.stop(check=False)
    head = "| t (s) | " + " | ".join(name for name, _ in daemons) + " |"
    lines = [f"# soak: {args.connections} connections, {args.seconds:g} s, env {env}", "",
             f"wrk: {result['rps']:,.0f} req/s, {result['requests']:,} answers, {result['non2xx']} non-2xx, "
             f"p99 {result['p99']:.1f} ms, socket errors c/r/w/t {result['connect']}/{result['read']}/"
             f"{result['write']}/{result['timeout']}", "",
             "RSS in MB (VmRSS) while the load runs, then the peak (VmHWM):", "", head,
             "|" + "---|" * (len(daemons) + 1)]
    for t, values in rows:
        lines.append(f"| {t:.0f} | " + " | ".join("-" if v is None else f"{v:.1f}" for v in values) + " |")
    lines.append("| peak | " + " | ".join("-" if v is None else f"{v:.1f}" for v in peaks) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    out = os.path.join(bench.TOP, "bench", "results", f"soak-{args.connections}.md")
    with open(out, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
