"""`make up` / `make down`: run the whole pipeline locally with its own servers, state under .state/ (git-ignored).

up:   starts redis-server and FerretDB (unless REDIS_HOST/REDIS_PORT or MONGO_URI point at existing servers), one
      events replica, one backend per service of task-maps.json, and a frontend on PORT (default 4000); waits until
      GET / answers; prints how to use and stop it. Replica counts: FRONTENDS (ports PORT, PORT+1, ...), EVENTS,
      BACKENDS (per service). The redis-server it starts requires a password: scripts/redis_acl.py writes one user
      per role (and admin) with random passwords into .state/ (mode 0600), and each daemon gets its role's
      REDIS_USERNAME and REDIS_PASSWORD_FILE. For an existing Redis, REDIS_USERNAME and REDIS_PASSWORD(_FILE) are
      passed through instead.
down: stops every process `up` started, by the PIDs it recorded.
"""
import argparse
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

STATE = os.path.join(harness.TOP, ".state")
PIDS = os.path.join(STATE, "pids.json")

# The daemons' settings (README, Configuration) that `make up` passes through from its environment.
PASSED_THROUGH = ("TASK_TIMEOUT_MS", "LOG_LEVEL", "MAX_BODY", "MAX_CONNECTIONS", "MAX_IN_FLIGHT", "IDLE_TIMEOUT_S",
                  "CONNECTION_MEMORY", "STORE_BATCH", "MAX_JOBS", "STORE_MAX_BACKLOG", "MAX_ATTEMPTS",
                  "OUTCOME_TTL_S", "TASK_RETENTION_S", "FOLLOW_MS", "IDEMPOTENCY_TTL_S", "HEARTBEAT_MS",
                  "REPLICA_TTL_MS", "BUS_WINDOW", "BUS_MAX_QUEUE", "SHUTDOWN_GRACE_MS",
                  "HEADER_TIMEOUT_MS", "BODY_TIMEOUT_MS", "MAX_CONNECTIONS_PER_IP", "API_TOKENS_FILE", "METRICS",
                  "LOG_FORMAT", "TRACING", "TASK_IDS", "STORE_LINGER_MS", "LOG_MERGE_MS")
# Credentials of an existing Redis (REDIS_HOST/REDIS_PORT); a Redis started here gets generated ones instead.
REDIS_CREDENTIALS = ("REDIS_USERNAME", "REDIS_PASSWORD", "REDIS_PASSWORD_FILE")


def up(build):
    if os.path.exists(PIDS):
        sys.exit("taskbus: already up (state in .state/); run `make down` first")
    os.makedirs(STATE, exist_ok=True)
    with open(os.path.join(harness.TOP, "task-maps.json")) as f:
        services = sorted(set(json.load(f).values()))
    env = {"HEARTBEAT_MS": "1000", "REPLICA_TTL_MS": "3000"}
    env.update({k: v for k, v in os.environ.items() if k in PASSED_THROUGH})
    if env.get("API_TOKENS_FILE"):  # the daemons do not run in the caller's folder
        env["API_TOKENS_FILE"] = os.path.abspath(env["API_TOKENS_FILE"])
    redis_port = int(os.environ["REDIS_PORT"]) if "REDIS_PORT" in os.environ else None
    if redis_port:
        env.update({k: v for k, v in os.environ.items() if k in REDIS_CREDENTIALS})
    stack = harness.Stack(build, workdir=STATE, frontends=0, events=int(os.environ.get("EVENTS", 1)),
                          backends={s: int(os.environ.get("BACKENDS", 1)) for s in services}, env=env,
                          redis_port=redis_port, mongo_uri=os.environ.get("MONGO_URI"), auth=redis_port is None)
    if "REDIS_HOST" in os.environ:
        stack.env["REDIS_HOST"] = os.environ["REDIS_HOST"]
    port = int(os.environ.get("PORT", 4000))
    try:
        stack.start()  # servers, events, backends
        for i in range(int(os.environ.get("FRONTENDS", 1))):
            proc = stack.start_daemon("frontend", PORT=port + i)
            stack.frontend_ports.append(port + i)
        stack.wait_ready()
    except Exception as e:
        stack.stop(check=False)
        sys.exit(f"taskbus: failed to start: {e}\nlogs: {STATE}/*.log")
    with open(PIDS, "w") as f:
        json.dump({"pids": [p.pid for p in stack.daemons + stack.servers]}, f)
    metrics = ", ".join(f"{d.name} :{d.metrics_port}" for d in stack.daemons if d.metrics_port)
    redis_cli = (f"REDISCLI_AUTH=$(cat .state/redis-admin.password) redis-cli --user admin -p {stack.redis_port}"
                 if stack.credentials else f"redis-cli -p {stack.redis_port}")
    print(f"""
taskbus is up: {len(stack.frontend_ports)} frontend(s) on port(s) {', '.join(map(str, stack.frontend_ports))}
  redis  127.0.0.1:{stack.redis_port}    store  {stack.mongo_uri}    logs  .state/*.log
  {redis_cli}

  curl -s -d '{{"a1":5,"a2":10}}' -H 'Content-Type: application/json' localhost:{port}/task
  curl -s localhost:{port}/task/<id>        # the task's history from the event log
  curl -s localhost:{port}/metrics          # Prometheus metrics; http://localhost:{port}/dashboard in a browser
  GET /metrics of each replica: {metrics}
  ab -k -c 50 -n 10000 -p body.json -T application/json http://127.0.0.1:{port}/task

Stop it with: make down
""" + ("  API_TOKENS_FILE is set: add -H 'Authorization: Bearer <token>' to every request but GET /\n"
       if env.get("API_TOKENS_FILE") else ""))
    # The processes run in their own sessions and outlive this script; `make down` stops them by PID.
    os._exit(0)


def down():
    if not os.path.exists(PIDS):
        print("taskbus: not up")
        return
    with open(PIDS) as f:
        pids = json.load(f)["pids"]
    for pid in pids:  # daemons first (they were recorded first), then servers
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
    os.remove(PIDS)
    print("taskbus: stopped")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["up", "down"])
    ap.add_argument("--build", default=os.path.join(harness.TOP, "build"))
    args = ap.parse_args()
    up(args.build) if args.command == "up" else down()
