"""openapi.yaml against the real frontend: every route and every status a test can provoke, validated.

The document is loaded with python3-yaml; JSON bodies are validated with python3-jsonschema (Draft 2020-12, which is
what OpenAPI 3.1 schemas are) with a resolver over the whole document, so "#/components/..." references resolve.
Every answer is checked the same way (check()): its status must be documented for the operation the request went
to (a path's undocumented method goes to the path's x-other-methods, an unknown path to x-unmatched-route), its
documented required headers must be there and valid, no Allow / Location / Preference-Applied / Retry-After may
appear where the document does not list it, and its body must be JSON valid against the documented schema, or
empty for HEAD, or non-JSON only where the document says so (431). Requests are checked too: a body the frontend
refuses with 400 must be refused by the TaskBody schema, and one it accepts must be valid; likewise the task id,
Idempotency-Key and GET /tasks parameters.

Three stacks:
- Full: redis-server, FerretDB, events, an arithmetic and a string backend, MAX_BODY=1024: 200, 202, 400s, 404,
  405, 413, 422, 431, and the read side (GET /task/{id}, GET /tasks) with every filter.
- Degraded: a task map without STRING and no backend at all, TASK_TIMEOUT_MS=1500, MAX_IN_FLIGHT=2: 500 (no route),
  504 from events (no live replica), 503 with Retry-After past MAX_IN_FLIGHT, a 202 whose task stays pending.
- Silent: redis-server and a frontend only, with a fake events replica that registers and never answers: the
  frontend's own 504 on POST /task and GET /task/{id}; once the fake leaves, 503 on every route.
- Tokens: redis-server and a frontend with API_TOKENS_FILE: 401 on every route but GET /, /metrics and /dashboard
  (and HEAD), and the document's security (bearerAuth everywhere, none on those three).
"""
import datetime
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

import jsonschema
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402

BUILD = harness.build_dir_from_argv()
SPEC_PATH = os.path.join(harness.TOP, "openapi.yaml")
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")
# The routes the frontend serves (frontend/route.c); the document must describe each, and the 405s' Allow headers
# and the 404's list of routes must agree with it.
ROUTES = {"/": {"GET", "HEAD"}, "/metrics": {"GET", "HEAD"}, "/dashboard": {"GET", "HEAD"},
          "/dashboard/stats": {"GET", "HEAD"}, "/task": {"POST"}, "/task/{id}": {"GET", "HEAD"},
          "/tasks": {"GET", "HEAD"}}
# Headers whose presence means something: an answer may carry them only where the document lists them.
SIGNIFICANT_HEADERS = ("allow", "location", "preference-applied", "retry-after", "www-authenticate", "traceparent")
TASK_ID = re.compile(r"^[0-9a-f]{32}$")


# ---- the document

class Spec:
    """openapi.yaml, its $ref resolution, and the checks of one answer against it."""

    def __init__(self, path):
        with open(path) as f:
            self.doc = yaml.safe_load(f)
        self.resolver = jsonschema.RefResolver(base_uri="", referrer=self.doc)
        self.exercised = set()   # (operation label, status) pairs some answer had

    def pointer(self, ref):
        if not ref.startswith("#/"):
            raise AssertionError(f"only local references are used, not {ref}")
        node = self.doc
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def deref(self, obj):
        """An OpenAPI object with its $ref followed (a Reference Object's own description/summary win)."""
        while isinstance(obj, dict) and "$ref" in obj:
            obj = {**self.pointer(obj["$ref"]), **{k: v for k, v in obj.items() if k != "$ref"}}
        return obj

    def errors(self, schema, instance):
        """The messages of every way 'instance' fails 'schema' (empty when it is valid)."""
        v = jsonschema.Draft202012Validator(schema, resolver=self.resolver)
        return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in v.iter_errors(instance)]

    def template(self, path):
        """The path template a concrete path matches, or None; with its path parameters."""
        path = path.split("?", 1)[0]
        for tpl in self.doc["paths"]:
            rx = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]*)", re.escape(tpl)) + "$"
            m = re.match(rx, path)
            if m:
                return tpl, m.groupdict()
        return None, {}

    def responses_for(self, method, path):
        """(label, responses) of what 'method path' goes to."""
        tpl, _ = self.template(path)
        if tpl is None:
            return "x-unmatched-route", self.doc["x-unmatched-route"]["responses"]
        item = self.doc["paths"][tpl]
        if method.lower() in item:
            return f"{method} {tpl}", item[method.lower()]["responses"]
        return f"{tpl} x-other-methods", item["x-other-methods"]["responses"]

    def operation(self, method, tpl):
        return self.doc["paths"][tpl][method.lower()]

    def parameter(self, method, tpl, name):
        """The schema of parameter 'name' of an operation (its own or its path item's)."""
        item = self.doc["paths"][tpl]
        for p in item.get("parameters", []) + item[method.lower()].get("parameters", []):
            p = self.deref(p)
            if p["name"].lower() == name.lower():
                return p["schema"]
        raise AssertionError(f"{method} {tpl} has no parameter {name}")

    def check(self, method, path, answer):
        """Validate one answer (status, headers, raw body) to 'method path'. Returns the parsed JSON body (None for an
        empty or non-JSON one); raises AssertionError naming what is wrong."""
        status, headers, raw = answer
        label, responses = self.responses_for(method, path)
        where = f"{method} {path} answered {status}"
        if str(status) not in responses:
            raise AssertionError(f"{where}, which {label} does not document (documented: {sorted(responses)}); "
                                 f"body {raw[:300]!r}")
        self.exercised.add((label, str(status)))
        resp = self.deref(responses[str(status)])
        documented = {name.lower(): self.deref(h) for name, h in resp.get("headers", {}).items()}
        for name, h in documented.items():
            value = headers.get(name)
            if value is None:
                if h.get("required"):
                    raise AssertionError(f"{where} without its required header {name}")
                continue
            errs = self.errors(h["schema"], coerce(value, h["schema"]))
            if errs:
                raise AssertionError(f"{where} with header {name}: {value!r}: {errs}")
        for name in SIGNIFICANT_HEADERS:
            if name in headers and name not in documented:
                raise AssertionError(f"{where} with header {name}: {headers[name]!r}, not documented for it")
        content = resp.get("content")
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if method == "HEAD":
            if raw:
                raise AssertionError(f"{where} with a body to HEAD: {raw[:200]!r}")
            return None
        if not content:
            if raw:
                raise AssertionError(f"{where} with a body where none is documented: {raw[:200]!r}")
            return None
        if "application/json" not in content:
            if not resp.get("x-non-json"):
                raise AssertionError(f"{where}: the document gives neither a JSON schema nor x-non-json")
            if ctype == "application/json":
                raise AssertionError(f"{where} with a JSON body where the document says non-JSON: {raw[:200]!r}")
            return None
        if ctype != "application/json":
            raise AssertionError(f"{where} with Content-Type {ctype!r}, not application/json: {raw[:200]!r}")
        try:
            body = strict_json(raw)
        except ValueError as e:
            raise AssertionError(f"{where} with a body that is not JSON ({e}): {raw[:200]!r}")
        errs = self.errors(content["application/json"]["schema"], body)
        if errs:
            raise AssertionError(f"{where} with a body that does not match the document: {errs}\n{body}")
        return body


