#!/usr/bin/python3
"""make swarm-test: build the images from this checkout, deploy docker-stack.yaml on Docker Swarm, and break it
under load.

1. docker/build.sh: the local Debian base (once per machine, kept), then the images taskbus, taskbus-redis,
   taskbus-ferretdb and taskbus-lb tagged :swarm-test.
   docker/secrets.sh: Redis's ACL and one password per role in docker/secrets/ (Docker secrets of the stack;
   existing passwords are kept; a folder this run created is removed at the end).
2. `docker swarm init --advertise-addr 127.0.0.1` when this node is not in a swarm (and `docker swarm leave --force`
   at the end; a swarm that was already active is used and left as it was); `docker stack deploy` of
   docker-stack.yaml plus tests/swarm/stack-test.yaml (the store's port published for the checks) on free host
   ports; wait until every service runs its replicas, all healthy, and GET / answers 200; Redis refuses a client
   without a password (NOAUTH).
3. Load: the seed's `ab -k -c 10 -n 1000` (no failure allowed), then rounds of `ab -r -k -c 50 -n 20000` and a
   checking load generator (asyncio, 50 keep-alive connections, every request distinct and every response recorded)
   while it scales a backend up and down, `docker kill`s a backend, an events and a frontend container, and rolls an
   update over the string backends (`docker service update --force`).
4. Checks, from the responses and from the store: no wrong result, no task id answered twice, no task with two
   outcomes or two events replicas, every answered request's history complete in the store; every failure is
   counted by status and message, and must be explained by a kill (in flight on the killed replica, or on the killed
   frontend): a failure at any other time (scaling, rolling update) fails the test.
5. Always: remove the stack, its volume, config and network objects, the images built here and their build stages,
   and leave swarm mode if this run entered it. Only 127.0.0.1 is ever targeted.

Where no Docker Engine answers it prints "skipped: <reason>" and exits 0. Where Swarm cannot work, the same run is
done with docker-compose (TASKBUS_SWARM_TEST_MODE=compose forces it) and the reason is printed.
Environment: TASKBUS_SWARM_TEST_MODE=auto|swarm|compose, TASKBUS_SWARM_KEEP_IMAGES=1 (keep the :swarm-test images
for a faster rerun), TASKBUS_SWARM_KEEP_LOGS=1 (keep the ab outputs), TASKBUS_SWARM_AB_REQUESTS (20000),
TASKBUS_SWARM_CONNECTIONS (50 for ab and 50 for the checker).
"""
import asyncio
import collections
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STACK = "taskbus-test"
TAG = "swarm-test"
IMAGES = {"TASKBUS_IMAGE": f"taskbus:{TAG}", "REDIS_IMAGE": f"taskbus-redis:{TAG}",
          "MONGO_IMAGE": f"taskbus-ferretdb:{TAG}", "LB_IMAGE": f"taskbus-lb:{TAG}",
          "PROMETHEUS_IMAGE": f"taskbus-prometheus:{TAG}"}
sys.path.insert(0, os.path.join(TOP, "tests"))
from harness import split_commit  # noqa: E402  (a task commit of the log holds two records)

STACK_FILES = [os.path.join(TOP, "docker-stack.yaml"), os.path.join(TOP, "tests", "swarm", "stack-test.yaml")]
SECRETS = os.path.join(TOP, "docker", "secrets")   # docker/secrets.sh writes what docker-stack.yaml's secrets read
REPLICAS = {"FRONTEND_REPLICAS": 3, "EVENTS_REPLICAS": 2, "ARITHMETIC_REPLICAS": 2, "STRING_REPLICAS": 2}
SERVICES = ["redis", "mongo", "lb", "frontend", "events", "arithmetic", "string", "prometheus"]
TASK_TIMEOUT_MS = 5000
AB_REQUESTS = int(os.environ.get("TASKBUS_SWARM_AB_REQUESTS", "20000"))
CONNECTIONS = int(os.environ.get("TASKBUS_SWARM_CONNECTIONS", "50"))
SEED_BODY = '{"a1":5,"a2":10}'         # the seed's load command: ab -k -c 10 -n 1000 -p body.json
AB_BODY = '{"m1":4,"m2":7}'            # the large ab rounds
KEEP_IMAGES = os.environ.get("TASKBUS_SWARM_KEEP_IMAGES") == "1"
KEEP_LOGS = os.environ.get("TASKBUS_SWARM_KEEP_LOGS") == "1"
DEADLINE = time.monotonic() + 22 * 60  # the whole run, cleanup included, stays well under 25 minutes
T0 = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - T0:7.1f}s] {msg}", flush=True)


def run(args, timeout=120, check=True, env=None, input=None):
    """Run a command; returns CompletedProcess (text). Raises with its output when 'check' and it fails."""
    full_env = os.environ.copy()
    full_env.update(env or {})
    try:
        p = subprocess.run(args, cwd=TOP, env=full_env, input=input, capture_output=True, text=True,
                           timeout=max(1, min(timeout, DEADLINE + 120 - time.monotonic())))
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"timed out after {e.timeout:.0f}s: {' '.join(args)}")
    if check and p.returncode != 0:
        raise RuntimeError(f"failed ({p.returncode}): {' '.join(args)}\n{p.stdout[-2000:]}{p.stderr[-2000:]}")
    return p


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path="/", timeout=3):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except Exception as e:  # not up
        return None, str(e)


def http_post(port, body, timeout=10):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/task", data=body.encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except Exception as e:
        return None, str(e)


def wait_until(what, check, timeout):
    deadline = min(time.monotonic() + timeout, DEADLINE)
    last = None
    while time.monotonic() < deadline:
        try:
            ok, last = check()
            if ok:
                return last
        except Exception as e:  # keep trying
            last = str(e)
        time.sleep(1)
    raise RuntimeError(f"timed out waiting for {what}: {last}")


# ---------------------------------------------------------------- requests and their expected answers

def case(i):
    """The i-th checked request: every operation with distinct operands, and division by zero (422)."""
    kind = i % 6
    a, b = i + 1000, (i % 97) + 1
    if kind == 0:
        return {"a1": a, "a2": b}, 200, str(a + b)
    if kind == 1:
        return {"s1": a, "s2": b}, 200, str(a - b)
    if kind == 2:
        return {"m1": a, "m2": b}, 200, str(a * b)
    if kind == 3:
        return {"d1": a * b, "d2": b}, 200, str(a)
    if kind == 4:
        return {"a1": f"x{i}", "a2": "y"}, 200, f"x{i}y"
    return {"d1": a, "d2": 0}, 422, None


