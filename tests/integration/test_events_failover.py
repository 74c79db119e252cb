"""Events failover: an events replica that dies, freezes, or loses Redis while it holds tasks must leave no request
unanswered or wrongly answered, no task without an outcome, and no task with two.

Each test starts its own stack (1 frontend, 2 events, 1 arithmetic and 1 string backend; heartbeat 200 ms, replicas
dead after 1 s without one, 8 s request deadline). To put tasks in flight on an events replica, the arithmetic
backend is frozen (SIGSTOP) first: events logs each task as received and sends it to the frozen backend, where it
waits. Then a real events replica is killed (SIGKILL) or frozen, or redis-server is killed and restarted, the backend
is thawed, and the test checks what every client got and what the event log holds: one outcome record per task (its
_id is "<task>:outcome"), with the right result.
"""
import os
import re
import sys
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402

harness.build_dir_from_argv()

N = 30                      # concurrent requests held in flight
OUTCOMES = ("completed", "failed")
TASK_ID = r"^[0-9a-f]{32}$"


def body(i):
    return '{"a1": %d, "a2": 1000}' % i


def expected(i):
    return str(i + 1000)


class EventsFailoverBase(unittest.TestCase):
    """One fresh stack per test: every test breaks an events replica or Redis on purpose."""
    ENV = {"HEARTBEAT_MS": "200", "REPLICA_TTL_MS": "1000", "TASK_TIMEOUT_MS": "8000"}

    def setUp(self):
        self.stack = harness.Stack(harness.BUILD, events=2, backends={"arithmetic": 1, "string": 1},
                                   env=self.ENV).start()
        self.addCleanup(self.stop_stack)          # runs even when the rest of setUp fails
        self.port = self.stack.frontend_ports[0]
        self.events = [d for d in self.stack.daemons if d.name.startswith("events")]
        self.events_ids = [self.stack.replica_id(d) for d in self.events]
        self.arith = next(d for d in self.stack.daemons if d.name.startswith("backend-arithmetic"))
        self.arith_id = self.stack.replica_id(self.arith)
        self.pool = ThreadPoolExecutor(max_workers=N)
        self.addCleanup(self.pool.shutdown, wait=True)
        self.warm_up()

    def warm_up(self, timeout=20):
        """Readiness: the frontend learns of the second events replica only on its next registry refresh and would
        meanwhile send every task to the first. So send tasks (watchdog) until each events replica has received one."""
        seen, i = set(), -1
        deadline = time.monotonic() + timeout
        while set(self.events_ids) - seen:
            self.assertLess(time.monotonic(), deadline, f"warm-up: only {seen} of {self.events_ids} got a task")
            status, reply = harness.http(self.port, "POST", "/task", body(i), timeout=30)
            self.assertEqual((status, reply.get("result") if isinstance(reply, dict) else reply), (200, expected(i)))
            seen.add(self.stack.history(reply["id"])[0].get("events"))
            i -= 1

    def stop_stack(self):
        harness.thaw_and_stop(self.stack)

    # ---- helpers
    def post_concurrently(self, indexes):
        return harness.post_concurrently(self.pool, self.port, body, indexes, timeout=40)

    def hold_tasks(self, n):
        """Freeze the arithmetic backend, POST n tasks concurrently, and wait (watchdog) until events has logged every
        one as received: they are then in flight on the events replicas. Returns the futures and {events replica id:
        [task ids it holds]}; both replicas hold some (else nothing would be tested)."""
        self.arith.freeze()
        futures = self.post_concurrently(range(n))
        bodies = [body(i) for i in range(n)]
        recs = harness.wait_until(f"{n} tasks received by events", lambda: (lambda found: found if len(found) >= n
                                  else None)(list(self.stack.mongo().events.find(
                                      {"type": "received", "seq": 0, "request": {"$in": bodies}},
                                      {"task": 1, "events": 1}))), timeout=15)
        held = {}
        for r in recs:
            held.setdefault(r["events"], []).append(r["task"])
        self.assertEqual(sorted(held), sorted(self.events_ids),
                         f"set-up: not both events replicas hold tasks ({ {k: len(v) for k, v in held.items()} })")
        return futures, held

    @staticmethod
    def collect(futures):
        return [f.result(timeout=60) for f in futures]

    def logged(self, task_ids):
        return harness.records_by_task(self.stack, task_ids)

    def assert_all_ok(self, answers, why):
        return harness.check_all_ok(self, answers, expected, why)

    @staticmethod
    def shape(recs):
        return [(r["_id"], r["type"], r.get("events", "")[-17:], r.get("handoff"), r.get("result")) for r in recs]

    def assert_one_outcome(self, by_task, want):
        """Each task has exactly one outcome document, with _id "<task>:outcome", and it is (type, result) 'want[task]'.
        Returns {task: outcome document}."""
        bad, found = {}, {}
        for task_id, recs in by_task.items():
            outcomes = [r for r in recs if r["type"] in OUTCOMES]
            if len(outcomes) != 1 or outcomes[0]["_id"] != f"{task_id}:outcome" or \
                    (outcomes[0]["type"], outcomes[0].get("result")) != want[task_id]:
                bad[task_id] = self.shape(recs)
            else:
                found[task_id] = outcomes[0]
        if bad:
            self.fail(f"{len(bad)} of {len(by_task)} tasks do not have exactly one outcome record with the right "
                      f"result: {list(bad.items())[:3]}")
        return found

    def other(self, events_id):
        return next(i for i in self.events_ids if i != events_id)

    def proc_of(self, events_id):
        return self.events[self.events_ids.index(events_id)]



