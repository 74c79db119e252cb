#!/usr/bin/python3
"""make chaos: break a local taskbus stack under a checking load, then prove from the answers and the event log that
no accepted task was lost, none answered wrongly or twice, none has two outcomes, and retries ended right.

1. Starts redis-server, FerretDB and 2 frontends, 2 events replicas and 2 backends per service on free loopback
   ports (tests/harness.py), with HEARTBEAT_MS=500, REPLICA_TTL_MS=1500 and TASK_TIMEOUT_MS=5000.
2. Runs the checking client (tests/loadcheck.py): many asyncio workers on keep-alive connections spread over both
   frontends, distinct bodies of every kind (add, subtract, multiply, divide, division by zero and overflow -> 422,
   concatenation) each with its expected answer and a fresh Idempotency-Key; a 5xx or a connection error is retried
   with the same body and key (bounded; backoff; Retry-After honoured; another frontend after a connection error).
   Requests are paced to --requests over --seconds, except for about a second at full speed around each fault
   (64 requests in flight when it hits).
3. Meanwhile, spaced over the run, one at a time, each followed by waiting until the stack is whole again:
   SIGKILL a backend (a replacement starts), SIGKILL an events replica (replacement), SIGKILL a frontend (its
   clients go to the other one; a replacement starts on the same port), SIGSTOP a backend for 4 s, restart
   redis-server on the same port (SIGKILL, 1 s down), SIGSTOP FerretDB for 10 s (store outage).
4. Reads the whole event log and reports, on stdout and in bench/results/chaos-latest.md (with --short:
   <build>/chaos-short.md, which git ignores): requests and HTTP attempts by status, connection errors, lost tasks
   (an id the client saw in an answer other than a refusal, with no completed/failed record), ids answered 2xx to
   two different requests, wrong answers (or answers that disagree with the log), tasks with more than one outcome,
   requests executed more than once (one body and Idempotency-Key, several completed tasks), retried requests that
   did not end right, peak RSS per process, and every failed attempt by cause (the fault window it fell in).

Exit status 1 unless lost = wrong = answered twice = double outcomes = executed twice = 0 and every retried request
ended with the right answer, every fault was recovered from, and no daemon died on its own or exited non-zero.

    /usr/bin/python3 bench/chaos.py --build build-chaos                 # make chaos: 100,000 requests over 100 s
    /usr/bin/python3 bench/chaos.py --short --build build-test          # make test: 20,000 requests over 60 s
Settings also come from CHAOS_REQUESTS, CHAOS_SECONDS, CHAOS_WORKERS. Only 127.0.0.1 is ever targeted.
"""
import argparse
import collections
import datetime
import itertools
import os
import platform
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True      # no __pycache__ in the checkout
sys.path.insert(0, os.path.join(TOP, "tests"))
import harness  # noqa: E402
import loadcheck  # noqa: E402

HEARTBEAT_MS, REPLICA_TTL_MS, TASK_TIMEOUT_MS = 500, 1500, 5000
GRACE_S = 2.0           # a failure up to this long after a fault's recovery is still the fault's
MIN_GAP_S = 3.0         # steady load between one fault's recovery and the next fault
TAIL_S = 4.0            # steady load after the last fault
RECOVER_S = 40.0        # a fault the stack has not recovered from by then is an error
SURGE_BEFORE_S, SURGE_AFTER_S = 0.6, 0.4   # full-speed load around each fault: many requests in flight when it hits
SERVICES = ("arithmetic", "string")
OUTCOMES = ("completed", "failed")
T0 = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - T0:6.1f}s] {msg}", flush=True)


# ---------------------------------------------------------------- faults

class Fault:
    """One fault: what was done to which process, when it started and when the stack was whole again."""

    def __init__(self, name, target):
        self.name, self.target = name, target
        self.t0 = time.monotonic()
        self.t_end = None
        self.note = ""

    def label(self):
        return f"{self.name} ({self.target})"


