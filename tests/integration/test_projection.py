"""The read side: asynchronous POST /task (Prefer: respond-async), GET /task/{id} with a task's status, GET /tasks
with filters and paging, the Redis projection behind them, its rebuild from the event log (`events --rebuild`), its
retention, and reads that keep working while the store is frozen.

Every test drives real servers over HTTP and checks what it gets against the event log in the store (read with
pymongo) or against what the same API answered before the projection was dropped, rebuilt or expired. Classes that
need settings of their own (no backend, a short retention, two events replicas, a task map without STRING) or an
exact set of tasks (listing, rebuild) each start their own stack; the others share one (SharedStack).
"""
import concurrent.futures
import datetime
import http.client
import json
import random
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402

harness.build_dir_from_argv()

SEED = [('{"a1": 5, "a2": 10}', "15"), ('{"s1": 4, "s2": 7}', "-3"), ('{"m1": 4, "m2": 7}', "28"),
        ('{"d1": 4, "d2": 7}', "0.5714285714285714"), ('{"a1": "a", "a2": "b"}', "ab")]
DIVIDE_BY_ZERO = '{"d1": 1, "d2": 0}'
STATUSES = ("pending", "running", "completed", "failed")
OUTCOMES = ("completed", "failed")
TASK_ID = re.compile(r"^[0-9A-Za-z-]{1,39}$")
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$")
SUMMARY_KEYS = ("id", "status", "taskType", "service", "created", "result", "error", "code")


# ---- HTTP

class Answer:
    """One HTTP answer: status, headers (names in lower case), the raw body and the body parsed as JSON (None when it
    is not JSON)."""

    def __init__(self, status, headers, raw):
        self.status, self.headers, self.raw = status, headers, raw
        try:
            self.json = json.loads(raw)
        except ValueError:
            self.json = None

    def __repr__(self):
        return f"<HTTP {self.status} {self.raw[:300]!r}>"


def request(port, method, path, body=None, headers=None, timeout=10):
    """Send one request on a new connection and return its Answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        hdrs = dict(headers or {})
        if body is not None:
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=body.encode() if isinstance(body, str) else body, headers=hdrs)
        resp = conn.getresponse()
        return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def post(port, body, respond_async=False):
    """POST /task, with `Prefer: respond-async` when 'respond_async'."""
    return request(port, "POST", "/task", body, {"Prefer": "respond-async"} if respond_async else None)


def get_task(port, task_id, timeout=10):
    return request(port, "GET", f"/task/{task_id}", timeout=timeout)


def get_tasks(port, timeout=10, **params):
    """GET /tasks with the given query parameters (None values left out)."""
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    return request(port, "GET", "/tasks" + ("?" + query if query else ""), timeout=timeout)


def wait_for_outcome(port, task_id, timeout=15):
    """Poll GET /task/{id} until its status is completed or failed (a watchdog fails the test after 'timeout' s);
    returns the final body."""
    return harness.wait_until(f"task {task_id} to finish", lambda: _finished(port, task_id), timeout)


def _finished(port, task_id):
    answer = get_task(port, task_id)
    if answer.status != 200:
        raise AssertionError(f"GET /task/{task_id} answered {answer}")
    return answer.json if answer.json["status"] in OUTCOMES else None


def list_all(port, limit, **filters):
    """Follow `next` from the first page of GET /tasks until it is null. Returns the pages' bodies; raises when a
    page is not a 200 or the cursors do not end within 100 pages."""
    pages, after = [], None
    for _ in range(100):
        answer = get_tasks(port, limit=limit, after=after, **filters)
        if answer.status != 200:
            raise AssertionError(f"GET /tasks page {len(pages) + 1} answered {answer}")
        pages.append(answer.json)
        after = answer.json["next"]
        if after is None:
            return pages
    raise AssertionError("GET /tasks paging did not end within 100 pages")


def listed_ids(pages):
    return [t["id"] for page in pages for t in page["tasks"]]


# ---- the store and the projection

def iso_to_ms(text):
    """Milliseconds since the epoch of an ISO-8601 UTC time ("...Z", with or without fractional seconds)."""
    when = datetime.datetime.strptime(text.replace("Z", "+0000"),
                                      "%Y-%m-%dT%H:%M:%S.%f%z" if "." in text else "%Y-%m-%dT%H:%M:%S%z")
    return round(when.timestamp() * 1000)


def comparable_api_record(record):
    """A history record from the API (relaxed extended JSON) with its dates as epoch milliseconds."""
    out = {}
    for key, value in record.items():
        if isinstance(value, dict) and set(value) == {"$date"}:
            date = value["$date"]
            value = iso_to_ms(date) if isinstance(date, str) else int(date["$numberLong"])
        out[key] = value
    return out


def comparable_store_record(doc):
    """A document from the store (pymongo) with its dates as epoch milliseconds."""
    out = {}
    for key, value in doc.items():
        if isinstance(value, datetime.datetime):
            value = round(value.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)
        out[key] = value
    return out


def scan(redis, pattern):
    """Every key of 'redis' (harness.Redis) that matches the glob 'pattern', by SCAN."""
    keys, cursor = [], b"0"
    while True:
        cursor, batch = redis.command("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
        keys.extend(batch)
        if cursor == b"0":
            return keys


def drop_projection(stack):
    """Delete the projection: keys taskbus:task:* and taskbus:index:*. Returns how many keys were deleted."""
    with stack.redis() as r:
        keys = scan(r, "taskbus:task:*") + scan(r, "taskbus:index:*")
        return r.command("DEL", *keys) if keys else 0


def index_member(created_ms, task_id):
    """The member of a task in its index set: "<created ms, 16 digits>:<id>"."""
    return f"{int(created_ms):016d}:{task_id}"


def projection_ttl_ms(stack, task_id):
    """PTTL of the task's projection hash: -2 when it does not exist, -1 when it never expires."""
    with stack.redis() as r:
        return r.command("PTTL", f"taskbus:task:{task_id}")


def summary(task_body):
    """The fields of a GET /task/{id} body that GET /tasks repeats for the task."""
    return {k: task_body[k] for k in SUMMARY_KEYS if k in task_body}


