/* The router: bus messages in, admission of new tasks, results of the current attempt, registry refreshes. */
#include "router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "clock.h"
#include "log.h"
#include "logdoc.h"
#include "metrics.h"
#include "policy.h"
#include "record.h"
#include "taskview.h"

/* Answer a task we do not take, without logging it: it was never accepted. */
static void refuse(struct router *r, const struct msg *m, int status, const char *error)
{
    struct msg out = { .kind = MSG_RESULT, .status = status, .error = (char *)error, .retry_after_s = 1 };
    memcpy(out.id, m->id, sizeof out.id);
    memcpy(out.trace, m->trace, sizeof out.trace);
    char *text = msg_encode(&out);
    if (!text || r->io.publish(r->io.bus, m->reply_to, text, strlen(text), NULL, NULL) != 0)
        LOG_W("event=refusal_lost task=%s" LOG_TRACE, m->id, LOG_TRACE_ARG(m->trace));
    free(text);
    r->stats.refused++;
}

static void on_answer_published(long long receivers, void *arg)
{
    struct job *job = arg;
    job->callbacks--;
    if (receivers == 0)
        LOG_D("event=answer_unheard task=%s" LOG_TRACE " frontend=%s", job->id, LOG_TRACE_ARG(job->task.trace),
              job->task.origin);
    job_release(job);
}

/* Publish the job's answer to one requester. */
static void answer_one(struct router *r, struct job *job, const char *channel, const char *ref)
{
    memcpy(job->answer.ref, ref, sizeof job->answer.ref);
    memcpy(job->answer.trace, job->task.trace, sizeof job->answer.trace);
    char *text = msg_encode(&job->answer);
    /* The job lives until Redis has the answer: at shutdown the loop stops once no job is left, and an answer
     * still in hiredis's output buffer would never be sent. */
    if (text && r->io.publish(r->io.bus, channel, text, strlen(text), on_answer_published, job) == 0)
        job->callbacks++;
    else
        LOG_W("event=answer_lost task=%s" LOG_TRACE " reason=\"bus down or full\"", job->id,
              LOG_TRACE_ARG(job->task.trace));
    free(text);
}

/* Send the job's answer to its requesters and free the job once nothing refers to it. */
static void answer(struct router *r, struct job *job)
{
    table_remove(r->jobs, job->id);
    LOG_D("event=task_answered task=%s" LOG_TRACE " status=%d joined=%d", job->id, LOG_TRACE_ARG(job->task.trace),
          job->answer.status, job->joins);
    answer_one(r, job, job->task.reply_to, job->task.ref);
    for (int i = 0; i < job->joins; i++)
        answer_one(r, job, job->join_to[i], job->join_ref[i]);
    r->stats.answered++;
    job->answered = 1;
    const struct router_metrics *m = &r->cfg.metrics;
    int status = job->answer.status;
    metric_add(metric_labels(m->tasks, task_type_name(job->task.task.type), job->service ? job->service : "none",
                             status == 200 ? "completed" : status < 500 ? "failed" : "error"), 1);
    metric_observe(m->in_events, clock_mono_s() - job->arrived);
    metric_observe(m->attempts, job->attempts);
    job_release(job);
}

/* The outcome another replica stored first is not known here any more: say where it is. */
static void answer_elsewhere(struct job *job)
{
    char error[TASK_ERR_LEN];
    snprintf(error, sizeof error, "the outcome was recorded by another events replica; GET /task/%s shows it",
             job->id);
    msg_clear(&job->answer);
    job->answer = (struct msg){ .kind = MSG_RESULT, .status = 504, .error = strdup(error) };
    memcpy(job->answer.id, job->id, sizeof job->id);
    answer(job->r, job);
}

/* The stored outcome record, read from the log when Redis no longer keeps it. */
static void on_outcome_read(bson_t *doc, const char *err, void *ctx)
{
    struct job *job = ctx;
    struct msg stored;
    job->callbacks--;
    if (doc && record_answer(doc, job->id, &stored) == 0) {
        struct router *r = job->r;
        msg_clear(&job->answer);
        job->answer = stored;
        r->stats.outcomes_read++;
        /* Redis kept another answer (or none): from now on it keeps the one the log holds. */
        char *text = msg_encode(&job->answer);
        if (text && r->io.outcome_replace)
            r->io.outcome_replace(r->io.bus, job->id, text, strlen(text), job_keep_s(job));
        free(text);
        answer(r, job);
    } else {
        if (err)
            LOG_W("event=outcome_unreadable task=%s" LOG_TRACE " error=\"%s\"", job->id,
                  LOG_TRACE_ARG(job->task.trace), err);
        answer_elsewhere(job);
    }
    if (doc)
        bson_destroy(doc);
}

