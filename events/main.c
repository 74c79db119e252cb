/* events: logs every task in the store, routes it to a backend replica, and answers the owning frontend. */
#include <event2/event.h>
#include <mongoc/mongoc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "instruments.h"
#include "log.h"
#include "metrics.h"
#include "msg.h"
#include "nolog.h"
#include "projection.h"
#include "rebuild.h"
#include "registry.h"
#include "router.h"
#include "secret.h"
#include "store.h"
#include "taskmap.h"
#include "telemetry.h"

static const char *mongo_uri, *mongo_uri_file, *task_maps, *events_log;
static long store_linger_ms, store_batch, shutdown_grace_ms, max_jobs, max_backlog, max_attempts, outcome_ttl_s,
    retention_s, merge_ms;

static const struct config_var config[] = {
    { "MONGO_URI", CONFIG_STRING, "mongodb://127.0.0.1:27017/taskbus", 1, 0,
      "MongoDB URI of the event log (database from its path); never printed with its password", &mongo_uri },
    { "MONGO_URI_FILE", CONFIG_STRING, "", 0, 0,
      "file whose first line is the MongoDB URI (Docker secrets, for a URI with credentials); instead of MONGO_URI",
      &mongo_uri_file },
    { "TASK_MAPS", CONFIG_STRING, "task-maps.json", 1, 0, "task type -> backend service map (JSON file)", &task_maps },
    { "STORE_BATCH", CONFIG_INT, "1000", 1, 100000, "most records in one bulk insert", &store_batch },
    { "LOG_MERGE_MS", CONFIG_INT, "250", 0, 60000,
      "a task's arrival record waits this long to be written in one document with its outcome; 0 writes it at once",
      &merge_ms },
    { "STORE_LINGER_MS", CONFIG_INT, "2", 0, 1000,
      "under load, bulk inserts into the log start at least this long apart, so each holds more records",
      &store_linger_ms },
    { "SHUTDOWN_GRACE_MS", CONFIG_INT, "5000", 0, 600000, "on SIGTERM, time to finish tasks in flight",
      &shutdown_grace_ms },
    { "MAX_JOBS", CONFIG_INT, "20000", 1, 10000000, "tasks in flight in this replica before new ones get 503",
      &max_jobs },
    { "STORE_MAX_BACKLOG", CONFIG_INT, "100000", 1, 100000000,
      "records waiting for the store before new tasks get 503", &max_backlog },
    { "MAX_ATTEMPTS", CONFIG_INT, "3", 1, 50, "sends of one task to backend replicas before it fails",
      &max_attempts },
    { "OUTCOME_TTL_S", CONFIG_INT, "60", 0, 86400,
      "answers are kept in Redis this long, for a task a frontend hands to another events replica", &outcome_ttl_s },
    { "TASK_RETENTION_S", CONFIG_INT, "600", 1, 31536000,
      "a task's projection in Redis (GET /task/{id}, GET /tasks) lives this long after its last record",
      &retention_s },
    { "EVENTS_LOG", CONFIG_STRING, NOLOG_MODE_ON, 1, 0,
      "on: every record is written to the event log; " NOLOG_MODE_OFF ": a MEASUREMENT MODE that keeps NO event "
      "log (records are acknowledged without being written, answers are not durable; for bench/bench.py only)",
      &events_log },
};

struct app {
    struct event_base *base;
    struct bus *bus;
    struct registry *reg;
    struct store *store;
    struct nolog *nolog;                 /* EVENTS_LOG=off-for-measurement only: appends acknowledged unwritten */
    struct router *router;
    struct projection *projection;
    struct telemetry *telemetry;
    struct instruments ins;
    struct event *grace;
    int was_ready;
};

static int io_publish(void *bus, const char *channel, const char *data, size_t len, bus_published_fn cb, void *arg)
{
    return bus_publish(bus, channel, data, len, cb, arg);
}

static int io_append(void *store, bson_t *doc, void *ctx)
{
    return store_append(store, doc, ctx);
}

static int io_history(void *store, const char *task_id, store_history_fn cb, void *ctx)
{
    return store_history(store, task_id, cb, ctx);
}

static size_t io_backlog(void *store)
{
    return store_backlog(store);
}

