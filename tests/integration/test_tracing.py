"""W3C traceparent through the whole pipeline, and LOG_FORMAT=json, against a real stack.

One stack (redis-server, FerretDB, events, an arithmetic and a string backend, a frontend) with LOG_FORMAT=json and
LOG_LEVEL=debug, so that the lines the daemons write about each task on its normal path are there to check:
- a client's traceparent comes back in the answer's traceparent (same trace id, the frontend's own span id), on
  200, 4xx, 202 and GET /task/{id}; every record of the task in the store (pymongo) and in GET /task/{id}'s
  history carries the trace id;
- a request with an invalid traceparent (or none) gets a fresh trace id, carried the same way;
- a second frontend with TRACING=off starts no trace, but carries a client's;
- a bus message whose "trace" is not a trace id is refused by events and by a backend like any bad field, and a
  valid one published straight to events reaches every record;
- every line of every daemon's log (stdout and stderr, as the harness keeps them) is one JSON object with time,
  level, daemon, replica and event, and each line that names one of these tasks carries its trace id. The logs are
  checked again after the stack stopped, shutdown lines included.
"""
import http.client
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402

harness.build_dir_from_argv()

TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
REQUIRED_KEYS = ("time", "level", "daemon", "replica", "event")
SINK = "taskbus:tracing-sink"       # a reply channel nobody listens on


def new_trace():
    """A client's trace id and span id, as a W3C client would make them."""
    return secrets.token_hex(16), secrets.token_hex(8)


