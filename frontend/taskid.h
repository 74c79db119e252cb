/* Task ids: 32 lowercase hex digits, unguessable. By default the first 12 digits are the creation time (ms since
 * the epoch, 48 bits) and the other 20 are 80 random bits, so ids sort by time like MongoDB's ObjectIds: each new
 * outcome document then lands at the right edge of the event log's _id index instead of on a random page of it
 * (FerretDB's SQLite writes every page it touches to its write-ahead log). TASK_IDS=random gives 128 random bits,
 * for deployments where an id must not tell when its task was created. Pure. */
#ifndef TASKBUS_TASKID_H
#define TASKBUS_TASKID_H

#include <stddef.h>

#define TASKID_LEN 32             /* hex digits in an id */
#define TASKID_TIME_DIGITS 12     /* time-ordered ids: the creation time's digits (48 bits of ms) */
#define TASKID_RANDOM_MAX 16      /* random bytes an id takes at most */

enum taskid_order {
    TASKID_TIME,                  /* "time": creation time, then 80 random bits */
    TASKID_RANDOM,                /* "random": 128 random bits */
};

/* Parse a TASK_IDS value ("time" or "random"). Returns 0, or -1 for anything else. */
int taskid_order_parse(const char *text, enum taskid_order *order);

/* Random bytes an id of this order takes from the caller (10 or 16). */
size_t taskid_random_bytes(enum taskid_order order);

/* Write an id created at 'wall_ms' (ms since the epoch; taken modulo 2^48, and 0 when negative) from
 * taskid_random_bytes(order) bytes of 'random' into 'id' (TASKID_LEN + 1 bytes). */
void taskid_format(enum taskid_order order, long long wall_ms, const unsigned char *random, char *id);

#endif
