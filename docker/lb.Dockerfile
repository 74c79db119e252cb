# HAProxy from Debian's package on the local base image: the stack's entry point on port 4000 (see haproxy.cfg for
# why). haproxy.cfg is baked in at the path where the stack mounts it as a Docker config: Swarm mounts the config
# (so the public haproxy image works too), docker-compose v1 ignores configs and the baked copy is used.
#   docker build -f docker/lb.Dockerfile --build-arg BASE=taskbus-base:bookworm -t taskbus-lb:latest docker
ARG BASE=debian:bookworm-slim
FROM ${BASE}
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends haproxy \
 && rm -rf /var/lib/apt/lists/*
COPY haproxy.cfg /etc/taskbus/haproxy.cfg
USER haproxy
WORKDIR /var/lib/haproxy
EXPOSE 4000
HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=3 CMD ["bash", "-c", \
  "exec 3<>/dev/tcp/127.0.0.1/8404 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && read -r -t 2 _ s _ <&3 && [ \"$s\" = 200 ]"]
CMD ["haproxy", "-W", "-db", "-f", "/etc/taskbus/haproxy.cfg"]
