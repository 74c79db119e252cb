/* The frontend's side of the bus: hands each accepted request to one live events replica, turns the answers that
 * come back on this replica's channel into HTTP responses, and makes sure every task it sent reaches an outcome:
 * a task whose events replica vanishes (or whose message the bus may have lost) is re-sent to a live one, also
 * after its client got a 504. Idempotency-Key requests claim their key in Redis first. Loop thread only. */
#ifndef TASKBUS_DISPATCH_H
#define TASKBUS_DISPATCH_H

#include <stddef.h>

#include "pending.h"
#include "task.h"
#include "taskid.h"

struct dispatch;

/* The answer to a claim: 0 the key was free and is now ours, 1 it was taken ('stored' is its record), -1 the bus
 * failed. 'stored' is valid only during the call. */
typedef void (*dispatch_claimed_fn)(int rc, const char *stored, void *arg);

/* What the dispatcher needs from the outside world, so a test can put a fake behind it (main.c passes the Redis bus
 * and the wall clock). 'publish' has bus_publish's contract: returns 0 when accepted, and then calls 'cb' exactly
 * once, later, from the loop, with the number of receivers or -1; returns -1 when it cannot send (then 'cb' never
 * runs). 'ready' is 1 while the bus can publish. 'now' is the registry's clock, in ms since the epoch. 'claim'
 * sets key 'key' to 'value' for 'ttl_s' seconds unless it exists, and calls 'cb' once, later, from the loop
 * (returns -1 when it cannot ask: then 'cb' never runs); 'unclaim' deletes the key and calls 'cb' once, later, from
 * the loop, when Redis has answered or the bus failed (returns -1 when it cannot ask: then 'cb' never runs). */
typedef void (*dispatch_published_fn)(long long receivers, void *arg);
typedef void (*dispatch_unclaimed_fn)(void *arg);
struct dispatch_io {
    int (*publish)(void *ctx, const char *channel, const char *data, size_t len, dispatch_published_fn cb,
                   void *arg);
    int (*ready)(void *ctx);
    long long (*now)(void *ctx);
    void *ctx;
    int (*claim)(void *ctx, const char *key, const char *value, long ttl_s, dispatch_claimed_fn cb, void *arg);
    int (*unclaim)(void *ctx, const char *key, dispatch_unclaimed_fn cb, void *arg);
};

struct metric_series;
struct dispatch_config {
    const char *self_id;        /* copied */
    long timeout_ms;            /* the budget sent with each task */
    long orphan_ms;             /* how long a task is followed after its client got a 504 */
    long max_orphans;           /* tasks followed after a 504 at most (beyond, they are only logged) */
    long idempotency_ttl_s;     /* how long an Idempotency-Key is remembered */
    struct metric_series *publish_seconds; /* each PUBLISH's round trip to Redis (metrics.h); may be NULL */
    int tracing;                /* start a trace for a request that brings none (TRACING=on) */
    enum taskid_order ids;      /* time-ordered or random task ids (TASK_IDS; taskid.h) */
};

struct dispatch_stats {
    unsigned long long sent, answered, late, redispatched, resent, orphaned, resolved, unresolved, replays,
        conflicts;
};

/* 'io' and 'cfg' are copied. 'events' is the registry's set of live events replicas (not owned). Returns NULL when
 * out of memory. */
struct dispatch *dispatch_new(const struct dispatch_io *io, const struct dispatch_config *cfg,
                              struct replica_set *events, struct pending *pending);

/* Give the new task 't' (from body 'req->body') an id and publish it to an events replica. Returns 0 when sent
 * (the request is then pending: suspend it), or -1 with a client-readable reason in 'err' (TASK_ERR_LEN bytes)
 * when no events replica is alive or the bus is down (answer 503). */
int dispatch_task(struct dispatch *d, struct request *req, const struct task *t, char *err);

/* The same for a request with an Idempotency-Key 'key' (valid: idem_key_valid). Returns 0 when the claim is under
 * way: suspend the request; it is answered (by a replay of the task the key names, 422 when the key was used with
 * another body, 503 when the bus fails) or becomes pending. Returns -1 with a reason in 'err' for a 503 now. */
int dispatch_task_keyed(struct dispatch *d, struct request *req, const struct task *t, const char *key, char *err);

/* Start the trace of 'req' (trace_start) from its traceparent header 'traceparent' (NULL when absent), with random
 * bytes from the same pool as task ids: the client's trace when the header is valid, else a new one unless tracing
 * is off. Every message the request causes carries it, and its answer's traceparent names it. */
void dispatch_trace_start(struct dispatch *d, struct request *req, const char *traceparent);

/* A fresh correlation id, unique in this replica, into 'id' (TASK_ID_LEN bytes). */
void dispatch_next_id(struct dispatch *d, char *id);

/* Ask an events replica for the history of task 'req->history_of'. Same contract as dispatch_task. */
int dispatch_history(struct dispatch *d, struct request *req, char *err);

/* An answer on our channel. An answer for a request that is not pending is counted as late (or resolves a task
 * followed after its 504); a message that is not an answer is logged and dropped. */
void dispatch_on_message(const char *data, size_t len, void *arg);

/* The registry re-read the events replicas: re-send every task whose events replica is gone or whose message the
 * bus may have lost, and stop following tasks past their time. */
void dispatch_on_refresh(void *arg);

/* The bus came back after a disconnect: answers sent meanwhile are lost, so every task in flight is re-sent at the
 * next refresh (a replica still running it joins the request to it; one that finished it answers its outcome). */
void dispatch_on_reconnect(struct dispatch *d);

/* The pending request 'req' timed out (its client gets a 504): keep following its task until its outcome is known. */
void dispatch_forget(struct dispatch *d, struct request *req);

/* Why events refuses new tasks now (an events replica answered a refusal within its Retry-After), for GET /; NULL
 * when none did. */
const char *dispatch_refusal(const struct dispatch *d);

/* Tasks followed after their client got a 504. */
size_t dispatch_orphans(const struct dispatch *d);

void dispatch_get_stats(const struct dispatch *d, struct dispatch_stats *out);

/* Stop following tasks and free. NULL-safe. */
/* Requests in flight: the pending ones and those waiting for Redis about their Idempotency-Key (what MAX_IN_FLIGHT
 * bounds and taskbus_http_requests_in_flight shows). */
size_t dispatch_in_flight(const struct dispatch *d);

/* Answer 503 with 'why' every request still waiting for Redis about its Idempotency-Key (a claim, or the DEL of a
 * refusal): they are suspended outside the pending table, and a shutdown must resume them before it stops the HTTP
 * server. Their callbacks, when Redis answers or the bus fails, only let them go (and free a key just claimed). */
void dispatch_answer_claims(struct dispatch *d, const char *why);

void dispatch_free(struct dispatch *d);

#endif