/* The arrival of a task whose client asked for 202 Accepted is stored (and projected): tell its requester. */
static void accepted(struct router *r, struct job *job, const bson_t *doc)
{
    bson_iter_t it;
    int has_backend = bson_iter_init_find(&it, doc, "backend") && BSON_ITER_HOLDS_UTF8(&it);
    struct msg out = { .kind = MSG_RESULT, .status = 202 };
    out.result = (char *)taskview_status_name(taskview_status_of("received", has_backend));
    memcpy(out.id, job->id, sizeof out.id);
    memcpy(out.ref, job->task.ref, sizeof out.ref);
    memcpy(out.trace, job->task.trace, sizeof out.trace);
    char *text = msg_encode(&out);
    if (!text || r->io.publish(r->io.bus, job->task.reply_to, text, strlen(text), NULL, NULL) != 0)
        LOG_W("event=accepted_lost task=%s" LOG_TRACE, job->id, LOG_TRACE_ARG(job->task.trace));
    free(text);
}

/* A task commit was a duplicate (another replica stored the task's outcome first): its arrival record was not
 * stored with it, so it goes on its own; this replica's handling of the task stays in the log. */
static void keep_arrival(struct router *r, const bson_t *commit)
{
    bson_t received, outcome;
    if (logdoc_split(commit, &received, &outcome) != 0)
        return;
    bson_t *doc = bson_copy(&received);
    if (!doc || r->io.append(r->io.store, doc, NULL) != 0)
        LOG_E("event=record_lost reason=\"out of memory\"");
    bson_destroy(&received);
    bson_destroy(&outcome);
}

int router_answer_was_kept(const void *ctx)
{
    const struct job *job = ctx;
    return job->from_kept;
}

void router_on_acked(void *ctx, const bson_t *doc, int duplicate, void *arg)
{
    struct router *r = arg;
    struct job *job = ctx;
    if (duplicate && logdoc_is_commit(doc))
        keep_arrival(r, doc);
    if (!job)
        return;
    if (!record_is_outcome(doc)) {
        job->callbacks--;
        if (!job->answered)
            accepted(r, job, doc);
        job_release(job);
        return;
    }
    if (!duplicate || job->from_kept) {
        answer(r, job);
        return;
    }
    /* The log held another outcome for this task, stored without keeping its answer first (Redis was down for
     * that replica): the stored one stands, so read it; that is what the client must get. */
    LOG_I("event=outcome_exists task=%s" LOG_TRACE, job->id, LOG_TRACE_ARG(job->task.trace));
    job->callbacks++;
    if (!r->io.outcome_read || r->io.outcome_read(r->io.store, job->id, on_outcome_read, job) != 0) {
        job->callbacks--;
        answer_elsewhere(job);
    }
}

/* A handed-over task: when it has a kept answer it finished elsewhere; record its arrival here and its outcome (a
 * duplicate if that replica stored it) and answer that. Else run it. */
static void on_probe(const char *text, size_t len, void *arg)
{
    struct job *job = arg;
    job->callbacks--;
    if (job->finishing) {
        job_release(job);
        return;
    }
    if (!job_adopt(job, text, len)) {
        delivery_send(job);
        return;
    }
    job->r->stats.answered_from_outcome++;
    job_log_step(job); /* its arrival here, with the request: the first replica's may never have been stored */
    job_finish_kept(job);
}

static void on_task(struct router *r, struct msg *m)
{
    char error[TASK_ERR_LEN];
    struct job *running = table_get(r->jobs, m->id);
    if (running) {
        /* A retry of a task in flight here (a frontend re-sent it, or a client retried with its Idempotency-Key):
         * it does not run again; the new requester gets the same answer. */
        LOG_I("event=task_joined task=%s" LOG_TRACE " added=%d", m->id, LOG_TRACE_ARG(m->trace),
              job_join(running, m));
        return;
    }
    size_t backlog = r->io.backlog ? r->io.backlog(r->io.store) : 0;
    int status = policy_admit(table_len(r->jobs), r->cfg.max_jobs, backlog, r->cfg.max_backlog, error);
    if (status != 0) {
        refuse(r, m, status, error);
        return;
    }
    struct job *job = job_new(r, m);
    if (!job || table_put(r->jobs, job->id, job) != 0) {
        if (job)
            job_free(job);
        LOG_E("event=task_dropped task=%s" LOG_TRACE " reason=\"out of memory\"", m->id, LOG_TRACE_ARG(m->trace));
        return;
    }
    r->stats.tasks++;
    LOG_D("event=task_received task=%s" LOG_TRACE " handoff=%d", job->id, LOG_TRACE_ARG(job->task.trace),
          job->task.handoff);
    job->service = taskmap_route(&r->cfg.map, job->task.task.type);
    job->set = r->cfg.sets[job->task.task.type];
    if (!job->service || !job->set) {
        job_log_step(job);
        snprintf(error, sizeof error, "task type %s has no route in the task map",
                 task_type_name(job->task.task.type));
        job_finish(job, 500, NULL, error);
        return;
    }
    if (job->task.handoff > 0) {
        /* Another events replica had it: if it finished, its outcome is kept; answer that instead of running it. */
        r->stats.handoffs++;
        job->callbacks++;
        if (r->io.outcome_load && r->io.outcome_load(r->io.bus, job->id, on_probe, job) == 0)
            return;
        job->callbacks--;
    }
    delivery_send(job);
}

