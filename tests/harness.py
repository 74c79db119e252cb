"""Start and stop a whole taskbus stack on free loopback ports: redis-server, FerretDB and the three daemons.

Used by the integration tests, `make up` (tests/stack.py) and `make bench`. Every process is started here, its PID
kept, and stopped by PID. A daemon that exits non-zero (a crash, or a leak under AddressSanitizer) fails the stop.
"""
import datetime
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "scripts"))
import redis_acl  # noqa: E402

FERRETDB = os.path.join(TOP, ".local", "bin", "ferretdb")


def raise_nofile(need):
    """Raise the soft open-files limit to the hard one (children inherit it); return (limit, enough for 'need')."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return soft, soft == resource.RLIM_INFINITY or soft >= need


# Ports for the servers and daemons we start come from below Linux's ephemeral range (32768-60999 by default):
# a port the kernel picked with bind(0) could be taken by an outgoing connection (a daemon's own Redis connection)
# before the daemon that was to listen on it started, and that daemon then failed with "cannot listen".
PORT_RANGE = (20000, 32767)
_ports_given = set()


def free_port():
    """A loopback TCP port nothing listens on now, never given before in this process."""
    import random
    for _ in range(1000):
        port = random.randint(*PORT_RANGE)
        if port in _ports_given:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _ports_given.add(port)
        return port
    raise RuntimeError(f"no free port in {PORT_RANGE}")


def wait_until(what, check, timeout=30.0):
    """Call check() until it returns a true value (returned) or raise after 'timeout' seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        try:
            value = check()
            if value:
                return value
        except Exception:  # not up yet
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def http(port, method, path, body=None, content_type="application/json", timeout=30):
    """One HTTP request. Returns (status, parsed JSON body or the raw text when it is not JSON)."""
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    if data is not None and content_type:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


# ---- talking to the bus directly (tests that play a hostile or broken replica)

