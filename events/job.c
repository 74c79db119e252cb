/* A task's lifecycle in the events service: creation, deadline, records, outcome, and release. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "job.h"
#include "log.h"
#include "logdoc.h"
#include "record.h"
#include "store.h"

void router_check_idle(struct router *r)
{
    if (r->on_idle && table_len(r->jobs) == 0) {
        void (*fn)(void *) = r->on_idle;
        r->on_idle = NULL;
        fn(r->idle_arg);
    }
}

/* Take the job off the router's list of held-back arrivals. Returns its arrival record (the caller owns it), or
 * NULL when none was held back. */
static bson_t *undefer(struct job *job)
{
    struct router *r = job->r;
    bson_t *doc = job->arrival;
    if (!doc)
        return NULL;
    if (job->defer_prev)
        job->defer_prev->defer_next = job->defer_next;
    else
        r->deferred = job->defer_next;
    if (job->defer_next)
        job->defer_next->defer_prev = job->defer_prev;
    else
        r->deferred_tail = job->defer_prev;
    job->defer_prev = job->defer_next = NULL;
    job->arrival = NULL;
    return doc;
}

void job_free(struct job *job)
{
    bson_t *arrival = undefer(job);
    if (arrival)
        bson_destroy(arrival);
    for (int i = 0; i < job->joins; i++)
        free(job->join_to[i]);
    if (job->deadline)
        event_free(job->deadline);
    msg_clear(&job->task);
    msg_clear(&job->answer);
    free(job);
}

void job_release(struct job *job)
{
    if (!job->answered || job->callbacks > 0)
        return;
    struct router *r = job->r;
    job_free(job);
    router_check_idle(r);
}

int job_join(struct job *job, const struct msg *m)
{
    if (strcmp(m->reply_to, job->task.reply_to) == 0 && strcmp(m->ref, job->task.ref) == 0)
        return 0;
    for (int i = 0; i < job->joins; i++)
        if (strcmp(m->reply_to, job->join_to[i]) == 0 && strcmp(m->ref, job->join_ref[i]) == 0)
            return 0;
    if (job->joins == JOB_MAX_JOINS || !(job->join_to[job->joins] = strdup(m->reply_to)))
        return 0;
    memcpy(job->join_ref[job->joins++], m->ref, TASK_ID_LEN);
    return 1;
}

static int append(struct job *job, bson_t *doc, void *ctx)
{
    if (!doc || job->r->io.append(job->r->io.store, doc, ctx) != 0) {
        LOG_E("event=record_lost task=%s" LOG_TRACE " reason=\"out of memory\"", job->id,
              LOG_TRACE_ARG(job->task.trace));
        return -1;
    }
    return 0;
}

/* Hold 'doc' (the job's arrival record, taken over) back for the outcome; the router's timer writes it alone after
 * cfg.merge_ms. Every arrival waits as long, so the list stays in the order the timer needs. */
static void defer(struct job *job, bson_t *doc)
{
    struct router *r = job->r;
    job->arrival = doc;
    job->arrival_due = clock_mono_ms() + r->cfg.merge_ms;
    job->defer_prev = r->deferred_tail;
    job->defer_next = NULL;
    if (r->deferred_tail)
        r->deferred_tail->defer_next = job;
    else
        r->deferred = job;
    r->deferred_tail = job;
    if (!evtimer_pending(r->defer_timer, NULL)) {
        struct timeval tv = clock_timeval(r->cfg.merge_ms);
        evtimer_add(r->defer_timer, &tv);
    }
}

/* Write the job's held-back arrival record on its own, before whatever the job logs next. */
static void flush_arrival(struct job *job)
{
    bson_t *doc = undefer(job);
    if (doc)
        append(job, doc, NULL);
}

void job_flush_due(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct router *r = arg;
    long long now = clock_mono_ms();
    while (r->deferred && r->deferred->arrival_due <= now)
        flush_arrival(r->deferred);
    if (r->deferred) {
        struct timeval tv = clock_timeval(r->deferred->arrival_due - now);
        evtimer_add(r->defer_timer, &tv);
    }
}

static struct record_base base_of(struct job *job)
{
    return (struct record_base){ job->id, job->seq++, clock_wall_ms(), job->r->self_id, job->task.trace };
}

/* The task's first record is "received", and carries the dispatch too when the task went out at once (one record
 * instead of two on the common path); a later dispatch gets a "dispatched" record of its own. */
void job_log_step(struct job *job)
{
    const char *backend = job->backend[0] ? job->backend : NULL;
    struct record_base b;

    if (job->seq % STORE_HANDOFF_STRIDE == 0) {
        /* A client that asked for 202 Accepted gets it once the arrival is stored (router_on_acked). */
        void *ctx = job->task.async ? job : NULL;
        b = base_of(job);
        bson_t *doc = record_received(&b, &job->task, job->service, backend, job->attempts);
        if (doc && !ctx && job->r->cfg.merge_ms > 0 && job->r->defer_timer)
            defer(job, doc);
        else if (append(job, doc, ctx) == 0 && ctx)
            job->callbacks++;
    } else if (backend) {
        flush_arrival(job);
        b = base_of(job);
        append(job, record_dispatched(&b, job->service, backend, job->attempts), NULL);
    }
}

