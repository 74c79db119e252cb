"""The pipeline's own CPU per task against the four-hop prototype of ../shared/ceiling/, the same hour (issue 11, item 3).

`make bench` runs this after bench/bench.py. The prototype is a measuring tool that lives outside the repository: it
is copied to a temporary folder and built there with `gcc -O2` as its README says, never copied into the project.
Its own driver hard-codes Redis on 16399 and HTTP on 18080, so this script starts its binaries itself on free ports
(they take their ports as arguments): redis-server (as its driver starts it: no persistence), be, ev, fe (pool 2,
epoll). Then, with the same wrk command (`wrk -t1 -c64 -d10s --latency`, its post.lua: `{"a1":5,"a2":10}`):

- the prototype's GET / and POST /task (four hops), with each process's CPU (utime + stime from /proc/<pid>/stat);
- our pipeline (tests/harness.py's stack from --build: redis-server, FerretDB, one replica of each daemon), GET / and
  POST /task, and the same POST row on a stack whose events replicas keep no event log (EVENTS_LOG=off-for-
  measurement, a measurement mode), with each process's CPU.

It reports our CPU per answered task without the store (every process but FerretDB) over the prototype's server CPU
per request (fe + ev + be + redis), target ≤ 1.5 (printed as PASS/MISS, never failing the run), and writes
bench/results/ceiling-latest.md with the date, the machine and the command. Without ../shared/ceiling it prints
"skipped: ../shared/ceiling not found" and exits 0. Errors (a build that fails, non-2xx answers or socket errors, a
daemon that dies) exit 1. Everything it starts is stopped by PID.
"""
import argparse
import datetime
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TOP, "tests"))
sys.path.insert(0, HERE)
import bench  # noqa: E402  (machine(), fmt(), proc_figures())
import harness  # noqa: E402

TARGET = 1.5        # issue 11: our non-store CPU per task within 1.5x of the prototype's
NOLOG_MODE = "off-for-measurement"
LIBS = ["-lmicrohttpd", "-levent", "-lhiredis", "-lcjson", "-lpthread"]


class CeilingError(Exception):
    pass


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build", default=os.environ.get("TASKBUS_BENCH_BUILD", os.path.join(TOP, "build-bench")),
                   help="folder with our optimized daemons (default build-bench)")
    p.add_argument("--ceiling", default=os.environ.get("TASKBUS_BENCH_CEILING_DIR",
                                                       os.path.join(TOP, "..", "shared", "ceiling")),
                   help="the prototype's folder (default ../shared/ceiling; TASKBUS_BENCH_CEILING_DIR)")
    p.add_argument("--seconds", type=float, default=float(os.environ.get("TASKBUS_BENCH_CEILING_SECONDS", 10)))
    p.add_argument("--conns", type=int, default=64)
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of load before each system's rows")
    p.add_argument("--nolog", type=int, default=1, help="1: also our POST row with EVENTS_LOG=off-for-measurement")
    p.add_argument("--out", default=os.path.join(TOP, "bench", "results"))
    return p.parse_args()


# ---------------------------------------------------------------- the prototype

def copy_and_build(src, dst):
    """Copy the prototype's folder into 'dst' (writable copies) and build fe, ev and be there. Returns the gcc line."""
    shutil.copytree(src, dst, copy_function=shutil.copyfile)
    for root, dirs, _ in os.walk(dst):
        os.chmod(root, 0o755)
    cmd = None
    for x in ("fe", "ev", "be"):
        cmd = ["gcc", "-O2", "-o", x, x + ".c"] + LIBS
        r = subprocess.run(cmd, cwd=dst, capture_output=True, text=True)
        if r.returncode != 0:
            raise CeilingError(f"building the prototype's {x} failed ({shlex.join(cmd)}):\n{r.stderr[-2000:]}")
    return "for x in fe ev be; do " + shlex.join(["gcc", "-O2", "-o", "$x", "$x.c"] + LIBS).replace("'", "") + "; done"


