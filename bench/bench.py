"""Benchmark a whole taskbus stack on this machine and report it as bench/results/latest.md and latest.png.

`make bench` builds optimized daemons into build-bench/ and runs this script, which starts its own redis-server,
FerretDB and daemons on free loopback ports (tests/harness.py) and measures, in one run:

- the baseline: `GET /` of the same frontend(s), with `ab -k` and with `wrk` (the HTTP ceiling of the machine);
- the pipeline: `POST /task` with one seed body (`ab -k -p`), and with the five seed bodies in rotation (`wrk` with a
  Lua script) at 1, 16, 64 and 256 connections, plus one row at 1,000 connections;
- reads beside writes: right after the 64-connection row, the same POST load with 50 GET /task/{id} per second
  (paced open-loop, ids of tasks answered earlier in the run) beside it, then the plain row again, twice
  (A-B-A-B-A); POST req/s with the GETs over that without (means; target ≥ 0.9), the GETs' latency and statuses;
- afterwards: answered tasks in the store against the responses the tools counted, the histories of sampled tasks,
  the store's write lag (`max_store_lag_ms=` in the events daemons' `event=stopped` line) and every process's peak RSS;
- ceilings of the same run, at 64 connections (--ceilings): the store alone inserting exactly the documents the
  plain 64-connection row wrote, at that row's batch sizes (bench/storealone.py), and the same load on a fresh stack
  whose events replicas keep no event log (EVENTS_LOG=off-for-measurement); the pipeline as a fraction of each;
- then reads at a log size: the event log prefilled to --log-records records of the pipeline's shape (bench/prefill.py),
  tasks posted through the pipeline, and each read once with GET /task/{id} (target p99 ≤ 10 ms). This comes after
  the read-back above because FerretDB answers every query but a lone _id equality with a scan of the whole log.

Every figure is also given as a ratio to the baseline of the same run and the same tool: the machines are shared and
noisy. Targets print as PASS/MISS and never fail the run; errors (non-2xx answers or socket errors in a pipeline row,
answered tasks missing from the store, a daemon that exits non-zero) exit with status 1.
Only 127.0.0.1 is ever targeted. Settings come from flags, or from TASKBUS_BENCH_* variables (see --help).
"""
import argparse
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tests"))
import harness  # noqa: E402
import prefill  # noqa: E402  (bench/, next to this file)
import readload  # noqa: E402
import storealone  # noqa: E402

HOST = "127.0.0.1"
# The daemons' settings of every stack the benches start: quick replica expiry, and no per-address connection cap
# (every connection of the load generator comes from 127.0.0.1).
STACK_ENV = {"HEARTBEAT_MS": "1000", "REPLICA_TTL_MS": "3000", "LOG_LEVEL": "info", "MAX_CONNECTIONS_PER_IP": "0"}
BODIES = ['{"a1":5,"a2":10}', '{"s1":4,"s2":7}', '{"m1":4,"m2":7}', '{"d1":4,"d2":7}', '{"a1":"a","a2":"b"}']
WRK_TIMEOUT_S = 10          # above the frontend's TASK_TIMEOUT_MS (5 s): a wrk timeout means a lost answer
SAMPLE_EVERY = 499          # wrk keeps the id of every n-th 2xx answer (up to SAMPLES_PER_THREAD per thread)
SAMPLES_PER_THREAD = 25
RSS_TARGET_MB = 30
TARGET_RATIO, TARGET_P99_MS, TARGET_CONNS = 0.25, 15.0, 64
TARGET_GET_RATIO, TARGET_GET_P99_MS = 0.9, 10.0   # POST req/s with the GET side load / without; GET p99 at N records
LOG_RECORDS = 10_000_000    # event log size at which GET /task/{id} is timed
READ_GETS = 2000            # tasks posted after the prefill and read back
QUICK_OUT = os.path.join(tempfile.gettempdir(), "taskbus-bench-quick")
QUICK = {"seconds": 3, "warmup": 1, "concurrency": "64", "many": 0, "log_records": 200_000, "read_gets": 500}

# One Lua script for wrk. With no bodies it sends GET /, otherwise POST /task rotating over the bodies.
# response() counts non-2xx answers per status and samples task ids; done() prints one "BENCH {json}" line.
LUA = r"""-- written by bench/bench.py
local bodies = { %(bodies)s }
local threads, nthreads = {}, 0

function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
  table.insert(threads, thread)
end

function init(args)
  responses, non2xx, statuses, samples, nsamples = 0, 0, {}, "", 0
  reqs = {}
  if #bodies == 0 then
    reqs[1] = wrk.format("GET", "/")
  else
    for i, b in ipairs(bodies) do
      reqs[i] = wrk.format("POST", "/task", { ["Content-Type"] = "application/json" }, b)
    end
  end
  idx = tid %% #reqs
end

function request()
  idx = idx %% #reqs + 1
  return reqs[idx]
end

function response(status, headers, body)
  responses = responses + 1
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    statuses[status] = (statuses[status] or 0) + 1
  elseif #bodies > 0 and nsamples < %(per_thread)d and responses %% %(every)d == 0 then
    local id = string.match(body, '"id"%%s*:%%s*"([%%w%%-]+)"')
    if id then
      samples = samples .. (nsamples > 0 and "," or "") .. '"' .. id .. '"'
      nsamples = nsamples + 1
    end
  end
end

function done(summary, latency, requests)
  local n, bad, st, ids = 0, 0, {}, {}
  for _, t in ipairs(threads) do
    n = n + t:get("responses")
    bad = bad + t:get("non2xx")
    for code, c in pairs(t:get("statuses")) do st[code] = (st[code] or 0) + c end
    local s = t:get("samples")
    if s ~= "" then table.insert(ids, s) end
  end
  local parts = {}
  for code, c in pairs(st) do table.insert(parts, string.format('"%%d":%%d', code, c)) end
  local e = summary.errors
  io.write(string.format('BENCH {"requests":%%d,"duration_us":%%d,"responses":%%d,"non2xx":%%d,' ..
    '"p50_us":%%d,"p99_us":%%d,"max_us":%%d,"mean_us":%%.1f,"connect":%%d,"read":%%d,"write":%%d,' ..
    '"status":%%d,"timeout":%%d,"statuses":{%%s},"samples":[%%s]}\n',
    summary.requests, summary.duration, n, bad, latency:percentile(50), latency:percentile(99), latency.max,
    latency.mean, e.connect, e.read, e.write, e.status, e.timeout, table.concat(parts, ","), table.concat(ids, ",")))
end
"""


class BenchError(Exception):
    pass


class CeilingSkipped(Exception):
    """A ceiling that cannot be measured with these settings (e.g. METRICS=off): a note, not an error."""


# ---------------------------------------------------------------- options

def env_default(name, default):
    return os.environ.get("TASKBUS_BENCH_" + name, default)


