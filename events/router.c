/* Task lifecycle in the events service: receive, log, route, dispatch, collect, log, answer. */
#include "router.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "clock.h"
#include "log.h"
#include "msg.h"
#include "record.h"
#include "registry.h"
#include "store.h"
#include "table.h"

#define ROUTER_CHANNEL_PREFIX "taskbus:"

/* One task in flight. Freed when its answer has left and no publish of ours still refers to it. */
struct job {
    char id[TASK_ID_LEN];
    struct router *r;
    struct msg task;
    const char *service;          /* from the task map; NULL when unmapped */
    struct replica_set *set;      /* the service's live replicas */
    char backend[REPLICA_ID_LEN]; /* replica of the current attempt; "" before dispatch */
    int seq;                      /* next record's sequence number */
    int attempts;
    int finishing;                /* the final record is written; waiting for its acknowledgement */
    int publishing;               /* our publishes that have not been answered by Redis yet */
    int answered;
    struct job *next_waiting;
    int waiting;                  /* no live replica when we last tried */
    struct event *deadline;
    struct msg answer;            /* the outcome, sent once the final record is stored */
};

struct router {
    struct event_base *base;
    struct bus *bus;
    struct registry *reg;
    struct store *store;
    struct taskmap map;
    struct replica_set *sets[2];
    char self_id[REPLICA_ID_LEN];
    char channel[REPLICA_ID_LEN + 16];
    struct table *jobs;
    struct job *waiting;
    struct router_stats stats;
    void (*on_idle)(void *arg);
    void *idle_arg;
};

static void job_dispatch(struct job *job);

static void job_free(struct job *job)
{
    if (job->deadline)
        event_free(job->deadline);
    msg_clear(&job->task);
    msg_clear(&job->answer);
    free(job);
}

static void check_idle(struct router *r)
{
    if (r->on_idle && table_len(r->jobs) == 0) {
        void (*fn)(void *) = r->on_idle;
        r->on_idle = NULL;
        fn(r->idle_arg);
    }
}

/* Free the job when nothing refers to it any more: answered, and no publish pending. */
static void job_release(struct job *job)
{
    if (!job->answered || job->publishing > 0)
        return;
    struct router *r = job->r;
    job_free(job);
    check_idle(r);
}

static void append(struct job *job, bson_t *doc, void *ctx)
{
    if (!doc || store_append(job->r->store, doc, ctx) != 0)
        LOG_E("event=record_lost task=%s reason=\"out of memory\"", job->id);
}

static struct record_base base_of(struct job *job)
{
    return (struct record_base){ job->id, job->seq++, clock_wall_ms(), job->r->self_id };
}

static void unwait(struct job *job)
{
    if (!job->waiting)
        return;
    struct job **p = &job->r->waiting;
    while (*p && *p != job)
        p = &(*p)->next_waiting;
    if (*p)
        *p = job->next_waiting;
    job->waiting = 0;
    job->next_waiting = NULL;
}

/* Record the outcome; the answer leaves when the store acknowledges it (router_on_acked). Runs once per job. */
static void job_finish(struct job *job, int status, const char *result, const char *error)
{
    if (job->finishing)
        return;
    job->finishing = 1;
    unwait(job);
    event_del(job->deadline);
    const char *backend = job->backend[0] ? job->backend : NULL;
    struct record_base b = base_of(job);
    job->answer.kind = MSG_RESULT;
    memcpy(job->answer.id, job->id, sizeof job->id);
    job->answer.status = status;
    job->answer.replica = backend ? strdup(backend) : NULL;
    if (status == 200) {
        job->answer.result = strdup(result);
        append(job, record_completed(&b, result, backend), job);
    } else {
        job->answer.error = strdup(error);
        job->r->stats.failed++;
        append(job, record_failed(&b, status, error, backend), job);
    }
}

static void on_answer_published(long long receivers, void *arg)
{
    struct job *job = arg;
    job->publishing--;
    if (receivers == 0)
        LOG_D("event=answer_unheard task=%s frontend=%s", job->id, job->task.origin);
    job_release(job);
}

