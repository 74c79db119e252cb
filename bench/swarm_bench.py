#!/usr/bin/python3
"""make swarm-bench: the same `ab` rows against the stack deployed on Docker Swarm (through its `lb`) and against a
local stack of the same replica counts (tests/harness.py, the processes `make up` runs), and the ratio swarm/local.

1. Images from this checkout (docker/build.sh, tag :swarm-bench, removed at the end unless --keep-images), Redis's
   secrets (docker/secrets.sh), `docker swarm init` when needed (left at the end): the helpers of
   tests/swarm/swarm_test.py, which this script imports.
2. For each experiment (--experiments, default "stack+host-ip": docker-stack.yaml as it is, measured through the
   lb's port on 127.0.0.1 and on this host's address): a fresh local stack starts (redis-server with the same ACL,
   settings and maxmemory as the stack's, FerretDB, the daemons of build-bench/, on free ports; never the Redis on
   6379); the stack is deployed as `taskbus-bench` with the experiment's overrides (1 frontend, 1 events, 1 backend
   per service by default), and from the moment `docker stack deploy` returns, a prober posts tasks through the lb
   on 4 connections: the report counts HAProxy's own 503s, other non-200 answers and connection errors after the lb
   reported healthy and after every service reported its replicas running and healthy (a client that waits for
   either must get no error).
3. Rows: POST /task with {"a1":5,"a2":10} (-p, -T application/json), `ab` without keep-alive at c=10 and c=64 (as
   Swarm users run it), then the same with -k; --seconds each. Each row runs on both stacks back to back, in
   alternating order (swarm then local, then local then swarm, ...), so over --rounds 2 every row is measured
   A-B-B-A and a linear drift of the shared machine cancels in the means. Each row also gets the CPU time per
   answer of every container (cgroup v1 cpuacct) or process, of the host's helpers (docker-proxy, the engine,
   fuse-overlayfs) and of the machine as a whole (/proc/stat, ab included), and the CPU-limit throttling of each
   container. After the rows, the prober runs again through a rolling update of the lb (`docker service update
   --force`, stop-first as the stack says) and the report counts what it got.
4. The report (printed, and written to --out, default bench/results/swarm-bench-latest.md): per experiment and row,
   req/s, p50/p99 ms, non-2xx and failed requests on each side, and swarm/local (means over the rounds).
   The stacks, the swarm (if this run created it), the images and the secrets folder (if created) are removed.

Both sides are treated alike: every daemon authenticates to Redis with its role's password (the ACL of
scripts/redis_acl.py); neither uses API tokens (`API_TOKENS_FILE` is unset in docker-stack.yaml and here), so `ab`
sends no Authorization header. Only 127.0.0.1 (and, for the `host-ip` target, this host's own address) is targeted.

Experiments (comma-separated; each is one deployment and one fresh local stack):
  stack          docker-stack.yaml as it is, ab to the lb's published port on 127.0.0.1
  no-limits      every service's CPU limit raised to the machine's core count (no bound): what the limits cost
  direct         the frontend's port published as well (host mode); rows against the lb and the frontend itself
  host-ip        rows against the lb through this host's non-loopback address (iptables DNAT, no docker-proxy) and
                 through 127.0.0.1 (docker-proxy, Docker's userland proxy for loopback)
  paths          direct and host-ip together: the lb through 127.0.0.1 and through this host's address, and the
                 frontend's own published port through this host's address
  reuse-safe     the lb with `http-reuse safe` (the setting before 2026-12-07), to compare with the current file
  no-quota       every service's CPU limit set to 0: no CFS bandwidth control at all (what the quota's accounting
                 costs, apart from any throttling)
  lb=FILE        the lb with another haproxy.cfg
  env=S:K=V      the environment variable K=V for service S (e.g. env=mongo:GOMAXPROCS=1)
  Parts combine with '+': no-limits+host-ip, host-ip+lb=/tmp/haproxy.cfg.
"""
import argparse
import datetime
import http.client
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tests"))
sys.path.insert(0, os.path.join(TOP, "tests", "swarm"))
import harness  # noqa: E402
import swarm_test as st  # noqa: E402