def parse_backends(text):
    """'1' -> one replica per service; 'arithmetic=2,string=1' -> as given."""
    services = sorted(set(json.load(open(os.path.join(TOP, "task-maps.json"))).values()))
    text = str(text).strip()
    if re.fullmatch(r"\d+", text):
        return {s: int(text) for s in services}
    out = {}
    for part in text.split(","):
        name, _, n = part.partition("=")
        if name.strip() not in services or not n.strip().isdigit():
            raise argparse.ArgumentTypeError(f"--backends: expected N or service=N,... with services {services}")
        out[name.strip()] = int(n)
    for s in services:
        out.setdefault(s, 1)
    return out


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                epilog="Every option also reads TASKBUS_BENCH_<NAME> (e.g. TASKBUS_BENCH_SECONDS=20 "
                                       "make bench).")
    p.add_argument("--build", default=env_default("BUILD", os.path.join(TOP, "build-bench")),
                   help="folder with the frontend, events and backend binaries")
    p.add_argument("--frontends", type=int, default=int(env_default("FRONTENDS", 1)))
    p.add_argument("--events", type=int, default=int(env_default("EVENTS", 1)))
    p.add_argument("--backends", type=parse_backends, default=parse_backends(env_default("BACKENDS", "1")),
                   help="replicas per backend service: N, or service=N,... (default 1 each)")
    p.add_argument("--seconds", type=float, default=env_default("SECONDS", None),
                   help="duration of each measured row (default 10; --quick: 3)")
    p.add_argument("--concurrency", default=env_default("CONCURRENCY", None),
                   help="connections of the mixed pipeline rows (default 1,16,64,256; --quick: 64)")
    p.add_argument("--many", type=int, default=env_default("MANY", None),
                   help="connections of the extra many-connections row (0: skip; default 1000; --quick: 0)")
    p.add_argument("--get-rate", type=float, default=float(env_default("GET_RATE", 50)),
                   help=f"GET /task/{{id}} per second beside the POST load of the row at {TARGET_CONNS} connections "
                        "(0: skip the row; default 50)")
    p.add_argument("--get-rounds", type=int, default=int(env_default("GET_ROUNDS", 2)),
                   help="rows with GETs, each followed by one without (default 2)")
    p.add_argument("--log-records", type=int, default=env_default("LOG_RECORDS", None),
                   help="prefill the event log to this many records after the load, then time GET /task/{id} "
                        f"(0: skip; default {LOG_RECORDS:,}; --quick: {QUICK['log_records']:,})")
    p.add_argument("--read-gets", type=int, default=env_default("READ_GETS", None),
                   help=f"tasks posted after the prefill and read back once each (default {READ_GETS:,}; "
                        f"--quick: {QUICK['read_gets']})")
    p.add_argument("--read-conns", type=int, default=int(env_default("READ_CONNS", 4)),
                   help="concurrent GETs when reading those tasks back (default 4)")
    p.add_argument("--quick", action="store_true", default=env_default("QUICK", "") not in ("", "0"),
                   help="a short run for development: " + ", ".join(f"{k.replace('_', '-')} {v}"
                                                                      for k, v in QUICK.items()) +
                        " unless given")
    p.add_argument("--threads", type=int, default=int(env_default("THREADS", os.cpu_count() or 2)),
                   help="wrk threads (default: nproc)")
    p.add_argument("--warmup", type=float, default=env_default("WARMUP", None),
                   help="seconds of mixed load before measuring (default 2; --quick: 1)")
    p.add_argument("--out", default=env_default("OUT", None),
                   help="folder for latest.md and latest.png (default bench/results; --quick: "
                        f"{QUICK_OUT})")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra environment for the daemons (repeatable)")
    p.add_argument("--ceilings", type=int, default=int(env_default("CEILINGS", 1)),
                   help=f"1 (default): after the rows at {TARGET_CONNS} connections, measure the store alone with that "
                        "row's documents and batch sizes, and the same load without the event log on a fresh stack "
                        "(EVENTS_LOG=off-for-measurement); 0: skip both")
    p.add_argument("--keep", action="store_true", help="keep the work folder (logs, store) even on success")
    a = p.parse_args()
    if a.out is None:
        a.out = QUICK_OUT if a.quick else os.path.join(TOP, "bench", "results")
    full = {"seconds": 10, "warmup": 2, "concurrency": "1,16,64,256", "many": 1000, "log_records": LOG_RECORDS,
            "read_gets": READ_GETS}
    for k, v in (QUICK if a.quick else full).items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    a.seconds, a.warmup = float(a.seconds), float(a.warmup)
    a.many, a.log_records, a.read_gets = int(a.many), int(a.log_records), int(a.read_gets)
    a.concurrency = [int(c) for c in str(a.concurrency).split(",") if c.strip()]
    if a.seconds <= 0 or a.frontends < 1 or a.events < 1 or not a.concurrency or min(a.concurrency) < 1:
        p.error("seconds, frontends, events and every concurrency must be positive")
    for kv in a.env:
        if "=" not in kv:
            p.error(f"--env {kv}: expected KEY=VALUE")
    return a


# ---------------------------------------------------------------- load generators

