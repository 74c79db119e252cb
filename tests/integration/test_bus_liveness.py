"""Redis liveness of the bus: a Redis that stops answering (SIGSTOP) is noticed by the PING watchdog within two
heartbeats, every daemon drops and re-establishes its connections, and serves again after SIGCONT; a Redis that
goes away with publishes in flight and queued makes each pending publish fail once, from the loop, without a storm
of retries, log lines or memory."""
import os
import re
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402

harness.build_dir_from_argv()

BUS_DOWN = "the message bus (Redis) is not reachable"


def redis_of(stack):
    return next(s for s in stack.servers if s.name == "redis")


def log_lines(proc):
    with open(proc.log_path, "rb") as f:
        return f.read().decode(errors="replace").splitlines()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def restart_redis(stack, name):
    """Start a new redis-server on the stack's Redis port (the daemons reconnect to it) and wait for it."""
    port = stack.redis_port
    stack.servers.insert(0, harness.Proc(
        "redis", ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                  "--dir", stack.dir], os.environ.copy(), os.path.join(stack.dir, name)))
    harness.wait_until("redis-server again", stack._redis_ping)


class Load:
    """Clients posting tasks in a loop on their own threads until stop(); counts the statuses they got."""

    def __init__(self, port, clients=32):
        self.port, self.halt, self.statuses, self.lock = port, threading.Event(), {}, threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(clients)]
        for t in self.threads:
            t.start()

    def run(self, i):
        while not self.halt.is_set():
            try:
                status = harness.http(self.port, "POST", "/task", f'{{"a1": {i}, "a2": 1}}', timeout=10)[0]
            except Exception as e:  # a refused or reset connection is a result too
                status = type(e).__name__
            with self.lock:
                self.statuses[status] = self.statuses.get(status, 0) + 1

    def stop(self):
        self.halt.set()
        for t in self.threads:
            t.join(15)
        return dict(self.statuses)


class Stopped(harness.StackTest):
    # HEARTBEAT_MS 200: the watchdog must drop a silent connection 400-600 ms after it last answered. A long
    # REPLICA_TTL_MS keeps the registry from expiring replicas meanwhile, so a 503 on GET / can only come from the bus.
    STACK = {"env": {"HEARTBEAT_MS": "200", "REPLICA_TTL_MS": "20000"}}
    HEARTBEAT_S = 0.2

    def test_sigstop_is_noticed_and_survived(self):
        self.assertEqual(harness.http(self.port, "POST", "/task", '{"a1": 1, "a2": 2}')[0], 200)
        redis = redis_of(self.stack)
        before = {d.name: len(log_lines(d)) for d in self.stack.daemons}
        os.kill(redis.pid, signal.SIGSTOP)
        stopped_at = time.monotonic()
        try:
            # The TCP connections stay open and the kernel still accepts new ones: only the watchdog can tell.
            status, reply = harness.wait_until(
                "GET / to answer 503", lambda: (lambda r: r if r[0] == 503 else None)(
                    harness.http(self.port, "GET", "/", timeout=2)), timeout=10)
            noticed = time.monotonic() - stopped_at
            self.assertEqual(reply["error"], BUS_DOWN)
            print(f"\nGET / answered 503 {noticed * 1000:.0f} ms after SIGSTOP", file=sys.stderr)
            # Two heartbeats of silence with a probe out, at most one more for the tick, plus slack for ASan.
            self.assertLess(noticed, 3 * self.HEARTBEAT_S + 0.8, "the watchdog took too long")
            status, reply = harness.http(self.port, "POST", "/task", '{"a1": 1, "a2": 2}', timeout=5)
            self.assertEqual((status, reply["error"]), (503, BUS_DOWN))
            # Stay stopped well past two heartbeats, so the re-established connections are dropped again too.
            time.sleep(max(0.0, 2.0 - (time.monotonic() - stopped_at)))
            for d in self.stack.daemons:
                new = log_lines(d)[before[d.name]:]
                drops = [line for line in new if "event=bus_watchdog_drop" in line]
                self.assertTrue(any("connection=sub" in line for line in drops), f"{d.name}: {new}")
                self.assertTrue(any("connection=pub" in line for line in drops), f"{d.name}: {new}")
                self.assertLess(len(new), 200, f"{d.name} logged {len(new)} lines while Redis was stopped")
        finally:
            os.kill(redis.pid, signal.SIGCONT)
        self.stack.wait_ready()
        for d in self.stack.daemons:
            new = log_lines(d)[before[d.name]:]
            ready = [line for line in new if "event=bus_ready" in line]
            self.assertTrue(ready, f"{d.name} never became ready again: {new}")
            self.assertRegex(ready[-1], r"watchdog_drops=[1-9]")
        for body, want in [('{"a1": 2, "a2": 3}', "5"), ('{"a1": "still", "a2": " here"}', "still here")]:
            status, reply = harness.http(self.port, "POST", "/task", body)
            self.assertEqual((status, reply.get("result")), (200, want), reply)


