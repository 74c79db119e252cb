/* backend: a worker replica of one service; computes each task it is sent and answers the events replica. */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "clock.h"
#include "compute.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "msg.h"
#include "registry.h"
#include "telemetry.h"

static const char *service;
static long shutdown_grace_ms;

static const struct config_var config[] = {
    { "SERVICE", CONFIG_STRING, "arithmetic", 1, 0, "the service this replica provides (a value of task-maps.json)",
      &service },
    { "SHUTDOWN_GRACE_MS", CONFIG_INT, "1500", 0, 600000,
      "on SIGTERM, keep serving this long after leaving the registry (senders refresh within HEARTBEAT_MS)",
      &shutdown_grace_ms },
};

struct app {
    struct event_base *base;
    struct bus *bus;
    struct registry *reg;
    struct telemetry *telemetry;
    char self_id[REPLICA_ID_LEN];
    unsigned long long done, failed, bad;
    struct metric *tasks;                /* by outcome */
    struct metric_series *compute;       /* seconds per task */
};

static void declare_metrics(struct app *app)
{
    struct metrics *m = telemetry_metrics(app->telemetry);
    app->tasks = metrics_add(m, METRIC_COUNTER, "taskbus_backend_tasks_total",
                             "Task messages this backend answered, by service and outcome (completed, failed: the "
                             "task has no result (422), error: the backend could not compute it, bad_message).",
                             "service,outcome", NULL, 0);
    app->compute = metric_labels(metrics_add(m, METRIC_HISTOGRAM, "taskbus_backend_compute_seconds",
                                             "Time a backend spent computing one task.", "service",
                                             METRIC_SECONDS_BUCKETS, METRIC_SECONDS_BUCKETS_N), service, NULL, NULL);
}

/* Answer one task message: the result, or the reason there is none. */
static void on_message(const char *data, size_t len, void *arg)
{
    struct app *app = arg;
    struct msg in, out = { .kind = MSG_RESULT, .replica = app->self_id };
    char err[TASK_ERR_LEN];
    char *result = NULL;
    int decoded = msg_decode(data, len, &in, err) == 0;
    if (decoded && in.kind != MSG_TASK)
        snprintf(err, sizeof err, "a backend only takes task messages");
    if (!decoded || in.kind != MSG_TASK) {
        app->bad++;
        char quoted[LOG_VALUE_LEN];
        LOG_W("event=bad_message error=\"%s\"", log_escape(err, quoted, sizeof quoted));
        if (!in.id[0] || !in.reply_to) {
            msg_clear(&in);
            return;
        }
        out.status = 400;
        out.error = err;
    } else {
        double started = clock_mono_s();
        int rc = compute_task(&in.task, &result, err);
        metric_observe(app->compute, clock_mono_s() - started);
        out.status = rc == 0 ? 200 : rc == -1 ? 422 : 500;
        out.result = result;
        out.error = rc == 0 ? NULL : rc == -1 ? err : "backend out of memory";
    }
    memcpy(out.id, in.id, sizeof out.id);
    memcpy(out.token, in.token, sizeof out.token); /* the attempt this answers: events accepts only the current one */
    memcpy(out.trace, in.trace, sizeof out.trace);
    if (out.status == 200)
        app->done++;
    else
        app->failed++;
    metric_add(metric_labels(app->tasks, service, out.status == 200 ? "completed" : out.status == 422 ? "failed"
                             : out.status == 400 ? "bad_message" : "error", NULL), 1);
    char *text = msg_encode(&out);
    if (!text || bus_publish(app->bus, in.reply_to, text, strlen(text), NULL, NULL) != 0)
        LOG_W("event=answer_lost task=%s" LOG_TRACE, in.id, LOG_TRACE_ARG(in.trace));
    else
        LOG_D("event=task_computed task=%s" LOG_TRACE " status=%d", in.id, LOG_TRACE_ARG(in.trace), out.status);
    free(text);
    free(result);
    msg_clear(&in);
}

static void on_ready(void *arg)
{
    struct app *app = arg;
    registry_beat(app->reg);
}

static void on_stop(void *arg)
{
    struct app *app = arg;
    registry_leave(app->reg);
    struct timeval tv = clock_timeval(shutdown_grace_ms);
    event_base_loopexit(app->base, &tv);
}

int main(int argc, char **argv)
{
    daemon_configure(argc, argv, "backend", "computes the tasks of one service", config,
                     sizeof config / sizeof config[0]);
    const struct daemon_settings *ds = &daemon_settings;
    if (strlen(service) >= 64 || strspn(service, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
                                     != strlen(service)) {
        fprintf(stderr, "backend: invalid configuration: SERVICE=%s must be letters, digits, '-' or '_'\n", service);
        return 1;
    }
    struct app app = { 0 };
    char channel[MSG_CHANNEL_LEN];
    clock_replica_id(service, app.self_id, sizeof app.self_id);
    msg_channel(channel, app.self_id);
    log_init("backend", app.self_id, ds->log_level);

    app.base = event_base_new();
    struct daemon_signals *signals = daemon_signals_new(app.base, on_stop, &app);
    struct bus_config bc = { ds->redis_host, (int)ds->redis_port, channel, ds->bus_window, on_message, on_ready,
                             &app, ds->heartbeat_ms, ds->bus_max_queue, ds->redis_username, ds->redis_password };
    app.bus = bus_new(app.base, &bc);
    app.reg = registry_new(app.base, app.bus, service, app.self_id, ds->heartbeat_ms, ds->replica_ttl_ms, NULL, NULL);
    app.telemetry = telemetry_new(ds->metrics, "backend", service, app.self_id);
    if (!app.base || !signals || !app.bus || !app.reg || !app.telemetry) {
        fprintf(stderr, "backend: out of memory at start-up\n");
        return 1;
    }
    declare_metrics(&app);
    char err[TELEMETRY_ERR_LEN];
    if (telemetry_start(app.telemetry, app.base, app.bus, ds->metrics_port, NULL, NULL, err) != 0) {
        fprintf(stderr, "backend: %s\n", err);
        return 1;
    }
    LOG_I("event=started service=%s redis=%s:%ld", service, ds->redis_host, ds->redis_port);
    event_base_dispatch(app.base);
    LOG_I("event=stopped done=%llu failed=%llu bad_messages=%llu", app.done, app.failed, app.bad);
    bus_free(app.bus);
    telemetry_free(app.telemetry);
    registry_free(app.reg);
    daemon_signals_free(signals);
    event_base_free(app.base);
    return 0;
}
