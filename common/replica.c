/* The live replicas of one service and the choice of the least loaded one, round robin among equals. */
#include "replica.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void replica_set_clear(struct replica_set *set)
{
    if (!set)
        return;
    free(set->items);
    memset(set, 0, sizeof *set);
}

struct replica *replica_find(struct replica_set *set, const char *id)
{
    size_t i;

    for (i = 0; i < set->len; i++)
        if (strcmp(set->items[i].id, id) == 0)
            return &set->items[i];
    return NULL;
}

/* An empty id is refused like a too long one: no registry entry can be named "". */
int replica_set_upsert(struct replica_set *set, const char *id, long long expires_ms)
{
    struct replica *r = replica_find(set, id), *items;
    size_t n = strlen(id), cap;

    if (r) {
        r->expires_ms = expires_ms;
        return 0;
    }
    if (n == 0 || n >= REPLICA_ID_LEN)
        return -1;
    if (set->len == set->cap) {
        cap = set->cap ? set->cap * 2 : 4;
        if (cap > SIZE_MAX / sizeof *items)
            return -1;
        items = realloc(set->items, cap * sizeof *items);
        if (!items)
            return -1;
        set->items = items;
        set->cap = cap;
    }
    r = &set->items[set->len++];
    memset(r, 0, sizeof *r);
    memcpy(r->id, id, n + 1);
    r->expires_ms = expires_ms;
    return 0;
}

/* Remove the replica at index 'i', keeping the order of the others and the round-robin cursor on the replica it
 * pointed at. */
static void remove_at(struct replica_set *set, size_t i)
{
    memmove(&set->items[i], &set->items[i + 1], (set->len - i - 1) * sizeof set->items[0]);
    set->len--;
    if (set->next > i)
        set->next--;
    if (set->next >= set->len)
        set->next = 0;
}

int replica_set_remove(struct replica_set *set, const char *id)
{
    struct replica *r = replica_find(set, id);

    if (!r)
        return -1;
    remove_at(set, (size_t)(r - set->items));
    return 0;
}

size_t replica_set_expire(struct replica_set *set, long long now_ms)
{
    size_t i = 0, removed = 0;

    while (i < set->len) {
        if (set->items[i].expires_ms < now_ms) {
            remove_at(set, i);
            removed++;
        } else {
            i++;
        }
    }
    return removed;
}

/* Scanning from the round-robin cursor, the first alive replica with the least outstanding work wins, and the
 * cursor moves past it: equally loaded replicas then take turns even when the caller never changes their load. */
struct replica *replica_pick(struct replica_set *set, long long now_ms)
{
    struct replica *best = NULL;
    size_t k, i, best_i = 0;

    for (k = 0; k < set->len; k++) {
        i = (set->next + k) % set->len;
        if (set->items[i].expires_ms < now_ms)
            continue;
        if (!best || set->items[i].outstanding < best->outstanding) {
            best = &set->items[i];
            best_i = i;
        }
    }
    if (best)
        set->next = (best_i + 1) % set->len;
    return best;
}

size_t replica_count_alive(const struct replica_set *set, long long now_ms)
{
    size_t n = 0;
    for (size_t i = 0; i < set->len; i++)
        if (set->items[i].expires_ms >= now_ms)
            n++;
    return n;
}