class GoneWithPublishesInFlight(harness.StackTest):
    # BUS_WINDOW 1: everything beyond one publish waits in the local queue, so the connection is lost with
    # publishes both in flight and queued. A slow heartbeat keeps the watchdog out of this test's way: here the
    # connections are reset (SIGKILL), which is the disconnect path.
    STACK = {"env": {"BUS_WINDOW": "1", "HEARTBEAT_MS": "1000", "REPLICA_TTL_MS": "10000"}}

    def test_no_retry_storm(self):
        events = next(d for d in self.stack.daemons if d.name.startswith("events"))
        load = Load(self.port)
        try:
            harness.wait_until("answered load", lambda: load.statuses.get(200, 0) >= 50, timeout=30)
            rss_before = rss_kib(events.pid)
            before = {d.name: len(log_lines(d)) for d in self.stack.daemons}
            redis = redis_of(self.stack)
            # Stopped first, so publishes pile up unanswered (in flight and queued) while clients keep posting...
            os.kill(redis.pid, signal.SIGSTOP)
            time.sleep(0.5)
            # ...then gone: every connection is reset with all of them pending.
            self.stack.servers.remove(redis)
            redis.kill()
            # A daemon spinning on -1 callbacks would never answer again.
            harness.wait_until("GET / to answer 503", lambda: harness.http(self.port, "GET", "/", timeout=2)[0] == 503,
                               timeout=5)
            time.sleep(2)
            for d in self.stack.daemons:
                self.assertTrue(d.alive(), f"{d.name} died:\n{d.tail()}")
                new = log_lines(d)[before[d.name]:]
                redispatch = [line for line in new if re.search(r"redispatch|answer_lost", line)]
                print(f"\n{d.name}: {len(new)} lines, {len(redispatch)} redispatch/answer_lost", file=sys.stderr,
                      end="")
                self.assertLess(len(redispatch), 100, f"{d.name}: {len(redispatch)} redispatch lines")
                self.assertLess(len(new), 300, f"{d.name} logged {len(new)} lines after Redis went away")
            grown = rss_kib(events.pid) - rss_before
            print(f"\nevents RSS {rss_before} KiB before, grew {grown} KiB", file=sys.stderr)
            self.assertLess(grown, 64 * 1024, f"events grew by {grown} KiB")
        finally:
            statuses = load.stop()
        # Requests in flight when Redis went away wait for it (their task may run) and end 200 or 504; a new one is
        # refused at once.
        self.assertLessEqual(set(statuses), {200, 503, 504}, statuses)
        status, reply = harness.http(self.port, "POST", "/task", '{"a1": 1, "a2": 1}', timeout=5)
        self.assertEqual(status, 503, reply)

        restart_redis(self.stack, "redis2.log")
        self.stack.wait_ready()
        status, reply = harness.http(self.port, "POST", "/task", '{"a1": 20, "a2": 22}')
        self.assertEqual((status, reply.get("result")), (200, "42"), reply)


if __name__ == "__main__":
    unittest.main(verbosity=2)
