"""When no replica can do the work the client gets a clear status in time, and the log says why."""
import json
import os
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402

BUILD = harness.build_dir_from_argv()


class NoBackend(harness.StackTest):
    """Only a string backend runs: NUMBER tasks wait for an arithmetic replica until the deadline."""

    STACK = dict(backends={"string": 1}, env={"TASK_TIMEOUT_MS": "1500"})

    def test_504_logged_as_failed(self):
        t0 = time.monotonic()
        status, reply = harness.http(self.port, "POST", "/task", '{"a1": 1, "a2": 2}')
        elapsed = time.monotonic() - t0
        self.assertEqual(status, 504, reply)
        self.assertEqual(reply["message"], "FAIL")
        self.assertEqual(reply["error"], "no live replica of service 'arithmetic' answered in time")
        self.assertLess(elapsed, 1.5, "events answers before the frontend's own deadline")
        records = self.stack.history(reply["id"])
        self.assertEqual([r["type"] for r in records], ["received", "failed"])
        self.assertEqual(records[-1]["status"], 504)

    def test_other_services_still_work(self):
        status, reply = harness.http(self.port, "POST", "/task", '{"a1": "x", "a2": "y"}')
        self.assertEqual((status, reply["result"]), (200, "xy"))

    def test_a_backend_that_arrives_in_time_takes_waiting_tasks(self):
        import threading
        result = {}
        t = threading.Thread(target=lambda: result.update(r=harness.http(self.port, "POST", "/task",
                                                                          '{"m1": 6, "m2": 7}')))
        t.start()
        proc = self.stack.start_daemon("backend", SERVICE="arithmetic")
        t.join()
        status, reply = result["r"]
        self.assertEqual((status, reply.get("result")), (200, "42"), reply)
        # It waited: arrival, then the dispatch to the replica that came, then the result.
        records = self.stack.history(reply["id"])
        self.assertEqual([r["type"] for r in records], ["received", "dispatched", "completed"])
        self.assertNotIn("backend", records[0])
        self.assertEqual(records[1]["backend"], records[2]["backend"])
        self.stack.daemons.remove(proc)
        self.assertEqual(proc.stop(), 0, proc.tail())


class OverBudget(harness.StackTest):
    """Past MAX_IN_FLIGHT the frontend answers 503 at once instead of queueing without bound."""

    STACK = dict(backends={"string": 1}, env={"TASK_TIMEOUT_MS": "3000", "MAX_IN_FLIGHT": "2"})

    def test_503_past_the_budget(self):
        import threading
        results = []
        waiting = [threading.Thread(target=lambda: results.append(
            harness.http(self.port, "POST", "/task", '{"a1": 1, "a2": 2}'))) for _ in range(2)]
        for t in waiting:
            t.start()
        harness.wait_until("two tasks in flight",
                           lambda: self.stack.count_received() == 2)
        t0 = time.monotonic()
        status, reply = harness.http(self.port, "POST", "/task", '{"a1": "x", "a2": "y"}')
        self.assertEqual((status, reply["error"]), (503, "too many requests in flight; retry later"))
        self.assertLess(time.monotonic() - t0, 1.0)
        for t in waiting:
            t.join()
        self.assertEqual([s for s, _ in results], [504, 504])
        # Once they are answered there is room again.
        status, reply = harness.http(self.port, "POST", "/task", '{"a1": "x", "a2": "y"}')
        self.assertEqual((status, reply["result"]), (200, "xy"))


class Unrouted(unittest.TestCase):
    """A task map without STRING: such tasks fail at once with a clear 500, logged."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        path = os.path.join(cls.tmp.name, "task-maps.json")
        with open(path, "w") as f:
            json.dump({"NUMBER": "arithmetic"}, f)
        cls.stack = harness.Stack(BUILD, backends={"arithmetic": 1}, env={"TASK_MAPS": path}).start()
        cls.port = cls.stack.frontend_ports[0]

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()
        cls.tmp.cleanup()

    def test_missing_route(self):
        status, reply = harness.http(self.port, "POST", "/task", '{"a1": "x", "a2": "y"}')
        self.assertEqual(status, 500, reply)
        self.assertEqual(reply["error"], "task type STRING has no route in the task map")
        records = self.stack.history(reply["id"])
        self.assertEqual([r["type"] for r in records], ["received", "failed"])


class NoEvents(unittest.TestCase):
    """No events replica at all: the frontend says so at once instead of hanging."""

    def test_503_and_unhealthy(self):
        stack = harness.Stack(BUILD, events=0, backends={})
        try:
            stack.start_redis()
            stack.start_ferretdb()
            stack.start_frontend()
            port = stack.frontend_ports[0]
            harness.wait_until("frontend listening", lambda: harness.http(port, "GET", "/", timeout=2)[0] == 503)
            status, reply = harness.http(port, "GET", "/")
            self.assertEqual((status, reply["error"]), (503, "no events replica is alive"))
            status, reply = harness.http(port, "POST", "/task", '{"a1": 1, "a2": 2}')
            self.assertEqual((status, reply["error"]), (503, "no events replica is alive"))
        finally:
            stack.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
