"""Scale-out: 2 frontends x 2 events x 2 backends per service under thousands of concurrent requests.

Every request must be answered exactly once with the right result, each task executed by exactly one backend
replica, and every answered task's full history must be in the store: checked from the responses and the store.
"""
import asyncio
import json
import os
import resource
import sys
import unittest
from collections import Counter

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402

BUILD = harness.build_dir_from_argv()
CONNECTIONS = 2000      # concurrent keep-alive connections, spread over both frontends
PER_CONNECTION = 2      # requests on each


def case(i):
    """The i-th request body and its expected result: every operation, distinct operands."""
    kind = i % 5
    a, b = i + 1, (i % 97) + 1
    if kind == 0:
        return {"a1": a, "a2": b}, str(a + b)
    if kind == 1:
        return {"s1": a, "s2": b}, str(a - b)
    if kind == 2:
        return {"m1": a, "m2": b}, str(a * b)
    if kind == 3:
        return {"d1": a * b, "d2": b}, str(a)
    return {"a1": f"x{i}", "a2": "y"}, f"x{i}y"


async def post_many(port, indexes, answers):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for i in indexes:
            body = json.dumps(case(i)[0]).encode()
            writer.write(b"POST /task HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            answers.append((i, status, json.loads(await reader.readexactly(length))))
    finally:
        writer.close()


async def load(ports):
    answers = []
    tasks = [post_many(ports[c % len(ports)], range(c * PER_CONNECTION, (c + 1) * PER_CONNECTION), answers)
             for c in range(CONNECTIONS)]
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=300)
    return answers


class ScaleOut(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        # The sanitizer build is several times slower than a release build: give the deadline room.
        cls.stack = harness.Stack(BUILD, frontends=2, events=2, backends={"arithmetic": 2, "string": 2},
                                  env={"TASK_TIMEOUT_MS": "60000", "MAX_CONNECTIONS_PER_IP": "0"}).start()

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()

    def test_every_request_answered_once_and_logged(self):
        total = CONNECTIONS * PER_CONNECTION
        answers = asyncio.run(load(self.stack.frontend_ports))

        # From the responses: one answer per request, all 200 with the right result, distinct task ids.
        self.assertEqual(len(answers), total)
        self.assertEqual(sorted(i for i, _, _ in answers), list(range(total)))
        wrong = [(i, s, r) for i, s, r in answers if s != 200 or r.get("result") != case(i)[1]]
        self.assertEqual(wrong[:5], [], f"{len(wrong)} wrong answers")
        ids = [r["id"] for _, _, r in answers]
        self.assertEqual(len(set(ids)), total, "a task id was answered twice")

        # From the store: each answered task was received, sent to exactly one backend replica, and completed by it.
        by_task = {}
        for rec in self.stack.records():
            by_task.setdefault(rec["task"], []).append(rec)
        self.assertEqual(set(by_task), set(ids), "the store holds tasks nobody asked for, or misses some")
        backends, events_replicas = Counter(), Counter()
        results = {r["id"]: r["result"] for _, _, r in answers}
        for task_id, recs in by_task.items():
            recs.sort(key=lambda r: r["seq"])
            backend = harness.check_history(recs, "completed")
            self.assertEqual(recs[-1]["result"], results[task_id])
            self.assertEqual(len({r["events"] for r in recs}), 1, "one task handled by two events replicas")
            backends[backend] += 1
            events_replicas[recs[0]["events"]] += 1

        # The work was spread: both events replicas and all four backend replicas took part.
        self.assertEqual(len(events_replicas), 2, events_replicas)
        self.assertEqual(len(backends), 4, backends)
        print(f"\n{total} requests over 2 frontends; events replicas {sorted(events_replicas.values())}; "
              f"backend replicas {sorted(backends.values())}", file=sys.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
