/* Unit tests of the string-keyed hash table: put/get/remove, growth, tombstones, and table_each. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "table.h"

/* A value that carries its own key, as the table's callers do (the table keeps the key pointer). */
struct item {
    char key[24];
    int n;
    int seen;
};

static struct item *items_new(size_t count, const char *prefix)
{
    struct item *items = calloc(count, sizeof *items);
    if (!items) {
        perror("calloc");
        exit(2);
    }
    for (size_t i = 0; i < count; i++) {
        snprintf(items[i].key, sizeof items[i].key, "%s%zu", prefix, i);
        items[i].n = (int)i;
    }
    return items;
}

static void test_basic(void)
{
    struct table *t = table_new();
    struct item a = { "alpha", 1, 0 }, b = { "beta", 2, 0 }, a2 = { "alpha", 3, 0 };
    char probe[] = "alpha"; /* a different pointer with the same text */

    if (!CHECK(t != NULL))
        return;
    CHECK_INT_EQ(table_len(t), 0);
    CHECK(table_get(t, "alpha") == NULL);
    CHECK(table_remove(t, "alpha") == NULL);

    CHECK_INT_EQ(table_put(t, a.key, &a), 0);
    CHECK_INT_EQ(table_put(t, b.key, &b), 0);
    CHECK_INT_EQ(table_len(t), 2);
    CHECK(table_get(t, "alpha") == &a);
    CHECK(table_get(t, probe) == &a);
    CHECK(table_get(t, "beta") == &b);
    CHECK(table_get(t, "gamma") == NULL);
    CHECK(table_get(t, "") == NULL);
    CHECK(table_get(t, "alph") == NULL);
    CHECK(table_get(t, "alphaa") == NULL);

    /* A duplicate put returns 1 and changes nothing. */
    CHECK_INT_EQ(table_put(t, a2.key, &a2), 1);
    CHECK_INT_EQ(table_len(t), 2);
    CHECK(table_get(t, "alpha") == &a);

    /* Remove returns the value once; a second remove and a remove of an absent key return NULL. */
    CHECK(table_remove(t, probe) == &a);
    CHECK_INT_EQ(table_len(t), 1);
    CHECK(table_get(t, "alpha") == NULL);
    CHECK(table_remove(t, "alpha") == NULL);
    CHECK(table_remove(t, "nope") == NULL);
    CHECK_INT_EQ(table_len(t), 1);
    CHECK(table_get(t, "beta") == &b);

    /* The key can come back after removal, with a new value. */
    CHECK_INT_EQ(table_put(t, a2.key, &a2), 0);
    CHECK(table_get(t, "alpha") == &a2);
    CHECK_INT_EQ(table_len(t), 2);

    /* The empty string is a key like any other. */
    struct item e = { "", 9, 0 };
    CHECK_INT_EQ(table_put(t, e.key, &e), 0);
    CHECK(table_get(t, "") == &e);
    CHECK(table_remove(t, "") == &e);
    CHECK(table_get(t, "") == NULL);

    table_free(t);
    table_free(NULL); /* NULL-safe */
}

static void test_many(void)
{
    enum { N = 100000 };
    struct table *t = table_new();
    struct item *items = items_new(N, "key-");
    int bad = 0;

    if (!CHECK(t != NULL)) {
        free(items);
        return;
    }
    for (size_t i = 0; i < N; i++)
        if (table_put(t, items[i].key, &items[i]) != 0)
            bad++;
    CHECK_INT_EQ(bad, 0);
    CHECK_INT_EQ(table_len(t), N);

    bad = 0;
    for (size_t i = 0; i < N; i++) {
        char key[24];
        snprintf(key, sizeof key, "key-%zu", i);
        if (table_get(t, key) != &items[i])
            bad++;
    }
    CHECK_INT_EQ(bad, 0);
    CHECK(table_get(t, "key-100000") == NULL);
    CHECK(table_get(t, "key--1") == NULL);

    /* Every duplicate is refused. */
    bad = 0;
    for (size_t i = 0; i < N; i += 97)
        if (table_put(t, items[i].key, &items[0]) != 1)
            bad++;
    CHECK_INT_EQ(bad, 0);
    CHECK_INT_EQ(table_len(t), N);

    /* Remove the even ones; the odd ones stay. */
    bad = 0;
    for (size_t i = 0; i < N; i += 2)
        if (table_remove(t, items[i].key) != &items[i])
            bad++;
    CHECK_INT_EQ(bad, 0);
    CHECK_INT_EQ(table_len(t), N / 2);
    bad = 0;
    for (size_t i = 0; i < N; i++)
        if (table_get(t, items[i].key) != (i % 2 ? &items[i] : NULL))
            bad++;
    CHECK_INT_EQ(bad, 0);

    /* Remove the rest: empty again, and still usable. */
    for (size_t i = 1; i < N; i += 2)
        table_remove(t, items[i].key);
    CHECK_INT_EQ(table_len(t), 0);
    CHECK(table_get(t, items[1].key) == NULL);
    CHECK_INT_EQ(table_put(t, items[5].key, &items[5]), 0);
    CHECK(table_get(t, items[5].key) == &items[5]);
    CHECK_INT_EQ(table_len(t), 1);

    table_free(t);
    free(items);
}

