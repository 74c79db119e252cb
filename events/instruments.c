/* Metrics of the events service: declarations and the periodic sample. */
#include "instruments.h"

#include "clock.h"
#include "metrics.h"
#include "projection.h"
#include "store.h"

static const double ATTEMPT_BUCKETS[] = { 1, 2, 3, 5, 10 };
static const double BATCH_BUCKETS[] = { 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000 };

void instruments_declare(struct instruments *ins, struct metrics *m, struct router_metrics *rm,
                         struct metric_series **store_batch, struct metric_series **store_insert,
                         struct metric_series **store_commit)
{
    struct metric *stage = metrics_add(m, METRIC_HISTOGRAM, "taskbus_stage_seconds",
                                       "Time a task spends in each stage: queue (events, arrival to the first send "
                                       "to a backend), backend (a send to its result, bus hops included), "
                                       "store_commit (a record appended to stored), events (arrival to answer).",
                                       "stage", METRIC_SECONDS_BUCKETS, METRIC_SECONDS_BUCKETS_N);
    rm->queue = metric_labels(stage, "queue", NULL, NULL);
    rm->backend = metric_labels(stage, "backend", NULL, NULL);
    rm->in_events = metric_labels(stage, "events", NULL, NULL);
    *store_commit = metric_labels(stage, "store_commit", NULL, NULL);
    rm->tasks = metrics_add(m, METRIC_COUNTER, "taskbus_tasks_total",
                            "Tasks answered, by type, backend service and outcome (completed: 200; failed: the task "
                            "has no result, 4xx; error: no answer could be computed, 5xx).",
                            "type,service,outcome", NULL, 0);
    rm->attempts = metric_only(metrics_add(m, METRIC_HISTOGRAM, "taskbus_task_attempts",
                                           "Sends to backend replicas per answered task.", NULL, ATTEMPT_BUCKETS,
                                           sizeof ATTEMPT_BUCKETS / sizeof ATTEMPT_BUCKETS[0]));
    *store_batch = metric_only(metrics_add(m, METRIC_HISTOGRAM, "taskbus_store_batch_records",
                                           "Records per bulk insert into the event log.", NULL, BATCH_BUCKETS,
                                           sizeof BATCH_BUCKETS / sizeof BATCH_BUCKETS[0]));
    *store_insert = metric_only(metrics_add(m, METRIC_HISTOGRAM, "taskbus_store_insert_seconds",
                                            "Duration of one bulk insert, retries included.", NULL,
                                            METRIC_SECONDS_BUCKETS, METRIC_SECONDS_BUCKETS_N));
    ins->in_flight = metrics_add_gauge(m, "taskbus_tasks_in_flight",
                                       "Tasks received and not yet answered (at most MAX_JOBS).");
    ins->backlog = metrics_add_gauge(m, "taskbus_store_backlog",
                                     "Records waiting for the store (at most STORE_MAX_BACKLOG).");
    ins->refused = metrics_add_counter(m, "taskbus_tasks_refused_total",
                                       "Tasks answered 503 at once (a cap was reached).");
    ins->redelivered = metrics_add_counter(m, "taskbus_redispatches_total",
                                           "Tasks sent again to another backend replica (theirs vanished or the bus "
                                           "reconnected).");
    ins->handoffs = metrics_add_counter(m, "taskbus_handoffs_total",
                                        "Tasks taken over from an events replica that vanished.");
    ins->bad_messages = metrics_add_counter(m, "taskbus_bad_messages_total", "Bus messages dropped as malformed.");
    ins->late_results = metrics_add_counter(m, "taskbus_late_results_total",
                                            "Backend results for tasks already answered.");
    ins->projection_failed = metrics_add_counter(m, "taskbus_projection_failures_total",
                                                 "Records that could not be projected into Redis.");
    ins->replicas = metrics_add(m, METRIC_GAUGE, "taskbus_replicas",
                                "Live replicas of each backend service, as the registry shows them.", "service",
                                NULL, 0);
}

void instruments_sample(void *arg)
{
    struct instruments *ins = arg;
    if (!ins->in_flight)
        return;
    struct router_stats rs;
    router_get_stats(ins->router, &rs);
    metric_set(ins->in_flight, (double)router_in_flight(ins->router));
    metric_set(ins->backlog, (double)store_backlog(ins->store));
    metric_set(ins->refused, (double)rs.refused);
    metric_set(ins->redelivered, (double)rs.redelivered);
    metric_set(ins->handoffs, (double)rs.handoffs);
    metric_set(ins->bad_messages, (double)rs.bad_messages);
    metric_set(ins->late_results, (double)rs.late_results);
    struct projection_stats ps;
    projection_get_stats(ins->projection, &ps);
    metric_set(ins->projection_failed, (double)ps.failed);
    long long now = clock_wall_ms();
    for (int i = 0; i < 2; i++)
        if (ins->services[i] && ins->sets[i])
            metric_set(metric_labels(ins->replicas, ins->services[i], NULL, NULL),
                       (double)replica_count_alive(ins->sets[i], now));
}
