# Redis from Debian's redis-server package on the local base image (no registry needed). Non-root. docker-stack.yaml
# runs it with an append-only file in /data (a volume): Idempotency-Key claims and kept answers live in Redis.
#   docker build -f docker/redis.Dockerfile --build-arg BASE=taskbus-base:bookworm -t taskbus-redis:latest docker
ARG BASE=debian:bookworm-slim
FROM ${BASE}
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/*
RUN mkdir -p /data && chown redis:redis /data
USER redis
WORKDIR /var/lib/redis
EXPOSE 6379
HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=3 \
  CMD ["sh", "-c", "[ \"$(redis-cli ping)\" = PONG ]"]
# Without a configuration file Redis turns protected mode on: it must answer the other containers.
CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", "", "--appendonly", "yes", "--dir", "/data", "--hash-max-listpack-value", "1024"]
