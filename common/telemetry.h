/* A daemon's metrics as a whole: the registry its modules count into, the process gauges, the optional GET /metrics
 * listener (METRICS_PORT), and once a second a sample of the daemon's gauges and a JSON snapshot of everything in
 * Redis ("taskbus:stats:<replica>", listed in the sorted set "taskbus:stats" by expiry), from which the frontend's
 * dashboard shows the whole pipeline. With METRICS=off there is no registry: every family is NULL and every
 * metric_ call a no-op. Loop thread, except what metrics.h allows from any thread. */
#ifndef TASKBUS_TELEMETRY_H
#define TASKBUS_TELEMETRY_H

struct bus;
struct event_base;
struct metrics;
struct telemetry;

#define TELEMETRY_ERR_LEN 192
#define TELEMETRY_STATS_SET "taskbus:stats"
#define TELEMETRY_STATS_KEY "taskbus:stats:%s"
#define TELEMETRY_TTL_MS 5000     /* a snapshot outlives a few missed periods, then its replica leaves the page */

/* Called on the loop once a second, before the snapshot: set the gauges that are sampled (in flight, backlog...). */
typedef void (*telemetry_sample_fn)(void *arg);

/* A registry for 'daemon' (its "service" in the snapshot; replica id 'replica'), or none when 'enabled' is 0.
 * Returns NULL only when out of memory. Declare the families (telemetry_metrics) before telemetry_start. */
struct telemetry *telemetry_new(int enabled, const char *daemon, const char *service, const char *replica);
/* The registry, or NULL with METRICS=off (metrics_add then returns NULL, and metric_ calls do nothing). */
struct metrics *telemetry_metrics(const struct telemetry *t);
/* Render the registry as Prometheus text (the process gauges as of the last once-a-second tick): a malloc'd
 * string, or NULL (METRICS=off, or out of memory). */
char *telemetry_render(struct telemetry *t, unsigned long *len);
/* Start the listener on 'port' (0: none) and the once-a-second sample and snapshot through 'bus' (NULL: none).
 * Returns 0, or -1 with a reason in 'err' (TELEMETRY_ERR_LEN bytes) when the port cannot be bound. */
int telemetry_start(struct telemetry *t, struct event_base *base, struct bus *bus, long port,
                    telemetry_sample_fn sample, void *arg, char *err);
/* Stop the listener and the timer and free. Call after bus_free (a snapshot's answer may still be due until then);
 * the snapshot in Redis expires on its own. NULL-safe. */
void telemetry_free(struct telemetry *t);

#endif
