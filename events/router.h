/* The events service's core: each task's life from arrival to answer. It logs every step in the store, routes the
 * task by the task map to one live backend replica, re-sends it to another replica when that one vanishes, and
 * answers the frontend replica that owns the request only after the task's records are stored. Loop thread only.
 *
 * The router does its I/O through 'struct router_io', so the daemon wires the real bus and store and the unit
 * tests a fake of each (tests/unit/test_router.c). */
#ifndef TASKBUS_ROUTER_H
#define TASKBUS_ROUTER_H

#include <bson/bson.h>
#include <stddef.h>

#include "bus.h"
#include "outcome.h"
#include "replica.h"
#include "store.h"
#include "taskmap.h"

struct event_base;
struct router;

/* The bus and the store as the router uses them; each function has the contract of the bus_ / store_ function
 * of the same name, with 'bus' or 'store' as its first argument. */
struct router_io {
    void *bus;
    int (*publish)(void *bus, const char *channel, const char *data, size_t len, bus_published_fn cb, void *arg);
    void *store;
    int (*append)(void *store, bson_t *doc, void *ctx);
    int (*history)(void *store, const char *task_id, store_history_fn cb, void *ctx);
    size_t (*backlog)(void *store);
    int (*outcome_keep)(void *bus, const char *task_id, const char *answer, size_t len, long ttl_s,
                        outcome_kept_fn cb, void *arg);
    int (*outcome_replace)(void *bus, const char *task_id, const char *answer, size_t len, long ttl_s);
    int (*outcome_load)(void *bus, const char *task_id, outcome_loaded_fn cb, void *arg);
    int (*outcome_read)(void *store, const char *task_id, store_outcome_fn cb, void *ctx);
};

/* Where the router counts (metrics.h); every member may be NULL (METRICS=off, or a test). */
struct router_metrics {
    struct metric *tasks;                /* answered tasks by type, service and outcome */
    struct metric_series *queue;         /* seconds from arrival to the first send to a backend */
    struct metric_series *backend;       /* seconds from a send to the backend's result */
    struct metric_series *in_events;     /* seconds from arrival to the answer */
    struct metric_series *attempts;      /* sends to backends per answered task */
};
struct router_config {
    struct taskmap map;
    const char *self_id;                 /* this replica's id (copied) */
    struct replica_set *sets[2];         /* live replicas of the service of each task type; NULL when unmapped */
    long max_jobs;                       /* tasks in flight before new ones are refused with 503 */
    long max_backlog;                    /* store records waiting before new tasks are refused with 503 */
    long max_attempts;                   /* sends of one task to backend replicas before it fails */
    long outcome_ttl_s;                  /* how long answers are kept for handed-over tasks (outcome.h) */
    long merge_ms;                       /* a task's arrival waits this long to share its outcome's document; 0: no */
    struct router_metrics metrics;
};

struct router_stats {
    unsigned long long tasks, answered, failed, refused, redelivered, late_results, stale_results, bad_messages,
        handoffs, answered_from_outcome, outcomes_read;
};

/* Create the router. Returns NULL when out of memory. 'io' (copied), the replica sets and the base must outlive
 * it; wire router_on_message, router_on_refresh and router_on_acked to the bus, registry and store. */
struct router *router_new(struct event_base *base, const struct router_io *io, const struct router_config *cfg);

/* A bus message for this replica: a task, a backend's result, or a history query. Anything else, or anything
 * malformed, is counted and dropped with a log line that never repeats the message's bytes. */
void router_on_message(const char *data, size_t len, void *arg);

/* The registry re-read the replica sets: tasks waiting for a replica are sent now, and tasks whose replica is no
 * longer alive are sent to another one. */
void router_on_refresh(void *arg);

/* The store acknowledged record 'doc'. With a task as its context it is the task's outcome (its answer may leave;
 * 'duplicate': another replica had stored the task's outcome first, and that one is answered instead) or the
 * arrival of a task whose client asked for 202 Accepted (which is sent now). Other records need nothing. */
void router_on_acked(void *ctx, const bson_t *doc, int duplicate, void *arg);

/* 1 when 'ctx' (a task, as router_on_acked gets it) is answered with the answer another replica kept for it, which
 * is the answer of the outcome that replica stored. */
int router_answer_was_kept(const void *ctx);
/* The bus came back after a disconnect: results sent meanwhile are lost, so every task sent to a backend goes out
 * again (a new attempt) at the next refresh. */
void router_on_reconnect(struct router *r);

/* Tasks received and not yet answered. */
size_t router_in_flight(const struct router *r);

/* Shutdown: answer every task still in flight with 503 (their records are still written first). */
void router_abort_all(struct router *r);

/* Call 'fn' once the router has nothing in flight (at once if it has nothing now). For shutdown. */
void router_when_idle(struct router *r, void (*fn)(void *arg), void *arg);

void router_get_stats(const struct router *r, struct router_stats *out);

/* Free the router. Call after the store has acknowledged everything (store_free). NULL-safe. */
void router_free(struct router *r);

#endif
