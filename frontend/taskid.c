/* Task ids: time-ordered (creation ms, then 80 random bits) or 128 random bits, as 32 hex digits. */
#include "taskid.h"

#include <string.h>

#define TASKID_TIME_BITS (4 * TASKID_TIME_DIGITS)

_Static_assert((TASKID_LEN - TASKID_TIME_DIGITS) % 2 == 0, "the random part is whole bytes");

static const char hex[] = "0123456789abcdef";

int taskid_order_parse(const char *text, enum taskid_order *order)
{
    if (strcmp(text, "time") == 0)
        *order = TASKID_TIME;
    else if (strcmp(text, "random") == 0)
        *order = TASKID_RANDOM;
    else
        return -1;
    return 0;
}

size_t taskid_random_bytes(enum taskid_order order)
{
    return order == TASKID_TIME ? (TASKID_LEN - TASKID_TIME_DIGITS) / 2 : TASKID_RANDOM_MAX;
}

void taskid_format(enum taskid_order order, long long wall_ms, const unsigned char *random, char *id)
{
    size_t at = 0;
    if (order == TASKID_TIME) {
        unsigned long long ms = wall_ms > 0 ? (unsigned long long)wall_ms : 0;
        for (int shift = TASKID_TIME_BITS - 4; shift >= 0; shift -= 4)
            id[at++] = hex[(ms >> shift) & 0xf];
    }
    for (size_t i = 0; at < TASKID_LEN; i++) {
        id[at++] = hex[random[i] >> 4];
        id[at++] = hex[random[i] & 0xf];
    }
    id[at] = '\0';
}
