"""GET /metrics on every daemon: valid Prometheus text (checked by promtool from Debian's prometheus package), the
counts of what was done, the snapshot each replica shares through Redis, and METRICS=off."""
import json
import os
import re
import shutil
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402

harness.build_dir_from_argv()
PROMTOOL = shutil.which("promtool")


def scrape(port, path="/metrics"):
    """(status, content type, text) of a GET."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def value(text, series):
    """The value of the series written exactly as 'series' (name{labels}), or None."""
    m = re.search("^" + re.escape(series) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def promtool_check(test, text, who):
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    test.assertEqual(p.returncode, 0, f"promtool check metrics on {who}:\n{p.stdout}{p.stderr}")
    test.assertEqual(p.stdout + p.stderr, "", f"promtool's lint on {who}")


class Metrics(harness.StackTest):
    @classmethod
    def setUpClass(cls):
        if not PROMTOOL:
            raise RuntimeError("promtool not found: install Debian's prometheus package (make test installs it)")
        super().setUpClass()

    def daemons(self, kind):
        return [d for d in self.stack.daemons if d.name.startswith(kind)]

    def snapshots(self):
        """{replica: snapshot} of the live snapshots in Redis."""
        now_ms = int(time.time() * 1000)
        with self.stack.redis() as r:
            listed = [x.decode() if isinstance(x, bytes) else x
                      for x in r.command("ZRANGEBYSCORE", "taskbus:stats", now_ms, "+inf")]
            return {replica: json.loads(r.command("GET", f"taskbus:stats:{replica}") or "null") for replica in listed}

    def wait_for_tick(self, after_ms):
        """Until every daemon has run its once-a-second tick (gauges sampled, snapshot written) after 'after_ms'."""
        harness.wait_until("every daemon's tick", lambda: len([s for s in self.snapshots().values()
                                                                if s and s["at"] > after_ms])
                           == len(self.stack.daemons), 10)

    def run_tasks(self):
        bodies = ['{"a1":5,"a2":10}'] * 5 + ['{"d1":1,"d2":0}'] * 2 + ['{"c1":"x","c2":"y"}'] * 3
        for body in bodies:
            status, reply = harness.http(self.port, "POST", "/task", body)
            self.assertIn(status, (200, 422), reply)
        self.assertEqual(harness.http(self.port, "POST", "/task", "not json")[0], 400)
        self.assertEqual(harness.http(self.port, "GET", "/nowhere")[0], 404)

    def test_every_daemon_serves_valid_metrics_that_count_what_happened(self):
        self.run_tasks()
        self.wait_for_tick(int(time.time() * 1000))  # gauges and the bus's totals are sampled once a second
        texts = {}
        for d in self.stack.daemons:
            status, ctype, text = scrape(d.metrics_port)
            self.assertEqual(status, 200, f"{d.name}: {text[:200]}")
            self.assertTrue(ctype.startswith("text/plain; version=0.0.4"), ctype)
            promtool_check(self, text, d.name)
            for name in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
                         "process_start_time_seconds", "taskbus_bus_window_used", "taskbus_bus_queued"):
                self.assertIsNotNone(value(text, name), f"{d.name} lacks {name}")
            self.assertEqual(value(text, "taskbus_bus_up"), 1, d.name)
            self.assertGreater(value(text, "process_resident_memory_bytes"), 1e6)
            self.assertGreater(value(text, "process_open_fds"), 3)
            texts[d.name] = text
        fe = texts[self.daemons("frontend")[0].name]
        self.assertEqual(value(fe, 'taskbus_http_requests_total{route="/task",status="200"}'), 8)
        self.assertEqual(value(fe, 'taskbus_http_requests_total{route="/task",status="422"}'), 2)
        self.assertEqual(value(fe, 'taskbus_http_requests_total{route="/task",status="400"}'), 1)
        self.assertEqual(value(fe, 'taskbus_http_requests_total{route="other",status="404"}'), 1)
        self.assertEqual(value(fe, 'taskbus_stage_seconds_count{stage="end_to_end"}'), 8)
        self.assertGreaterEqual(value(fe, 'taskbus_stage_seconds_count{stage="frontend_to_events"}'), 11 - 1)
        self.assertEqual(value(fe, 'taskbus_replicas{service="events"}'), 1)
        self.assertEqual(value(fe, "taskbus_http_requests_in_flight"), 0)

        ev = texts[self.daemons("events")[0].name]
        self.assertEqual(value(ev, 'taskbus_tasks_total{type="NUMBER",service="arithmetic",outcome="completed"}'), 5)
        self.assertEqual(value(ev, 'taskbus_tasks_total{type="NUMBER",service="arithmetic",outcome="failed"}'), 2)
        self.assertEqual(value(ev, 'taskbus_tasks_total{type="STRING",service="string",outcome="completed"}'), 3)
        for stage in ("queue", "backend", "events"):
            self.assertEqual(value(ev, f'taskbus_stage_seconds_count{{stage="{stage}"}}'), 10, stage)
        # One document a task (a task commit), or up to three when its arrival was written alone (it waited for a
        # replica, whose dispatch is a record of its own, or ran past LOG_MERGE_MS).
        records = value(ev, 'taskbus_stage_seconds_count{stage="store_commit"}')
        self.assertTrue(10 <= records <= 30, records)
        self.assertEqual(value(ev, 'taskbus_task_attempts_bucket{le="1"}'), 10)
        self.assertEqual(value(ev, "taskbus_store_batch_records_sum"), records)
        self.assertGreaterEqual(value(ev, "taskbus_store_insert_seconds_count"), 1)
        self.assertEqual(value(ev, "taskbus_store_backlog"), 0)
        self.assertEqual(value(ev, "taskbus_tasks_in_flight"), 0)
        self.assertEqual(value(ev, 'taskbus_replicas{service="arithmetic"}'), 1)
        self.assertEqual(value(ev, 'taskbus_replicas{service="string"}'), 1)
        self.assertEqual(value(ev, "taskbus_redispatches_total"), 0)

        ar = texts[next(d.name for d in self.daemons("backend") if "arithmetic" in d.name)]
        self.assertEqual(value(ar, 'taskbus_backend_tasks_total{service="arithmetic",outcome="completed"}'), 5)
        self.assertEqual(value(ar, 'taskbus_backend_tasks_total{service="arithmetic",outcome="failed"}'), 2)
        self.assertEqual(value(ar, 'taskbus_backend_compute_seconds_count{service="arithmetic"}'), 7)

    def test_the_metrics_port_answers_only_get_metrics(self):
        port = self.daemons("events")[0].metrics_port
        status, ctype, text = scrape(port, "/other")
        self.assertEqual((status, ctype), (404, "application/json"), text)
        req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", data=b"x", method="POST")
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        self.assertEqual((e.exception.code, e.exception.headers.get("Allow")), (405, "GET"))

    def test_every_replica_shares_a_snapshot_through_redis(self):
        self.wait_for_tick(int(time.time() * 1000))
        now_ms = int(time.time() * 1000)
        snaps = self.snapshots()
        self.assertEqual(len(snaps), len(self.stack.daemons), list(snaps))
        for replica, snap in snaps.items():
            self.assertEqual(snap["replica"], replica)
            self.assertIn(snap["daemon"], ("frontend", "events", "backend"))
            names = {m[0] for m in snap["metrics"]}
            self.assertIn("process_cpu_seconds_total", names)
            self.assertLessEqual(now_ms - snap["at"], 2500)


class MetricsOff(harness.StackTest):
    STACK = dict(env={"METRICS": "off"})

    def test_no_metrics_and_no_snapshot(self):
        status, reply = harness.http(self.port, "POST", "/task", '{"a1":5,"a2":10}')
        self.assertEqual((status, reply["result"]), (200, "15"))
        status, _, text = scrape(self.port)
        self.assertEqual(status, 404, text)
        self.assertIn("METRICS=off", text)
        port = self.stack.daemons[0].metrics_port  # the events replica: no listener with METRICS=off
        with self.assertRaises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5)
        time.sleep(1.5)  # a tick would have written a snapshot by now: that none appears is the check
        with self.stack.redis() as r:
            self.assertEqual(r.command("ZCARD", "taskbus:stats"), 0)

    def test_an_invalid_value_stops_the_daemon_naming_it(self):
        env = self.stack.daemon_env({"METRICS": "maybe"})
        p = subprocess.run([os.path.join(self.stack.build, "backend")], env=env, capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("METRICS=maybe is not on or off", p.stderr)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]], verbosity=2)