void router_on_acked(void *ctx, void *arg)
{
    struct router *r = arg;
    struct job *job = ctx;
    table_remove(r->jobs, job->id);
    char *text = msg_encode(&job->answer);
    if (text && bus_publish(r->bus, job->task.reply_to, text, strlen(text), on_answer_published, job) == 0)
        job->publishing++;
    else
        LOG_W("event=answer_lost task=%s reason=\"%s\"", job->id, text ? "bus down" : "out of memory");
    free(text);
    r->stats.answered++;
    job->answered = 1;
    job_release(job);
}

static void on_dispatch_published(long long receivers, void *arg)
{
    struct job *job = arg;
    job->publishing--;
    if (receivers <= 0 && !job->finishing) {
        /* Nobody subscribes to that channel any more (or the bus failed): the replica is gone; pick another. */
        if (receivers == 0)
            replica_set_remove(job->set, job->backend);
        job->r->stats.redispatched++;
        LOG_I("event=redispatch task=%s backend=%s receivers=%lld", job->id, job->backend, receivers);
        job->backend[0] = '\0';
        job_dispatch(job);
    }
    job_release(job);
}

static void job_wait(struct job *job)
{
    if (job->waiting)
        return;
    job->waiting = 1;
    job->next_waiting = job->r->waiting;
    job->r->waiting = job;
}

/* Log a step: the task's first record is "received", and carries the dispatch too when the task went out at once
 * (one record instead of two on the common path); a later dispatch gets a "dispatched" record of its own. */
static void log_step(struct job *job)
{
    int first = job->seq == 0;
    const char *backend = job->backend[0] ? job->backend : NULL;
    struct record_base b = base_of(job);
    if (first)
        append(job, record_received(&b, &job->task, job->service, backend, job->attempts), NULL);
    else if (backend)
        append(job, record_dispatched(&b, job->service, backend, job->attempts), NULL);
}

/* No replica can take the task now: log its arrival if that is not done yet, and wait for the next refresh. */
static void job_park(struct job *job)
{
    job->backend[0] = '\0';
    if (job->seq == 0)
        log_step(job);
    job_wait(job);
}

/* Send the task to one live replica of its service, or wait for the next registry refresh when none is alive. */
static void job_dispatch(struct job *job)
{
    struct router *r = job->r;
    struct replica *rep = replica_pick(job->set, clock_wall_ms());
    if (!rep) {
        job_park(job);
        return;
    }
    char channel[REPLICA_ID_LEN + 16];
    snprintf(channel, sizeof channel, ROUTER_CHANNEL_PREFIX "%s", rep->id);
    snprintf(job->backend, sizeof job->backend, "%s", rep->id);
    job->attempts++;
    struct msg out = job->task;
    out.reply_to = r->channel;
    char *text = msg_encode(&out);
    if (!text || bus_publish(r->bus, channel, text, strlen(text), on_dispatch_published, job) != 0) {
        free(text);
        job->attempts--;
        job_park(job);
        return;
    }
    free(text);
    rep->outstanding++;
    job->publishing++;
    log_step(job);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct job *job = arg;
    char error[TASK_ERR_LEN];
    if (job->backend[0])
        snprintf(error, sizeof error, "replica %s of service '%s' did not answer in time", job->backend, job->service);
    else
        snprintf(error, sizeof error, "no live replica of service '%s' answered in time", job->service);
    job_finish(job, 504, NULL, error);
}

static void on_task(struct router *r, struct msg *m)
{
    if (table_get(r->jobs, m->id)) {
        LOG_W("event=duplicate_task task=%s", m->id);
        return;
    }
    struct job *job = calloc(1, sizeof *job);
    if (!job)
        return;
    job->r = r;
    memcpy(job->id, m->id, sizeof job->id);
    job->task = *m;
    memset(m, 0, sizeof *m); /* the job owns the strings now */
    job->deadline = evtimer_new(r->base, on_deadline, job);
    if (!job->deadline || table_put(r->jobs, job->id, job) != 0) {
        job_free(job);
        return;
    }
    r->stats.tasks++;
    /* Answer before the frontend's own deadline, so a late backend still gets a logged 504 here. */
    long ms = job->task.timeout_ms - job->task.timeout_ms / 5;
    if (ms < 1)
        ms = 1;
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    evtimer_add(job->deadline, &tv);
    job->service = taskmap_route(&r->map, job->task.task.type);
    if (!job->service) {
        char error[TASK_ERR_LEN];
        log_step(job);
        snprintf(error, sizeof error, "task type %s has no route in the task map",
                 task_type_name(job->task.task.type));
        job_finish(job, 500, NULL, error);
        return;
    }
    job->set = r->sets[job->task.task.type];
    job_dispatch(job);
}

