/* Replica discovery through Redis: each replica keeps its id in the sorted set "taskbus:replicas:<service>" with its
 * heartbeat expiry (ms since the epoch) as the score, and reads the sets of the services it sends to on the same
 * heartbeat. No Docker socket, no shared channel: a sender learns the live replicas and publishes to one. */
#ifndef TASKBUS_REGISTRY_H
#define TASKBUS_REGISTRY_H

#include "replica.h"

struct bus;
struct event_base;
struct registry;

/* Called on the loop after each refresh of the watched sets (so a sender can retry work that found no replica). */
typedef void (*registry_refresh_fn)(void *arg);

/* Announce 'self_id' as a replica of 'self_service' every 'heartbeat_ms', with an expiry 'ttl_ms' ahead.
 * Returns NULL when out of memory. Heartbeats start when the bus is ready (call registry_beat from its ready
 * callback to start at once). */
struct registry *registry_new(struct event_base *base, struct bus *bus, const char *self_service,
                              const char *self_id, long heartbeat_ms, long ttl_ms,
                              registry_refresh_fn on_refresh, void *arg);

/* Also read the live replicas of 'service' on every heartbeat. Returns its set (owned by the registry), or NULL. */
struct replica_set *registry_watch(struct registry *r, const char *service);

/* Heartbeat and refresh now (and keep the timer going). */
void registry_beat(struct registry *r);

/* Remove our own entry at once (shutdown) and stop heartbeating. */
void registry_leave(struct registry *r);

/* Free the registry and its sets. NULL-safe. */
void registry_free(struct registry *r);

#endif
