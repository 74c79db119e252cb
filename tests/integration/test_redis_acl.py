"""Redis authentication and least privilege, against a real redis-server started with the ACL of
scripts/redis_acl.py (`default` off, one user per role): every refusal the ACL promises, a daemon with a wrong or no
password (refused, logged clearly without the secret, GET / answers 503), `events --rebuild` with and without its
credentials, the full pipeline with every daemon authenticated; and MONGO_URI / MONGO_URI_FILE secrets never printed
(an invalid URI's error, libmongoc's log lines)."""
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402

BUILD = harness.build_dir_from_argv()
MONGO_PASSWORD = "Mongo-S3cret-do-not-print"


class RedisAcl(harness.StackTest):
    STACK = {"auth": True}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ids = {"frontend": cls.stack.replica_id(cls.stack.daemons[-1])}
        events = next(d for d in cls.stack.daemons if d.name.startswith("events"))
        cls.ids["events"] = cls.stack.replica_id(events)
        backend = next(d for d in cls.stack.daemons if d.name.startswith("backend-arithmetic"))
        cls.ids["backend"] = cls.stack.replica_id(backend)

    def refused(self, user, *command, reason="NOPERM"):
        """Run 'command' as 'user' and check that Redis refuses it with 'reason'."""
        with self.stack.redis(user) as r, self.assertRaises(RuntimeError, msg=f"{user}: {command}") as cm:
            r.command(*command)
        self.assertTrue(str(cm.exception).startswith(reason), f"{user}: {command}: {cm.exception}")

    def channel(self, role):
        return "taskbus:" + self.ids[role]

    # ---- the server refuses

    def test_no_password_is_refused(self):
        with harness.Redis(self.stack.redis_port) as r:
            for command in (("PING",), ("GET", "taskbus:outcome:x"), ("SUBSCRIBE", self.channel("frontend"))):
                with self.assertRaises(RuntimeError) as cm:
                    r.command(*command)
                self.assertTrue(str(cm.exception).startswith("NOAUTH"), cm.exception)

    def test_wrong_password_and_default_user_are_refused(self):
        right = self.stack.credentials["frontend"][1]
        for user, password in (("frontend", "wrong"), ("frontend", self.stack.credentials["events"][1]),
                               (None, right), ("default", right)):
            with self.subTest(user=user), self.assertRaises(RuntimeError) as cm:
                harness.Redis(self.stack.redis_port, username=user, password=password)
            self.assertTrue(str(cm.exception).startswith("WRONGPASS"), cm.exception)

    def test_backend_publishes_only_to_events(self):
        self.refused("backend", "PUBLISH", self.channel("frontend"), "forged answer")
        self.refused("backend", "PUBLISH", "taskbus:frontend-anything", "x")
        self.refused("backend", "PUBLISH", self.channel("backend"), "x")
        with self.stack.redis("backend") as r:
            self.assertEqual(r.command("PUBLISH", "taskbus:events-nobody", "x"), 0)

    def test_frontend_only_reads_the_projection(self):
        self.refused("frontend", "HSET", "taskbus:task:x", "status", "completed")
        self.refused("frontend", "DEL", "taskbus:task:x")
        self.refused("frontend", "ZADD", "taskbus:index:completed:arithmetic", "0", "x")
        self.refused("frontend", "SADD", "taskbus:index:services", "x")
        self.refused("frontend", "EVAL", "return redis.call('HSET', 'taskbus:task:x', 'a', 'b')", "0")
        self.refused("frontend", "EVAL_RO", "return redis.call('HSET', 'taskbus:task:x', 'a', 'b')", "0",
                     reason="ERR")
        self.refused("frontend", "SET", "taskbus:outcome:x", "forged")
        self.refused("frontend", "ZADD", "taskbus:replicas:events", "99999999999999", "events-fake")
        with self.stack.redis("frontend") as r:
            self.assertEqual(r.command("HGETALL", "taskbus:task:x"), [])
            self.assertEqual(r.command("EVAL_RO", "return redis.call('HMGET', 'taskbus:task:x', 'status')", "0"),
                             [None])

    def test_frontend_reads_every_snapshot_and_writes_only_its_own(self):
        """The dashboard (GET /dashboard/stats) reads every replica's metrics snapshot; nothing else opens up."""
        events_key = "taskbus:stats:" + self.ids["events"]

        def exists():
            with self.stack.redis() as r:
                return r.command("EXISTS", events_key)
        harness.wait_until("the events replica's snapshot", exists)
        with self.stack.redis("frontend") as r:
            live = [m.decode() for m in r.command("ZRANGEBYSCORE", "taskbus:stats", "0", "+inf")]
            self.assertIn(self.ids["events"], live)
            self.assertIn(self.ids["backend"], live)
            self.assertIsNotNone(r.command("MGET", events_key)[0])
        self.refused("frontend", "SET", events_key, "{}")
        self.refused("frontend", "MGET", "taskbus:outcome:x")
        self.refused("frontend", "GET", events_key)
        status, stats = harness.http(self.port, "GET", "/dashboard/stats")
        self.assertEqual(status, 200, stats)
        self.assertTrue({self.ids["events"], self.ids["frontend"]} <= {r["replica"] for r in stats["replicas"]}, stats)

    def test_subscribe_only_to_own_role(self):
        self.refused("frontend", "SUBSCRIBE", self.channel("events"))
        self.refused("frontend", "SUBSCRIBE", self.channel("backend"))
        self.refused("backend", "SUBSCRIBE", self.channel("frontend"))
        self.refused("backend", "SUBSCRIBE", self.channel("events"))
        self.refused("events", "SUBSCRIBE", self.channel("frontend"))
        self.refused("events", "PSUBSCRIBE", "taskbus:*")

    def test_roles_keep_to_their_keys(self):
        self.refused("backend", "HGETALL", "taskbus:task:x")
        self.refused("backend", "SET", "taskbus:idem:k", "v")
        self.refused("backend", "GET", "taskbus:outcome:x")
        self.refused("backend", "ZADD", "taskbus:replicas:events", "1", "events-fake")
        self.refused("events", "SET", "taskbus:idem:k", "v")
        self.refused("events", "ZADD", "taskbus:replicas:frontend", "1", "frontend-fake")
        for user in ("frontend", "events", "backend"):
            self.refused(user, "KEYS", "*")
            self.refused(user, "FLUSHALL")
            self.refused(user, "CONFIG", "GET", "*")

    # ---- the pipeline, authenticated

    def test_pipeline_answers(self):
        status, reply = harness.http(self.port, "POST", "/task", '{"a1": 5, "a2": 10}')
        self.assertEqual((status, reply.get("result")), (200, "15"), reply)
        task = reply["id"]
        status, view = harness.http(self.port, "GET", f"/task/{task}")
        self.assertEqual((status, view["status"], view["result"]), (200, "completed", "15"), view)
        status, listing = harness.http(self.port, "GET", "/tasks?status=completed&limit=100")
        self.assertEqual(status, 200, listing)
        self.assertIn(task, [t["id"] for t in listing["tasks"]])
        # Redis lost its script cache (as after a restart): the frontend's list falls back from EVALSHA_RO to
        # EVAL_RO, events' apply from EVALSHA to EVAL, each within its user's rights.
        with self.stack.redis() as r:
            r.command("SCRIPT", "FLUSH")
        status, reply = harness.http(self.port, "POST", "/task", '{"a1": "a", "a2": "b"}')
        self.assertEqual((status, reply.get("result")), (200, "ab"), reply)
        status, listing = harness.http(self.port, "GET", "/tasks?limit=100")
        self.assertEqual(status, 200, listing)
        self.assertIn(reply["id"], [t["id"] for t in listing["tasks"]])

    def test_rebuild_authenticates(self):
        env = self.stack.daemon_env(self.stack.credentials_env("events"))
        p = subprocess.run([os.path.join(BUILD, "events"), "--rebuild"], env=env, capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("rebuilt records=", p.stdout)
        wrong = os.path.join(self.stack.dir, "wrong.password")
        with open(wrong, "w") as f:
            f.write("not-the-password\n")
        env["REDIS_PASSWORD_FILE"] = wrong
        p = subprocess.run([os.path.join(BUILD, "events"), "--rebuild"], env=env, capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("refused AUTH as user 'events'", p.stderr)
        self.assertIn("WRONGPASS", p.stderr)
        self.assertNotIn("not-the-password", p.stderr + p.stdout)

    # ---- a daemon the server refuses

    def start_refused_frontend(self, **env):
        proc = self.stack.start_frontend(**env)
        port = self.stack.frontend_ports.pop()   # not part of the stack's ready set
        harness.wait_until("its first refusal in the log", lambda: "event=bus_auth_failed" in proc.tail(200), 20)
        status, reply = harness.http(port, "GET", "/", timeout=5)
        self.assertEqual(status, 503, reply)
        self.assertIn("Redis", reply["error"])
        status, reply = harness.http(port, "POST", "/task", '{"a1": 1, "a2": 2}', timeout=10)
        self.assertEqual(status, 503, reply)
        time.sleep(0.5)   # a few retries, with backoff
        log = proc.tail(400)
        self.stack.stop_daemon(proc)
        return log

    def test_daemon_with_wrong_password(self):
        wrong = os.path.join(self.stack.dir, "frontend-wrong.password")
        with open(wrong, "w") as f:
            f.write("Wrong-Password-Never-Logged\n")
        log = self.start_refused_frontend(REDIS_PASSWORD_FILE=wrong)
        self.assertIn('user="frontend" password=set error="WRONGPASS', log)
        self.assertNotIn("Wrong-Password-Never-Logged", log)
        self.assertNotIn(self.stack.credentials["frontend"][1], log)
        # Retried with backoff, not in a tight loop: at most a few refusals per connection and second.
        self.assertLess(log.count("event=bus_auth_failed"), 40, log)

    def test_daemon_without_password(self):
        log = self.start_refused_frontend(REDIS_USERNAME="", REDIS_PASSWORD_FILE="")
        self.assertIn('user="default" password=none error="NOAUTH', log)

    def test_password_and_password_file_together_are_refused(self):
        env = self.stack.daemon_env(dict(self.stack.credentials_env("backend"), REDIS_PASSWORD="x"))
        p = subprocess.run([os.path.join(BUILD, "backend")], env=env, capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("set REDIS_PASSWORD or REDIS_PASSWORD_FILE, not both", p.stderr)
        env = self.stack.daemon_env(dict(REDIS_PASSWORD_FILE=os.path.join(self.stack.dir, "missing")))
        p = subprocess.run([os.path.join(BUILD, "backend")], env=env, capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("REDIS_PASSWORD_FILE=", p.stderr)
        self.assertIn("cannot be read", p.stderr)


class MongoUriSecret(unittest.TestCase):
    """events never prints the password of its MongoDB URI. No servers are needed: the URIs point at closed ports."""

    def run_events(self, env, args=(), stop_after=None):
        full = os.environ.copy()
        full.pop("MONGO_URI", None)
        full.update({"REDIS_PORT": str(harness.free_port()), "LOG_LEVEL": "debug", "SHUTDOWN_GRACE_MS": "200",
                     "TASK_MAPS": os.path.join(harness.TOP, "task-maps.json"),
                     "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0"})
        full.update(env)
        p = subprocess.Popen([os.path.join(BUILD, "events"), *args], env=full, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        try:
            out, _ = p.communicate(timeout=stop_after or 60)
        except subprocess.TimeoutExpired:
            p.terminate()
            out, _ = p.communicate(timeout=30)
        return p.returncode, out

    def test_invalid_uri_error_hides_the_password(self):
        uri = f"mongodb://taskbus:{MONGO_PASSWORD}@127.0.0.1:1/taskbus?connectTimeoutMS=notanumber"
        rc, out = self.run_events({"MONGO_URI": uri})
        self.assertEqual(rc, 1, out)
        self.assertIn("invalid MONGO_URI mongodb://taskbus:***@127.0.0.1:1/taskbus", out)
        self.assertNotIn(MONGO_PASSWORD, out)
        rc, out = self.run_events({"MONGO_URI": uri}, ("--rebuild",))   # stops at Redis (a closed port) first
        self.assertEqual(rc, 1, out)
        self.assertNotIn(MONGO_PASSWORD, out)

    def test_uri_file_never_printed(self):
        path = os.path.join(self.tmp, "mongo-uri")
        with open(path, "w") as f:
            # An unknown option (libmongoc warns about it) and a closed port (connection errors are logged).
            f.write(f"mongodb://taskbus:{MONGO_PASSWORD}@127.0.0.1:1/taskbus?unknownOption=1&"
                    "serverSelectionTimeoutMS=300\n")
        rc, out = self.run_events({"MONGO_URI_FILE": path}, stop_after=3)
        self.assertEqual(rc, 0, out)
        self.assertIn("event=mongoc", out)   # libmongoc's own lines went through the scrubbing log handler
        self.assertNotIn(MONGO_PASSWORD, out)
        rc, out = self.run_events({"MONGO_URI_FILE": path}, ("--rebuild",))
        self.assertEqual(rc, 1, out)
        self.assertNotIn(MONGO_PASSWORD, out)
        rc, out = self.run_events({"MONGO_URI_FILE": path, "MONGO_URI": "mongodb://127.0.0.1:1/x"})
        self.assertEqual(rc, 1, out)
        self.assertIn("set MONGO_URI or MONGO_URI_FILE, not both", out)
        rc, out = self.run_events({"MONGO_URI": f"mongodb://u:{MONGO_PASSWORD}@h/x"}, ("--help",))
        self.assertEqual(rc, 0, out)
        self.assertIn("MONGO_URI_FILE", out)
        self.assertNotIn(MONGO_PASSWORD, out)

    def setUp(self):
        import tempfile
        self.tmp = tempfile.mkdtemp(prefix="taskbus-mongo-secret-")

    def tearDown(self):
        import shutil
        shutil.rmtree(self.tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