class Prototype:
    """The prototype's processes on free ports, in folder 'd'."""

    def __init__(self, d):
        self.d, self.procs = d, []
        self.redis_port, self.http_port = harness.free_port(), harness.free_port()

    def start(self):
        env = os.environ.copy()

        def run(name, argv):
            self.procs.append(harness.Proc(name, argv, env, os.path.join(self.d, name + ".log")))
        run("redis", ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
                      "--appendonly", "no", "--daemonize", "no", "--dir", self.d])
        harness.wait_until("the prototype's redis-server", lambda: harness.Redis(self.redis_port).command("PING"))
        run("be", [os.path.join(self.d, "be"), str(self.redis_port), "0"])
        run("ev", [os.path.join(self.d, "ev"), str(self.redis_port), "1"])
        time.sleep(0.3)  # as its driver does: be and ev subscribe before fe sends
        run("fe", [os.path.join(self.d, "fe"), str(self.http_port), "2", str(self.redis_port), "1", "epoll"])
        harness.wait_until("the prototype's POST /task", lambda: harness.http(
            self.http_port, "POST", "/task", '{"a1":5,"a2":10}', timeout=2)[1].get("result") == "15", 15)
        return self

    def stop(self):
        for p in reversed(self.procs):
            p.stop(timeout=5)
        self.procs = []


# ---------------------------------------------------------------- load and CPU

def cpu(procs):
    return {p.name: bench.proc_figures(p.pid)[1] for p in procs}