class EventsFailover(EventsFailoverBase):
    def test_a_killed_events_replica_tasks_are_handed_over(self):
        """Promise: when an events replica dies with tasks in flight, the frontend re-sends them to the other one
        (handoff 1), which runs them: every client gets 200 with the right result, every task has one outcome."""
        futures, held = self.hold_tasks(N)
        victim_id = self.events_ids[0]
        survivor_id = self.other(victim_id)
        victim = self.proc_of(victim_id)
        victim.killed_on_purpose = True
        victim.kill()
        self.arith.thaw()
        answers = self.collect(futures)
        ids = self.assert_all_ok(answers, "while an events replica died")

        by_task = self.logged(ids)
        results = {r["id"]: ("completed", r["result"]) for _, _, r in answers}
        outcome = self.assert_one_outcome(by_task, results)
        for task_id in held[victim_id]:
            recs = by_task[task_id]
            self.assertTrue(any(r["type"] == "received" and r.get("handoff") == 1 and r["events"] == survivor_id
                                and r["seq"] == 100 for r in recs),
                            f"task {task_id} of the killed replica has no handoff-1 \"received\" record (seq 100) from "
                            f"the survivor: {self.shape(recs)}")
            self.assertEqual(outcome[task_id]["events"], survivor_id, self.shape(recs))

        stats = self.stack.stop_daemon(self.proc_of(survivor_id))
        self.assertGreaterEqual(stats.get("handoffs", 0), len(held[victim_id]), stats)
        self.assertEqual(stats.get("answered_from_outcome"), 0,
                         f"the killed replica finished no task, so no handoff had a kept outcome: {stats}")

    def test_b_frozen_events_replica_comes_back(self):
        """Promise: an events replica that freezes with tasks in flight loses them to the other replica (handoff 1)
        once it leaves the registry; when it comes back it finishes its own copies, but no request is answered
        twice or wrongly and no task gets a second outcome (the outcome's _id is the task's); it serves again."""
        futures, held = self.hold_tasks(N)
        frozen_id = self.events_ids[0]
        other_id = self.other(frozen_id)
        frozen = self.proc_of(frozen_id)
        frozen.freeze()
        self.arith.thaw()      # the backend's results for the frozen replica's tasks wait in its subscription

        mine = held[frozen_id]
        harness.wait_until("the frozen replica's tasks handed over to the other one", lambda: self.stack.count_received(
            {"task": {"$in": mine}, "handoff": 1, "events": other_id})
            >= len(mine), timeout=15)
        frozen.thaw()
        answers = self.collect(futures)
        ids = self.assert_all_ok(answers, "while an events replica froze and came back")

        # The thawed replica finishes its copies: for each, it either wrote the outcome first, or found the other
        # replica's answer kept (event=outcome_kept_elsewhere) or stored (event=outcome_exists) and answered that.
        def unfinished():
            with open(frozen.log_path, "rb") as f:
                seen = set(re.findall(r"event=outcome_(?:exists|kept_elsewhere) task=(\S+)",
                                      f.read().decode(errors="replace")))
            outcomes = {r["task"]: r["events"] for r in self.stack.mongo().events.find(
                {"task": {"$in": mine}, "type": {"$in": list(OUTCOMES)}}, {"task": 1, "events": 1})}
            return [t for t in mine if t not in seen and outcomes.get(t) != frozen_id]
        harness.wait_until("the thawed replica to finish its copies", lambda: not unfinished(), timeout=15)

        by_task = self.logged(ids)
        self.assert_one_outcome(by_task, {r["id"]: ("completed", r["result"]) for _, _, r in answers})
        harness.wait_until("the thawed replica back in the registry",
                           lambda: frozen_id in self.stack.replica_ids("events"), timeout=10)
        self.assertEqual(self.stack.dead_daemons(), [])
        # It serves again: requests (watchdog) until one goes through it; the frontend sees it on its next refresh.
        deadline, i = time.monotonic() + 5, 100
        while True:
            status, reply = harness.http(self.port, "POST", "/task", body(i), timeout=30)
            self.assertEqual((status, reply.get("result")), (200, expected(i)), reply)
            if self.stack.history(reply["id"])[0].get("events") == frozen_id:
                break
            self.assertLess(time.monotonic(), deadline, f"the thawed events replica took none of {i - 99} later "
                            f"tasks in 5 s")
            i += 1
        for p in self.events:                          # both exit 0 (no crash, no leak) with their work done
            self.stack.stop_daemon(p)

    def test_d_redis_restart_with_tasks_in_flight(self):
        """Promise: when redis-server dies and comes back empty while tasks are in flight, every request still ends
        with an answer (200 with the right result, or 504 naming its task), and every task named in an answer gets
        exactly one outcome; the 200 ones "completed" with the answered result."""
        n = 20
        futures, _ = self.hold_tasks(n)
        self.stack.restart_redis()
        self.arith.thaw()
        answers = self.collect(futures)
        bad = [(i, s, r) for i, s, r in answers if not (
            (s == 200 and isinstance(r, dict) and r.get("result") == expected(i)) or
            (s == 504 and isinstance(r, dict) and re.match(TASK_ID, r.get("id", ""))))]
        self.assertEqual(bad, [], "answers that are neither 200 with the right result nor 504 with the task id")
        ids = [r["id"] for _, _, r in answers]
        self.assertEqual(len(set(ids)), n, "two requests were answered with the same task id")

        def missing():
            have = {r["task"] for r in self.stack.mongo().events.find(
                {"task": {"$in": ids}, "type": {"$in": list(OUTCOMES)}}, {"task": 1})}
            return [t for t in ids if t not in have]
        try:
            harness.wait_until("an outcome for every answered task", lambda: not missing(), timeout=15)
        except RuntimeError:
            self.fail(f"{len(missing())} of {n} tasks have no outcome 15 s after their answer: {missing()[:3]} "
                      f"(statuses: {sorted(s for _, s, _ in answers)})")
        by_task = self.logged(ids)
        # A 504's task may have completed later or failed: either way one outcome.
        want = {r["id"]: ("completed", r["result"]) if s == 200 else
                next(((o["type"], o.get("result")) for o in by_task[r["id"]] if o["type"] in OUTCOMES), None)
                for _, s, r in answers}
        self.assert_one_outcome(by_task, want)
        self.stack.wait_ready()                       # every replica re-registered
        for i, want_result in [(200, expected(200))]:
            status, reply = harness.http(self.port, "POST", "/task", body(i), timeout=30)
            self.assertEqual((status, reply.get("result")), (200, want_result), reply)


