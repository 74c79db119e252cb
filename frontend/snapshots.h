/* Every live replica's metrics snapshot (common/telemetry.h), read from Redis for the dashboard: the replicas whose
 * snapshot has not expired (ZRANGEBYSCORE taskbus:stats <now> +inf, at most DASHBOARD_MAX_REPLICAS), then their
 * keys in one MGET, both on the bus's command connection, so the loop never waits. Loop thread only. */
#ifndef TASKBUS_SNAPSHOTS_H
#define TASKBUS_SNAPSHOTS_H

struct bus;

/* The answer: 'body' is the malloc'd body of GET /dashboard/stats (dashboard_stats_render; the callee owns it), or
 * NULL with a client-readable reason in 'err' when Redis failed or memory ran out. */
typedef void (*snapshots_fn)(char *body, const char *err, void *arg);

/* Read the snapshots at wall time 'now_ms'. Returns 0 when under way: 'cb' then runs exactly once, later, on the
 * loop. Returns -1 when the bus is down or memory runs out: then 'cb' never runs. */
int snapshots_read(struct bus *bus, long long now_ms, snapshots_fn cb, void *arg);

#endif