def coerce(value, schema):
    """A header or query value (text) as the type its schema names, when it reads as one (else the text, which the
    schema then refuses)."""
    schema_type = schema.get("type")
    if schema_type in ("integer", "number"):
        try:
            return int(value) if schema_type == "integer" else float(value)
        except ValueError:
            return value
    return value


def parse_time(text):
    """A Timestamp ("2026-12-01T20:41:00.123Z") as a datetime."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def strict_json(raw):
    """Parse a JSON text as the frontend would accept it: UTF-8, no duplicate keys, no NaN / Infinity."""
    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            raise ValueError("duplicate key")
        return dict(pairs)

    def no_constant(name):
        raise ValueError(f"{name} is not JSON")
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    return json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constant)


SPEC = Spec(SPEC_PATH)


# ---- HTTP with headers both ways

def request(port, method, path, body=None, headers=None, timeout=30, chunks=None):
    """One request on its own connection: (status, lower-cased response headers, raw body bytes). 'body' is str or
    bytes; 'chunks' (a list of bytes) sends the body with chunked transfer encoding instead."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        hdrs = dict(headers or {})
        if body is not None or chunks is not None:
            hdrs.setdefault("Content-Type", "application/json")
        if chunks is not None:
            conn.request(method, path, body=iter(chunks), headers=hdrs, encode_chunked=True)
        else:
            conn.request(method, path, body=body.encode() if isinstance(body, str) else body, headers=hdrs)
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, raw
    finally:
        conn.close()


def raw_request(port, data, timeout=10):
    """Send 'data' (a whole request, bytes) on a new connection and read one answer: (status, lower-cased headers,
    body; none to HEAD). For answers after which the server closes a connection it has not read to the end: the
    close is then a reset, which is fine once the whole answer (by its Content-Length) has arrived."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        got = b""
        try:
            s.sendall(data)
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        except ConnectionResetError:
            pass
    head, sep, body = got.partition(b"\r\n\r\n")
    if not sep:
        raise ConnectionError(f"no complete answer before the connection closed: {got[:200]!r}")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = 0 if data.startswith(b"HEAD ") else int(headers.get("content-length", len(body)))
    if len(body) < length:
        raise ConnectionError(f"the answer was cut after {len(body)} of {length} bytes: {got[:200]!r}")
    return status, headers, body[:length]


class SpecTest(unittest.TestCase):
    """Helpers shared by the stacks' tests: each call sends one request and validates its answer."""
    port = None

    def call(self, method, path, body=None, headers=None, expect=None, **kw):
        """Send, validate against the document, and (with 'expect') check the status. Returns (status, headers,
        parsed JSON body or None)."""
        answer = request(self.port, method, path, body, headers, **kw)
        try:
            parsed = SPEC.check(method, path, answer)
        except AssertionError as e:
            raise self.failureException(str(e)) from None
        if expect is not None:
            self.assertEqual(answer[0], expect, f"{method} {path}: {answer[2][:300]!r}")
        return answer[0], answer[1], parsed

    def post(self, body, expect=None, headers=None):
        """POST /task; also checks the request against the TaskBody schema: a body answered 400 (without a bad
        Idempotency-Key) must be one the schema refuses, any other must be valid."""
        status, hdrs, reply = self.call("POST", "/task", body, headers, expect)
        raw = body.encode() if isinstance(body, str) else body
        schema = SPEC.operation("POST", "/task")["requestBody"]["content"]["application/json"]["schema"]
        try:
            errs = SPEC.errors(schema, strict_json(raw))
        except ValueError as e:      # not JSON (or not UTF-8) at all
            errs = [str(e)]
        refused_body = status == 400 and not reply["error"].startswith("Idempotency-Key")
        if refused_body and not errs:
            self.fail(f"the frontend refused {raw!r} ({reply['error']}) but the TaskBody schema accepts it")
        if status != 400 and errs:
            self.fail(f"the frontend accepted {raw!r} (status {status}) but the TaskBody schema refuses it: {errs}")
        return status, hdrs, reply

    def assert_param(self, method, tpl, name, value, valid):
        errs = SPEC.errors(SPEC.parameter(method, tpl, name), coerce(value, SPEC.parameter(method, tpl, name)))
        if valid and errs:
            self.fail(f"the frontend takes {name}={value!r} on {method} {tpl}, the document refuses it: {errs}")
        if not valid and not errs:
            self.fail(f"the frontend refuses {name}={value!r} on {method} {tpl}, the document accepts it")

    def task(self, task_id, expect=200):
        """GET /task/{id} (validated), plus HEAD with the same status; returns the body."""
        status, _, view = self.call("GET", f"/task/{task_id}", expect=expect)
        self.assert_param("GET", "/task/{id}", "id", task_id, valid=status != 400)
        self.call("HEAD", f"/task/{task_id}", expect=expect)
        if status == 200:
            self.check_view(view, task_id)
        return view

    def check_view(self, view, task_id):
        """What the schema cannot say about a TaskView: it is this task's, its records are in seq order and agree
        with its state."""
        self.assertEqual(view["id"], task_id)
        history = view["history"]
        self.assertTrue(all(r["task"] == task_id for r in history), history)
        seqs = [r["seq"] for r in history]
        self.assertEqual(seqs, sorted(seqs), "history is not in seq order")
        self.assertEqual(history[0]["type"], "received")
        self.assertEqual(history[0]["taskType"], view["taskType"])
        self.assertLessEqual(parse_time(view["created"]), parse_time(history[0]["at"]["$date"]),
                             "created after its first record")
        outcome = [r for r in history if r["type"] in ("completed", "failed")]
        if view["status"] in ("completed", "failed"):
            self.assertEqual(len(outcome), 1, history)
            self.assertEqual(outcome[0]["type"], view["status"])
            if view["status"] == "completed":
                self.assertEqual(outcome[0]["result"], view["result"])
            else:
                self.assertEqual((outcome[0]["error"], outcome[0]["status"]), (view["error"], view["code"]))
        else:
            self.assertEqual(outcome, [], f"{view['status']} task with an outcome record")

    def wait_status(self, task_id, statuses, timeout=15):
        return harness.wait_until(f"task {task_id} to be {statuses}",
                                  lambda: (lambda v: v if v["status"] in statuses else None)(
                                      self.call("GET", f"/task/{task_id}", expect=200)[2]), timeout)

    def tasks(self, query="", expect=200):
        """GET /tasks?query (validated), plus HEAD; returns the body."""
        path = "/tasks" + (f"?{query}" if query else "")
        _, _, page = self.call("GET", path, expect=expect)
        self.call("HEAD", path, expect=expect)
        return page


