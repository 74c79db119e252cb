"""API tokens (API_TOKENS_FILE): every route but GET /, GET /metrics and GET /dashboard (the page, without data)
needs Authorization: Bearer <token>; the file is re-read on SIGHUP; no token ever reaches the log."""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402

BUILD = harness.build_dir_from_argv()

FIRST, SECOND, THIRD = "tb-first.Token_1", "tb-second~token/2==", "tb-third+token-3"
CHALLENGE = 'Bearer realm="taskbus"'
INVALID = 'Bearer realm="taskbus", error="invalid_token"'


def request(port, method, path, body=None, headers=None):
    """One request on its own connection. Returns (status, headers as a dict with lower-case names, JSON or text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        raw = resp.read()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()
    try:
        return resp.status, hdrs, json.loads(raw)
    except ValueError:
        return resp.status, hdrs, raw.decode(errors="replace")


def bearer(token):
    return {"Authorization": "Bearer " + token, "Content-Type": "application/json"}


class ApiTokens(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="taskbus-auth-")
        cls.tokens = os.path.join(cls.dir, "tokens")
        cls.write_tokens(f"# taskbus API tokens\n\n{FIRST}\r\n  {SECOND}  \n# {THIRD} (not yet)\n")
        cls.stack = harness.Stack(BUILD, workdir=os.path.join(cls.dir, "stack"),
                                  env={"API_TOKENS_FILE": cls.tokens, "LOG_LEVEL": "debug"}).start()
        cls.port = cls.stack.frontend_ports[0]
        cls.frontend = next(d for d in cls.stack.daemons if d.name.startswith("frontend"))

    @classmethod
    def tearDownClass(cls):
        try:
            cls.stack.stop()
            logs = ""
            for name in os.listdir(os.path.join(cls.dir, "stack")):
                if name.endswith(".log"):
                    with open(os.path.join(cls.dir, "stack", name), errors="replace") as f:
                        logs += f.read()
            for token in (FIRST, SECOND, THIRD):
                assert token not in logs, "a token appears in a daemon's log"
            assert "event=tokens_reloaded" in logs and "event=tokens_reload_failed" in logs, logs[-2000:]
        finally:
            shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def write_tokens(cls, text):
        tmp = cls.tokens + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, cls.tokens)

    def assert_refused(self, answer, challenge, why):
        status, hdrs, body = answer
        self.assertEqual(status, 401, body)
        self.assertEqual(hdrs.get("www-authenticate"), challenge)
        self.assertEqual(hdrs.get("content-type"), "application/json")
        self.assertEqual(body["message"], "FAIL")
        self.assertIn(why, body["error"])
        self.assertEqual(set(body), {"message", "error"})

    def received(self):
        return self.stack.count_received()

    def test_refusals(self):
        before = self.received()
        task = '{"a1": 5, "a2": 10}'
        json_only = {"Content-Type": "application/json"}
        self.assert_refused(request(self.port, "POST", "/task", task, json_only), CHALLENGE, "missing")
        self.assert_refused(request(self.port, "POST", "/task", task, {"Authorization": "Basic dGI6Zmlyc3Q="}),
                            CHALLENGE, "malformed")
        self.assert_refused(request(self.port, "POST", "/task", task, {"Authorization": FIRST}),
                            CHALLENGE, "malformed")
        self.assert_refused(request(self.port, "POST", "/task", task, {"Authorization": "Bearer a b"}),
                            INVALID, "malformed")
        self.assert_refused(request(self.port, "POST", "/task", task, bearer("tb-not-a-token")),
                            INVALID, "unknown token")
        self.assert_refused(request(self.port, "POST", "/task", task, bearer(FIRST + "x")), INVALID, "unknown")
        for method, path in (("GET", "/task/abc-1"), ("GET", "/tasks"), ("GET", "/nowhere"), ("DELETE", "/"),
                             ("POST", "/")):
            with self.subTest(method=method, path=path):
                self.assert_refused(request(self.port, method, path), CHALLENGE, "missing")
        # Refused requests never reach the bus: nothing was logged as received.
        time.sleep(0.3)
        self.assertEqual(self.received(), before)

    def test_refused_before_the_body_is_read(self):
        """The 401 comes in answer to the head alone: the server does not wait for a body it would not keep."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"POST /task HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 60000\r\n\r\n{\"a1\":")
            t0 = time.monotonic()
            reply = b""
            while b"\r\n\r\n" not in reply:
                chunk = s.recv(4096)
                if not chunk:
                    break
                reply += chunk
            self.assertTrue(reply.startswith(b"HTTP/1.1 401"), reply[:100])
            self.assertLess(time.monotonic() - t0, 2)

    def test_valid_tokens(self):
        status, _, body = request(self.port, "POST", "/task", '{"a1": 5, "a2": 10}', bearer(FIRST))
        self.assertEqual((status, body["result"]), (200, "15"), body)
        status, _, view = request(self.port, "GET", "/task/" + body["id"], headers=bearer(SECOND))
        self.assertEqual((status, view["status"]), (200, "completed"), view)
        headers = {"Authorization": "bearer\t" + SECOND}  # the scheme is case-insensitive
        self.assertEqual(request(self.port, "GET", "/tasks?limit=1", headers=headers)[0], 200)

    def test_exempt_routes(self):
        status, _, body = request(self.port, "GET", "/")
        self.assertEqual((status, body), (200, {"message": "OK"}))
        self.assertEqual(request(self.port, "HEAD", "/")[0], 200)
        self.assertEqual(request(self.port, "GET", "/", headers=bearer("tb-not-a-token"))[0], 200)
        self.assertEqual(request(self.port, "GET", "/metrics")[0], 200)
        # The dashboard's page holds no data and needs no token; its data does.
        self.assertEqual(request(self.port, "GET", "/dashboard")[0], 200)
        self.assert_refused(request(self.port, "GET", "/dashboard/stats"), CHALLENGE, "missing")
        self.assertEqual(request(self.port, "GET", "/dashboard/stats", headers=bearer(FIRST))[0], 200)

    def test_z_sighup_reloads(self):
        """Runs last (unittest orders by name): it replaces the tokens."""
        self.write_tokens(f"{SECOND}\n{THIRD}\n")
        os.kill(self.frontend.pid, signal.SIGHUP)
        harness.wait_until("the new token to be accepted",
                           lambda: request(self.port, "GET", "/tasks?limit=1", headers=bearer(THIRD))[0] == 200,
                           timeout=10)
        self.assert_refused(request(self.port, "GET", "/tasks?limit=1", headers=bearer(FIRST)), INVALID, "unknown")
        self.assertEqual(request(self.port, "GET", "/tasks?limit=1", headers=bearer(SECOND))[0], 200)
        # A file that cannot be used keeps the tokens in force (and says so in the log).
        for bad in ("\n# nothing\n", f"{THIRD}\nnot a token\n"):
            self.write_tokens(bad)
            os.kill(self.frontend.pid, signal.SIGHUP)
            harness.wait_until("the warning", lambda: "event=tokens_reload_failed" in self.frontend.tail(5), 10)
            self.assertEqual(request(self.port, "GET", "/tasks?limit=1", headers=bearer(THIRD))[0], 200)
            self.assert_refused(request(self.port, "GET", "/tasks?limit=1", headers=bearer(FIRST)), INVALID, "unknown")
        os.remove(self.tokens)
        os.kill(self.frontend.pid, signal.SIGHUP)
        harness.wait_until("the warning", lambda: "No such file" in self.frontend.tail(5), 10)
        self.assertEqual(request(self.port, "GET", "/tasks?limit=1", headers=bearer(THIRD))[0], 200)
        self.assertTrue(self.frontend.alive())


