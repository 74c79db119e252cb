"""EVENTS_LOG=off-for-measurement, the measurement mode bench/bench.py uses for its "no event log" ceiling row: tasks
are answered (synchronously and with 202) and projected, nothing reaches the store, the mode is loud (a WARN line, a
gauge in /metrics and in the snapshot in Redis), and any other value of EVENTS_LOG stops events at start with a
message naming it. Then a normal events replica takes over the same stack and its records do reach the store (so the
"nothing written" check above can fail)."""
import json
import os
import re
import subprocess
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402

harness.build_dir_from_argv()
MODE = "off-for-measurement"
BODIES = [('{"a1":5,"a2":10}', 200, "15"), ('{"m1":4,"m2":7}', 200, "28"), ('{"a1":"a","a2":"b"}', 200, "ab"),
          ('{"d1":1,"d2":0}', 422, None)]


def metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return r.read().decode()


def gauge(text, name):
    m = re.search("^" + re.escape(name) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def stored(stack):
    """Documents in the store's event log (0 when the collection does not exist)."""
    return stack.mongo().events.count_documents({})


class EventsLogOff(harness.StackTest):
    STACK = dict(env={"EVENTS_LOG": MODE})

    def events(self):
        return next(d for d in self.stack.daemons if d.name.startswith("events"))

    def post_all(self, n):
        """POST every body n times; check each answer; returns the task ids."""
        ids = []
        for _ in range(n):
            for body, status, result in BODIES:
                got, reply = harness.http(self.port, "POST", "/task", body)
                self.assertEqual(got, status, reply)
                if result is not None:
                    self.assertEqual(reply["result"], result, reply)
                ids.append(reply["id"])
        return ids

    def test_1_answers_without_writing_the_log(self):
        ids = self.post_all(5)
        # 202 once the arrival is "acknowledged" and projected: GET /task/{id} then finds it and its outcome.
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/task", data=b'{"s1":4,"s2":7}', method="POST",
                                     headers={"Content-Type": "application/json", "Prefer": "respond-async"})
        with urllib.request.urlopen(req, timeout=10) as r:
            self.assertEqual(r.status, 202)
            async_id = json.loads(r.read())["id"]
        view = harness.wait_until("the async task's outcome", lambda: (lambda s, v: v if s == 200 and
                                  v.get("status") == "completed" else None)(*harness.http(
                                      self.port, "GET", f"/task/{async_id}")), 10)
        self.assertEqual(view["result"], "-3")
        self.assertEqual(view["history"][0]["_id"], f"{async_id}:0")
        # The projection keeps running: every task reads back with its history, from Redis.
        for task_id in ids[:4]:
            status, view = harness.http(self.port, "GET", f"/task/{task_id}")
            self.assertEqual(status, 200, view)
            self.assertIn(view["status"], ("completed", "failed"))
            self.assertEqual(view["history"][-1]["_id"], f"{task_id}:outcome")
        # A task the projection does not hold is looked up in the log, which holds nothing.
        self.assertEqual(harness.http(self.port, "GET", "/task/" + "0" * 32)[0], 404)
        time.sleep(1.0)  # a writer that wrote anyway would have flushed by now: that nothing appears is the check
        self.assertEqual(stored(self.stack), 0, "records reached the store in EVENTS_LOG=" + MODE)

    def test_2_the_mode_is_loud(self):
        ev = self.events()
        with open(ev.log_path, errors="replace") as f:
            log = f.read()
        self.assertRegex(log, r"level=warn .*event=event_log_off .*NO event log.*NOT durable")
        self.assertIn(f"events_log={MODE}", log)
        self.assertEqual(gauge(metrics(ev.metrics_port), "taskbus_event_log_off"), 1)
        replica = self.stack.replica_id(ev)
        with self.stack.redis() as r:
            snap = harness.wait_until("the events replica's snapshot", lambda: r.command("GET",
                                                                                         f"taskbus:stats:{replica}"))
        series = {m[0]: m[2] for m in json.loads(snap)["metrics"]}
        self.assertEqual(series.get("taskbus_event_log_off"), 1, sorted(series))

    def test_3_any_other_value_is_refused(self):
        # (An empty value means the default, "on", as for every variable.)
        for value in ("off", "OFF-FOR-MEASUREMENT", "no", "false", "off-for-measurement "):
            env = self.stack.daemon_env({"EVENTS_LOG": value})
            p = subprocess.run([os.path.join(self.stack.build, "events")], env=env, capture_output=True, text=True,
                               timeout=30)
            self.assertEqual(p.returncode, 1, f"EVENTS_LOG={value!r}: {p.stderr}")
            self.assertIn(f"EVENTS_LOG={value}", p.stderr)
            self.assertIn("not on or off-for-measurement", p.stderr)

    def test_4_a_normal_replica_writes_the_log(self):
        """The contrast: the same stack with an events replica in the default mode stores every record."""
        old = self.events()
        new = self.stack.start_daemon("events", EVENTS_LOG="on")
        self.stack.replica_id(new)
        counters = self.stack.stop_daemon(old)
        self.assertEqual(counters["stored"], 0, counters)
        self.assertGreaterEqual(counters["records"], 21, counters)   # at least one document per task, any shape
        self.assertEqual(counters["events_log"], MODE)
        harness.wait_until("the frontend sees only the new replica",
                           lambda: self.stack.replica_ids("events") == [self.stack.replica_id(new)], 10)
        ids = self.post_all(1)
        self.assertEqual(gauge(metrics(new.metrics_port), "taskbus_event_log_off"), 0)
        # Whatever the documents' shape: every new task's id is in the log (and nothing else was written before).
        def all_stored():
            text = " ".join(map(str, self.stack.mongo().events.find({})))
            return all(task_id in text for task_id in ids)
        harness.wait_until("the new tasks in the store", all_stored, 10)
        self.assertGreaterEqual(stored(self.stack), len(ids))

if __name__ == "__main__":
    unittest.main(verbosity=2)
