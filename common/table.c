/* Open addressing with linear probing and tombstones; the capacity is a power of two, at most half full. */
#include "table.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_MIN_CAP 64

struct slot {
    const char *key;  /* NULL: empty; TOMBSTONE: removed */
    void *value;
    uint64_t hash;
};

struct table {
    struct slot *slots;
    size_t cap, len, used; /* 'used' counts live entries and tombstones */
};

static const char tombstone_mark;
#define TOMBSTONE (&tombstone_mark)

static uint64_t hash_key(const char *key)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

struct table *table_new(void)
{
    struct table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->slots = calloc(TABLE_MIN_CAP, sizeof *t->slots);
    if (!t->slots) {
        free(t);
        return NULL;
    }
    t->cap = TABLE_MIN_CAP;
    return t;
}

void table_free(struct table *t)
{
    if (!t)
        return;
    free(t->slots);
    free(t);
}

/* The slot holding 'key', or NULL. */
static struct slot *find(const struct table *t, const char *key, uint64_t h)
{
    size_t mask = t->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct slot *s = &t->slots[i];
        if (!s->key)
            return NULL;
        if (s->key != TOMBSTONE && s->hash == h && strcmp(s->key, key) == 0)
            return s;
    }
}

static int resize(struct table *t, size_t cap)
{
    struct slot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < t->cap; i++) {
        struct slot *s = &t->slots[i];
        if (!s->key || s->key == TOMBSTONE)
            continue;
        size_t j = s->hash & (cap - 1);
        while (slots[j].key)
            j = (j + 1) & (cap - 1);
        slots[j] = *s;
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    t->used = t->len;
    return 0;
}

int table_put(struct table *t, const char *key, void *value)
{
    uint64_t h = hash_key(key);
    if (find(t, key, h))
        return 1;
    if ((t->used + 1) * 2 > t->cap) {
        size_t cap = (t->len + 1) * 4 > t->cap ? t->cap * 2 : t->cap; /* else only tombstones to sweep */
        if (resize(t, cap) != 0)
            return -1;
    }
    size_t mask = t->cap - 1, i = h & mask;
    while (t->slots[i].key && t->slots[i].key != TOMBSTONE)
        i = (i + 1) & mask;
    if (!t->slots[i].key)
        t->used++;
    t->slots[i] = (struct slot){ key, value, h };
    t->len++;
    return 0;
}

void *table_get(const struct table *t, const char *key)
{
    struct slot *s = find(t, key, hash_key(key));
    return s ? s->value : NULL;
}

void *table_remove(struct table *t, const char *key)
{
    struct slot *s = find(t, key, hash_key(key));
    if (!s)
        return NULL;
    void *value = s->value;
    s->key = TOMBSTONE;
    s->value = NULL;
    t->len--;
    return value;
}

size_t table_len(const struct table *t)
{
    return t->len;
}

void table_each(const struct table *t, void (*fn)(void *value, void *arg), void *arg)
{
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].key && t->slots[i].key != TOMBSTONE)
            fn(t->slots[i].value, arg);
}

struct gather {
    void **values;
    size_t n;
};

static void gather_one(void *value, void *arg)
{
    struct gather *g = arg;
    g->values[g->n++] = value;
}

void **table_values(const struct table *t, size_t *n)
{
    struct gather g = { NULL, 0 };
    *n = 0;
    if (table_len(t) == 0 || !(g.values = calloc(table_len(t), sizeof *g.values)))
        return NULL;
    table_each(t, gather_one, &g);
    *n = g.n;
    return g.values;
}