# ---- the document alone

class Document(unittest.TestCase):
    def test_openapi_3_1_and_every_schema_is_valid(self):
        self.assertEqual(SPEC.doc["openapi"], "3.1.0")
        for name in ("title", "version"):
            self.assertIn(name, SPEC.doc["info"])
        for name, schema in SPEC.doc["components"]["schemas"].items():
            with self.subTest(schema=name):
                jsonschema.Draft202012Validator.check_schema(schema)

    def test_every_reference_resolves(self):
        def walk(node, where):
            if isinstance(node, dict):
                if "$ref" in node:
                    try:
                        SPEC.pointer(node["$ref"])
                    except (KeyError, TypeError) as e:
                        self.fail(f"{where}: $ref {node['$ref']} does not resolve ({e})")
                for k, v in node.items():
                    walk(v, f"{where}/{k}")
            elif isinstance(node, list):
                for i, v in enumerate(node):
                    walk(v, f"{where}/{i}")
        walk(SPEC.doc, "#")

    def test_every_route_is_documented_and_nothing_else(self):
        documented = {tpl: {m.upper() for m in item if m.upper() in METHODS}
                      for tpl, item in SPEC.doc["paths"].items()}
        self.assertEqual(documented, ROUTES)
        for tpl in ROUTES:
            self.assertIn("405", SPEC.doc["paths"][tpl]["x-other-methods"]["responses"], tpl)
        self.assertIn("404", SPEC.doc["x-unmatched-route"]["responses"])

    def test_parameters_are_well_formed(self):
        ids = set()
        for tpl, item in SPEC.doc["paths"].items():
            for m, op in item.items():
                if m.upper() not in METHODS:
                    continue
                with self.subTest(operation=f"{m.upper()} {tpl}"):
                    self.assertNotIn(op.get("operationId"), ids, "operationIds are unique")
                    ids.add(op.get("operationId"))
                    params = [SPEC.deref(p) for p in item.get("parameters", []) + op.get("parameters", [])]
                    for p in params:
                        self.assertIn(p["in"], ("path", "query", "header"))
                        jsonschema.Draft202012Validator.check_schema(p["schema"])
                    in_path = {p["name"] for p in params if p["in"] == "path"}
                    self.assertEqual(in_path, set(re.findall(r"\{(\w+)\}", tpl)))
                    self.assertTrue(all(p.get("required") for p in params if p["in"] == "path"))
                    self.assertEqual("requestBody" in op, m == "post", "only POST /task takes a body")

    def test_every_response_has_a_schema_or_is_documented_as_non_json(self):
        def responses():
            for tpl, item in SPEC.doc["paths"].items():
                for m, op in item.items():
                    if m.upper() in METHODS:
                        yield f"{m.upper()} {tpl}", m.upper(), op["responses"]
                yield f"{tpl} x-other-methods", None, item["x-other-methods"]["responses"]
            yield "x-unmatched-route", None, SPEC.doc["x-unmatched-route"]["responses"]
        for label, method, resps in responses():
            for status, resp in resps.items():
                with self.subTest(operation=label, status=status):
                    self.assertRegex(status, r"^[1-5][0-9][0-9]$")
                    resp = SPEC.deref(resp)
                    self.assertTrue(resp.get("description"), "every response has a description")
                    content = resp.get("content")
                    if method == "HEAD":
                        self.assertTrue(not content or resp.get("x-non-json"), "a HEAD answer has no body")
                        continue
                    self.assertTrue(content, "no content documented")
                    if "application/json" in content:
                        jsonschema.Draft202012Validator.check_schema(content["application/json"]["schema"])
                    else:
                        self.assertTrue(resp.get("x-non-json"), f"non-JSON {list(content)} without x-non-json")
                    if status == "503":
                        self.assertIn("Retry-After", resp.get("headers", {}))
                    if status == "405":
                        self.assertIn("Allow", resp.get("headers", {}))

    def test_schemas_are_strict(self):
        """A few wrong answers the schemas must catch."""
        s = lambda name: {"$ref": f"#/components/schemas/{name}"}  # noqa: E731
        bad = [("Failure", {"message": "FAIL"}), ("Failure", {"message": "OK", "error": "x"}),
               ("Failure", {"message": "FAIL", "error": "x", "extra": 1}),
               ("Result", {"message": "OK", "result": 15, "id": "1-2"}),
               ("Accepted", {"message": "Accepted", "id": "1-2", "status": "queued"}),
               ("TaskView", {"message": "OK", "id": "1-2", "status": "completed", "taskType": "NUMBER",
                             "created": "2026-12-01T20:41:00.123Z", "history": [], "error": "x"}),
               ("TaskSummary", {"id": "1-2", "status": "failed", "taskType": "NUMBER",
                                "created": "2026-12-01T20:41:00.123Z", "error": "division by zero"}),
               ("TaskList", {"message": "OK", "tasks": []}),
               ("HistoryRecord", {"_id": "1-2:0", "task": "1-2", "seq": 0, "type": "received",
                                  "at": {"$date": "2026-12-01T20:41:00.123Z"}, "events": "events-1"}),
               ("HistoryRecord", {"_id": "1-2:outcome", "task": "1-2", "seq": 1, "type": "done",
                                  "at": {"$date": "2026-12-01T20:41:00.123Z"}, "events": "events-1"})]
        for name, instance in bad:
            with self.subTest(schema=name, instance=instance):
                self.assertTrue(SPEC.errors(s(name), instance), "the schema accepts it")
        good = [("TaskSummary", {"id": "1-2", "status": "failed", "taskType": "NUMBER", "service": "arithmetic",
                                 "created": "2026-12-01T20:41:00.123Z", "error": "division by zero", "code": 422}),
                ("TaskList", {"message": "OK", "tasks": [], "next": None})]
        for name, instance in good:
            with self.subTest(schema=name, instance=instance):
                self.assertEqual(SPEC.errors(s(name), instance), [])


