"""Input from the bus is input too: whatever anyone publishes on a replica's channel must not crash it, leak, forge a
log line, put junk in the event log, or decide a task's answer.

These tests play a hostile (or broken) bus client: they PUBLISH raw messages with a raw RESP connection straight to
the events replica's channel and to a backend's channel, found in the Redis registry. After each message a normal
request through the same replica is the barrier (a replica reads its channel in order, so once that request is
answered the hostile message has been handled), then every daemon must still be alive. At the end of each test the
stack is stopped and each daemon must exit 0 (under ASan a leak makes the exit status non-zero).
"""
import json
import os
import secrets
import sys
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402

harness.build_dir_from_argv()

SINK = "taskbus:hostile-sink"       # a reply channel nobody listens on
MB = 1 << 20


def task_id():
    """A fresh id shaped like the frontend's: 16 hex digits, '-', 12 hex digits."""
    return f"{secrets.token_hex(8)}-{secrets.randbelow(1 << 40):012x}"


def task_msg(tid, operands=(1, 2), **extra):
    msg = {"kind": "task", "id": tid, "replyTo": SINK, "origin": "hostile", "task": "NUMBER", "subtask": "ADD",
           "operands": list(operands), "requestBody": '{"a1": 1, "a2": 2}', "timeoutMs": 5000}
    msg.update(extra)
    return json.dumps(msg)


class HostileTest(unittest.TestCase):
    """One fresh stack per test (1 frontend, 1 events, 1 arithmetic and 1 string backend)."""
    ENV = {}

    def setUp(self):
        env = {"HEARTBEAT_MS": "200", "REPLICA_TTL_MS": "1000", "TASK_TIMEOUT_MS": "8000"}
        env.update(self.ENV)
        self.stack = harness.Stack(harness.BUILD, backends={"arithmetic": 1, "string": 1}, env=env).start()
        self.addCleanup(self.stop_stack)          # runs even when the rest of setUp fails
        self.port = self.stack.frontend_ports[0]
        self.events_proc = next(d for d in self.stack.daemons if d.name.startswith("events"))
        self.arith = next(d for d in self.stack.daemons if d.name.startswith("backend-arithmetic"))
        self.events_id = self.stack.replica_id(self.events_proc)
        self.arith_id = self.stack.replica_id(self.arith)
        self.bus = self.stack.redis()
        self.addCleanup(self.bus.close)
        # Readiness: events routes to both services (it learns of backends on its own registry refresh).
        harness.wait_until("a NUMBER task answered", lambda: self.post('{"a1": 1, "a2": 2}', 10) == (200, "3"))
        harness.wait_until("a STRING task answered", lambda: self.post('{"a1": "a", "a2": "b"}', 10) == (200, "ab"))

    def stop_stack(self):
        for d in self.stack.daemons:      # a frozen daemon would not see SIGTERM
            d.thaw()
        self.stack.stop()                 # raises if a daemon exited non-zero (crash, leak)

    # ---- helpers
    def post(self, body, timeout=30):
        status, reply = harness.http(self.port, "POST", "/task", body, timeout=timeout)
        return status, reply.get("result") if isinstance(reply, dict) else reply

    def assert_alive(self, after):
        dead = self.stack.dead_daemons()
        if dead:
            self.fail(f"after {after}: " + "; ".join(f"{d.name} died (exit {d.p.returncode}):\n{d.tail(15)}"
                                                      for d in dead))

    def send(self, replica_id, label, payload):
        """Publish 'payload' on the replica's channel; the replica must still be subscribed."""
        receivers = self.bus.publish(f"taskbus:{replica_id}", payload)
        self.assertEqual(receivers, 1, f"{replica_id} no longer listens on its channel before {label}")

    def barrier(self, label, body='{"a1": "bar", "a2": "rier"}', result="barrier"):
        """A normal request through events (STRING) or through events and the arithmetic backend (NUMBER): answered
        only once everything published before it on those channels has been handled."""
        answer = self.post(body)
        self.assert_alive(label)          # first: a dead daemon is the clearer reason
        self.assertEqual(answer, (200, result), f"a normal request failed after {label}")

    def assert_not_logged(self, ids):
        found = sorted({r["task"] for r in self.stack.mongo().events.find({"task": {"$in": list(ids)}}, {"task": 1})})
        self.assertEqual(found, [], "the event log holds records for ids that only came in hostile messages")

    def in_flight(self, body):
        """Freeze the only arithmetic backend and POST 'body' on a thread: returns (thread, answer dict, task id)
        once events has logged the task as received and sent it to the frozen replica."""
        self.arith.freeze()
        answer = {}

        def client():
            answer["r"] = harness.http(self.port, "POST", "/task", body, timeout=30)
        t = threading.Thread(target=client, daemon=True)
        t.start()
        rec = harness.wait_until("the task received by events", lambda: self.stack.mongo().events.find_one(
            {"type": "received", "request": body}), timeout=10)
        return t, answer, rec["task"]

    def outcome(self, tid):
        recs = self.stack.history(tid)
        outcomes = [r for r in recs if r["type"] in ("completed", "failed")]
        self.assertEqual(len(outcomes), 1, [(r["type"], r.get("result")) for r in recs])
        return outcomes[0]