class FollowAfter504(EventsFailoverBase):
    """A short request deadline. Replicas count as alive 3 s after their last heartbeat here, so that the frontend
    re-sends the task only after the test killed its events replica (not while it is merely frozen and the backend
    still is too, which would make the timing decide between "completed" and a second 504)."""
    ENV = {"HEARTBEAT_MS": "200", "REPLICA_TTL_MS": "3000", "TASK_TIMEOUT_MS": "1500"}

    def test_c_task_followed_after_504(self):
        """Promise: a task whose client already got the frontend's 504 ("may still complete") is followed: when its
        events replica dies, the frontend re-sends it to the other one, which runs it, and the log shows exactly one
        outcome: completed, with the right result."""
        self.arith.freeze()
        answer = {}
        t = threading.Thread(target=lambda: answer.update(r=harness.http(self.port, "POST", "/task", body(7))),
                             daemon=True)
        t.start()
        rec = harness.wait_until("the task received by events", lambda: self.stack.mongo().events.find_one(
            {"type": "received", "request": body(7)}), timeout=5)
        # Freeze its events replica before its own deadline (80 % of 1.5 s): only the frontend's deadline is left.
        holder = self.proc_of(rec["events"])
        holder.freeze()
        t.join(timeout=10)
        self.assertFalse(t.is_alive(), "no answer within 10 s")
        status, reply = answer["r"]
        self.assertEqual(status, 504, reply)
        self.assertIsInstance(reply, dict, reply)
        self.assertEqual(reply.get("id"), rec["task"], reply)
        self.assertIn("may still complete", reply.get("error", ""),
                      "set-up: the 504 came from events (its replica was not frozen in time), not the frontend")
        self.assertEqual([r for r in self.stack.history(rec["task"]) if r["type"] in OUTCOMES], [])

        holder.killed_on_purpose = True
        holder.kill()
        self.arith.thaw()
        survivor_id = self.other(rec["events"])
        outcome = harness.wait_until("the followed task's outcome", lambda: self.stack.mongo().events.find_one(
            {"_id": f"{rec['task']}:outcome"}), timeout=15)
        recs = self.stack.history(rec["task"])
        self.assertEqual([r["_id"] for r in recs if r["type"] in OUTCOMES], [f"{rec['task']}:outcome"],
                         self.shape(recs))
        self.assertEqual((outcome["type"], outcome.get("result"), outcome["events"]),
                         ("completed", expected(7), survivor_id), self.shape(recs))
        self.assertTrue(any(r["type"] == "received" and r.get("handoff") == 1 and r["events"] == survivor_id
                            for r in recs), self.shape(recs))
        # Barrier: a later request answered by the survivor, whose answers reach the frontend in order, so the
        # frontend has read the followed task's answer (published before) when this one is answered.
        status, reply = harness.http(self.port, "POST", "/task", body(8), timeout=30)
        self.assertEqual((status, reply.get("result")), (200, expected(8)), reply)
        frontend = next(d for d in self.stack.daemons if d.name.startswith("frontend"))
        stats = self.stack.stop_daemon(frontend)
        self.assertEqual((stats.get("followed"), stats.get("resolved"), stats.get("unresolved")), (1, 1, 0), stats)


if __name__ == "__main__":
    unittest.main(verbosity=2)
