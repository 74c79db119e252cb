/* The frontend's side of the bus: hands each accepted request to one live events replica and turns the answers
 * that come back on this replica's channel into HTTP responses. Loop thread only. */
#ifndef TASKBUS_DISPATCH_H
#define TASKBUS_DISPATCH_H

#include <stddef.h>

#include "pending.h"
#include "task.h"

struct dispatch;

/* What the dispatcher needs from the outside world, so a test can put a fake behind it (main.c passes the Redis bus
 * and the wall clock). 'publish' has bus_publish's contract: returns 0 when accepted, and then calls 'cb' exactly
 * once, later, from the loop, with the number of receivers or -1; returns -1 when it cannot send (then 'cb' never
 * runs). 'ready' is 1 while the bus can publish. 'now' is the registry's clock, in ms since the epoch. */
typedef void (*dispatch_published_fn)(long long receivers, void *arg);
struct dispatch_io {
    int (*publish)(void *ctx, const char *channel, const char *data, size_t len, dispatch_published_fn cb,
                   void *arg);
    int (*ready)(void *ctx);
    long long (*now)(void *ctx);
    void *ctx;
};

struct dispatch_stats {
    unsigned long long sent, answered, late, redispatched;
};

/* 'io' is copied. 'events' is the registry's set of live events replicas (not owned). 'timeout_ms' is the budget
 * sent with each task. Returns NULL when out of memory. */
struct dispatch *dispatch_new(const struct dispatch_io *io, struct replica_set *events, struct pending *pending,
                              const char *self_id, long timeout_ms);

/* Give the new task 't' (from body 'req->body') an id and publish it to an events replica. Returns 0 when sent
 * (the request is then pending: suspend it), or -1 with a client-readable reason in 'err' (TASK_ERR_LEN bytes)
 * when no events replica is alive or the bus is down (answer 503). */
int dispatch_task(struct dispatch *d, struct request *req, const struct task *t, char *err);

/* Ask an events replica for the history of task 'req->history_of'. Same contract as dispatch_task. */
int dispatch_history(struct dispatch *d, struct request *req, char *err);

/* An answer on our channel. An answer for an id that is not pending (it timed out, or was never ours) is counted
 * as late; a message that is not an answer is logged and dropped. */
void dispatch_on_message(const char *data, size_t len, void *arg);

/* The pending request 'req' timed out: stop counting it against its events replica. */
void dispatch_forget(struct dispatch *d, struct request *req);

void dispatch_get_stats(const struct dispatch *d, struct dispatch_stats *out);

/* NULL-safe. */
void dispatch_free(struct dispatch *d);

#endif
