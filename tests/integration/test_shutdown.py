"""SIGTERM: a daemon leaves the registry, answers what is in flight, and exits 0."""
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402

BUILD = harness.build_dir_from_argv()


def post_in_background(port, body):
    result = {}
    t = threading.Thread(target=lambda: result.update(r=harness.http(port, "POST", "/task", body)))
    t.start()
    return t, result


class Shutdown(unittest.TestCase):
    """No arithmetic backend runs, so NUMBER tasks stay in flight until someone answers them."""

    def setUp(self):
        self.stack = harness.Stack(BUILD, backends={"string": 1},
                                   env={"TASK_TIMEOUT_MS": "20000", "SHUTDOWN_GRACE_MS": "300"}).start()
        self.port = self.stack.frontend_ports[0]

    def tearDown(self):
        self.stack.stop()

    def in_flight(self):
        return self.stack.mongo().events.count_documents({"type": "received"})

    def test_events_answers_its_tasks_before_leaving(self):
        t, result = post_in_background(self.port, '{"a1": 1, "a2": 2}')
        harness.wait_until("the task to reach events", lambda: self.in_flight() == 1)
        events = next(d for d in self.stack.daemons if d.name.startswith("events"))
        t0 = time.monotonic()
        self.assertEqual(events.stop(), 0, events.tail())
        t.join()
        status, reply = result["r"]
        self.assertEqual((status, reply["error"]), (503, "the events replica is shutting down"))
        self.assertLess(time.monotonic() - t0, 5)
        records = list(self.stack.mongo().events.find({"task": reply["id"]}).sort("seq", 1))
        self.assertEqual([r["type"] for r in records], ["received", "failed"])
        self.assertEqual(self.stack.registered("events"), 0, "the stopped replica is still registered")

    def test_frontend_answers_suspended_requests_before_leaving(self):
        t, result = post_in_background(self.port, '{"a1": 1, "a2": 2}')
        harness.wait_until("the task to reach events", lambda: self.in_flight() == 1)
        frontend = next(d for d in self.stack.daemons if d.name.startswith("frontend"))
        self.assertEqual(frontend.stop(), 0, frontend.tail())
        t.join()
        status, reply = result["r"]
        self.assertEqual((status, reply["error"]), (503, "the frontend is shutting down"))
        self.assertEqual(self.stack.registered("frontend"), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