# ---- a whole stack

BAD_BODIES = [
    "xx", '{"a1":1,"a2":2}xyz', "[1,2]", '"s"', "42", '{"a1":1}', '{"a1":1,"a2":2,"a3":3}', "{}",
    '{"a1":1,"a2":"x"}', '{"x1":1,"x2":2}', '{"a1":1,"s2":2}', '{"A1":1,"A2":2}', '{"a1":true,"a2":1}',
    '{"a1":1,"a2":null}', '{"a1":[1],"a2":1}', '{"a1":{},"a2":1}', '{"a1":1e400,"a2":1}', "", "  \n",
    '{"a1":1,"a1":2}', '{"a1":"x\\u0000","a2":"y"}', b'{"a1":"\xff","a2":"y"}',
]


class Full(SpecTest, harness.StackTest):
    STACK = dict(env={"MAX_BODY": "1024"})

    def test_health(self):
        self.assertEqual(self.call("GET", "/", expect=200)[2], {"message": "OK"})
        self.call("HEAD", "/", expect=200)

    def test_post_200(self):
        for body, result in [('{"a1": 5, "a2": 10}', "15"), ('{"s1": 4, "s2": 7}', "-3"), ('{"m1": 4, "m2": 7}', "28"),
                             ('{"d1": 4, "d2": 7}', "0.5714285714285714"), ('{"a1": "a", "a2": "b"}', "ab"),
                             ('{"x": "any", "y": "keys"}', "anykeys"), ('{"s2": 10, "s1": 4}', "6")]:
            with self.subTest(body=body):
                _, _, reply = self.post(body, expect=200)
                self.assertEqual(reply["result"], result)
                self.assertRegex(reply["id"], TASK_ID)

    def test_post_400_bad_bodies(self):
        for body in BAD_BODIES:
            with self.subTest(body=body):
                self.post(body, expect=400)

    def test_post_400_bad_idempotency_key(self):
        for key in ("has space", "x" * 129, "caf\u00e9".encode().decode("latin-1")):
            with self.subTest(key=key):
                _, _, reply = self.post('{"a1": 1, "a2": 2}', expect=400, headers={"Idempotency-Key": key})
                self.assertTrue(reply["error"].startswith("Idempotency-Key"), reply)
                self.assert_param("POST", "/task", "Idempotency-Key", key, valid=False)

    def test_post_422(self):
        _, _, reply = self.post('{"d1": 1, "d2": 0}', expect=422)
        self.assertEqual(reply["error"], "division by zero")
        view = self.task(reply["id"])
        self.assertEqual((view["status"], view["code"], view["error"]), ("failed", 422, "division by zero"))
        self.assertNotIn("result", view)
        self.post('{"m1": 1e308, "m2": 10}', expect=422)

    def test_idempotency_key_replay_and_422(self):
        key = f"openapi-{os.getpid()}-{time.monotonic_ns()}"
        self.assert_param("POST", "/task", "Idempotency-Key", key, valid=True)
        first = self.post('{"a1": 2, "a2": 3}', expect=200, headers={"Idempotency-Key": key})[2]
        again = self.post('{"a1": 2, "a2": 3}', expect=200, headers={"Idempotency-Key": key})[2]
        self.assertEqual((again["id"], again["result"]), (first["id"], "5"))
        other = self.post('{"a1": 2, "a2": 4}', expect=422, headers={"Idempotency-Key": key})[2]
        self.assertEqual(other["message"], "FAIL")

    def test_post_413(self):
        big = '{"a1":"' + "x" * 2000 + '","a2":"y"}'
        _, _, reply = self.call("POST", "/task", big, expect=413)            # announced by Content-Length
        self.assertEqual(reply["error"], "body is larger than 1024 bytes")
        chunks = [big[i:i + 500].encode() for i in range(0, len(big), 500)]
        _, _, reply = self.call("POST", "/task", chunks=chunks, expect=413)  # found while reading a chunked body
        self.assertEqual(reply["error"], "body is larger than 1024 bytes")

    def test_431_is_libmicrohttpd_html(self):
        body = b'{"a1": 1, "a2": 2}'
        for method, path in (("GET", "/"), ("HEAD", "/"), ("POST", "/task"), ("GET", "/task/abc-1"),
                             ("HEAD", "/task/abc-1"), ("GET", "/tasks"), ("HEAD", "/tasks"), ("DELETE", "/"),
                             ("GET", "/task"), ("DELETE", "/task/abc-1"), ("PUT", "/tasks"), ("GET", "/nope")):
            with self.subTest(route=f"{method} {path}"):
                data = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Filler: {'x' * 6000}\r\n"
                        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
                answer = raw_request(self.port, data)
                self.assertEqual(answer[0], 431, answer)
                SPEC.check(method, path, answer)

    def test_metrics(self):
        _, headers, _ = self.call("GET", "/metrics", expect=200)
        self.assertTrue(headers["content-type"].startswith("text/plain; version=0.0.4"), headers)
        self.call("HEAD", "/metrics", expect=200)

    def test_dashboard(self):
        _, headers, _ = self.call("GET", "/dashboard", expect=200)
        self.assertEqual(headers["content-type"], "text/html; charset=utf-8")
        self.call("HEAD", "/dashboard", expect=200)
        # Every replica writes its snapshot within a second of its start.
        harness.wait_until("every daemon's snapshot", lambda: {"frontend", "events", "backend"} <= {
            r["daemon"] for r in self.call("GET", "/dashboard/stats", expect=200)[2]["replicas"]}, 10)
        self.call("HEAD", "/dashboard/stats", expect=200)

    def test_404_unknown_routes(self):
        for method, path in (("GET", "/nope"), ("POST", "/tasks/1"), ("DELETE", "/x")):
            with self.subTest(route=f"{method} {path}"):
                status, _, reply = self.call(method, path)
                if SPEC.template(path)[0] is None:
                    self.assertEqual(status, 404)
                    self.assertIn(f"no route for {method} {path}", reply["error"])
        # The routes the 404 names are the documented ones.
        reply = self.call("GET", "/nope", expect=404)[2]
        named = re.search(r"\(routes: (.*)\)$", reply["error"])
        if named:
            for route in named.group(1).split(", "):
                method, tpl = route.split(" ", 1)
                self.assertIn(method.lower(), SPEC.doc["paths"].get(tpl, {}), f"{route} is not documented")

    def test_405_with_allow_matching_the_document(self):
        for tpl, methods in ROUTES.items():
            path = tpl.replace("{id}", "abc-1")
            for method in METHODS:
                if method in methods:
                    continue
                with self.subTest(route=f"{method} {path}"):
                    _, headers, reply = self.call(method, path, expect=405)
                    self.assertEqual({m.strip() for m in headers["allow"].split(",")}, methods)
                    if method != "HEAD":
                        self.assertEqual(reply["error"],
                                         f"method {method} is not allowed on {path} (allowed: {headers['allow']})")

    def test_202_then_get(self):
        status, headers, accepted = self.post('{"m1": 6, "m2": 7}', headers={"Prefer": "respond-async"},
                                              expect=202)
        self.assertRegex(accepted["id"], TASK_ID)
        self.assertEqual(headers["location"], f"/task/{accepted['id']}")
        # The 202 leaves once the received record is stored and projected: a GET right after it finds the task.
        view = self.task(accepted["id"])
        self.assertIn(view["status"], ("pending", "running", "completed"))
        view = self.wait_status(accepted["id"], ("completed",))
        self.check_view(view, accepted["id"])
        self.assertEqual((view["result"], view["taskType"], view["service"]), ("42", "NUMBER", "arithmetic"))
        # A bad body is refused the same way with or without the preference.
        self.post('{"m1": 6}', headers={"Prefer": "respond-async"}, expect=400)
        # Preferences are a list (RFC 7240), any case.
        self.post('{"m1": 2, "m2": 3}', headers={"Prefer": "wait=5, Respond-Async"}, expect=202)
        # Without the preference nothing changes.
        self.post('{"m1": 6, "m2": 7}', headers={"Prefer": "return=minimal"}, expect=200)

    def test_get_task(self):
        _, _, reply = self.post('{"a1": "tas", "a2": "kbus"}', expect=200)
        view = self.task(reply["id"])
        self.assertEqual((view["status"], view["result"], view["taskType"], view["service"]),
                         ("completed", "taskbus", "STRING", "string"))
        self.assertEqual(view["history"][0]["request"], '{"a1": "tas", "a2": "kbus"}')

    def test_get_task_400_and_404(self):
        for bad in ("bad.id", "x" * 40, "a_b", ""):
            with self.subTest(id=bad):
                self.task(bad, expect=400)
        for unknown in ("0000000000000000-000000000000", "Z", "x" * 39):
            with self.subTest(id=unknown):
                view = self.task(unknown, expect=404)
                self.assertEqual(view, {"message": "FAIL", "error": "no task with this id is in the log",
                                        "id": unknown})

    def test_list_tasks(self):
        mine = {self.post('{"a1": 1, "a2": %d}' % i, expect=200)[2]["id"] for i in range(3)}
        failed = self.post('{"d1": 1, "d2": 0}', expect=422)[2]["id"]
        self.post('{"a1": "x", "a2": "y"}', expect=200)
        page = self.tasks()
        self.assertLessEqual(len(page["tasks"]), 20)
        created = [t["created"] for t in page["tasks"]]
        self.assertEqual(created, sorted(created, reverse=True), "not newest first")
        # Page through everything two at a time: every task once, newest first, until next is null.
        seen, after, pages = [], None, 0
        while True:
            page = self.tasks(urllib.parse.urlencode({"limit": 2, **({"after": after} if after else {})}))
            self.assertLessEqual(len(page["tasks"]), 2)
            seen += page["tasks"]
            pages += 1
            after = page["next"]
            if after is None:
                break
            self.assert_param("GET", "/tasks", "after", after, valid=True)
            self.assertLess(pages, 200, "paging does not end")
        ids = [t["id"] for t in seen]
        self.assertEqual(len(ids), len(set(ids)), "a task on two pages")
        self.assertTrue(mine | {failed} <= set(ids), "a task posted here is not listed")
        self.assertEqual([t["created"] for t in seen], sorted((t["created"] for t in seen), reverse=True))
        # Filters.
        for query, keep in [("status=completed", lambda t: t["status"] == "completed"),
                            ("status=failed", lambda t: t["status"] == "failed"),
                            ("service=arithmetic", lambda t: t.get("service") == "arithmetic"),
                            ("service=string&status=completed",
                             lambda t: t.get("service") == "string" and t["status"] == "completed"),
                            ("status=pending", lambda t: t["status"] == "pending"),
                            ("service=nosuchservice", lambda t: False),
                            ("limit=100", lambda t: True), ("limit=1", lambda t: True)]:
            with self.subTest(query=query):
                for name, value in (kv.split("=") for kv in query.split("&")):
                    self.assert_param("GET", "/tasks", name, value, valid=True)
                tasks = self.tasks(query)["tasks"]
                self.assertTrue(all(keep(t) for t in tasks), tasks)
        failed_view = [t for t in self.tasks("status=failed&limit=100")["tasks"] if t["id"] == failed]
        self.assertEqual([(t["code"], t["error"]) for t in failed_view], [(422, "division by zero")])
        # A task's summary in the list says what GET /task/{id} says.
        for summary in (t for t in seen if t["id"] in mine | {failed}):
            view = self.task(summary["id"])
            self.assertEqual(summary, {k: v for k, v in view.items() if k not in ("message", "history")})

    def test_reads_under_concurrency(self):
        """Reads in flight while the frontend refreshes its registry view (every HEARTBEAT_MS, 200 ms here) still get
        documented answers: a dropped connection is none."""
        task_id = self.post('{"a1": 1, "a2": 2}', expect=200)[2]["id"]
        deadline, failures, count = time.monotonic() + 4, [], [0]

        def reader(path):
            while time.monotonic() < deadline and not failures:
                try:
                    SPEC.check("GET", path, request(self.port, "GET", path, timeout=10))
                    count[0] += 1
                except Exception as e:  # noqa: BLE001 (a reset or a refused connection is what is looked for)
                    failures.append(f"GET {path}: {type(e).__name__}: {e}")
        threads = [threading.Thread(target=reader, args=(p,)) for p in ("/tasks", f"/task/{task_id}") * 3]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(failures[:3], [], f"after {count[0]} good answers")

    def test_list_tasks_400(self):
        for name, value in [("status", "bogus"), ("status", "COMPLETED"), ("limit", "0"), ("limit", "101"),
                            ("limit", "x"), ("limit", "-1"), ("service", "bad%2Fname"), ("service", "s" * 64)]:
            with self.subTest(query=f"{name}={value}"):
                self.tasks(f"{name}={value}", expect=400)
                self.assert_param("GET", "/tasks", name, value.replace("%2F", "/"), valid=False)
        for cursor in ("garbage", "1:2:3", "x" * 200):       # opaque to the document, so only the status is checked
            with self.subTest(after=cursor):
                self.tasks(f"after={cursor}", expect=400)