/* A backend's result. Only the replica of the current attempt knows its token; anything else is stale or forged. */
static void on_result(struct router *r, struct msg *m)
{
    if (m->status == 202) {
        /* Only events answers 202 (to a frontend, for an async task); a backend's result is an outcome, and a 202
         * has neither the result nor the error that job_finish records. */
        r->stats.bad_messages++;
        LOG_W("event=bad_message task=%s" LOG_TRACE " error=\"a backend result cannot be 202\"", m->id,
              LOG_TRACE_ARG(m->trace));
        return;
    }
    struct job *job = table_get(r->jobs, m->id);
    if (!job || job->finishing) {
        r->stats.late_results++;
        LOG_D("event=late_result task=%s" LOG_TRACE, m->id, LOG_TRACE_ARG(m->trace));
        return;
    }
    if (!job->token[0] || strcmp(m->token, job->token) != 0) {
        r->stats.stale_results++;
        LOG_D("event=stale_result task=%s" LOG_TRACE, m->id, LOG_TRACE_ARG(m->trace));
        return;
    }
    metric_observe(r->cfg.metrics.backend, clock_mono_s() - job->sent);
    job_finish(job, m->status, m->result, m->error);
}

void router_on_message(const char *data, size_t len, void *arg)
{
    struct router *r = arg;
    struct msg m;
    char err[TASK_ERR_LEN], quoted[LOG_VALUE_LEN];
    if (msg_decode(data, len, &m, err) != 0) {
        r->stats.bad_messages++;
        LOG_W("event=bad_message error=\"%s\"", log_escape(err, quoted, sizeof quoted));
    } else if (m.kind == MSG_TASK) {
        on_task(r, &m);
    } else if (m.kind == MSG_RESULT) {
        on_result(r, &m);
    } else if (m.status == 0) {
        history_query(r, &m);
    } else {
        r->stats.bad_messages++;
        LOG_W("event=bad_message error=\"an events replica takes no history answers\"");
    }
    msg_clear(&m);
}

/* A job whose replica left the registry (no heartbeat within REPLICA_TTL_MS, or it stopped) goes elsewhere. */
static void check_replica(void *value, void *arg)
{
    (void)arg;
    struct job *job = value;
    if (job->finishing || job->waiting || !job->backend[0])
        return;
    if (job->redeliver) {
        job->redeliver = 0;
        delivery_redeliver(job, "the bus reconnected: its result may be lost");
    } else if (!replica_find(job->set, job->backend)) {
        delivery_redeliver(job, "replica left the registry");
    }
}

static void mark_redeliver(void *value, void *arg)
{
    (void)arg;
    struct job *job = value;
    if (!job->finishing && job->backend[0])
        job->redeliver = 1;
}

void router_on_reconnect(struct router *r)
{
    table_each(r->jobs, mark_redeliver, NULL);
}

void router_on_refresh(void *arg)
{
    struct router *r = arg;
    struct job *list = r->waiting;
    r->waiting = NULL;
    while (list) {
        struct job *job = list;
        list = job->next_waiting;
        job->waiting = 0;
        job->next_waiting = NULL;
        delivery_send(job);
    }
    table_each(r->jobs, check_replica, NULL);
}

struct router *router_new(struct event_base *base, const struct router_io *io, const struct router_config *cfg)
{
    struct router *r = calloc(1, sizeof *r);
    if (!r || !(r->jobs = table_new()) || !(r->defer_timer = evtimer_new(base, job_flush_due, r))) {
        if (r)
            table_free(r->jobs);
        free(r);
        return NULL;
    }
    r->base = base;
    r->io = *io;
    r->cfg = *cfg;
    snprintf(r->self_id, sizeof r->self_id, "%s", cfg->self_id);
    r->cfg.self_id = r->self_id;
    msg_channel(r->channel, r->self_id);
    return r;
}

size_t router_in_flight(const struct router *r)
{
    return table_len(r->jobs);
}

static void abort_one(void *value, void *arg)
{
    (void)arg;
    job_finish(value, 503, NULL, "the events replica is shutting down");
}

void router_abort_all(struct router *r)
{
    table_each(r->jobs, abort_one, NULL);
}

void router_when_idle(struct router *r, void (*fn)(void *arg), void *arg)
{
    r->on_idle = fn;
    r->idle_arg = arg;
    router_check_idle(r);
}

void router_get_stats(const struct router *r, struct router_stats *out)
{
    *out = r->stats;
}

static void free_one(void *value, void *arg)
{
    (void)arg;
    job_free(value);
}

void router_free(struct router *r)
{
    if (!r)
        return;
    table_each(r->jobs, free_one, NULL);
    table_free(r->jobs);
    event_free(r->defer_timer);
    free(r);
}