def run_rebuild(stack, timeout=60):
    """Run `events --rebuild` with the stack's daemon environment (and the events role's credentials, with auth).
    Returns (exit code, stdout + stderr)."""
    proc = subprocess.run([os.path.join(stack.build, "events"), "--rebuild"],
                          env=stack.daemon_env(stack.credentials_env("events")),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    return proc.returncode, proc.stdout.decode(errors="replace")


def run_rebuild_with(stack, extra, timeout=60):
    """`events --rebuild` with the stack's environment (and the events role's credentials, with auth) changed by
    'extra'. Returns (exit code, stdout, stderr)."""
    env = stack.daemon_env(dict(stack.credentials_env("events"), **extra))
    proc = subprocess.run([os.path.join(stack.build, "events"), "--rebuild"], env=env,
                          capture_output=True, timeout=timeout)
    return proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")


def rebuilt_counts(output):
    """The counters of the "rebuilt records=<n> ... tasks=<m>" line of `events --rebuild` as a dict of ints (other
    key=value counters on the line are kept too); {} when there is no such line."""
    line = next((line for line in output.splitlines() if line.startswith("rebuilt records=")), "")
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}


# Every stack here stops its idle daemons quickly (the default grace is there for requests in flight; none are at
# the end of a test class).
QUICK_STOP = {"SHUTDOWN_GRACE_MS": "300"}
SHARED = []          # the one stack of the SharedStack classes, started by the first of them


def tearDownModule():
    for stack in SHARED:
        stack.stop()             # raises if a daemon exited non-zero (a crash, a leak)


class ReadSideTest(harness.StackTest):
    """A class of tests on its own stack, started with the Stack options in STACK (and QUICK_STOP); the assertions
    shared by all the classes below."""

    @classmethod
    def setUpClass(cls):
        options = dict(cls.STACK)
        options["env"] = {**QUICK_STOP, **options.get("env", {})}
        cls.stack = harness.Stack(harness.BUILD, **options).start()
        cls.port = cls.stack.frontend_ports[0]

    def run_sync(self, body, status=200):
        """POST 'body' without Prefer and check the status; returns the task id."""
        answer = post(self.port, body)
        self.assertEqual(answer.status, status, answer)
        self.assertRegex(answer.json.get("id", ""), TASK_ID, answer)
        return answer.json["id"]

    def run_async(self, body):
        """POST 'body' with `Prefer: respond-async`, check the 202 and its headers, and return the task id (the 202's
        body is kept in self.accepted)."""
        answer = post(self.port, body, respond_async=True)
        self.assertEqual(answer.status, 202, answer)
        self.assertEqual(set(answer.json), {"message", "id", "status"}, answer)
        self.assertEqual(answer.json["message"], "Accepted", answer)
        self.assertIn(answer.json["status"], STATUSES, answer)
        task_id = answer.json["id"]
        self.assertRegex(task_id, TASK_ID)
        self.assertEqual(answer.headers.get("location"), f"/task/{task_id}", answer.headers)
        self.assertEqual(answer.headers.get("preference-applied"), "respond-async", answer.headers)
        self.accepted = answer.json
        return task_id

    def assert_stored_and_projected(self, record_id):
        """The record 'record_id' ("<task>:<seq>") is in the store and in its task's projection hash."""
        self.assertIsNotNone(self.stack.mongo().events.find_one({"_id": record_id}), f"{record_id} is not stored")
        with self.stack.redis() as r:
            projected = r.command("HEXISTS", "taskbus:task:" + record_id.rsplit(":", 1)[0], record_id)
        self.assertEqual(projected, 1, f"{record_id} is not projected")

    def task_body(self, task_id):
        """GET /task/{id}: must be a 200 with a JSON body; returns the body."""
        answer = get_task(self.port, task_id)
        self.assertEqual(answer.status, 200, answer)
        self.assertEqual((answer.json["message"], answer.json["id"]), ("OK", task_id), answer)
        return answer.json

    def assert_bad_request(self, answer, what):
        self.assertEqual(answer.status, 400, f"{what}: {answer}")
        self.assertIsInstance(answer.json, dict, f"{what}: not a JSON body: {answer}")
        self.assertEqual(answer.json.get("message"), "FAIL", f"{what}: {answer}")
        self.assertTrue(answer.json.get("error"), f"{what}: no error text: {answer}")

    def assert_matches_log(self, body):
        """Check a GET /task/{id} body against the task's documents in the store: history is exactly those records
        in seq order (relaxed extended JSON), and the summary fields say what the records say."""
        records = harness.records_by_task(self.stack, [body["id"]])[body["id"]]
        self.assertTrue(records, f"task {body['id']} has no records in the store")
        self.assertEqual([comparable_api_record(r) for r in body["history"]],
                         [comparable_store_record(r) for r in records], "history differs from the store's records")
        seqs = [r["seq"] for r in body["history"]]
        self.assertEqual(seqs, sorted(seqs), "history is not in seq order")
        received, last = records[0], records[-1]
        self.assertEqual(received["type"], "received")
        self.assertEqual(body["taskType"], received["taskType"])
        if "service" in received:
            self.assertEqual(body.get("service"), received["service"])
        else:
            self.assertNotIn("service", body)
        self.assertRegex(body["created"], ISO_UTC)
        earliest = min(comparable_store_record(r)["at"] for r in records)
        self.assertEqual(iso_to_ms(body["created"]), earliest,
                         f"created {body['created']} is not the time of the task's first record")
        if last["type"] in OUTCOMES:
            self.assertEqual(body["status"], last["type"])
        else:                           # running once a record names the backend replica it went to
            self.assertEqual(body["status"], "running" if any("backend" in r for r in records) else "pending")
        if body["status"] == "completed":
            self.assertEqual(body["result"], last["result"])
            self.assertNotIn("error", body)
            self.assertNotIn("code", body)
        elif body["status"] == "failed":
            self.assertEqual((body["error"], body["code"]), (last["error"], last["status"]))
            self.assertNotIn("result", body)
        else:
            for key in ("result", "error", "code"):
                self.assertNotIn(key, body)


class SharedStack(ReadSideTest):
    """Classes of tests that need no special settings and count on no exact set of tasks share one default stack,
    stopped after the last test of the file."""

    @classmethod
    def setUpClass(cls):
        if not SHARED:
            SHARED.append(harness.Stack(harness.BUILD, env=QUICK_STOP).start())
        cls.stack, cls.port = SHARED[0], SHARED[0].frontend_ports[0]

    @classmethod
    def tearDownClass(cls):
        pass


# ---- 1. asynchronous POST /task

