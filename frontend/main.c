/* frontend: accepts tasks over HTTP, hands them to an events replica, and answers when the result comes back. */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>

#include "bus.h"
#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "dispatch.h"
#include "http.h"
#include "instruments.h"
#include "idem_store.h"
#include "log.h"
#include "msg.h"
#include "pending.h"
#include "projection.h"
#include "reads.h"
#include "registry.h"
#include "telemetry.h"
#include "tokens.h"

static long port, timeout_ms, max_body, max_connections, max_in_flight, idle_timeout_s, connection_memory,
    shutdown_grace_ms, follow_ms, idempotency_ttl_s, header_timeout_ms, body_timeout_ms, max_per_ip;
static const char *api_tokens_file, *task_ids;
static long tracing;

static const struct config_var config[] = {
    { "PORT", CONFIG_INT, "4000", 1, 65535, "HTTP port", &port },
    { "TASK_TIMEOUT_MS", CONFIG_INT, "5000", 10, 600000, "a request with no answer by then gets 504", &timeout_ms },
    { "MAX_BODY", CONFIG_INT, "65536", 16, 16777216, "largest accepted body in bytes (413 above)", &max_body },
    { "MAX_CONNECTIONS", CONFIG_INT, "20000", 16, 1000000, "open HTTP connections before new ones wait",
      &max_connections },
    { "MAX_IN_FLIGHT", CONFIG_INT, "10000", 1, 1000000, "requests in the pipeline before new ones get 503",
      &max_in_flight },
    { "IDLE_TIMEOUT_S", CONFIG_INT, "60", 1, 3600, "idle keep-alive connections are closed after this",
      &idle_timeout_s },
    { "HEADER_TIMEOUT_MS", CONFIG_INT, "10000", 100, 600000,
      "a request's head must arrive within this (from the connection's start, or from a later request's first "
      "line), however steadily it trickles; then the connection is closed", &header_timeout_ms },
    { "BODY_TIMEOUT_MS", CONFIG_INT, "30000", 100, 600000,
      "a request's body must arrive within this after its head; then the connection is closed", &body_timeout_ms },
    { "MAX_CONNECTIONS_PER_IP", CONFIG_INT, "256", 0, 1000000,
      "open HTTP connections from one client address; more are refused (0: no cap; behind a load balancer every "
      "client has its address)", &max_per_ip },
    { "API_TOKENS_FILE", CONFIG_STRING, "", 0, 0,
      "file of API tokens, one a line (# comments); when set, every route but GET / and GET /metrics needs "
      "Authorization: Bearer <token>; re-read on SIGHUP", &api_tokens_file },
    { "CONNECTION_MEMORY", CONFIG_INT, "4096", 1024, 1048576,
      "bytes per HTTP connection for headers and buffers (larger headers get 431)", &connection_memory },
    { "FOLLOW_MS", CONFIG_INT, "60000", 0, 3600000,
      "after a 504, keep following the task this long (re-sent if its events replica vanishes)", &follow_ms },
    { "IDEMPOTENCY_TTL_S", CONFIG_INT, "86400", 1, 604800,
      "an Idempotency-Key is remembered this long (a retry then answers the same task)", &idempotency_ttl_s },
    { "SHUTDOWN_GRACE_MS", CONFIG_INT, "5000", 0, 600000, "on SIGTERM, time to finish requests in flight",
      &shutdown_grace_ms },
    { "TRACING", CONFIG_BOOL, "on", 0, 0,
      "give a request without a valid traceparent a new W3C trace id (off: only a client's trace is carried)",
      &tracing },
    { "TASK_IDS", CONFIG_STRING, "time", 1, 0,
      "time: a task id starts with its creation time, then 80 random bits (cheaper to index in the event log); "
      "random: 128 random bits, so an id does not tell when its task was created", &task_ids },
};

struct app {
    struct event_base *base;
    struct bus *bus;
    struct registry *reg;
    struct pending *pending;
    struct dispatch *dispatch;
    struct http *http;
    struct tokens *tokens;
    struct telemetry *telemetry;
    struct instruments ins;
    struct event *grace;
    int was_ready;
};

static void on_message(const char *data, size_t len, void *arg)
{
    dispatch_on_message(data, len, ((struct app *)arg)->dispatch);
}