/* Stop the job's delivery and deadline: its outcome is being recorded. Returns 0, or -1 when it already was. */
static int stop(struct job *job)
{
    if (job->finishing)
        return -1;
    job->finishing = 1;
    delivery_unwait(job);
    delivery_release(job);
    event_del(job->deadline);
    return 0;
}

/* Append the outcome record of job->answer, with the task's arrival in the same document when it is still held
 * back; its acknowledgement lets the answer leave. An answer kept by another replica is recorded on its own: that
 * replica's outcome is most likely stored already, and a duplicate would drop the arrival with it. */
static void record_outcome(struct job *job)
{
    const struct msg *a = &job->answer;
    struct record_base b = base_of(job);
    bson_t *doc = a->status == 200 ? record_completed(&b, a->result, a->replica)
                                   : record_failed(&b, a->status, a->error, a->replica);
    bson_t *commit = doc && job->arrival && !job->from_kept ? logdoc_merge(job->arrival, doc) : NULL;
    if (commit) {
        bson_destroy(undefer(job));
        bson_destroy(doc);
        doc = commit;
    }
    flush_arrival(job);
    append(job, doc, job);
}

/* Parse the answer 'text' another replica kept for this task into job->answer. Returns 1 when it is one. */
static int adopt(struct job *job, const char *text, size_t len)
{
    struct msg m;
    char err[TASK_ERR_LEN];
    if (!text || msg_decode(text, len, &m, err) != 0)
        return 0;
    if (m.kind != MSG_RESULT || strcmp(m.id, job->id) != 0) {
        msg_clear(&m);
        return 0;
    }
    m.ref[0] = '\0';
    msg_clear(&job->answer);
    job->answer = m;
    return 1;
}

static void on_kept(int rc, const char *kept, size_t len, void *arg)
{
    struct job *job = arg;
    job->callbacks--;
    if (rc == 1 && adopt(job, kept, len)) {
        /* Another replica finished this task first: its answer is the task's, so it is recorded and answered. */
        LOG_I("event=outcome_kept_elsewhere task=%s" LOG_TRACE, job->id, LOG_TRACE_ARG(job->task.trace));
        job->from_kept = 1;
    } else if (rc < 0) {
        LOG_W("event=answer_not_kept task=%s" LOG_TRACE, job->id, LOG_TRACE_ARG(job->task.trace));
    }
    record_outcome(job);
}

void job_finish(struct job *job, int status, const char *result, const char *error)
{
    struct router *r = job->r;
    if (stop(job) != 0)
        return;
    job->answer.kind = MSG_RESULT;
    memcpy(job->answer.id, job->id, sizeof job->id);
    job->answer.status = status;
    job->answer.replica = job->backend[0] ? strdup(job->backend) : NULL;
    if (status == 200) {
        job->answer.result = strdup(result);
    } else {
        job->answer.error = strdup(error);
        r->stats.failed++;
    }
    long keep_s = job_keep_s(job);
    char *text = keep_s > 0 && r->io.outcome_keep ? msg_encode(&job->answer) : NULL;
    if (text && r->io.outcome_keep(r->io.bus, job->id, text, strlen(text), keep_s, on_kept, job) == 0)
        job->callbacks++;
    else
        record_outcome(job); /* Redis is down (or keeping is off): the log still gets the outcome */
    free(text);
}

long job_keep_s(const struct job *job)
{
    long ttl = job->r->cfg.outcome_ttl_s;
    return job->task.keep_s > ttl ? job->task.keep_s : ttl;
}

int job_adopt(struct job *job, const char *text, size_t len)
{
    return adopt(job, text, len);
}

void job_finish_kept(struct job *job)
{
    if (stop(job) != 0)
        return;
    job->from_kept = 1;
    record_outcome(job);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct job *job = arg;
    char error[TASK_ERR_LEN];
    if (job->backend[0])
        snprintf(error, sizeof error, "replica %s of service '%s' did not answer in time (attempt %d)", job->backend,
                 job->service, job->attempts);
    else
        snprintf(error, sizeof error, "no live replica of service '%s' answered in time", job->service);
    job_finish(job, 504, NULL, error);
}

struct job *job_new(struct router *r, struct msg *m)
{
    struct job *job = calloc(1, sizeof *job);
    if (!job)
        return NULL;
    job->r = r;
    job->arrived = clock_mono_s();
    memcpy(job->id, m->id, sizeof job->id);
    job->seq = m->handoff * STORE_HANDOFF_STRIDE; /* a handed-over task's steps never collide with earlier ones */
    job->task = *m;
    memset(m, 0, sizeof *m); /* the job owns the strings now */
    job->deadline = evtimer_new(r->base, on_deadline, job);
    if (!job->deadline) {
        job_free(job);
        return NULL;
    }
    /* Answer before the frontend's own deadline, so a late backend still gets a logged 504 here. */
    struct timeval tv = clock_timeval(job->task.timeout_ms - job->task.timeout_ms / 5);
    evtimer_add(job->deadline, &tv);
    return job;
}
