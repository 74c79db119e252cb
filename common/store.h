/* The event log in MongoDB: an append-only collection written by one writer thread in group commits, and the
 * queries for a task's history or outcome, answered by a reader thread with its own connection so a read never
 * holds up a write. The loop thread never calls libmongoc; results come back through a mailbox. */
#ifndef TASKBUS_STORE_H
#define TASKBUS_STORE_H

#include <bson/bson.h>

#define STORE_ERR_LEN 256
#define STORE_COLLECTION "events"

/* A step's _id: "<task id>:<seq>". The events replica that takes a task at handoff h (0 the first time, h > 0
 * when a frontend re-sent it after its events replica vanished) numbers its steps h * STORE_HANDOFF_STRIDE, +1, ...
 * without gaps, so two replicas never write the same _id for different steps. The outcome (completed or failed)
 * has the one _id "<task id>:outcome" whoever writes it: a task can never have two; its "seq" says which handoff
 * wrote it (seq / STRIDE) and how many steps that handoff wrote before it (seq % STRIDE). Logs written before the
 * outcome had its own _id keep it at "<task>:<seq>"; the history reader reads both. */
#define STORE_ID_FMT "%s:%d"
#define STORE_OUTCOME_ID_FMT "%s:outcome"
#define STORE_HANDOFF_STRIDE 100
#define STORE_ID_LEN 64

struct event_base;
struct store;

/* Every record is acknowledged by one call on the loop thread once it, and every record appended before it, is
 * stored: 'ctx' is what store_append was given (may be NULL), 'doc' the record (valid during the call only).
 * 'duplicate' is 1 when a record with its _id was already in the log (written by an earlier attempt, or by another
 * replica: then the stored one stands, not this one). Records never stored are never acknowledged. */
typedef void (*store_acked_fn)(void *ctx, const bson_t *doc, int duplicate, void *arg);

/* The answer to store_history: 'json' is a malloc'd JSON array of the task's records in order (the callee owns it;
 * "[]" when there are none), or NULL with a reason in 'err'. Runs on the loop thread. */
typedef void (*store_history_fn)(char *json, const char *err, void *ctx);

/* The answer to store_outcome: 'doc' is a copy of the task's outcome record the callee owns (bson_destroy), or NULL
 * when it has none ('err' NULL) or the query failed ('err' says why). Runs on the loop thread. */
typedef void (*store_outcome_fn)(bson_t *doc, const char *err, void *ctx);

struct store_stats {
    unsigned long long appended, stored, batches;
    long long max_lag_ms;       /* longest time from store_append to acknowledgement */
    size_t backlog;             /* records appended and not yet stored */
};

/* Parse 'uri' (database from its path, default "taskbus"; time-outs defaulted to serverSelectionTimeoutMS=2000,
 * connectTimeoutMS=2000, socketTimeoutMS=10000 unless given) and start the writer thread. No secondary index is
 * created: histories are read by _id, and every other index would cost each insert. Returns NULL with a reason in 'err' (STORE_ERR_LEN bytes) when the URI is invalid. A store that
 * is down is retried by the writer; it does not fail here. 'max_batch' caps the records of one bulk insert.
 * 'linger_ms' > 0 starts bulk inserts at least that long apart while records keep coming (0: each starts as soon as
 * the last one ended), so each takes more records: the store's cost is mostly per insert. A record then waits up
 * to 'linger_ms' more before it is stored; after a quiet spell the first one goes at once. */
struct store *store_new(struct event_base *base, const char *uri, long max_batch, long linger_ms,
                        store_acked_fn on_acked, void *arg, char *err);

/* Queue 'doc' (taken over; it must have a deterministic string _id) for the writer. Returns 0, or -1 when out of
 * memory (then 'doc' is destroyed and nothing is acknowledged). Loop thread. */
int store_append(struct store *s, bson_t *doc, void *ctx);

/* Observe each bulk insert's records and duration (seconds, retries included) and each record's time from
 * store_append to stored (seconds) in these histograms (metrics.h; any may be NULL). Call before the first
 * store_append. */
struct metric_series;
void store_set_metrics(struct store *s, struct metric_series *batch_records, struct metric_series *insert_seconds,
                       struct metric_series *commit_seconds);
/* Records appended and not yet stored (or given up). Any thread. */
size_t store_backlog(struct store *s);

/* Query the records of task 'task_id' in order: its outcome "<task>:outcome" tells which steps to read; without one
 * the steps of each handoff are read up to the first missing. 'cb' runs once on the loop thread. Returns 0, or -1
 * when out of memory (then 'cb' never runs). */
int store_history(struct store *s, const char *task_id, store_history_fn cb, void *ctx);

/* Read task 'task_id''s outcome record. Like store_history: on the reader thread, never in the way of writes; 'cb'
 * runs once on the loop thread. Returns 0, or -1 when out of memory (then 'cb' never runs). */
int store_outcome(struct store *s, const char *task_id, store_outcome_fn cb, void *ctx);

/* Read every record of the log at 'uri', in the store's natural order, calling 'fn' with each (valid during the
 * call). Synchronous, on the caller's thread: for command-line tools (events --rebuild), never on a loop. Returns
 * how many records were read, or -1 with a reason in 'err' (STORE_ERR_LEN bytes). */
long long store_scan(const char *uri, void (*fn)(const bson_t *doc, void *arg), void *arg, char *err);

/* Stop the writer after it has stored what is queued (giving up after 'grace_ms' if the server is down, and logging
 * how many records were lost), then free everything. Acknowledgements still due run before it returns. The counters
 * after the last write go to '*final' when it is not NULL. NULL-safe. */
void store_free(struct store *s, long grace_ms, struct store_stats *final);

#endif
