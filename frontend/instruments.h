/* The frontend's metrics: the families it declares and the once-a-second sample (requests in flight, live events
 * replicas, the dispatcher's running totals). */
#ifndef TASKBUS_FRONTEND_INSTRUMENTS_H
#define TASKBUS_FRONTEND_INSTRUMENTS_H

struct dispatch;
struct metric;
struct metric_series;
struct metrics;
struct replica_set;

struct instruments {
    struct metric *requests;             /* HTTP requests by route and status */
    struct metric *duration;             /* seconds from a request's head to its answer, by route */
    struct metric_series *end_to_end;    /* POST /task answered 200: the whole pipeline as the client saw it */
    struct metric_series *publish;       /* a task's PUBLISH until Redis handed it to the events replica */
    struct metric_series *in_flight, *events_replicas, *redispatched, *resent, *followed, *replays;
    struct dispatch *dispatch;
    struct replica_set *events;
};

/* Declare the families in 'm' (NULL: METRICS=off, everything stays NULL). */
void instruments_declare(struct instruments *ins, struct metrics *m);
/* telemetry_sample_fn over a struct instruments whose dispatch and events are set. */
void instruments_sample(void *arg);
/* The route label of a request (a bounded set: "/", "/task", "/task/{id}", "/tasks", "/metrics", "/dashboard",
 * "/dashboard/stats", "other"). */
const char *instruments_route_label(int route);

#endif
