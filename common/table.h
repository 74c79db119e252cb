/* A hash table from NUL-terminated string keys to pointers, for the requests and tasks in flight. Pure: no I/O. */
#ifndef TASKBUS_TABLE_H
#define TASKBUS_TABLE_H

#include <stddef.h>

struct table;

/* Returns an empty table, or NULL when out of memory. */
struct table *table_new(void);

/* Free the table (not the values). NULL-safe. */
void table_free(struct table *t);

/* Insert 'value' under 'key'. The table keeps the 'key' pointer, not a copy: it must stay valid and unchanged
 * until the entry is removed (point it into the value). Returns 0, 1 when the key is already present (nothing
 * changes), or -1 when out of memory. */
int table_put(struct table *t, const char *key, void *value);

/* The value under 'key', or NULL. */
void *table_get(const struct table *t, const char *key);

/* Remove 'key' and return its value, or NULL when absent. */
void *table_remove(struct table *t, const char *key);

size_t table_len(const struct table *t);

/* Call 'fn' for every value (in no particular order). 'fn' must not change the table. */
void table_each(const struct table *t, void (*fn)(void *value, void *arg), void *arg);

/* A malloc'd array of the table's values (their number in '*n'), for a caller that changes the table while it
 * visits them. NULL with '*n' = 0 when the table is empty or memory ran out. */
void **table_values(const struct table *t, size_t *n);

#endif
