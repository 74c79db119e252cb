/* Idempotency-Key records in Redis: "taskbus:idem:<key>" holds idem.h's record for IDEMPOTENCY_TTL_S. A claim is
 * one atomic SET ... NX GET (Redis 7), so two requests with one key can never both start a task. Loop thread only. */
#ifndef TASKBUS_IDEM_STORE_H
#define TASKBUS_IDEM_STORE_H

#include "dispatch.h"

struct bus;

/* Set the record of 'key' to 'value' for 'ttl_s' seconds unless it exists. 'cb' runs once from the loop with 0 (it
 * is ours now), 1 and the existing record, or -1 (the bus failed, or Redis refused the command). Returns 0 when
 * asked, -1 when the bus is down ('cb' never runs). */
int idem_store_claim(struct bus *b, const char *key, const char *value, long ttl_s, dispatch_claimed_fn cb,
                     void *arg);

/* Forget 'key' (its request was refused before it was accepted, so a retry must be able to run it). 'cb' runs once
 * from the loop when Redis has answered (or the bus failed). Returns 0 when asked, -1 when the bus is down or out
 * of memory ('cb' never runs). */
int idem_store_release(struct bus *b, const char *key, dispatch_unclaimed_fn cb, void *arg);

#endif