# ---- a stack without backends, and a task map without STRING

class Degraded(SpecTest):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        maps = os.path.join(cls.tmp.name, "task-maps.json")
        with open(maps, "w") as f:
            json.dump({"NUMBER": "arithmetic"}, f)
        cls.stack = harness.Stack(BUILD, backends={}, env={"TASK_MAPS": maps, "TASK_TIMEOUT_MS": "1500",
                                                            "MAX_IN_FLIGHT": "2"}).start()
        cls.port = cls.stack.frontend_ports[0]

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()
        cls.tmp.cleanup()

    def test_500_no_route(self):
        _, _, reply = self.post('{"a1": "x", "a2": "y"}', expect=500)
        self.assertEqual(reply["error"], "task type STRING has no route in the task map")
        view = self.task(reply["id"])
        self.assertEqual((view["status"], view["code"], view["taskType"]), ("failed", 500, "STRING"))
        self.assertNotIn("service", view)
        self.assertTrue(any(t["id"] == reply["id"] and "service" not in t
                            for t in self.tasks("status=failed&limit=100")["tasks"]))

    def test_504_from_events(self):
        _, _, reply = self.post('{"a1": 1, "a2": 2}', expect=504)
        self.assertEqual(reply["error"], "no live replica of service 'arithmetic' answered in time")
        view = self.task(reply["id"])
        self.assertEqual((view["status"], view["code"], view["service"]), ("failed", 504, "arithmetic"))

    def test_503_past_max_in_flight(self):
        results = []
        waiting = [threading.Thread(target=lambda: results.append(request(self.port, "POST", "/task",
                                                                          '{"a1": 1, "a2": 2}')))
                   for _ in range(2)]
        for t in waiting:
            t.start()
        try:
            harness.wait_until("two tasks in flight", lambda: request(self.port, "GET", "/")[0] == 503, 5)
            _, _, reply = self.call("GET", "/", expect=503)
            self.assertEqual(reply["error"], "too many requests in flight; retry later")
            self.call("HEAD", "/", expect=503)
            self.post('{"a1": 1, "a2": 1}', expect=503)
            self.post('{"a1": 1, "a2": 1}', headers={"Prefer": "respond-async"}, expect=503)
            self.call("GET", "/task/abc-1", expect=503)
            self.call("GET", "/tasks")       # 200 or 503: both are documented
        finally:
            for t in waiting:
                t.join()
        for answer in results:
            SPEC.check("POST", "/task", answer)
            self.assertEqual(answer[0], 504)

    def test_202_of_a_task_that_waits(self):
        _, headers, accepted = self.post('{"s1": 3, "s2": 1}', headers={"Prefer": "respond-async"}, expect=202)
        self.assertEqual(accepted["status"], "pending")
        self.assertEqual(headers["location"], f"/task/{accepted['id']}")
        view = self.task(accepted["id"])
        self.assertEqual(view["status"], "pending")
        self.assertTrue(any(t["id"] == accepted["id"] for t in self.tasks("status=pending&service=arithmetic")
                            ["tasks"]))
        view = self.wait_status(accepted["id"], ("failed",))
        self.check_view(view, accepted["id"])
        self.assertEqual(view["code"], 504)


