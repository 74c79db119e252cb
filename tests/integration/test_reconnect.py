"""Redis goes away and comes back: the daemons say so meanwhile, reconnect, re-register and serve again."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402

harness.build_dir_from_argv()


class Reconnect(harness.StackTest):
    def test_redis_restart(self):
        self.assertEqual(harness.http(self.port, "POST", "/task", '{"a1": 1, "a2": 2}')[0], 200)
        redis = next(s for s in self.stack.servers if s.name == "redis")
        self.stack.servers.remove(redis)
        redis.stop()
        harness.wait_until("the frontend to notice", lambda: harness.http(self.port, "GET", "/")[0] == 503)
        status, reply = harness.http(self.port, "POST", "/task", '{"a1": 1, "a2": 2}')
        self.assertEqual((status, reply["error"]), (503, "the message bus (Redis) is not reachable"))

        # Same port, empty registry: every replica must reconnect, re-subscribe and announce itself again.
        port = self.stack.redis_port
        self.stack.servers.insert(0, harness.Proc(
            "redis", ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                      "--dir", self.stack.dir] + self.stack.acl_args(), os.environ.copy(),
            os.path.join(self.stack.dir, "redis2.log")))
        self.stack.wait_ready()
        for body, want in [('{"a1": 2, "a2": 3}', "5"), ('{"a1": "re", "a2": "connected"}', "reconnected")]:
            status, reply = harness.http(self.port, "POST", "/task", body)
            self.assertEqual((status, reply.get("result")), (200, want), reply)


if __name__ == "__main__":
    unittest.main(verbosity=2)