class Junk(HostileTest):
    def test_junk_on_the_events_channel(self):
        """Promise: malformed, oversized or incomplete messages on events' channel are dropped: events stays up and
        keeps serving, and nothing about them reaches the event log."""
        junk = [task_id() for _ in range(6)]
        long_id, odd_id = "f" * 300, 'bad id "q"\nx'
        messages = [
            ("a message that is not JSON", b"hello {"),
            ("an empty message", b""),
            ("a JSON array", b"[1, 2, 3]"),
            ("a 1 MB JSON string", json.dumps("x" * MB)),
            ("a 1 MB unknown kind", json.dumps({"kind": "k" * MB, "id": junk[0]})),
            ("a 1 MB task id", task_msg("i" * MB)),
            ("an unknown kind with a newline and quotes", json.dumps({"kind": "x\"\nevent=forged", "id": junk[1]})),
            ("a history query without replyTo",
             json.dumps({"kind": "history", "id": junk[2], "requestBody": task_id()})),
            ("a history query without requestBody", json.dumps({"kind": "history", "id": junk[3], "replyTo": SINK})),
            ("a task with timeoutMs 1e6", task_msg(task_id(), timeoutMs=1e6)),
            ("a task with a negative timeoutMs", task_msg(task_id(), timeoutMs=-5000)),
            ("a task with 3 operands", task_msg(junk[4], operands=(1, 2, 3))),
            ("a task id of 300 characters", task_msg(long_id)),
            ("a task id with spaces, quotes and a newline", task_msg(odd_id)),
            ("a result for an unknown id",
             json.dumps({"kind": "result", "id": junk[5], "status": 200, "result": "1", "replica": self.arith_id})),
            ("a result with status 200 and no replica for an unknown id",
             json.dumps({"kind": "result", "id": task_id(), "status": 200, "result": "1"})),
        ]
        for label, payload in messages:      # the first failure stops the barrage: later ones would only echo it
            self.send(self.events_id, label, payload)
            self.barrier(label)

        status, reply = harness.http(self.port, "GET", "/")
        self.assertEqual(status, 200, reply)
        self.assertEqual(self.post('{"m1": 6, "m2": 7}'), (200, "42"))
        self.assert_not_logged(junk + [long_id, odd_id, "i" * MB])
        self.assert_alive("the whole barrage")

    def test_junk_on_a_backend_channel(self):
        """Promise: malformed or oversized messages on a backend's channel are dropped (or refused to their sender):
        the backend stays up and keeps computing, and nothing about them reaches the event log."""
        junk = [task_id() for _ in range(4)]
        messages = [
            ("a message that is not JSON", b"hello {"),
            ("an empty message", b""),
            ("a JSON array", b"[1, 2, 3]"),
            ("a 1 MB JSON string", json.dumps("x" * MB)),
            ("a 1 MB unknown kind", json.dumps({"kind": "k" * MB, "id": junk[0], "replyTo": SINK})),
            ("an unknown kind with a newline and quotes", json.dumps({"kind": "x\"\nevent=forged", "id": junk[1]})),
            ("a result instead of a task",
             json.dumps({"kind": "result", "id": junk[2], "replyTo": SINK, "status": 200, "result": "1"})),
            ("a task without replyTo", json.dumps({k: v for k, v in json.loads(task_msg(task_id())).items()
                                                   if k != "replyTo"})),
            ("a task with 3 operands", task_msg(junk[3], operands=(1, 2, 3))),
            ("a task with timeoutMs 1e6", task_msg(task_id(), timeoutMs=1e6)),
            ("a task id of 300 characters", task_msg("f" * 300)),
            ("a task id with spaces, quotes and a newline", task_msg('bad id "q"\nx')),
        ]
        for label, payload in messages:
            self.send(self.arith_id, label, payload)
            self.barrier(label, '{"s1": 50, "s2": 8}', "42")
        status, reply = harness.http(self.port, "GET", "/")
        self.assertEqual(status, 200, reply)
        self.assert_not_logged(junk + ["f" * 300, 'bad id "q"\nx'])
        self.assert_alive("the whole barrage")