def machine_cpu():
    """(busy, softirq) CPU seconds of the whole machine so far, from /proc/stat: busy is user, nice, system, irq and
    softirq. Loopback TCP is processed largely in softirq, which a kernel with IRQ time accounting charges to no
    process: the per-process figures miss it, the machine's do not (but include everything else that ran)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    return (v[0] + v[1] + v[2] + v[5] + v[6]) / hz, v[6] / hz


def ms(value, unit):
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def run_wrk(port, path, conns, seconds, lua=None):
    """One wrk run as the prototype's driver runs it (one thread). Returns its figures."""
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{seconds:g}s", "--latency"] + (["-s", lua] if lua else []) + \
        [f"http://127.0.0.1:{port}{path}"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    out = r.stdout
    m = re.search(r"(\d+) requests in", out)
    if r.returncode != 0 or not m:
        raise CeilingError(f"{shlex.join(cmd)} failed:\n{out[-1500:]}{r.stderr[-500:]}")
    row = {"cmd": shlex.join(cmd), "requests": int(m.group(1)),
           "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    for q in ("50", "99"):
        m = re.search(rf"^\s+{q}(?:\.000)?%\s+([\d.]+)(us|ms|s)\b", out, re.M)
        row["p" + q] = ms(m.group(1), m.group(2)) if m else None
    n = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    row["non2xx"] = int(n.group(1)) if n else 0
    e = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    row["socket_errors"] = sum(int(x) for x in e.groups()) if e else 0
    return row


def measured(procs, port, path, conns, seconds, lua=None, server_names=None):
    """A wrk row with each process's CPU seconds and CPU microseconds per answered request."""
    c0, m0 = cpu(procs), machine_cpu()
    row = run_wrk(port, path, conns, seconds, lua)
    c1, m1 = cpu(procs), machine_cpu()
    answered = max(1, row["requests"] - row["non2xx"])
    row["machine_us"] = (m1[0] - m0[0]) / answered * 1e6
    row["softirq_us"] = (m1[1] - m0[1]) / answered * 1e6
    row["cpu_s"] = {n: c1[n] - c0[n] for n in c0 if c0[n] is not None and c1.get(n) is not None}
    row["us"] = {n: v / answered * 1e6 for n, v in row["cpu_s"].items()}
    return row


def group(name):
    """'backend-arithmetic.0' -> 'backend-arithmetic', 'events.0' -> 'events'; servers keep their names."""
    return re.sub(r"\.\d+$", "", name)


def pipeline_rows(args, work, lua, env_extra, post_only=False):
    """Our stack's rows: GET / and POST /task (or only POST), with per-process CPU grouped by daemon."""
    env = dict(bench.STACK_ENV)
    env.update(env_extra)
    stack = bench.start_stack(lambda k: harness.Stack(args.build, workdir=f"{work}.{k}", env=env))
    rows = {}
    try:
        port = stack.frontend_ports[0]
        procs = stack.daemons + stack.servers
        if args.warmup > 0:
            run_wrk(port, "/task", args.conns, args.warmup, lua)
            time.sleep(1.0)
        if not post_only:
            rows["get"] = measured(procs, port, "/", args.conns, args.seconds)
        rows["post"] = measured(procs, port, "/task", args.conns, args.seconds, lua)
        for r in rows.values():
            us = {}
            for n, v in r["us"].items():
                us[group(n)] = us.get(group(n), 0.0) + v
            r["us"] = us
        dead = stack.dead_daemons()
        if dead:
            raise CeilingError("our daemons died: " + ", ".join(f"{d.name}:\n{d.tail()}" for d in dead))
        if env_extra.get("EVENTS_LOG") == NOLOG_MODE:
            rows["post"]["stored"] = stack.mongo().events.count_documents({})
    finally:
        stack.stop()
    return rows


# ---------------------------------------------------------------- the run

def main():
    args = parse_args()
    command = shlex.join([sys.executable] + sys.argv)
    started = datetime.datetime.now(datetime.timezone.utc)
    load_before = open("/proc/loadavg").read().split()[:3]
    src = os.path.abspath(args.ceiling)
    if not os.path.isfile(os.path.join(src, "fe.c")):
        print(f"ceiling: skipped: ../shared/ceiling not found ({src})")
        return 0
    for tool in ("gcc", "wrk", "redis-server"):
        if not shutil.which(tool):
            sys.exit(f"ceiling: {tool} is missing (make deps)")
    harness.raise_nofile(4096)
    work = tempfile.mkdtemp(prefix="taskbus-ceiling-")
    d = os.path.join(work, "ceiling")
    errors, proto, ours, nolog, build_cmd = [], {}, {}, {}, ""
    try:
        print(f"ceiling: copying {src} to {d} and building fe, ev, be ...", file=sys.stderr, flush=True)
        build_cmd = copy_and_build(src, d)
        lua = os.path.join(d, "post.lua")
        p = Prototype(d).start()
        try:
            print("ceiling: the prototype: GET /, POST /task ...", file=sys.stderr, flush=True)
            proto["get"] = measured(p.procs, p.http_port, "/", args.conns, args.seconds)
            proto["post"] = measured(p.procs, p.http_port, "/task", args.conns, args.seconds, lua)
        finally:
            p.stop()
        print("ceiling: our pipeline: GET /, POST /task ...", file=sys.stderr, flush=True)
        ours = pipeline_rows(args, os.path.join(work, "ours"), lua, {})
        if args.nolog:
            print(f"ceiling: our pipeline with EVENTS_LOG={NOLOG_MODE}: POST /task ...", file=sys.stderr, flush=True)
            nolog = pipeline_rows(args, os.path.join(work, "nolog"), lua, {"EVENTS_LOG": NOLOG_MODE},
                                  post_only=True)
    except (CeilingError, RuntimeError, AssertionError, OSError) as e:
        errors.append(f"{type(e).__name__}: {e}")
    for who, rows in (("prototype", proto), ("ours", ours), ("ours without the event log", nolog)):
        for name, r in rows.items():
            if r["non2xx"] or r["socket_errors"]:
                errors.append(f"{who} {name}: {r['non2xx']} non-2xx answers, {r['socket_errors']} socket errors")
    if nolog.get("post", {}).get("stored"):
        errors.append(f"EVENTS_LOG={NOLOG_MODE} wrote {nolog['post']['stored']} documents to the store")

    # ---- figures
    fmt = bench.fmt
    proto_server = sum(v for n, v in proto["post"]["us"].items()) if proto.get("post") else None
    ours_nonstore = sum(v for n, v in ours["post"]["us"].items() if n != "ferretdb") if ours.get("post") else None
    ratio = ours_nonstore / proto_server if proto_server and ours_nonstore else None
    finished = datetime.datetime.now(datetime.timezone.utc)
    md = [f"# taskbus against the four-hop prototype, {started:%Y-%m-%d %H:%M} UTC", "",
          f"- machine: {bench.machine()}; load generator on the same machine",
          f"- command: `{command}` (cwd `{os.getcwd()}`); total {(finished - started).seconds} s",
          f"- load average (1/5/15 min) before: {' '.join(load_before)}, after: "
          f"{' '.join(open('/proc/loadavg').read().split()[:3])} (the machine is shared: whatever else runs shows "
          "in the machine's figures, not in the per-process ones)",
          f"- prototype: `{src}` copied to a temporary folder and built there: `{build_cmd}`; its processes started "
          "on free ports (redis-server without persistence, `be PORT 0`, `ev PORT 1`, `fe HTTP 2 PORT 1 epoll`)",
          f"- ours: `{args.build}`, tests/harness.py's stack (redis-server with its append-only file, FerretDB, one "
          "frontend, one events replica, one backend per service)",
          f"- every row: `wrk -t1 -c{args.conns} -d{args.seconds:g}s --latency` (POST rows with the prototype's "
          "post.lua: `{\"a1\":5,\"a2\":10}`), after a "
          f"{args.warmup:g} s warm-up for ours; CPU = utime + stime of each process from /proc/<pid>/stat over the "
          "row, per answered request", ""]
    if proto.get("post") and ours.get("post"):
        md += ["## CPU per request", "",
               "| system | route | req/s | × its GET / | p50 / p99 ms | non-2xx | CPU µs per request by process | "
               "server µs | without the store µs | machine µs (softirq) |",
               "|---|---|---:|---:|---|---:|---|---:|---:|---|"]
        for who, rows in (("prototype", proto), ("taskbus", ours), (f"taskbus, EVENTS_LOG={NOLOG_MODE}", nolog)):
            for name, r in rows.items():
                base = rows.get("get") if name == "post" else r
                if who.startswith("taskbus, EVENTS") and ours.get("get"):
                    base = ours["get"]
                server = sum(r["us"].values())
                nonstore = sum(v for n, v in r["us"].items() if n != "ferretdb")
                md.append(f"| {who} | {'GET /' if name == 'get' else 'POST /task'} | {fmt(r['rps'], 0)} | "
                          f"{fmt(r['rps'] / base['rps'] if base else None)} | {fmt(r['p50'])} / {fmt(r['p99'])} | "
                          f"{fmt(r['non2xx'])} | " +
                          ", ".join(f"{n} {v:.0f}" for n, v in sorted(r["us"].items(), key=lambda kv: -kv[1])) +
                          f" | {server:.0f} | {nonstore:.0f} | {r['machine_us']:.0f} ({r['softirq_us']:.0f}) |")
        md += ["", "## Comparison (issue 11, item 3)", "",
               f"- our CPU per task without the store (every process but FerretDB): **{ours_nonstore:.0f} µs**",
               f"- the prototype's server CPU per request (fe + ev + be + redis): **{proto_server:.0f} µs**",
               f"- ratio **{ratio:.2f}** (target ≤ {TARGET:g}: {'PASS' if ratio <= TARGET else 'MISS'})",
               f"- the whole machine's busy CPU per request (/proc/stat: user, nice, system, irq, softirq; the load "
               f"generator, softirq charged to no process and anything else running included): ours "
               f"{ours['post']['machine_us']:.0f} µs, the prototype {proto['post']['machine_us']:.0f} µs"]
        if nolog.get("post"):
            n = nolog["post"]
            md.append(f"- with EVENTS_LOG={NOLOG_MODE} (no event log, a measurement mode): "
                      f"{sum(v for k, v in n['us'].items() if k != 'ferretdb'):.0f} µs per task without the store "
                      f"= {sum(v for k, v in n['us'].items() if k != 'ferretdb') / proto_server:.2f} × the "
                      f"prototype; {fmt(n['rps'], 0)} req/s = {fmt(n['rps'] / ours['post']['rps'])} × ours with "
                      "the log")
        md.append("")
    if errors:
        md += ["## Errors", "", "```"] + errors + ["```", ""]
    text = "\n".join(md)
    os.makedirs(args.out, exist_ok=True)
    out = os.path.join(args.out, "ceiling-latest.md")
    with open(out, "w") as f:
        f.write(text)
    print(text)
    if ratio is not None:
        print(f"{'PASS' if ratio <= TARGET else 'MISS'} our CPU per task without the store ≤ {TARGET:g} × the "
              f"prototype's: {ours_nonstore:.0f} / {proto_server:.0f} µs = {ratio:.2f}")
    print(f"ceiling: wrote {out}")
    if errors:
        print(f"ceiling: FAILED (logs kept in {work}):\n" + "\n".join(errors), file=sys.stderr)
        return 1
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