class Chaos:
    """Runs the faults one after another in a thread, at the planned moments, each followed by waiting until the
    stack has recovered (registry full, frontends answering GET / 200, store answering)."""

    def __init__(self, stack, seconds):
        self.stack, self.seconds = stack, seconds
        self.faults, self.errors = [], []
        self.done = threading.Event()
        self.done_at = None
        self.stopped = []       # processes under SIGSTOP, resumed whatever happens
        self.steps = [self.kill_backend, self.kill_events, self.kill_frontend, self.stop_backend,
                      self.restart_redis, self.stop_store]
        self.start_at = None
        self.client = None      # the load generator, whose pacing is lifted around each fault

    def alive(self, prefix):
        return [d for d in self.stack.daemons if d.name.startswith(prefix) and d.alive()]

    def wait(self, what, check, fault):
        try:
            harness.wait_until(what, check, RECOVER_S)
        except RuntimeError as e:
            self.errors.append(f"{fault.label()}: {e}")
            fault.note += f" NOT RECOVERED: {e}"
            log(f"chaos: ERROR {e}")

    def whole(self):
        """True when every service has its full count of live replicas and every frontend answers GET / 200."""
        st = self.stack
        if st.registered("events") < st.counts["events"]:
            return False
        if any(st.registered(s) < n for s, n in st.counts["backends"].items()):
            return False
        return all(harness.http(p, "GET", "/", timeout=2)[0] == 200 for p in st.frontend_ports)

    def begin(self, name, target):
        f = Fault(name, target)
        self.faults.append(f)
        log(f"chaos: {f.label()}")
        return f

    def end(self, f, check=None):
        self.wait(f"the stack to recover from {f.label()}", check or self.whole, f)
        f.t_end = time.monotonic()
        log(f"chaos: recovered from {f.name} after {f.t_end - f.t0:.1f}s{f.note}")

    # -- the faults
    def kill_backend(self):
        victim = self.alive("backend-arithmetic")[0]
        f = self.begin("SIGKILL backend", victim.name)
        self.stack.kill(victim)
        time.sleep(REPLICA_TTL_MS / 1000 + 0.5)     # the stack runs a while with one replica fewer
        new = self.stack.replace_daemon(victim)
        f.note = f"; replacement {new.name}"
        self.end(f)

    def kill_events(self):
        victim = self.alive("events")[0]
        f = self.begin("SIGKILL events", victim.name)
        self.stack.kill(victim)
        time.sleep(REPLICA_TTL_MS / 1000 + 0.5)
        new = self.stack.replace_daemon(victim)
        f.note = f"; replacement {new.name}"
        self.end(f)

    def kill_frontend(self):
        victim = self.alive("frontend")[0]
        f = self.begin("SIGKILL frontend", f"{victim.name} on :{victim.port}")
        f.port = victim.port
        self.stack.kill(victim)
        time.sleep(1.0)                             # its clients go to the other frontend meanwhile
        new = self.stack.replace_daemon(victim)
        f.note = f"; replacement {new.name} on :{new.port}"
        self.end(f)

    def stop_backend(self):
        victim = self.alive("backend-string")[0]
        f = self.begin("SIGSTOP backend 4 s", victim.name)
        self.stopped.append(victim)
        self.stack.signal(victim, signal.SIGSTOP)
        time.sleep(4.0)
        self.stack.signal(victim, signal.SIGCONT)
        self.stopped.remove(victim)
        self.end(f)

    def restart_redis(self):
        redis = next(s for s in self.stack.servers if s.name == "redis")
        f = self.begin("restart redis-server", f"port {self.stack.redis_port}, 1 s down")
        self.stack.restart_server(redis, down_s=1.0)
        self.end(f)

    def stop_store(self):
        store = next(s for s in self.stack.servers if s.name == "ferretdb")
        f = self.begin("SIGSTOP FerretDB 10 s", "store outage")
        self.stopped.append(store)
        self.stack.signal(store, signal.SIGSTOP)
        time.sleep(10.0)
        self.stack.signal(store, signal.SIGCONT)
        self.stopped.remove(store)
        self.end(f, lambda: self.stack.mongo().command("ping") and self.whole())

    # -- the schedule
    def run(self):
        """Fault k starts at (k+1)/(n+1) of the planned seconds, and at least MIN_GAP_S after the previous one
        recovered."""
        self.start_at = time.monotonic()
        try:
            for k, step in enumerate(self.steps):
                at = self.start_at + (k + 1) * self.seconds / (len(self.steps) + 1)
                if self.faults:
                    at = max(at, self.faults[-1].t_end + MIN_GAP_S)
                time.sleep(max(0.0, at - time.monotonic() - SURGE_BEFORE_S))
                if self.client:
                    self.client.surge_until = time.monotonic() + SURGE_BEFORE_S + SURGE_AFTER_S
                time.sleep(SURGE_BEFORE_S)
                step()
        except Exception as e:
            self.errors.append(f"chaos step failed: {e}")
            log(f"chaos: ERROR {traceback.format_exc()}")
        finally:
            self.resume_all()
            self.done_at = time.monotonic()
            self.done.set()

    def resume_all(self):
        for p in list(self.stopped):
            try:
                os.kill(p.pid, signal.SIGCONT)
            except OSError:
                pass
        self.stopped = []

    def window(self, a):
        """The fault a failed attempt falls in: the latest one started before the attempt ended, among those whose
        window (start to recovery + GRACE_S) the attempt overlaps; or None."""
        best = None
        for f in self.faults:
            end = (f.t_end or time.monotonic()) + GRACE_S
            if a.t1 >= f.t0 and a.t0 <= end and (best is None or f.t0 > best.t0):
                best = f
        return best