static void on_timeout(struct request *req, void *arg)
{
    dispatch_forget(((struct app *)arg)->dispatch, req);
}

/* The bus is up: announce ourselves. After a reconnect, answers sent while it was down are lost, so every task in
 * flight is re-sent at the refresh this beat brings. */
static void on_ready(void *arg)
{
    struct app *app = arg;
    if (app->was_ready && app->dispatch)
        dispatch_on_reconnect(app->dispatch);
    app->was_ready = 1;
    registry_beat(app->reg);
}

static void on_refresh(void *arg)
{
    struct app *app = arg;
    if (app->dispatch)
        dispatch_on_refresh(app->dispatch);
}

/* The dispatcher's window on the world: the Redis bus and the wall clock (a unit test passes a fake instead). */
static int io_publish(void *ctx, const char *channel, const char *data, size_t len, dispatch_published_fn cb,
                      void *arg)
{
    return bus_publish(ctx, channel, data, len, cb, arg);
}

static int io_ready(void *ctx)
{
    return bus_is_ready(ctx);
}

static long long io_now(void *ctx)
{
    (void)ctx;
    return clock_wall_ms();
}

static int io_claim(void *ctx, const char *key, const char *value, long ttl_s, dispatch_claimed_fn cb, void *arg)
{
    return idem_store_claim(ctx, key, value, ttl_s, cb, arg);
}

static int io_unclaim(void *ctx, const char *key, dispatch_unclaimed_fn cb, void *arg)
{
    return idem_store_release(ctx, key, cb, arg);
}

/* Shutdown, once nothing is in flight or the grace has passed: answer what is left, let MHD send it, leave. No
 * request is suspended after on_stop (http_quiesce makes the handler answer 503 at once), so once this has answered
 * the pending table no connection is suspended when http_free stops MHD, which would abort the process otherwise. */
static void finish_stop(void *arg)
{
    struct app *app = arg;
    event_del(app->grace);
    pending_when_idle(app->pending, NULL, NULL);
    dispatch_answer_claims(app->dispatch, "the frontend is shutting down");
    pending_answer_all(app->pending, 503, "the frontend is shutting down");
    struct timeval tv = clock_timeval(200);
    event_base_loopexit(app->base, &tv);
}

static void on_grace(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    finish_stop(arg);
}

/* SIGTERM/SIGINT: refuse new requests (also on open keep-alive connections), leave the registry, and give the
 * suspended requests SHUTDOWN_GRACE_MS to get their answers. */
static void on_stop(void *arg)
{
    struct app *app = arg;
    http_quiesce(app->http);
    registry_leave(app->reg);
    struct timeval tv = clock_timeval(shutdown_grace_ms);
    evtimer_add(app->grace, &tv);
    pending_when_idle(app->pending, finish_stop, app);
}

/* SIGHUP: re-read the API tokens file; a file that cannot be read or parsed leaves the tokens in force. */
static void on_reload(void *arg)
{
    struct app *app = arg;
    char err[AUTH_ERR_LEN];
    if (!app->tokens)
        return;
    if (tokens_reload(app->tokens, err) != 0) {
        LOG_W("event=tokens_reload_failed kept=%zu reason=\"%s\"", auth_tokens_count(tokens_current(app->tokens)),
              err);
        return;
    }
    LOG_I("event=tokens_reloaded tokens=%zu", auth_tokens_count(tokens_current(app->tokens)));
}