class UnreadableTokensFile(unittest.TestCase):
    def test_start_fails_naming_the_variable(self):
        missing = os.path.join(tempfile.gettempdir(), "taskbus-no-such-tokens-file")
        for path, why in ((missing, "No such file"),):
            env = dict(os.environ, API_TOKENS_FILE=path, PORT=str(harness.free_port()))
            p = subprocess.run([os.path.join(BUILD, "frontend")], env=env, capture_output=True, timeout=30)
            self.assertEqual(p.returncode, 1)
            self.assertIn(b"API_TOKENS_FILE", p.stderr)
            self.assertIn(why.encode(), p.stderr)
        with tempfile.NamedTemporaryFile("w", suffix=".tokens") as f:
            f.write(f"{FIRST}\nsecret with spaces\n")
            f.flush()
            env = dict(os.environ, API_TOKENS_FILE=f.name, PORT=str(harness.free_port()))
            p = subprocess.run([os.path.join(BUILD, "frontend")], env=env, capture_output=True, timeout=30)
            self.assertEqual(p.returncode, 1)
            self.assertIn(b"API_TOKENS_FILE", p.stderr)
            self.assertIn(b"line 2", p.stderr)
            self.assertNotIn(b"secret", p.stderr)
            self.assertNotIn(FIRST.encode(), p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
