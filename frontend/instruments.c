/* Metrics of the frontend: declarations and the periodic sample. */
#include "instruments.h"

#include "clock.h"
#include "dispatch.h"
#include "metrics.h"
#include "replica.h"
#include "route.h"

void instruments_declare(struct instruments *ins, struct metrics *m)
{
    ins->requests = metrics_add(m, METRIC_COUNTER, "taskbus_http_requests_total",
                                "HTTP requests answered, by route and status code.", "route,status", NULL, 0);
    ins->duration = metrics_add(m, METRIC_HISTOGRAM, "taskbus_http_request_duration_seconds",
                                "Time from a request's head to its answer, by route.", "route",
                                METRIC_SECONDS_BUCKETS, METRIC_SECONDS_BUCKETS_N);
    struct metric *stage = metrics_add(m, METRIC_HISTOGRAM, "taskbus_stage_seconds",
                                       "Time a task spends in each stage seen by the frontend: frontend_to_events "
                                       "(its PUBLISH until Redis handed it to the events replica's connection), "
                                       "end_to_end (POST /task answered 200, as the client saw it).",
                                       "stage", METRIC_SECONDS_BUCKETS, METRIC_SECONDS_BUCKETS_N);
    ins->publish = metric_labels(stage, "frontend_to_events", NULL, NULL);
    ins->end_to_end = metric_labels(stage, "end_to_end", NULL, NULL);
    ins->in_flight = metrics_add_gauge(m, "taskbus_http_requests_in_flight",
                                       "Requests waiting for their answer (at most MAX_IN_FLIGHT).");
    ins->events_replicas = metric_labels(metrics_add(m, METRIC_GAUGE, "taskbus_replicas",
                                                     "Live replicas of each service this replica sends to.",
                                                     "service", NULL, 0), "events", NULL, NULL);
    ins->redispatched = metrics_add_counter(m, "taskbus_frontend_redispatches_total",
                                            "Tasks sent to another events replica because theirs vanished.");
    ins->resent = metrics_add_counter(m, "taskbus_frontend_resends_total",
                                      "Tasks sent again after the bus failed or reconnected.");
    ins->followed = metrics_add_counter(m, "taskbus_frontend_followed_total",
                                        "Tasks answered 504 and followed until their outcome.");
    ins->replays = metrics_add_counter(m, "taskbus_idempotent_replays_total",
                                       "Requests answered with the outcome of an earlier one with the same "
                                       "Idempotency-Key.");
}

void instruments_sample(void *arg)
{
    struct instruments *ins = arg;
    if (!ins->in_flight)
        return;
    struct dispatch_stats ds;
    dispatch_get_stats(ins->dispatch, &ds);
    metric_set(ins->in_flight, (double)dispatch_in_flight(ins->dispatch));
    metric_set(ins->events_replicas, (double)replica_count_alive(ins->events, clock_wall_ms()));
    metric_set(ins->redispatched, (double)ds.redispatched);
    metric_set(ins->resent, (double)ds.resent);
    metric_set(ins->followed, (double)ds.orphaned);
    metric_set(ins->replays, (double)ds.replays);
}

const char *instruments_route_label(int route)
{
    switch ((enum route)route) {
    case ROUTE_HEALTH:
        return "/";
    case ROUTE_TASK:
        return "/task";
    case ROUTE_HISTORY:
        return "/task/{id}";
    case ROUTE_LIST:
        return "/tasks";
    case ROUTE_METRICS:
        return "/metrics";
    case ROUTE_DASHBOARD:
        return "/dashboard";
    case ROUTE_DASHBOARD_STATS:
        return "/dashboard/stats";
    default:
        return "other";
    }
}
