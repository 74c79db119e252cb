/* The set of live replicas of one service, as last read from the registry, and the choice of one. Pure: no I/O. */
#ifndef TASKBUS_REPLICA_H
#define TASKBUS_REPLICA_H

#include <stddef.h>

#define REPLICA_ID_LEN 96

struct replica {
    char id[REPLICA_ID_LEN];
    long long expires_ms;   /* heartbeat expiry, in the registry's clock (ms since the epoch) */
    unsigned outstanding;   /* messages we sent it that have not been answered yet */
};

struct replica_set {
    struct replica *items;
    size_t len, cap;
    size_t next;            /* round-robin cursor among equally loaded replicas */
};

/* Free the set's storage and zero it. NULL-safe. */
void replica_set_clear(struct replica_set *set);

/* Record that replica 'id' is alive until 'expires_ms'. Adds it when new (keeping its outstanding count when not).
 * Returns 0, or -1 when out of memory or 'id' is too long. */
int replica_set_upsert(struct replica_set *set, const char *id, long long expires_ms);

/* Remove replica 'id' (it is gone: a PUBLISH to it reached nobody). Returns 0, or -1 when it was not in the set. */
int replica_set_remove(struct replica_set *set, const char *id);

/* Remove every replica whose heartbeat expired before 'now_ms'. Returns how many were removed. */
size_t replica_set_expire(struct replica_set *set, long long now_ms);

/* Choose the replica with the least outstanding work among those alive at 'now_ms'; ties go round robin.
 * Returns a pointer into the set (valid until the next change to it), or NULL when none is alive. */
struct replica *replica_pick(struct replica_set *set, long long now_ms);

/* How many replicas are alive at 'now_ms'. Unlike replica_pick, changes nothing (for health checks). */
size_t replica_count_alive(const struct replica_set *set, long long now_ms);

/* Find replica 'id', or NULL. */
struct replica *replica_find(struct replica_set *set, const char *id);

#endif