class Redis:
    """A minimal RESP client over one raw socket: Debian 12's python3 has no redis module unless python3-redis is
    installed, and the tests only need a few commands. Arguments are sent as binary-safe bulk strings (str or bytes),
    so payloads may hold newlines, quotes or megabytes. Use as a context manager, or close(). With a 'password' it
    sends AUTH first (as 'username', or the default user); a refusal is raised as RuntimeError."""

    def __init__(self, port, host="127.0.0.1", timeout=10, username=None, password=None):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        if password is not None:
            try:
                self.command(*(["AUTH"] + ([username] if username else []) + [password]))
            except Exception:
                self.close()
                raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    def command(self, *args):
        """Send one command and return its reply: int, bytes (bulk), str (status), list, or None; an error reply is
        raised as RuntimeError."""
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        return self._reply()

    def publish(self, channel, data):
        """PUBLISH 'data' (str or bytes) on 'channel'; returns how many subscribers received it."""
        return self.command("PUBLISH", channel, data)

    def _read_line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _read_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def _reply(self):
        line = self._read_line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self._read_exact(n + 2)
            return data[:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RuntimeError(f"unexpected reply from redis: {line[:80]!r}")


class Proc:
    def __init__(self, name, argv, env, log_path):
        self.name, self.log_path = name, log_path
        self.argv, self.env = argv, env      # kept so that a killed process can be started again the same way
        self.log = open(log_path, "ab")
        self.p = subprocess.Popen(argv, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                  start_new_session=True)

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def stop(self, timeout=15, sig=signal.SIGTERM):
        """Signal the process and wait. Returns its exit code (killed with SIGKILL after 'timeout')."""
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()
        return self.p.returncode

    def kill(self):
        return self.stop(sig=signal.SIGKILL)

    def tail(self, n=30):
        with open(self.log_path, "rb") as f:
            return b"".join(f.readlines()[-n:]).decode(errors="replace")

    def freeze(self):
        """SIGSTOP the process: it keeps its sockets (Redis still delivers to its subscription) but does nothing."""
        os.kill(self.pid, signal.SIGSTOP)

    def thaw(self):
        """SIGCONT the process (after freeze()); harmless when it runs or is gone."""
        try:
            os.kill(self.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


# FerretDB's garbage collector, as docker/ferretdb.Dockerfile sets it: no proportional collection (GOGC=off), a
# collection only near a soft memory limit (GOMEMLIMIT). Its heap is garbage from each request; with the default
# GOGC=100 it collected every few milliseconds under load, ~20 % of its CPU (bench/results/log-cost.md).
FERRETDB_GC = {"GOGC": "off", "GOMEMLIMIT": "256MiB"}


class Stack:
    """A running taskbus: servers (unless REDIS/MONGO are given) and daemons, all on free ports.

    With auth=True the redis-server it starts runs with the ACL of scripts/redis_acl.py (`default` off; passwords
    and the ACL file in its folder, mode 0600), each daemon gets its role's REDIS_USERNAME and REDIS_PASSWORD_FILE,
    and redis() connects as `admin`. Without it (the default, unless TASKBUS_TEST_AUTH=1 runs the tests with it)
    Redis has no password and no daemon sends AUTH."""

    def __init__(self, build, workdir=None, frontends=1, events=1, backends=None, env=None,
                 redis_port=None, mongo_uri=None, auth=None, store_env=None, redis_aof=True):
        self.build = os.path.abspath(build)
        self.own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="taskbus-")
        os.makedirs(self.dir, exist_ok=True)
        self.env = dict(env or {})
        self.store_env = dict(FERRETDB_GC, **(store_env or {}))   # FerretDB's environment; None values unset
        self.redis_aof = redis_aof  # False only to measure what the append-only file costs (bench/overhead.py)
        self.servers, self.daemons = [], []
        self.frontend_ports = []
        self.redis_port, self.mongo_uri = redis_port, mongo_uri
        self.db_name = "taskbus"
        self.auth = auth if auth is not None else os.environ.get("TASKBUS_TEST_AUTH") == "1"
        self.credentials = {}   # user -> (password file, password), once start_redis() wrote them (auth=True)
        self.counts = dict(frontends=frontends, events=events,
                           backends=backends if backends is not None else {"arithmetic": 1, "string": 1})

    # ---- servers
    def start_redis(self):
        self.redis_port = free_port()
        # An append-only file, as in production: Idempotency-Key claims and kept outcomes must survive a restart
        # (Redis writes it before it answers, so a killed redis-server loses nothing it acknowledged). Task hashes of the
        # projection hold records of a few hundred bytes: as listpacks they take ~20 % less memory
        # (bench/projection_memory.py). Memory is bounded as in docker-stack.yaml: past REDIS_MAXMEMORY the keys with
        # a TTL go, nearest expiry first (caches of the log before Idempotency-Key claims), never the registry.
        argv = ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "yes" if self.redis_aof else "no", "--appendfsync", "everysec", "--dir", self.dir,
                "--daemonize", "no",
                "--hash-max-listpack-value", "1024", "--maxmemory", os.environ.get("REDIS_MAXMEMORY", "2gb"),
                "--maxmemory-policy", "volatile-ttl"] + self.acl_args()
        self.servers.append(Proc("redis", argv, os.environ.copy(), os.path.join(self.dir, "redis.log")))
        wait_until("redis-server", lambda: self._redis_ping())

    def acl_args(self):
        """redis-server's arguments for the ACL (auth=True): writes the ACL file and passwords on first use."""
        if not self.auth:
            return []
        if not self.credentials:
            services = redis_acl.services_of(os.path.join(TOP, "task-maps.json"))
            self.credentials = redis_acl.write(self.dir, services, 0o600)
        return ["--aclfile", os.path.join(self.dir, redis_acl.ACL_FILE)]

    def credentials_env(self, role):
        """REDIS_USERNAME and REDIS_PASSWORD_FILE of 'role' (frontend, events or backend), or {} without auth."""
        if role not in self.credentials:
            return {}
        return {"REDIS_USERNAME": role, "REDIS_PASSWORD_FILE": self.credentials[role][0]}

    def _redis_ping(self):
        """redis-server answers (PONG, or NOAUTH when the default user is off)."""
        with socket.create_connection(("127.0.0.1", self.redis_port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith((b"+PONG", b"-NOAUTH"))

    def start_ferretdb(self):
        if not os.access(FERRETDB, os.X_OK):
            raise RuntimeError(f"{FERRETDB} is missing: run scripts/install-ferretdb.sh (make deps)")
        port = free_port()
        data = os.path.join(self.dir, "ferretdb")
        os.makedirs(data, exist_ok=True)
        argv = [FERRETDB, "--handler=sqlite", f"--sqlite-url=file:{data}/", f"--listen-addr=127.0.0.1:{port}",
                "--telemetry=disable", "--debug-addr=-", f"--state-dir={data}", "--log-level=warn"]
        env = dict(os.environ, **{k: v for k, v in self.store_env.items() if v is not None})
        for k in (k for k, v in self.store_env.items() if v is None):
            env.pop(k, None)
        self.servers.append(Proc("ferretdb", argv, env, os.path.join(self.dir, "ferretdb.log")))
        self.mongo_uri = f"mongodb://127.0.0.1:{port}/{self.db_name}"
        wait_until("FerretDB", lambda: self.mongo().command("ping"))

    def mongo(self):
        """The store's database (pymongo), for checks from the outside."""
        import pymongo
        if not hasattr(self, "_client"):
            self._client = pymongo.MongoClient(self.mongo_uri, serverSelectionTimeoutMS=2000)
        return self._client.get_default_database(self.db_name)

    # ---- daemons
    def daemon_env(self, extra=None):
        env = os.environ.copy()
        env.update({"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(self.redis_port), "MONGO_URI": self.mongo_uri,
                    "TASK_MAPS": os.path.join(TOP, "task-maps.json"), "HEARTBEAT_MS": "200",
                    "REPLICA_TTL_MS": "1000", "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
                    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"})
        env.update(self.env)
        env.update(extra or {})
        return env

    def start_daemon(self, kind, **extra):
        """Start one daemon; events and backends get GET /metrics on a free METRICS_PORT of their own (the frontend
        serves it on PORT) unless 'extra' says otherwise."""
        n = sum(1 for d in self.daemons if d.name.startswith(kind))
        if kind != "frontend" and "METRICS_PORT" not in extra and "METRICS_PORT" not in self.env:
            extra["METRICS_PORT"] = free_port()
        env = self.daemon_env(dict(self.credentials_env(kind), **{k: str(v) for k, v in extra.items()}))
        name = f"{kind}{'-' + extra['SERVICE'] if 'SERVICE' in extra else ''}.{n}"
        proc = Proc(name, [os.path.join(self.build, kind)], env, os.path.join(self.dir, name + ".log"))
        proc.port = int(env.get("PORT", 0)) if kind == "frontend" else None
        proc.metrics_port = int(env.get("METRICS_PORT") or 0) or proc.port
        self.daemons.append(proc)
        return proc

    def start_frontend(self, **extra):
        port = free_port()
        proc = self.start_daemon("frontend", PORT=port, **extra)
        self.frontend_ports.append(port)
        return proc

    def start(self):
        """Start everything and wait until every frontend answers GET / with 200 and every backend registered."""
        try:
            if not self.redis_port:
                self.start_redis()
            if not self.mongo_uri:
                self.start_ferretdb()
            for _ in range(self.counts["events"]):
                self.start_daemon("events")
            for service, n in self.counts["backends"].items():
                for _ in range(n):
                    self.start_daemon("backend", SERVICE=service)
            for _ in range(self.counts["frontends"]):
                self.start_frontend()
            self.wait_ready()
        except Exception:
            self.stop(check=False)
            raise
        return self

    def wait_ready(self, timeout=30):
        for port in self.frontend_ports:
            wait_until(f"frontend on port {port}", lambda: http(port, "GET", "/", timeout=2)[0] == 200, timeout)
        for service, n in self.counts["backends"].items():
            wait_until(f"{n} {service} replicas registered",
                       lambda: self.registered(service) >= n, timeout)

    def registered(self, service):
        """How many live replicas of 'service' the Redis registry holds."""
        now_ms = int(time.time() * 1000)
        with self.redis() as r:
            return r.command("ZCOUNT", f"taskbus:replicas:{service}", now_ms, "+inf")

    def restart_redis(self):
        """SIGKILL redis-server (by PID) and start a new, empty one on the same port; returns once it answers PING.
        The daemons are not told: they must notice, reconnect, re-subscribe and re-register on their own."""
        i, old = next((i, s) for i, s in enumerate(self.servers) if s.name == "redis")
        old.kill()
        argv = ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.dir, "--daemonize", "no"] + self.acl_args()
        n = sum(1 for name in os.listdir(self.dir) if name.startswith("redis"))
        self.servers[i] = Proc("redis", argv, os.environ.copy(), os.path.join(self.dir, f"redis.{n}.log"))
        wait_until("the restarted redis-server", lambda: self._redis_ping())

    def stop_daemon(self, proc):
        """Stop one daemon now (SIGTERM, by PID) and return the fields of its last "event=stopped" log line (text or
        JSON, whatever LOG_FORMAT) as a dict (numbers as int): its counters, e.g. a backend's "done" or an events
        replica's "handoffs". Raises when it exits non-zero or logs no such line. Stack.stop() skips it later (it has
        exited)."""
        rc = proc.stop()
        if rc != 0:
            raise AssertionError(f"{proc.name} (pid {proc.pid}) exited {rc}:\n{proc.tail()}")
        with open(proc.log_path, "rb") as f:
            lines = [line for line in f.read().decode(errors="replace").splitlines()
                     if " event=stopped " in line or '"event":"stopped"' in line]
        if not lines:
            raise AssertionError(f"{proc.name} logged no event=stopped line:\n{proc.tail()}")
        if lines[-1].startswith("{"):   # LOG_FORMAT=json: every value is a string
            return {k: int(v) if v.isdigit() else v for k, v in json.loads(lines[-1]).items()}
        return {k: int(v) if v.isdigit() else v for k, v in re.findall(r'(\w+)=("[^"]*"|\S+)', lines[-1])}

    # ---- faults (bench/chaos.py): freeze, kill and replace one process, keeping its port, data folder and settings
    def signal(self, proc, sig):
        """Send 'sig' (SIGSTOP, SIGCONT, SIGKILL, ...) to one process of this stack, by PID, if it still runs. A
        SIGKILLed daemon is marked as killed on purpose, so that stop() does not count its exit as a failure."""
        if proc.alive():
            if sig == signal.SIGKILL:
                proc.killed_on_purpose = True
            os.kill(proc.pid, sig)

    def kill(self, proc):
        """SIGKILL one process of this stack and reap it. Returns its exit code."""
        proc.killed_on_purpose = True
        return proc.kill()

    def replace_daemon(self, proc):
        """Start a new daemon with the same binary and environment as 'proc' (a frontend gets the same PORT), under
        the next free name of its kind (e.g. backend-arithmetic.2). 'proc' should be dead; returns the new Proc."""
        base, kind = proc.name.rsplit(".", 1)[0], proc.name.split("-")[0].split(".")[0]
        n = sum(1 for d in self.daemons if d.name.startswith(kind))   # numbered as start_daemon does
        name = f"{base}.{n}"
        new = Proc(name, proc.argv, proc.env, os.path.join(self.dir, name + ".log"))
        new.port = getattr(proc, "port", None)
        self.daemons.append(new)
        return new

    def restart_server(self, proc, down_s=0.0):
        """SIGKILL a server of this stack (redis-server or FerretDB), wait 'down_s' seconds, and start it again with
        the same command line: the same port and data folder. Waits until it answers; returns the new Proc."""
        self.kill(proc)
        time.sleep(down_s)
        new = Proc(proc.name, proc.argv, proc.env, proc.log_path)
        self.servers[self.servers.index(proc)] = new
        if proc.name == "redis":
            wait_until("redis-server", lambda: self._redis_ping())
        else:
            wait_until("FerretDB", lambda: self.mongo().command("ping"))
        return new

    def dead_daemons(self):
        return [d for d in self.daemons if not d.alive()]

    # ---- looking at the bus and the store from the outside
    def redis(self, user=None):
        """A new raw RESP connection to the stack's redis-server (close it, or use it as a context manager); with
        auth, authenticated as 'user' (default: admin)."""
        if not self.credentials:
            return Redis(self.redis_port)
        user = user or "admin"
        return Redis(self.redis_port, username=user, password=self.credentials[user][1])

    def replica_ids(self, service):
        """The ids of the live replicas of 'service' in the Redis registry (taskbus:replicas:<service>)."""
        now_ms = int(time.time() * 1000)
        with self.redis() as r:
            return [m.decode() for m in r.command("ZRANGEBYSCORE", f"taskbus:replicas:{service}", now_ms, "+inf")]

    def replica_id(self, proc, timeout=10):
        """The registry id of the daemon 'proc' (ids end in "-<pid>-<8 hex digits>"), once it has registered."""
        kind = proc.name.split(".")[0]
        service = kind.split("-", 1)[1] if kind.startswith("backend-") else kind
        pattern = re.compile(rf"-{proc.pid}-[0-9a-f]{{8}}$")
        return wait_until(f"{proc.name} (pid {proc.pid}) in the registry",
                          lambda: next((i for i in self.replica_ids(service) if pattern.search(i)), None), timeout)

    def history(self, task_id):
        """The records of one task in the store, in seq order (task commits split into their two records)."""
        return sorted(records_of(self.mongo().events.find({"task": task_id})), key=lambda r: r["seq"])

    def records(self, query=None, **find):
        """Every record of the store matching 'query' on its documents, task commits split (see records_of)."""
        return records_of(self.mongo().events.find(query or {}, **find))

    def count_received(self, query=None):
        """How many "received" records the store holds among documents matching 'query': separate ones and those
        inside task commits."""
        arrival = {"$or": [{"type": "received"}, {COMMIT_FIELD: {"$exists": True}}]}
        return self.mongo().events.count_documents({"$and": [arrival, query]} if query else arrival)

    def stop(self, check=True):
        """Stop daemons (SIGTERM, by PID), then servers. With 'check', raise if a daemon exited non-zero."""
        failures = []
        for d in reversed(self.daemons):
            rc = d.stop()
            if rc not in (0, None) and not getattr(d, "killed_on_purpose", False):
                failures.append(f"{d.name} (pid {d.pid}) exited {rc}:\n{d.tail()}")
        for s in reversed(self.servers):
            s.stop()
        if hasattr(self, "_client"):
            self._client.close()
        self.daemons, self.servers = [], []
        if self.own_dir and not failures:
            shutil.rmtree(self.dir, ignore_errors=True)
        if check and failures:
            raise AssertionError("daemons did not exit cleanly (logs in %s):\n%s" % (self.dir, "\n".join(failures)))


BUILD = None


def build_dir_from_argv(default="build-test"):
    """The build folder from '--build DIR' on the command line, removed from sys.argv (for unittest); also kept as
    harness.BUILD for StackTest."""
    global BUILD
    BUILD = os.environ.get("TASKBUS_BUILD", os.path.join(TOP, default))
    if "--build" in sys.argv:
        i = sys.argv.index("--build")
        BUILD = sys.argv[i + 1]
        del sys.argv[i:i + 2]
    return BUILD


class StackTest(unittest.TestCase):
    """Tests that share one stack, started once for the class with the Stack options in STACK; self.port is the
    first frontend's. The stack is stopped (and its daemons' exit codes checked) after the last test."""
    STACK = {}

    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(BUILD, **cls.STACK).start()
        cls.port = cls.stack.frontend_ports[0]

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()


# A task commit (common/logdoc.h): the outcome record and, from this field on, the arrival ("received") record.
COMMIT_FIELD = "received"
HANDOFF_STRIDE = 100  # STORE_HANDOFF_STRIDE in common/store.h


def split_commit(doc):
    """The records a document of the log stands for: [doc] for a record, [arrival, outcome] for a task commit, field
    for field as events built them (the rule of logdoc_split in common/logdoc.c: the seqs follow from "handoff", a
    completed outcome's status is 200, the arrival's attempt is 1 unless written)."""
    if not isinstance(doc.get(COMMIT_FIELD), datetime.datetime):
        return [doc]
    keys = list(doc)
    cut = keys.index(COMMIT_FIELD)
    seq = doc.get("handoff", 0) * HANDOFF_STRIDE + 1
    outcome = {}
    for k in keys[:cut]:
        if k == "result" and doc.get("type") == "completed" and "status" not in doc:
            outcome["status"] = 200
        outcome[k] = doc[k]
        if k == "task":
            outcome["seq"] = seq
    arrival = {"_id": f"{doc.get('task')}:{seq - 1}", "task": doc.get("task"), "seq": seq - 1, "type": "received",
               "at": doc[COMMIT_FIELD], "events": doc.get("events")}
    if "trace" in doc:
        arrival["trace"] = doc["trace"]
    arrival.update({k: doc[k] for k in keys[cut + 1:] if k != "attempt"})
    if "backend" in doc:
        arrival["backend"] = doc["backend"]
        arrival["attempt"] = doc.get("attempt", 1)
    return [arrival, outcome]


def records_of(docs):
    """The records of an iterable of log documents, task commits split."""
    return [rec for doc in docs for rec in split_commit(doc)]


def records_by_task(stack, task_ids):
    """{task id: its records in seq order} for 'task_ids', read from the stack's store."""
    by_task = {t: [] for t in task_ids}
    for rec in stack.records({"task": {"$in": list(task_ids)}}):
        by_task[rec["task"]].append(rec)
    for recs in by_task.values():
        recs.sort(key=lambda r: r["seq"])
    return by_task


def post_concurrently(pool, port, body, indexes, timeout=30):
    """Start one POST /task of body(i) per index on 'pool'; returns the futures of (i, status, reply)."""
    def one(i):
        status, reply = http(port, "POST", "/task", body(i), timeout=timeout)
        return i, status, reply
    return [pool.submit(one, i) for i in indexes]


def thaw_and_stop(stack):
    """Stop the stack after sending SIGCONT to every daemon (a frozen one would not see SIGTERM); raises if a daemon
    exited non-zero (a crash or a leak)."""
    for d in stack.daemons:
        d.thaw()
    stack.stop()


def check_all_ok(test, answers, expected, why):
    """Fail 'test' unless every (i, status, reply) of 'answers' is a 200 with result expected(i) and the task ids are
    distinct. Returns the ids."""
    wrong = [(i, s, r) for i, s, r in answers if s != 200 or not isinstance(r, dict) or r.get("result") != expected(i)]
    if wrong:
        test.fail(f"{len(wrong)} of {len(answers)} requests {why} were not answered 200 with the right result: "
                  f"{wrong[:3]}")
    ids = [r["id"] for _, _, r in answers]
    test.assertEqual(len(set(ids)), len(ids), "two requests were answered with the same task id")
    return ids


def check_history(records, final):
    """Check one task's records (sorted by seq): "received" first, then "dispatched" ones, then 'final'; the task went
    to exactly one backend replica (the first record carries the dispatch when it went out at once, else one
    "dispatched" record does) and the final record names that replica. Returns the replica id, or raises."""
    types = [r["type"] for r in records]
    if not types or types[0] != "received" or types[-1] != final or set(types[1:-1]) - {"dispatched"}:
        raise AssertionError(f"unexpected history {types}")
    sent_to = [r["backend"] for r in records[:-1] if "backend" in r]
    if len(sent_to) != 1:
        raise AssertionError(f"dispatched {len(sent_to)} times: {types}")
    if records[-1].get("backend") != sent_to[0]:
        raise AssertionError(f"executed by {records[-1].get('backend')}, sent to {sent_to[0]}")
    return sent_to[0]