static void on_result(struct router *r, struct msg *m)
{
    struct job *job = table_get(r->jobs, m->id);
    if (!job || job->finishing) {
        r->stats.late_results++;
        LOG_D("event=late_result task=%s", m->id);
        return;
    }
    struct replica *rep = m->replica ? replica_find(job->set, m->replica) : NULL;
    if (rep && rep->outstanding > 0)
        rep->outstanding--;
    if (m->replica)
        snprintf(job->backend, sizeof job->backend, "%s", m->replica);
    job_finish(job, m->status, m->result, m->error ? m->error : "backend failed without a message");
}

/* A history query: 'request' names the task, 'id' correlates the answer. */
struct query {
    struct router *r;
    char id[TASK_ID_LEN];
    char *reply_to;
};

static void on_history(char *json, const char *err, void *ctx)
{
    struct query *q = ctx;
    struct msg out = { .kind = MSG_HISTORY };
    memcpy(out.id, q->id, sizeof out.id);
    if (json) {
        out.status = strcmp(json, "[]") == 0 ? 404 : 200;
        out.history = json;
        if (out.status == 404)
            out.error = "no task with this id is in the log";
    } else {
        out.status = 503;
        out.error = (char *)err;
    }
    char *text = msg_encode(&out);
    if (text)
        bus_publish(q->r->bus, q->reply_to, text, strlen(text), NULL, NULL);
    free(text);
    free(json);
    free(q->reply_to);
    free(q);
}

static void on_query(struct router *r, struct msg *m)
{
    struct query *q = calloc(1, sizeof *q);
    if (!q)
        return;
    q->r = r;
    memcpy(q->id, m->id, sizeof q->id);
    q->reply_to = m->reply_to;
    m->reply_to = NULL;
    if (store_history(r->store, m->request, on_history, q) != 0) {
        free(q->reply_to);
        free(q);
    }
}

void router_on_message(const char *data, size_t len, void *arg)
{
    struct router *r = arg;
    struct msg m;
    char err[TASK_ERR_LEN];
    if (msg_decode(data, len, &m, err) != 0) {
        r->stats.bad_messages++;
        LOG_W("event=bad_message error=\"%s\"", err);
        return;
    }
    if (m.kind == MSG_TASK)
        on_task(r, &m);
    else if (m.kind == MSG_RESULT)
        on_result(r, &m);
    else if (m.kind == MSG_HISTORY && m.request)
        on_query(r, &m);
    msg_clear(&m);
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
        job_dispatch(job);
    }
}

struct router *router_new(struct event_base *base, struct bus *bus, struct registry *reg, struct store *store,
                          const struct taskmap *map, const char *self_id)
{
    struct router *r = calloc(1, sizeof *r);
    if (!r || !(r->jobs = table_new())) {
        free(r);
        return NULL;
    }
    r->base = base;
    r->bus = bus;
    r->reg = reg;
    r->store = store;
    r->map = *map;
    snprintf(r->self_id, sizeof r->self_id, "%s", self_id);
    snprintf(r->channel, sizeof r->channel, ROUTER_CHANNEL_PREFIX "%s", self_id);
    for (int t = TASK_NUMBER; t <= TASK_STRING; t++) {
        const char *service = taskmap_route(&r->map, (enum task_type)t);
        r->sets[t] = service ? registry_watch(reg, service) : NULL;
        if (service && !r->sets[t]) {
            router_free(r);
            return NULL;
        }
    }
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
    check_idle(r);
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
    free(r);
}