static int io_outcome_keep(void *bus, const char *task_id, const char *answer, size_t len, long ttl_s,
                           outcome_kept_fn cb, void *arg)
{
    return outcome_keep(bus, task_id, answer, len, ttl_s, cb, arg);
}

static int io_outcome_replace(void *bus, const char *task_id, const char *answer, size_t len, long ttl_s)
{
    return outcome_replace(bus, task_id, answer, len, ttl_s);
}

static int io_outcome_read(void *store, const char *task_id, store_outcome_fn cb, void *ctx)
{
    return store_outcome(store, task_id, cb, ctx);
}

static int io_outcome_load(void *bus, const char *task_id, outcome_loaded_fn cb, void *arg)
{
    return outcome_load(bus, task_id, cb, arg);
}

static int load_taskmap(const char *path, struct taskmap *map)
{
    char err[TASK_ERR_LEN], text[65536];
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "events: cannot open TASK_MAPS=%s\n", path);
        return -1;
    }
    size_t len = fread(text, 1, sizeof text, f);
    fclose(f);
    if (len == sizeof text || taskmap_parse(text, len, map, err) != 0) {
        fprintf(stderr, "events: invalid TASK_MAPS=%s: %s\n", path, len == sizeof text ? "file too large" : err);
        return -1;
    }
    return 0;
}

static void on_message(const char *data, size_t len, void *arg)
{
    router_on_message(data, len, ((struct app *)arg)->router);
}

static void on_refresh(void *arg)
{
    router_on_refresh(((struct app *)arg)->router);
}

/* A record the router acts on (an outcome, or an async task's arrival), held until Redis has projected it. */
struct acked {
    struct app *app;
    void *ctx;
    bson_t *doc;
    int duplicate;
};

static void on_projected(void *arg)
{
    struct acked *a = arg;
    if (a->ctx)
        router_on_acked(a->ctx, a->doc, a->duplicate, a->app->router);
    bson_destroy(a->doc);
    free(a);
}

/* Project 'doc' and then hand 'a' to the router: once Redis answered, or once the projection could not be sent
 * (logged), or at once when 'doc' cannot be projected at all (not a record, out of memory). */
static void project_then_route(struct acked *a, const bson_t *doc)
{
    if (projection_apply(a->app->projection, doc, on_projected, a) != 0)
        on_projected(a);
}

/* A record is stored: project it, and only then let the router answer what it allows (a 200 or a 202), so a client
 * that reads the task right after its answer finds it, also when Redis had to be sent the script again. Plain steps
 * are projected without waiting. A duplicate is not projected: the stored one stands, and its writer projected it.
 * Reading it back to project it here cost a FerretDB scan per duplicate on the reader thread, which the router's
 * own reads of stored outcomes queued behind: make chaos saw answers time out after a Redis restart and a store
 * outage. One duplicate is projected: an outcome recording the answer another replica kept, because that replica
 * may have died after storing its outcome and before projecting it (a handover after an events kill), and the view
 * would say "running" until `events --rebuild`. Its answer is the stored one's (the kept answer is what that
 * replica stored); only its replica, seq and time are this replica's. */
static void on_acked(void *ctx, const bson_t *doc, int duplicate, void *arg)
{
    struct app *app = arg;
    if (duplicate && !(ctx && router_answer_was_kept(ctx))) {
        if (ctx)
            router_on_acked(ctx, doc, duplicate, app->router);
        return;
    }
    if (!ctx) {
        projection_apply(app->projection, doc, NULL, NULL);
        return;
    }
    struct acked *a = malloc(sizeof *a);
    if (a)
        *a = (struct acked){ app, ctx, bson_copy(doc), duplicate };
    if (!a || !a->doc) {
        if (a)
            bson_destroy(a->doc);
        free(a);
        projection_apply(app->projection, doc, NULL, NULL);
        router_on_acked(ctx, doc, duplicate, app->router); /* the answer still leaves */
        return;
    }
    project_then_route(a, doc);
}

/* The bus is up. After a reconnect, results sent meanwhile are lost: tasks out at backends go out again at the
 * refresh this beat brings. */
static void on_ready(void *arg)
{
    struct app *app = arg;
    if (app->was_ready && app->router)
        router_on_reconnect(app->router);
    app->was_ready = 1;
    if (app->reg)
        registry_beat(app->reg);
}