def request(port, method, path, body=None, headers=None):
    """One request: (status, lower-cased response headers, parsed JSON body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        hdrs = dict(headers or {})
        if body is not None:
            hdrs["Content-Type"] = "application/json"
        conn.request(method, path, body=body.encode() if body is not None else None, headers=hdrs)
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, json.loads(raw) if raw else None
    finally:
        conn.close()


def daemon_logs(directory):
    """{log file name: its lines} of the daemons (not redis-server's or FerretDB's)."""
    logs = {}
    for name in sorted(os.listdir(directory)):
        if name.endswith(".log") and name.split(".")[0].split("-")[0] in ("frontend", "events", "backend"):
            with open(os.path.join(directory, name), "rb") as f:
                logs[name] = f.read().decode("utf-8").splitlines()
    return logs


def parsed_logs(directory):
    """Every daemon's log, each line parsed as a JSON object with the required keys and string values:
    {file: [objects]}. Raises AssertionError naming the first line that is not one."""
    out = {}
    for name, lines in daemon_logs(directory).items():
        objs = []
        for i, line in enumerate(lines, 1):
            where = f"{name}:{i}: {line[:300]!r}"
            try:
                obj = json.loads(line)
            except ValueError as e:
                raise AssertionError(f"{where} is not JSON: {e}")
            if not isinstance(obj, dict):
                raise AssertionError(f"{where} is not a JSON object")
            missing = [k for k in REQUIRED_KEYS if k not in obj]
            if missing:
                raise AssertionError(f"{where} lacks {missing}")
            if not all(isinstance(v, str) for v in obj.values()):
                raise AssertionError(f"{where} has a value that is not a string")
            objs.append(obj)
        out[name] = objs
    return out


class Tracing(harness.StackTest):
    STACK = dict(env={"LOG_FORMAT": "json", "LOG_LEVEL": "debug"})
    traces = {}     # task id -> the trace id every record and log line of it must carry (None: none)

    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="taskbus-tracing-")
        cls.STACK = dict(cls.STACK, workdir=cls.workdir)
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()   # raises when a daemon exited non-zero (logs are kept then)
        # After SIGTERM: the shutdown lines are JSON too, and still no line about a task has another trace.
        cls.check_task_lines(parsed_logs(cls.workdir))
        shutil.rmtree(cls.workdir, ignore_errors=True)

    @classmethod
    def check_task_lines(cls, logs):
        """Each line naming one of our tasks carries that task's trace (and none when it has none)."""
        for name, objs in logs.items():
            for obj in objs:
                task = obj.get("task")
                if task in cls.traces and obj.get("trace") != cls.traces[task]:
                    raise AssertionError(f"{name}: a line about task {task} has trace {obj.get('trace')!r}, not "
                                         f"{cls.traces[task]!r}: {obj}")

    # ---- helpers
    def post(self, body, headers=None, expect=200, port=None):
        status, hdrs, reply = request(port or self.port, "POST", "/task", body, headers)
        self.assertEqual(status, expect, reply)
        return hdrs, reply

    def answered_trace(self, hdrs, client_span=None):
        """The trace id of an answer's traceparent; its span id is the frontend's own, not the client's."""
        self.assertIn("traceparent", hdrs)
        m = TRACEPARENT.match(hdrs["traceparent"])
        self.assertIsNotNone(m, hdrs["traceparent"])
        trace, span, _ = m.groups()
        self.assertNotEqual(trace, "0" * 32)
        self.assertNotEqual(span, "0" * 16)
        if client_span:
            self.assertNotEqual(span, client_span, "the answer must name the frontend's span, not the client's")
        return trace

    def assert_records_traced(self, task_id, trace, final="completed"):
        """Every record of the task, in the store and in GET /task/{id}, carries 'trace' (None: no trace field)."""
        records = harness.wait_until(f"the outcome of {task_id} in the store", lambda: (
            lambda recs: recs if recs and recs[-1]["type"] == final else None)(self.stack.history(task_id)))
        self.assertEqual([r.get("trace") for r in records], [trace] * len(records), records)
        status, hdrs, view = request(self.port, "GET", f"/task/{task_id}")
        self.assertEqual(status, 200, view)
        self.assertEqual([r.get("trace") for r in view["history"]], [trace] * len(view["history"]), view)
        self.traces[task_id] = trace

    # ---- the tests
    def test_client_trace_is_carried(self):
        trace, span = new_trace()
        hdrs, reply = self.post('{"a1": 5, "a2": 10}', {"traceparent": f"00-{trace}-{span}-01"})
        self.assertEqual(reply["result"], "15")
        self.assertEqual(self.answered_trace(hdrs, span), trace)
        self.assertTrue(hdrs["traceparent"].endswith("-01"), hdrs["traceparent"])
        self.assert_records_traced(reply["id"], trace)
        # The read gets a traceparent too: the client's trace when it sends one.
        read_trace, read_span = new_trace()
        status, hdrs, _ = request(self.port, "GET", f"/task/{reply['id']}",
                                  headers={"traceparent": f"00-{read_trace}-{read_span}-00"})
        self.assertEqual(status, 200)
        self.assertEqual(self.answered_trace(hdrs, read_span), read_trace)
        self.assertTrue(hdrs["traceparent"].endswith("-00"), hdrs["traceparent"])

    def test_failed_and_async_tasks(self):
        trace, span = new_trace()
        hdrs, reply = self.post('{"d1": 1, "d2": 0}', {"traceparent": f"00-{trace}-{span}-01"}, expect=422)
        self.assertEqual(self.answered_trace(hdrs, span), trace)
        self.assert_records_traced(reply["id"], trace, final="failed")

        trace, span = new_trace()
        hdrs, reply = self.post('{"a1": "a", "a2": "b"}', {"traceparent": f"00-{trace}-{span}-01",
                                                           "Prefer": "respond-async"}, expect=202)
        self.assertEqual(self.answered_trace(hdrs, span), trace)
        self.assertEqual(hdrs["location"], f"/task/{reply['id']}")
        self.assert_records_traced(reply["id"], trace)

        # A body refused with 400 never reaches the bus, but its answer names the trace.
        trace, span = new_trace()
        hdrs, _ = self.post('{"a1": 1}', {"traceparent": f"00-{trace}-{span}-01"}, expect=400)
        self.assertEqual(self.answered_trace(hdrs, span), trace)

    def test_invalid_or_missing_traceparent_starts_a_new_trace(self):
        trace, span = new_trace()
        invalid = [f"ff-{trace}-{span}-01", f"00-{trace.upper()}-{span}-01", f"00-{'0' * 32}-{span}-01",
                   f"00-{trace}-{'0' * 16}-01", f"00-{trace}-{span}-01-extra", "garbage", ""]
        seen = set()
        for header in invalid + [None]:
            hdrs, reply = self.post('{"m1": 6, "m2": 7}', {"traceparent": header} if header is not None else None)
            self.assertEqual(reply["result"], "42")
            fresh = self.answered_trace(hdrs)
            self.assertNotEqual(fresh, trace, f"the invalid header {header!r} was used")
            self.assertNotIn(fresh, seen, "two requests got the same new trace id")
            seen.add(fresh)
            self.assertTrue(hdrs["traceparent"].endswith("-01"))
            self.assert_records_traced(reply["id"], fresh)

    def test_tracing_off(self):
        proc = self.stack.start_frontend(TRACING="off")
        port = self.stack.frontend_ports[-1]
        harness.wait_until("the TRACING=off frontend", lambda: harness.http(port, "GET", "/", timeout=2)[0] == 200)
        hdrs, reply = self.post('{"s1": 50, "s2": 8}', port=port)
        self.assertEqual(reply["result"], "42")
        self.assertNotIn("traceparent", hdrs)
        self.assert_records_traced(reply["id"], None)
        trace, span = new_trace()
        hdrs, reply = self.post('{"s1": 50, "s2": 8}', {"traceparent": f"00-{trace}-{span}-01"}, port=port)
        self.assertEqual(self.answered_trace(hdrs, span), trace)
        self.assert_records_traced(reply["id"], trace)
        self.assertTrue(proc.alive())

    def test_bus_messages_with_a_bad_trace_are_refused(self):
        events_id = self.stack.replica_id(next(d for d in self.stack.daemons if d.name.startswith("events")))
        arith_id = self.stack.replica_id(next(d for d in self.stack.daemons if d.name.startswith("backend-arith")))
        good = secrets.token_hex(16)
        bad_ids, good_id = [], secrets.token_hex(16)
        with self.stack.redis() as bus:
            for i, bad in enumerate(["NOT-A-TRACE", good.upper(), "0" * 32, good + "0", 7, None, "x\"\nevent=forged"]):
                tid = secrets.token_hex(16)
                bad_ids.append(tid)
                msg = {"kind": "task", "id": tid, "replyTo": SINK, "origin": "tracing-test", "task": "NUMBER",
                       "subtask": "ADD", "operands": [1, 2], "requestBody": "{}", "timeoutMs": 5000, "trace": bad}
                self.assertEqual(bus.publish(f"taskbus:{events_id}", json.dumps(msg)), 1)
                self.assertEqual(bus.publish(f"taskbus:{arith_id}", json.dumps(dict(msg, token="t" * 32))), 1)
            msg = {"kind": "task", "id": good_id, "replyTo": SINK, "origin": "tracing-test", "task": "NUMBER",
                   "subtask": "ADD", "operands": [1, 2], "requestBody": "{}", "timeoutMs": 5000, "trace": good}
            self.assertEqual(bus.publish(f"taskbus:{events_id}", json.dumps(msg)), 1)
        # Barrier: a normal task through events and the arithmetic backend (each reads its channel in order).
        hdrs, reply = self.post('{"a1": 40, "a2": 2}')
        self.assertEqual(reply["result"], "42")
        self.assert_records_traced(good_id, good)
        self.assertEqual(sorted({r["task"] for r in self.stack.mongo().events.find({"task": {"$in": bad_ids}})}), [],
                         "a task message with a bad trace reached the event log")
        logs = parsed_logs(self.workdir)
        refused = {name.split(".")[0]: sum(1 for o in objs if o["event"] == "bad_message" and
                                           o.get("error") == "trace must be 32 lowercase hex digits, not all zero")
                   for name, objs in logs.items()}
        self.assertEqual(refused.get("events"), len(bad_ids), refused)
        self.assertEqual(refused.get("backend-arithmetic"), len(bad_ids), refused)
        self.assertFalse([o for objs in logs.values() for o in objs if o["event"] == "forged"],
                         "a forged log line")
        self.assertEqual(self.stack.dead_daemons(), [])

    def test_logs_are_json_lines_with_the_task_and_its_trace(self):
        trace, span = new_trace()
        hdrs, reply = self.post('{"a1": 1, "a2": 2}', {"traceparent": f"00-{trace}-{span}-01"})
        task_id = reply["id"]
        self.assert_records_traced(task_id, trace)
        logs = parsed_logs(self.workdir)
        self.assertTrue(any(name.startswith("frontend") for name in logs), list(logs))
        # Each daemon the task went through wrote at least one line about it, with its trace.
        for kind in ("frontend", "events", "backend-arithmetic"):
            lines = [o for name, objs in logs.items() if name.startswith(kind + ".") for o in objs
                     if o.get("task") == task_id]
            self.assertTrue(lines, f"no {kind} log line about task {task_id}")
            self.assertTrue(all(o.get("trace") == trace for o in lines), lines)
            self.assertTrue(all(o["daemon"] == kind.split("-")[0] for o in lines), lines)
        for objs in logs.values():
            for o in objs:
                self.assertRegex(o["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
                self.assertIn(o["level"], ("error", "warn", "info", "debug"))
        self.check_task_lines(logs)


if __name__ == "__main__":
    unittest.main(verbosity=2)