# ---- a frontend whose only events replica never answers, then none at all

class SilentEvents:
    """Registers as an events replica (a heartbeat in taskbus:replicas:events) and subscribes to its channel, so the
    frontend's publishes reach it; it never answers. close() leaves the registry."""

    def __init__(self, stack):
        self.id = f"events-silent-{os.getpid()}"
        self.sub = stack.redis("events")   # as the events user when the stack runs with auth
        self.sub.command("SUBSCRIBE", f"taskbus:{self.id}")
        self.channel = f"taskbus:{self.id}"
        self.beat_conn = stack.redis("events")
        self.stopping = threading.Event()
        self.beat()
        self.thread = threading.Thread(target=self.heartbeat, daemon=True)
        self.thread.start()

    def beat(self):
        self.beat_conn.command("ZADD", "taskbus:replicas:events", int(time.time() * 1000) + 1000, self.id)

    def received(self):
        """How many messages were published to it so far (read from its subscription without waiting)."""
        self.sub.sock.setblocking(False)
        try:
            while True:
                chunk = self.sub.sock.recv(65536)
                if not chunk:
                    break
                self.sub.buf += chunk
        except BlockingIOError:
            pass
        finally:
            self.sub.sock.settimeout(10)
        return self.sub.buf.count(b"$7\r\nmessage\r\n")

    def heartbeat(self):
        while not self.stopping.wait(0.1):
            self.beat()

    def close(self):
        if not self.stopping.is_set():
            self.stopping.set()
            self.thread.join()
            self.beat_conn.command("ZREM", "taskbus:replicas:events", self.id)
            self.beat_conn.close()
            self.sub.close()


