"""Load generators of bench/bench.py for the read side: GET /task/{id} paced open-loop beside a POST load, GET /task/{id}
closed-loop at a small concurrency, and POST /task to make tasks whose ids we know.

Every request goes to 127.0.0.1 over a keep-alive connection that one worker thread owns (http.client). A GET counts as
good when the answer is 200 with a JSON body whose "id" is the task asked for and whose "history" holds the task's
received record first and its outcome last; anything else is counted by its status ("exception" when no answer came).
"""
import concurrent.futures
import http.client
import json
import threading
import time

HOST = "127.0.0.1"


def percentile(sorted_values, pct):
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, int(-(-pct * len(sorted_values) // 100)) - 1))
    return sorted_values[k]


class Client:
    """Per-thread keep-alive connections, one per frontend port."""

    def __init__(self, timeout):
        self.timeout = timeout
        self.local = threading.local()

    def request(self, port, method, path, body=None):
        """One request. Returns (status, body bytes); raises OSError or http.client.HTTPException when no answer
        came (the connection is then dropped, and the next request opens a new one)."""
        conns = self.local.__dict__.setdefault("conns", {})
        conn = conns.get(port)
        if conn is None:
            conn = conns[port] = http.client.HTTPConnection(HOST, port, timeout=self.timeout)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            del conns[port]
            raise


def check_view(status, raw, task_id):
    """'200' when the answer is a good view of 'task_id', else a short label of what came instead."""
    if status != 200:
        return str(status)
    try:
        view = json.loads(raw)
        hist = view["history"]
        ok = (view["id"] == task_id and hist and hist[0]["_id"] == task_id + ":0"
              and hist[-1]["_id"] == task_id + ":outcome")
    except (ValueError, KeyError, TypeError, IndexError):
        ok = False
    return "200" if ok else "200 with a wrong body"


def summary(lat_ms, outcomes, seconds, extra=None):
    """Figures of a set of GETs: count, rate, p50/p99/max latency (ms), non-200 answers by label."""
    lat = sorted(lat_ms)
    bad = {}
    for o in outcomes:
        if o != "200":
            bad[o] = bad.get(o, 0) + 1
    out = {"gets": len(outcomes), "rate": len(outcomes) / seconds if seconds else None,
           "p50": percentile(lat, 50), "p99": percentile(lat, 99), "max": lat[-1] if lat else None,
           "non200": sum(bad.values()), "statuses": bad, "lat": lat, "outcomes": list(outcomes), "seconds": seconds}
    out.update(extra or {})
    return out


def merge_summaries(parts):
    """One summary() of several sets of GETs (percentiles over all their latencies; the worst pacer lateness)."""
    lat = [x for p in parts for x in p["lat"]]
    outcomes = [o for p in parts for o in p["outcomes"]]
    extra = {k: max(p[k] for p in parts) for k in ("offered", "scheduler_late_ms", "ids", "conns") if k in parts[0]}
    return summary(lat, outcomes, sum(p["seconds"] for p in parts), extra)


class PacedGets:
    """GET /task/{id} at 'rate' per second, open-loop, in a background thread, until stop().

    A scheduler thread hands request k to a pool of 'workers' threads at start + k / rate, whether or not earlier
    ones were answered, and each latency counts from that scheduled time: a stalled answer cannot slow the offered
    rate or hide the requests queued behind it (no coordinated omission). Ids and frontends are used in rotation."""

    def __init__(self, ports, ids, rate, workers=16, timeout=10):
        if not ids:
            raise ValueError("PacedGets needs task ids")
        self.ports, self.ids, self.rate = list(ports), list(ids), rate
        self.client = Client(timeout)
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="get")
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.lat, self.outcomes, self.futures = [], [], []
        self.late_ms = 0.0
        self.thread = threading.Thread(target=self._schedule, daemon=True)

    def start(self):
        self.t0 = time.monotonic()
        self.thread.start()
        return self

    def _schedule(self):
        k = 0
        while not self.stopping.is_set():
            due = self.t0 + k / self.rate
            wait = due - time.monotonic()
            if wait > 0 and self.stopping.wait(wait):
                break
            self.late_ms = max(self.late_ms, (time.monotonic() - due) * 1000)
            task_id = self.ids[k % len(self.ids)]
            port = self.ports[k % len(self.ports)]
            self.futures.append(self.pool.submit(self._one, port, task_id, due))
            k += 1

    def _one(self, port, task_id, due):
        try:
            status, raw = self.client.request(port, "GET", "/task/" + task_id)
            outcome = check_view(status, raw, task_id)
        except (OSError, http.client.HTTPException) as e:
            outcome = "exception " + type(e).__name__
        ms = (time.monotonic() - due) * 1000
        with self.lock:
            self.lat.append(ms)
            self.outcomes.append(outcome)

    def stop(self):
        """Stop scheduling, wait for the GETs in flight (each bounded by the timeout) and return summary()'s figures
        plus the offered rate and the scheduler's worst lateness."""
        self.stopping.set()
        self.thread.join()
        seconds = time.monotonic() - self.t0
        concurrent.futures.wait(self.futures)
        self.pool.shutdown(wait=True)
        with self.lock:
            return summary(self.lat, self.outcomes, seconds,
                           {"offered": self.rate, "scheduler_late_ms": self.late_ms, "ids": len(set(self.ids))})


def closed_gets(ports, ids, conns, timeout=10):
    """GET /task/{id} of every id once, 'conns' at a time (each worker sends its next GET when the last one was
    answered). Returns summary()'s figures, latency counted from each request's send."""
    client = Client(timeout)
    lat, outcomes = [], []
    lock = threading.Lock()

    def one(i):
        task_id, port = ids[i], ports[i % len(ports)]
        t = time.monotonic()
        try:
            status, raw = client.request(port, "GET", "/task/" + task_id)
            outcome = check_view(status, raw, task_id)
        except (OSError, http.client.HTTPException) as e:
            outcome = "exception " + type(e).__name__
        ms = (time.monotonic() - t) * 1000
        with lock:
            lat.append(ms)
            outcomes.append(outcome)

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=conns, thread_name_prefix="get") as pool:
        list(pool.map(one, range(len(ids))))
    return summary(lat, outcomes, time.monotonic() - t0, {"conns": conns})


def post_tasks(ports, bodies, n, conns, timeout=30):
    """POST /task n times, bodies in rotation, 'conns' at a time. Returns (ids of the 200 answers, {status: count}
    of the others)."""
    client = Client(timeout)
    ids, bad = [], {}
    lock = threading.Lock()

    def one(i):
        try:
            status, raw = client.request(ports[i % len(ports)], "POST", "/task", bodies[i % len(bodies)])
            task_id = json.loads(raw).get("id") if status == 200 else None
        except (OSError, http.client.HTTPException, ValueError) as e:
            status, task_id = "exception " + type(e).__name__, None
        with lock:
            if task_id:
                ids.append(task_id)
            else:
                bad[str(status)] = bad.get(str(status), 0) + 1

    with concurrent.futures.ThreadPoolExecutor(max_workers=conns, thread_name_prefix="post") as pool:
        list(pool.map(one, range(n)))
    return ids, bad

