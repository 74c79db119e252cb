"""What metrics and tracing cost: the same POST load on two identical stacks, one with METRICS=on TRACING=on (the
default) and one with both off, in alternation (A-B-A-B-..., so a drift of the shared machine or of the growing
logs hits both alike), and their throughput, p99 and CPU per answer side by side. `make bench` runs it after
bench/bench.py and writes bench/results/overhead-latest.md; the target is on ≥ 0.97 × off.

Both stacks run at once on free loopback ports (tests/harness.py); only the one being measured gets load.
"""
import argparse
import datetime
import os
import shlex
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (bench/bench.py: wrk, its Lua script, /proc figures)

harness = bench.harness
TARGET = 0.97
MODES = {"on": {"METRICS": "on", "TRACING": "on"}, "off": {"METRICS": "off", "TRACING": "off"}}
# --what metrics or --what tracing: switch only that one (the other stays on in both stacks), to see which costs.
ONLY = {"metrics": {"on": {"METRICS": "on"}, "off": {"METRICS": "off"}},
        "tracing": {"on": {"TRACING": "on"}, "off": {"TRACING": "off"}}}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default="build-bench", help="directory with the daemons (default build-bench)")
    p.add_argument("--seconds", type=float, default=float(os.environ.get("TASKBUS_BENCH_OVERHEAD_SECONDS", 10)),
                   help="seconds per row (TASKBUS_BENCH_OVERHEAD_SECONDS, default 10)")
    p.add_argument("--rounds", type=int, default=int(os.environ.get("TASKBUS_BENCH_OVERHEAD_ROUNDS", 6)),
                   help="on/off pairs (TASKBUS_BENCH_OVERHEAD_ROUNDS, default 6: a row's noise on a shared "
                        "machine is ~10 %%, larger than the effect)")
    p.add_argument("--conns", type=int, default=bench.TARGET_CONNS, help="connections (default 64)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    p.add_argument("--out", default=os.path.join(bench.TOP, "bench", "results"), help="where the report goes")
    p.add_argument("--what", choices=["both", "metrics", "tracing"], default="both",
                   help="switch both (default), or only metrics or only tracing; the report is then "
                        "overhead-<what>.md")
    return p.parse_args()


def cpu_of(stack):
    """CPU seconds of every process of 'stack' (daemons and servers) by name."""
    return {p.name: bench.proc_figures(p.pid)[1] or 0.0 for p in stack.daemons + stack.servers}


def main():
    args = parse_args()
    command = shlex.join([sys.executable] + sys.argv)
    started = datetime.datetime.now(datetime.timezone.utc)
    work = tempfile.mkdtemp(prefix="taskbus-overhead-")
    lua = bench.write_lua(work, "mix.lua", bench.BODIES)
    base_env = {"HEARTBEAT_MS": "1000", "REPLICA_TTL_MS": "3000", "LOG_LEVEL": "info", "MAX_CONNECTIONS_PER_IP": "0"}
    stacks, rows, errors = {}, [], []
    try:
        modes = MODES if args.what == "both" else ONLY[args.what]
        for mode, env in modes.items():
            os.makedirs(os.path.join(work, mode))
            stacks[mode] = harness.Stack(args.build, workdir=os.path.join(work, mode), env=dict(base_env, **env))
            stacks[mode].start()
        for mode, stack in stacks.items():  # warm-up: the first seconds of a stack are slower
            bench.wrk(stack.frontend_ports, "/task", lua, 16, 2, args.threads)
        for k in range(args.rounds):
            for mode in (("on", "off") if k % 2 == 0 else ("off", "on")):
                stack = stacks[mode]
                print(f"overhead: round {k + 1} of {args.rounds}, metrics and tracing {mode} ...", file=sys.stderr,
                      flush=True)
                before = cpu_of(stack)
                r = bench.wrk(stack.frontend_ports, "/task", lua, args.conns, args.seconds, args.threads)
                after = cpu_of(stack)
                r["cpu_us"] = {n: (after[n] - before[n]) * 1e6 / max(r["requests"], 1) for n in after}
                r["mode"] = mode
                rows.append(r)
                if r["non2xx"] or r["timeout"]:
                    errors.append(f"{mode}, round {k + 1}: {r['non2xx']} non-2xx, {r['timeout']} timeouts")
                time.sleep(1)
    finally:
        for stack in stacks.values():
            try:
                stack.stop()
            except AssertionError as e:
                errors.append(str(e))

    def mean(mode, key):
        vals = [r[key] for r in rows if r["mode"] == mode]
        return sum(vals) / len(vals) if vals else 0.0

    def cpu(mode, name=None):
        per = [sum(v for n, v in r["cpu_us"].items() if name is None or n == name) for r in rows if r["mode"] == mode]
        return sum(per) / len(per) if per else 0.0
    names = sorted({n for r in rows for n in r["cpu_us"]})
    ratio = mean("on", "rps") / mean("off", "rps") if mean("off", "rps") else 0.0
    verdict = "PASS" if ratio >= TARGET and not errors else "MISS"
    switched = {"both": "metrics and tracing", "metrics": "metrics (tracing on in both)",
                "tracing": "tracing (metrics on in both)"}[args.what]
    lines = [f"# Overhead of {switched} ({started:%Y-%m-%d %H:%M} UTC)", "",
             f"- command: `{command}`", f"- machine: {bench.machine()}",
             f"- load: wrk, {args.conns} connections, the five seed bodies, {args.seconds:g} s per row, "
             f"{args.rounds} rounds in alternation (on/off, then off/on, ...)", "",
             "| round | mode | req/s | p50 ms | p99 ms | CPU µs per answer (all processes) |", "|---|---|---|---|---|---|"]
    for i, r in enumerate(rows):
        lines.append(f"| {i // 2 + 1} | {r['mode']} | {r['rps']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} | "
                     f"{sum(r['cpu_us'].values()):.0f} |")
    lines += ["", f"**on / off: {ratio:.3f}** of the req/s (mean {mean('on', 'rps'):,.0f} vs "
              f"{mean('off', 'rps'):,.0f}); p99 {mean('on', 'p99'):.2f} vs {mean('off', 'p99'):.2f} ms; CPU per "
              f"answer {cpu('on'):.0f} vs {cpu('off'):.0f} µs. Target ≥ {TARGET}: {verdict}.", ""]
    lines += ["| process | CPU µs per answer, on | off | on − off |", "|---|---|---|---|"]
    lines += [f"| {n} | {cpu('on', n):.1f} | {cpu('off', n):.1f} | {cpu('on', n) - cpu('off', n):+.1f} |"
              for n in names]
    lines += [""] + [f"- error: {e}" for e in errors]
    report = "\n".join(lines) + "\n"
    os.makedirs(args.out, exist_ok=True)
    name = "overhead-latest.md" if args.what == "both" else f"overhead-{args.what}.md"
    with open(os.path.join(args.out, name), "w") as f:
        f.write(report)
    print(report)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
