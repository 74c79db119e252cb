#!/bin/bash
# HEALTHCHECK of the taskbus image (bash built-ins and coreutils only; the daemons have no health port).
# The daemon running as PID 1 decides what is checked (or name it: taskbus-healthcheck frontend|events|backend, e.g.
# under `init: true`):
#   frontend         GET / on $PORT answers 200: Redis is reachable and an events replica is alive.
#   events, backend  this replica's own heartbeat is live in the Redis registry (taskbus:replicas:<service>, score =
#                    expiry in ms): the daemon's event loop runs and it is connected to Redis, so senders can pick it.
#                    A replica id is "<service>-<hostname, 40 chars at most>-<pid>-<random>" (common/clock.c).
#                    With REDIS_PASSWORD or REDIS_PASSWORD_FILE (and REDIS_USERNAME) it sends AUTH first, as the daemon
#                    does: the daemon's ACL user may read its own registry key.
set -u
export LC_ALL=C   # ${#password} counts bytes
daemon=${1:-$(cat /proc/1/comm 2>/dev/null)}

fail() { echo "unhealthy: $*"; exit 1; }

case $daemon in
frontend)
  exec 3<>"/dev/tcp/127.0.0.1/${PORT:-4000}" || fail "frontend: cannot connect to port ${PORT:-4000}"
  printf 'GET / HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
  read -r -t 2 _ status _ <&3 || fail "frontend: no answer to GET /"
  [ "$status" = 200 ] || fail "frontend: GET / answered $status"
  echo "frontend: GET / answered 200"
  ;;
events | backend)
  if [ "$daemon" = events ]; then service=events; else service=${SERVICE:-arithmetic}; fi
  prefix="$service-${HOSTNAME:0:40}-"   # one daemon per container
  now=$(date +%s%3N)
  exec 3<>"/dev/tcp/${REDIS_HOST:-127.0.0.1}/${REDIS_PORT:-6379}" || fail "cannot connect to Redis"
  password=${REDIS_PASSWORD:-}
  if [ -n "${REDIS_PASSWORD_FILE:-}" ]; then
    read -r password <"$REDIS_PASSWORD_FILE" || [ -n "$password" ] || fail "cannot read REDIS_PASSWORD_FILE"
    password=${password%$'\r'}
  fi
  if [ -n "$password" ]; then
    # AUTH as a RESP array: binary-safe, whatever the password holds; the reply never echoes it.
    if [ -n "${REDIS_USERNAME:-}" ]; then
      printf '*3\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n' "${#REDIS_USERNAME}" "$REDIS_USERNAME" \
        "${#password}" "$password" >&3
    else
      printf '*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n' "${#password}" "$password" >&3
    fi
    read -r -t 2 auth <&3 || fail "no answer from Redis to AUTH"
    auth=${auth%$'\r'}
    [ "$auth" = "+OK" ] || fail "Redis refused AUTH as ${REDIS_USERNAME:-default}: $auth"
  fi
  # An inline command: the reply is "*<n>" then n bulk strings ("$<len>" and the member).
  printf 'ZRANGEBYSCORE taskbus:replicas:%s %s +inf\r\n' "$service" "$now" >&3
  read -r -t 2 head <&3 || fail "no answer from Redis"
  head=${head%$'\r'}
  [ "${head:0:1}" = "*" ] || fail "Redis answered: $head"
  for ((i = 0; i < ${head:1}; i++)); do
    read -r -t 2 _ <&3 && read -r -t 2 member <&3 || fail "short answer from Redis"
    member=${member%$'\r'}
    if [ "${member#"$prefix"}" != "$member" ]; then echo "$daemon: live in the registry as $member"; exit 0; fi
  done
  fail "$daemon: no live heartbeat of $prefix* in taskbus:replicas:$service"
  ;;
*)
  fail "unknown daemon '$daemon' (PID 1 is '$(cat /proc/1/comm 2>/dev/null)')"
  ;;
esac
