/* EVENTS_LOG=off-for-measurement: a measurement mode in which the events service keeps NO event log. Records are
 * acknowledged on the next loop turn without being written anywhere, so the pipeline can be measured without its
 * store (bench/bench.py's "no event log" row). Answers given in this mode are not durable: never run it for users.
 * Reads (history, outcome) still go to the real store, which then holds nothing of these tasks. */
#ifndef TASKBUS_EVENTS_NOLOG_H
#define TASKBUS_EVENTS_NOLOG_H

#include <bson/bson.h>
#include <stddef.h>

#include "store.h"

#define NOLOG_MODE_ON "on"
#define NOLOG_MODE_OFF "off-for-measurement"

struct event_base;
struct router_io;
struct nolog;

/* Parse EVENTS_LOG's value: "on" (the default: every record is written) sets '*off' to 0, "off-for-measurement"
 * sets it to 1. Returns 0, or -1 for any other value (then '*off' is untouched). */
int nolog_parse_mode(const char *value, int *off);

/* Create the stand-in. Each record given to nolog_append is acknowledged with 'on_acked' exactly as store.h's
 * contract says: once, on the loop thread of 'base', in append order, never inside nolog_append (on a later loop
 * turn), with 'duplicate' 0. 'reads' is the real store that history and outcome queries still go to (not owned).
 * Returns NULL when out of memory. */
struct nolog *nolog_new(struct event_base *base, struct store *reads, store_acked_fn on_acked, void *arg);

/* Take 'doc' (destroyed after its acknowledgement) and queue its acknowledgement. Returns 0, or -1 when out of
 * memory (then 'doc' is destroyed and nothing is acknowledged), like store_append. Loop thread. */
int nolog_append(struct nolog *nl, bson_t *doc, void *ctx);

/* Records appended and not yet acknowledged. */
size_t nolog_backlog(const struct nolog *nl);

/* Point 'io''s store functions (append, history, backlog, outcome_read) at 'nl': appends are acknowledged without a
 * write, reads go to the real store given to nolog_new. The bus functions are left as they are. */
void nolog_wire(struct nolog *nl, struct router_io *io);

/* Acknowledge what is still queued (also what those acknowledgements append), then free. Fills '*final' when it is
 * not NULL: 'appended' and 'batches' (loop turns that acknowledged something) count, 'stored' stays 0 (nothing is
 * written), 'max_lag_ms' is the longest wait for an acknowledgement. Loop thread, after the loop stopped.
 * NULL-safe. */
void nolog_free(struct nolog *nl, struct store_stats *final);

#endif
