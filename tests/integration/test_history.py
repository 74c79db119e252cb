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

    def test_task_commit_reads_as_two_records_everywhere(self):
        """A task answered within LOG_MERGE_MS is one document in the log (a task commit, without the fields that
        follow from others); the projection, the log's reader in events (the projection deleted), and the tests'
        own reading of the store all give the same two records."""
        status, reply = harness.http(self.port, "POST", "/task", '{"m1": 6, "m2": 7}')
        self.assertEqual((status, reply.get("result")), (200, "42"), reply)
        tid = reply["id"]
        docs = list(self.stack.mongo().events.find({"task": tid}))
        self.assertEqual(len(docs), 1, docs)
        self.assertIn(harness.COMMIT_FIELD, docs[0])
        self.assertEqual([k for k in ("seq", "status", "attempt") if k in docs[0]], [], docs[0])
        status, projected = harness.http(self.port, "GET", f"/task/{tid}")
        self.assertEqual(status, 200, projected)
        with self.stack.redis() as r:
            self.assertEqual(r.command("DEL", "taskbus:task:" + tid), 1)
        status, from_log = harness.http(self.port, "GET", f"/task/{tid}")
        self.assertEqual(status, 200, from_log)
        self.assertEqual(from_log["history"], projected["history"])
        fields = ("_id", "task", "seq", "type", "events", "frontend", "request", "taskType", "subtask", "service",
                  "backend", "attempt", "status", "result")
        want = [{k: r[k] for k in fields if k in r} for r in self.stack.history(tid)]
        got = [{k: r[k] for k in fields if k in r} for r in from_log["history"]]
        self.assertEqual(got, want)
        self.assertEqual([(r["_id"], r["type"], r.get("attempt"), r.get("status")) for r in got],
                         [(f"{tid}:0", "received", 1, None), (f"{tid}:outcome", "completed", None, 200)])
        self.assertEqual([list(r) for r in from_log["history"]], [list(r) for r in self.stack.history(tid)],
                         "the fields' order differs")

    def test_unknown_task(self):
        status, reply = harness.http(self.port, "GET", "/task/0000000000000000-000000000000")
        self.assertEqual(status, 404, reply)
        self.assertEqual(reply["error"], "no task with this id is in the log")


if __name__ == "__main__":
    unittest.main(verbosity=2)
