/* The read model: a projection of the event log into Redis, where a task's status and history are one O(1) read.
 *
 * Per task, the hash "taskbus:task:<id>" holds every stored record of the task under its _id (its JSON, exactly
 * as the log's reader returns it) and a summary for listings: status, created (ms), service, taskType, result,
 * error, code. It expires TASK_RETENTION_S after the task's last record; older tasks are read from the log.
 * Listings read sorted sets of members "<created ms, 16 digits>:<id>" (all members score 0, so they sort by
 * creation time): "taskbus:tasks", "taskbus:tasks:status:<s>", "taskbus:tasks:service:<v>" and
 * "taskbus:tasks:status:<s>:service:<v>"; a write of one task in 16 trims what is past the retention from the sets
 * it touches (listings skip the members of expired tasks meanwhile).
 *
 * Events applies each record after the store acknowledged it (so the projection never shows what the log does
 * not hold) and before any answer that depends on it leaves; one Lua script call per record (or per task commit:
 * its two records at once) makes each application atomic and idempotent: applying the same records again, in any order, gives the same projection. That is how
 * `events --rebuild` replays the log into it. The log stays the source of truth. */
#ifndef TASKBUS_PROJECTION_H
#define TASKBUS_PROJECTION_H

#include <bson/bson.h>
#include <stddef.h>

#include "taskview.h"

#define PROJECTION_KEY_PREFIX "taskbus:task:"
#define PROJECTION_ARGS 18           /* EVALSHA, sha, numkeys, the script's 12 arguments, and 3 for an earlier record */

struct bus;
struct redisContext;
struct projection;

/* The command that applies one record: argv[0..argc) with lens. 'json' is owned (bson_free). */
struct projection_args {
    int argc;
    const char *argv[PROJECTION_ARGS];
    size_t lens[PROJECTION_ARGS];
    char *json, *earlier_json;
    char at[24], code[16], retention[24], now[24], earlier_at[24];
};

/* Fill 'a' with the EVALSHA that applies record 'doc' (needs string _id, task and type, and a date 'at') and, when
 * 'earlier' is not NULL, that earlier record of the same task in the same call (a task commit's arrival: one
 * script call per task instead of two), for a retention of 'retention_s' seconds at wall time 'now_ms'. Pure.
 * Returns 0, or -1 when a document is not a record (nothing to free then). Free with projection_args_clear. */
int projection_args_of(const bson_t *doc, const bson_t *earlier, long retention_s, long long now_ms,
                       struct projection_args *a);
void projection_args_clear(struct projection_args *a);

/* The Lua source and SHA1 (hex) of the script that applies a record, for a synchronous client (rebuild). */
const char *projection_apply_script(void);
const char *projection_apply_sha(void);

/* ---- asynchronous use on a daemon's bus (loop thread) */

/* A projection client on 'bus' (which must outlive it). 'retention_s' only matters to projection_apply. Returns
 * NULL when out of memory. */
struct projection *projection_new(struct bus *bus, long retention_s);
void projection_free(struct projection *p);

/* Runs once Redis has answered a projection_apply (the record is projected, or the failure is logged). */
typedef void (*projection_applied_fn)(void *arg);

/* Apply stored record 'doc' (not kept; a task commit, logdoc.h, is applied as its two records). A failure is logged and counted (the log still holds the record; `events
 * --rebuild` restores the projection). Returns 0 when sent: 'cb' (may be NULL) then runs once, later, on the loop,
 * after Redis answered, also when Redis answered NOSCRIPT first and the script had to be sent again; so an answer
 * sent from 'cb' always leaves after the projection holds the record. Returns -1 when not sent (bus down, not a
 * record): then 'cb' never runs. */
int projection_apply(struct projection *p, const bson_t *doc, projection_applied_fn cb, void *arg);

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
