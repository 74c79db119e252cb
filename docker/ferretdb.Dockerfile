# FerretDB (the MongoDB wire protocol on SQLite) FROM scratch: the static binary built on the host by
# scripts/install-ferretdb.sh, and ferretdb-probe (docker/ferretdb-probe, static) for the HEALTHCHECK.
# docker/build.sh assembles the context: ferretdb, ferretdb-probe, and the empty folders data/ and tmp/.
FROM scratch
COPY --chown=65534:65534 data/ /data/db/
COPY --chown=65534:65534 data/ /data/state/
COPY tmp/ /tmp/
COPY ferretdb ferretdb-probe /
# GOGC=off with a GOMEMLIMIT: Go collects only near 256 MiB (the stack gives the container 1G), not every few
# milliseconds under load (tests/harness.py FERRETDB_GC says why; bench/results/log-cost.md measures it).
ENV FERRETDB_HANDLER=sqlite \
    FERRETDB_SQLITE_URL=file:/data/db/ \
    FERRETDB_LISTEN_ADDR=0.0.0.0:27017 \
    FERRETDB_STATE_DIR=/data/state \
    FERRETDB_TELEMETRY=disable \
    FERRETDB_DEBUG_ADDR=- \
    FERRETDB_LOG_LEVEL=warn \
    GOGC=off \
    GOMEMLIMIT=256MiB \
    TMPDIR=/tmp
# nobody:nogroup; the SQLite files live in the volume (a new named volume takes the folder's owner).
USER 65534:65534
VOLUME /data/db
EXPOSE 27017
HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=3 CMD ["/ferretdb-probe"]
ENTRYPOINT ["/ferretdb"]
