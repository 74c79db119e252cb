"""Slow clients: a request head that trickles in is cut at HEADER_TIMEOUT_MS, a body at BODY_TIMEOUT_MS (however
steadily the bytes come, while IDLE_TIMEOUT_S is reset by each of them), other clients are served meanwhile, and
MAX_CONNECTIONS_PER_IP caps the connections of one address."""
import os
import select
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402

BUILD = harness.build_dir_from_argv()

HEAD_MS, BODY_MS, IDLE_S = 2000, 3000, 2
SLOW = 300                                  # slow connections, over three source addresses (the cap is per address)
SOURCES = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
POSTS, POSTERS = 50, 5
HEAD = b"POST /task HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Slow: " + b"s" * 64


def raise_nofile(need):
    soft, enough = harness.raise_nofile(need)
    if not enough:
        raise RuntimeError(f"open files limit {soft} is below the {need} this test needs (raise ulimit -Hn)")


def connect(port, source="127.0.0.1"):
    s = socket.socket()
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def closed_by_peer(s):
    """True when the server closed 's' (EOF or reset); False when it is open with nothing to read."""
    try:
        r, _, _ = select.select([s], [], [], 0)
        if not r:
            return False
        return s.recv(65536) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True


class Trickle:
    """Connections that each send the next byte of 'data' every 'period' seconds from one thread, and the time
    each one was closed by the server."""

    def __init__(self, socks, data, period=1.0, opened=None):
        self.socks, self.data, self.period = socks, data, period
        self.opened = opened or [time.monotonic()] * len(socks)
        self.closed = [None] * len(socks)
        self.sent = [0] * len(socks)

    def run(self, until):
        next_send = time.monotonic()
        while time.monotonic() < until and None in self.closed:
            now = time.monotonic()
            if now >= next_send:
                for i, s in enumerate(self.socks):
                    if self.closed[i] is None and self.sent[i] < len(self.data):
                        try:
                            s.send(self.data[self.sent[i]:self.sent[i] + 1])
                            self.sent[i] += 1
                        except OSError:
                            self.closed[i] = time.monotonic()
                next_send += self.period
            open_socks = [s for i, s in enumerate(self.socks) if self.closed[i] is None]
            r, _, _ = select.select(open_socks, [], [], max(0.0, min(0.05, next_send - time.monotonic())))
            for s in r:
                i = self.socks.index(s)
                try:
                    data = s.recv(65536)
                except (ConnectionResetError, BrokenPipeError):
                    data = b""
                if data == b"":
                    self.closed[i] = time.monotonic()

    def close(self):
        for s in self.socks:
            s.close()


