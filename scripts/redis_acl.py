#!/usr/bin/python3
"""Redis ACL of taskbus: one user per role (frontend, events, backend) with only what its daemon sends, the `default`
user off, and `admin` (everything) for operators and the tests' checks.

    scripts/redis_acl.py DIR [--task-maps task-maps.json] [--mode 600]

writes DIR/redis-users.acl (redis-server --aclfile; passwords only as SHA-256) and DIR/redis-<user>.password (one
random password per user, on one line, file mode --mode; a file that exists is kept, so running it again does not
change the passwords). The backend services, whose replicas' channels and registry keys the rules name, are the
values of task-maps.json: run it again after adding a service. Used by tests/harness.py (Stack(auth=True), and so
`make up`) and docker/secrets.sh.

Why each rule (commands from common/bus.c, registry.c, outcome.c, projection.c, frontend/idem_store.c and
events/rebuild.c; channels are "taskbus:<replica id>" and a replica id starts with its service, common/clock.c).
Redis channel rules cover PUBLISH and SUBSCRIBE alike, and a user's key rules apply to all its commands, so each
concern is a selector "(...)" of its own (Redis >= 7.0): a frontend may SUBSCRIBE only to frontend channels and
PUBLISH only to events channels, write only Idempotency-Key claims, its own registry entry and its own metrics
snapshot, and only read the projection (HGETALL, and the list script as EVALSHA_RO/EVAL_RO, which Redis refuses to
run if it wrote) and every replica's snapshot (the dashboard: ZRANGEBYSCORE of the set that lists them, MGET).
"""
import argparse
import hashlib
import json
import os
import secrets

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROLES = ("frontend", "events", "backend")
ACL_FILE = "redis-users.acl"


def rules(services):
    """{user: [root rules, then one "(...)" selector per concern]} for the backend 'services'."""
    own_registry = "+zadd +zrem +zremrangebyscore +zrangebyscore"   # heartbeat, leave, trim; read by the healthcheck
    backend_channels = " ".join(f"&taskbus:{s}-*" for s in services)

    def snapshot(*prefixes):
        """A replica's metrics snapshot for the dashboard: its own key, its entry in the set that lists them, and
        trimming the entries of replicas that left."""
        return "(+set +zadd +zremrangebyscore ~taskbus:stats " + " ".join(f"~taskbus:stats:{p}-*" for p in prefixes) + ")"
    return {
        "frontend": [
            "+ping +subscribe &taskbus:frontend-*",
            "(+publish &taskbus:events-*)",
            "(+set +del ~taskbus:idem:*)",
            f"({own_registry} ~taskbus:replicas:frontend)",
            "(+zrangebyscore %R~taskbus:replicas:events)",
            "(+hgetall +evalsha_ro +eval_ro +zrevrangebylex +hmget +smembers %R~taskbus:task:* %R~taskbus:index:*)",
            snapshot("frontend"),
            "(+zrangebyscore +mget %R~taskbus:stats %R~taskbus:stats:*)",
        ],
        "events": [
            "+ping +subscribe &taskbus:events-*",
            f"(+publish &taskbus:frontend-* {backend_channels})",
            "(+set +get ~taskbus:outcome:*)",
            f"({own_registry} ~taskbus:replicas:events)",
            "(+zrangebyscore " + " ".join(f"%R~taskbus:replicas:{s}" for s in services) + ")",
            "(+evalsha +eval +script|load +hmget +hset +pexpiretime +pexpireat +zadd +zrem +zremrangebylex +sadd "
            "~taskbus:task:* ~taskbus:index:*)",
            # events --rebuild drops the index layout before 2026-12-08 (events/rebuild.c; no SCAN, which would list
            # every key's name)
            "(+exists +zrange +zrem +hget +unlink ~taskbus:task:* ~taskbus:tasks*)",
            snapshot("events"),
        ],
        "backend": [
            f"+ping +subscribe {backend_channels}",
            "(+publish &taskbus:events-*)",
            f"({own_registry} " + " ".join(f"~taskbus:replicas:{s}" for s in services) + ")",
            snapshot(*services),
        ],
        "admin": ["~* &* +@all"],
    }


def services_of(task_maps):
    with open(task_maps) as f:
        return sorted(set(json.load(f).values()))


def password_path(folder, user):
    return os.path.join(folder, f"redis-{user}.password")


def write(folder, services, mode=0o600):
    """Write the ACL file and any missing password file into 'folder'. Returns {user: (password file, password)}."""
    os.makedirs(folder, exist_ok=True)
    out, lines = {}, ["user default off"]
    for user, parts in rules(services).items():
        path = password_path(folder, user)
        if not os.path.exists(path):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32) + "\n")
        os.chmod(path, mode)
        with open(path) as f:
            password = f.readline().rstrip("\r\n")
        out[user] = (path, password)
        digest = hashlib.sha256(password.encode()).hexdigest()
        lines.append(f"user {user} reset on #{digest} " + " ".join(parts))
    acl = os.path.join(folder, ACL_FILE)
    fd = os.open(acl + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(acl + ".tmp", mode)
    os.replace(acl + ".tmp", acl)
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--task-maps", default=os.path.join(TOP, "task-maps.json"))
    ap.add_argument("--mode", default="600", help="file mode of the files written (octal)")
    args = ap.parse_args()
    written = write(args.folder, services_of(args.task_maps), int(args.mode, 8))
    print(f"wrote {os.path.join(args.folder, ACL_FILE)} and the passwords of " + ", ".join(written))
