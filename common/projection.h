/* The read model: a projection of the event log into Redis, where a task's status and history are one O(1) read.
 *
 * Per task, the hash "taskbus:task:<id>" holds every stored record of the task under its _id (its JSON, exactly
 * as the log's reader returns it) and a summary for listings: status, created (ms), service, taskType, result,
 * error, code. It expires TASK_RETENTION_S after the task's last record; older tasks are read from the log.
 * Listings read sorted sets of members "<created ms, 16 digits>:<id>" (all members score 0, so they sort by
 * creation time), one per bucket and service: "taskbus:index:<bucket>:<service>" (taskview_index_key), the
 * services seen in "taskbus:index:services". A task is in one set only (most tasks are written to one: their
 * arrival and outcome are projected together); a listing merges the sets it reads. A write of one task in 16 trims
 * what is past the retention from the set it touches (listings skip the members of expired tasks meanwhile).
 *
 * Events applies each record after the store acknowledged it (so the projection never shows what the log does
 * not hold) and before any answer that depends on it leaves. A Lua script applies each record (or a task commit's
 * two records at once) atomically and idempotently: applying the same records again, in any order, gives the same
 * projection. That is how `events --rebuild` replays the log into it. One script call carries the records of a
 * whole store commit. A task commit holding a task's arrival and outcome, stored by the replica the task went to
 * first, is written directly instead, without reading (projection.c, "direct writes"): listings skip the index
 * members such a write may leave stale. The log stays the source of truth. */
#ifndef TASKBUS_PROJECTION_H
#define TASKBUS_PROJECTION_H

#include <bson/bson.h>
#include <stddef.h>

#include "taskview.h"

#define PROJECTION_KEY_PREFIX "taskbus:task:"
#define PROJECTION_ENTRY_ARGS 13     /* the script's arguments per record (see projection.c) */
#define PROJECTION_BATCH 32          /* records per script call at most: ~1 ms of Redis's time */

struct bus;
struct event_base;
struct redisContext;
struct projection;

/* The script's arguments that apply one record: argv[0..PROJECTION_ENTRY_ARGS) with lens. 'json' and
 * 'earlier_json' are owned (free). */
struct projection_args {
    const char *argv[PROJECTION_ENTRY_ARGS];
    size_t lens[PROJECTION_ENTRY_ARGS];
    char *json, *earlier_json;
    char at[24], code[16], earlier_at[24];
    const char *trace;                 /* the record's trace id ("" when none), for a log line; points into it */
};

/* Fill 'a' with the arguments that apply record 'doc' (needs string _id, task and type, and a date 'at') and, when
 * 'earlier' is not NULL, that earlier record of the same task with it (a task commit's arrival: one entry per
 * task instead of two). Pure. Returns 0, or -1 when a document is not a record (nothing to free then). Free with
 * projection_args_clear. */
int projection_args_of(const bson_t *doc, const bson_t *earlier, struct projection_args *a);
void projection_args_clear(struct projection_args *a);

/* The script's leading arguments, for a retention of 'retention_s' seconds at wall time 'now_ms', written into
 * 'retention' and 'now' (24 bytes each); the entries of projection_args_of follow them. */
void projection_args_head(long retention_s, long long now_ms, char *retention, char *now);

/* The Lua source and SHA1 (hex) of the script that applies a record, for a synchronous client (rebuild). */
const char *projection_apply_script(void);
const char *projection_apply_sha(void);

/* ---- asynchronous use on a daemon's bus (loop thread) */

/* A projection client on 'bus' and 'base' (which must outlive it). 'retention_s' only matters to projection_apply.
 * Returns NULL when out of memory. */
struct projection *projection_new(struct event_base *base, struct bus *bus, long retention_s);
void projection_free(struct projection *p);

/* Runs once Redis has answered a projection_apply (the record is projected, or the failure is logged). */
typedef void (*projection_applied_fn)(void *arg);

/* Apply stored record 'doc' (not kept; a task commit, logdoc.h, is applied as its two records). The records applied
 * in one pass of the loop (a store commit's acknowledgements) go to Redis together, PROJECTION_BATCH per script
 * call, when the loop's current callbacks are done. A failure is logged and counted (the log still holds the record;
 * `events --rebuild` restores the projection). Returns 0 when taken: 'cb' (may be NULL) then runs once, later, on
 * the loop, after Redis answered, also when Redis answered NOSCRIPT first and the script had to be sent again, or
 * when the call could not be sent (bus down; the failure is logged): so an answer sent from 'cb' always leaves
 * after the projection holds the record, or after it failed. Returns -1 when not a record or out of memory: then
 * 'cb' never runs. */
int projection_apply(struct projection *p, const bson_t *doc, projection_applied_fn cb, void *arg);

/* Send the records queued by projection_apply now, without waiting for the loop (which may have stopped: at
 * shutdown, the store's last acknowledgements are delivered after it did). Call it while the bus still lives; the
 * callbacks then run when the bus is freed (with the failure logged) or at once when a batch cannot be sent.
 * projection_free drops what is still queued, without callbacks. */
void projection_flush(struct projection *p);

/* The answer to projection_view: 'view' is the malloc'd body of GET /task/{id} (the callee owns it), or NULL with
 * 'found' 0 when the projection has no such task, or NULL with a reason in 'err' when Redis failed. */
typedef void (*projection_view_fn)(char *view, int found, const char *err, void *arg);

/* Read task 'task_id''s projection and render its view (taskview_render). 'cb' runs once, later, on the loop.
 * Returns 0, or -1 when the bus is down or out of memory (then 'cb' never runs). */
int projection_view(struct projection *p, const char *task_id, projection_view_fn cb, void *arg);

/* The answer to projection_list: 'body' is the malloc'd body of GET /tasks, or NULL with a reason in 'err'. */
typedef void (*projection_list_fn)(char *body, const char *err, void *arg);

/* One page of the listing 'q' (taskview_parse_query). Same contract as projection_view. */
int projection_list(struct projection *p, const struct taskview_query *q, projection_list_fn cb, void *arg);

struct projection_stats {
    unsigned long long applied, failed;
};
void projection_get_stats(const struct projection *p, struct projection_stats *out);

#endif
