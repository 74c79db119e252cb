/* The events service's metrics: the families it declares, and the once-a-second sample of what is not counted as
 * it happens (tasks in flight, the store's backlog, live backend replicas, the router's running totals). */
#ifndef TASKBUS_EVENTS_INSTRUMENTS_H
#define TASKBUS_EVENTS_INSTRUMENTS_H

#include "router.h"

struct metrics;
struct projection;
struct store;

struct instruments {
    struct router *router;
    struct store *store;
    struct projection *projection;
    const char *services[2];             /* the backend services of the task types (NULL: unmapped) */
    struct replica_set *sets[2];
    struct metric_series *in_flight, *backlog, *refused, *redelivered, *handoffs, *bad_messages, *late_results,
        *projection_failed;
    struct metric *replicas;
};

/* Declare the families in 'm' (NULL: METRICS=off, everything stays NULL): the router's into 'rm', the store's
 * histograms into 'store_batch', 'store_insert' and 'store_commit', the sampled ones into 'ins'. */
void instruments_declare(struct instruments *ins, struct metrics *m, struct router_metrics *rm,
                         struct metric_series **store_batch, struct metric_series **store_insert,
                         struct metric_series **store_commit);
/* telemetry_sample_fn: set the sampled families from the router, store, projection and replica sets of 'arg'
 * (a struct instruments). */
void instruments_sample(void *arg);

#endif
