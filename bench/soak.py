"""Memory under a long or wide load: the five seed bodies (wrk) against a stack of optimized daemons for --seconds at
--connections, sampling every daemon's resident memory (VmRSS) as it goes. Two uses:

    /usr/bin/python3 bench/soak.py --build build-bench                         # 5 minutes at 64 connections: flat?
    /usr/bin/python3 bench/soak.py --build build-bench --connections 9000 --seconds 10 [--env CONNECTION_MEMORY=2048]
    /usr/bin/python3 bench/soak.py --build build-bench --seconds 90 --outage-at 15 --outage-seconds 60

The third stops the store (SIGSTOP of FerretDB) for --outage-seconds while the load runs: memory must stay bounded
(every queue has a cap) and every answer is a 2xx, a 503 (refused past a cap) or a 504 (its records were not stored
in time); the table says how many of each.

Prints a table (and writes it to bench/results/soak-<connections>.md): RSS per daemon at each sample, peak (VmHWM),
requests/s and non-2xx answers.
"""
import argparse
import os
import sys
import tempfile
import threading
import signal
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
    ap.add_argument("--outage-at", type=float, default=None, help="stop the store this many seconds into the load")
    ap.add_argument("--outage-seconds", type=float, default=60, help="for this long (SIGSTOP, then SIGCONT)")
    args = ap.parse_args()
    bench.raise_nofile(args.connections + 1000)
    env = dict(kv.split("=", 1) for kv in args.env)
    env.setdefault("MAX_IN_FLIGHT", str(max(10000, args.connections)))
    env.setdefault("MAX_CONNECTIONS_PER_IP", "0")  # every connection comes from 127.0.0.1
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

        def outage():
            store = next(p for p in stack.servers if p.name == "ferretdb")
            if stop.wait(args.outage_at):
                return
            os.kill(store.pid, signal.SIGSTOP)
            try:
                stop.wait(args.outage_seconds)
            finally:
                os.kill(store.pid, signal.SIGCONT)

        sampler = threading.Thread(target=sample)
        sampler.start()
        stopper = threading.Thread(target=outage) if args.outage_at is not None else None
        if stopper:
            stopper.start()
        result = bench.wrk(stack.frontend_ports, "/task", lua, args.connections, args.seconds, 2)
        stop.set()
        sampler.join()
        if stopper:
            stopper.join()
        peaks = [rss_mb(pid, "VmHWM") for _, pid in daemons]
    finally:
        stop.set()
        stack.stop(check=False)
    head = "| t (s) | " + " | ".join(name for name, _ in daemons) + " |"
    outage = (f", store stopped from {args.outage_at:g} s for {args.outage_seconds:g} s" if args.outage_at is not None
              else "")
    lines = [f"# soak: {args.connections} connections, {args.seconds:g} s{outage}, env {env}", "",
             f"wrk: {result['rps']:,.0f} req/s, {result['requests']:,} answers, {result['non2xx']} non-2xx, "
             f"p99 {result['p99']:.1f} ms, socket errors c/r/w/t {result['connect']}/{result['read']}/"
             f"{result['write']}/{result['timeout']}", "",
             "non-2xx answers by status: " + (", ".join(f"{k}: {v:,}" for k, v in sorted(result["statuses"].items()))
                                               or "none"), "",
             "RSS in MB (VmRSS) while the load runs, then the peak (VmHWM):", "", head,
             "|" + "---|" * (len(daemons) + 1)]
    for t, values in rows:
        lines.append(f"| {t:.0f} | " + " | ".join("-" if v is None else f"{v:.1f}" for v in values) + " |")
    lines.append("| peak | " + " | ".join("-" if v is None else f"{v:.1f}" for v in peaks) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    name = f"outage-{args.outage_seconds:g}s" if args.outage_at is not None else f"soak-{args.connections}"
    out = os.path.join(bench.TOP, "bench", "results", f"{name}.md")
    with open(out, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
