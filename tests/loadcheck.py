"""A checking load generator for POST /task: distinct bodies with known answers, an Idempotency-Key per request,
bounded retries, and every attempt recorded, so that the answers can be checked against the event log afterwards.

Used by bench/chaos.py. Python only (asyncio, raw HTTP/1.1 keep-alive connections), no third-party packages.

    bodies:   case(i) -> (body bytes, expected status, expected result or None): every operation of the API with
              operands that vary with i (integers, fractions, products past 1e21, division by zero, UTF-8 strings);
              no two indexes give the same body, so a stored request maps back to the request that sent it.
    client:   Client(ports, ...).run() sends requests i = 0, 1, 2, ... from many workers until told to stop. Each
              request carries a fresh uuid4 Idempotency-Key; a 5xx answer or a connection error is retried with the
              same body and key (bounded attempts and time, exponential backoff, Retry-After honoured); a connection
              error sends the retry to another frontend. A 2xx or 4xx answer is final (408, 409, 425 and
              429 excepted: they are retried).
    checking: Request.right(), expected_result(), and the figures a caller compares with the store.
"""
import asyncio
import json
import random
import time
import uuid

# ---------------------------------------------------------------- expected answers

def format_number(x):
    """A number as the API formats a result (README "Results are strings"): integral values below 1e21 without a
    decimal point, everything else in the shortest text that reads back as the same double (Python's repr, which
    picks the same digits and exponent form as the daemon's shortest "%.*g")."""
    if x == 0:
        return "0"
    if x == int(x) and abs(x) < 1e21:
        return str(int(x))
    return repr(x)


def expected_answer(body):
    """The answer the API owes for a body (a dict with two properties, already valid): (200, result) or (422, None)
    for a division by zero or a result that is not a finite double."""
    (k1, v1), (k2, v2) = list(body.items())
    if isinstance(v1, str):
        return 200, v1 + v2
    x, y = float(v1), float(v2)
    op = k1[0]
    if op == "d" and y == 0:
        return 422, None
    try:
        v = {"a": x + y, "s": x - y, "m": x * y, "d": x / y if y else 0.0}[op]
    except OverflowError:
        return 422, None
    if v != v or v in (float("inf"), float("-inf")):
        return 422, None
    return 200, format_number(v)


KINDS = 12


def case(i):
    """The i-th request: (body as compact UTF-8 JSON bytes, expected status, expected result or None). Twelve kinds
    in rotation; within a kind the first operand is a one-to-one function of i, so every body is distinct."""
    kind, n = i % KINDS, i // KINDS + 1
    j = (i * 7919) % 100003 - 50001
    if kind == 0:
        body = {"a1": n, "a2": j}
    elif kind == 1:
        body = {"s1": n, "s2": j * 3}
    elif kind == 2:
        body = {"m1": n, "m2": j}
    elif kind == 3:
        body = {"m1": n * 1000003, "m2": 10 ** (12 + n % 4)}         # past 1e21 for large n: exponent form
    elif kind == 4:
        body = {"d1": n, "d2": (j % 97) + 3}                           # mostly fractions
    elif kind == 5:
        body = {"d1": n, "d2": 0}                                      # 422 division by zero
    elif kind == 6:
        body = {"a1": n + 0.1, "a2": 0.2}                              # 0.30000000000000004-style results
    elif kind == 7:
        body = {"s1": n / 8, "s2": j / 1000}
    elif kind == 8:
        body = {"m1": n * 1e-9, "m2": -3.5}                            # small values in exponent form
    elif kind == 9:
        body = {"d1": n * 1e300, "d2": 1e-300}                         # overflows a double: 422
    elif kind == 10:
        body = {"a1": f"x{n}", "a2": f"-é{j}"}                         # concatenation, UTF-8
    else:
        body = {"k1": f"{n}", "k2": "ü"}                               # strings concatenate whatever the keys
    status, result = expected_answer(body)
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(), status, result


# ---------------------------------------------------------------- what the client records