static void on_idle(void *arg)
{
    struct app *app = arg;
    event_base_loopexit(app->base, NULL);
}

static void on_grace(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct app *app = arg;
    LOG_W("event=shutdown_abort in_flight=%zu", router_in_flight(app->router));
    router_abort_all(app->router);
    /* If the store never acknowledges, leave anyway a little later. */
    struct timeval tv = clock_timeval(2000);
    event_base_loopexit(app->base, &tv);
}

static void on_stop(void *arg)
{
    struct app *app = arg;
    registry_leave(app->reg);
    struct timeval tv = clock_timeval(shutdown_grace_ms);
    evtimer_add(app->grace, &tv);
    router_when_idle(app->router, on_idle, app);
}

int main(int argc, char **argv)
{
    int rebuild = argc == 2 && strcmp(argv[1], "--rebuild") == 0;
    daemon_configure(rebuild ? 1 : argc, argv, "events",
                     "routes tasks to backends and logs them in MongoDB; `events --rebuild` replays the log into the "
                     "Redis projection and exits", config, sizeof config / sizeof config[0]);
    const struct daemon_settings *ds = &daemon_settings;
    static char uri_from_file[SECRET_LEN];
    const char *uri = daemon_secret("events", "MONGO_URI", "MONGO_URI_FILE", uri_from_file);
    if (uri)
        mongo_uri = uri; /* else MONGO_URI's default */
    int log_off = 0;
    if (nolog_parse_mode(events_log, &log_off) != 0) {
        fprintf(stderr, "events: invalid configuration: EVENTS_LOG=%s is not " NOLOG_MODE_ON " or " NOLOG_MODE_OFF
                " (a measurement mode that keeps no event log)\n", events_log);
        return 1;
    }
    if (rebuild) {
        mongoc_init();
        int rc = rebuild_run(mongo_uri, ds->redis_host, (int)ds->redis_port, ds->redis_username, ds->redis_password,
                             retention_s);
        mongoc_cleanup();
        return rc;
    }
    struct taskmap map;
    if (load_taskmap(task_maps, &map) != 0)
        return 1;
    char self_id[REPLICA_ID_LEN], channel[MSG_CHANNEL_LEN], err[STORE_ERR_LEN];
    clock_replica_id("events", self_id, sizeof self_id);
    msg_channel(channel, self_id);
    log_init("events", self_id, ds->log_level);
    mongoc_init();

    struct app app = { 0 };
    app.base = event_base_new();
    struct daemon_signals *signals = daemon_signals_new(app.base, on_stop, &app);
    app.grace = evtimer_new(app.base, on_grace, &app);
    app.store = store_new(app.base, mongo_uri, store_batch, store_linger_ms, on_acked, &app, err);
    if (!app.store) {
        fprintf(stderr, "events: %s\n", err);
        return 1;
    }
    app.telemetry = telemetry_new(ds->metrics, "events", "events", self_id);
    struct router_metrics rm = { 0 };
    struct metric_series *store_batch_m = NULL, *store_insert_m = NULL, *store_commit_m = NULL;
    instruments_declare(&app.ins, telemetry_metrics(app.telemetry), &rm, &store_batch_m, &store_insert_m,
                        &store_commit_m);
    store_set_metrics(app.store, store_batch_m, store_insert_m, store_commit_m);
    metric_set(metrics_add_gauge(telemetry_metrics(app.telemetry), "taskbus_event_log_off",
                                 "1 in the measurement mode EVENTS_LOG=" NOLOG_MODE_OFF ": this replica keeps no "
                                 "event log and its answers are not durable; 0 normally."),
               log_off);
    if (log_off && !(app.nolog = nolog_new(app.base, app.store, on_acked, &app))) {
        fprintf(stderr, "events: out of memory at start-up\n");
        return 1;
    }
    struct bus_config bc = { ds->redis_host, (int)ds->redis_port, channel, ds->bus_window, on_message, on_ready,
                             &app, ds->heartbeat_ms, ds->bus_max_queue, ds->redis_username, ds->redis_password };
    /* Messages and acknowledgements only arrive from the loop, so the router can be created last. */
    app.bus = bus_new(app.base, &bc);
    app.projection = app.bus ? projection_new(app.base, app.bus, retention_s) : NULL;
    app.reg = registry_new(app.base, app.bus, "events", self_id, ds->heartbeat_ms, ds->replica_ttl_ms, on_refresh,
                           &app);
    struct router_io io = { app.bus, io_publish, app.store, io_append, io_history, io_backlog, io_outcome_keep,
                            io_outcome_replace, io_outcome_load, io_outcome_read };
    if (app.nolog)
        nolog_wire(app.nolog, &io);
    struct router_config rc = { map, self_id, { NULL, NULL }, max_jobs, max_backlog, max_attempts, outcome_ttl_s,
                                merge_ms, rm };
    int watched = app.reg != NULL;
    for (int t = TASK_NUMBER; t <= TASK_STRING && watched; t++) {
        const char *service = taskmap_route(&map, (enum task_type)t);
        rc.sets[t] = service ? registry_watch(app.reg, service) : NULL;
        watched = !service || rc.sets[t];
    }
    app.router = watched ? router_new(app.base, &io, &rc) : NULL;
    if (!signals || !app.grace || !app.bus || !app.projection || !app.reg || !app.router || !app.telemetry) {
        fprintf(stderr, "events: out of memory at start-up\n");
        return 1;
    }
    app.ins.router = app.router;
    app.ins.store = app.store;
    app.ins.projection = app.projection;
    for (int t = TASK_NUMBER; t <= TASK_STRING; t++) {
        app.ins.services[t] = taskmap_route(&map, (enum task_type)t);
        app.ins.sets[t] = rc.sets[t];
    }
    char terr[TELEMETRY_ERR_LEN];
    if (telemetry_start(app.telemetry, app.base, app.bus, ds->metrics_port, instruments_sample, &app.ins, terr) != 0) {
        fprintf(stderr, "events: %s\n", terr);
        return 1;
    }
    if (app.nolog)
        LOG_W("event=event_log_off events_log=" NOLOG_MODE_OFF " reason=\"MEASUREMENT MODE: records are acknowledged "
              "without being written, this replica keeps NO event log and its answers are NOT durable\"");
    LOG_I("event=started redis=%s:%ld store_batch=%ld events_log=%s", ds->redis_host, ds->redis_port, store_batch,
          app.nolog ? NOLOG_MODE_OFF : NOLOG_MODE_ON);
    event_base_dispatch(app.base);

    /* Teardown in dependency order: pending acknowledgements publish on the bus, pending bus callbacks reach the
     * registry and the router. */
    struct store_stats ss;
    if (app.nolog) {
        nolog_free(app.nolog, &ss); /* its acknowledgements still due run first, as the store's do */
        store_free(app.store, 2000, NULL);
    } else {
        store_free(app.store, 2000, &ss);
    }
    projection_flush(app.projection); /* what those acknowledgements queued, while the bus and router still live */
    struct router_stats rs;
    router_get_stats(app.router, &rs);
    LOG_I("event=stopped tasks=%llu answered=%llu failed=%llu refused=%llu redelivered=%llu late_results=%llu "
          "stale_results=%llu bad_messages=%llu handoffs=%llu answered_from_outcome=%llu outcomes_read=%llu "
          "records=%llu stored=%llu "
          "batches=%llu max_store_lag_ms=%lld events_log=%s",
          rs.tasks, rs.answered, rs.failed, rs.refused, rs.redelivered, rs.late_results, rs.stale_results,
          rs.bad_messages, rs.handoffs, rs.answered_from_outcome, rs.outcomes_read, ss.appended, ss.stored, ss.batches,
          ss.max_lag_ms, app.nolog ? NOLOG_MODE_OFF : NOLOG_MODE_ON);
    struct projection_stats ps;
    projection_get_stats(app.projection, &ps);
    LOG_I("event=projection applied=%llu failed=%llu", ps.applied, ps.failed);
    bus_free(app.bus);
    telemetry_free(app.telemetry);
    projection_free(app.projection);
    registry_free(app.reg);
    router_free(app.router);
    event_free(app.grace);
    daemon_signals_free(signals);
    event_base_free(app.base);
    mongoc_cleanup();
    return 0;
}