# The swarm test's helpers read these module settings when they run: this bench deploys its own stack name and image
# tag, so that it never touches a swarm test's stack, and has its own time budget.
st.STACK = "taskbus-bench"
st.TAG = "swarm-bench"
st.IMAGES = {k: v.replace(":swarm-test", ":swarm-bench") for k, v in st.IMAGES.items()}
st.STACK_FILES = [os.path.join(TOP, "docker-stack.yaml")]
st.DEADLINE = time.monotonic() + 3 * 3600

BODY = '{"a1":5,"a2":10}'
# HAProxy's own 503 when no frontend replica is up: docker/haproxy.cfg's http-error body (or HAProxy's default page).
HAPROXY_503 = ("lb: no frontend replica is ready", "No server is available")
SERVICES = ["redis", "mongo", "lb", "frontend", "events", "arithmetic", "string", "prometheus"]
log = st.log


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(TOP, "build-bench"), help="the local stack's binaries")
    ap.add_argument("--frontends", type=int, default=1)
    ap.add_argument("--events", type=int, default=1)
    ap.add_argument("--backends", type=int, default=1, help="replicas per backend service")
    ap.add_argument("--seconds", type=float, default=10, help="length of one ab row")
    ap.add_argument("--rounds", type=int, default=2, help="rounds of every row on both stacks (2: A-B-B-A)")
    ap.add_argument("--concurrency", default="10,64")
    ap.add_argument("--keepalive", default="off,on", help="ab without -k, with -k, or both")
    ap.add_argument("--experiments", default="stack+host-ip", help="comma-separated; see the docstring")
    ap.add_argument("--keep-images", action="store_true", help="keep the :swarm-bench images (and reuse them)")
    ap.add_argument("--no-build", action="store_true", help="use the :swarm-bench images as they are")
    ap.add_argument("--out", default=os.path.join(TOP, "bench", "results", "swarm-bench-latest.md"))
    return ap.parse_args()


# ---------------------------------------------------------------- measuring

def ab(url, c, keepalive, seconds, body_file):
    """One ab row of POST /task; returns its figures. -t before -n: ab stops at the time limit."""
    args = ["ab"] + (["-k"] if keepalive else []) + ["-t", str(seconds), "-n", "10000000", "-c", str(c),
                                                     "-s", "30", "-p", body_file, "-T", "application/json", url]
    p = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 120)
    out = p.stdout + p.stderr

    def num(pattern):
        m = re.search(pattern, out)
        return float(m.group(1)) if m else 0.0
    return {"cmd": " ".join(args), "rc": p.returncode, "complete": int(num(r"Complete requests:\s+(\d+)")),
            "failed": int(num(r"Failed requests:\s+(\d+)")), "non2xx": int(num(r"Non-2xx responses:\s+(\d+)")),
            "rps": num(r"Requests per second:\s+([\d.]+)"), "p50": num(r"\n\s+50%\s+(\d+)"),
            "p99": num(r"\n\s+99%\s+(\d+)"), "tail": out[-600:] if p.returncode else ""}


