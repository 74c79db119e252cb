"""What a setting costs: the same POST load on two identical stacks that differ in one setting, in alternation
(A-B-A-B-..., so a drift of the shared machine or of the growing logs hits both alike), and their throughput, p99
and CPU per answer side by side. `make bench` runs it after bench/bench.py three times:
- metrics and tracing: METRICS=on TRACING=on (the default) against both off, into
  bench/results/overhead-latest.md; the target is on ≥ 0.97 × off;
- `--what log`: the event log as it is written now (task commits, LOG_MERGE_MS, STORE_LINGER_MS and TASK_IDS at
  their defaults) against one document per record written at once under random ids (LOG_MERGE_MS=0
  STORE_LINGER_MS=0 TASK_IDS=random, the shape before task commits), into bench/results/log-cost.md; the target is
  FerretDB's CPU per answer at most half;
- `--what ids`: time-ordered task ids (the default) against TASK_IDS=random, into bench/results/ids-cost.md.
Not run by `make bench`: `--what code --against DIR` runs the daemons of --build (on) against those built in DIR
(off; e.g. an earlier commit built there with `make bench`'s cmake lines), same settings, into
bench/results/code-cost.md: what a change of the code did, measured the same hour. `--what aof` (not run by `make
bench` either): Redis with its append-only file, as every stack runs it, against Redis without one, into
bench/results/aof-cost.md.

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
# --what: the two stacks' settings, what the report calls them, and its file. metrics or tracing switch only that
# one (the other stays on in both stacks), to see which costs.
WHAT = {
    "both": ({"on": {"METRICS": "on", "TRACING": "on"}, "off": {"METRICS": "off", "TRACING": "off"}},
             "metrics and tracing", "overhead-latest.md"),
    "metrics": ({"on": {"METRICS": "on"}, "off": {"METRICS": "off"}}, "metrics (tracing on in both)",
                "overhead-metrics.md"),
    "tracing": ({"on": {"TRACING": "on"}, "off": {"TRACING": "off"}}, "tracing (metrics on in both)",
                "overhead-tracing.md"),
    "log": ({"on": {}, "off": {"LOG_MERGE_MS": "0", "STORE_LINGER_MS": "0", "TASK_IDS": "random"}},
            "task commits, lingering inserts, time-ordered task ids and FerretDB's collector setting (on: the "
            "defaults) against one document per record written at once, random ids and Go's default collector (off: "
            "LOG_MERGE_MS=0 STORE_LINGER_MS=0 TASK_IDS=random, FerretDB with GOGC=100)", "log-cost.md"),
    "linger": ({"on": {}, "off": {"STORE_LINGER_MS": os.environ.get("TASKBUS_BENCH_LINGER_OFF", "0")}},
               "STORE_LINGER_MS at its default (on) against TASKBUS_BENCH_LINGER_OFF (off; default 0: each bulk "
               "insert starts as soon as the last one ended)", "linger-cost.md"),
    "ids": ({"on": {}, "off": {"TASK_IDS": "random"}},
            "time-ordered task ids (on: the default) against random ones (off: TASK_IDS=random)", "ids-cost.md"),
    "code": ({"on": {}, "off": {}}, "the daemons of --build (on) against those of --against (off)", "code-cost.md"),
    "aof": ({"on": {}, "off": {}}, "Redis's append-only file (on: as the stacks run it) against none (off: Redis keeps "
            "nothing across a restart, a measurement only)", "aof-cost.md"),
}
# Redis's append-only file per stack (tests/harness.py redis_aof; default on).
REDIS_AOF = {"aof": {"off": False}}
# FerretDB's environment per stack (tests/harness.py FERRETDB_GC; None: unset, Go's default).
STORE_ENV = {"log": {"off": {"GOGC": None, "GOMEMLIMIT": None}}}
LOG_TARGET = 0.5   # --what log: FerretDB's CPU per answer, on / off


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
    p.add_argument("--what", choices=sorted(WHAT), default="both",
                   help="switch metrics and tracing (both, the default), only metrics or only tracing, the "
                        "event log's shape (log), the task ids' order (ids), STORE_LINGER_MS (linger), or the daemons "
                        "of another build (code, with --against), or Redis's append-only file (aof)")
    p.add_argument("--against", help="--what code: the build directory whose daemons are the 'off' side")
    args = p.parse_args()
    if (args.what == "code") != bool(args.against):
        p.error("--against goes with --what code, and --what code needs it")
    if args.against and not os.path.isfile(os.path.join(args.against, "events")):
        p.error(f"--against {args.against}: no daemons built there (events is missing)")
    return args


def cpu_of(stack):
    """CPU seconds of every process of 'stack' (daemons and servers) by name."""
    return {p.name: bench.proc_figures(p.pid)[1] or 0.0 for p in stack.daemons + stack.servers}


def main():
    args = parse_args()
    command = shlex.join([sys.executable] + sys.argv)
    if args.what == "linger":  # the value compared against is in the environment: the report names it
        command = f"TASKBUS_BENCH_LINGER_OFF={WHAT['linger'][0]['off']['STORE_LINGER_MS']} {command}"
    started = datetime.datetime.now(datetime.timezone.utc)
    work = tempfile.mkdtemp(prefix="taskbus-overhead-")
    lua = bench.write_lua(work, "mix.lua", bench.BODIES)
    base_env = bench.STACK_ENV
    stacks, rows, errors = {}, [], []
    try:
        modes, switched, name = WHAT[args.what]
        for mode, env in modes.items():
            os.makedirs(os.path.join(work, mode))
            build = args.against if args.what == "code" and mode == "off" else args.build
            stacks[mode] = harness.Stack(build, workdir=os.path.join(work, mode), env=dict(base_env, **env),
                                         store_env=STORE_ENV.get(args.what, {}).get(mode),
                                         redis_aof=REDIS_AOF.get(args.what, {}).get(mode, True))
            stacks[mode].start()
        for mode, stack in stacks.items():  # warm-up: the first seconds of a stack are slower
            bench.wrk(stack.frontend_ports, "/task", lua, 16, 2, args.threads)
        for k in range(args.rounds):
            for mode in (("on", "off") if k % 2 == 0 else ("off", "on")):
                stack = stacks[mode]
                print(f"overhead: round {k + 1} of {args.rounds}, {args.what} {mode} ...", file=sys.stderr,
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
    title = {"log": "The event log's cost", "ids": "The event log's cost", "linger": "The event log's cost",
             "code": "What the code changed", "aof": "What Redis's append-only file costs"}.get(args.what, "Overhead")
    if args.what == "code":
        switched = f"the daemons of {args.build} (on) against those of {args.against} (off)"
    lines = [f"# {title}: {switched} ({started:%Y-%m-%d %H:%M} UTC)" if args.what in ("code", "aof") else
             f"# {title} of {switched} ({started:%Y-%m-%d %H:%M} UTC)", "",
             f"- command: `{command}`", f"- machine: {bench.machine()}",
             f"- load: wrk, {args.conns} connections, the five seed bodies, {args.seconds:g} s per row, "
             f"{args.rounds} rounds in alternation (on/off, then off/on, ...)", "",
             "| round | mode | req/s | p50 ms | p99 ms | CPU µs per answer (all processes) |", "|---|---|---|---|---|---|"]
    for i, r in enumerate(rows):
        lines.append(f"| {i // 2 + 1} | {r['mode']} | {r['rps']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} | "
                     f"{sum(r['cpu_us'].values()):.0f} |")
    summary = (f"**on / off: {ratio:.3f}** of the req/s (mean {mean('on', 'rps'):,.0f} vs "
               f"{mean('off', 'rps'):,.0f}); p99 {mean('on', 'p99'):.2f} vs {mean('off', 'p99'):.2f} ms; CPU per "
               f"answer {cpu('on'):.0f} vs {cpu('off'):.0f} µs.")
    if args.what == "aof":
        redis = cpu("on", "redis") / cpu("off", "redis") if cpu("off", "redis") else 0.0
        summary += (f" **Redis's CPU per answer, on / off: {redis:.2f}** ({cpu('on', 'redis'):.0f} vs "
                    f"{cpu('off', 'redis'):.0f} µs).")
    if args.what in ("log", "ids", "linger", "code"):
        store = cpu("on", "ferretdb") / cpu("off", "ferretdb") if cpu("off", "ferretdb") else 0.0
        summary += (f" **The log's cost per answer (FerretDB's CPU), on / off: {store:.2f}** "
                    f"({cpu('on', 'ferretdb'):.0f} vs {cpu('off', 'ferretdb'):.0f} µs).")
    if args.what == "log":
        verdict = "PASS" if store <= LOG_TARGET and not errors else "MISS"
        summary += f" Target ≤ {LOG_TARGET}: {verdict}."
    elif args.what not in ("ids", "linger", "code", "aof"):  # no target: the figures are the result
        summary += f" Target ≥ {TARGET}: {verdict}."
    lines += ["", summary, ""]
    lines += ["| process | CPU µs per answer, on | off | on − off |", "|---|---|---|---|"]
    lines += [f"| {n} | {cpu('on', n):.1f} | {cpu('off', n):.1f} | {cpu('on', n) - cpu('off', n):+.1f} |"
              for n in names]
    lines += [""] + [f"- error: {e}" for e in errors]
    report = "\n".join(lines) + "\n"
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, name), "w") as f:
        f.write(report)
    print(report)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