class Attempt:
    """One HTTP exchange: the frontend port, start and end (time.monotonic()), the status (None for a connection
    error), the task id, result and error of the JSON body, and Retry-After in seconds (or None)."""
    __slots__ = ("port", "t0", "t1", "status", "id", "result", "error", "retry_after")

    def __init__(self, port, t0):
        self.port, self.t0 = port, t0
        self.t1 = self.status = self.id = self.result = self.error = self.retry_after = None


class Request:
    """One logical request: index, Idempotency-Key and the attempts made for it (the last one is the outcome)."""
    __slots__ = ("i", "key", "attempts")

    def __init__(self, i, key):
        self.i, self.key, self.attempts = i, key, []

    @property
    def final(self):
        return self.attempts[-1]

    def right(self):
        """True when the last answer is the one the API owes for this body."""
        _, status, result = case(self.i)
        f = self.final
        return f.status == status and (status != 200 or f.result == result)

    def retried(self):
        return len(self.attempts) > 1


RETRY_4XX = (408, 409, 425, 429)   # timeout, conflict (the key's first request still runs), too early, too many


def is_final(status):
    """A 2xx or 4xx answer ends a request, except the 4xx that ask for a retry (RETRY_4XX); 5xx and connection errors
    (None) are retried."""
    return status is not None and status < 500 and status not in RETRY_4XX


# ---------------------------------------------------------------- the client