def cpu_ticks():
    """(busy, total) jiffies of the whole machine from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


def read_first(path):
    """The first line of a file, or '?' when it cannot be read."""
    try:
        with open(path) as f:
            return f.readline().strip()
    except OSError:
        return "?"


def proc_cpu_s(pid):
    """User + system CPU seconds of one process (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            v = f.read().rsplit(")", 1)[1].split()
        return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def pids_of(name):
    """PIDs of the processes named 'name' (e.g. docker-proxy, Docker's userland proxy: one per published port)."""
    return [int(p) for p in subprocess.run(["pgrep", "-x", name], capture_output=True, text=True).stdout.split()]


# Host processes that work for the containers: Docker's userland proxy (published ports reached through 127.0.0.1);
# dockerd, containerd and the shims (they run every HEALTHCHECK, a process started in the container each time);
# fuse-overlayfs (this engine's storage driver: the containers' root filesystems).
HOST_HELPERS = {"docker-proxy": ["docker-proxy"], "docker engine": ["dockerd", "containerd", "containerd-shim-runc-v2"],
                "fuse-overlayfs": ["fuse-overlayfs"]}


class SwarmCpu:
    """CPU seconds and CFS throttling of every container of the stack, from cgroup v1 (cpuacct, cpu; Docker's
    cgroupfs driver: /sys/fs/cgroup/<controller>/docker/<container id>)."""

    def __init__(self, orch):
        self.ids = {}
        for s in SERVICES:
            for cid in st.containers(orch, s):
                self.ids[cid] = s

    def sample(self):
        out = {}
        for cid, s in self.ids.items():
            try:
                with open(f"/sys/fs/cgroup/cpuacct/docker/{cid}/cpuacct.usage") as f:
                    used = int(f.read()) / 1e9
                with open(f"/sys/fs/cgroup/cpu/docker/{cid}/cpu.stat") as f:
                    stat = dict(line.split() for line in f)
            except OSError:
                continue
            u, n, t = out.get(s, (0.0, 0, 0.0))
            out[s] = (u + used, n + int(stat.get("nr_throttled", 0)), t + int(stat.get("throttled_time", 0)) / 1e9)
        for label, names in HOST_HELPERS.items():
            out[label] = (sum(proc_cpu_s(p) for n in names for p in pids_of(n)), 0, 0.0)
        return out


class LocalCpu:
    """CPU seconds of every process of the local stack."""

    def __init__(self, stack):
        self.stack = stack

    def sample(self):
        out = {}
        for p in self.stack.daemons + self.stack.servers:
            name = p.name.split(".")[0].replace("backend-", "")
            u = out.get(name, (0.0, 0, 0.0))[0]
            out[name] = (u + proc_cpu_s(p.pid), 0, 0.0)
        return out


def measure(target, c, keepalive, seconds, body_file):
    """One row against 'target' (a dict: url, cpu sampler); returns ab's figures plus CPU per answer."""
    before, m0 = target["cpu"].sample(), cpu_ticks()
    f = ab(target["url"], c, keepalive, seconds, body_file)
    after, m1 = target["cpu"].sample(), cpu_ticks()
    n = max(1, f["complete"])
    hz = os.sysconf("SC_CLK_TCK")
    f["cpu_us"] = {k: (after[k][0] - before[k][0]) / n * 1e6 for k in after if k in before}
    f["throttled"] = {k: (after[k][1] - before[k][1], after[k][2] - before[k][2]) for k in after if k in before
                      and after[k][1] > before[k][1]}
    f["machine_us"] = (m1[0] - m0[0]) / hz / n * 1e6
    f["machine_busy"] = (m1[0] - m0[0]) / max(1, m1[1] - m0[1])
    return f


# ---------------------------------------------------------------- the startup prober (HAProxy's 503s)

class Prober:
    """'conns' threads post tasks through the lb one after another from start() to stop(); every answer is kept as
    (time, status or None, HAProxy's own 503: bool, error text)."""

    def __init__(self, port, conns=4):
        self.port, self.conns, self.records, self.stopped = port, conns, [], False

    def one(self):
        while not self.stopped:
            t = time.monotonic()
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                c.request("POST", "/task", BODY, {"Content-Type": "application/json"})
                r = c.getresponse()
                text = r.read().decode(errors="replace")
                c.close()
                self.records.append((t, r.status, any(m in text for m in HAPROXY_503), ""))
            except Exception as e:  # not listening yet, reset: recorded, then try again shortly
                self.records.append((t, None, False, type(e).__name__))
                time.sleep(0.05)

    def start(self):
        self.threads = [threading.Thread(target=self.one, daemon=True) for _ in range(self.conns)]
        for t in self.threads:
            t.start()

    def stop(self):
        self.stopped = True
        for t in self.threads:
            t.join(15)

    def window(self, start, end):
        """What the requests started between 'start' and 'end' got, and how long failures lasted (first to last)."""
        rs = [r for r in self.records if start <= r[0] <= end]
        bad = [r[0] for r in rs if r[1] != 200]
        return {"requests": len(rs), "200": sum(1 for r in rs if r[1] == 200),
                "haproxy_503": sum(1 for r in rs if r[1] == 503 and r[2]),
                "other_non_200": sum(1 for r in rs if r[1] not in (None, 200) and not (r[1] == 503 and r[2])),
                "connection_errors": sum(1 for r in rs if r[1] is None),
                "failing_s": (max(bad) - min(bad)) if bad else 0.0}

    def report(self, healthy_at, lb_healthy_at):
        after = [r for r in self.records if r[0] >= healthy_at]
        before = [r for r in self.records if r[0] < healthy_at]
        after_lb = [r for r in self.records if r[0] >= lb_healthy_at]
        first_200 = next((r[0] for r in sorted(self.records) if r[1] == 200), None)

        def count(rs):
            return {"requests": len(rs), "200": sum(1 for r in rs if r[1] == 200),
                    "haproxy_503": sum(1 for r in rs if r[1] == 503 and r[2]),
                    "other_non_200": sum(1 for r in rs if r[1] not in (None, 200) and not (r[1] == 503 and r[2])),
                    "connection_errors": sum(1 for r in rs if r[1] is None)}
        return {"after_healthy": count(after), "before_healthy": count(before), "after_lb_healthy": count(after_lb),
                "first_200_after_healthy_s": None if first_200 is None else first_200 - healthy_at}


# ---------------------------------------------------------------- experiments: stack overrides

OVERRIDES = {}   # path -> text of the override files written by experiment(), for the report


def override_file(tmp, name, text):
    path = os.path.join(tmp, f"override-{name}.yaml")
    OVERRIDES[path] = 'version: "3.8"\n' + text
    with open(path, "w") as f:
        f.write(OVERRIDES[path])
    return path


KNOWN = ("stack", "no-limits", "no-quota", "direct", "host-ip", "paths", "reuse-safe")


def experiment(name, tmp, direct_port):
    """The stack files and the swarm-side targets (name, port or None for the lb's, host) of one experiment: its
    parts joined by '+' (e.g. no-limits+host-ip, stack+lb=/tmp/haproxy.cfg) each add an override or a target."""
    parts = name.split("+")
    if "paths" in parts:
        parts += ["direct", "host-ip"]
    files, targets, lb_cfg = [os.path.join(TOP, "docker-stack.yaml")], [("lb", None, "127.0.0.1")], None
    for part in parts:
        if part.startswith("lb="):
            lb_cfg = os.path.abspath(part[3:])
        elif part.startswith("env="):     # env=SERVICE:KEY=VALUE, e.g. env=mongo:GOMAXPROCS=1
            service, setting = part[4:].split(":", 1)
            key, value = setting.split("=", 1)
            files.append(override_file(tmp, f"env-{service}-{key}", f"services:\n  {service}:\n    environment:\n"
                                       f"      {key}: \"{value}\"\n"))
        elif part not in KNOWN:
            raise SystemExit(f"unknown experiment {part!r} (known: {', '.join(KNOWN)}, lb=FILE, env=SERVICE:KEY=VALUE)")
    if "no-limits" in parts or "no-quota" in parts:   # no-quota: cpus 0, no CFS bandwidth control at all
        cores = os.cpu_count() if "no-limits" in parts else 0
        text = "services:\n" + "".join(f"  {s}:\n    deploy:\n      resources:\n        limits: {{cpus: \"{cores}\"}}\n"
                                       for s in SERVICES)
        files.append(override_file(tmp, "no-limits" if cores else "no-quota", text))
    host_ip = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()[0]
    if "host-ip" in parts:
        targets.append(("lb via " + host_ip, None, host_ip))
    if "direct" in parts:   # through this host's address too when host-ip is on: the lb hop alone, no docker-proxy
        files.append(override_file(tmp, "direct", "services:\n  frontend:\n    ports:\n      - target: 4000\n"
                                   f"        published: {direct_port}\n        protocol: tcp\n        mode: host\n"))
        host = host_ip if "host-ip" in parts else "127.0.0.1"
        targets.append(("frontend" + (" via " + host if "host-ip" in parts else ""), direct_port, host))
    if "reuse-safe" in parts:
        lb_cfg = os.path.join(tmp, "haproxy-reuse-safe.cfg")
        with open(os.path.join(TOP, "docker", "haproxy.cfg")) as f:
            cfg = re.sub(r"http-reuse \w+", "http-reuse safe", f.read())
        with open(lb_cfg, "w") as f:
            f.write(cfg)
    if lb_cfg:
        files.append(override_file(tmp, "lb", f"configs:\n  haproxy_cfg:\n    file: {lb_cfg}\n"))
    return files, targets


# ---------------------------------------------------------------- the run

class Bench(st.Run):
    def __init__(self, args):
        super().__init__()
        self.args = args
        self.results = []     # per experiment: {"name", "probe", "rows": [...]}
        self.local = None

    def enter_swarm(self):
        """Use this node's swarm, or `docker swarm init` one (left at the end), as the swarm test does."""
        state = st.run(["docker", "info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}"]
                       ).stdout.split()
        if state and state[0] == "active":
            if state[1:] != ["true"]:
                raise RuntimeError("this node is in a swarm but is not a manager")
            log("swarm: already active on this node: used as is, and left active")
        else:
            self.gwbridge_existed = st.run(["docker", "network", "inspect", "docker_gwbridge"],
                                           check=False).returncode == 0
            st.run(["docker", "swarm", "init", "--advertise-addr", "127.0.0.1"], timeout=60)
            self.started_swarm = True
            log("swarm: initialised (docker swarm init --advertise-addr 127.0.0.1); it is left at the end")
        self.orch = st.Swarm(self.env)

    def want(self):
        return {"redis": 1, "mongo": 1, "lb": 1, "prometheus": 1, "frontend": self.args.frontends,
                "events": self.args.events, "arithmetic": self.args.backends, "string": self.args.backends}

    def all_healthy(self):
        reps = self.orch.replicas()
        for s, n in self.want().items():
            if reps.get(s, (0, 0))[0] != n or len(st.containers(self.orch, s, healthy=True)) != n:
                return False
        return True

    def deploy(self, name, files):
        """Deploy the stack with 'files' while the prober posts through the lb; returns the prober's report."""
        st.STACK_FILES = files
        self.remove_stack(leftovers=True)
        prober = Prober(self.port)
        prober.start()
        start = time.monotonic()
        self.orch.deploy()
        log(f"{name}: deployed " + " ".join(os.path.relpath(f, TOP) if f.startswith(TOP) else f for f in files))
        healthy_at = lb_healthy_at = None
        while time.monotonic() - start < 300:
            if lb_healthy_at is None and st.containers(self.orch, "lb", healthy=True):
                lb_healthy_at = time.monotonic()
            if lb_healthy_at and self.all_healthy():
                healthy_at = time.monotonic()
                break
            time.sleep(0.25)
        if healthy_at is None:
            prober.stop()
            raise RuntimeError(f"{name}: the stack did not report healthy in 300 s:\n{self.orch.describe()[-3000:]}")
        log(f"{name}: every service healthy {healthy_at - start:.1f}s after the deploy; probing 15 s more")
        time.sleep(15)
        prober.stop()
        report = prober.report(healthy_at, lb_healthy_at)
        report["healthy_after_s"] = healthy_at - start
        report["lb_healthy_after_s"] = lb_healthy_at - start
        log(f"{name}: prober {json.dumps(report)}")
        return report

    def lb_update(self, name):
        """`docker service update --force` of the lb (stop-first: it holds a host port) while the prober posts through
        it; returns what the prober's requests got from the update's start until the new lb has answered for 5 s."""
        prober = Prober(self.port)
        prober.start()
        time.sleep(2)
        start = time.monotonic()
        st.run(["docker", "service", "update", "--detach=false", "--force", f"{st.STACK}_lb"], timeout=240)
        st.wait_until("the new lb to be healthy", lambda: (bool(st.containers(self.orch, "lb", healthy=True)), ""), 120)
        healthy = time.monotonic()
        time.sleep(5)
        prober.stop()
        w = prober.window(start, time.monotonic())
        w["healthy_after_s"] = healthy - start
        log(f"{name}: lb update: {json.dumps(w)}")
        return w

    def start_local(self, tmp):
        env = {"HEARTBEAT_MS": "1000", "REPLICA_TTL_MS": "3000", "TASK_TIMEOUT_MS": "5000", "LOG_LEVEL": "info",
               "MAX_CONNECTIONS": "8000", "IDLE_TIMEOUT_S": "300", "MAX_CONNECTIONS_PER_IP": "0"}
        os.environ["REDIS_MAXMEMORY"] = "448mb"     # as docker-stack.yaml's redis
        services = ["arithmetic", "string"]
        # harness.free_port() can hand out a port that a daemon then cannot listen on: the thousands of short
        # connections of the prober and of ab leave loopback ports in TIME_WAIT. A start that fails so is retried
        # on new ports.
        for attempt in range(3):
            work = tempfile.mkdtemp(prefix="local-", dir=tmp)
            stack = harness.Stack(self.args.build, workdir=work, frontends=self.args.frontends,
                                  events=self.args.events, backends={s: self.args.backends for s in services},
                                  env=env, auth=True)
            try:
                self.local = stack.start()
                return self.local
            except Exception as e:
                tails = ""
                for name in sorted(os.listdir(work)):
                    if name.endswith(".log"):
                        with open(os.path.join(work, name), errors="replace") as f:
                            tails += f"--- {name}\n" + "".join(f.readlines()[-3:])
                log(f"the local stack did not start (attempt {attempt + 1} of 3): {e}\n{tails}")
        raise RuntimeError("the local stack did not start in 3 attempts")

    def stop_local(self):
        if self.local:
            self.local.stop(check=False)
            self.local = None

    def rows(self):
        for ka in [k == "on" for k in self.args.keepalive.split(",")]:
            for c in [int(x) for x in self.args.concurrency.split(",")]:
                yield c, ka

    def run_experiment(self, name, tmp, body_file):
        files, targets = experiment(name, tmp, self.direct_port)
        env = dict(self.env, FRONTEND_REPLICAS=str(self.args.frontends), EVENTS_REPLICAS=str(self.args.events),
                   ARITHMETIC_REPLICAS=str(self.args.backends), STRING_REPLICAS=str(self.args.backends))
        self.orch.env = env
        local = self.start_local(tmp)   # before the prober's connections fill the loopback ports with TIME_WAIT
        probe = self.deploy(name, files)
        swarm_cpu = SwarmCpu(self.orch)
        log(f"{name}: CFS quota per container (cpu.cfs_quota_us, -1: none): " + ", ".join(
            f"{svc} {read_first(f'/sys/fs/cgroup/cpu/docker/{cid}/cpu.cfs_quota_us')}"
            for cid, svc in sorted(swarm_cpu.ids.items(), key=lambda kv: kv[1])))
        sides = [{"name": t[0], "url": f"http://{t[2]}:{t[1] or self.port}/task", "cpu": swarm_cpu}
                 for t in targets]
        sides.append({"name": "local", "url": f"http://127.0.0.1:{local.frontend_ports[0]}/task",
                      "cpu": LocalCpu(local)})
        for s in sides:   # warm-up: connections, caches, the first tasks of each store
            ab(s["url"], 16, False, 2, body_file)
        rows = {(s["name"], c, ka): [] for s in sides for c, ka in self.rows()}
        for r in range(self.args.rounds):
            # Row i of round r goes A, B, ... when i + r is even, else in the reverse order: across two rounds each
            # row is measured A-B-B-A, so a linear drift of the machine cancels in the means.
            for i, (c, ka) in enumerate(self.rows()):
                for s in (sides if (i + r) % 2 == 0 else list(reversed(sides))):
                    f = measure(s, c, ka, self.args.seconds, body_file)
                    rows[(s["name"], c, ka)].append(f)
                    log(f"{name} round {r + 1} {s['name']:>22} c={c:<3} {'-k' if ka else 'no -k'}: "
                        f"{f['rps']:8.0f} req/s p50 {f['p50']:.0f} p99 {f['p99']:.0f} ms non-2xx {f['non2xx']} "
                        f"failed {f['failed']} machine {f['machine_busy'] * 100:.0f}% busy, "
                        f"{f['machine_us']:.0f} us/answer" + (f" rc={f['rc']} {f['tail']}" if f["rc"] else ""))
        self.stop_local()
        update = self.lb_update(name)
        self.results.append({"name": name, "files": files, "probe": probe, "sides": [s["name"] for s in sides],
                             "rows": rows, "lb_update": update})

    def main(self):
        a = self.args
        reason = self.preflight()
        if reason:
            print(f"skipped: {reason}")
            return 0
        if not os.access(os.path.join(a.build, "frontend"), os.X_OK):
            raise SystemExit(f"{a.build}/frontend is missing: build it first (make swarm-bench does)")
        st.KEEP_IMAGES = a.keep_images
        self.port, self.direct_port = st.free_port(), st.free_port()
        self.env = dict(st.IMAGES, TASKBUS_PORT=str(self.port), PROMETHEUS_PORT=str(st.free_port()))
        tmp = tempfile.mkdtemp(prefix="taskbus-swarm-bench-")
        body_file = os.path.join(tmp, "body.json")
        with open(body_file, "w") as f:
            f.write(BODY)
        failed = None
        try:
            if a.no_build:
                self.built = list(st.IMAGES.values()) if not a.keep_images else []
            else:
                self.build()
            self.secrets()
            self.enter_swarm()
            for name in a.experiments.split(","):
                self.run_experiment(name, tmp, body_file)
                self.remove_stack()
        except Exception as e:
            failed = str(e)
            self.error(failed)
        finally:
            self.stop_local()
            try:
                self.cleanup()
            except Exception as e:
                self.error(f"cleanup: {e}")
            shutil.rmtree(tmp, ignore_errors=True)
        if self.results:
            self.write_report()
        return 1 if self.errors else 0

    # -- the report
    def write_report(self):
        a = self.args
        cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True,
                             text=True).stdout.strip()
        cmd = "/usr/bin/python3 bench/swarm_bench.py " + " ".join(sys.argv[1:])
        lines = [f"# swarm-bench: the Swarm stack against the local stack", "",
                 f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.node()}: "
                 f"{os.cpu_count()} cores {cpu}, Linux {platform.release()}, Docker Engine {self.engine}; "
                 f"load generator on the same machine.", "", f"Command: `{cmd}`", "",
                 f"Replicas: {a.frontends} frontend, {a.events} events, {a.backends} per backend service (both sides); "
                 f"{a.seconds:g} s per row, {a.rounds} rounds (alternating order: A-B-B-A); POST /task {BODY}; "
                 f"figures are means over "
                 f"the rounds; ratio = swarm / local.", ""]
        for res in self.results:
            p = res["probe"]
            lines += [f"## {res['name']}", "", "Stack files: " + ", ".join(
                f"`{os.path.relpath(f, TOP)}`" if f.startswith(TOP) else "an override (below)" for f in res["files"]),
                "",
                f"Startup: every service healthy {p['healthy_after_s']:.1f} s after `docker stack deploy`; after "
                f"that, the prober's {p['after_healthy']['requests']} requests got {p['after_healthy']['200']} × 200, "
                f"**{p['after_healthy']['haproxy_503']} × HAProxy 503**, {p['after_healthy']['other_non_200']} other "
                f"non-200, {p['after_healthy']['connection_errors']} connection errors; before it "
                f"{p['before_healthy']['haproxy_503']} × HAProxy 503, {p['before_healthy']['connection_errors']} "
                f"connection errors; first 200 at {p['first_200_after_healthy_s']:+.1f} s from healthy. "
                f"The lb alone reported healthy {p['lb_healthy_after_s']:.1f} s after the deploy: after that, "
                f"**{p['after_lb_healthy']['haproxy_503']} × HAProxy 503** of {p['after_lb_healthy']['requests']}"
                if p["first_200_after_healthy_s"] is not None else "Startup: no 200 at all", "",
                f"Rolling update of the lb (`docker service update --force`, stop-first) under the prober: "
                f"{res['lb_update']['requests']} requests, {res['lb_update']['200']} × 200, "
                f"{res['lb_update']['haproxy_503']} × HAProxy 503, {res['lb_update']['other_non_200']} other non-200, "
                f"{res['lb_update']['connection_errors']} connection errors, failures over "
                f"{res['lb_update']['failing_s']:.1f} s; "
                f"the new lb healthy {res['lb_update']['healthy_after_s']:.1f} s after the update began.", "",
                "| target | ab | c | req/s | p50 ms | p99 ms | non-2xx | failed | swarm/local | rounds (req/s) |",
                "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
            cpu_lines = []
            for c, ka in self.rows():
                local = res["rows"][("local", c, ka)]
                lrps = mean([f["rps"] for f in local])
                for side in res["sides"]:
                    fs = res["rows"][(side, c, ka)]
                    rps = mean([f["rps"] for f in fs])
                    ratio = "" if side == "local" else f"**{rps / lrps:.2f}**" if lrps else "-"
                    lines.append(f"| {side} | {'-k' if ka else 'no -k'} | {c} | {rps:,.0f} | "
                                 f"{mean([f['p50'] for f in fs]):.0f} | {mean([f['p99'] for f in fs]):.0f} | "
                                 f"{sum(f['non2xx'] for f in fs)} | {sum(f['failed'] for f in fs)} | {ratio} | " +
                                 " / ".join(f"{f['rps']:,.0f}" for f in fs) + " |")
                    per = {}
                    for f in fs:
                        for k, v in f["cpu_us"].items():
                            per[k] = per.get(k, 0) + v / len(fs)
                    thr = {}
                    for f in fs:
                        for k, (n, t) in f["throttled"].items():
                            thr[k] = (thr.get(k, (0, 0))[0] + n, thr.get(k, (0, 0))[1] + t)
                    cpu_lines.append(
                        f"- {side}, {'-k' if ka else 'no -k'} c={c}: machine {mean([f['machine_us'] for f in fs]):.0f} "
                        f"µs/answer ({mean([f['machine_busy'] for f in fs]) * 100:.0f} % busy, ab included); " +
                        ", ".join(f"{k} {v:.0f}" for k, v in sorted(per.items(), key=lambda kv: -kv[1]) if v >= 0.5) +
                        ("; CFS throttled: " + ", ".join(f"{k} {n}× {t:.2f} s" for k, (n, t) in sorted(thr.items()))
                         if thr else ""))
            lines += ["", "CPU per answer (µs; containers from cgroup cpuacct, docker-proxy and local processes from "
                      "/proc):", ""] + cpu_lines + [""]
            for f in res["files"]:
                if f in OVERRIDES:
                    lines += ["Override:", "", "```yaml", OVERRIDES[f].rstrip(), "```", ""]
        report = "\n".join(lines) + "\n"
        print("\n" + report)
        os.makedirs(os.path.dirname(self.args.out), exist_ok=True)
        with open(self.args.out, "w") as f:
            f.write(report)
        log(f"report written to {os.path.relpath(self.args.out, TOP)}")


def mean(xs):
    return sum(xs) / len(xs) if xs else 0.0


if __name__ == "__main__":
    sys.exit(Bench(parse_args()).main())
