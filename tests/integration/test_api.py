"""The seed API, end to end through real Redis, FerretDB and the three daemons."""
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402

harness.build_dir_from_argv()


class SeedApi(harness.StackTest):
    def post(self, body):
        return harness.http(self.port, "POST", "/task", body)

    def test_seed_examples(self):
        cases = [('{"a1": 5, "a2": 10}', "15"), ('{"s1": 4, "s2": 7}', "-3"), ('{"m1": 4, "m2": 7}', "28"),
                 ('{"d1": 4, "d2": 7}', "0.5714285714285714"), ('{"a1": "a", "a2": "b"}', "ab")]
        for body, want in cases:
            with self.subTest(body=body):
                status, reply = self.post(body)
                self.assertEqual(status, 200, reply)
                self.assertEqual(reply["message"], "OK")
                self.assertEqual(reply["result"], want)
                self.assertRegex(reply["id"], r"^[0-9a-f]{32}$")

    def test_operand_order_is_key_order(self):
        self.assertEqual(self.post('{"s2": 10, "s1": 4}')[1]["result"], "6")
        self.assertEqual(self.post('{"a2": "x", "a1": "y"}')[1]["result"], "xy")

    def test_task_ids_are_unguessable(self):
        """Ids are the creation time (12 hex digits of ms) and 80 random bits: the random parts of consecutive ids
        share no structure (a counter or a common prefix would show here), and a neighbour of a real id names no
        task."""
        before = int(time.time() * 1000)
        ids = [self.post('{"a1": 1, "a2": 2}')[1]["id"] for _ in range(50)]
        after = int(time.time() * 1000)
        self.assertEqual(len(set(ids)), 50)
        for a, b in zip(ids, ids[1:]):
            self.assertLessEqual(a[:12], b[:12], "ids sort by creation time")
            self.assertLess(len(os.path.commonprefix([a[12:], b[12:]])), 8, (a, b))
            self.assertGreater(sum(x != y for x, y in zip(a[12:], b[12:])), 10, (a, b))
        self.assertTrue(before <= int(ids[0][:12], 16) <= int(ids[-1][:12], 16) <= after, (before, ids, after))
        neighbour = format(int(ids[-1], 16) + 1, "032x")
        self.assertEqual(harness.http(self.port, "GET", f"/task/{neighbour}")[0], 404)

    def test_random_task_ids(self):
        """TASK_IDS=random: 128 random bits, nothing of the time; any other value stops the frontend at start."""
        proc = self.stack.start_frontend(TASK_IDS="random")
        port = self.stack.frontend_ports[-1]

        def cleanup():
            if proc.alive():
                self.stack.stop_daemon(proc)
            if port in self.stack.frontend_ports:
                self.stack.frontend_ports.remove(port)
        self.addCleanup(cleanup)
        harness.wait_until("the TASK_IDS=random frontend", lambda: harness.http(port, "GET", "/")[0] == 200)
        now = format(int(time.time() * 1000), "012x")
        ids = [harness.http(port, "POST", "/task", '{"a1": 1, "a2": 2}')[1]["id"] for _ in range(20)]
        self.assertTrue(all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids), ids)
        self.assertLess(sum(i[:8] == now[:8] for i in ids), 2, (now, ids))
        for a, b in zip(ids, ids[1:]):
            self.assertLess(len(os.path.commonprefix([a, b])), 8, (a, b))
        self.assertEqual(harness.http(port, "GET", f"/task/{ids[0]}")[1]["status"], "completed")
        for value in ("Random", "time ", "ordered"):
            env = dict(os.environ, TASK_IDS=value, PORT=str(harness.free_port()))
            p = subprocess.run([os.path.join(self.stack.build, "frontend")], env=env, capture_output=True, timeout=30)
            self.assertEqual(p.returncode, 1, value)
            self.assertIn(b"TASK_IDS", p.stderr)

    def test_identical_requests_are_separate_tasks(self):
        replies = [self.post('{"a1": 1, "a2": 1}')[1] for _ in range(3)]
        self.assertEqual([r["result"] for r in replies], ["2", "2", "2"])
        self.assertEqual(len({r["id"] for r in replies}), 3)

    def test_health(self):
        status, reply = harness.http(self.port, "GET", "/")
        self.assertEqual((status, reply), (200, {"message": "OK"}))

    def test_every_answer_is_logged_before_it_leaves(self):
        status, reply = self.post('{"m1": 6, "m2": 7}')
        self.assertEqual(status, 200)
        records = self.stack.history(reply["id"])
        backend = harness.check_history(records, "completed")
        self.assertTrue(backend.startswith("arithmetic-"))
        self.assertEqual(records[0]["request"], '{"m1": 6, "m2": 7}')
        self.assertEqual(records[0]["taskType"], "NUMBER")
        self.assertEqual(records[0]["subtask"], "MULTIPLY")
        self.assertEqual(records[0]["service"], "arithmetic")
        self.assertEqual(records[-1]["result"], "42")


if __name__ == "__main__":
    unittest.main(verbosity=2)
