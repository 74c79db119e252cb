#!/usr/bin/env bash
# Generate the Redis credentials that docker-stack.yaml reads as Docker secrets, into docker/secrets/ (git-ignored):
#   redis-users.acl                    the ACL for redis-server --aclfile (scripts/redis_acl.py: `default` off, one
#                                      user per role with least privilege, admin for operators; SHA-256 only)
#   redis-<user>.password              one random password per user: frontend, events, backend, admin
# Password files that exist are kept, so running it again changes nothing but the ACL's rules (run it again after
# adding a service to task-maps.json: the backend user's channels are named after the services). Docker secrets are
# immutable: `docker stack rm` the stack before deploying it with changed files.
# Usage: docker/secrets.sh [folder]     (default docker/secrets next to docker-stack.yaml; needs python3)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$top/docker/secrets}
mkdir -p "$dir"
chmod 700 "$dir"
# Files 0644 inside a 0700 folder: no other host user reaches them, and docker-compose, which bind-mounts secrets as
# they are, lets the containers' non-root users read them (Swarm mounts secrets 0444 in the container anyway).
python3 "$top/scripts/redis_acl.py" "$dir" --task-maps "$top/task-maps.json" --mode 644