/* A sliding window of live keys: each round adds one key and removes the oldest, so the table stays small while
 * tombstones pile up and must be swept without losing live entries. */
static void test_tombstones(void)
{
    enum { N = 20000, WINDOW = 25 };
    struct table *t = table_new();
    struct item *items = items_new(N, "t");
    int bad = 0, badlen = 0;

    if (!CHECK(t != NULL)) {
        free(items);
        return;
    }
    for (size_t i = 0; i < N; i++) {
        if (table_put(t, items[i].key, &items[i]) != 0)
            bad++;
        if (i >= WINDOW && table_remove(t, items[i - WINDOW].key) != &items[i - WINDOW])
            bad++;
        size_t want = i + 1 < WINDOW ? i + 1 : WINDOW;
        if (table_len(t) != want)
            badlen++;
        /* Every key in the window is found; the one just removed is gone. */
        for (size_t j = i + 1 > WINDOW ? i + 1 - WINDOW : 0; j <= i; j++)
            if (table_get(t, items[j].key) != &items[j])
                bad++;
        if (i >= WINDOW && table_get(t, items[i - WINDOW].key) != NULL)
            bad++;
    }
    CHECK_INT_EQ(bad, 0);
    CHECK_INT_EQ(badlen, 0);
    CHECK_INT_EQ(table_len(t), WINDOW);

    /* Removed keys can be put back in after all that churn. */
    bad = 0;
    for (size_t i = 0; i < N - WINDOW; i += 3)
        if (table_put(t, items[i].key, &items[i]) != 0)
            bad++;
    CHECK_INT_EQ(bad, 0);
    bad = 0;
    size_t live = 0;
    for (size_t i = 0; i < N; i++) {
        int in = i >= N - WINDOW || i % 3 == 0;
        live += in;
        if (table_get(t, items[i].key) != (in ? &items[i] : NULL))
            bad++;
    }
    CHECK_INT_EQ(bad, 0);
    CHECK_INT_EQ(table_len(t), live);

    table_free(t);
    free(items);
}

/* Pseudo-random put/remove over a small key space, checked against a shadow array after every step. */
static void test_random_cycles(void)
{
    enum { KEYS = 300, STEPS = 200000 };
    struct table *t = table_new();
    struct item *items = items_new(KEYS, "r");
    int present[KEYS] = { 0 };
    size_t len = 0;
    unsigned long long seed = 88172645463325252ULL;
    int bad = 0;

    if (!CHECK(t != NULL)) {
        free(items);
        return;
    }
    for (int step = 0; step < STEPS; step++) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        size_t k = (size_t)(seed % KEYS);
        if ((seed >> 32) & 1) {
            int r = table_put(t, items[k].key, &items[k]);
            if (r != (present[k] ? 1 : 0))
                bad++;
            if (!present[k]) {
                present[k] = 1;
                len++;
            }
        } else {
            void *v = table_remove(t, items[k].key);
            if (v != (present[k] ? &items[k] : NULL))
                bad++;
            if (present[k]) {
                present[k] = 0;
                len--;
            }
        }
        if (table_len(t) != len)
            bad++;
    }
    for (size_t k = 0; k < KEYS; k++)
        if (table_get(t, items[k].key) != (present[k] ? &items[k] : NULL))
            bad++;
    CHECK_INT_EQ(bad, 0);
    CHECK_INT_EQ(table_len(t), len);

    table_free(t);
    free(items);
}

static void mark(void *value, void *arg)
{
    struct item *it = value;
    it->seen++;
    (*(size_t *)arg)++;
}

static void test_each(void)
{
    enum { N = 1000 };
    struct table *t = table_new();
    struct item *items = items_new(N, "e");
    size_t calls = 0;
    int bad = 0;

    if (!CHECK(t != NULL)) {
        free(items);
        return;
    }
    /* Empty table: no calls. */
    table_each(t, mark, &calls);
    CHECK_INT_EQ(calls, 0);

    for (size_t i = 0; i < N; i++)
        table_put(t, items[i].key, &items[i]);
    for (size_t i = 0; i < N; i += 3)
        table_remove(t, items[i].key);

    table_each(t, mark, &calls);
    CHECK_INT_EQ(calls, table_len(t));
    for (size_t i = 0; i < N; i++)
        if (items[i].seen != (i % 3 ? 1 : 0))
            bad++;
    CHECK_INT_EQ(bad, 0);

    table_free(t);
    free(items);
}

/* table_values hands out every value once, so a caller may remove entries while it visits them. */
static void test_values(void)
{
    struct table *t = table_new();
    char keys[5][8];
    size_t n = 7;
    CHECK(table_values(t, &n) == NULL && n == 0);
    for (int i = 0; i < 5; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        table_put(t, keys[i], keys[i]);
    }
    void **values = table_values(t, &n);
    CHECK_INT_EQ(n, 5);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        seen |= 1 << (((char *)values[i])[1] - '0');
        table_remove(t, values[i]);
    }
    CHECK_INT_EQ(seen, 31);
    CHECK_INT_EQ(table_len(t), 0);
    free(values);
    table_free(t);
}

int main(void)
{
    test_values();
    test_basic();
    test_many();
    test_tombstones();
    test_random_cycles();
    test_each();
    return check_finish();
}