def split(conns, n):
    """Spread 'conns' connections over n frontends: [c0, c1, ...] without zeros."""
    return [c for c in (conns // n + (1 if i < conns % n else 0) for i in range(n)) if c > 0]


def run_parallel(cmds, timeout):
    """Run the commands at once; return their outputs, or raise with the failing one's stderr."""
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in cmds]
    outs = []
    try:
        for cmd, p in zip(cmds, procs):
            out, err = p.communicate(timeout=timeout)
            if p.returncode != 0:
                raise BenchError(f"{shlex.join(cmd)} exited {p.returncode}:\n{err.strip()[-2000:]}")
            outs.append((out, err))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return outs


def merge(parts):
    """One row from several load generators (one per frontend): sums, and the worst of each percentile."""
    row = {k: sum(p[k] for p in parts) for k in ("requests", "rps", "non2xx", "connect", "read", "write",
                                                 "timeout", "exceptions")}
    for k in ("p50", "p99", "max"):
        row[k] = max(p[k] for p in parts)
    row["statuses"] = {}
    for p in parts:
        for code, n in p["statuses"].items():
            row["statuses"][code] = row["statuses"].get(code, 0) + n
    row["samples"] = [s for p in parts for s in p.get("samples", [])]
    return row


def ab_field(text, label, cast=float):
    m = re.search(r"^" + re.escape(label) + r":\s+([\d.]+)", text, re.M)
    return cast(m.group(1)) if m else cast(0)


def parse_ab(text):
    pct = dict((int(a), float(b)) for a, b in re.findall(r"^\s*(\d+)%\s+(\d+)", text, re.M))
    if not pct:
        raise BenchError("ab printed no latency percentiles:\n" + text[-2000:])
    fails = re.search(r"\(Connect: (\d+), Receive: (\d+), Length: (\d+), Exceptions: (\d+)\)", text)
    connect, receive, _length, exc = (int(x) for x in fails.groups()) if fails else (0, 0, 0, 0)
    non2xx = ab_field(text, "Non-2xx responses", int)
    return {"requests": ab_field(text, "Complete requests", int), "rps": ab_field(text, "Requests per second"),
            "non2xx": non2xx, "p50": pct.get(50, 0.0), "p99": pct.get(99, 0.0), "max": pct.get(100, 0.0),
            "connect": connect, "read": receive, "write": 0, "timeout": 0, "exceptions": exc,
            "statuses": {"non-2xx": non2xx} if non2xx else {}}


def ab(ports, path, conns, seconds, body_file=None):
    # ab allocates per-request state for -n up front: bound it by a generous rate (the seed machine does ~77k/s).
    n = int(max(seconds, 1) * 150000)
    cmds = []
    for port, c in zip(ports, split(conns, len(ports))):
        cmd = ["ab", "-k", "-q", "-c", str(c), "-t", f"{seconds:g}", "-n", str(n), "-s", "30"]
        if body_file:
            cmd += ["-p", body_file, "-T", "application/json"]
        cmds.append(cmd + [f"http://{HOST}:{port}{path}"])
    outs = run_parallel(cmds, timeout=seconds + 60)
    row = merge([parse_ab(out) for out, _ in outs])
    row["cmd"] = cmds[0]
    return row


def parse_wrk(text):
    m = re.search(r"^BENCH (\{.*\})$", text, re.M)
    if not m:
        raise BenchError("wrk printed no BENCH line (Lua error?):\n" + text[-2000:])
    d = json.loads(m.group(1))
    return {"requests": d["requests"], "rps": d["requests"] / (d["duration_us"] / 1e6), "non2xx": d["non2xx"],
            "p50": d["p50_us"] / 1000, "p99": d["p99_us"] / 1000, "max": d["max_us"] / 1000,
            "connect": d["connect"], "read": d["read"], "write": d["write"], "timeout": d["timeout"],
            "exceptions": 0, "statuses": d["statuses"], "samples": d["samples"]}


def wrk(ports, path, script, conns, seconds, threads):
    cmds = []
    for port, c in zip(ports, split(conns, len(ports))):
        cmds.append(["wrk", "-t", str(min(threads, c)), "-c", str(c), "-d", f"{seconds:g}s", "--latency",
                     "--timeout", f"{WRK_TIMEOUT_S}s", "-s", script, f"http://{HOST}:{port}{path}"])
    outs = run_parallel(cmds, timeout=seconds + WRK_TIMEOUT_S + 60)
    row = merge([parse_wrk(out) for out, _ in outs])
    row["cmd"] = cmds[0]
    return row


def write_lua(dirname, name, bodies):
    quoted = ", ".join('"' + b.replace("\\", "\\\\").replace('"', '\\"') + '"' for b in bodies)
    path = os.path.join(dirname, name)
    with open(path, "w") as f:
        f.write(LUA % {"bodies": quoted, "per_thread": SAMPLES_PER_THREAD, "every": SAMPLE_EVERY})
    return path


def with_gets(ports, script, conns, seconds, threads, ids, rate):
    """The wrk POST row, with GET /task/{id} of 'ids' paced at 'rate' per second beside it for as long as wrk runs.
    Returns wrk's row with the GETs' figures under "gets"."""
    load = readload.PacedGets(ports, ids, rate).start()
    try:
        row = wrk(ports, "/task", script, conns, seconds, threads)
    finally:
        gets = load.stop()
    row["gets"] = gets
    return row


def read_at_size(stack, args):
    """Prefill the event log to about args.log_records records (prefill.py), post args.read_gets tasks through the
    pipeline (so that the projection holds them), then GET each once, args.read_conns at a time. Returns the figures:
    the log size before and after, the prefill's records and seconds, the POSTs' failures, and the GETs'."""
    db = stack.mongo()
    out = {"before": store_size(db), "prefilled": 0, "prefill_s": 0.0}
    want = args.log_records - out["before"] - 2 * args.read_gets
    if want > 0:
        print(f"bench: prefilling the event log with {want:,} records (to {args.log_records:,}) ...",
              file=sys.stderr, flush=True)
        last = [time.monotonic(), out["before"]]

        def progress():
            now, size = time.monotonic(), store_size(db)
            print(f"bench:   {size:,} records in the log ({(size - last[1]) / (now - last[0]):,.0f}/s)",
                  file=sys.stderr, flush=True)
            last[:] = [now, size]

        out["prefilled"], out["prefill_s"] = prefill.fill(stack.mongo_uri, want, progress=progress)
    out["processes"] = os.cpu_count() or 2
    print(f"bench: GET /task/{{id}} of {args.read_gets:,} new tasks ({args.read_conns} at a time) ...",
          file=sys.stderr, flush=True)
    t0 = time.monotonic()
    ids, out["posts_bad"] = readload.post_tasks(stack.frontend_ports, BODIES, args.read_gets, 8)
    out["posts_s"] = time.monotonic() - t0
    out["size"] = store_size(db)
    out["gets"] = readload.closed_gets(stack.frontend_ports, ids, args.read_conns)
    ferret = next((p for p in stack.servers if p.name == "ferretdb"), None)
    out["ferretdb_hwm"] = proc_figures(ferret.pid)[0] if ferret else None
    return out


# ---------------------------------------------------------------- processes and the store

def proc_figures(pid):
    """(peak RSS in MB from VmHWM, CPU seconds) of a live process, or (None, None)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            hwm = re.search(r"^VmHWM:\s+(\d+) kB", f.read(), re.M)
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return (int(hwm.group(1)) / 1024 if hwm else None), cpu
    except (OSError, IndexError, ValueError):
        return None, None


def cpu_snapshot(stack):
    return {p.pid: proc_figures(p.pid)[1] for p in stack.daemons + stack.servers}


def store_size(db):
    """Documents in the event log, from collStats (a full count takes seconds per 100k documents on FerretDB)."""
    return db.command("collStats", "events")["count"]


def settle(db, timeout=90):
    """Wait until the event log stops growing (two equal sizes 1 s apart). Returns True when it did."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        size = store_size(db)
        if size == last:
            return True
        last = size
        time.sleep(1.0)
    return False


def scan_store(db, samples):
    """One pass over the event log (FerretDB v1 answers no query but _id equality without a scan, so read it once).

    Every task's records, sorted by seq, must make a history that tests/harness.py check_history accepts (received
    first, dispatched ones, then completed or failed; one backend replica). Returns the records of each type, the
    tasks, the answered ones, the ones with a bad history, and the sampled 2xx task ids without a completed one."""
    counts = {"received": 0, "dispatched": 0, "completed": 0, "failed": 0}
    tasks, interned = {}, {}
    fields = {"_id": 0, "task": 1, "seq": 1, "type": 1, "backend": 1, "events": 1, harness.COMMIT_FIELD: 1,
              "attempt": 1}
    for doc in db.events.find({}, fields, batch_size=20000):
        if str(doc.get("task")).startswith(prefill.PREFIX):
            continue  # bench.py reads the log back before it prefills; this keeps a later scan about our own tasks
        for d in harness.split_commit(doc):
            kind, backend = d.get("type"), d.get("backend")
            counts[kind] = counts.get(kind, 0) + 1
            tasks.setdefault(d.get("task"), []).append((d.get("seq", -1), interned.setdefault(kind, kind),
                                                        interned.setdefault(backend, backend)))
    answered, bad, completed = 0, [], set()
    for task, recs in tasks.items():
        recs.sort(key=lambda r: r[0])
        final = recs[-1][1]
        records = [{"type": k, **({"backend": b} if b is not None else {})} for _, k, b in recs]
        try:
            if [r[0] for r in recs] != list(range(len(recs))):
                raise AssertionError(f"seq {[r[0] for r in recs]}")
            harness.check_history(records, final if final in ("completed", "failed") else "completed")
        except AssertionError as e:
            bad.append(f"{task}: {e} {[k for _, k, _ in recs]}")
            continue
        answered += 1
        if final == "completed":
            completed.add(task)
    return {**counts, "tasks": len(tasks), "answered": answered, "incomplete": bad, "samples": len(samples),
            "bad_samples": [t for t in samples if t not in completed]}


def json_log_line(line):
    """The fields of a LOG_FORMAT=json line (a JSON object of strings), or None for any other line."""
    if not line.startswith("{"):
        return None
    try:
        fields = json.loads(line)
    except ValueError:
        return None
    return {k: v for k, v in fields.items() if isinstance(v, str)} if isinstance(fields, dict) else None


def parse_logs(dirname):
    """Per daemon log: the event=stopped line's fields, and warning/error lines."""
    out = {}
    for name in sorted(os.listdir(dirname)):
        if not name.endswith(".log") or name in ("redis.log", "ferretdb.log"):
            continue
        stopped, warnings = {}, []
        with open(os.path.join(dirname, name), errors="replace") as f:
            for line in f:
                fields = json_log_line(line)  # LOG_FORMAT=json: every value a string
                if fields is not None and fields.get("event") == "stopped":
                    stopped = {k: v for k, v in fields.items() if re.fullmatch(r"-?\d+", v)}
                elif fields is None and "event=stopped" in line:
                    stopped = dict(re.findall(r"(\w+)=(-?\d+)", line.split("event=stopped", 1)[1]))
                elif "'endSessions'" in line:  # libmongoc at pool destroy; FerretDB v1 lacks it (harmless)
                    continue
                elif (fields or {}).get("level") in ("warn", "error") or re.search(r"level=(warn|error)\b", line) \
                        or "runtime error" in line or "Sanitizer" in line:
                    warnings.append(line.rstrip())
        out[name[:-4]] = {"stopped": stopped, "warnings": warnings}
    return out


# ---------------------------------------------------------------- ceilings (same run)

NOLOG_MODE = "off-for-measurement"


def events_histograms(stack):
    """{events daemon name: its store batch histogram} from each events replica's METRICS_PORT (None: no metrics)."""
    return {d.name: storealone.scrape_histogram(d.metrics_port) for d in stack.daemons if d.name.startswith("events")}


def cpu_by_name(stack, before, after, per):
    """{process name without its index: CPU microseconds per 'per'} between two cpu_snapshot()s."""
    out = {}
    for p in stack.daemons + stack.servers:
        if before.get(p.pid) is not None and after.get(p.pid) is not None and per:
            name = p.name.rsplit(".", 1)[0] if p in stack.daemons else p.name
            out[name] = out.get(name, 0.0) + (after[p.pid] - before[p.pid]) / per * 1e6
    return out


def store_alone(stack, win):
    """Insert the documents the pipeline wrote during the row of 'win' (log positions, histograms, row) into a fresh
    collection of the same FerretDB at that row's batch sizes, one writer per events replica. Returns the figures,
    or raises BenchError."""
    deltas = {n: storealone.histogram_delta(win["hist_before"].get(n), win["hist_after"].get(n))
              for n in win["hist_after"]}
    if not deltas or any(d is None or not d["count"] for d in deltas.values()):
        raise CeilingSkipped("store alone skipped: no taskbus_store_batch_records histogram from an events replica "
                             "(METRICS=off?)")
    t0 = time.monotonic()
    docs = storealone.read_window(stack.mongo(), win["before"], win["after"])
    read_s = time.monotonic() - t0
    if len(docs) != win["after"] - win["before"]:
        raise BenchError(f"store alone: read {len(docs)} documents at positions {win['before']}..{win['after']}")
    blob = b"".join(d.raw for d in docs)
    ids = list(dict.fromkeys(win["row"].get("samples", [])))
    found = sum(1 for t in ids if t.encode() in blob)
    if ids and found < len(ids):
        raise BenchError(f"store alone: only {found} of the row's {len(ids)} sampled task ids are in the documents "
                         "read back at its log positions (is the store's natural order no longer insertion order?)")
    sizes = [storealone.batch_sizes(deltas[n]) for n in sorted(deltas)]
    ferret = next(p for p in stack.servers if p.name == "ferretdb")
    out = storealone.insert_alone(stack.mongo_uri, stack.db_name, docs, sizes, ferret.pid)
    if out["errors"] or out["stored"] != out["docs"]:
        raise BenchError(f"store alone: {out['stored']} of {out['docs']} documents stored; " +
                         "; ".join(out["errors"][:3]))
    out.update(read_s=read_s, bytes=len(blob), samples=len(ids), found=found,
               hist={n: d for n, d in deltas.items()}, row_docs=len(docs))
    return out


def start_stack(make, tries=3):
    """Start the stack that make(attempt) builds, trying again (a new stack, a new folder) when it does not come up.
    After the load rows, tens of thousands of loopback connections sit in TIME_WAIT; a daemon's own Redis connections
    may then take the port harness.free_port() had just chosen for its METRICS_PORT ("cannot listen on
    METRICS_PORT"), and the stack never gets ready. Returns the started stack; raises the last error."""
    for attempt in range(tries):
        stack = make(attempt)
        try:
            return stack.start()
        except RuntimeError as e:
            if attempt == tries - 1:
                raise
            print(f"bench: a stack did not start ({e}); trying again", file=sys.stderr, flush=True)


def nolog_row(args, env, script, dirname):
    """The 64-connection wrk row on a fresh stack whose events replicas run EVENTS_LOG=off-for-measurement (after a
    warm-up like the main stack's). Returns the row with its per-process CPU per answer under "cpu", and what the
    store holds afterwards (it must be 0) under "stored"; raises BenchError when a daemon dies or exits non-zero."""
    stack = start_stack(lambda k: harness.Stack(args.build, workdir=f"{dirname}.{k}", frontends=args.frontends,
                                                events=args.events, backends=args.backends,
                                                env=dict(env, EVENTS_LOG=NOLOG_MODE)))
    try:
        ports = stack.frontend_ports
        if args.warmup > 0:
            wrk(ports, "/task", script, 16, args.warmup, args.threads)
            time.sleep(1.0)
        c0 = cpu_snapshot(stack)
        r = wrk(ports, "/task", script, TARGET_CONNS, args.seconds, args.threads)
        c1 = cpu_snapshot(stack)
        r["cpu"] = cpu_by_name(stack, c0, c1, r["requests"] - r["non2xx"])
        r["hwm"] = max(((proc_figures(d.pid)[0] or 0, d.name) for d in stack.daemons), default=None)
        dead = stack.dead_daemons()
        if dead:
            raise BenchError("daemons died in the no-log row: " + ", ".join(f"{d.name}:\n{d.tail()}" for d in dead))
        time.sleep(1.0)
        r["stored"] = store_size(stack.mongo()) if "events" in stack.mongo().list_collection_names() else 0
        return r
    finally:
        try:
            stack.stop()
        except AssertionError as e:
            raise BenchError(f"no-log stack: {e}")


def ceilings_md(c, args):
    """The report's section on the ceilings, and the lines printed at the end."""
    row, md, lines = c["row"], [], []
    rps, answered = row["rps"], row["requests"] - row["non2xx"]
    docs_per_task = c["win_docs"] / answered if answered else None
    md += ["## Ceilings (same run, 64 connections)", "",
           f"The pipeline's first plain row at {TARGET_CONNS} connections (five bodies, wrk) against (a) the same load "
           "on a fresh stack whose events replicas keep **no event log** (`EVENTS_LOG=off-for-measurement`: records "
           "acknowledged on the next loop turn without a write; a measurement mode, not durable), run right after the "
           f"rows at {TARGET_CONNS} connections, and (b) **the store alone**: the documents that row wrote, read back as raw BSON at its log "
           "positions and inserted byte for byte into a fresh collection of the same FerretDB with unordered "
           "`insert_many`, in batches of the sizes its events replicas' `taskbus_store_batch_records` histogram "
           "counted during the row, one client thread (own connection) per events replica (`bench/storealone.py`).",
           "", "| figure | value |", "|---|---:|",
           f"| pipeline row: req/s, answers, documents written (collStats before/after), documents per task | "
           f"{fmt(rps, 0)}, {fmt(answered)}, {fmt(c['win_docs'])}, {fmt(docs_per_task)} |"]
    nl = c.get("nolog")
    if nl:
        md.append(f"| (a) no event log: req/s, p50 / p99 ms, non-2xx, documents in its store | {fmt(nl['rps'], 0)}, "
                  f"{fmt(nl['p50'])} / {fmt(nl['p99'])}, {fmt(nl['non2xx'])}, {fmt(nl['stored'])} |")
        md.append(f"| **pipeline ÷ no-log pipeline (req/s)** | **{fmt(rps / nl['rps'] if nl['rps'] else None)}** |")
        lines.append(f"pipeline at {TARGET_CONNS} connections = {fmt(rps / nl['rps'] if nl['rps'] else None)} × "
                     f"the pipeline without the event log ({fmt(rps, 0)} / {fmt(nl['rps'], 0)} req/s)")
    sa = c.get("alone")
    if sa:
        dps = sa["docs"] / sa["seconds"] if sa["seconds"] else None
        tps = dps / docs_per_task if dps and docs_per_task else None
        hist = "; ".join(f"{n}: {d['count']:,} batches, mean {d['sum'] / d['count']:.1f}, buckets " +
                         ", ".join(f"≤{b[1]:g}: {b[2]:,}" for b in d["buckets"]) for n, d in sa["hist"].items())
        md += [f"| (b) batch sizes in the row (histogram) | {hist} |",
               f"| (b) store alone: documents ({fmt(sa['bytes'] / sa['docs'] if sa['docs'] else None, 0)} B each), "
               f"batches, writers, seconds | {fmt(sa['docs'])}, {fmt(sa['batches'])}, {sa['writers']}, "
               f"{sa['seconds']:.2f} |",
               f"| (b) store alone: documents/s, tasks/s | {fmt(dps, 0)}, {fmt(tps, 0)} |",
               f"| (b) FerretDB CPU per task: store alone / in the pipeline row | "
               f"{fmt(sa['ferretdb_cpu'] / (sa['docs'] / docs_per_task) * 1e6 if sa['ferretdb_cpu'] is not None and docs_per_task and sa['docs'] else None, 0)}"
               f" / {fmt(c['cpu'].get('ferretdb'), 0)} µs (the client's CPU, Python: "
               f"{fmt(sa['client_cpu'] / (sa['docs'] / docs_per_task) * 1e6 if docs_per_task and sa['docs'] else None, 0)} µs) |",
               f"| **pipeline ÷ store alone (tasks/s)** | **{fmt(rps / tps if tps else None)}** |",
               f"| (b) reading the row's documents back (not timed above) | {sa['read_s']:.1f} s, "
               f"{sa['found']} of {sa['samples']} sampled task ids found in them |"]
        lines.append(f"pipeline at {TARGET_CONNS} connections = {fmt(rps / tps if tps else None)} × the store alone "
                     f"({fmt(rps, 0)} / {fmt(tps, 0)} tasks/s; {fmt(dps, 0)} documents/s)")
    names = sorted(set(c["cpu"]) | set(nl["cpu"] if nl else {}))
    if names:
        md += ["", "CPU per answered task, µs, by process (the pipeline row; the no-log row):", "",
               "| process | pipeline | no event log |", "|---|---:|---:|"]
        md += [f"| {n} | {fmt(c['cpu'].get(n), 0)} | {fmt((nl or {}).get('cpu', {}).get(n), 0)} |" for n in names]
        md.append(f"| all | {fmt(sum(c['cpu'].values()), 0)} | "
                  f"{fmt(sum(nl['cpu'].values()), 0) if nl else '–'} |")
        md.append(f"| all but FerretDB | {fmt(sum(v for k, v in c['cpu'].items() if k != 'ferretdb'), 0)} | "
                  f"{fmt(sum(v for k, v in nl['cpu'].items() if k != 'ferretdb'), 0) if nl else '–'} |")
    for n in c.get("notes", []):
        md.append(f"\n{n}")
    return md + [""], lines


# ---------------------------------------------------------------- report

def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.+)$", f.read(), re.M)
            model = m.group(1).strip() if m else model
    except OSError:
        pass
    return f"nproc {os.cpu_count()}, {model}, Linux {platform.release()}"