class Silent(SpecTest):
    TIMEOUT_MS = 1000

    @classmethod
    def setUpClass(cls):
        cls.stack = harness.Stack(BUILD, events=0, backends={})
        cls.stack.mongo_uri = "mongodb://127.0.0.1:1/unused"   # the frontend never opens the store
        cls.fake = None
        try:
            cls.stack.start_redis()
            cls.stack.start_frontend(TASK_TIMEOUT_MS=cls.TIMEOUT_MS)
            cls.port = cls.stack.frontend_ports[0]
            cls.fake = SilentEvents(cls.stack)
            harness.wait_until("GET / to answer 200", lambda: request(cls.port, "GET", "/")[0] == 200, 10)
        except Exception:
            if cls.fake:
                cls.fake.close()
            cls.stack.stop(check=False)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.fake.close()
        cls.stack.stop()

    def test_1_frontend_504(self):
        _, _, reply = self.post('{"a1": 1, "a2": 2}', expect=504)
        self.assertRegex(reply["id"], TASK_ID)
        self.assertEqual(reply["error"], f"no answer within {self.TIMEOUT_MS} ms; the task may still complete: "
                                         f"GET /task/{reply['id']} shows its outcome")
        _, _, reply = self.call("GET", "/task/abc-1", expect=504)
        self.assertEqual(reply, {"message": "FAIL", "error": f"no answer within {self.TIMEOUT_MS} ms", "id": "abc-1"})
        self.call("HEAD", "/task/abc-1", expect=504)
        self.call("GET", "/tasks")            # from Redis (200), or through events (504): both documented

    def test_2_no_events_replica_503(self):
        self.fake.close()
        harness.wait_until("GET / to answer 503", lambda: request(self.port, "GET", "/")[0] == 503, 10)
        _, _, reply = self.call("GET", "/", expect=503)
        self.assertEqual(reply["error"], "no events replica is alive")
        self.call("HEAD", "/", expect=503)
        self.post('{"a1": 1, "a2": 2}', expect=503)
        self.post('{"a1": 1, "a2": 2}', headers={"Prefer": "respond-async"}, expect=503)
        self.call("GET", "/task/abc-1", expect=503)
        self.call("HEAD", "/task/abc-1", expect=503)
        self.call("GET", "/tasks")

    def test_3_shutting_down_503_on_every_route(self):
        """After SIGTERM, with a request still in flight, a frontend answers every new request on any route 503 with
        Connection: close (then the request in flight too, after SHUTDOWN_GRACE_MS), and exits 0."""
        fake = SilentEvents(self.stack)
        self.addCleanup(fake.close)
        proc = self.stack.start_frontend(TASK_TIMEOUT_MS=20000, SHUTDOWN_GRACE_MS=2000)
        port = self.stack.frontend_ports[-1]
        harness.wait_until("GET / to answer 200", lambda: request(port, "GET", "/")[0] == 200, 10)
        me = self.stack.replica_id(proc)
        routes = [("GET", "/"), ("HEAD", "/"), ("POST", "/task"), ("GET", "/task/abc-1"), ("HEAD", "/task/abc-1"),
                  ("GET", "/tasks"), ("HEAD", "/tasks"), ("DELETE", "/"), ("GET", "/task"), ("PUT", "/tasks"),
                  ("DELETE", "/task/abc-1"), ("GET", "/nope")]
        conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in range(len(routes) + 1)]
        for c in conns:
            self.addCleanup(c.close)
            self.assertEqual(SPEC.check("GET", "/", exchange(c, "GET", "/")), {"message": "OK"})  # kept open
        conns[0].request("POST", "/task", '{"a1": 1, "a2": 2}', {"Content-Type": "application/json"})
        harness.wait_until("the task to reach the events replica", lambda: fake.received() >= 1, 10)
        proc.p.send_signal(signal.SIGTERM)
        harness.wait_until("the frontend to leave the registry", lambda: me not in self.stack.replica_ids("frontend"))
        for conn, (method, path) in zip(conns[1:], routes):
            with self.subTest(route=f"{method} {path}"):
                answer = exchange(conn, method, path, '{"a1": 1, "a2": 2}' if method == "POST" else None)
                reply = SPEC.check(method, path, answer)
                self.assertEqual((answer[0], answer[1].get("connection")), (503, "close"))
                if method != "HEAD":
                    self.assertEqual(reply["error"], "the frontend is shutting down")
        resp = conns[0].getresponse()
        answer = resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        reply = SPEC.check("POST", "/task", answer)
        self.assertEqual((answer[0], reply["error"]), (503, "the frontend is shutting down"))
        self.assertEqual(proc.p.wait(15), 0, proc.tail())

    def test_4_reads_504_while_redis_is_frozen(self):
        """The read side's own deadline: GET /tasks and GET /task/{id} read the projection in Redis; a Redis that
        does not answer (frozen, while the bus watchdog, at two heartbeats of 5 s, has not given up yet) gets 504."""
        proc = self.stack.start_frontend(TASK_TIMEOUT_MS=1000, HEARTBEAT_MS=5000)
        port = self.stack.frontend_ports[-1]
        harness.wait_until("GET /tasks to answer 200", lambda: request(port, "GET", "/tasks")[0] == 200, 10)
        redis = next(p for p in self.stack.servers if p.name == "redis")
        redis.freeze()
        try:
            for method, path in (("GET", "/tasks"), ("HEAD", "/tasks?limit=5"), ("GET", "/task/abc-1")):
                with self.subTest(route=f"{method} {path}"):
                    answer = request(port, method, path)
                    reply = SPEC.check(method, path, answer)
                    self.assertEqual(answer[0], 504, answer)
                    if method == "GET":
                        self.assertEqual(reply["error"], "no answer within 1000 ms")
        finally:
            redis.thaw()
        harness.wait_until("GET /tasks to answer 200 again", lambda: request(port, "GET", "/tasks")[0] == 200, 20)
        self.stack.stop_daemon(proc)