int main(int argc, char **argv)
{
    daemon_configure(argc, argv, "frontend", "HTTP API of taskbus", config, sizeof config / sizeof config[0]);
    const struct daemon_settings *ds = &daemon_settings;
    char self_id[REPLICA_ID_LEN], channel[MSG_CHANNEL_LEN], err[256];
    clock_replica_id("frontend", self_id, sizeof self_id);
    msg_channel(channel, self_id);
    log_init("frontend", self_id, ds->log_level);
    long nofile = daemon_raise_nofile();
    if (nofile > 0 && nofile < max_connections + 64)
        LOG_W("event=low_nofile limit=%ld max_connections=%ld", nofile, max_connections);

    enum taskid_order order;
    if (taskid_order_parse(task_ids, &order) != 0) {
        fprintf(stderr, "frontend: invalid configuration: TASK_IDS=%s is not time or random\n", task_ids);
        return 1;
    }
    struct app app = { 0 };
    if (*api_tokens_file) {
        char terr[AUTH_ERR_LEN];
        app.tokens = tokens_load(api_tokens_file, terr);
        if (!app.tokens) {
            fprintf(stderr, "frontend: invalid configuration: API_TOKENS_FILE: %s\n", terr);
            return 1;
        }
    }
    app.base = event_base_new();
    struct daemon_signals *signals = daemon_signals_new(app.base, on_stop, &app);
    if (signals)
        daemon_signals_on_reload(signals, on_reload, &app);
    app.grace = evtimer_new(app.base, on_grace, &app);
    struct bus_config bc = { ds->redis_host, (int)ds->redis_port, channel, ds->bus_window, on_message, on_ready,
                             &app, ds->heartbeat_ms, ds->bus_max_queue, ds->redis_username, ds->redis_password };
    app.bus = bus_new(app.base, &bc);
    app.reg = registry_new(app.base, app.bus, "frontend", self_id, ds->heartbeat_ms, ds->replica_ttl_ms, on_refresh,
                           &app);
    struct replica_set *events = app.reg ? registry_watch(app.reg, "events") : NULL;
    app.pending = pending_new(app.base, timeout_ms, on_timeout, &app);
    struct dispatch_io io = { io_publish, io_ready, io_now, app.bus, io_claim, io_unclaim };
    app.telemetry = telemetry_new(ds->metrics, "frontend", "frontend", self_id);
    instruments_declare(&app.ins, telemetry_metrics(app.telemetry));
    struct dispatch_config dc = { self_id, timeout_ms, follow_ms, max_in_flight, idempotency_ttl_s,
                                  app.ins.publish, (int)tracing, order };
    app.dispatch = app.pending && events ? dispatch_new(&io, &dc, events, app.pending) : NULL;
    struct projection *projection = app.bus ? projection_new(app.base, app.bus, 0) : NULL;
    struct reads *reads = projection && app.dispatch ? reads_new(projection, app.dispatch, app.pending, app.bus) : NULL;
    if (!app.base || !signals || !app.grace || !app.bus || !app.dispatch || !reads || !app.telemetry) {
        fprintf(stderr, "frontend: out of memory at start-up\n");
        return 1;
    }
    struct http_config hc = { (int)port, max_body, max_connections, max_in_flight, idle_timeout_s, connection_memory,
                              header_timeout_ms, body_timeout_ms, max_per_ip, app.tokens, app.telemetry,
                              &app.ins };
    app.http = http_new(app.base, &hc, app.bus, events, app.dispatch, app.pending, reads, err);
    if (!app.http) {
        fprintf(stderr, "frontend: %s\n", err);
        return 1;
    }
    app.ins.dispatch = app.dispatch;
    app.ins.events = events;
    char terr[TELEMETRY_ERR_LEN];
    if (telemetry_start(app.telemetry, app.base, app.bus, ds->metrics_port, instruments_sample, &app.ins, terr) != 0) {
        fprintf(stderr, "frontend: %s\n", terr);
        return 1;
    }
    LOG_I("event=started port=%ld redis=%s:%ld timeout_ms=%ld api_tokens=%zu", port, ds->redis_host, ds->redis_port,
          timeout_ms, app.tokens ? auth_tokens_count(tokens_current(app.tokens)) : (size_t)0);
    event_base_dispatch(app.base);

    struct dispatch_stats stats;
    dispatch_get_stats(app.dispatch, &stats);
    LOG_I("event=stopped sent=%llu answered=%llu late=%llu redispatched=%llu resent=%llu followed=%llu resolved=%llu "
          "unresolved=%llu replays=%llu conflicts=%llu", stats.sent, stats.answered, stats.late, stats.redispatched,
          stats.resent, stats.orphaned, stats.resolved, stats.unresolved, stats.replays, stats.conflicts);
    http_free(app.http);
    bus_free(app.bus);
    telemetry_free(app.telemetry);
    registry_free(app.reg);
    reads_free(reads);
    projection_free(projection);
    dispatch_free(app.dispatch);
    pending_free(app.pending);
    event_free(app.grace);
    daemon_signals_free(signals);
    event_base_free(app.base);
    tokens_free(app.tokens);
    return 0;
}