def expected_result(request_text):
    """The result the system must give for a stored request (README: results are strings), or None for none."""
    try:
        body = json.loads(request_text)
    except ValueError:
        return "unparsable"
    (k1, v1), (k2, v2) = list(body.items())
    if isinstance(v1, str):
        return v1 + v2
    x, y = float(v1), float(v2)
    op = k1[0]
    if op == "d" and y == 0:
        return None
    v = {"a": x + y, "s": x - y, "m": x * y, "d": x / y if y else 0}[op]
    return str(int(v)) if v == int(v) and abs(v) < 1e21 else repr(v)


# ---------------------------------------------------------------- the checking load generator

class Checker:
    """CONNECTIONS keep-alive connections; each sends distinct requests one after another until stopped, and every
    request is recorded: (index, start, end, status or None, parsed body or the error text)."""

    def __init__(self, port, connections):
        self.port, self.connections = port, connections
        self.records = []
        self.next = 0
        self.stop = False
        self.loop = None

    async def one_connection(self):
        reader = writer = None
        while not self.stop and time.monotonic() < DEADLINE:
            i = self.next
            self.next += 1
            body = json.dumps(case(i)[0], separators=(",", ":")).encode()
            start = time.monotonic()
            try:
                if writer is None:
                    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.port), 5)
                writer.write(b"POST /task HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
                status, headers, payload = await asyncio.wait_for(self.read_response(reader), 30)
                try:
                    answer = json.loads(payload)
                except ValueError:
                    answer = payload.decode(errors="replace")[:200]
                self.records.append((i, start, time.monotonic(), status, answer))
                if headers.get("connection", "").lower() == "close":
                    writer.close()
                    reader = writer = None
            except Exception as e:  # the connection failed: record it, and go on with a new one
                self.records.append((i, start, time.monotonic(), None, self.describe(e)))
                if writer is not None:
                    writer.close()
                reader = writer = None
                await asyncio.sleep(0.05)
        if writer is not None:
            writer.close()

    @staticmethod
    def describe(e):
        if isinstance(e, asyncio.IncompleteReadError):
            return "connection closed without a (complete) response"
        if isinstance(e, (asyncio.TimeoutError, TimeoutError)):
            return "no response within 30 s"
        if isinstance(e, ConnectionResetError):
            return "connection reset"
        if isinstance(e, ConnectionRefusedError):
            return "connection refused"
        return f"{type(e).__name__}: {e}"[:200]

    @staticmethod
    async def read_response(reader):
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        if "content-length" in headers:
            payload = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            payload = b""
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                payload += await reader.readexactly(size + 2)
                if size == 0:
                    break
        else:
            payload = await reader.read()
            headers["connection"] = "close"
        return status, headers, payload

    async def main(self):
        self.loop = asyncio.get_running_loop()
        await asyncio.gather(*(self.one_connection() for _ in range(self.connections)))

    def start(self):
        self.thread = threading.Thread(target=lambda: asyncio.run(self.main()), daemon=True)
        self.thread.start()

    def finish(self):
        self.stop = True
        self.thread.join(60)


def ab(port, body_file, n, c, keepalive_errors_ok, log_file):
    """One ab run against POST /task; returns its figures (its output is kept in log_file)."""
    args = ["ab", "-k", "-c", str(c), "-n", str(n), "-p", body_file, "-T", "application/json", "-s", "30"]
    if keepalive_errors_ok:
        args.insert(1, "-r")  # do not stop at a socket error (a killed frontend)
    # -v 2 prints every response's header and "WARNING: Response code not 2xx (<status>)": the statuses are counted.
    args[1:1] = ["-v", "2"]
    start = time.monotonic()
    p = run(args + [f"http://127.0.0.1:{port}/task"], timeout=600, check=False)
    out = p.stdout + p.stderr
    with open(log_file, "w") as f:
        f.write(out)

    def num(pattern, default=0.0):
        m = re.search(pattern, out)
        return float(m.group(1)) if m else default

    figures = {"cmd": " ".join(args + [f"http://127.0.0.1:{port}/task"]), "rc": p.returncode,
               "complete": int(num(r"Complete requests:\s+(\d+)")), "failed": int(num(r"Failed requests:\s+(\d+)")),
               "non2xx": int(num(r"Non-2xx responses:\s+(\d+)")), "rps": num(r"Requests per second:\s+([\d.]+)"),
               "seconds": num(r"Time taken for tests:\s+([\d.]+)"), "p50": num(r"\n\s+50%\s+(\d+)"),
               "p99": num(r"\n\s+99%\s+(\d+)"), "max": num(r"\n\s+100%\s+(\d+)"),
               "start": start, "end": time.monotonic()}
    m = re.search(r"\(Connect: (\d+), Receive: (\d+), Length: (\d+), Exceptions: (\d+)\)", out)
    figures.update(dict(zip(["connect", "receive", "length", "exceptions"], map(int, m.groups()))) if m else
                   {"connect": 0, "receive": 0, "length": 0, "exceptions": 0})
    # ab counts a keep-alive connection closed before any response (a killed frontend) as a complete request with a
    # Length failure: the responses are counted from -v 2's headers instead. Failures are the non-2xx responses, the
    # requests without a response, and socket errors.
    figures["responses"] = out.count("LOG: header received:")
    figures["closed"] = max(0, figures["complete"] - figures["responses"])
    figures["errors"] = (figures["non2xx"] + figures["closed"] + figures["connect"] + figures["receive"] +
                         figures["exceptions"])
    figures["ok"] = figures["responses"] - figures["non2xx"]
    figures["statuses"] = collections.Counter(re.findall(r"WARNING: Response code not 2xx \((\d+)\)", out))
    if p.returncode != 0 or figures["complete"] == 0:
        figures["output"] = re.sub(r"(?s)LOG: header received:.*?\r\n\r\n", "", out)[-1500:]
    return figures


def ab_line(f):
    statuses = " (" + ", ".join(f"{k}: {v}" for k, v in sorted(f["statuses"].items())) + ")" if f["statuses"] else ""
    return (f"{f['complete']} requests in {f['seconds']:.1f}s = {f['rps']:.0f}/s, p50 {f['p50']:.0f} ms, "
            f"p99 {f['p99']:.0f} ms, max {f['max']:.0f} ms; 2xx {f['ok']}, non-2xx {f['non2xx']}{statuses}, closed without "
            f"a response {f['closed']}, socket errors "
            f"{f['connect'] + f['receive'] + f['exceptions']} (connect {f['connect']}, receive {f['receive']}, "
            f"exceptions {f['exceptions']}), ab 'Failed requests' {f['failed']} (length {f['length']})")


# ---------------------------------------------------------------- the orchestrators (Swarm, or docker-compose)

class Swarm:
    kind = "swarm"

    def __init__(self, env):
        self.env = env

    def label_filter(self, service=None):
        if service:
            return ["--filter", f"label=com.docker.swarm.service.name={STACK}_{service}"]
        return ["--filter", f"label=com.docker.stack.namespace={STACK}"]

    def deploy(self):
        args = ["docker", "stack", "deploy", "--resolve-image", "never", "--detach=true"]
        for f in STACK_FILES:
            args += ["-c", f]
        return run(args + [STACK], env=self.env, timeout=180)

    def replicas(self):
        """{service: (running, desired)} from `docker service ls`."""
        p = run(["docker", "service", "ls", "--filter", f"label=com.docker.stack.namespace={STACK}",
                 "--format", "{{.Name}} {{.Replicas}}"])
        out = {}
        for line in p.stdout.split("\n"):
            m = re.match(rf"{STACK}_(\S+) (\d+)/(\d+)", line)
            if m:
                out[m.group(1)] = (int(m.group(2)), int(m.group(3)))
        return out

    def scale(self, service, n):
        run(["docker", "service", "scale", "--detach=false", f"{STACK}_{service}={n}"], timeout=240)

    def rolling_update(self, service):
        run(["docker", "service", "update", "--detach=false", "--force", f"{STACK}_{service}"], timeout=400)

    def after_kill(self, service, n, victim):
        pass  # Swarm replaces the task (restart_policy)

    def tasks(self, service):
        p = run(["docker", "service", "ps", "-q", "--filter", "desired-state=running", f"{STACK}_{service}"])
        return set(p.stdout.split())

    def describe(self):
        p = run(["docker", "service", "ps", "--no-trunc", "--format",
                 "{{.Name}} {{.CurrentState}} {{.Error}}"] + [f"{STACK}_{s}" for s in SERVICES], check=False)
        return p.stdout

    def logs(self, service, n=15):
        return run(["docker", "service", "logs", "--no-task-ids", "--tail", str(n), f"{STACK}_{service}"],
                   check=False, timeout=30).stdout[-3000:]

    def remove(self):
        run(["docker", "stack", "rm", STACK], check=False, timeout=120)


class Compose(Swarm):
    kind = "compose"

    def base(self):
        args = ["docker-compose", "--compatibility", "-p", STACK]
        for f in STACK_FILES:
            args += ["-f", f]
        return args

    def label_filter(self, service=None):
        f = ["--filter", f"label=com.docker.compose.project={STACK}"]
        return f + (["--filter", f"label=com.docker.compose.service={service}"] if service else [])

    def deploy(self):
        return run(self.base() + ["up", "-d"], env=self.env, timeout=300)

    def replicas(self):
        out = {}
        for service in SERVICES:
            ids = containers(self, service)
            desired = self.desired.get(service, 1) if hasattr(self, "desired") else 1
            out[service] = (len(ids), desired)
        return out

    def scale(self, service, n):
        self.desired[service] = n
        run(self.base() + ["up", "-d", "--no-deps", "--no-recreate", "--scale", f"{service}={n}", service],
            env=self.env, timeout=240)

    def rolling_update(self, service):
        """Start-first by hand: start as many new containers as there are, then stop the old ones one by one."""
        old = containers(self, service)
        n = len(old)
        run(self.base() + ["up", "-d", "--no-deps", "--no-recreate", "--scale", f"{service}={2 * n}", service],
            env=self.env, timeout=240)
        wait_healthy(self, service, 2 * n, 120)
        for c in old:
            run(["docker", "stop", "-t", "10", c], timeout=60)
            run(["docker", "rm", c], timeout=60)

    def after_kill(self, service, n, victim):
        # A container stopped by `docker kill` is not restarted by its restart policy: replace it as Swarm would.
        run(["docker", "rm", victim], check=False)
        run(self.base() + ["up", "-d", "--no-deps", "--no-recreate", "--scale", f"{service}={n}", service],
            env=self.env, timeout=240)

    def tasks(self, service):
        return set(containers(self, service))

    def describe(self):
        return run(self.base() + ["ps"], env=self.env, check=False).stdout

    def logs(self, service, n=15):
        return run(self.base() + ["logs", "--tail", str(n), service], env=self.env, check=False,
                   timeout=30).stdout[-3000:]

    def remove(self):
        run(self.base() + ["down", "-v", "--remove-orphans", "-t", "10"], env=self.env, check=False, timeout=180)


def containers(orch, service, healthy=False):
    args = ["docker", "ps", "-q", "--no-trunc", "--filter", "status=running"] + orch.label_filter(service)
    if healthy:
        args += ["--filter", "health=healthy"]
    return run(args).stdout.split()


def out_of_memory(orch):
    """The containers of the stack (running or exited) that the kernel's OOM killer stopped: a service outgrew its
    memory limit, which no kill of the test explains."""
    ids = run(["docker", "ps", "-a", "-q", "--no-trunc"] + orch.label_filter()).stdout.split()
    if not ids:
        return []
    p = run(["docker", "inspect", "--format", "{{.Name}} {{.State.OOMKilled}}"] + ids, check=False)
    return [line.split()[0].lstrip("/") for line in p.stdout.splitlines() if line.endswith(" true")]


def wait_healthy(orch, service, n, timeout=180):
    def check():
        running = containers(orch, service)
        healthy = containers(orch, service, healthy=True)
        r = orch.replicas().get(service, (0, 0))
        return len(healthy) == n and len(running) == n and r[0] == n, \
            f"{service}: {len(healthy)} healthy, {len(running)} running, replicas {r[0]}/{r[1]}, want {n}"
    return wait_until(f"{n} healthy {service} replicas", check, timeout)


# ---------------------------------------------------------------- the run

class Run:
    def __init__(self):
        self.errors = []
        self.notes = []
        self.events = []        # (name, t) of chaos steps
        self.kills = []         # (service, t, container)
        self.started_swarm = False
        self.gwbridge_existed = True
        self.orch = None
        self.built = []
        self.timings = {}
        self.made_secrets = False

    def error(self, msg):
        self.errors.append(msg)
        log(f"ERROR: {msg}")

    def mark(self, name):
        self.events.append((name, time.monotonic()))
        log(f"chaos: {name}")

    # -- setup
    def preflight(self):
        if not shutil.which("docker"):
            return "no docker client on PATH"
        try:
            p = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True,
                               text=True, timeout=30)
        except subprocess.TimeoutExpired:
            return "no Docker Engine answers (docker info timed out after 30 s)"
        if p.returncode != 0 or not p.stdout.strip():
            return "no Docker Engine answers: " + (p.stderr.strip().splitlines() or ["docker info failed"])[-1]
        self.engine = p.stdout.strip()
        return None

    def build(self):
        start = time.monotonic()
        base_existed = run(["docker", "image", "inspect", "taskbus-base:bookworm"], check=False).returncode == 0
        p = subprocess.Popen([os.path.join(TOP, "docker", "build.sh"), TAG], cwd=TOP, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        timer = threading.Timer(max(60, DEADLINE - time.monotonic() - 300), p.kill)
        timer.start()
        output = []
        for line in p.stdout:
            output.append(line)
            if line.startswith(("base:", "build:")) and not line.rstrip().endswith("…"):
                log(line.rstrip())
        p.wait()
        timer.cancel()
        if p.returncode != 0:
            raise RuntimeError(f"docker/build.sh failed ({p.returncode}):\n{''.join(output)[-3000:]}")
        self.built = list(IMAGES.values())
        self.timings["build"] = time.monotonic() - start
        self.notes.append("base image taskbus-base:bookworm " + ("reused" if base_existed else "built by this run") +
                          "; it is kept as the machine's base (docker image rm taskbus-base:bookworm drops it)")

    def secrets(self):
        """Write docker/secrets/ with docker/secrets.sh (it keeps passwords that exist and rewrites the ACL)."""
        self.made_secrets = not os.path.exists(SECRETS)
        run([os.path.join(TOP, "docker", "secrets.sh")], timeout=60)
        log("secrets: docker/secrets.sh wrote the Redis ACL and the roles' passwords" +
            (" (the folder is removed at the end)" if self.made_secrets else " (kept: the folder existed)"))

    def check_redis_auth(self):
        """Redis must refuse a client that sends no password."""
        ids = containers(self.orch, "redis")
        if not ids:
            raise RuntimeError("no running redis container")
        p = run(["docker", "exec", ids[0], "redis-cli", "ping"], check=False, timeout=30)
        answer = (p.stdout + p.stderr).strip()
        if "NOAUTH" not in answer:
            raise RuntimeError(f"Redis answered PING without a password: {answer[:200]}")
        log(f"redis: refuses a client without a password ({answer[:60]})")

    def choose(self, env):
        mode = os.environ.get("TASKBUS_SWARM_TEST_MODE", "auto")
        if mode == "compose":
            self.notes.append("docker-compose forced by TASKBUS_SWARM_TEST_MODE=compose")
            return self.compose(env)
        state = run(["docker", "info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}"]).stdout
        state = state.split()
        if state and state[0] == "active":
            if state[1:] != ["true"]:
                return self.fallback(env, mode, "this node is in a swarm but is not a manager")
            log("swarm: already active on this node: used as is, and left active")
        else:
            self.gwbridge_existed = run(["docker", "network", "inspect", "docker_gwbridge"],
                                        check=False).returncode == 0
            p = run(["docker", "swarm", "init", "--advertise-addr", "127.0.0.1"], check=False, timeout=60)
            if p.returncode != 0:
                return self.fallback(env, mode, "docker swarm init failed: " + p.stderr.strip()[-500:])
            self.started_swarm = True
            log("swarm: initialised (docker swarm init --advertise-addr 127.0.0.1); it is left at the end")
        orch = self.orch = Swarm(env)
        self.remove_stack(leftovers=True)
        try:
            orch.deploy()
        except RuntimeError as e:
            reason = f"docker stack deploy failed: {e}"
            self.remove_stack()
            self.leave_swarm()
            self.orch = None
            return self.fallback(env, mode, reason)
        log("deploy: " + " ".join(["docker", "stack", "deploy", "--resolve-image", "never"] +
                                  [x for f in STACK_FILES for x in ("-c", os.path.relpath(f, TOP))] + [STACK]))
        return orch

    def fallback(self, env, mode, reason):
        if mode == "swarm":
            raise RuntimeError(reason)
        self.notes.append(f"Swarm could not be used ({reason}): the run used docker-compose instead")
        log(f"swarm: {reason}; falling back to docker-compose")
        return self.compose(env)

    def compose(self, env):
        env = dict(env, NETWORK_DRIVER="bridge")
        orch = Compose(env)
        orch.desired = {"frontend": REPLICAS["FRONTEND_REPLICAS"], "events": REPLICAS["EVENTS_REPLICAS"],
                        "arithmetic": REPLICAS["ARITHMETIC_REPLICAS"], "string": REPLICAS["STRING_REPLICAS"]}
        self.orch = orch
        self.remove_stack(leftovers=True)
        orch.deploy()
        log("deploy: docker-compose --compatibility -p taskbus-test -f docker-stack.yaml -f "
            "tests/swarm/stack-test.yaml up -d")
        return orch

    def wait_ready(self):
        start = time.monotonic()
        want = {"redis": 1, "mongo": 1, "lb": 1, "prometheus": 1, "frontend": REPLICAS["FRONTEND_REPLICAS"],
                "events": REPLICAS["EVENTS_REPLICAS"], "arithmetic": REPLICAS["ARITHMETIC_REPLICAS"],
                "string": REPLICAS["STRING_REPLICAS"]}

        def check():
            reps = self.orch.replicas()
            missing = []
            for s, n in want.items():
                healthy = len(containers(self.orch, s, healthy=True))
                if reps.get(s, (0, 0))[0] != n or healthy != n:
                    missing.append(f"{s} {reps.get(s, (0, 0))[0]}/{n} running, {healthy} healthy")
            if missing:
                return False, "; ".join(missing)
            status, text = http_get(self.port)
            if status != 200:
                return False, f"GET / on {self.port}: {status} {text[:100]}"
            for body in ('{"a1":1,"a2":2}', '{"a1":"a","a2":"b"}'):
                status, text = http_post(self.port, body)
                if status != 200:
                    return False, f"POST {body}: {status} {text[:100]}"
            return True, "ready"
        wait_until("the stack to be ready", check, 300)
        self.timings["ready"] = time.monotonic() - start
        log(f"ready in {self.timings['ready']:.0f}s: every service at its replica count and healthy; GET / on "
            f"127.0.0.1:{self.port} answers 200 and both backends compute")

    def check_hardening(self):
        """Every container of the pipeline's services runs read-only, without capabilities, as the image's user."""
        checked = 0
        for service in ("frontend", "events", "arithmetic", "string"):
            for cid in containers(self.orch, service):
                out = run(["docker", "inspect", "--format",
                           "{{json .HostConfig.ReadonlyRootfs}}|{{json .HostConfig.CapDrop}}|{{.Config.User}}",
                           cid]).stdout.strip()
                read_only, cap_drop, user = out.split("|")
                caps = json.loads(cap_drop) or []
                if read_only != "true" or "ALL" not in caps or user not in ("10001:10001", "taskbus:taskbus"):
                    self.error(f"{service} container {cid[:12]} is not hardened: read-only {read_only}, "
                               f"cap_drop {cap_drop}, user {user!r}")
                checked += 1
        log(f"hardening: {checked} pipeline containers run read-only, with every capability dropped, as uid 10001")

    def check_prometheus(self):
        """Scrape the stack's Prometheus once: every replica of every daemon service is a target that is up (found
        by DNS after the scaling and the kills), and the pipeline's task counter it collected is not zero."""
        def query(q):
            url = f"http://127.0.0.1:{self.prometheus_port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
            with urllib.request.urlopen(url, timeout=10) as r:
                return json.loads(r.read())["data"]["result"]

        def targets_up():
            # The replica counts as the load left them (it ends by scaling a backend service down).
            reps = self.orch.replicas()
            want = {s: reps.get(s, (0, 0))[0] for s in ("frontend", "events", "arithmetic", "string")}
            try:
                up = collections.Counter(r["metric"]["job"] for r in query("up == 1"))
            except (OSError, ValueError, KeyError) as e:
                return False, f"Prometheus on {self.prometheus_port}: {e}"
            return all(up[j] == n for j, n in want.items()), f"targets up {dict(up)}, want {want}"
        try:
            seen = wait_until("Prometheus to scrape every replica", targets_up, 60)
            tasks = sum(float(r["value"][1]) for r in query("sum(taskbus_tasks_total)"))
            if tasks <= 0:
                raise RuntimeError("Prometheus holds no taskbus_tasks_total")
            log(f"prometheus: every replica is a target that is up ({seen}); sum(taskbus_tasks_total) = {tasks:.0f}")
        except RuntimeError as e:
            self.error(f"prometheus: {e}")

    # -- chaos, during the load
    def kill_one(self, service):
        n = len(containers(self.orch, service))
        victim = containers(self.orch, service)[0]
        t = time.monotonic()
        run(["docker", "kill", victim])
        self.kills.append((service, t, victim[:12]))
        self.mark(f"docker kill {victim[:12]} ({service})")
        self.orch.after_kill(service, n, victim)
        start = time.monotonic()
        wait_healthy(self.orch, service, n, 120)
        if victim in containers(self.orch, service):
            self.error(f"killed {service} container {victim[:12]} still runs")
        log(f"chaos: {service} back to {n} healthy replicas {time.monotonic() - start:.1f}s after the kill")

    def chaos(self):
        try:
            time.sleep(3)
            n0 = REPLICAS["ARITHMETIC_REPLICAS"]
            self.mark(f"scale arithmetic {n0} -> 4")
            t = time.monotonic()
            self.orch.scale("arithmetic", 4)
            wait_healthy(self.orch, "arithmetic", 4)
            log(f"chaos: arithmetic at 4 healthy replicas in {time.monotonic() - t:.1f}s")
            time.sleep(2)
            self.kill_one("arithmetic")
            time.sleep(2)
            self.kill_one("events")
            time.sleep(2)
            self.kill_one("frontend")
            time.sleep(2)
            before = self.orch.tasks("string")
            self.mark("rolling update of string (" + ("docker service update --force" if self.orch.kind == "swarm"
                      else "docker-compose: new containers first, then the old ones stopped one by one") + ")")
            t = time.monotonic()
            self.orch.rolling_update("string")
            wait_healthy(self.orch, "string", REPLICAS["STRING_REPLICAS"])
            after = self.orch.tasks("string")
            log(f"chaos: string updated in {time.monotonic() - t:.1f}s; tasks replaced: "
                f"{len(before - after)} of {len(before)}")
            if before & after:
                self.error(f"rolling update left string tasks {sorted(before & after)} in place")
            self.events.append(("rolling update done", time.monotonic()))
            time.sleep(2)
            self.mark("scale arithmetic 4 -> 1")
            t = time.monotonic()
            self.orch.scale("arithmetic", 1)
            wait_healthy(self.orch, "arithmetic", 1)
            log(f"chaos: arithmetic at 1 replica in {time.monotonic() - t:.1f}s")
            self.events.append(("scale down done", time.monotonic()))
            time.sleep(3)
        except Exception as e:
            self.error(f"chaos step failed: {e}")

    # -- checks
    def explained(self, start, end):
        """A failed request is explained by a kill when it was in flight at the kill (or sent before the lb and the
        registries could notice it: 3 s) and ended within the deadlines after it (TASK_TIMEOUT_MS + margin)."""
        for service, t, _ in self.kills:
            if start <= t + 3.0 and t - 0.5 <= end <= t + TASK_TIMEOUT_MS / 1000 + 4.0:
                return service
        return None

    def check_responses(self, records):
        answered = {}          # task id -> (index, status, result)
        failures = collections.Counter()
        by_kill = collections.Counter()
        unexplained = []
        wrong = []
        for i, start, end, status, answer in records:
            _, want_status, want_result = case(i)
            tid = answer.get("id") if isinstance(answer, dict) else None
            if tid:
                if tid in answered:
                    wrong.append(f"task id {tid} answered twice (requests {answered[tid][0]} and {i})")
                answered[tid] = (i, status, answer.get("result"), answer.get("error"))
            if status == want_status and (want_status != 200 or answer.get("result") == want_result):
                continue
            if status == 200 or (status == 422 and want_status == 200):
                wrong.append(f"request {i} {case(i)[0]}: {status} {answer}")
                continue
            msg = answer.get("error", answer) if isinstance(answer, dict) else answer
            msg = re.sub(r"[0-9a-f]{32}|(frontend|events|arithmetic|string)-[0-9a-f]{12}-\d+-[0-9a-f]{8}",
                         "<id>", str(msg))
            msg = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", msg)).strip()[:110] if "<html>" in str(msg) else msg
            key = f"{status if status is not None else 'socket error'}: {msg}"
            failures[key] += 1
            killed = self.explained(start, end)
            if killed:
                by_kill[killed] += 1
            else:
                unexplained.append((i, round(start - T0, 2), round(end - T0, 2), key))
        return answered, failures, by_kill, unexplained, wrong

    def read_store(self):
        import pymongo
        client = pymongo.MongoClient(f"mongodb://127.0.0.1:{self.mongo_port}/taskbus", serverSelectionTimeoutMS=5000)
        try:
            tasks = collections.defaultdict(list)
            for doc in client.taskbus.events.find({}, {"at": 0}, batch_size=5000):
                for rec in split_commit(doc):
                    tasks[rec["task"]].append(rec)
            return tasks
        finally:
            client.close()

    def check_store(self, tasks, answered):
        problems = []
        outcome = collections.Counter()
        per_backend, per_events, redispatched, handed_over = collections.Counter(), collections.Counter(), 0, 0
        for tid, recs in tasks.items():
            recs.sort(key=lambda r: r["seq"])
            types = [r["type"] for r in recs]
            # Steps of the events replica that took the task at handoff h are numbered h*100, h*100+1, ... (h > 0:
            # a frontend re-sent it after its events replica vanished); the one outcome has the _id "<task>:outcome".
            by_handoff = collections.defaultdict(list)
            for r in recs:
                by_handoff[r["seq"] // 100].append(r)
            for h, group in by_handoff.items():
                if [r["seq"] for r in group] != list(range(h * 100, h * 100 + len(group))):
                    problems.append(f"{tid}: sequence numbers {[r['seq'] for r in recs]}")
                if len({r["events"] for r in group}) != 1:
                    problems.append(f"{tid}: handoff {h} handled by two events replicas")
            handed_over += len(by_handoff) > 1 or 0 not in by_handoff
            if types[0] != "received" or types.count("received") != len(by_handoff):
                problems.append(f"{tid}: records {types}")
                continue
            finals = [r for r in recs if r["type"] in ("completed", "failed")]
            if len(finals) > 1 or (finals and finals[0]["_id"] != f"{tid}:outcome"):
                problems.append(f"{tid}: two outcomes, or an outcome without its _id: {types}")
            redispatched += types.count("dispatched") > 0
            want = expected_result(recs[0].get("request", ""))
            if not finals:
                outcome["no outcome"] += 1
                continue
            final = finals[0]
            if final["type"] == "completed":
                outcome["completed"] += 1
                per_backend[final.get("backend", "?")] += 1
                per_events[recs[0]["events"]] += 1
                if final.get("result") != want:
                    problems.append(f"{tid}: request {recs[0].get('request')} completed with {final.get('result')}"
                                    f" instead of {want}")
                dispatched = [r.get("backend") for r in recs if r.get("backend") and r["type"] != "completed"]
                if dispatched and final.get("backend") not in dispatched:
                    problems.append(f"{tid}: completed by {final.get('backend')}, sent to {dispatched}")
            else:
                outcome[f"failed {final.get('status')}"] += 1
                if want is not None and final.get("status") not in (504,):
                    problems.append(f"{tid}: request {recs[0].get('request')} failed {final.get('status')} "
                                    f"{final.get('error')}")
        if outcome["no outcome"]:
            problems.append(f"{outcome['no outcome']} tasks have no outcome in the log (an accepted task must end with "
                            f"one, whatever is killed)")
        # Every request of the checker that got an outcome from events (a result, 422, or events' own 504, all
        # logged before the answer leaves): its whole history, with the answer it got. The frontend's own failures
        # (503, or 504 "no answer within": its events replica was killed) may have no record.
        missing = 0
        for tid, (i, status, result, error) in answered.items():
            if status in (503, 504) and not re.search(r"answer(ed)? in time", error or ""):
                continue
            recs = tasks.get(tid)
            if not recs:
                missing += 1
                if missing <= 5:
                    problems.append(f"answered task {tid} (request {i}, status {status}) is not in the store")
                continue
            final = next((r for r in recs if r["type"] in ("completed", "failed")), recs[-1])
            if json.loads(recs[0].get("request", "{}")) != case(i)[0]:
                problems.append(f"{tid}: stored request {recs[0].get('request')} is not request {i} {case(i)[0]}")
            if status == 200 and (final["type"] != "completed" or final.get("result") != result):
                problems.append(f"{tid}: answered 200 {result}, stored {[r['type'] for r in recs]} "
                                f"{final.get('result')}")
            if status != 200 and (final["type"] != "failed" or final.get("status") != status):
                problems.append(f"{tid}: answered {status}, stored {[r['type'] for r in recs]}")
        if missing:
            problems.append(f"{missing} answered tasks missing from the store")
        # The frontend's own timeouts (their events replica was killed): what became of those tasks.
        timed_out = collections.Counter()
        for tid, (i, status, result, error) in answered.items():
            if status == 504 and not re.search(r"answer(ed)? in time", error or ""):
                recs = tasks.get(tid)
                final = next((r["type"] for r in recs or [] if r["type"] in ("completed", "failed")), None)
                timed_out["not in the store" if not recs else final or "no outcome"] += 1
        return problems, outcome, per_backend, per_events, redispatched, handed_over, timed_out

    # -- cleanup
    def remove_stack(self, leftovers=False):
        """Remove the stack (or what an interrupted earlier run left of it) and wait until it is gone."""
        def left():
            found = run(["docker", "ps", "-aq"] + self.orch.label_filter()).stdout.split()
            found += run(["docker", "network", "ls", "-q", "--filter", f"name={STACK}_"]).stdout.split()
            found += run(["docker", "volume", "ls", "-q", "--filter", f"name={STACK}_"]).stdout.split()
            if self.orch.kind == "swarm":
                found += run(["docker", "service", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={STACK}"],
                             check=False).stdout.split()
            return found
        if leftovers:
            if not left():
                return
            log(f"removing what an earlier run left of {STACK}")
        self.orch.remove()

        def gone():  # docker stack rm returns before its containers and network are gone
            containers_left = run(["docker", "ps", "-aq"] + self.orch.label_filter()).stdout.split()
            nets = run(["docker", "network", "ls", "-q", "--filter", f"name={STACK}_"]).stdout.split()
            return not containers_left and not nets, f"containers {containers_left}, networks {nets}"
        try:
            wait_until("the stack's containers and network to go", gone, 120)
        except Exception as e:
            self.error(f"cleanup: {e}")
        for vol in run(["docker", "volume", "ls", "-q", "--filter", f"name={STACK}_"]).stdout.split():
            run(["docker", "volume", "rm", vol], check=False)
        for cfg in run(["docker", "config", "ls", "-q", "--filter", f"name={STACK}_"], check=False).stdout.split():
            run(["docker", "config", "rm", cfg], check=False)
        for sec in run(["docker", "secret", "ls", "-q", "--filter", f"name={STACK}_"], check=False).stdout.split():
            run(["docker", "secret", "rm", sec], check=False)

    def leave_swarm(self):
        if self.started_swarm:
            run(["docker", "swarm", "leave", "--force"], check=False, timeout=60)
            if not self.gwbridge_existed:
                run(["docker", "network", "rm", "docker_gwbridge"], check=False)
            self.started_swarm = False
            log("cleanup: left swarm mode (this run had entered it)")

    def cleanup(self):
        if self.orch:
            log("cleanup: removing the stack")
            self.remove_stack()
        if self.built and not KEEP_IMAGES:
            run(["docker", "image", "rm"] + self.built, check=False)
            # The build stages of these images, and earlier builds of the same tags (untagged by this build).
            stages = run(["docker", "images", "-q", "--filter", "dangling=true", "--filter",
                          "label=io.taskbus.stage=build"]).stdout.split()
            for image in self.built:
                stages += run(["docker", "images", "-q", "--filter", "dangling=true", "--filter",
                               f"label=io.taskbus.image={image}"]).stdout.split()
            if stages:
                run(["docker", "image", "rm"] + sorted(set(stages)), check=False)
            log(f"cleanup: removed images {', '.join(self.built)} and {len(set(stages))} build-stage image(s)")
        elif self.built:
            log(f"cleanup: kept images {', '.join(self.built)} (TASKBUS_SWARM_KEEP_IMAGES=1)")
        self.leave_swarm()
        if self.made_secrets:
            shutil.rmtree(SECRETS, ignore_errors=True)
            log("cleanup: removed docker/secrets/ (this run created it)")
        left = []
        left += run(["docker", "ps", "-aq", "--filter", f"name={STACK}_"]).stdout.split()
        left += run(["docker", "volume", "ls", "-q", "--filter", f"name={STACK}_"]).stdout.split()
        left += run(["docker", "network", "ls", "-q", "--filter", f"name={STACK}_"]).stdout.split()
        if not KEEP_IMAGES:
            left += [i for i in self.built if run(["docker", "image", "inspect", i], check=False).returncode == 0]
        if left:
            self.error(f"cleanup left {left}")
        else:
            log("cleanup: no container, volume, network, config or image of the run is left")

    # -- the whole run
    def main(self):
        reason = self.preflight()
        if reason:
            print(f"skipped: {reason}")
            return 0
        log(f"Docker Engine {self.engine} answers; building the images from {TOP}")
        self.port, self.mongo_port, self.prometheus_port = free_port(), free_port(), free_port()
        env = dict(IMAGES, TASKBUS_PORT=str(self.port), TASKBUS_TEST_MONGO_PORT=str(self.mongo_port),
                   PROMETHEUS_PORT=str(self.prometheus_port),
                   TASK_TIMEOUT_MS=str(TASK_TIMEOUT_MS), **{k: str(v) for k, v in REPLICAS.items()})
        tmp = tempfile.mkdtemp(prefix="taskbus-swarm-")
        try:
            self.build()
            self.secrets()
            self.orch = self.choose(env)
            self.wait_ready()
            self.check_hardening()
            self.check_redis_auth()
            self.load(tmp)
        except Exception as e:
            self.error(str(e))
            if self.orch:
                try:
                    log("state of the services:\n" + self.orch.describe()[-4000:])
                    for s in ("lb", "frontend", "events", "arithmetic"):
                        log(f"last log lines of {s}:\n" + self.orch.logs(s))
                except Exception as e2:
                    log(f"(could not describe the stack: {e2})")
        finally:
            try:
                self.cleanup()
            except Exception as e:
                self.error(f"cleanup: {e}")
            if KEEP_LOGS:
                log(f"logs kept in {tmp} (ab outputs)")
            else:
                shutil.rmtree(tmp, ignore_errors=True)
        mode = self.orch.kind if self.orch else "none"
        print(f"\nswarm-test ({mode}) finished in {time.monotonic() - T0:.0f}s")
        for n in self.notes:
            print(f"note: {n}")
        if self.errors:
            print(f"FAIL: {len(self.errors)} error(s):")
            for e in self.errors:
                print(f"  - {e}")
            return 1
        print("PASS")
        return 0

    def load(self, tmp):
        seed_file, ab_file = os.path.join(tmp, "seed.json"), os.path.join(tmp, "body.json")
        with open(seed_file, "w") as f:
            f.write(SEED_BODY)
        with open(ab_file, "w") as f:
            f.write(AB_BODY)

        # 1. The seed's load command, on the healthy stack: nothing may fail.
        seed = ab(self.port, seed_file, 1000, 10, keepalive_errors_ok=False, log_file=os.path.join(tmp, "ab-seed.log"))
        log(f"ab (seed) {seed['cmd']}\n          {ab_line(seed)}")
        if seed["errors"] or seed["complete"] != 1000:
            self.error(f"the seed's ab run had failures: {ab_line(seed)} {seed.get('output', '')}")

        # 2. ab rounds and the checking load generator, while the stack is scaled, killed and updated.
        checker = Checker(self.port, CONNECTIONS)
        rounds = []
        stop_ab = threading.Event()

        def ab_rounds():
            while True:
                rounds.append(ab(self.port, ab_file, AB_REQUESTS, CONNECTIONS, keepalive_errors_ok=True,
                                 log_file=os.path.join(tmp, f"ab-{len(rounds) + 1}.log")))
                log(f"ab round {len(rounds)}: {ab_line(rounds[-1])}")
                if stop_ab.is_set() or time.monotonic() > DEADLINE - 300:
                    return
        load_start = time.monotonic()
        checker.start()
        ab_thread = threading.Thread(target=ab_rounds, daemon=True)
        ab_thread.start()
        log(f"load: ab -r -k -c {CONNECTIONS} -n {AB_REQUESTS} rounds (body {AB_BODY}) and the checker "
            f"({CONNECTIONS} connections, distinct requests) on 127.0.0.1:{self.port}")
        self.chaos()
        stop_ab.set()
        ab_thread.join(max(1, DEADLINE - time.monotonic()))   # the current ab round runs to its end
        checker.finish()
        load_seconds = time.monotonic() - load_start
        records = sorted(checker.records)
        log(f"load: done in {load_seconds:.0f}s; checker {len(records)} requests ({len(records) / load_seconds:.0f}/s)"
            f", ab {len(rounds)} round(s) of {AB_REQUESTS}")

        # 3. Prometheus found every replica by DNS and scraped it; the stack must be whole again, and still answer;
        # no container may have outgrown its memory limit.
        self.check_prometheus()
        for name in out_of_memory(self.orch):
            self.error(f"{name} was killed by the OOM killer: it outgrew the memory limit of docker-stack.yaml")
        status, text = http_get(self.port)
        if status != 200:
            self.error(f"after the load, GET / answered {status} {text[:200]}")

        # 4. Checks: the responses.
        answered, failures, by_kill, unexplained, wrong = self.check_responses(records)
        ok = sum(1 for r in records if r[3] == case(r[0])[1])
        print("\n==== figures")
        print(f"seed ab:      {ab_line(seed)}")
        ab_total = collections.Counter()
        for n, r in enumerate(rounds, 1):
            print(f"ab round {n}:   {ab_line(r)}")
            for k in ("complete", "ok", "non2xx", "closed", "connect", "receive", "exceptions", "errors", "length"):
                ab_total[k] += r[k]
            ab_total.update({f"status {k}": v for k, v in r["statuses"].items()})
        print(f"ab (load):    {ab_total['complete']} requests, {ab_total['ok']} 2xx, {ab_total['non2xx']} non-2xx "
              f"({', '.join(f'{k}: {v}' for k, v in sorted(ab_total.items()) if k.startswith('status'))}), "
              f"{ab_total['closed']} closed without a response, "
              f"{ab_total['connect'] + ab_total['receive'] + ab_total['exceptions']} socket errors")
        print(f"checker:      {len(records)} requests, {ok} answered as expected (200 with the right result, or 422 "
              f"for division by zero), {len(records) - ok} failed, {len(wrong)} wrong")
        print("failures by status and message (checker):")
        for key, n in failures.most_common():
            print(f"  {n:6d}  {key}")
        print(f"failures explained by a kill: {dict(by_kill)}; unexplained: {len(unexplained)}")
        print("chaos timeline (seconds since start):")
        for name, t in self.events:
            print(f"  {t - T0:7.1f}  {name}")
        for w in wrong[:10]:
            self.error(f"wrong answer: {w}")
        if wrong:
            self.error(f"{len(wrong)} wrong answers or duplicated task ids")
        for u in unexplained[:10]:
            self.error(f"failure not explained by a kill (request, start, end, failure): {u}")
        if unexplained:
            self.error(f"{len(unexplained)} failures outside the kills' windows")
        # Each failed request was in flight on a killed replica: at most the load's concurrency per kill.
        bound = len(self.kills) * 2 * CONNECTIONS
        failed_total = (len(records) - ok) + ab_total["errors"]
        print(f"failed requests, ab and checker together: {failed_total} (at most {bound}: {len(self.kills)} kills "
              f"x {2 * CONNECTIONS} requests in flight)")
        if failed_total > bound:
            self.error(f"{failed_total} failed requests: more than could be in flight on the killed replicas")
        if not rounds or rounds[0]["complete"] < AB_REQUESTS:
            self.error("the large ab run did not complete its requests")

        # 5. Checks: the store.
        t = time.monotonic()
        tasks = self.read_store()
        problems, outcome, per_backend, per_events, redispatched, handed_over, timed_out = self.check_store(
            tasks, answered)
        n_records = sum(len(v) for v in tasks.values())
        print(f"store:        {len(tasks)} tasks, {n_records} records (read in {time.monotonic() - t:.0f}s); "
              f"outcomes {dict(outcome)}; tasks redispatched {redispatched}; handed to another events replica "
              f"{handed_over}")
        answers_2xx = seed["ok"] + ab_total["ok"] + sum(1 for r in records if r[3] == 200)
        print(f"              completed tasks {outcome['completed']} >= 200 answers {answers_2xx} "
              f"(difference: completed tasks whose answer was lost with a killed frontend or in flight)")
        if outcome["completed"] < answers_2xx:
            self.error(f"{answers_2xx} requests were answered 200 but only {outcome['completed']} tasks completed")
        print(f"              per events replica {sorted(per_events.values(), reverse=True)}; "
              f"per backend replica {sorted(per_backend.values(), reverse=True)} ({len(per_backend)} replicas)")
        if timed_out:
            print(f"              the checker's {sum(timed_out.values())} frontend timeouts (504 'no answer within', "
                  f"their events replica was killed), in the store: {dict(timed_out)}")
        for p in problems[:10]:
            self.error(f"store: {p}")
        if problems:
            self.error(f"store: {len(problems)} problems")
        print("====\n")


if __name__ == "__main__":
    sys.exit(Run().main())
