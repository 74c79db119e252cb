"""SIGTERM: a daemon leaves the registry, answers what is in flight, and exits 0."""
import http.client
import json
import os
import signal
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402

BUILD = harness.build_dir_from_argv()


def post_in_background(port, body):
    result = {}
    t = threading.Thread(target=lambda: result.update(r=harness.http(port, "POST", "/task", body)))
    t.start()
    return t, result


def in_flight_metric(port):
    """taskbus_http_requests_in_flight from the frontend's GET /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return float(next(line.split()[1] for line in text.splitlines()
                      if line.startswith("taskbus_http_requests_in_flight ")))


class Shutdown(unittest.TestCase):
    """No arithmetic backend runs, so NUMBER tasks stay in flight until someone answers them."""

    def setUp(self):
        self.stack = harness.Stack(BUILD, backends={"string": 1},
                                   env={"TASK_TIMEOUT_MS": "20000", "SHUTDOWN_GRACE_MS": "300"}).start()
        self.port = self.stack.frontend_ports[0]

    def tearDown(self):
        self.stack.stop()

    def in_flight(self):
        return self.stack.count_received()

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
        records = self.stack.history(reply["id"])
        self.assertEqual([r["type"] for r in records], ["received", "failed"])
        self.assertEqual(self.stack.registered("events"), 0, "the stopped replica is still registered")

    def test_frontend_answers_a_claim_that_waits_on_a_frozen_redis(self):
        """A request with an Idempotency-Key waits for Redis's answer to its claim outside the table of pending
        requests. SIGTERM while Redis is frozen: the frontend answers it 503 and exits 0 (it used to stop
        libmicrohttpd with that connection still suspended, which aborts the process). The bus's watchdog is slowed
        down (HEARTBEAT_MS 5 s), so that it does not fail the claim first while the test waits for the request to
        show in taskbus_http_requests_in_flight (sampled once a second)."""
        self.stack.stop()
        self.stack = harness.Stack(BUILD, backends={"string": 1},
                                   env={"TASK_TIMEOUT_MS": "20000", "SHUTDOWN_GRACE_MS": "300",
                                        "HEARTBEAT_MS": "5000", "REPLICA_TTL_MS": "15000"}).start()
        self.port = self.stack.frontend_ports[0]
        redis = next(s for s in self.stack.servers if s.name.startswith("redis"))
        result = {}

        def keyed():
            req = urllib.request.Request(f"http://127.0.0.1:{self.port}/task", data=b'{"a1": "x", "a2": "y"}',
                                         method="POST", headers={"Content-Type": "application/json",
                                                                 "Idempotency-Key": "frozen-claim-1"})
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:
                    result["r"] = (resp.status, json.loads(resp.read()))
            except urllib.error.HTTPError as e:
                result["r"] = (e.code, json.loads(e.read()))
        redis.freeze()
        try:
            t = threading.Thread(target=keyed)
            t.start()
            harness.wait_until("the claim waiting in flight", lambda: in_flight_metric(self.port) == 1, 5)
            frontend = next(d for d in self.stack.daemons if d.name.startswith("frontend"))
            code = frontend.stop()
        finally:
            redis.thaw()
        t.join()
        self.assertEqual(code, 0, frontend.tail())
        status, reply = result["r"]
        self.assertEqual((status, reply.get("error")), (503, "the frontend is shutting down"), reply)

    def test_frontend_answers_suspended_requests_before_leaving(self):
        t, result = post_in_background(self.port, '{"a1": 1, "a2": 2}')
        harness.wait_until("the task to reach events", lambda: self.in_flight() == 1)
        frontend = next(d for d in self.stack.daemons if d.name.startswith("frontend"))
        self.assertEqual(frontend.stop(), 0, frontend.tail())
        t.join()
        status, reply = result["r"]
        self.assertEqual((status, reply["error"]), (503, "the frontend is shutting down"))
        self.assertEqual(self.stack.registered("frontend"), 0)


class KeepAliveShutdown(unittest.TestCase):
    """A rolling update behind HAProxy: clients keep their connections open across the frontend's SIGTERM. Requests
    already suspended get their answer (or 503 after the grace); requests that arrive after the signal on those
    connections get 503 at once, are not published, and close their connection; the frontend exits 0."""

    def start(self, grace_ms):
        self.stack = harness.Stack(BUILD, env={"TASK_TIMEOUT_MS": "20000", "SHUTDOWN_GRACE_MS": str(grace_ms)})
        self.stack.start()
        self.addCleanup(self.stack.stop)
        self.port = self.stack.frontend_ports[0]
        self.frontend = next(d for d in self.stack.daemons if d.name.startswith("frontend"))
        self.backend = next(d for d in self.stack.daemons if d.name.startswith("backend-arithmetic"))
        self.conns = [http.client.HTTPConnection("127.0.0.1", self.port, timeout=30) for _ in range(6)]
        for c in self.conns:
            self.addCleanup(c.close)
            status, _, _ = self.exchange(c, "GET", "/")
            self.assertEqual(status, 200)

    @staticmethod
    def exchange(conn, method, path, body=None):
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
        return KeepAliveShutdown.answer(conn)

    @staticmethod
    def answer(conn):
        """The response on 'conn': (status, headers, parsed JSON body)."""
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, json.loads(raw)

    def received(self):
        return self.stack.count_received()

    def stop_backend(self):
        os.kill(self.backend.pid, signal.SIGSTOP)
        self.addCleanup(os.kill, self.backend.pid, signal.SIGCONT)  # runs before the stack's stop (LIFO)

    def sigterm_frontend(self):
        self.frontend.p.send_signal(signal.SIGTERM)
        # It leaves the registry in the same turn of its loop in which it stops taking requests.
        harness.wait_until("the frontend to leave the registry", lambda: self.stack.registered("frontend") == 0)

    def assert_refused(self, status, headers, reply):
        self.assertEqual((status, reply.get("error")), (503, "the frontend is shutting down"), reply)
        self.assertEqual(reply, {"message": "FAIL", "error": "the frontend is shutting down"})
        self.assertEqual(headers.get("connection"), "close")
        self.assertEqual(headers.get("retry-after"), "1")

    def new_requests_are_refused(self, conns):
        """Send one request of each route on 'conns' (3 idle keep-alive connections): 503, closed, not published."""
        for conn, (method, path, body) in zip(conns, [("POST", "/task", '{"a1": "x", "a2": "y"}'),
                                                      ("GET", "/task/abc-1", None), ("GET", "/", None)]):
            with self.subTest(method=method, path=path):
                self.assert_refused(*self.exchange(conn, method, path, body))

    def assert_clean_exit(self, sent):
        self.assertEqual(self.frontend.p.wait(15), 0, self.frontend.tail())
        with open(self.frontend.log_path, errors="replace") as f:
            log = f.read()
        self.assertNotIn("Sanitizer", log)
        self.assertIn(f"event=stopped sent={sent} ", log)

    def test_in_flight_answered_in_time_and_new_requests_refused(self):
        self.start(grace_ms=10000)
        self.stop_backend()
        self.conns[0].request("POST", "/task", '{"a1": 1, "a2": 2}', {"Content-Type": "application/json"})
        self.conns[1].request("POST", "/task", '{"m1": 6, "m2": 7}', {"Content-Type": "application/json"})
        harness.wait_until("two tasks in flight", lambda: self.received() == 2)
        self.sigterm_frontend()
        self.new_requests_are_refused(self.conns[2:5])
        os.kill(self.backend.pid, signal.SIGCONT)
        for conn, want in [(self.conns[0], "3"), (self.conns[1], "42")]:
            status, headers, reply = self.answer(conn)
            self.assertEqual((status, reply["result"]), (200, want), reply)
            self.assertEqual(headers.get("connection"), "close")
        self.assert_clean_exit(sent=2)
        self.assertEqual(self.received(), 2, "a request refused at shutdown reached events")

    def test_in_flight_answered_503_after_the_grace(self):
        self.start(grace_ms=1500)
        self.stop_backend()
        self.conns[0].request("POST", "/task", '{"a1": 1, "a2": 2}', {"Content-Type": "application/json"})
        harness.wait_until("a task in flight", lambda: self.received() == 1)
        self.sigterm_frontend()
        self.new_requests_are_refused(self.conns[1:4])
        status, headers, reply = self.answer(self.conns[0])
        self.assertEqual((status, reply["error"]), (503, "the frontend is shutting down"), reply)
        self.assertEqual((headers.get("connection"), headers.get("retry-after")), ("close", "1"))
        # The in-flight request was the last thing the frontend waited for: a request sent now lands while it
        # flushes its answers, the moment it used to suspend a request nobody would resume, and abort.
        self.assert_refused(*self.exchange(self.conns[4], "POST", "/task", '{"a1": 3, "a2": 4}'))
        self.assert_clean_exit(sent=1)

    def test_idle_connections_at_sigterm(self):
        self.start(grace_ms=5000)
        self.sigterm_frontend()
        self.new_requests_are_refused(self.conns[0:3])
        self.assert_clean_exit(sent=0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
