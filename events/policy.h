/* The events service's decisions about a task's delivery and admission. Pure: values in, values out. */
#ifndef TASKBUS_POLICY_H
#define TASKBUS_POLICY_H

#include <stddef.h>

#include "task.h"

/* What to do once Redis answered the PUBLISH of a task to a backend replica. */
enum policy_action {
    POLICY_KEEP,            /* a subscriber received it: wait for its result (or for the replica to vanish) */
    POLICY_REDELIVER,       /* nobody received it: that replica is gone; send the task to another one now */
    POLICY_WAIT,            /* the bus failed before Redis answered (maybe delivered): wait for the bus and the next
                               registry refresh, then send it again; never retried in a tight loop */
};

/* 'receivers' as bus_published_fn reports it: >0 delivered, 0 nobody listens, -1 the connection failed. */
enum policy_action policy_after_publish(long long receivers);

/* 1 when a task sent 'attempts' times may be sent once more under the cap 'max_attempts'. */
int policy_may_attempt(int attempts, long max_attempts);

/* Admission of a new task: 0 when it may be taken, or 503 with a client-readable reason in 'err' (TASK_ERR_LEN
 * bytes) when this replica holds 'jobs' tasks (cap 'max_jobs') or the store has 'backlog' records waiting to be
 * written (cap 'max_backlog'). A refused task is not accepted: nothing is logged and the client may retry. */
int policy_admit(size_t jobs, long max_jobs, size_t backlog, long max_backlog, char *err);

#endif
