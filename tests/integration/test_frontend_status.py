"""The frontend's own failure answers, against a fake events replica this test controls: a 504 says the outcome is
not known yet and where to find it, every 503 carries Retry-After, and GET / says when the frontend is saturated.

Only redis-server and the frontend run. The fake registers in the Redis registry as an events replica, receives
what the frontend publishes to it, and answers (or not) as each test needs."""
import http.client
import json
import os
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402

BUILD = harness.build_dir_from_argv()
TIMEOUT_MS = 1000


class Resp:
    """A minimal Redis client (RESP2) on one blocking socket."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rb")

    def send(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))

    def read(self):
        line = self.file.readline()
        if not line:
            raise EOFError("redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.file.read(n + 2)[:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RuntimeError(f"unexpected reply {line!r}")

    def call(self, *args):
        self.send(*args)
        return self.read()

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.file.close()
        self.sock.close()


class FakeEvents:
    """An events replica: heartbeats in taskbus:replicas:events while 'alive', records every message it gets, and
    publishes what answer(message) returns (None: no answer)."""

    def __init__(self, redis_port, answer):
        self.id = f"events-fake-{os.getpid()}"
        self.answer, self.alive, self.received = answer, True, []
        self.cmd, self.sub, self.beat_conn = Resp(redis_port), Resp(redis_port), Resp(redis_port)
        self.sub.call("SUBSCRIBE", f"taskbus:{self.id}")
        self.stopping = threading.Event()
        self.beat()
        self.threads = [threading.Thread(target=self.listen, daemon=True),
                        threading.Thread(target=self.heartbeat, daemon=True)]
        for t in self.threads:
            t.start()

    def beat(self):
        if self.alive:
            self.beat_conn.call("ZADD", "taskbus:replicas:events", int(time.time() * 1000) + 1000, self.id)
        else:
            self.beat_conn.call("ZREM", "taskbus:replicas:events", self.id)

    def heartbeat(self):
        while not self.stopping.wait(0.1):
            self.beat()

    def listen(self):
        try:
            while True:
                push = self.sub.read()
                msg = json.loads(push[2])
                self.received.append(msg)
                reply = self.answer(msg)
                if reply is not None:
                    self.cmd.call("PUBLISH", msg["replyTo"], json.dumps(reply))
        except (EOFError, OSError, ValueError):
            pass

    def close(self):
        self.stopping.set()
        self.threads[1].join()
        self.sub.close()
        self.threads[0].join()
        self.cmd.close()
        self.beat_conn.close()


def request(port, method, path, body=None):
    """One request on its own connection: (status, lower-cased headers, parsed JSON body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, json.loads(resp.read())
    finally:
        conn.close()


class FrontendStatus(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = harness.Stack(BUILD, events=0, backends={})
        cls.stack.mongo_uri = "mongodb://127.0.0.1:1/unused"  # the frontend never opens the store
        try:
            cls.stack.start_redis()
            cls.stack.start_frontend(TASK_TIMEOUT_MS=TIMEOUT_MS, MAX_IN_FLIGHT=2)
            cls.port = cls.stack.frontend_ports[0]
            cls.fake = FakeEvents(cls.stack.redis_port, cls.answer)
            cls.wait_health(200)
        except Exception:
            cls.stack.stop(check=False)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.fake.close()
        cls.stack.stop()

    @staticmethod
    def answer(msg):
        """Tasks that add are swallowed (the frontend's own deadline answers); string tasks are refused with 503 as
        events does when its own caps are full; history queries are swallowed."""
        if msg["kind"] == "task" and msg.get("task") == "STRING":
            return {"kind": "result", "id": msg["id"], "status": 503, "error": "the events replica is at capacity",
                    "retryAfter": 1}
        return None

    @classmethod
    def wait_health(cls, status):
        harness.wait_until(f"GET / to answer {status}", lambda: request(cls.port, "GET", "/")[0] == status, 10)

    def assert_503(self, answer, error):
        status, headers, reply = answer
        self.assertEqual((status, reply["message"], reply["error"]), (503, "FAIL", error), reply)
        self.assertEqual(headers.get("retry-after"), "1")

    def test_504_says_the_task_may_still_complete(self):
        t0 = time.monotonic()
        status, headers, reply = request(self.port, "POST", "/task", '{"a1": 1, "a2": 2}')
        self.assertEqual(status, 504, reply)
        self.assertGreaterEqual(time.monotonic() - t0, TIMEOUT_MS / 1000 - 0.05)
        sent = [m["id"] for m in self.fake.received if m.get("requestBody") == '{"a1": 1, "a2": 2}']
        self.assertEqual([reply["id"]], sent)
        self.assertEqual(reply["error"], f"no answer within {TIMEOUT_MS} ms; the task may still complete: "
                                         f"GET /task/{reply['id']} shows its outcome")
        self.assertNotIn("retry-after", headers)

    def test_504_of_a_history_query(self):
        status, _, reply = request(self.port, "GET", "/task/abc-1")
        self.assertEqual((status, reply), (504, {"message": "FAIL", "error": f"no answer within {TIMEOUT_MS} ms",
                                                 "id": "abc-1"}))

    def test_503_relayed_from_events_has_retry_after(self):
        answer = request(self.port, "POST", "/task", '{"a1": "x", "a2": "y"}')
        self.assert_503(answer, "the events replica is at capacity")
        self.assertRegex(answer[2]["id"], r"^[0-9a-f]{32}$")
        # GET / says why new work is refused, for the refusal's Retry-After (1 s), then answers 200 again.
        self.assert_503(request(self.port, "GET", "/"), "events refuses new tasks: the events replica is at capacity")
        self.wait_health(200)

    def test_saturated(self):
        results = []
        waiting = [threading.Thread(target=lambda: results.append(
            request(self.port, "POST", "/task", '{"a1": 5, "a2": 5}'))) for _ in range(2)]
        before = len(self.fake.received)
        for t in waiting:
            t.start()
        harness.wait_until("two tasks in flight", lambda: len(self.fake.received) == before + 2, 5)
        self.assert_503(request(self.port, "GET", "/"), "too many requests in flight; retry later")
        self.assert_503(request(self.port, "POST", "/task", '{"a1": 1, "a2": 1}'),
                        "too many requests in flight; retry later")
        self.assertEqual(len(self.fake.received), before + 2, "a refused request was published")
        for t in waiting:
            t.join()
        self.assertEqual([r[0] for r in results], [504, 504])
        self.assertEqual(request(self.port, "GET", "/")[0], 200)

    def test_no_events_replica(self):
        self.fake.alive = False
        try:
            self.wait_health(503)
            self.assert_503(request(self.port, "GET", "/"), "no events replica is alive")
            self.assert_503(request(self.port, "POST", "/task", '{"a1": 1, "a2": 1}'), "no events replica is alive")
        finally:
            self.fake.alive = True
        self.wait_health(200)


if __name__ == "__main__":
    unittest.main(verbosity=2)