class Async(SharedStack):
    def test_async_seed_bodies(self):
        """Promise: with `Prefer: respond-async` each seed body gets a 202 with Location and Preference-Applied, the
        task is readable at once (never 404), and polling it ends completed with the seed's result."""
        ids = []
        for body, _ in SEED:
            task_id = self.run_async(body)
            self.assert_stored_and_projected(f"{task_id}:0")
            first = get_task(self.port, task_id)
            self.assertEqual(first.status, 200, f"GET right after the 202 of {body}: {first}")
            self.assertIn(first.json["status"], STATUSES, first)
            ids.append(task_id)
        self.assertEqual(len(set(ids)), len(ids), "two async tasks got the same id")
        for task_id, (body, result) in zip(ids, SEED):
            with self.subTest(body=body):
                final = wait_for_outcome(self.port, task_id)
                self.assertEqual((final["status"], final.get("result")), ("completed", result), final)

    def test_202_after_projection_with_an_empty_script_cache(self):
        """Promise: the 202 leaves only once the task's arrival is projected, also when Redis has lost its script
        cache (as after a restart): 100 times, SCRIPT FLUSH, then an async POST, whose task must be in the projection
        and first in GET /tasks as soon as the 202 is read. (A race: one that projects late is caught most runs.)"""
        late = []
        with self.stack.redis() as r:
            for i in range(100):
                r.command("SCRIPT", "FLUSH")
                task_id = self.run_async('{"a1": %d, "a2": 1}' % i)
                projected = r.command("HEXISTS", f"taskbus:task:{task_id}", f"{task_id}:0")
                newest = get_tasks(self.port, limit=1).json["tasks"]
                if projected != 1 or [t["id"] for t in newest] != [task_id]:
                    late.append((i, task_id, projected, newest))
        self.assertEqual(late[:3], [], f"{len(late)} of 100 202s left before their task was projected "
                                       "(round, id, HEXISTS, newest listed)")

    def test_async_failure(self):
        """Promise: an async task that fails (division by zero) ends failed with its error and the HTTP status the
        synchronous request would have had (422), and no result."""
        task_id = self.run_async(DIVIDE_BY_ZERO)
        final = wait_for_outcome(self.port, task_id)
        self.assertEqual((final["status"], final.get("error"), final.get("code")),
                         ("failed", "division by zero", 422), final)
        self.assertNotIn("result", final)

    def test_sync_answer_unchanged(self):
        """Promise: without the header POST /task answers exactly the seed-compatible bytes, with no async
        headers."""
        for body, result in SEED:
            with self.subTest(body=body):
                answer = post(self.port, body)
                self.assertEqual(answer.status, 200, answer)
                task_id = answer.json["id"]
                self.assertEqual(answer.raw, b'{"message":"OK","result":"%s","id":"%s"}' % (
                    result.encode(), task_id.encode()))
                self.assertNotIn("preference-applied", answer.headers)
                self.assertNotIn("location", answer.headers)
        answer = post(self.port, DIVIDE_BY_ZERO)
        self.assertEqual(answer.status, 422, answer)
        self.assertEqual(answer.raw, b'{"message":"FAIL","error":"division by zero","id":"%s"}'
                         % answer.json["id"].encode())

    def test_prefer_header_forms(self):
        """Promise: respond-async is honoured among other preferences (RFC 7240 lists them comma-separated, any
        case); a Prefer header without it changes nothing."""
        for prefer in ("wait=5, respond-async", "Respond-Async", "respond-async; foo=bar"):
            with self.subTest(prefer=prefer):
                answer = request(self.port, "POST", "/task", '{"a1": 2, "a2": 2}', {"Prefer": prefer})
                self.assertEqual(answer.status, 202, answer)
                self.assertEqual(wait_for_outcome(self.port, answer.json["id"]).get("result"), "4")
        for prefer in ("return=minimal", "respond-asynchronously"):
            with self.subTest(prefer=prefer):
                answer = request(self.port, "POST", "/task", '{"a1": 2, "a2": 2}', {"Prefer": prefer})
                self.assertEqual((answer.status, answer.json.get("result")), (200, "4"), answer)
                self.assertNotIn("preference-applied", answer.headers)

    def test_async_bad_body(self):
        """Promise: a bad body with `Prefer: respond-async` still gets the 400 it gets without, with no task id and
        no Location."""
        for body in ('{"a1": 1}', "not json", '{"a1": 1, "s2": 2}'):
            with self.subTest(body=body):
                answer = post(self.port, body, respond_async=True)
                self.assert_bad_request(answer, body)
                self.assertNotIn("id", answer.json)
                self.assertNotIn("location", answer.headers)
                self.assertEqual(answer.json, post(self.port, body).json, "not the answer without the header")


class AsyncNoBackend(ReadSideTest):
    """No arithmetic backend runs: a NUMBER task waits for one until events gives up at 80 % of TASK_TIMEOUT_MS."""

    STACK = dict(backends={"string": 1}, env={"TASK_TIMEOUT_MS": "1500"})

    def test_pending_then_failed_504(self):
        """Promise: an async task whose service has no live replica is pending (not running) while it waits, then
        failed with code 504; its log agrees."""
        task_id = self.run_async('{"a1": 1, "a2": 2}')
        self.assertEqual(self.accepted["status"], "pending", self.accepted)
        waiting = self.task_body(task_id)
        self.assertEqual(waiting["status"], "pending", waiting)
        self.assertEqual(waiting.get("service"), "arithmetic", waiting)
        self.assert_matches_log(waiting)
        self.assertIn(task_id, listed_ids(list_all(self.port, 100, status="pending", service="arithmetic")))
        final = wait_for_outcome(self.port, task_id, timeout=10)
        self.assertEqual((final["status"], final.get("code")), ("failed", 504), final)
        self.assertNotIn(task_id, listed_ids(list_all(self.port, 100, status="pending")), "still listed as pending")
        self.assertIn(task_id, listed_ids(list_all(self.port, 100, status="failed", service="arithmetic")))
        self.assertIn("no live replica of service 'arithmetic'", final.get("error", ""), final)
        self.assert_matches_log(final)


