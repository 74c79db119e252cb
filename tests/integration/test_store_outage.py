"""The store goes away and comes back: no answer leaves unlogged; queued records are written once it is back."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402

harness.build_dir_from_argv()


class StoreOutage(harness.StackTest):
    STACK = dict(env={"TASK_TIMEOUT_MS": "1500"})

    def test_no_answer_without_its_records(self):
        ferret = next(s for s in self.stack.servers if s.name == "ferretdb")
        argv = ferret.p.args
        self.stack.servers.remove(ferret)
        ferret.stop()

        # The backend computes, but events cannot store the outcome: the client gets a 504, never an unlogged 200.
        status, reply = harness.http(self.port, "POST", "/task", '{"a1": 20, "a2": 22}')
        self.assertEqual(status, 504, reply)
        lost_id = reply["id"]

        self.stack.servers.append(harness.Proc("ferretdb", argv, os.environ.copy(),
                                               os.path.join(self.stack.dir, "ferretdb2.log")))
        harness.wait_until("FerretDB back", lambda: self.stack.mongo().command("ping"))
        status, reply = harness.http(self.port, "POST", "/task", '{"a1": 1, "a2": 2}')
        self.assertEqual((status, reply.get("result")), (200, "3"), reply)
        # The records queued during the outage were written once the store came back, in order.
        types = [r["type"] for r in self.stack.history(lost_id)]
        self.assertEqual(types[0], "received")
        self.assertIn(types[-1], ("completed", "failed"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
