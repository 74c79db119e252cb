/* A daemon's registry, listener and once-a-second snapshot for the dashboard. */
#include "telemetry.h"

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "metrics_http.h"
#include "procstat.h"

#define TELEMETRY_PERIOD_MS 1000

struct telemetry {
    struct metrics *m;
    struct procstat *proc;
    struct metrics_http *http;
    struct bus *bus;
    struct event *tick;
    telemetry_sample_fn sample;
    void *arg;
    char daemon[32], service[64], replica[128];
    int snapshot_out;                /* a snapshot's SET is in flight: the next one waits for its answer */
    struct metric_series *bus_window, *bus_queued, *bus_published, *bus_failed, *bus_reconnects, *bus_up;
};

/* The bus's own figures, which every daemon has: its window in use and local queue, and its running totals. */
static void declare_bus(struct telemetry *t)
{
    struct metrics *m = t->m;
    t->bus_window = metrics_add_gauge(m, "taskbus_bus_window_used",
                                      "Publishes sent to Redis and not yet answered (at most BUS_WINDOW).");
    t->bus_queued = metrics_add_gauge(m, "taskbus_bus_queued",
                                      "Publishes waiting locally for room in the window (at most BUS_MAX_QUEUE).");
    t->bus_published = metrics_add_counter(m, "taskbus_bus_published_total", "Messages accepted for publishing.");
    t->bus_failed = metrics_add_counter(m, "taskbus_bus_publish_failures_total",
                                        "Publishes Redis refused or a lost connection failed.");
    t->bus_reconnects = metrics_add_counter(m, "taskbus_bus_reconnects_total",
                                            "Connections to Redis re-established after one was lost.");
    t->bus_up = metrics_add_gauge(m, "taskbus_bus_up", "1 when both Redis connections are up and subscribed.");
}

static void sample_bus(struct telemetry *t)
{
    struct bus_stats bs;
    bus_get_stats(t->bus, &bs);
    metric_set(t->bus_window, (double)bs.outstanding);
    metric_set(t->bus_queued, (double)bs.queued);
    metric_set(t->bus_published, (double)bs.published);
    metric_set(t->bus_failed, (double)bs.failed);
    metric_set(t->bus_reconnects, (double)bs.reconnects);
    metric_set(t->bus_up, bus_is_ready(t->bus));
}

struct telemetry *telemetry_new(int enabled, const char *daemon, const char *service, const char *replica)
{
    struct telemetry *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    snprintf(t->daemon, sizeof t->daemon, "%s", daemon);
    snprintf(t->service, sizeof t->service, "%s", service);
    snprintf(t->replica, sizeof t->replica, "%s", replica);
    if (!enabled)
        return t;
    t->m = metrics_new();
    t->proc = t->m ? procstat_new(t->m) : NULL;
    if (t->proc)
        declare_bus(t);
    if (!t->proc) {
        metrics_free(t->m);
        free(t);
        return NULL;
    }
    return t;
}

struct metrics *telemetry_metrics(const struct telemetry *t)
{
    return t ? t->m : NULL;
}

char *telemetry_render(struct telemetry *t, unsigned long *len)
{
    if (!t || !t->m)
        return NULL;
    /* The process gauges are as of the last tick: reading /proc (a directory entry per open descriptor) on every
     * scrape would put that work on the caller's loop, for anyone who can reach the port. */
    size_t n;
    char *text = metrics_render_text(t->m, &n);
    *len = n;
    return text;
}

static void on_snapshot_set(struct redisReply *reply, void *arg)
{
    struct telemetry *t = arg;
    t->snapshot_out = 0;
    if (reply && reply->type == REDIS_REPLY_ERROR)
        LOG_W("event=snapshot_refused error=\"%.120s\"", reply->str);
}

/* Share everything the registry holds with the dashboard: the replica's entry in the set of snapshots (after
 * trimming the entries of replicas that left) and one SET with a TTL, pipelined; a lone entry without its key is
 * skipped by the reader, a lone key expires. */
static void send_snapshot(struct telemetry *t)
{
    if (!t->bus || t->snapshot_out || !bus_is_ready(t->bus))
        return;
    size_t mlen;
    char *metrics = metrics_render_json(t->m, &mlen);
    if (!metrics)
        return;
    long long now = clock_wall_ms();
    size_t cap = mlen + 512;
    char *json = malloc(cap);
    if (!json) {
        free(metrics);
        return;
    }
    int n = snprintf(json, cap, "{\"daemon\":\"%s\",\"service\":\"%s\",\"replica\":\"%s\",\"at\":%lld,\"metrics\":%s}",
                     t->daemon, t->service, t->replica, now, metrics);
    free(metrics);
    char key[192], expiry[32], ttl[32];
    snprintf(key, sizeof key, TELEMETRY_STATS_KEY, t->replica);
    snprintf(expiry, sizeof expiry, "%lld", now + TELEMETRY_TTL_MS);
    snprintf(ttl, sizeof ttl, "%d", TELEMETRY_TTL_MS);
    const char *set[] = { "SET", key, json, "PX", ttl };
    size_t set_len[] = { 3, strlen(key), (size_t)n, 2, strlen(ttl) };
    const char *zadd[] = { "ZADD", TELEMETRY_STATS_SET, expiry, t->replica };
    size_t zadd_len[] = { 4, strlen(TELEMETRY_STATS_SET), strlen(expiry), strlen(t->replica) };
    char now_s[32];
    snprintf(now_s, sizeof now_s, "(%lld", now);
    const char *trim[] = { "ZREMRANGEBYSCORE", TELEMETRY_STATS_SET, "-inf", now_s };
    size_t trim_len[] = { 16, strlen(TELEMETRY_STATS_SET), 4, strlen(now_s) };
    if (bus_command_argv(t->bus, NULL, NULL, 4, trim, trim_len) == 0 &&
        bus_command_argv(t->bus, NULL, NULL, 4, zadd, zadd_len) == 0 &&
        bus_command_argv(t->bus, on_snapshot_set, t, 5, set, set_len) == 0)
        t->snapshot_out = 1;
    free(json);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct telemetry *t = arg;
    procstat_collect(t->proc);
    if (t->bus)
        sample_bus(t);
    if (t->sample)
        t->sample(t->arg);
    send_snapshot(t);
}

int telemetry_start(struct telemetry *t, struct event_base *base, struct bus *bus, long port,
                    telemetry_sample_fn sample, void *arg, char *err)
{
    if (!t->m) {
        if (port > 0)
            LOG_W("event=metrics_off metrics_port=%ld reason=\"METRICS=off: no listener on METRICS_PORT\"", port);
        return 0;
    }
    char why[METRICS_HTTP_ERR_LEN];
    if (port > 0 && !(t->http = metrics_http_start((int)port, t->m, t->proc, why))) {
        snprintf(err, TELEMETRY_ERR_LEN, "%s", why);
        return -1;
    }
    t->bus = bus;
    t->sample = sample;
    t->arg = arg;
    t->tick = event_new(base, -1, EV_PERSIST, on_tick, t);
    struct timeval tv = clock_timeval(TELEMETRY_PERIOD_MS);
    if (!t->tick || evtimer_add(t->tick, &tv) != 0) {
        snprintf(err, TELEMETRY_ERR_LEN, "out of memory");
        return -1;
    }
    return 0;
}

void telemetry_free(struct telemetry *t)
{
    if (!t)
        return;
    metrics_http_stop(t->http);
    if (t->tick)
        event_free(t->tick);
    procstat_free(t->proc);
    metrics_free(t->m);
    free(t);
}