class Unrouted(ReadSideTest):
    """A task map without STRING: such tasks fail at once with 500, and have no service."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        path = os.path.join(cls.tmp.name, "task-maps.json")
        with open(path, "w") as f:
            json.dump({"NUMBER": "arithmetic"}, f)
        cls.STACK = dict(backends={"arithmetic": 1}, env={"TASK_MAPS": path})
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.tmp.cleanup()

    def test_no_service_when_no_route(self):
        """Promise: a task whose type has no route is failed with code 500, sync or async, and neither GET /task/{id}
        nor GET /tasks gives it a service; no service filter lists it."""
        sync_id = self.run_sync('{"a1": "x", "a2": "y"}', status=500)
        async_id = self.run_async('{"a1": "p", "a2": "q"}')
        for task_id in (sync_id, async_id):
            with self.subTest(task=task_id):
                body = wait_for_outcome(self.port, task_id)
                self.assertEqual((body["status"], body["code"], body["taskType"]), ("failed", 500, "STRING"), body)
                self.assertEqual(body["error"], "task type STRING has no route in the task map")
                self.assertNotIn("service", body)
                self.assert_matches_log(body)
                listed = [t for t in get_tasks(self.port, status="failed").json["tasks"] if t["id"] == task_id]
                self.assertEqual(listed, [summary(body)])
        for service in ("string", "arithmetic"):
            self.assertEqual(listed_ids(list_all(self.port, 100, service=service)), [])


class AsyncFailover(ReadSideTest):
    """Two events replicas. The arithmetic backend is frozen so that an async task waits at it after its 202."""

    STACK = dict(events=2, env={"TASK_TIMEOUT_MS": "8000"})

    def test_async_task_survives_its_events_replica(self):
        """Promise: an async task whose events replica dies (SIGKILL) after the 202 still reaches its outcome, which
        GET /task/{id} shows: the frontend follows it to another replica although its client has gone."""
        arith = next(d for d in self.stack.daemons if d.name.startswith("backend-arithmetic"))
        arith.freeze()
        self.addCleanup(arith.thaw)
        task_id = self.run_async('{"a1": 40, "a2": 2}')
        # Pending until its events replica has seen the backend in the registry (a fresh replica may not have yet).
        harness.wait_until("the task to be sent to the backend",
                           lambda: self.task_body(task_id)["status"] == "running", timeout=5)
        for filters in ({"status": "running"}, {"status": "running", "service": "arithmetic"}):
            self.assertEqual(listed_ids(list_all(self.port, 10, **filters)), [task_id], filters)
        self.assertEqual(listed_ids(list_all(self.port, 10, status="running", service="string")), [])
        holder = self.stack.mongo().events.find_one({"_id": f"{task_id}:0"})["events"]
        victim = next(d for d in self.stack.daemons
                      if d.name.startswith("events") and self.stack.replica_id(d) == holder)
        self.stack.kill(victim)
        arith.thaw()
        final = wait_for_outcome(self.port, task_id, timeout=20)
        self.assertEqual((final["status"], final.get("result")), ("completed", "42"), final)
        self.assertNotEqual(final["history"][-1]["events"], holder, "the dead replica wrote the outcome")
        self.assert_matches_log(final)
        self.assertEqual(listed_ids(list_all(self.port, 10, status="running")), [], "still listed as running")
        self.assertEqual(listed_ids(list_all(self.port, 10, status="completed")), [task_id])


class PendingBehindMany(ReadSideTest):
    """No arithmetic backend at first, and a long deadline: a NUMBER task stays pending while 1,100 STRING tasks
    are made after it."""

    STACK = dict(backends={"string": 1}, env={"TASK_TIMEOUT_MS": "60000"})

    def test_pending_task_found_behind_many_newer_ones(self):
        """Promise: GET /tasks?status=pending finds a pending task behind more newer tasks of other statuses than
        one page looks at: following `next` (pages may be short) lists it exactly once and nothing else; once a
        backend comes and it completes, it is listed as completed and no longer as pending."""
        pending = self.run_async('{"m1": 6, "m2": 7}')
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda i: post(self.port, '{"a1": "n", "a2": "%d"}' % i).status, range(1100)))
        self.assertEqual(statuses, [200] * 1100)
        for limit, filters in ((1, {}), (20, {}), (3, {"service": "arithmetic"})):
            with self.subTest(limit=limit, **filters):
                self.assertEqual(listed_ids(list_all(self.port, limit, status="pending", **filters)), [pending])
        self.assertEqual(listed_ids(list_all(self.port, 1, status="running")), [])
        self.stack.start_daemon("backend", SERVICE="arithmetic")
        self.assertEqual(wait_for_outcome(self.port, pending).get("result"), "42")
        self.assertEqual(listed_ids(list_all(self.port, 1, status="pending")), [])
        self.assertEqual(listed_ids(list_all(self.port, 5, status="completed", service="arithmetic")), [pending])


# ---- 2. GET /task/{id}

class TaskShape(SharedStack):
    def test_completed_task(self):
        """Promise: a completed task's body has status, taskType, service, created (ISO-8601 UTC), result and its
        records exactly as the store holds them, in seq order."""
        for body, result in SEED:
            with self.subTest(body=body):
                task = self.task_body(self.run_sync(body))
                self.assertEqual(set(task), {"message", "id", "status", "taskType", "service", "created", "result",
                                             "history"}, task)
                self.assertEqual((task["status"], task["result"]), ("completed", result))
                string = body.startswith('{"a1": "')
                self.assertEqual((task["taskType"], task["service"]),
                                 ("STRING", "string") if string else ("NUMBER", "arithmetic"))
                self.assertEqual((task["history"][0]["type"], task["history"][-1]["type"]),
                                 ("received", "completed"))
                self.assertIn("$date", task["history"][0]["at"])
                self.assert_matches_log(task)

    def test_failed_task(self):
        """Promise: a failed task's body has its error and code (the HTTP status of the failure) and no result."""
        task = self.task_body(self.run_sync(DIVIDE_BY_ZERO, status=422))
        self.assertEqual((task["status"], task["error"], task["code"]), ("failed", "division by zero", 422))
        self.assertNotIn("result", task)
        self.assert_matches_log(task)

    def test_unknown_and_malformed_ids(self):
        """Promise: an id with no records is a 404 naming the id; a malformed id is a 400."""
        missing = "0000000000000000-000000000000"
        answer = get_task(self.port, missing)
        self.assertEqual(answer.status, 404, answer)
        self.assertEqual(answer.json, {"message": "FAIL", "error": "no task with this id is in the log",
                                       "id": missing})
        # Task ids are 1 to 39 characters (openapi.yaml; API-SPEC.md said 63): a well-formed one not in the log is a
        # 404, a longer one a 400.
        self.assertEqual(get_task(self.port, "a" * 39).status, 404)
        for bad in ("a" * 40, "a%20b", "a.b"):
            with self.subTest(id=bad):
                self.assert_bad_request(get_task(self.port, bad), f"GET /task/{bad}")


    def test_projection_keys(self):
        """Promise: the projection is what API-SPEC.md describes: hash taskbus:task:<id> with status, service,
        taskType, created (ms), result or error and code, and each record under its _id as JSON equal to the log's;
        the task is in the index sets of its status and service and in no other status's."""
        done, failed = self.run_sync('{"m1": 6, "m2": 7}'), self.run_sync(DIVIDE_BY_ZERO, status=422)
        logged = harness.records_by_task(self.stack, [done, failed])
        with self.stack.redis() as r:
            for task_id, status, extra in ((done, "completed", {"result": "42"}),
                                           (failed, "failed", {"error": "division by zero", "code": "422"})):
                with self.subTest(status=status):
                    raw = r.command("HGETALL", f"taskbus:task:{task_id}")
                    fields = {raw[i].decode(): raw[i + 1].decode() for i in range(0, len(raw), 2)}
                    records = {k: json.loads(v) for k, v in fields.items() if k.startswith(task_id + ":")}
                    want = {rec["_id"]: comparable_store_record(rec) for rec in logged[task_id]}
                    self.assertEqual({k: comparable_api_record(v) for k, v in records.items()}, want)
                    summary_fields = {k: v for k, v in fields.items() if k not in records}
                    self.assertEqual(summary_fields, dict(status=status, service="arithmetic", taskType="NUMBER",
                                                          created=str(min(w["at"] for w in want.values())), **extra))
                    # One index set per (bucket, service): completed and failed have theirs, pending and running
                    # share "open"; the task is in its own and in no other.
                    own = f"taskbus:index:{status}:arithmetic"
                    self.assertEqual(r.command("ZSCORE", own, index_member(fields["created"], task_id)), b"0")
                    for key in scan(r, "taskbus:index:*:*"):
                        if key.decode() != own:
                            members = r.command("ZRANGE", key, 0, -1)
                            self.assertFalse(any(task_id.encode() in m for m in members), f"{task_id} in {key}")
                    self.assertIn(b"arithmetic", r.command("SMEMBERS", "taskbus:index:services"))

    def copy_of_a_task(self, new_id, first_at):
        """Run a task, then write its records back to the log as task 'new_id', the first at 'first_at' (epoch
        seconds) and the others 250 ms later. Returns 'new_id'."""
        real = self.run_sync('{"a1": 2, "a2": 3}')
        records = harness.records_by_task(self.stack, [real])[real]
        for i, rec in enumerate(records):
            rec.update(_id=rec["_id"].replace(real, new_id), task=new_id,
                       at=datetime.datetime.utcfromtimestamp(first_at + (0.25 if i else 0)))
        self.stack.mongo().events.insert_many(records)
        return new_id

    def test_rebuild_skips_tasks_past_retention(self):
        """Promise: `events --rebuild` projects no task older than TASK_RETENTION_S (600 s here): it is not listed
        and has no hash, and GET /task/{id} still answers it from the log."""
        old = self.copy_of_a_task("0000000000000abc-0000000000a1", int(time.time()) - 700.5)
        recent = self.run_sync('{"a1": 1, "a2": 1}')
        code, output = run_rebuild(self.stack)
        self.assertEqual(code, 0, output)
        self.assertEqual(projection_ttl_ms(self.stack, old), -2, "a task past the retention was projected")
        ids = listed_ids(list_all(self.port, 100))
        self.assertNotIn(old, ids)
        self.assertIn(recent, ids)
        body = self.task_body(old)
        self.assertEqual((body["status"], body["result"]), ("completed", "5"))
        self.assert_matches_log(body)

    def test_created_on_a_whole_second(self):
        """Promise: created is the time of the task's first record also when that falls on a whole second (dates
        then have no fraction), from the log and from the projection alike, in GET /task/{id} and GET /tasks. The
        task's records are a real task's, written back to the log under another id with chosen times."""
        second = int(time.time()) - 5
        fake = self.copy_of_a_task("0000000000000abc-00000000beef", second)
        want = datetime.datetime.utcfromtimestamp(second).strftime("%Y-%m-%dT%H:%M:%SZ")

        from_log = self.task_body(fake)
        self.assertEqual(from_log["created"], want, "GET /task/{id} from the log")
        code, output = run_rebuild(self.stack)
        self.assertEqual(code, 0, output)
        self.assertEqual(self.task_body(fake)["created"], want, "GET /task/{id} from the projection")
        listed = [t for t in get_tasks(self.port, limit=100).json["tasks"] if t["id"] == fake]
        self.assertEqual([t.get("created") for t in listed], [want], "GET /tasks")