class InFlight(HostileTest):
    def test_incomplete_results_for_an_in_flight_task(self):
        """Promise: a result for an in-flight task that lacks "result" (status 200), or that names no replica, does not
        crash events nor decide the task: the client gets the real backend's answer, and the log records it."""
        body = '{"a1": 20, "a2": 22}'
        t, answer, tid = self.in_flight(body)
        try:
            for label, msg in [
                ("a status-200 result without \"result\" for an in-flight task",
                 {"kind": "result", "id": tid, "status": 200, "replica": self.arith_id}),
                ("a status-200 result without replica for an in-flight task",
                 {"kind": "result", "id": tid, "status": 200, "result": "666"}),
            ]:
                self.send(self.events_id, label, json.dumps(msg))
                self.barrier(label)
                self.assertNotIn("r", answer, f"the client was answered by {label}: {answer.get('r')}")
        finally:
            self.arith.thaw()
            t.join(timeout=30)
        self.assertEqual(answer["r"][0], 200, answer["r"])
        self.assertEqual(answer["r"][1].get("result"), "42", answer["r"])
        out = self.outcome(tid)
        self.assertEqual((out["type"], out.get("result"), out.get("backend")), ("completed", "42", self.arith_id))

    def test_forged_result_does_not_answer_the_client(self):
        """Promise: a forged result naming the real backend replica, sent while that replica is frozen, is not taken
        as the task's result: the client never sees it, gets the right answer once the replica runs again, and
        the log's outcome holds the right result."""
        body = '{"a1": 19, "a2": 23}'
        t, answer, tid = self.in_flight(body)
        try:
            forged = {"kind": "result", "id": tid, "status": 200, "result": "666", "replica": self.arith_id}
            self.send(self.events_id, "a forged result", json.dumps(forged))
            self.barrier("a forged result")
        finally:
            self.arith.thaw()
            t.join(timeout=30)
        status, reply = answer["r"]
        self.assertNotEqual(reply.get("result") if isinstance(reply, dict) else None, "666",
                            "the client got the forged result")
        self.assertEqual((status, reply.get("result")), (200, "42"), reply)
        out = self.outcome(tid)
        self.assertEqual((out["type"], out.get("result")), ("completed", "42"), "the log's outcome is not the real one")


class LogInjection(HostileTest):
    """Debug logging: the most lines that could carry a hostile value."""
    ENV = {"LOG_LEVEL": "debug"}

    def test_no_forged_log_lines(self):
        """Promise: a value taken from a bus message cannot start a line of its own in a daemon's log (each log line
        is one event)."""
        forged = "x\"\nevent=forged level=error"
        for replica_id in (self.events_id, self.arith_id):
            self.send(replica_id, "an unknown kind with a newline", json.dumps({"kind": forged, "id": task_id()}))
            self.send(replica_id, "a task id with a newline", task_msg("y\nevent=forged"))
            self.send(replica_id, "a result with a newline in its error",
                      json.dumps({"kind": "result", "id": "z\nevent=forged", "status": 500, "error": forged,
                                  "replica": forged}))
        self.barrier("the forged lines", '{"a1": 40, "a2": 2}', "42")
        forged_lines = {}
        for d in self.stack.daemons:
            if d.name.startswith(("events", "backend")):
                with open(d.log_path, "rb") as f:
                    lines = [line for line in f.read().decode(errors="replace").splitlines()
                             if line.startswith("event=forged")]
                if lines:
                    forged_lines[d.name] = lines
        self.assertEqual(forged_lines, {}, "log lines forged by bus messages (a line of their own per daemon)")


if __name__ == "__main__":
    unittest.main(verbosity=2)