class Client:
    """'workers' coroutines, each with its own keep-alive connection per frontend, sending requests 0, 1, 2, ...
    Worker w prefers frontend ports[w % len(ports)]; a port that refused or dropped a connection is avoided for
    'avoid_s' seconds. 'rate' (requests/s over all workers, None: as fast as answers come) paces new requests.
    'keep_going()' is asked before each new request; the run ends when it says no and every request has ended.
    Until 'surge_until' (time.monotonic()) new requests go out as fast as answers come, whatever the rate."""

    def __init__(self, ports, workers=64, rate=None, keep_going=lambda sent: sent < 1000, max_attempts=8,
                 retry_budget_s=60.0, response_timeout_s=20.0, seed=1):
        self.ports = list(ports)
        self.workers, self.rate, self.keep_going = workers, rate, keep_going
        self.max_attempts, self.retry_budget_s, self.response_timeout_s = max_attempts, retry_budget_s, \
            response_timeout_s
        self.requests = []
        self.sent = 0            # logical requests started
        self.attempts = 0        # HTTP requests started
        self.in_flight = 0
        self.avoid_until = {p: 0.0 for p in self.ports}
        self.generation = {p: 0 for p in self.ports}   # bumped when a connection to the port fails
        self.surge_until = 0.0   # until then (time.monotonic(), set from any thread) new requests are not paced
        self.random = random.Random(seed)
        self.next_slot = 0.0

    # -- one HTTP exchange
    async def exchange(self, conns, port, body, key):
        a = Attempt(port, time.monotonic())
        self.attempts += 1
        head = (b"POST /task HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Idempotency-Key: %s\r\nContent-Length: %d\r\n\r\n" % (key.encode(), len(body)))
        conn = conns.get(port)
        if conn is not None and conn[2] != self.generation[port]:
            # Another connection to this port failed since this one was opened: the frontend behind it may be gone
            # (a pool drops its idle connections to a host that failed), so open a fresh one.
            self.close(conns, port)
            conn = None
        try:
            if conn is None:
                gen = self.generation[port]
                reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
                conn = conns[port] = (reader, writer, gen)
            reader, writer, _ = conn
            writer.write(head + body)
            status, headers, payload = await asyncio.wait_for(self.read_response(reader), self.response_timeout_s)
            a.status = status
            try:
                answer = json.loads(payload)
                if isinstance(answer, dict):
                    a.id, a.result, a.error = answer.get("id"), answer.get("result"), answer.get("error")
                else:
                    a.error = payload.decode(errors="replace")[:200]
            except ValueError:
                a.error = payload.decode(errors="replace")[:200]
            ra = headers.get("retry-after")
            if ra is not None:
                try:
                    a.retry_after = float(ra)
                except ValueError:
                    a.retry_after = None
            if headers.get("connection", "").lower() == "close":
                self.close(conns, port)
        except Exception as e:  # the connection failed: record why; the next attempt opens a new one
            a.status = None
            a.error = describe(e)
            self.close(conns, port)
            self.avoid_until[port] = time.monotonic() + 0.5
            self.generation[port] += 1
        a.t1 = time.monotonic()
        return a

    @staticmethod
    def close(conns, port):
        conn = conns.pop(port, None)
        if conn:
            conn[1].close()

    @staticmethod
    async def read_response(reader):
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            k, sep, v = line.partition(":")
            if sep:
                headers[k.strip().lower()] = v.strip()
        if "content-length" in headers:
            payload = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            payload = b""
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                payload += (await reader.readexactly(size + 2))[:size]
                if size == 0:
                    break
        else:
            payload = await reader.read()
            headers["connection"] = "close"
        return status, headers, payload

    # -- choosing a frontend
    def pick(self, preferred, avoid=None):
        """The preferred port unless it is being avoided (or is 'avoid'); then the next usable one."""
        now = time.monotonic()
        n = len(self.ports)
        start = self.ports.index(preferred)
        for k in range(n):
            p = self.ports[(start + k) % n]
            if p != avoid and self.avoid_until[p] <= now:
                return p
        others = [p for p in self.ports if p != avoid]
        return others[0] if others else preferred

    # -- one logical request with its retries
    async def one_request(self, conns, home, i):
        body = case(i)[0]
        req = Request(i, str(uuid.uuid4()))
        self.requests.append(req)
        start = time.monotonic()
        port = self.pick(home)
        for k in range(self.max_attempts):
            a = await self.exchange(conns, port, body, req.key)
            req.attempts.append(a)
            if is_final(a.status) or k + 1 == self.max_attempts or time.monotonic() - start > self.retry_budget_s:
                return req
            # Back off (exponentially, with jitter; at least what Retry-After asks, up to 10 s), then retry the same
            # body with the same key: on another frontend after a connection error, else on the same one.
            delay = min(4.0, 0.1 * 2 ** k) * (0.5 + self.random.random())
            if a.retry_after is not None:
                delay = max(delay, min(a.retry_after, 10.0))
            await asyncio.sleep(delay)
            port = self.pick(home, avoid=port) if a.status is None else self.pick(port)
        return req

    async def worker(self, w):
        conns = {}
        home = self.ports[w % len(self.ports)]
        loop = asyncio.get_running_loop()
        try:
            while self.keep_going(self.sent):
                if self.rate and time.monotonic() >= self.surge_until:
                    now = loop.time()
                    slot = max(self.next_slot, now)
                    self.next_slot = slot + 1.0 / self.rate
                    if slot > now:
                        await asyncio.sleep(slot - now)
                    if not self.keep_going(self.sent):
                        break
                i = self.sent
                self.sent += 1
                self.in_flight += 1
                try:
                    await self.one_request(conns, home, i)
                finally:
                    self.in_flight -= 1
        finally:
            for port in list(conns):
                self.close(conns, port)

    async def main(self):
        self.next_slot = asyncio.get_running_loop().time()
        await asyncio.gather(*(self.worker(w) for w in range(self.workers)))

    def run(self):
        """Run until keep_going() says no and every started request has ended. Returns the requests, by index."""
        asyncio.run(self.main())
        self.requests.sort(key=lambda r: r.i)
        return self.requests


def describe(e):
    """A short, stable name for a connection failure."""
    if isinstance(e, asyncio.IncompleteReadError):
        return "connection closed without a (complete) response"
    if isinstance(e, (asyncio.TimeoutError, TimeoutError)):
        return "no response in time"
    if isinstance(e, ConnectionResetError):
        return "connection reset"
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, BrokenPipeError):
        return "broken pipe"
    return f"{type(e).__name__}: {e}"[:200]
