"""Idempotency-Key on POST /task: a retry with the same key and body gets the same task and result and never runs it
again (also while the first request is in flight, and on another frontend); the same key with another body gets
422; an invalid key gets 400; a request refused before it was accepted frees its key.

"Ran once" is checked from the outside in two ways: the task's records in the event log (a replay of a finished task
adds only its arrival: a "received" record with a handoff and no dispatch), and
the arithmetic backend's own count of computed tasks ("done=" in its event=stopped line), which each test knows.

Each test starts its own stack (heartbeat 200 ms, 8 s request deadline). Replicas count as alive 5 s after their last
heartbeat here: a backend frozen for a moment stays registered, so events does not send the task to it a second time
(which would make the backend compute it twice for reasons that have nothing to do with the key), and a killed events
replica stays in the frontend's registry view, so a publish to it reaches nobody (test_e).
"""
import http.client
import json
import os
import re
import secrets
import sys
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402

harness.build_dir_from_argv()

ENV = {"HEARTBEAT_MS": "200", "REPLICA_TTL_MS": "5000", "TASK_TIMEOUT_MS": "8000"}
OUTCOMES = ("completed", "failed")


def post(port, body, key=None, timeout=30):
    """POST /task with an optional Idempotency-Key (str, or bytes sent as they are). Returns (status, parsed JSON or
    the raw text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"}
        if key is not None:
            headers["Idempotency-Key"] = key
        conn.request("POST", "/task", body=body.encode(), headers=headers)
        resp = conn.getresponse()
        status, raw = resp.status, resp.read()
    finally:
        conn.close()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def new_key(label):
    return f"{label}-{secrets.token_hex(8)}"


class IdempotencyBase(unittest.TestCase):
    FRONTENDS = 1

    def setUp(self):
        self.stack = harness.Stack(harness.BUILD, frontends=self.FRONTENDS, backends={"arithmetic": 1, "string": 1},
                                   env=ENV).start()
        self.addCleanup(self.stop_stack)
        self.port = self.stack.frontend_ports[0]
        self.arith = next(d for d in self.stack.daemons if d.name.startswith("backend-arithmetic"))

    def stop_stack(self):
        for d in self.stack.daemons:      # a frozen daemon would not see SIGTERM
            d.thaw()
        self.stack.stop()                 # raises if a daemon exited non-zero (crash, leak)

    def daemon(self, prefix):
        return next(d for d in self.stack.daemons if d.name.startswith(prefix) and d.alive())

    def shape(self, task_id):
        return [(r["_id"], r["type"], r.get("handoff"), r.get("result")) for r in self.stack.history(task_id)]

    def assert_ran_once(self, task_id, result):
        """The log holds one run of the task: "received" (seq 0, no handoff), at most one "dispatched" (when events
        did not know the backend yet), and one outcome "<task>:outcome", completed with 'result'. Replays answered
        from the kept outcome add only their arrival (handoff, no dispatch): they ran nothing."""
        recs = [r for r in self.stack.history(task_id)
                if not (r["type"] == "received" and r.get("handoff") and "backend" not in r)]
        try:
            harness.check_history(recs, "completed")
        except AssertionError as e:
            self.fail(f"task {task_id}: {e}: {self.shape(task_id)}")
        self.assertEqual((recs[0]["_id"], recs[-1]["_id"], recs[-1].get("result")),
                         (f"{task_id}:0", f"{task_id}:outcome", result), self.shape(task_id))
        self.assertNotIn("handoff", recs[0])

    def assert_ok(self, answer, result):
        status, reply = answer
        self.assertEqual(status, 200, reply)
        self.assertEqual(reply.get("result"), result, reply)
        self.assertRegex(reply.get("id", ""), r"^[0-9a-f]{32}$", reply)
        return reply["id"]

    def assert_error(self, answer, status, contains):
        self.assertEqual(answer[0], status, answer[1])
        self.assertIsInstance(answer[1], dict, f"not a JSON body: {answer[1]!r}")
        self.assertEqual(answer[1].get("message"), "FAIL", answer[1])
        self.assertIn(contains, answer[1].get("error", ""), answer[1])
        return answer[1]

    def start_events(self):
        """Start an events replica and wait (watchdog) until the frontend sends tasks to it: a request without a key
        is answered (the frontend learns of it on its next registry refresh)."""
        events = self.stack.start_daemon("events")
        self.stack.replica_id(events)
        harness.wait_until("a request answered through the new events replica", lambda: post(
            self.port, '{"a1": "events", "a2": " back"}')[1].get("result") == "events back", timeout=10)
        return events

    def received_with(self, bodies):
        return self.stack.count_received({"request": {"$in": list(bodies)}})

    def idem_record(self, key):
        with self.stack.redis() as r:
            return r.command("GET", f"taskbus:idem:{key}")


class Idempotency(IdempotencyBase):
    def test_a_retry_replays_the_finished_task(self):
        """Promise: a retry with the same key and body is answered with the first request's task id and result,
        from the kept outcome: nothing is run or logged again."""
        key, body = new_key("k1"), '{"a1": 20, "a2": 22}'
        first = post(self.port, body, key)
        task_id = self.assert_ok(first, "42")
        self.assert_ran_once(task_id, "42")
        for _ in range(2):
            again = post(self.port, body, key)
            self.assertEqual(again, first, "a retry with the same key and body got another answer")
            self.assert_ran_once(task_id, "42")            # a replay of a finished task runs nothing

        self.assertEqual(self.stack.stop_daemon(self.daemon("frontend")).get("replays"), 2)
        events = self.stack.stop_daemon(self.daemon("events"))
        self.assertEqual((events.get("handoffs"), events.get("answered_from_outcome")), (2, 2), events)
        self.assertEqual(self.stack.stop_daemon(self.arith).get("done"), 1, "the backend ran the task more than once")

    def test_b_same_key_other_body(self):
        """Promise: the same key with another body is refused with 422 naming the first task, and runs nothing; the
        key still names the first task afterwards."""
        key, body, other = new_key("k"), '{"m1": 6, "m2": 7}', '{"m1": 6, "m2": 8}'
        task_id = self.assert_ok(post(self.port, body, key), "42")
        reply = self.assert_error(post(self.port, other, key), 422, "different body")
        self.assertEqual(reply.get("id"), task_id, reply)
        # Barrier: a later task through the same frontend and events replica is answered (and logged) after anything
        # the refused request could have started.
        self.assert_ok(post(self.port, '{"a1": "bar", "a2": "rier"}'), "barrier")
        self.assertEqual(self.received_with([other]), 0, "the refused body reached the event log")
        self.assertEqual(post(self.port, body, key)[1].get("id"), task_id, "the conflict changed what the key names")
        self.assert_ran_once(task_id, "42")
        self.assertEqual(self.stack.stop_daemon(self.arith).get("done"), 1)

    def test_d_invalid_keys_and_no_key(self):
        """Promise: an Idempotency-Key that is empty, has a space, is not ASCII or is longer than 128 characters gets
        400 with a JSON error and reaches nobody; 128 characters is fine; a key whose stored record is unreadable gets
        422 and runs nothing; without the header nothing is deduplicated."""
        bad = [("an empty key", ""), ("a key with a space", "a b"), ("a non-ASCII key", "clé".encode()),
               ("a key of 129 characters", "x" * 129)]
        bodies = []
        for n, (label, key) in enumerate(bad):
            bodies.append('{"a1": %d, "a2": 9000}' % n)
            with self.subTest(label):
                self.assert_error(post(self.port, bodies[-1], key), 400, "Idempotency-Key")
        longest = new_key("k").ljust(128, "x")
        self.assertEqual(len(longest), 128)
        first = post(self.port, '{"a1": 1, "a2": 127}', longest)
        self.assert_ok(first, "128")
        self.assertEqual(post(self.port, '{"a1": 1, "a2": 127}', longest), first)

        # A record under the key that is not the frontend's (garbage in Redis) is refused, not trusted or overwritten.
        junk_key = new_key("junk")
        with self.stack.redis() as r:
            r.command("SET", f"taskbus:idem:{junk_key}", "not a record\n\"")
        bodies.append('{"a1": 5, "a2": 9000}')
        self.assert_error(post(self.port, bodies[-1], junk_key), 422, "cannot read")
        self.assertEqual(self.idem_record(junk_key), b"not a record\n\"")

        no_key = [post(self.port, '{"a1": 2, "a2": 2}') for _ in range(2)]
        ids = [self.assert_ok(a, "4") for a in no_key]
        self.assertNotEqual(ids[0], ids[1], "two requests without a key were merged")
        for task_id in ids:
            self.assert_ran_once(task_id, "4")
        self.assertEqual(self.received_with(bodies), 0, "a request with an invalid key reached the event log")
        self.assertEqual(self.stack.stop_daemon(self.arith).get("done"), 3)

    def test_e_refused_request_frees_its_key(self):
        """Promise: a keyed request refused with 503 before any events replica accepted it (none alive, or the one
        in the registry is gone) leaves its key free: once an events replica is back, the same key runs the task."""
        key, body = new_key("k-none"), '{"s1": 50, "s2": 8}'
        self.stack.stop_daemon(self.daemon("events"))              # leaves the registry, exits 0
        harness.wait_until("the frontend to see no events replica",
                           lambda: harness.http(self.port, "GET", "/", timeout=2)[0] == 503, timeout=10)
        self.assert_error(post(self.port, body, key), 503, "no events replica is alive")
        self.assertIsNone(self.idem_record(key), "the refused request left its key claimed")

        events = self.start_events()
        first = post(self.port, body, key)
        first_id = self.assert_ok(first, "42")
        self.assert_ran_once(first_id, "42")

        # Killed without leaving the registry: the frontend claims the key, publishes to it, nobody receives it, and
        # must free the key when it refuses the request (the first case above is refused before any claim).
        key2, body2 = new_key("k-gone"), '{"d1": 84, "d2": 2}'
        events.killed_on_purpose = True
        events.kill()
        refused = self.assert_error(post(self.port, body2, key2), 503, "no events replica could take the request")
        # The frontend sends the DEL of the claim and the 503 from the same loop turn, on two connections: the 503
        # may reach us before Redis has run the DEL.
        harness.wait_until("the refused request's key to be freed", lambda: self.idem_record(key2) is None,
                           timeout=2)
        events = self.start_events()
        task_id = self.assert_ok(post(self.port, body2, key2), "42")
        self.assertNotEqual(task_id, refused.get("id"))
        self.assert_ran_once(task_id, "42")
        if refused.get("id"):
            self.assertEqual(self.stack.history(refused["id"]), [], "the refused task reached the event log")
        # The replica that ran the first task is dead: a retry of its key is answered by another one, from the
        # kept outcome, without running it again.
        self.assertEqual(post(self.port, body, key), first)
        self.assert_ran_once(first_id, "42")
        self.assertEqual(self.stack.stop_daemon(self.arith).get("done"), 2)


class TwoFrontends(IdempotencyBase):
    FRONTENDS = 2

    def test_c_retry_on_another_frontend_joins_the_task_in_flight(self):
        """Promise: a retry with the same key on another frontend while the first request is in flight joins the task:
        both clients get 200 with the same task id and result, and the task runs once."""
        key, body = new_key("k2"), '{"a1": 40, "a2": 2}'
        answers = {}

        def client(n, port):
            answers[n] = post(port, body, key)
        self.arith.freeze()
        threads = [threading.Thread(target=client, args=(n, port), daemon=True)
                   for n, port in enumerate(self.stack.frontend_ports)]
        threads[0].start()
        rec = harness.wait_until("the task received by events", lambda: self.stack.mongo().events.find_one(
            {"type": "received", "request": body}), timeout=10)
        task_id = rec["task"]
        threads[1].start()
        events = self.daemon("events")

        def joined():
            with open(events.log_path, "rb") as f:
                # The trace id (if any) stands next to the task id.
                return re.search(rf"event=task_joined task={task_id}( trace=[0-9a-f]{{32}})? added=1".encode(),
                                 f.read()) is not None
        harness.wait_until("the retry joined to the task in flight", joined, timeout=10)
        self.assertEqual(answers, {}, "a client was answered while the backend was frozen")
        self.arith.thaw()
        for t in threads:
            t.join(timeout=30)
        self.assertEqual(sorted(answers), [0, 1], "a client got no answer within 30 s")
        self.assertEqual([self.assert_ok(answers[n], "42") for n in (0, 1)], [task_id, task_id], answers)
        self.assert_ran_once(task_id, "42")
        self.assertEqual(self.stack.stop_daemon(self.arith).get("done"), 1, "the backend ran the task more than once")
        second = [d for d in self.stack.daemons if d.name.startswith("frontend")][1]
        self.assertEqual(self.stack.stop_daemon(second).get("replays"), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