# ---- 3. GET /tasks

class HandoverAfterDeath(SharedStack):
    def test_outcome_stored_by_a_dead_replica_is_projected(self):
        """Promise: an events replica that stored a task's outcome and died before projecting it leaves no task
        "running" forever. Set up exactly that moment: the log holds the outcome and Redis the kept answer, and the
        projection nothing; then the frontend's re-send (handoff 1) reaches the live replica. It answers the kept
        answer, its own outcome is a duplicate in the log, and GET /task shows the task completed with it."""
        tid = "dead" + "%028x" % int.from_bytes(os.urandom(14), "big")
        events_id = self.stack.replica_ids("events")[0]
        at = datetime.datetime.now(datetime.timezone.utc)
        self.stack.mongo().events.insert_one({
            "_id": f"{tid}:outcome", "task": tid, "seq": 1, "type": "completed", "at": at,
            "events": "events-gone-1-00000000", "status": 200, "result": "15", "backend": "arithmetic-gone-1"})
        kept = json.dumps({"kind": "result", "id": tid, "status": 200, "result": "15",
                           "replica": "arithmetic-gone-1"})
        task = json.dumps({"kind": "task", "id": tid, "replyTo": "taskbus:nobody", "origin": "frontend-gone",
                           "task": "NUMBER", "subtask": "ADD", "operands": [5, 10],
                           "requestBody": '{"a1":5,"a2":10}', "timeoutMs": 5000, "handoff": 1})
        with self.stack.redis() as r:
            self.assertEqual(r.command("SET", f"taskbus:outcome:{tid}", kept, "EX", "60"), "OK")
            self.assertEqual(r.command("PUBLISH", f"taskbus:{events_id}", task), 1)
        def projected(field):
            with self.stack.redis() as r:
                return r.command("HEXISTS", f"taskbus:task:{tid}", field) == 1
        # Once the arrival is projected, GET /task reads the projection (not the log) for this task.
        harness.wait_until("the live replica's arrival projected", lambda: projected(f"{tid}:100"), timeout=10)
        harness.wait_until("the outcome projected", lambda: projected(f"{tid}:outcome"), timeout=10)
        final = get_task(self.port, tid).json
        self.assertEqual((final["status"], final.get("result")), ("completed", "15"), final)
        history = self.stack.history(tid)
        self.assertEqual([(r["type"], r.get("handoff"), r["events"]) for r in history],
                         [("completed", None, "events-gone-1-00000000"), ("received", 1, events_id)],
                         "the log keeps the dead replica's outcome and the live replica's arrival")


