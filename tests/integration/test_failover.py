"""Failover: a backend replica that freezes or dies must not fail tasks another replica can run.

Each test starts its own stack (1 frontend, 1 events, 2 arithmetic backends, 1 string backend; heartbeat 200 ms,
replicas dead after 1 s without one, 8 s request deadline), freezes (SIGSTOP) or kills (SIGKILL) real backend
processes at a chosen moment, and then checks what every client got and what the event log holds.
"""
import os
import sys
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402

harness.build_dir_from_argv()

N = 40                      # concurrent requests in each failure window
FROZEN_S = 1.5              # how long a backend stays frozen before it is killed or thawed
OUTCOMES = ("completed", "failed")


def body(i):
    return '{"a1": %d, "a2": 1000}' % i


def expected(i):
    return str(i + 1000)


class FailoverTest(unittest.TestCase):
    """One fresh stack per test: every test breaks backends on purpose."""

    def setUp(self):
        self.stack = harness.Stack(harness.BUILD, backends={"arithmetic": 2, "string": 1},
                                   env={"HEARTBEAT_MS": "200", "REPLICA_TTL_MS": "1000",
                                        "TASK_TIMEOUT_MS": "8000"}).start()
        self.addCleanup(self.stop_stack)          # runs even when the rest of setUp fails
        self.port = self.stack.frontend_ports[0]
        self.events_proc = next(d for d in self.stack.daemons if d.name.startswith("events"))
        self.arith = [d for d in self.stack.daemons if d.name.startswith("backend-arithmetic")]
        self.arith_ids = [self.stack.replica_id(d) for d in self.arith]
        self.pool = ThreadPoolExecutor(max_workers=N)
        self.addCleanup(self.pool.shutdown, wait=True)
        self.warm_ids = self.warm_up()

    def warm_up(self, timeout=20):
        """Readiness: Stack.start() waits until both backends are in the Redis registry, but events reads the registry
        only on its next refresh and would meanwhile send every task to the one it knows. So send tasks (watchdog)
        until each arithmetic replica has completed one. Returns their task ids."""
        ids, seen = [], set()
        deadline = time.monotonic() + timeout
        while set(self.arith_ids) - seen:
            self.assertLess(time.monotonic(), deadline, f"warm-up: only {seen} of {self.arith_ids} ran a task")
            status, reply = harness.http(self.port, "POST", "/task", body(-1), timeout=30)
            self.assertEqual(status, 200, reply)
            ids.append(reply["id"])
            seen.add(self.stack.history(reply["id"])[-1].get("backend"))
        return ids

    def stop_stack(self):
        harness.thaw_and_stop(self.stack)

    # ---- helpers
    def post_concurrently(self, indexes):
        return harness.post_concurrently(self.pool, self.port, body, indexes, timeout=30)

    def wait_received(self, n, since_ids=()):
        """Wait (watchdog) until the log holds n "received" records besides those of 'since_ids': the tasks are in
        events' hands and dispatched."""
        harness.wait_until(f"{n} tasks received by events", lambda: self.stack.count_received(
            {"task": {"$nin": list(since_ids)}}) >= n, timeout=15)

    @staticmethod
    def collect(futures):
        return [f.result(timeout=40) for f in futures]

    def logged(self, task_ids):
        return harness.records_by_task(self.stack, task_ids)

    def assert_all_ok(self, answers, why):
        return harness.check_all_ok(self, answers, expected, why)

    def assert_one_outcome(self, by_task, want_type):
        """Exactly one outcome record per task, of type 'want_type'."""
        bad = {}
        for task_id, recs in by_task.items():
            outcomes = [r["type"] for r in recs if r["type"] in OUTCOMES]
            if outcomes != [want_type]:
                bad[task_id] = [(r["type"], r.get("backend"), r.get("attempt")) for r in recs]
        if bad:
            self.fail(f"{len(bad)} tasks do not have exactly one '{want_type}' record: {list(bad.items())[:3]}")

    @staticmethod
    def first_backend(recs):
        """The replica of the task's first dispatch (attempt 1)."""
        return next((r.get("backend") for r in recs if r.get("backend") and r.get("attempt", 1) == 1), None)

    # ---- tests
    def test_a_killed_replica_tasks_are_redelivered(self):
        """Promise: tasks sent to a replica that froze and then died are run again on the other live replica; every
        client gets 200 with the right result, and the log shows each task's second attempt and one outcome."""
        frozen, frozen_id = self.arith[0], self.arith_ids[0]
        other_id = self.arith_ids[1]
        frozen.freeze()
        futures = self.post_concurrently(range(N))
        self.wait_received(N, self.warm_ids)
        time.sleep(FROZEN_S)                                   # a timing window, not a readiness wait
        frozen.killed_on_purpose = True
        frozen.kill()
        answers = self.collect(futures)

        # Before judging the answers: the set-up really sent work to the replica that died.
        by_id = {r["id"]: (i, s) for i, s, r in answers if isinstance(r, dict) and "id" in r}
        recs_by_task = self.logged(by_id)
        on_frozen = [t for t, recs in recs_by_task.items() if self.first_backend(recs) == frozen_id]
        self.assertTrue(on_frozen, "set-up: no task was sent to the frozen replica, so nothing was tested")
        lost = sorted((by_id[t][1], by_id[t][0]) for t in on_frozen if by_id[t][1] != 200)
        if lost:
            self.fail(f"{len(lost)} of the {len(on_frozen)} tasks sent to the frozen, then killed replica were not "
                      f"redelivered to the live one: (status, request) {lost[:5]}; first answer: "
                      f"{next(r for i, s, r in answers if s != 200)}")

        ids = self.assert_all_ok(answers, "while a replica froze and died")
        by_task = self.logged(ids)
        self.assert_one_outcome(by_task, "completed")
        results = {r["id"]: r["result"] for _, _, r in answers}
        for task_id in on_frozen:
            recs = by_task[task_id]
            shape = [(r["type"], r.get("backend"), r.get("attempt")) for r in recs]
            self.assertTrue(any(r.get("attempt") == 2 and r.get("backend") == other_id for r in recs),
                            f"task {task_id} sent to the frozen replica has no attempt 2 on {other_id}: {shape}")
            outcome = recs[-1]
            self.assertEqual((outcome["type"], outcome.get("backend"), outcome.get("result")),
                             ("completed", other_id, results[task_id]), shape)

    def test_b_thawed_replica_late_results_are_ignored(self):
        """Promise: a replica that freezes and comes back (and then sends late results for tasks already redelivered)
        does not make any request be answered twice or wrongly, nor a task have two outcomes; events stays up, and
        the replica is used again afterwards (its in-flight count was released)."""
        frozen, frozen_id = self.arith[0], self.arith_ids[0]
        frozen.freeze()
        futures = self.post_concurrently(range(N))
        self.wait_received(N, self.warm_ids)
        time.sleep(FROZEN_S)                                   # a timing window, not a readiness wait
        frozen.thaw()
        answers = self.collect(futures)
        self.assertEqual(len(answers), N)
        ids = self.assert_all_ok(answers, "while a replica froze and came back")

        harness.wait_until("the thawed replica back in the registry",
                           lambda: frozen_id in self.stack.replica_ids("arithmetic"), timeout=10)
        self.assertTrue(self.events_proc.alive(), "events died after late results:\n" + self.events_proc.tail())
        by_task = self.logged(ids)
        self.assertTrue(any(self.first_backend(recs) == frozen_id for recs in by_task.values()),
                        "set-up: no task was sent to the frozen replica, so nothing was tested")

        # 100 more requests. They are also the barrier for the late results: the replica answers in order, so once it
        # has run one of these it has sent its late results for the first 40, and events has read them.
        later, executed_by = [], {}
        for i in range(N, N + 100):
            status, reply = harness.http(self.port, "POST", "/task", body(i), timeout=30)
            later.append((i, status, reply))
        self.assert_all_ok(later, "after the replica came back")
        for _, _, reply in later:
            recs = self.stack.history(reply["id"])
            executed_by[recs[-1].get("backend")] = executed_by.get(recs[-1].get("backend"), 0) + 1
        self.assertIn(frozen_id, executed_by,
                      f"the thawed replica took none of 100 later tasks (its in-flight count was not released): "
                      f"{executed_by}")

        self.assert_one_outcome(self.logged(ids), "completed")
        self.assertTrue(self.events_proc.alive(), "events died:\n" + self.events_proc.tail())
        self.assertEqual(self.stack.dead_daemons(), [])

    def test_c_all_replicas_frozen_past_the_deadline(self):
        """Promise: when every replica of the service stays frozen past the deadline, each request gets one 504
        naming its task, and its log has exactly one outcome ("failed") even after the replicas come back and send
        late results; then new requests are answered 200 again."""
        for d in self.arith:
            d.freeze()
        futures = self.post_concurrently(range(4))
        answers = self.collect(futures)
        for i, status, reply in answers:
            self.assertEqual(status, 504, (i, reply))
            self.assertIsInstance(reply, dict, reply)
            self.assertEqual(reply.get("message"), "FAIL", reply)
            self.assertRegex(reply.get("id", ""), r"^[0-9a-f]{32}$", reply)
        ids = [r["id"] for _, _, r in answers]
        self.assertEqual(len(set(ids)), len(ids))
        self.assert_one_outcome(self.logged(ids), "failed")

        for d in self.arith:
            d.thaw()
        harness.wait_until("both thawed replicas back in the registry",
                           lambda: set(self.arith_ids) <= set(self.stack.replica_ids("arithmetic")), timeout=10)
        # Fresh requests until both replicas have run one: each has then sent its late results for the old tasks.
        executed_by = set()
        deadline = time.monotonic() + 30
        i = 100
        while set(self.arith_ids) - executed_by:
            self.assertLess(time.monotonic(), deadline, f"only {executed_by} ran new tasks after the thaw")
            status, reply = harness.http(self.port, "POST", "/task", body(i), timeout=30)
            self.assertEqual((status, reply.get("result") if isinstance(reply, dict) else reply), (200, expected(i)))
            executed_by.add(self.stack.history(reply["id"])[-1].get("backend"))
            i += 1
        self.assert_one_outcome(self.logged(ids), "failed")
        self.assertTrue(self.events_proc.alive(), "events died after late results:\n" + self.events_proc.tail())


if __name__ == "__main__":
    unittest.main(verbosity=2)