class SlowClients(harness.StackTest):
    STACK = {"env": {"HEADER_TIMEOUT_MS": str(HEAD_MS), "BODY_TIMEOUT_MS": str(BODY_MS), "IDLE_TIMEOUT_S": str(IDLE_S)}}

    @classmethod
    def setUpClass(cls):
        raise_nofile(SLOW + 256)
        super().setUpClass()

    def test_slow_heads_are_cut_and_others_are_served(self):
        socks, opened = [], []
        for i in range(SLOW):
            opened.append(time.monotonic())  # before the server can accept it: its clock starts later
            socks.append(connect(self.port, SOURCES[i % len(SOURCES)]))
        trickle = Trickle(socks, HEAD, opened=opened)
        latencies, ended, errors = [], [], []

        def poster():
            for _ in range(POSTS // POSTERS):
                t0 = time.monotonic()
                try:
                    status, reply = harness.http(self.port, "POST", "/task", '{"a1": 5, "a2": 10}', timeout=10)
                except Exception as e:  # noqa: BLE001 (reported below)
                    errors.append(repr(e))
                    continue
                latencies.append(time.monotonic() - t0)
                ended.append(time.monotonic())
                if (status, reply.get("result") if isinstance(reply, dict) else reply) != (200, "15"):
                    errors.append((status, reply))

        threads = [threading.Thread(target=poster) for _ in range(POSTERS)]
        time.sleep(0.2)  # a few bytes of every slow head are in
        for t in threads:
            t.start()
        try:
            trickle.run(until=time.monotonic() + HEAD_MS / 1000 + 5)
        finally:
            for t in threads:
                t.join()
            trickle.close()
        self.assertEqual(errors, [])
        self.assertEqual(len(latencies), POSTS)
        first_close = min(c for c in trickle.closed if c is not None)
        print(f"\n  POST /task with {SLOW} slow heads open: max {max(latencies) * 1000:.1f} ms, "
              f"median {sorted(latencies)[len(latencies) // 2] * 1000:.1f} ms over {POSTS}", file=sys.stderr)
        self.assertLess(max(ended), first_close, "the POSTs did not run while the slow connections were open")
        self.assertLess(max(latencies), 1.0)
        self.assertNotIn(None, trickle.closed, "a slow head was never cut")
        lived = [c - o for c, o in zip(trickle.closed, trickle.opened)]
        print(f"  slow heads closed after {min(lived):.3f} to {max(lived):.3f} s (deadline {HEAD_MS / 1000} s)",
              file=sys.stderr)
        self.assertGreaterEqual(min(lived), HEAD_MS / 1000 - 0.02, "a slow head was cut before its deadline")
        self.assertLess(max(lived), HEAD_MS / 1000 + 1.0)
        self.assertTrue(all(n < len(HEAD) for n in trickle.sent))
        # The frontend still serves at once.
        self.assertEqual(harness.http(self.port, "GET", "/")[0], 200)

    def test_slow_body_is_cut(self):
        before = self.stack.count_received()
        s = connect(self.port)
        body = b'{"a1": 1, "a2": 2}' + b" " * 80
        opened = [time.monotonic()]
        s.sendall(HEAD + b"\r\nContent-Length: %d\r\n\r\n" % len(body))
        trickle = Trickle([s], body, opened=opened)
        try:
            trickle.run(until=time.monotonic() + BODY_MS / 1000 + 5)
        finally:
            trickle.close()
        lived = trickle.closed[0] - trickle.opened[0] if trickle.closed[0] else None
        self.assertIsNotNone(lived, "a slow body was never cut")
        self.assertGreaterEqual(lived, BODY_MS / 1000 - 0.02)
        self.assertLess(lived, BODY_MS / 1000 + 1.0)
        self.assertEqual(self.stack.count_received(), before)

    def test_keep_alive_request_after_an_answer(self):
        """A later request on a keep-alive connection: its head is due within IDLE_TIMEOUT_S + HEADER_TIMEOUT_MS of
        the previous answer, even when each byte comes before the idle timeout."""
        s = connect(self.port)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.endswith(b"}"):
            reply += s.recv(4096)
        self.assertTrue(reply.startswith(b"HTTP/1.1 200"), reply)
        opened = [time.monotonic()]  # after the answer, so the server's clock started before
        trickle = Trickle([s], b"GET /" + b"x" * 200, period=0.5, opened=opened)
        try:
            trickle.run(until=time.monotonic() + IDLE_S + HEAD_MS / 1000 + 5)
        finally:
            trickle.close()
        lived = trickle.closed[0] - trickle.opened[0] if trickle.closed[0] else None
        self.assertIsNotNone(lived, "a trickled keep-alive request was never cut")
        self.assertGreaterEqual(lived, IDLE_S + HEAD_MS / 1000 - 0.1)
        self.assertLess(lived, IDLE_S + HEAD_MS / 1000 + 1.0)

    def test_keep_alive_head_after_its_first_line(self):
        """A later request whose first line came at once: the rest of its head is due HEADER_TIMEOUT_MS after it."""
        s = connect(self.port)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.endswith(b"}"):
            reply += s.recv(4096)
        time.sleep(0.5)
        opened = [time.monotonic()]
        s.sendall(b"GET / HTTP/1.1\r\n")
        trickle = Trickle([s], b"X-Slow: " + b"s" * 200, period=0.5, opened=opened)
        try:
            trickle.run(until=time.monotonic() + HEAD_MS / 1000 + 5)
        finally:
            trickle.close()
        lived = trickle.closed[0] - trickle.opened[0] if trickle.closed[0] else None
        self.assertIsNotNone(lived, "a trickled keep-alive head was never cut")
        self.assertGreaterEqual(lived, HEAD_MS / 1000 - 0.02)
        self.assertLess(lived, HEAD_MS / 1000 + 1.0)

    def test_fast_requests_are_not_cut(self):
        """A keep-alive connection that sends requests at once is never cut, however long it lives."""
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            t_end = time.monotonic() + HEAD_MS / 1000 + 1.5
            n = 0
            while time.monotonic() < t_end:
                conn.request("POST", "/task", body='{"a1": 1, "a2": 2}', headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                resp.read()
                self.assertEqual(resp.status, 200)
                n += 1
                time.sleep(0.4)
            self.assertGreater(n, 4)
        finally:
            conn.close()


class PerAddressCap(unittest.TestCase):
    CAP = 4

    def setUp(self):
        self.stack = harness.Stack(BUILD, frontends=0, env={"MAX_CONNECTIONS_PER_IP": str(self.CAP)}).start()
        proc = self.stack.start_frontend()
        self.port = proc.port
        self.stack.wait_ready()

    def tearDown(self):
        self.stack.stop()

    def test_cap_per_address(self):
        held = [connect(self.port) for _ in range(self.CAP)]
        try:
            for s in held:
                s.sendall(b"GET / HTTP/1.1\r\n")  # a head on its way: the connection is open and counted
            time.sleep(0.2)
            self.assertFalse(any(closed_by_peer(s) for s in held))
            extra = connect(self.port)
            extra.settimeout(5)
            try:
                extra.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                try:
                    data = extra.recv(4096)
                except ConnectionResetError:
                    data = b""
                self.assertEqual(data, b"", "a connection beyond the cap was served")
            finally:
                extra.close()
            # Another address is not affected.
            other = connect(self.port, "127.0.0.2")
            other.settimeout(5)
            other.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            self.assertTrue(other.recv(4096).startswith(b"HTTP/1.1 200"))
            other.close()
            # A freed place can be taken again.
            held.pop().close()
            harness.wait_until("a place under the cap",
                               lambda: harness.http(self.port, "GET", "/", timeout=2)[0] == 200, timeout=5)
        finally:
            for s in held:
                s.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
