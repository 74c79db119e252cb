"""Bad input gets a clear 4xx JSON answer and never reaches a backend; failures travel back through the pipeline."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402

harness.build_dir_from_argv()

BAD_BODIES = [
    ("not JSON", "xx", "body is not valid JSON"),
    ("trailing garbage", '{"a1":1,"a2":2}xyz', "unexpected data after the JSON object"),
    ("array", "[1,2]", "body must be a JSON object"),
    ("string", '"s"', "body must be a JSON object"),
    ("number", "42", "body must be a JSON object"),
    ("one property", '{"a1":1}', "expected exactly 2 properties, got 1"),
    ("three properties", '{"a1":1,"a2":2,"a3":3}', "expected exactly 2 properties, got 3"),
    ("no properties", "{}", "expected exactly 2 properties, got 0"),
    ("mixed types", '{"a1":1,"a2":"x"}', "values must be both numbers or both strings"),
    ("unknown letter", '{"x1":1,"x2":2}', "unknown operation letter 'x' in key \"x1\": use a, s, m or d"),
    ("mismatched letters", '{"a1":1,"s2":2}', "keys must start with the same operation letter"),
    ("boolean", '{"a1":true,"a2":1}', 'value of "a1" must be a number or a string, not a boolean'),
    ("null", '{"a1":1,"a2":null}', 'value of "a2" must be a number or a string, not null'),
    ("array value", '{"a1":[1],"a2":1}', 'value of "a1" must be a number or a string, not an array'),
    ("object value", '{"a1":{},"a2":1}', 'value of "a1" must be a number or a string, not an object'),
    ("infinite number", '{"a1":1e400,"a2":1}', 'value of "a1" is not a finite number'),
    ("empty body", "", "body is empty"),
    ("whitespace body", "  \n", "body is empty"),
    ("duplicate key", '{"a1":1,"a1":2}', 'duplicate key "a1"'),
    ("NUL in string", '{"a1":"x\\u0000","a2":"y"}', "strings may not contain NUL (\\u0000)"),
    ("invalid UTF-8", b'{"a1":"\xff","a2":"y"}', "body is not valid UTF-8"),
]


class BadInput(harness.StackTest):
    STACK = dict(env={"MAX_BODY": "1024"})

    def received(self):
        return self.stack.count_received()

    def test_every_bad_body_is_refused_and_never_logged(self):
        before = self.received()
        for name, body, error in BAD_BODIES:
            with self.subTest(name):
                status, reply = harness.http(self.port, "POST", "/task", body)
                self.assertEqual(status, 400, reply)
                self.assertEqual(reply, {"message": "FAIL", "error": error})
        # A good task after them: once it is answered, its records are stored, and the bad ones would be before it.
        status, reply = harness.http(self.port, "POST", "/task", '{"a1":1,"a2":2}')
        self.assertEqual((status, reply["result"]), (200, "3"))
        self.assertEqual(self.received(), before + 1, "a refused request reached the events service")

    def test_body_over_the_limit(self):
        status, reply = harness.http(self.port, "POST", "/task", '{"a1":"' + "x" * 2000 + '","a2":"y"}')
        self.assertEqual((status, reply["error"]), (413, "body is larger than 1024 bytes"))

    def test_wrong_method_and_unknown_route(self):
        status, reply = harness.http(self.port, "GET", "/task")
        self.assertEqual((status, reply["error"]), (405, "method GET is not allowed on /task (allowed: POST)"))
        status, reply = harness.http(self.port, "DELETE", "/")
        self.assertEqual(status, 405)
        status, reply = harness.http(self.port, "GET", "/nope")
        self.assertEqual(status, 404)
        self.assertIn("no route for GET /nope", reply["error"])
        status, reply = harness.http(self.port, "GET", "/task/bad.id")
        self.assertEqual(status, 400)

    def test_division_by_zero_travels_back_and_is_logged(self):
        status, reply = harness.http(self.port, "POST", "/task", '{"d1":1,"d2":0}')
        self.assertEqual(status, 422, reply)
        self.assertEqual(reply["error"], "division by zero")
        records = self.stack.history(reply["id"])
        harness.check_history(records, "failed")
        self.assertEqual((records[-1]["status"], records[-1]["error"]), (422, "division by zero"))

    def test_overflow_is_an_error_not_infinity(self):
        status, reply = harness.http(self.port, "POST", "/task", '{"m1":1e308,"m2":10}')
        self.assertEqual(status, 422, reply)
        self.assertIn("not a finite number", reply["error"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
