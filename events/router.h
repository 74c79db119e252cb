/* The events service's core: each task's life from arrival to answer. It logs every step in the store, routes the
 * task by the task map to one live backend replica, and answers the frontend replica that owns the request only
 * after the task's records are stored. Loop thread only. */
#ifndef TASKBUS_ROUTER_H
#define TASKBUS_ROUTER_H

#include <stddef.h>

#include "taskmap.h"

struct bus;
struct event_base;
struct registry;
struct router;
struct store;

struct router_stats {
    unsigned long long tasks, answered, failed, redispatched, late_results, bad_messages;
};

/* Create the router. It watches the registry sets of every service in 'map' (copied). Returns NULL when out of
 * memory. The bus, registry and store must outlive it; wire router_on_message, router_on_refresh and
 * router_on_acked to them. */
struct router *router_new(struct event_base *base, struct bus *bus, struct registry *reg, struct store *store,
                          const struct taskmap *map, const char *self_id);

/* A bus message for this replica: a task, a backend's result, or a history query. */
void router_on_message(const char *data, size_t len, void *arg);

/* The registry re-read the replica sets: tasks waiting for a replica are dispatched now. */
void router_on_refresh(void *arg);

/* The store acknowledged a record appended with a task as its context: the task's answer may leave. */
void router_on_acked(void *ctx, void *arg);

/* Tasks received and not yet answered. */
size_t router_in_flight(const struct router *r);

/* Shutdown: answer every task still in flight with 503 (their records are still written first). */
void router_abort_all(struct router *r);

void router_get_stats(const struct router *r, struct router_stats *out);

/* Free the router. Call after the store has acknowledged everything (store_free). NULL-safe. */
void router_free(struct router *r);


/* Call 'fn' once the router has nothing in flight (at once if it has nothing now). For shutdown. */
void router_when_idle(struct router *r, void (*fn)(void *arg), void *arg);

#endif