def fmt(x, digits=2):
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:,.{digits}f}"
    return f"{x:,}"


def results_table(rows):
    head = ("| row | tool | connections | req/s | × baseline (same tool) | p50 ms | p99 ms | max ms | answers | "
            "non-2xx | socket errors c/r/w/timeout | largest daemon peak RSS after the row, MB |\n"
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    lines = [head]
    for r in rows:
        errs = f"{r['connect']}/{r['read']}/{r['write']}/{r['timeout']}"
        if r.get("exceptions"):
            errs += f" (+{r['exceptions']} exceptions)"
        non2xx = fmt(r["non2xx"]) + (" " + json.dumps(r["statuses"]) if r["statuses"] else "")
        lines.append(f"| {r['name']} | {r['tool']} | {r['conns']} | {fmt(r['rps'], 0)} | "
                     f"{fmt(r.get('ratio'))} | {fmt(r['p50'])} | {fmt(r['p99'])} | {fmt(r['max'])} | "
                     f"{fmt(r['requests'])} | {non2xx} | {errs} | "
                     + (f"{r['hwm'][1]} {r['hwm'][0]:.1f} |" if r.get("hwm") else "– |"))
    return "\n".join(lines)


def plot(rows, out_png, tmp):
    if not shutil.which("gnuplot"):
        return "gnuplot is missing (apt-get install -y gnuplot-nox): no plot"
    mixed = sorted((r for r in rows if r["kind"] == "mixed"), key=lambda r: r["conns"])
    base = next((r for r in rows if r["kind"] == "baseline" and r["tool"] == "wrk"), None)
    base_ab = next((r for r in rows if r["kind"] == "baseline" and r["tool"] == "ab"), None)
    data = os.path.join(tmp, "mixed.dat")
    with open(data, "w") as f:
        for r in mixed:
            f.write(f"{r['conns']} {r['rps']:.1f} {r['p50']:.3f} {r['p99']:.3f}\n")
    lines = [
        "set terminal pngcairo size 1200,480 font 'sans,10'",
        f"set output '{out_png}'",
        "set multiplot layout 1,2 title 'taskbus: POST /task, five seed bodies in rotation (wrk)'",
        "set logscale x 2", "set xtics (" + ", ".join(str(r["conns"]) for r in mixed) + ")", "set grid",
        "set key bottom right box opaque", "set xlabel 'connections'", "set logscale y 10",
        "set ylabel 'requests/s'", "set title 'throughput (log scale)'",
        f"plot '{data}' using 1:2 with linespoints lw 2 pt 7 title 'pipeline (mixed)'"
        + (f", {base['rps']:.1f} with lines lw 2 dt 2 title 'baseline GET / (wrk, {base['conns']} conns)'"
           if base else "")
        + (f", {base_ab['rps']:.1f} with lines lw 1 dt 3 title 'baseline GET / (ab -k)'" if base_ab else ""),
        "set ylabel 'latency, ms'", "set key top left box opaque",
        "set title 'latency'",
        f"plot '{data}' using 1:4 with linespoints lw 2 pt 7 title 'p99', "
        f"'{data}' using 1:3 with linespoints lw 1 pt 6 title 'p50', "
        f"{TARGET_P99_MS} with lines dt 2 title 'p99 target ({TARGET_P99_MS:g} ms)'",
        "unset multiplot",
    ]
    script = os.path.join(tmp, "plot.gp")
    with open(script, "w") as f:
        f.write("\n".join(lines) + "\n")
    r = subprocess.run(["gnuplot", script], capture_output=True, text=True)
    return None if r.returncode == 0 else "gnuplot failed: " + r.stderr.strip()[-500:]


# ---------------------------------------------------------------- the run

raise_nofile = harness.raise_nofile  # soak.py calls bench.raise_nofile


def main():
    args = parse_args()
    command = shlex.join([sys.executable] + sys.argv)
    started = datetime.datetime.now(datetime.timezone.utc)
    for tool in ("ab", "wrk", "redis-server"):
        if not shutil.which(tool):
            sys.exit(f"bench: {tool} is missing (make deps)")
    nofile, nofile_ok = raise_nofile(2 * args.many + 1024)  # wrk, frontend and children inherit the limit
    if not nofile_ok:
        print(f"bench: warning: open files limit {nofile} is low for {args.many} connections", file=sys.stderr)

    work = tempfile.mkdtemp(prefix="taskbus-bench-")
    os.makedirs(args.out, exist_ok=True)
    get_lua = write_lua(work, "get.lua", [])
    mix_lua = write_lua(work, "mix.lua", BODIES)
    body_file = os.path.join(work, "body.json")
    with open(body_file, "w") as f:
        f.write(BODIES[0])

    env = dict(STACK_ENV)
    env.update(dict(kv.split("=", 1) for kv in args.env))
    stack = harness.Stack(args.build, workdir=work, frontends=args.frontends, events=args.events,
                          backends=args.backends, env=env)
    rows, errors, notes, samples = [], [], [], []
    reads = {}
    store, rss, settled = {}, [], False
    cpu_before = cpu_after = {}
    total = {"2xx": 0, "non2xx": 0, "inflight_bound": 0}
    ceil = {}
    S = args.seconds

    def measure(name, kind, tool, conns, fn):
        print(f"bench: {name} ({tool}, {conns} connections, {S:g} s) ...", file=sys.stderr, flush=True)
        r = fn()
        r.update(name=name, kind=kind, tool=tool, conns=conns)
        r["hwm"] = max(((proc_figures(d.pid)[0] or 0, d.name) for d in stack.daemons), default=None)
        rows.append(r)
        if kind != "baseline":
            account(r)
            dead = stack.dead_daemons()
            if dead:
                raise BenchError("daemons died during " + name + ": " +
                                 ", ".join(f"{d.name} (pid {d.pid}):\n{d.tail()}" for d in dead))
        time.sleep(1.0)  # let the tail of the row leave the pipeline before the next one
        return r

    def account(r):
        total["2xx"] += r["requests"] - r["non2xx"]
        total["non2xx"] += r["non2xx"]
        total["inflight_bound"] += r["conns"] + r["timeout"] + r["read"] + r["write"]
        samples.extend(r.get("samples", []))

    try:
        stack.start()
        ports = stack.frontend_ports
        if args.warmup > 0:
            print(f"bench: warm-up ({args.warmup:g} s)", file=sys.stderr, flush=True)
            account(wrk(ports, "/task", mix_lua, 16, args.warmup, args.threads) | {"conns": 16})
            time.sleep(1.0)
        measure("baseline GET /", "baseline", "ab", 64, lambda: ab(ports, "/", 64, S))
        measure("baseline GET /", "baseline", "wrk", 64, lambda: wrk(ports, "/", get_lua, 64, S, args.threads))
        cpu_before = cpu_snapshot(stack)
        measure("pipeline, one body " + BODIES[0], "single", "ab", 64, lambda: ab(ports, "/task", 64, S, body_file))
        for c in args.concurrency:
            if c == TARGET_CONNS and args.ceilings:
                # The row's documents are the log's positions between these two sizes (read back after the GET rows).
                ceil.update(before=store_size(stack.mongo()), hist_before=events_histograms(stack),
                            cpu_before=cpu_snapshot(stack))
            row = measure("pipeline, five bodies", "mixed", "wrk", c,
                          lambda: wrk(ports, "/task", mix_lua, c, S, args.threads))
            if c == TARGET_CONNS and args.ceilings:
                ceil.update(after=store_size(stack.mongo()), hist_after=events_histograms(stack),
                            cpu_after=cpu_snapshot(stack), row=row)
                ceil["win_docs"] = ceil["after"] - ceil["before"]
                ceil["cpu"] = cpu_by_name(stack, ceil["cpu_before"], ceil["cpu_after"],
                                          row["requests"] - row["non2xx"])
            if c == TARGET_CONNS and args.get_rate > 0:
                # The same POST load with GETs beside it, then without again, --get-rounds times (A-B-A-B-A): the
                # ratio of the means cancels a drift of the shared machine, and the pairs show its noise.
                ids = list(dict.fromkeys(samples))
                if len(ids) < 50:
                    more, bad = readload.post_tasks(ports, BODIES, 200, 8)
                    total["2xx"] += len(more)
                    total["non2xx"] += sum(bad.values())
                    ids += more
                for k in range(args.get_rounds):
                    of = f" ({k + 1} of {args.get_rounds})" if args.get_rounds > 1 else ""
                    measure(f"pipeline, five bodies + {args.get_rate:g} GET /task/s{of}", "mixed+get", "wrk", c,
                            lambda: with_gets(ports, mix_lua, c, S, args.threads, ids, args.get_rate))
                    measure(f"pipeline, five bodies (again, after the GET row){of}", "mixed-again", "wrk", c,
                            lambda: wrk(ports, "/task", mix_lua, c, S, args.threads))
            if c == TARGET_CONNS and args.ceilings:
                # The ceilings' own load on this stack (FerretDB reading back and inserting; idle heartbeats) is
                # left out of the CPU accounted to the pipeline rows.
                idle0 = cpu_snapshot(stack)
                print("bench: ceiling (b): the store alone with the 64-connection row's documents and batch sizes ...",
                      file=sys.stderr, flush=True)
                try:
                    ceil["alone"] = store_alone(stack, ceil)
                except CeilingSkipped as e:
                    notes.append(str(e))
                except BenchError as e:
                    errors.append(str(e))
                print(f"bench: ceiling (a): the same load without the event log (EVENTS_LOG={NOLOG_MODE}, a fresh "
                      "stack) ...", file=sys.stderr, flush=True)
                try:
                    nl = nolog_row(args, env, mix_lua, os.path.join(work, "nolog"))
                    nl.update(name=f"pipeline, five bodies, NO EVENT LOG (EVENTS_LOG={NOLOG_MODE}, fresh stack)",
                              kind="nolog", tool="wrk", conns=TARGET_CONNS)
                    rows.append(nl)
                    ceil["nolog"] = nl
                    if nl["stored"]:
                        errors.append(f"the no-log stack's store holds {nl['stored']} documents: EVENTS_LOG="
                                      f"{NOLOG_MODE} wrote to the log")
                except BenchError as e:
                    errors.append(str(e))
                idle1 = cpu_snapshot(stack)
                for pid, v in idle1.items():
                    if v is not None and idle0.get(pid) is not None and cpu_before.get(pid) is not None:
                        cpu_before[pid] += v - idle0[pid]
        if args.many:
            measure("pipeline, five bodies, many connections", "mixed", "wrk", args.many,
                    lambda: wrk(ports, "/task", mix_lua, args.many, S, args.threads))
        print("bench: waiting for the store to settle ...", file=sys.stderr, flush=True)
        settled = settle(stack.mongo())
        cpu_after = cpu_snapshot(stack)
        for p in stack.daemons + stack.servers:
            hwm, cpu = proc_figures(p.pid)
            used = cpu - cpu_before[p.pid] if cpu is not None and cpu_before.get(p.pid) is not None else None
            rss.append((p.name, p.pid, hwm, p in stack.daemons, used))
        print("bench: reading the event log ...", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        store = scan_store(stack.mongo(), samples)
        store["scan_s"] = time.monotonic() - t0
        if args.log_records > 0:
            reads = read_at_size(stack, args)
    except BenchError as e:
        errors.append(str(e))
    except Exception as e:  # the stack did not start, or the store did not answer
        errors.append(f"{type(e).__name__}: {e}")
    finally:
        try:
            stack.stop()
        except AssertionError as e:
            errors.append(str(e))
    logs = parse_logs(work)

    # ---- figures and checks
    bases = {r["tool"]: r for r in rows if r["kind"] == "baseline"}
    for r in rows:
        b = bases.get(r["tool"])
        r["ratio"] = r["rps"] / b["rps"] if b and b["rps"] else None
        if r["kind"] != "baseline":
            if not r["requests"]:
                errors.append(f"{r['name']} at {r['conns']} connections ({r['tool']}): no answer at all")
            if r["non2xx"]:
                errors.append(f"{r['name']} at {r['conns']} connections ({r['tool']}): {r['non2xx']} non-2xx "
                              f"answers {json.dumps(r['statuses'])}")
            sock = r["connect"] + r["read"] + r["write"] + r["timeout"] + r.get("exceptions", 0)
            if sock:
                errors.append(f"{r['name']} at {r['conns']} connections ({r['tool']}): socket errors "
                              f"connect {r['connect']}, read {r['read']}, write {r['write']}, "
                              f"timeout {r['timeout']}, exceptions {r.get('exceptions', 0)}")
    if store:
        answered = store["answered"]
        store["extra"] = answered - total["2xx"] - total["non2xx"]
        if answered < total["2xx"]:
            errors.append(f"the store holds {answered} answered tasks but the tools counted {total['2xx']} "
                          "2xx answers: answers left without their record")
        if store["extra"] > total["inflight_bound"]:
            notes.append(f"the store holds {store['extra']} more answered tasks than the tools counted answers, "
                         f"more than the {total['inflight_bound']} connections could have had in flight")
        if not settled:
            errors.append("the event log was still growing 90 s after the load")
        if store["incomplete"]:
            errors.append(f"{len(store['incomplete'])} tasks with a bad or incomplete history in the store, e.g.:\n  " +
                          "\n  ".join(store["incomplete"][:10]))
        if store["bad_samples"]:
            errors.append(f"{len(store['bad_samples'])} sampled 2xx answers without a complete history ending in "
                          "completed in the store, e.g. " + ", ".join(store["bad_samples"][:10]))
    elif not errors:
        errors.append("no store figures")
    lags = {n: int(l["stopped"]["max_store_lag_ms"]) for n, l in logs.items()
            if "max_store_lag_ms" in l["stopped"]}
    for n, l in logs.items():
        if rows and n.startswith("events") and "max_store_lag_ms" not in l["stopped"]:
            errors.append(f"{n}: no event=stopped line with max_store_lag_ms in its log")

    # The rows at TARGET_CONNS in run order: A (plain), then B (with GETs), A again, per round.
    abab = [r for r in rows if r["kind"] in ("mixed", "mixed+get", "mixed-again") and r["conns"] == TARGET_CONNS]
    plain = [r for r in abab if r["kind"] != "mixed+get"]
    with_gets_rows = [r for r in abab if r["kind"] == "mixed+get"]
    with_get, get_ratio, pair_ratios = None, None, []
    if with_gets_rows:
        with_get = {"rps": sum(r["rps"] for r in with_gets_rows) / len(with_gets_rows),
                    "gets": readload.merge_summaries([r["gets"] for r in with_gets_rows])}
        g = with_get["gets"]
        mean = sum(r["rps"] for r in plain) / len(plain) if plain else 0
        get_ratio = with_get["rps"] / mean if mean else None
        for i, r in enumerate(abab):
            if r["kind"] == "mixed+get" and 0 < i < len(abab) - 1 and abab[i - 1]["rps"] + abab[i + 1]["rps"]:
                pair_ratios.append(2 * r["rps"] / (abab[i - 1]["rps"] + abab[i + 1]["rps"]))
        if g["non200"]:
            errors.append(f"{g['non200']} of {g['gets']} GET /task/{{id}} beside the POST load were not a good 200: "
                          f"{json.dumps(g['statuses'])}")
    if reads:
        g = reads["gets"]
        if reads["posts_bad"]:
            errors.append(f"POST /task after the prefill: non-200 answers {json.dumps(reads['posts_bad'])}")
        if g["non200"] or not g["gets"]:
            errors.append(f"{g['non200']} of {g['gets']} GET /task/{{id}} at {reads['size']:,} log records were not "
                          f"a good 200: {json.dumps(g['statuses'])}")

    targets = []
    if get_ratio is not None:
        targets.append((get_ratio >= TARGET_GET_RATIO,
                        f"POST req/s at {TARGET_CONNS} connections with {args.get_rate:g} GET /task/s beside it ≥ "
                        f"{TARGET_GET_RATIO:g} × without (means of {len(with_gets_rows)} and {len(plain)} rows, "
                        f"alternating): {fmt(with_get['rps'], 0)} / {fmt(mean, 0)} = {fmt(get_ratio)}"))
    if reads and reads["gets"]["gets"]:
        targets.append((reads["gets"]["p99"] <= TARGET_GET_P99_MS,
                        f"GET /task/{{id}} p99 ≤ {TARGET_GET_P99_MS:g} ms at {fmt(reads['size'])} log records: "
                        f"{fmt(reads['gets']['p99'])} ms"))
    c64 = next((r for r in rows if r["kind"] == "mixed" and r["conns"] == TARGET_CONNS), None)
    if c64:
        targets.append((c64["ratio"] is not None and c64["ratio"] >= TARGET_RATIO,
                        f"pipeline at {TARGET_CONNS} connections ≥ {TARGET_RATIO:.0%} of baseline req/s (wrk): "
                        f"{fmt(c64['rps'], 0)} req/s = {fmt(c64['ratio'])} × {fmt(bases['wrk']['rps'], 0)}"))
        targets.append((c64["p99"] <= TARGET_P99_MS,
                        f"pipeline p99 at {TARGET_CONNS} connections ≤ {TARGET_P99_MS:g} ms: {fmt(c64['p99'])} ms"))
        targets.append((c64["non2xx"] == 0, f"pipeline at {TARGET_CONNS} connections: zero non-2xx: "
                                            f"{c64['non2xx']}"))
    if rss:
        worst = max((r for r in rss if r[3] and r[2] is not None), key=lambda r: r[2], default=None)
        grew = next((r for r in rows if worst and r.get("hwm") and r["hwm"][0] > RSS_TARGET_MB), None)
        if worst:
            targets.append((worst[2] <= RSS_TARGET_MB, f"no daemon above {RSS_TARGET_MB} MB peak RSS: "
                                                       f"largest {worst[0]} {worst[2]:.1f} MB"
                                                       + (f" (above the target from the row '{grew['name']}' at "
                                                          f"{grew['conns']} connections)" if grew else "")))

    # ---- report
    finished = datetime.datetime.now(datetime.timezone.utc)
    backends = ", ".join(f"{s}={n}" for s, n in sorted(args.backends.items()))
    md = [f"# taskbus benchmark, {started:%Y-%m-%d %H:%M} UTC", "",
          f"- machine: {machine()}; load generators on the same machine",
          f"- command: `{command}` (cwd `{os.getcwd()}`)",
          f"- stack: frontends {args.frontends}, events {args.events}, backends {backends}; redis-server and "
          f"FerretDB (SQLite) started by the bench; daemons from `{args.build}`",
          f"- each row {S:g} s after a {args.warmup:g} s warm-up; total {(finished - started).seconds} s; "
          f"open files limit {nofile}",
          f"- bodies: `{BODIES[0]}` alone (ab), or all of " + ", ".join(f"`{b}`" for b in BODIES) +
          " in rotation (wrk, Lua); latency p50/p99/max from the tool (ab rounds to whole ms)", "",
          "## Throughput and latency", "", results_table(rows), ""]
    md += ["## Targets", ""] + [f"- {'PASS' if ok else 'MISS'}: {text}" for ok, text in targets] + [""]
    ceiling_lines = []
    if ceil.get("row"):
        ceil_md, ceiling_lines = ceilings_md(ceil, args)
        md += ceil_md
    if store:
        cpu_used = sum((cpu_after.get(k) or 0) - (v or 0) for k, v in cpu_before.items()) if cpu_after else None
        answered_after = sum(r["requests"] for r in rows if r["kind"] != "baseline")
        md += ["## Store (read back after the load)", "", "| figure | value |", "|---|---:|",
               f"| answers counted by the tools, all pipeline rows and the warm-up (2xx / non-2xx) | "
               f"{fmt(total['2xx'])} / {fmt(total['non2xx'])} |",
               f"| answered tasks in the store (a complete history ending in completed or failed) | "
               f"{fmt(store['answered'])} |",
               f"| answered in the store but not counted by a tool (in flight at a cut-off; at most "
               f"{fmt(total['inflight_bound'])}) | {fmt(store['extra'])} |",
               f"| tasks / records received, dispatched, completed, failed | {fmt(store['tasks'])} / "
               f"{fmt(store['received'])}, {fmt(store['dispatched'])}, {fmt(store['completed'])}, "
               f"{fmt(store['failed'])} |",
               f"| tasks with a bad or incomplete history | {fmt(len(store['incomplete']))} |",
               f"| sampled 2xx answers (task ids from wrk) whose whole history is in the store | "
               f"{fmt(store['samples'] - len(store['bad_samples']))} of {fmt(store['samples'])} |",
               "| max store write lag (events `max_store_lag_ms`) | " +
               (", ".join(f"{n}: {v} ms" for n, v in lags.items()) or "–") + " |",
               f"| time to read the event log back (one scan) | {store['scan_s']:.0f} s |"]
        if cpu_used is not None and answered_after:
            md.append(f"| CPU of all daemons and servers per pipeline answer (measured rows) | "
                      f"{cpu_used / answered_after * 1e6:.0f} µs |")
        md.append("")
    if with_get or reads:
        md += ["## Reads: GET /task/{id}", ""]
    if with_get:
        g = with_get["gets"]
        md += [f"POST load at {TARGET_CONNS} connections (the wrk rows above) without GETs, then with "
               f"{args.get_rate:g} GET /task/{{id}} per second beside it and without again, {args.get_rounds} "
               "time(s), back to back; the ratio is of the means of the rows with and without GETs, and each pair "
               "ratio is a row with GETs over the mean of its two neighbours. The GETs are paced open-loop (one every "
               f"{1000 / args.get_rate:g} ms whatever the answers; latency from each GET's scheduled time) over "
               f"{fmt(g['ids'])} task ids that wrk saw answered earlier in the run, from Python (http.client, "
               "keep-alive).", "",
               "| figure | value |", "|---|---:|",
               "| POST req/s in run order, without / with GETs / without ... | " +
               " / ".join(fmt(r["rps"], 0) for r in abab) + " |",
               f"| POST req/s with GETs ÷ without (means) | {fmt(with_get['rps'], 0)} / {fmt(mean, 0)} = "
               f"{fmt(get_ratio)} |",
               "| each row with GETs ÷ the mean of its neighbours | " +
               ", ".join(fmt(x) for x in pair_ratios) + " |",
               f"| GETs sent (rate) | {fmt(g['gets'])} ({fmt(g['rate'], 1)}/s) |",
               f"| GET latency p50 / p99 / max, ms | {fmt(g['p50'])} / {fmt(g['p99'])} / {fmt(g['max'])} |",
               f"| GETs not a good 200 | {fmt(g['non200'])}" +
               (" " + json.dumps(g["statuses"]) if g["statuses"] else "") + " |",
               f"| pacer's worst lateness | {fmt(g['scheduler_late_ms'])} ms |", ""]
    if reads:
        g = reads["gets"]
        rate = reads["prefilled"] / reads["prefill_s"] if reads["prefill_s"] else None
        md += [f"After the read-back of the store: the log prefilled to {fmt(args.log_records)} records "
               "(`bench/prefill.py`: records of the pipeline's shape, `insert_many` of "
               f"{prefill.BATCH:,} unordered, from {reads['processes']} processes), then {fmt(args.read_gets)} "
               "tasks posted through the pipeline (so the projection holds them) and each read once with GET "
               f"/task/{{id}}, {g['conns']} at a time, closed-loop, from Python (http.client, keep-alive).", "",
               "| figure | value |", "|---|---:|",
               f"| log records before the prefill | {fmt(reads['before'])} |",
               f"| prefilled records, time, rate | {fmt(reads['prefilled'])} in {reads['prefill_s']:.0f} s = "
               f"{fmt(rate, 0)} records/s |",
               f"| log records when reading (collStats) | {fmt(reads['size'])} |",
               f"| {fmt(args.read_gets)} POSTs (8 at a time) | {reads['posts_s']:.1f} s" +
               (", not 200: " + json.dumps(reads["posts_bad"]) if reads["posts_bad"] else "") + " |",
               f"| GETs (rate) | {fmt(g['gets'])} ({fmt(g['rate'], 0)}/s) |",
               f"| GET latency p50 / p99 / max, ms | {fmt(g['p50'])} / {fmt(g['p99'])} / {fmt(g['max'])} |",
               f"| GETs not a good 200 | {fmt(g['non200'])}" +
               (" " + json.dumps(g["statuses"]) if g["statuses"] else "") + " |",
               f"| FerretDB peak RSS after the reads | {fmt(reads['ferretdb_hwm'], 1)} MB |", ""]
    if rss:
        md += ["## Processes (read after the load)", "",
               "| process | pid | peak RSS MB (VmHWM) | CPU s in the measured pipeline rows |", "|---|---:|---:|---:|"]
        md += [f"| {n}{'' if d else ' (server)'} | {pid} | {fmt(h, 1)} | {fmt(c, 1)} |" for n, pid, h, d, c in rss]
        md += [""]
    warn_lines = [(n, w) for n, l in logs.items() for w in l["warnings"]]
    if warn_lines:
        md += ["## Warnings in the daemon logs", "", "```"]
        md += [f"{n}: {w}" for n, w in warn_lines[:20]]
        if len(warn_lines) > 20:
            md.append(f"... {len(warn_lines) - 20} more")
        md += ["```", ""]
    stops = {n: l["stopped"] for n, l in logs.items() if l["stopped"]}
    if stops:
        md += ["## Daemon counters at shutdown", "", "```"]
        md += [f"{n}: " + " ".join(f"{k}={v}" for k, v in s.items()) for n, s in stops.items()] + ["```", ""]
    plot_png = os.path.join(args.out, "latest.png")
    trouble = plot(rows, plot_png, work) if any(r["kind"] == "mixed" for r in rows) else "no pipeline rows: no plot"
    if trouble:
        notes.append(trouble)
    else:
        md += ["![req/s and latency against connections](latest.png)", ""]
    if notes:
        md += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    if errors:
        md += ["## Errors", "", "```"] + errors + ["```", ""]
    text = "\n".join(md)
    with open(os.path.join(args.out, "latest.md"), "w") as f:
        f.write(text)

    print(text)
    for ok, line in targets:
        print(f"{'PASS' if ok else 'MISS'} {line}")
    for line in ceiling_lines:
        print(f"CEILING {line}")
    print(f"bench: wrote {os.path.join(args.out, 'latest.md')}" + ("" if trouble else f" and {plot_png}"))
    if errors or args.keep:
        print(f"bench: logs and store kept in {work}", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)
    if errors:
        print("bench: FAILED:\n" + "\n".join(errors), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
