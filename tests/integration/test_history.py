"""GET /task/{id}: a task's history from the event log, through the events service."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402

harness.build_dir_from_argv()


class History(harness.StackTest):
    def test_full_history_of_a_completed_task(self):
        status, reply = harness.http(self.port, "POST", "/task", '{"a1": "tas", "a2": "kbus"}')
        self.assertEqual((status, reply["result"]), (200, "taskbus"))
        status, hist = harness.http(self.port, "GET", f"/task/{reply['id']}")
        self.assertEqual(status, 200, hist)
        self.assertEqual(hist["id"], reply["id"])
        records = hist["history"]
        self.assertTrue(harness.check_history(records, "completed").startswith("string-"))
        self.assertEqual([r["seq"] for r in records], list(range(len(records))))
        self.assertTrue(all(r["task"] == reply["id"] for r in records))
        received, completed = records[0], records[-1]
        self.assertEqual(received["request"], '{"a1": "tas", "a2": "kbus"}')
        self.assertEqual((received["taskType"], received["subtask"]), ("STRING", "ADD"))
        self.assertTrue(received["frontend"].startswith("frontend-"))
        self.assertEqual(received["service"], "string")
        self.assertEqual(completed["result"], "taskbus")
        self.assertIn("$date", completed["at"])

    def test_history_of_a_failed_task(self):
        status, reply = harness.http(self.port, "POST", "/task", '{"d1": 1, "d2": 0}')
        self.assertEqual(status, 422)
        status, hist = harness.http(self.port, "GET", f"/task/{reply['id']}")
        self.assertEqual(status, 200)
        self.assertEqual(hist["history"][-1]["type"], "failed")
        self.assertEqual(hist["history"][-1]["error"], "division by zero")

    def test_unknown_task(self):
        status, reply = harness.http(self.port, "GET", "/task/0000000000000000-000000000000")
        self.assertEqual(status, 404, reply)
        self.assertEqual(reply["error"], "no task with this id is in the log")


if __name__ == "__main__":
    unittest.main(verbosity=2)
