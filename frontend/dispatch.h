/* The frontend's side of the bus: hands each accepted request to one live events replica and turns the answers
 * that come back on this replica's channel into HTTP responses. Loop thread only. */
#ifndef TASKBUS_DISPATCH_H
#define TASKBUS_DISPATCH_H

#include <stddef.h>

#include "pending.h"
#include "task.h"

struct bus;
struct dispatch;

struct dispatch_stats {
    unsigned long long sent, answered, late, redispatched;
};

/* 'events' is the registry's set of live events replicas. 'timeout_ms' is the budget sent with each task.
 * Returns NULL when out of memory. */
struct dispatch *dispatch_new(struct bus *bus, struct replica_set *events, struct pending *pending,
                              const char *self_id, long timeout_ms);

/* Give the new task 't' (from body 'req->body') an id and publish it to an events replica. Returns 0 when sent
 * (the request is then pending: suspend it), or -1 with a client-readable reason in 'err' (TASK_ERR_LEN bytes)
 * when no events replica is alive or the bus is down (answer 503). */
int dispatch_task(struct dispatch *d, struct request *req, const struct task *t, char *err);

/* Ask an events replica for the history of task 'req->history_of'. Same contract as dispatch_task. */
int dispatch_history(struct dispatch *d, struct request *req, char *err);

/* An answer on our channel. */
void dispatch_on_message(const char *data, size_t len, void *arg);

/* The pending request 'req' timed out: stop counting it against its events replica. */
void dispatch_forget(struct dispatch *d, struct request *req);

void dispatch_get_stats(const struct dispatch *d, struct dispatch_stats *out);

void dispatch_free(struct dispatch *d);

#endif