class Tokens(SpecTest):
    TOKEN = "openapi-test.token_1"

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="taskbus-openapi-")
        path = os.path.join(cls.dir, "tokens")
        with open(path, "w") as f:
            f.write(f"# the test's token\n{cls.TOKEN}\n")
        cls.stack = harness.Stack(BUILD, events=0, backends={})
        cls.stack.mongo_uri = "mongodb://127.0.0.1:1/unused"   # the frontend never opens the store
        try:
            cls.stack.start_redis()
            cls.stack.start_frontend(API_TOKENS_FILE=path)
            cls.port = cls.stack.frontend_ports[0]
            harness.wait_until("GET / to answer", lambda: request(cls.port, "GET", "/")[0] in (200, 503), 10)
        except Exception:
            cls.stack.stop(check=False)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_document_security(self):
        self.assertEqual(SPEC.doc["security"], [{"bearerAuth": []}])
        self.assertEqual(SPEC.doc["components"]["securitySchemes"]["bearerAuth"]["scheme"], "bearer")
        for tpl, item in SPEC.doc["paths"].items():
            for m, op in item.items():
                if m.upper() not in METHODS:
                    continue
                with self.subTest(operation=f"{m.upper()} {tpl}"):
                    if tpl in ("/", "/metrics", "/dashboard"):
                        self.assertEqual(op.get("security"), [])
                        self.assertNotIn("401", op["responses"])
                    else:
                        self.assertNotIn("security", op)
                        self.assertIn("401", op["responses"])
            self.assertIn("401", item["x-other-methods"]["responses"], tpl)
        self.assertIn("401", SPEC.doc["x-unmatched-route"]["responses"])

    def test_401_on_every_route_but_health(self):
        routes = [("POST", "/task"), ("GET", "/task/abc-1"), ("HEAD", "/task/abc-1"), ("GET", "/tasks"),
                  ("HEAD", "/tasks"), ("GET", "/dashboard/stats"), ("HEAD", "/dashboard/stats"),
                  ("POST", "/dashboard"), ("DELETE", "/"), ("POST", "/"), ("GET", "/task"), ("PUT", "/tasks"),
                  ("DELETE", "/task/abc-1"), ("GET", "/nope")]
        cases = [({}, 'Bearer realm="taskbus"', "missing"),
                 ({"Authorization": "Basic b3BlbmFwaQ=="}, 'Bearer realm="taskbus"', "malformed"),
                 ({"Authorization": "Bearer " + self.TOKEN + "x"}, 'Bearer realm="taskbus", error="invalid_token"',
                  "unknown token")]
        for method, path in routes:
            for headers, challenge, why in cases:
                with self.subTest(route=f"{method} {path}", why=why):
                    body = '{"a1": 1, "a2": 2}' if method == "POST" else None
                    status, hdrs, reply = self.call(method, path, body, headers, expect=401)
                    self.assertEqual(hdrs.get("www-authenticate"), challenge)
                    if method != "HEAD":
                        self.assertIn(why, reply["error"])

    def test_health_needs_no_token_and_a_token_opens_the_rest(self):
        self.assertIn(self.call("GET", "/")[0], (200, 503))
        self.assertIn(self.call("HEAD", "/")[0], (200, 503))
        self.call("GET", "/dashboard", expect=200)
        self.call("GET", "/dashboard/stats", headers={"Authorization": "Bearer " + self.TOKEN}, expect=200)
        self.call("GET", "/tasks", headers={"Authorization": "Bearer " + self.TOKEN}, expect=200)
        self.call("GET", "/task/bad!id", headers={"Authorization": "Bearer " + self.TOKEN}, expect=400)


def exchange(conn, method, path, body=None):
    """One request on an open keep-alive connection: (status, lower-cased headers, raw body)."""
    conn.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
    resp = conn.getresponse()
    raw = resp.read()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, raw


def tearDownModule():
    """Say which documented answers no test produced (not a failure: some, like out of memory, cannot be)."""
    missing = []
    for tpl, item in SPEC.doc["paths"].items():
        groups = [(f"{m.upper()} {tpl}", op["responses"]) for m, op in item.items() if m.upper() in METHODS]
        groups.append((f"{tpl} x-other-methods", item["x-other-methods"]["responses"]))
        for label, resps in groups:
            missing += [f"{label} {s}" for s in resps if (label, s) not in SPEC.exercised]
    missing += [f"x-unmatched-route {s}" for s in SPEC.doc["x-unmatched-route"]["responses"]
                if ("x-unmatched-route", s) not in SPEC.exercised]
    print(f"\nopenapi: {len(SPEC.exercised)} documented answers produced; not produced here: {', '.join(missing)}",
          file=sys.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
