/* One task in flight in the events service, and the router that owns the jobs. Private to events/: shared by
 * router.c (messages, admission, refresh), job.c (lifecycle and records), delivery.c (sending to backends) and
 * history.c (queries). Loop thread only. */
#ifndef TASKBUS_JOB_H
#define TASKBUS_JOB_H

#include <event2/event.h>

#include "msg.h"
#include "router.h"
#include "table.h"

struct router {
    struct event_base *base;
    struct router_io io;
    struct router_config cfg;
    char self_id[REPLICA_ID_LEN];
    char channel[MSG_CHANNEL_LEN];
    struct table *jobs;
    struct job *waiting;             /* jobs with no live replica when last tried, sent again on the next refresh */
    struct router_stats stats;
    struct job *deferred, *deferred_tail; /* jobs whose arrival record waits for their outcome, oldest first */
    struct event *defer_timer;       /* writes the arrivals that waited cfg.merge_ms alone */
    void (*on_idle)(void *arg);
    void *idle_arg;
};

/* Requests that joined a task in flight (a retry of it): each gets the answer too. */
#define JOB_MAX_JOINS 4

/* Freed when its answer has left and no publish of ours still refers to it. */
struct job {
    char id[TASK_ID_LEN];
    struct router *r;
    struct msg task;
    const char *service;             /* from the task map; NULL when unmapped */
    struct replica_set *set;         /* the service's live replicas */
    char backend[REPLICA_ID_LEN];    /* replica of the current attempt; "" when none */
    char token[MSG_TOKEN_LEN];       /* the current attempt's token: a result with another one is stale */
    int counted;                     /* the current attempt counts in its replica's outstanding */
    int seq;                         /* next record's sequence number */
    int attempts;                    /* sends accepted by the bus */
    int dispatch_acks;               /* answers to those sends so far (Redis answers them in order) */
    int finishing;                   /* the final record is written; waiting for its acknowledgement */
    int callbacks;                   /* bus callbacks still due that refer to the job (publishes, outcome loads) */
    int answered;
    int waiting;                     /* on the router's waiting list */
    struct job *next_waiting;
    struct event *deadline;
    struct msg answer;               /* the outcome, sent once the final record is stored */
    char *join_to[JOB_MAX_JOINS];    /* reply channels of the requests that joined, besides task.reply_to */
    char join_ref[JOB_MAX_JOINS][TASK_ID_LEN];
    int joins;
    int redeliver;                   /* send again at the next refresh (the bus reconnected) */
    int from_kept;                   /* the answer is the one kept for the task (outcome.h), not computed here */
    bson_t *arrival;                 /* the "received" record held back to go into the outcome's document */
    long long arrival_due;           /* clock_mono_ms() when it is written alone if the outcome has not come */
    struct job *defer_prev, *defer_next;
    double arrived, sent;            /* clock_mono_s() at arrival and at the current attempt's send */
};

/* job.c */
/* Take over the task in 'm' (its strings move to the job) and start its deadline. NULL when out of memory. */
struct job *job_new(struct router *r, struct msg *m);
void job_free(struct job *job);
/* Free the job once it is answered and no callback refers to it. */
void job_release(struct job *job);
/* Log the task's arrival, or a later dispatch, for the attempt just sent (or the arrival alone when none). The
 * arrival is held back up to cfg.merge_ms, so that the outcome and it become one document (logdoc.h); a later step,
 * the timer, or an outcome that cannot merge writes it on its own first. */
void job_log_step(struct job *job);
/* Write the arrivals held back for longer than cfg.merge_ms (the router's timer). */
void job_flush_due(evutil_socket_t fd, short what, void *arg);
/* The task 'm' arrived again while in flight: its requester gets the answer too (it does not run again). Returns 1
 * when added, 0 when that requester is already waiting or JOB_MAX_JOINS are. */
int job_join(struct job *job, const struct msg *m);
/* Record the outcome: the answer is kept in Redis first (so a replica that gets the task again finds it whenever
 * the log has the outcome), then the outcome record is appended; the answer leaves when the store acknowledges it.
 * Runs once per job; later calls do nothing. */
void job_finish(struct job *job, int status, const char *result, const char *error);
/* How long the task's answer is kept in Redis: OUTCOME_TTL_S, or longer when its Idempotency-Key asks. */
long job_keep_s(const struct job *job);
/* Make the answer 'text' ('len' bytes; kept for this task by some replica) the job's answer. Returns 1, or 0 when
 * it is not an answer for this task. */
int job_adopt(struct job *job, const char *text, size_t len);
/* Finish with the answer already in job->answer, kept for the task by an earlier replica: the outcome record is
 * written (again: a duplicate when that replica stored it) before the answer leaves, so the log always has it. */
void job_finish_kept(struct job *job);
/* Call the router's idle callback when nothing is in flight. */
void router_check_idle(struct router *r);

/* delivery.c */
/* Send the task to one live replica of its service, or wait for the next refresh when none is alive. */
void delivery_send(struct job *job);
/* The current attempt's replica is gone ('why' for the log): send the task elsewhere. */
void delivery_redeliver(struct job *job, const char *why);
/* The current attempt ends (answered, redelivered, timed out): stop counting it against its replica. */
void delivery_release(struct job *job);
/* Take the job off the waiting list, if it is on it. */
void delivery_unwait(struct job *job);

/* history.c */
/* Answer a history query 'm' (its reply channel moves to the query). */
void history_query(struct router *r, struct msg *m);

#endif
