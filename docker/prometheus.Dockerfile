# Prometheus from Debian's package on the local base image (no registry needed), with docker/prometheus.yml built in
# (docker-stack.yaml mounts the same file as a Docker config; docker-compose uses this copy). Non-root.
#   docker build -f docker/prometheus.Dockerfile --build-arg BASE=taskbus-base:bookworm -t taskbus-prometheus docker
ARG BASE=debian:bookworm-slim
FROM ${BASE}
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /prometheus /etc/taskbus && chown prometheus:prometheus /prometheus
COPY prometheus.yml /etc/taskbus/prometheus.yml
USER prometheus
EXPOSE 9090
ENTRYPOINT ["prometheus"]
CMD ["--config.file=/etc/taskbus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