class Listing(ReadSideTest):
    """22 tasks, made one after another: 10 completed arithmetic, 8 completed string, 4 failed (arithmetic)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.made = []        # (task id, status, service) in creation order
        for i in range(22):
            if i % 6 == 5:
                body, status, service = DIVIDE_BY_ZERO, "failed", "arithmetic"
            elif i % 2:
                body, status, service = '{"a1": "s", "a2": "%d"}' % i, "completed", "string"
            else:
                body, status, service = '{"a1": %d, "a2": 1}' % i, "completed", "arithmetic"
            answer = post(cls.port, body)
            if answer.status not in (200, 422):
                raise AssertionError(f"making the tasks: {body} answered {answer}")
            cls.made.append((answer.json["id"], status, service))
            time.sleep(0.005)    # distinct creation times, so that "newest first" has one answer

    def expected(self, status=None, service=None):
        """Ids of the made tasks that match the filters, newest first."""
        return [t for t, st, sv in reversed(self.made) if status in (None, st) and service in (None, sv)]

    def test_newest_first_with_default_limit(self):
        """Promise: GET /tasks lists the 20 newest tasks (default limit) newest first, each with the summary GET
        /task/{id} gives, and a cursor to the rest."""
        answer = get_tasks(self.port)
        self.assertEqual(answer.status, 200, answer)
        self.assertEqual(answer.json["message"], "OK")
        self.assertEqual([t["id"] for t in answer.json["tasks"]], self.expected()[:20])
        self.assertIsInstance(answer.json["next"], str)
        for item in answer.json["tasks"]:
            self.assertEqual(item, summary(self.task_body(item["id"])))

    def test_filters(self):
        """Promise: status and service filter the list, alone and together; a filter nothing matches gives an
        empty list and a null cursor."""
        for status, service in (("failed", None), (None, "string"), ("completed", "arithmetic"),
                                ("failed", "arithmetic"), ("failed", "string"), ("pending", None)):
            with self.subTest(status=status, service=service):
                pages = list_all(self.port, 100, status=status, service=service)
                self.assertEqual(len(pages), 1)
                self.assertEqual(listed_ids(pages), self.expected(status, service))
                for item in pages[0]["tasks"]:
                    self.assertEqual(item["status"], status or item["status"])
                    self.assertEqual(item.get("service"), service or item.get("service"))

    def test_paging(self):
        """Promise: following `next` with a limit gives every task exactly once, newest first, at most 'limit' per
        page, and `next` is null on the last page (also when the last page is full)."""
        for limit, filters in ((3, {}), (11, {}), (22, {}), (2, {"status": "completed"}),
                               (4, {"service": "string"}), (1, {"status": "failed", "service": "arithmetic"})):
            with self.subTest(limit=limit, **filters):
                want = self.expected(**filters)
                pages = list_all(self.port, limit, **filters)
                self.assertEqual(listed_ids(pages), want)
                self.assertTrue(all(len(p["tasks"]) <= limit for p in pages))
                self.assertEqual(len(pages), -(-len(want) // limit),
                                 f"{len(pages)} pages for {len(want)} tasks at {limit} a page")

    def test_invalid_parameters(self):
        """Promise: an invalid status, service, limit or cursor is a 400 with a JSON error."""
        for params in ({"status": "done"}, {"status": "FAILED"}, {"service": "a b"}, {"service": "x" * 64},
                       {"limit": "0"}, {"limit": "101"}, {"limit": "x"}, {"limit": "-1"}, {"limit": "5x"},
                       {"after": "garbage"}):
            with self.subTest(**params):
                self.assert_bad_request(get_tasks(self.port, **params), f"GET /tasks {params}")
        self.assertEqual(get_tasks(self.port, limit="100").status, 200)
        answer = request(self.port, "POST", "/tasks", "{}")
        self.assertEqual(answer.status, 405, answer)
        self.assertIn("GET", answer.headers.get("allow", ""), answer.headers)

    def test_paging_while_tasks_arrive(self):
        """Promise: a cursor is a position, not an offset: tasks created while a client pages do not shift the
        pages, so every task that existed at the start is listed exactly once and the new ones are not."""
        want = self.expected()
        pages, after = [], None
        while True:
            answer = get_tasks(self.port, limit=5, after=after)
            self.assertEqual(answer.status, 200, answer)
            pages.append(answer.json)
            answer = post(self.port, '{"a1": "new", "a2": "%d"}' % len(pages))
            self.assertEqual(answer.status, 200, answer)
            self.made.append((answer.json["id"], "completed", "string"))   # later tests expect it
            after = pages[-1]["next"]
            if after is None:
                break
        self.assertEqual(listed_ids(pages), want)


class ListingMerge(ReadSideTest):
    """600 tasks written straight into the projection, spread unevenly over every (bucket, service) index set, with
    interleaved creation times: most are pending or running arithmetic ones, so that their set fills the list
    script's chunks of 100 while the others do not, and a status filter skips half of it (only then can a page of 60
    or more reach past what it read of that set). One task in 50 also has a stale member (another time than its
    created) in an open set. A listing merges the sets it reads, newest first, each task once."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        rng = random.Random(8)
        cls.tasks = []      # (member, id, status, service)
        with cls.stack.redis() as r:
            for i in range(600):
                status = ("pending", "running")[i % 2] if i % 10 < 7 else STATUSES[i % 4]
                service = "arithmetic" if i % 10 < 7 else rng.choice(["arithmetic", "string", ""])
                task_id, created = f"merge-{i:04d}", 1_800_000_000_000 + rng.randrange(10**9)
                fields = ["status", status, "created", str(created), "taskType", "NUMBER"]
                r.command("HSET", f"taskbus:task:{task_id}", *(fields + (["service", service] if service else [])))
                r.command("ZADD", f"taskbus:index:{'open' if status in ('pending', 'running') else status}:{service}",
                          0, index_member(created, task_id))
                r.command("SADD", "taskbus:index:services", service)
                cls.tasks.append((index_member(created, task_id), task_id, status, service))
                if i % 50 == 0:  # a member left by a replica the task was handed to, under its later arrival
                    r.command("ZADD", f"taskbus:index:open:{service}", 0, index_member(created + 7, task_id))
        cls.tasks.sort(reverse=True)

    def expected(self, status=None, service=None):
        return [t for _, t, st, sv in self.tasks if status in (None, st) and service in (None, sv)]

    def test_merged_pages(self):
        """Promise: every task is listed exactly once, newest first, across pages of any size and with every
        filter, whichever index sets it is spread over."""
        for limit, filters in ((7, {}), (100, {}), (33, {"status": "completed"}), (9, {"status": "running"}),
                               (100, {"status": "pending"}),
                               (60, {"status": "running", "service": "arithmetic"}),
                               (50, {"service": "string"}), (100, {"status": "failed", "service": "arithmetic"}),
                               (13, {"service": "arithmetic"})):
            with self.subTest(limit=limit, **filters):
                want = self.expected(**filters)
                pages = list_all(self.port, limit, **filters)
                self.assertEqual(listed_ids(pages), want)
                self.assertEqual(len(pages), max(1, -(-len(want) // limit)))


class ConcurrentReads(SharedStack):
    def test_reads_in_flight_across_registry_refreshes(self):
        """Promise: reads waiting on Redis when the frontend refreshes its registry view (every HEARTBEAT_MS) are
        answered as usual: 8 clients reading GET /task/{id} and GET /tasks for 2 s all get 200s, and the frontend
        stays up."""
        ids = [self.run_sync('{"a1": %d, "a2": 1}' % i) for i in range(30)]
        deadline = time.monotonic() + 2

        def reader(n):
            answers = []
            while time.monotonic() < deadline:
                path = "/tasks?limit=100" if len(answers) % 2 else f"/task/{ids[(n + len(answers)) % len(ids)]}"
                try:
                    answers.append((path, request(self.port, "GET", path, timeout=5).status))
                except OSError as e:          # the frontend closed the connection or is gone
                    answers.append((path, repr(e)))
                    break
            return answers
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = [a for f in [pool.submit(reader, n) for n in range(8)] for a in f.result()]
        wrong = [a for a in answers if a[1] != 200]
        self.assertEqual(wrong[:5], [], f"{len(wrong)} of {len(answers)} reads were not answered 200")
        frontend = next(d for d in self.stack.daemons if d.name.startswith("frontend"))
        self.assertTrue(frontend.alive(), frontend.tail())


# ---- 4. rebuilding the projection from the log

class Rebuild(ReadSideTest):
    def snapshot(self):
        """Every answer the read side gives about this stack's tasks: GET /task/{id} per task, and the pages of
        GET /tasks unfiltered (2 a page) and filtered."""
        return {
            "tasks": {t: self.task_body(t) for t in self.ids},
            "pages": list_all(self.port, 2),
            "failed": list_all(self.port, 20, status="failed"),
            "string": list_all(self.port, 20, service="string"),
            "completed arithmetic": list_all(self.port, 20, status="completed", service="arithmetic"),
        }

    def test_drop_fallback_and_rebuild(self):
        """Promise: with the projection dropped GET /task/{id} answers the same from the log and GET /tasks is
        empty; `events --rebuild` replays every record and restores every answer exactly."""
        self.ids = [self.run_sync('{"a1": 1, "a2": 2}'), self.run_sync('{"a1": "x", "a2": "y"}'),
                    self.run_sync(DIVIDE_BY_ZERO, status=422), self.run_sync('{"m1": 3, "m2": 3}')]
        async_id = self.run_async('{"s1": 9, "s2": 1}')
        self.assertEqual(wait_for_outcome(self.port, async_id)["result"], "8")
        self.ids.append(async_id)
        before = self.snapshot()
        self.assertEqual(listed_ids(before["pages"]), self.ids[::-1])

        self.assertGreaterEqual(drop_projection(self.stack), len(self.ids))
        empty = get_tasks(self.port)
        self.assertEqual((empty.status, empty.json.get("tasks"), empty.json.get("next")), (200, [], None), empty)
        for task_id in self.ids:
            with self.subTest(fallback=task_id):
                self.assertEqual(projection_ttl_ms(self.stack, task_id), -2, "the projection was not dropped")
                self.assertEqual(self.task_body(task_id), before["tasks"][task_id], "the log's answer differs")

        for run in ("first", "second"):          # a rebuild over a full projection changes nothing
            code, output = run_rebuild(self.stack)
            self.assertEqual(code, 0, output)
            counts = rebuilt_counts(output)
            documents = self.stack.mongo().events.count_documents({})
            records = len(self.stack.records())
            self.assertEqual((counts.get("documents"), counts.get("records"), counts.get("tasks")),
                             (documents, records, len(self.ids)), output)
            self.assertEqual(self.snapshot(), before, f"the {run} rebuild does not give the same answers")
        for task_id in self.ids:
            ttl = projection_ttl_ms(self.stack, task_id)
            self.assertTrue(0 < ttl <= 600_000, f"rebuilt taskbus:task:{task_id} has PTTL {ttl}")


    def test_rebuild_fails_cleanly(self):
        """Promise: `events --rebuild` without a reachable Redis or store exits non-zero at once, claims no
        rebuild, and says which one it could not reach."""
        closed = harness.free_port()
        for extra, names in (({"REDIS_PORT": str(closed)}, "Redis"),
                             ({"MONGO_URI": f"mongodb://127.0.0.1:{closed}/taskbus"}, "log")):
            with self.subTest(unreachable=names):
                code, out, err = run_rebuild_with(self.stack, extra, timeout=30)
                self.assertNotEqual(code, 0, out + err)
                self.assertNotIn("rebuilt", out)
                self.assertIn(names, err)


class OldIndexLayout(ReadSideTest):
    snapshot = Rebuild.snapshot

    def test_rebuild_drops_the_old_index_layout(self):
        """Promise: a projection written before 2026-12-08 (four index sets per task, "taskbus:tasks*") is
        migrated by one `events --rebuild`: it drops those sets and the task hashes, replays the log, and every
        listing and task answers as before; no key of the old layout is left. A rebuild that cannot read the log
        drops nothing."""
        ids = self.ids = [self.run_sync('{"a1": 1, "a2": 2}'), self.run_sync('{"a1": "x", "a2": "y"}'),
                          self.run_sync(DIVIDE_BY_ZERO, status=422)]
        before = self.snapshot()
        with self.stack.redis() as r:  # the layout as the old apply script left it: hashes kept, sets renamed
            for key in scan(r, "taskbus:index:*"):
                if key != b"taskbus:index:services":
                    status, service = key.decode().split(":")[2:]
                    for member in r.command("ZRANGE", key, 0, -1):
                        for old in ("taskbus:tasks", f"taskbus:tasks:service:{service}",
                                    f"taskbus:tasks:status:{status}",
                                    f"taskbus:tasks:status:{status}:service:{service}"):
                            r.command("ZADD", old, 0, member)
                r.command("DEL", key)
        self.assertEqual(get_tasks(self.port).json.get("tasks"), [])
        # A rebuild that cannot read the log drops nothing.
        closed = f"mongodb://127.0.0.1:{harness.free_port()}/taskbus"
        code, out, err = run_rebuild_with(self.stack, {"MONGO_URI": closed}, timeout=30)
        self.assertNotEqual(code, 0, out + err)
        with self.stack.redis() as r:
            self.assertEqual(r.command("EXISTS", "taskbus:tasks"), 1)
            self.assertEqual(r.command("EXISTS", *(f"taskbus:task:{t}" for t in ids)), len(ids))
        code, out, err = run_rebuild_with(self.stack, {})
        self.assertEqual(code, 0, out + err)
        self.assertIn("dropped the index layout before 2026-12-08", out)
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(listed_ids(before["pages"]), ids[::-1])
        with self.stack.redis() as r:
            self.assertEqual(scan(r, "taskbus:tasks*"), [])
        code, out, err = run_rebuild_with(self.stack, {})  # the next one finds nothing to drop
        self.assertEqual(code, 0, out + err)
        self.assertNotIn("dropped", out)


class RebuildRefused(ReadSideTest):
    def test_a_refused_record_fails_alone(self):
        """Promise: records go to Redis in batches (one script call per store commit, or per 32 records in
        `events --rebuild`), and a record Redis refuses fails alone: the rebuild exits non-zero and says so, the
        other records of its batch are projected, and once the cause is gone a rebuild projects it too."""
        ids = [self.run_sync('{"a1": 1, "a2": 2}'), self.run_sync('{"a1": 3, "a2": 4}'),
               self.run_sync('{"a1": "x", "a2": "y"}')]
        before = {t: self.task_body(t) for t in ids}
        self.assertGreaterEqual(drop_projection(self.stack), len(ids))
        with self.stack.redis() as r:  # a key of the wrong type where the projection writes ids[1]'s hash
            self.assertEqual(r.command("SET", f"taskbus:task:{ids[1]}", "not a hash"), "OK")
        code, out, err = run_rebuild_with(self.stack, {})
        self.assertNotEqual(code, 0, out + err)
        self.assertNotIn("rebuilt", out)
        self.assertIn("redis refused a record", err)
        for task_id in (ids[0], ids[2]):
            self.assertGreater(projection_ttl_ms(self.stack, task_id), 0, f"{task_id} was not projected")
            self.assertEqual(self.task_body(task_id), before[task_id])
        with self.stack.redis() as r:
            r.command("DEL", f"taskbus:task:{ids[1]}")
        code, out, err = run_rebuild_with(self.stack, {})
        self.assertEqual(code, 0, out + err)
        self.assertEqual({t: self.task_body(t) for t in ids}, before)
        self.assertGreater(projection_ttl_ms(self.stack, ids[1]), 0)


# ---- 5. retention

class Retention(ReadSideTest):
    STACK = dict(env={"TASK_RETENTION_S": "2"})

    def test_expired_projection_falls_back_to_the_log(self):
        """Promise: a task's projection expires TASK_RETENTION_S after its last record; afterwards GET /task/{id}
        answers the same from the log and GET /tasks no longer lists it."""
        task_id = self.run_sync('{"a1": 20, "a2": 22}')
        ttl = projection_ttl_ms(self.stack, task_id)
        self.assertTrue(1000 < ttl <= 2000, f"taskbus:task:{task_id} has PTTL {ttl}: want 2 s from its last record")
        before = self.task_body(task_id)
        self.assertIn(task_id, listed_ids(list_all(self.port, 100)))

        harness.wait_until("the projection to expire", lambda: projection_ttl_ms(self.stack, task_id) == -2,
                           timeout=5)
        self.assertEqual(self.task_body(task_id), before, "the log's answer differs from the projection's")
        self.assertNotIn(task_id, listed_ids(list_all(self.port, 100)))


# ---- 6. reads do not go through the store

class FrozenStore(SharedStack):
    def test_reads_while_the_store_is_frozen(self):
        """Promise: with FerretDB stopped (SIGSTOP), GET /task/{id} of a finished task and GET /tasks still answer
        within 2 s, from the projection, with what they answered before."""
        task_id = self.run_sync('{"m1": 6, "m2": 7}')
        before, listing = self.task_body(task_id), get_tasks(self.port).json
        ferret = next(s for s in self.stack.servers if s.name == "ferretdb")
        ferret.freeze()
        self.addCleanup(ferret.thaw)
        try:
            t0 = time.monotonic()
            answer = get_task(self.port, task_id, timeout=5)
            took = time.monotonic() - t0
            self.assertEqual((answer.status, answer.json), (200, before), answer)
            self.assertLess(took, 2.0, "GET /task/{id} waited for the frozen store")
            t0 = time.monotonic()
            answer = get_tasks(self.port, timeout=5)
            self.assertEqual((answer.status, answer.json), (200, listing), answer)
            self.assertLess(time.monotonic() - t0, 2.0, "GET /tasks waited for the frozen store")
        finally:
            ferret.thaw()
        self.assertEqual(post(self.port, '{"a1": 1, "a2": 1}').status, 200, "the stack did not recover")

    def test_no_202_before_the_arrival_is_stored(self):
        """Promise: an async POST is not answered while the store cannot take its arrival (FerretDB stopped for
        1.5 s); once the store is back it gets its 202, and the task completes."""
        ferret = next(s for s in self.stack.servers if s.name == "ferretdb")
        answers = []
        client = threading.Thread(target=lambda: answers.append(post(self.port, '{"a1": 30, "a2": 12}', True)),
                                  daemon=True)
        ferret.freeze()
        self.addCleanup(ferret.thaw)
        try:
            client.start()
            client.join(timeout=1.5)
            self.assertEqual(answers, [], "answered while the store was stopped")
        finally:
            ferret.thaw()
        client.join(timeout=10)
        self.assertEqual([a.status for a in answers], [202], answers)
        task_id = answers[0].json["id"]
        self.assertIsNotNone(self.stack.mongo().events.find_one({"_id": f"{task_id}:0"}))
        self.assertEqual(wait_for_outcome(self.port, task_id).get("result"), "42")


if __name__ == "__main__":
    unittest.main(verbosity=2)
