/* The documents of the event log: one per step of a task's life. Pure: builds BSON, does no I/O.
 *
 * Every record has _id "<task>:<seq>", or "<task>:outcome" for the outcome (deterministic, so a retried insert is a
 * duplicate; store.h explains the numbering across handoffs), "task", "seq" (increasing in the order of the task's
 * life), "type", "at" (UTC date), "events" (the events replica), and "trace" (the W3C trace id of the request that
 * brought the task) when it has one.
 *   received    "frontend", "request" (the client's body as a string), "taskType", "subtask", "handoff" when the
 *               task was handed over from another events replica (> 0), "service" when the
 *               task map routes it, and "backend" + "attempt" when it was dispatched at once (the common case:
 *               one record for arrival and dispatch)
 *   dispatched  "service", "backend" (replica id), "attempt": a dispatch after the arrival was logged (the task
 *               waited for a live replica, or its first replica was gone)
 *   completed   "status", "result", "backend"
 *   failed      "status", "error", and "backend" when one was involved
 * A task whose final record (completed or failed) is stored has been, or is being, answered to its frontend. */
#ifndef TASKBUS_RECORD_H
#define TASKBUS_RECORD_H

#include <bson/bson.h>

#include "msg.h"

struct record_base {
    const char *task_id;
    int seq;
    long long at_ms;         /* wall clock, ms since the epoch */
    const char *events_id;   /* this events replica */
    const char *trace;       /* the task's trace id; NULL or "" when it has none */
};

/* Each builder returns a new document the caller owns (bson_destroy), or NULL when out of memory. */
/* 'service' and 'backend' may be NULL (not routed / not dispatched yet). */
bson_t *record_received(const struct record_base *b, const struct msg *task, const char *service,
                        const char *backend, int attempt);
bson_t *record_dispatched(const struct record_base *b, const char *service, const char *backend, int attempt);
bson_t *record_completed(const struct record_base *b, const char *result, const char *backend);
bson_t *record_failed(const struct record_base *b, int status, const char *error, const char *backend);

/* Read the answer an outcome record stands for into 'answer' (kind, id, status, result or error, replica; strings
 * owned by 'answer', free with msg_clear). Returns 0, or -1 when 'doc' is not an outcome record of task 'task_id'. */
int record_answer(const bson_t *doc, const char *task_id, struct msg *answer);

/* 1 when 'doc' is a task's outcome record (completed or failed). */
int record_is_outcome(const bson_t *doc);

#endif