# ---------------------------------------------------------------- memory

class RssSampler:
    """Peak resident memory (VmHWM, kB) of every process of the stack, sampled every 'period' seconds."""

    def __init__(self, stack, period=0.5):
        self.stack, self.period = stack, period
        self.peak = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def sample(self):
        for p in list(self.stack.daemons) + list(self.stack.servers):
            try:
                with open(f"/proc/{p.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            kb = int(line.split()[1])
                            self.peak[p.name] = max(self.peak.get(p.name, 0), kb)
                            break
            except (OSError, ValueError):
                pass

    def run(self):
        while not self.stop.wait(self.period):
            self.sample()


# ---------------------------------------------------------------- the event log

def read_log(stack, only=None):
    """Every record of the log (or of the tasks in 'only'), grouped by task: {task: {"outcomes": [record...],
    "request": text or None, "records": n}}. Outcomes are the records whose type is completed or failed, whatever
    their _id."""
    coll = stack.mongo().events
    tasks = {}
    fields = {"task": 1, "seq": 1, "type": 1, "status": 1, "result": 1, "error": 1, "request": 1,
              harness.COMMIT_FIELD: 1}
    for rec in coll.find({"task": {"$in": sorted(only)}} if only else {}, fields, batch_size=10000):
        t = tasks.get(rec.get("task"))
        if t is None:
            t = tasks[rec.get("task")] = {"outcomes": [], "request": None, "records": 0}
        t["records"] += 2 if harness.COMMIT_FIELD in rec else 1  # a task commit holds two records
        if rec.get("type") in OUTCOMES:
            t["outcomes"].append(rec)
        if "request" in rec and t["request"] is None:
            t["request"] = rec["request"]
    return tasks


def projection_mismatches(stack, tasks):
    """Tasks with an outcome whose projection in Redis disagrees with the log: another status, or not every record
    of the task. [(task, (log status, records), (projected status or None, records))]."""
    out = []
    with harness.Redis(stack.redis_port) as redis:
        for tid, t in tasks.items():
            if not t["outcomes"]:
                continue
            want = (t["outcomes"][0].get("type"), t["records"])
            fields = redis.command("HGETALL", f"taskbus:task:{tid}")
            h = dict(zip(fields[::2], fields[1::2]))
            got = (h[b"status"].decode() if b"status" in h else None, sum(1 for k in h if b":" in k))
            if got != want:
                out.append((tid, want, got))
    return out


def rebuild_projection(stack):
    """Run events --rebuild against the stack; returns its summary line."""
    out = subprocess.run([os.path.join(stack.build, "events"), "--rebuild"], env=stack.daemon_env(),
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"events --rebuild failed: {out.stderr[-500:]}")
    return out.stdout.strip()


def wait_log_settled():
    """Wait until the log holds what the load caused: events ends every task (an outcome, or its own 504) within
    the task's deadline and writes its records before it answers, so one deadline after the last answer, plus a
    second for the store's writer, is enough. (Counting the records instead costs FerretDB a full scan per look.)
    A task that still has no outcome when it is read is looked up once more before it is called lost."""
    time.sleep(TASK_TIMEOUT_MS / 1000 + 1)


# ---------------------------------------------------------------- checks

def norm(text):
    """An error message with its numbers and ids blanked, to group failures."""
    text = re.sub(r"/task/[A-Za-z0-9-]+", "/task/<id>", text or "")
    return re.sub(r"\d+", "N", re.sub(r"\b[0-9a-f]{32}\b", "<id>", text))[:160]


def cause_of(a, chaos):
    """(fault label, what happened) for a failed attempt."""
    f = chaos.window(a)
    what = (f"{a.status} {norm(a.error)}" if a.status is not None else f"connection error: {a.error}")
    if f is None:
        return "outside every fault window", what
    if f.name == "SIGKILL frontend" and a.status is None and a.port == getattr(f, "port", None):
        what += " (the killed frontend's port)"
    return f.label(), what


def analyse(requests, tasks, chaos):
    """All the figures and the lists behind them."""
    r = collections.OrderedDict()
    body_of = {}
    for q in requests:
        body_of[loadcheck.case(q.i)[0].decode()] = q.i
    by_i = {q.i: q for q in requests}

    attempts = [a for q in requests for a in q.attempts]
    r["requests"] = len(requests)
    r["attempts"] = len(attempts)
    r["status"] = collections.Counter(a.status for a in attempts if a.status is not None)
    r["conn_errors"] = collections.Counter(a.error for a in attempts if a.status is None)
    r["per_port"] = collections.Counter(a.port for a in attempts)
    r["first_try_right"] = sum(1 for q in requests if not q.retried() and q.right())
    retried = [q for q in requests if q.retried()]
    r["retried"] = len(retried)
    r["retried_right"] = sum(1 for q in retried if q.right())
    r["retried_not_right"] = [q for q in retried if not q.right()]
    r["ended_right"] = sum(1 for q in requests if q.right())

    # Wrong: a final 2xx/4xx that is not the owed answer; an answer that disagrees with the log's outcome of its id,
    # or whose id the log holds for another body; a retry answered with another result than an earlier attempt.
    wrong = []
    for q in requests:
        _, status, result = loadcheck.case(q.i)
        f = q.final
        if loadcheck.is_final(f.status) and not q.right():
            wrong.append((q, f"answered {f.status} {f.result if f.status == 200 else f.error!r}, owed {status} "
                             f"{result}"))
        results = {a.result for a in q.attempts if a.status is not None and 200 <= a.status < 300}
        if len(results) > 1:
            wrong.append((q, f"attempts answered different results {sorted(results)}"))
        for a in q.attempts:
            if a.id is None or not loadcheck.is_final(a.status):
                continue
            t = tasks.get(a.id)
            if t is None or not t["outcomes"]:
                continue        # counted as lost below
            if t["request"] is not None and body_of.get(t["request"]) != q.i:
                wrong.append((q, f"answered with task {a.id}, which the log holds for {t['request']}"))
                continue
            o = t["outcomes"][-1]
            if 200 <= a.status < 300 and (o.get("type") != "completed" or o.get("result") != a.result):
                wrong.append((q, f"answered 200 {a.result} for {a.id}; the log says {o.get('type')} "
                                 f"{o.get('result', o.get('status'))}"))
            elif a.status >= 400 and (o.get("type") != "failed" or o.get("status") != a.status):
                wrong.append((q, f"answered {a.status} for {a.id}; the log says {o.get('type')} {o.get('status')}"))
    # The log's own outcomes of our bodies must be what the body owes.
    log_wrong = []
    for tid, t in tasks.items():
        i = body_of.get(t["request"])
        if i is None:
            continue
        _, status, result = loadcheck.case(i)
        for o in t["outcomes"]:
            if o.get("type") == "completed" and (status != 200 or o.get("result") != result):
                log_wrong.append((tid, f"log: {t['request']} completed {o.get('result')!r}, owed {status} {result}"))
            if o.get("type") == "failed" and o.get("status") not in (status, 500, 503, 504):
                log_wrong.append((tid, f"log: {t['request']} failed {o.get('status')}, owed {status} {result}"))
    r["wrong"] = wrong
    r["log_wrong"] = log_wrong

    # Lost: an id seen in an answer other than a refusal (a 503 for a task the log never saw), with no outcome.
    seen = {}
    for q in requests:
        for a in q.attempts:
            if a.id:
                seen.setdefault(a.id, (q, a))
    lost, refused = [], 0
    for tid, (q, a) in seen.items():
        t = tasks.get(tid)
        if t and t["outcomes"]:
            continue
        if a.status == 503 and not t:
            refused += 1
            continue
        lost.append((tid, q, a, t))
    r["lost"] = lost
    r["refused_with_id"] = refused

    # Answered twice: one id in 2xx answers of two requests (different keys).
    by_id = collections.defaultdict(set)
    for q in requests:
        for a in q.attempts:
            if a.id and a.status is not None and 200 <= a.status < 300:
                by_id[a.id].add(q.i)
    r["twice"] = [(tid, sorted(ii)) for tid, ii in by_id.items() if len(ii) > 1]

    # The log: outcomes per task, executions per body, tasks that never ended.
    r["double_outcomes"] = [(tid, [o.get("type") for o in t["outcomes"]]) for tid, t in tasks.items()
                            if len(t["outcomes"]) > 1]
    completed_per_body = collections.defaultdict(list)
    for tid, t in tasks.items():
        if t["request"] in body_of and any(o.get("type") == "completed" for o in t["outcomes"]):
            completed_per_body[body_of[t["request"]]].append(tid)
    r["executed_twice"] = [(i, sorted(tids)) for i, tids in completed_per_body.items() if len(tids) > 1]
    # Idempotency: a retry answered with another task id than an earlier attempt of the same key.
    r["new_id_on_retry"] = sum(1 for q in requests
                               if len({a.id for a in q.attempts if a.id and a.status is not None}) > 1)
    r["log_tasks"] = len(tasks)
    r["log_records"] = sum(t["records"] for t in tasks.values())
    r["log_outcomes"] = collections.Counter(
        o.get("type") if o.get("type") == "completed" else f"failed {o.get('status')}"
        for t in tasks.values() for o in t["outcomes"])
    r["log_no_outcome"] = sum(1 for t in tasks.values() if not t["outcomes"])
    r["log_unknown"] = sum(1 for t in tasks.values() if t["request"] is not None and t["request"] not in body_of)
    answered_ok = {q.i for q in requests if q.right()}
    r["log_missing_for_right"] = sum(1 for i in answered_ok if i not in completed_per_body
                                     and loadcheck.case(i)[1] == 200)

    # Failed attempts by cause.
    causes = collections.Counter()
    failed = []
    for q in requests:
        first = None        # (fault, what) of the request's first failed attempt in a fault window
        for a in q.attempts:
            if not loadcheck.is_final(a.status):
                c = cause_of(a, chaos)
                # A retry that fails the same way as its request's first failure follows from that fault, even in a
                # later fault's window or outside every window.
                if first and c[1] == first[1] and c[0] != first[0]:
                    c = (f"{first[0]} (a retry after it)", c[1])
                elif first and c[0] == "outside every fault window":
                    c = (f"{first[0]} (a retry after it)", c[1])
                if first is None and c[0] != "outside every fault window":
                    first = c
                causes[c] += 1
                failed.append((a, q, c))
    failed.sort(key=lambda x: x[0].t0)
    r["causes"] = causes
    r["failed"] = failed
    r["by_i"] = by_i
    return r


# ---------------------------------------------------------------- the report

def fmt_counter(c, key=str):
    return ", ".join(f"{key(k)}: {v:,}" for k, v in sorted(c.items(), key=lambda kv: str(kv[0]))) or "none"


def report(args, r, chaos, rss, load_s, errors):
    t0 = chaos.start_at or T0
    lines = []
    add = lines.append
    mode = "short" if args.short else "full"
    ok = (not r["lost"] and not r["wrong"] and not r["log_wrong"] and not r["twice"] and not r["double_outcomes"]
          and not r["executed_twice"] and not r["retried_not_right"] and not errors
          and not r["projection"].get("after", [None]))
    mode += ", no faults" if args.no_faults else ""
    add(f"# make chaos ({mode}): {'PASS' if ok else 'FAIL'}")
    add("")
    add(f"{datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}, {platform.node()}, {os.cpu_count()} cores, "
        f"build `{os.path.relpath(args.build, TOP)}`, commit {git_head()}; 2 frontends, 2 events, 2 backends per "
        f"service; HEARTBEAT_MS={HEARTBEAT_MS}, REPLICA_TTL_MS={REPLICA_TTL_MS}, TASK_TIMEOUT_MS={TASK_TIMEOUT_MS}; "
        f"{args.workers} workers, {args.requests:,} requests paced over {args.seconds:.0f} s plus "
        f"{SURGE_BEFORE_S + SURGE_AFTER_S:.0f} s at full speed around each fault.")
    add("")
    add("## Figures")
    add("")
    st = r["status"]
    non2xx = collections.Counter({k: v for k, v in st.items() if not 200 <= k < 300})
    add("| figure | value |")
    add("|---|---:|")
    rows = [
        ("requests (each with its own Idempotency-Key)", f"{r['requests']:,}"),
        ("HTTP attempts sent (requests + retries)", f"{r['attempts']:,} in {load_s:.0f} s "
                                                      f"({r['attempts'] / max(load_s, 1e-9):,.0f}/s)"),
        ("attempts answered 2xx", f"{sum(v for k, v in st.items() if 200 <= k < 300):,}"),
        ("attempts answered non-2xx, by status", fmt_counter(non2xx)),
        ("attempts with a connection error", f"{sum(r['conn_errors'].values()):,} ({fmt_counter(r['conn_errors'])})"),
        ("requests answered right at the first attempt", f"{r['first_try_right']:,}"),
        ("requests retried", f"{r['retried']:,}"),
        ("requests retried that ended with the right answer", f"{r['retried_right']:,}"),
        ("**requests retried that did not end right**", f"**{len(r['retried_not_right']):,}**"),
        ("**lost** (an id seen in an answer, no outcome in the log)", f"**{len(r['lost']):,}**"),
        ("**answered twice** (one id, 2xx to two different requests)", f"**{len(r['twice']):,}**"),
        ("**wrong** (answers, or answers that disagree with the log)", f"**{len(r['wrong']):,}**"),
        ("**wrong outcomes in the log**", f"**{len(r['log_wrong']):,}**"),
        ("**tasks with more than one outcome record**", f"**{len(r['double_outcomes']):,}**"),
        ("**requests executed more than once** (one key, several completed tasks)",
         f"**{len(r['executed_twice']):,}**"),
        ("retried requests answered with a new task id (Idempotency-Key not honoured)",
         f"{r['new_id_on_retry']:,}"),
        ("503 answers with an id the log never saw (refused, not lost)", f"{r['refused_with_id']:,}"),
        ("projection: tasks whose status or records disagreed with the log (records stored while redis-server "
         "was down are not projected)",
         f"{r['projection'].get('before', '?')}"),
        ("projection: `events --rebuild`", f"{r['projection'].get('rebuild', 'not run')}"),
        ("**projection: tasks that disagree with the log after the rebuild**",
         f"**{len(r['projection'].get('after', [None]))}**"),
        ("log: tasks / records", f"{r['log_tasks']:,} / {r['log_records']:,}"),
        ("log: outcomes", fmt_counter(r["log_outcomes"])),
        ("log: tasks without an outcome (the client may not have seen their id)", f"{r['log_no_outcome']:,}"),
        ("log: tasks with a request this run did not send", f"{r['log_unknown']:,}"),
        ("attempts per frontend port", fmt_counter(r["per_port"])),
    ]
    for k, v in rows:
        add(f"| {k} | {v} |")
    add("")
    add("## Faults (seconds since the load started)")
    add("")
    add("| start | recovered | fault | target | failed attempts in its window |")
    add("|---:|---:|---|---|---:|")
    per_fault = collections.Counter(c[0].replace(" (a retry after it)", "") for c in r["causes"].elements())
    for f in chaos.faults:
        add(f"| {f.t0 - t0:.1f} | {(f.t_end or f.t0) - t0:.1f} | {f.name} | {f.target}{f.note} | "
            f"{per_fault.get(f.label(), 0):,} |")
    add(f"| | | outside every fault window | | {per_fault.get('outside every fault window', 0):,} |")
    add("")
    add("## Failed attempts by cause")
    add("")
    add("| fault window | what the client got | attempts |")
    add("|---|---|---:|")
    for (fault, what), n in sorted(r["causes"].items(), key=lambda kv: (-kv[1], kv[0])):
        add(f"| {fault} | {what} | {n:,} |")
    add("")
    add("## Peak resident memory (VmHWM)")
    add("")
    add("| process | MB |")
    add("|---|---:|")
    for name, kb in sorted(rss.items()):
        add(f"| {name} | {kb / 1024:.1f} |")
    add("")
    problems = []
    for e in errors:
        problems.append(f"- run: {e}")
    for tid, q, a, t in r["lost"][:50]:
        problems.append(f"- lost: task {tid} (request {q.i} {loadcheck.case(q.i)[0].decode()}, answered "
                        f"{a.status} {norm(a.error)!r} at {a.t1 - t0:.1f}s on :{a.port}); the log holds "
                        f"{t['records'] if t else 0} record(s) of it, no outcome; the request ended "
                        f"{'right' if q.right() else 'NOT right'} after {len(q.attempts)} attempt(s)")
    for q, why in r["wrong"][:50]:
        problems.append(f"- wrong: request {q.i} {loadcheck.case(q.i)[0].decode()}: {why}")
    for tid, why in r["log_wrong"][:50]:
        problems.append(f"- wrong in the log: task {tid}: {why}")
    for tid, ii in r["twice"][:50]:
        problems.append(f"- answered twice: task {tid} answered 2xx to requests {ii}")
    for tid, types in r["double_outcomes"][:50]:
        problems.append(f"- double outcome: task {tid}: {types}")
    for i, tids in sorted(r["executed_twice"])[:50]:
        q = r["by_i"].get(i)
        how = ", ".join(f"{a.status or a.error} {a.id or ''}".strip() for a in q.attempts) if q else "?"
        problems.append(f"- executed {len(tids)} times: request {i} {loadcheck.case(i)[0].decode()}: completed "
                        f"tasks {', '.join(tids)}; its attempts got: {how}")
    for q in r["retried_not_right"][:50]:
        runs = itertools.groupby(f"{a.status or 'connection error:'} "
                                 f"{norm(a.error) if a.status != 200 else a.result} on :{a.port}" for a in q.attempts)
        how = "; ".join(f"{n} × {text}" if n > 1 else text for text, n in ((t, len(list(g))) for t, g in runs))
        problems.append(f"- retried, did not end right: request {q.i} {loadcheck.case(q.i)[0].decode()}: {how}")
    add("## Problems (first 50 of each kind)")
    add("")
    lines.extend(problems or ["none"])
    add("")
    add("## Every failed attempt (time since the load started, frontend, answer, cause, how its request ended)")
    add("")
    add("```")
    for a, q, (fault, what) in r["failed"][:5000]:
        add(f"{a.t0 - t0:7.2f}-{a.t1 - t0:7.2f} :{a.port} {what} id={a.id or '-'} request={q.i} "
            f"[{fault}] -> {'right' if q.right() else 'NOT right'} after {len(q.attempts)}")
    if len(r["failed"]) > 5000:
        add(f"... {len(r['failed']) - 5000:,} more")
    add("```")
    return ok, "\n".join(lines) + "\n"


def git_head():
    try:
        import subprocess
        return subprocess.run(["git", "-C", TOP, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip() or "?"
    except Exception:
        return "?"


# ---------------------------------------------------------------- main

def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--build", default=os.environ.get("TASKBUS_BUILD", os.path.join(TOP, "build-chaos")),
                   help="folder with the frontend, events and backend binaries (default build-chaos)")
    p.add_argument("--short", action="store_true",
                   help="the make test version: 20,000 requests over 60 s unless given otherwise")
    p.add_argument("--requests", type=int, default=None, help="requests at least (CHAOS_REQUESTS; 100000)")
    p.add_argument("--seconds", type=float, default=None,
                   help="the faults are spread over this long; requests are paced to it (CHAOS_SECONDS; 100)")
    p.add_argument("--workers", type=int, default=int(os.environ.get("CHAOS_WORKERS", "64")),
                   help="concurrent requests (CHAOS_WORKERS; 64)")
    p.add_argument("--no-faults", action="store_true", help="the same load without faults (a baseline)")
    p.add_argument("--out", default=None, help="report file (default bench/results/chaos-latest.md; with --short "
                                                "BUILD/chaos-short.md)")
    p.add_argument("--keep", action="store_true", help="keep the stack's folder (logs, store) afterwards")
    a = p.parse_args()
    env_req, env_sec = os.environ.get("CHAOS_REQUESTS"), os.environ.get("CHAOS_SECONDS")
    a.requests = a.requests or (int(env_req) if env_req else (20000 if a.short else 100000))
    a.seconds = a.seconds or (float(env_sec) if env_sec else (60.0 if a.short else 100.0))
    a.build = os.path.abspath(a.build)
    # The short run (make test) writes into its build folder, which git ignores, so that a test run leaves the
    # checkout clean; the full run's report is the one kept with the code.
    a.out = a.out or (os.path.join(a.build, "chaos-short.md") if a.short else
                      os.path.join(TOP, "bench", "results", "chaos-latest.md"))
    for b in ("frontend", "events", "backend"):
        if not os.access(os.path.join(a.build, b), os.X_OK):
            p.error(f"{os.path.join(a.build, b)} is missing: build first (make chaos does)")
    return a


def main():
    args = parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    workdir = tempfile.mkdtemp(prefix="taskbus-chaos-")
    env = {"HEARTBEAT_MS": str(HEARTBEAT_MS), "REPLICA_TTL_MS": str(REPLICA_TTL_MS),
           "TASK_TIMEOUT_MS": str(TASK_TIMEOUT_MS)}
    log(f"starting redis-server, FerretDB, 2 frontends, 2 events, 2+2 backends from {args.build} in {workdir}")
    stack = harness.Stack(args.build, workdir=workdir, frontends=2, events=2,
                          backends={s: 2 for s in SERVICES}, env=env).start()
    chaos = Chaos(stack, args.seconds)
    if args.no_faults:
        chaos.steps = []
    rss = RssSampler(stack)
    errors, projection = [], {}
    requests, tasks, load_s = [], {}, 0.0
    keep = args.keep
    stop_progress = threading.Event()
    try:
        rss.thread.start()
        t_start = time.monotonic()

        def keep_going(sent):
            now = time.monotonic()
            return (sent < args.requests or now - t_start < args.seconds or not chaos.done.is_set()
                    or now < chaos.done_at + TAIL_S)
        client = loadcheck.Client(stack.frontend_ports, workers=args.workers, rate=args.requests / args.seconds,
                                  keep_going=keep_going)
        chaos.client = client
        chaos_thread = threading.Thread(target=chaos.run, daemon=True)
        log(f"load: {args.workers} workers on ports {stack.frontend_ports}, {args.requests:,} requests paced over "
            f"{args.seconds:.0f} s; faults: {', '.join(s.__name__ for s in chaos.steps) or 'none'}")
        chaos_thread.start()

        def progress():
            while not stop_progress.wait(10):
                log(f"load: {client.sent:,} requests, {client.attempts:,} attempts, {client.in_flight} in flight")
        threading.Thread(target=progress, daemon=True).start()
        requests = client.run()
        stop_progress.set()
        load_s = time.monotonic() - t_start
        chaos_thread.join()
        errors.extend(chaos.errors)
        log(f"load: done, {len(requests):,} requests, {client.attempts:,} attempts in {load_s:.0f} s")

        unexpected = [d for d in stack.daemons if not d.alive() and not getattr(d, "killed_on_purpose", False)]
        for d in unexpected:
            errors.append(f"{d.name} (pid {d.pid}) died on its own (exit {d.p.returncode}):\n{d.tail(10)}")
        wait_log_settled()
        t = time.monotonic()
        tasks = read_log(stack)
        log(f"log: read {sum(t['records'] for t in tasks.values()):,} records of {len(tasks):,} tasks in "
            f"{time.monotonic() - t:.0f} s")
        # A task seen in an answer but without an outcome yet: look again a while later, so that "lost" never
        # means "late".
        candidates = {a.id for q in requests for a in q.attempts
                      if a.id and not (tasks.get(a.id) or {}).get("outcomes")}
        if candidates:
            time.sleep(TASK_TIMEOUT_MS / 1000)
            again = read_log(stack, candidates)
            late = sum(1 for tid, t in again.items() if t["outcomes"] and not (tasks.get(tid) or {}).get("outcomes"))
            tasks.update(again)
            log(f"log: {len(candidates)} ids seen in answers had no outcome; {late} of them have one "
                f"{TASK_TIMEOUT_MS / 1000:.0f} s later")
        # Records stored while redis-server was down (restarted), or by an events replica killed before it projected
        # them, are not in the projection. The log is the source of truth: a rebuild must make the projection agree
        # with it, record for record.
        projection["before"] = len(projection_mismatches(stack, tasks))
        projection["rebuild"] = rebuild_projection(stack)
        projection["after"] = projection_mismatches(stack, tasks)
        log(f"projection: {projection['before']} tasks disagreed with the log; {projection['rebuild']}; "
            f"{len(projection['after'])} after the rebuild")
        rss.sample()
    except Exception:
        errors.append(f"the run failed: {traceback.format_exc()}")
    finally:
        stop_progress.set()
        rss.stop.set()
        chaos.resume_all()
        try:
            stack.stop(check=True)
        except AssertionError as e:
            errors.append(str(e))
        except Exception as e:
            errors.append(f"stopping the stack: {e}")
    r = analyse(requests, tasks, chaos)
    r["projection"] = projection
    ok, text = report(args, r, chaos, rss.peak, load_s, errors)
    if keep or not ok:
        if not keep:    # a failed run keeps the daemons' logs, not the store's files
            shutil.rmtree(os.path.join(workdir, "ferretdb"), ignore_errors=True)
        text += f"\nThe stack's logs are kept in {workdir}.\n"
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    print()
    print(text[:text.find("## Every failed attempt")] if "## Every failed attempt" in text else text)
    print(f"(report with every failed attempt: {os.path.relpath(args.out, TOP)})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
