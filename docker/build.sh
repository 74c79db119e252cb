#!/usr/bin/env bash
# Build every image of the stack from this checkout, on the local Debian base (docker/base.sh builds it once):
#   taskbus:$TAG           the daemons (docker/Dockerfile, multi-stage)
#   taskbus-redis:$TAG     Debian's redis-server          (docker/redis.Dockerfile)
#   taskbus-ferretdb:$TAG  FerretDB FROM scratch          (docker/ferretdb.Dockerfile; binary from scripts/install-ferretdb.sh)
#   taskbus-lb:$TAG        Debian's HAProxy on port 4000  (docker/lb.Dockerfile)
#   taskbus-prometheus:$TAG Debian's Prometheus on 9090  (docker/prometheus.Dockerfile; the stack's optional service)
# Usage: docker/build.sh [TAG]   (default latest; BASE_IMAGE=… to use another base, e.g. debian:bookworm-slim)
# The last lines printed are the variables docker-stack.yaml reads (TASKBUS_IMAGE=… and so on).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
tag=${1:-latest}
base=${BASE_IMAGE:-taskbus-base:bookworm}
cd "$top"

if [ "$base" = taskbus-base:bookworm ]; then docker/base.sh "$base"; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

build() { # build <image> <log name> docker build arguments…
  local image=$1 name=$2 start=$SECONDS
  shift 2
  echo "build: $image …"
  if ! DOCKER_BUILDKIT=0 docker build --build-arg BASE="$base" --label io.taskbus.image="$image" -t "$image" "$@" \
      >"$work/$name.log" 2>&1; then
    tail -40 "$work/$name.log" >&2
    echo "build: $image failed" >&2
    exit 1
  fi
  echo "build: $image built in $((SECONDS - start))s ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}'))"
}

# The daemons: only the files the Dockerfile copies, as they are in the working tree (git's ignored files excluded).
git ls-files -co --exclude-standard -- CMakeLists.txt cmake task-maps.json common frontend events backend tests/unit \
  tests/integration/bus_inprocess.c \
  docker/Dockerfile docker/healthcheck.sh | tar -c -T - -f "$work/taskbus.tar"
build "taskbus:$tag" taskbus -f docker/Dockerfile - <"$work/taskbus.tar"

build "taskbus-redis:$tag" redis - <docker/redis.Dockerfile

# FerretDB: the static binary (built once by scripts/install-ferretdb.sh) and the static probe.
[ -x .local/bin/ferretdb ] || scripts/install-ferretdb.sh
export PATH="$PATH:/usr/local/go/bin"
mkdir -p "$work/ferretdb/data" "$work/ferretdb/tmp"
chmod 1777 "$work/ferretdb/tmp"
cp .local/bin/ferretdb docker/ferretdb.Dockerfile "$work/ferretdb/"
(cd docker/ferretdb-probe && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags='-s -w' -o "$work/ferretdb/ferretdb-probe" .)
for bin in ferretdb ferretdb-probe; do  # FROM scratch: no libc to link against
  [[ $(ldd "$work/ferretdb/$bin" 2>&1) == *"not a dynamic executable"* ]] || { echo "build: $bin is not static" >&2; exit 1; }
done
build "taskbus-ferretdb:$tag" ferretdb -f "$work/ferretdb/ferretdb.Dockerfile" "$work/ferretdb"

build "taskbus-lb:$tag" lb -f docker/lb.Dockerfile docker

build "taskbus-prometheus:$tag" prometheus -f docker/prometheus.Dockerfile docker

echo "TASKBUS_IMAGE=taskbus:$tag"
echo "REDIS_IMAGE=taskbus-redis:$tag"
echo "MONGO_IMAGE=taskbus-ferretdb:$tag"
echo "LB_IMAGE=taskbus-lb:$tag"
echo "PROMETHEUS_IMAGE=taskbus-prometheus:$tag"
