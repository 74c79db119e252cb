/* Sending tasks and history queries to events replicas, following each task to its outcome, and matching answers
 * to pending requests. */
#include "dispatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "idem.h"
#include "log.h"
#include "metrics.h"
#include "msg.h"
#include "reply.h"
#include "route.h"
#include "table.h"
#include "taskview.h"

#define DISPATCH_MAX_ATTEMPTS 4   /* sends that reached no subscriber before a request is refused */
#define DISPATCH_MAX_HANDOFFS 8   /* re-sends after losing an events replica before a task is given up */
#define DISPATCH_RANDOM_POOL 4096 /* read from the OS at a time: ids and trace ids take 10 to 40 bytes each */

struct dispatch {
    struct dispatch_io io;
    struct dispatch_config cfg;
    struct replica_set *events;
    struct pending *pending;
    struct table *orphans;        /* requests answered 504 whose task is still followed, by correlation id */
    struct table *claiming;       /* requests waiting for Redis about their Idempotency-Key (its SET, or the DEL
                                     of a refusal), by correlation id: outside 'pending', but suspended too */
    char self_id[REPLICA_ID_LEN];
    char channel[MSG_CHANNEL_LEN];
    unsigned char random[DISPATCH_RANDOM_POOL]; /* bytes from the OS for ids, used from 'random_used' on */
    size_t random_used;
    struct dispatch_stats stats;
    char refusal[TASK_ERR_LEN];   /* the last refusal from an events replica (a cap was full) ... */
    long long refusal_until_ms;   /* ... and until when it stands */
};

struct dispatch *dispatch_new(const struct dispatch_io *io, const struct dispatch_config *cfg,
                              struct replica_set *events, struct pending *pending)
{
    struct dispatch *d = calloc(1, sizeof *d);
    if (!d || !(d->orphans = table_new()) || !(d->claiming = table_new())) {
        if (d)
            table_free(d->orphans);
        free(d);
        return NULL;
    }
    d->io = *io;
    d->cfg = *cfg;
    d->events = events;
    d->pending = pending;
    snprintf(d->self_id, sizeof d->self_id, "%s", cfg->self_id);
    d->cfg.self_id = d->self_id;
    msg_channel(d->channel, d->self_id);
    d->random_used = sizeof d->random; /* filled at the first id */
    return d;
}

/* The next 'n' bytes (at most DISPATCH_RANDOM_POOL) of the pool read from the OS, refilled when it runs out. */
static const unsigned char *take_random(struct dispatch *d, size_t n)
{
    if (d->random_used + n > sizeof d->random) {
        clock_random(d->random, sizeof d->random);
        d->random_used = 0;
    }
    d->random_used += n;
    return d->random + d->random_used - n;
}

/* A fresh id (taskid.h): unguessable, with random bits from the OS (getrandom), so a client cannot read another
 * client's task by guessing its id, and unique without coordination; every id has the same length, which keeps ab
 * from counting answers as "failed" for their length. By default it starts with its creation time. */
static void next_id(struct dispatch *d, char *id)
{
    taskid_format(d->cfg.ids, d->io.now(d->io.ctx), take_random(d, taskid_random_bytes(d->cfg.ids)), id);
}

void dispatch_trace_start(struct dispatch *d, struct request *req, const char *traceparent)
{
    trace_start(&req->trace, traceparent, d->cfg.tracing, take_random(d, TRACE_RANDOM_LEN));
}

void dispatch_next_id(struct dispatch *d, char *id)
{
    next_id(d, id);
}

/* The live events replica 'id', or NULL. */
static struct replica *alive(struct dispatch *d, const char *id)
{
    struct replica *rep = id[0] ? replica_find(d->events, id) : NULL;
    return rep && rep->expires_ms > d->io.now(d->io.ctx) ? rep : NULL;
}

/* Stop counting the request against its events replica (it keeps the replica's name, to know where it went). */
static void release_replica(struct dispatch *d, struct request *req)
{
    struct replica *rep = req->counted ? replica_find(d->events, req->events_id) : NULL;
    if (rep && rep->outstanding > 0)
        rep->outstanding--;
    req->counted = 0;
}

/* Track 'req' as waiting for Redis about its key: a shutdown answers it (dispatch_answer_claims). Its callback
 * forgets it again. */
static void claiming_add(struct dispatch *d, struct request *req)
{
    if (table_put(d->claiming, req->id, req) < 0)
        LOG_W("event=claim_untracked task=%s reason=\"out of memory\"", req->task_id);
}

static void claiming_forget(struct dispatch *d, struct request *req)
{
    if (table_get(d->claiming, req->id) == req)
        table_remove(d->claiming, req->id);
}

static void on_late_unclaimed(void *arg)
{
    (void)arg;
}

/* Redis answered the DEL of a refused request's Idempotency-Key, or the bus failed: the refusal may leave now
 * (unless a shutdown answered it meanwhile). */
static void on_unclaimed(void *arg)
{
    struct request *req = arg;
    struct dispatch *d = req->via;
    req->publishing--;
    claiming_forget(d, req);
    if (req->state == REQUEST_CLAIMING) {
        char *body = req->response;
        req->response = NULL;
        pending_answer_request(d->pending, req, 503, body);
    }
    request_release(req, 0);
}

/* Refuse with 503 (its error body 'body', owned) a request that claimed its Idempotency-Key for a task no events
 * replica accepted. The key is freed first, and the refusal leaves only once Redis has done it: a client retries
 * after the 503, through any frontend and so on any Redis connection, and must find the key free (its retry runs
 * the task), never the claim of a task that was never accepted. When the DEL cannot be sent (the bus is down) the
 * refusal leaves at once and the claim stays: a retry replays it, and the events replica it names runs the task as
 * a handed-over one. */
static void refuse_unclaiming(struct dispatch *d, struct request *req, char *body)
{
    pending_forget(d->pending, req);
    if (d->io.unclaim(d->io.ctx, req->idem_key, on_unclaimed, req) != 0) {
        pending_answer_request(d->pending, req, 503, body);
        return;
    }
    free(req->response);
    req->response = body;
    req->state = REQUEST_CLAIMING;
    req->publishing++;
    claiming_add(d, req);
}

static void on_published(long long receivers, void *arg);

/* Publish req->outbound to events replica 'prefer' when it is alive, else to the least loaded live one. Returns 0,
 * or -1 when none can take it. */
static int send_outbound(struct dispatch *d, struct request *req, const char *prefer)
{
    struct replica *rep = prefer && prefer[0] ? alive(d, prefer) : NULL;
    if (!rep)
        rep = replica_pick(d->events, d->io.now(d->io.ctx));
    if (!rep)
        return -1;
    char channel[MSG_CHANNEL_LEN];
    msg_channel(channel, rep->id);
    if (d->io.publish(d->io.ctx, channel, req->outbound, strlen(req->outbound), on_published, req) != 0)
        return -1;
    req->published = clock_mono_s();
    release_replica(d, req);
    snprintf(req->events_id, sizeof req->events_id, "%s", rep->id);
    rep->outstanding++;
    req->counted = 1;
    req->publishing++;
    return 0;
}

/* A request that is waiting for its answer, or a task followed after its 504. */
static int following(const struct request *req)
{
    return req->state == REQUEST_WAITING || req->held;
}

static void on_published(long long receivers, void *arg)
{
    struct request *req = arg;
    struct dispatch *d = req->via;
    req->publishing--;
    /* A task's first publish only: a re-send overwrites 'published' while an earlier one may still be out. */
    if (receivers > 0 && req->route == ROUTE_TASK && req->publishing == 0 && req->attempts == 0 &&
        req->handoff == 0)
        metric_observe(d->cfg.publish_seconds, clock_mono_s() - req->published);
    if (receivers > 0 || !following(req)) {
        request_release(req, 0);
        return;
    }
    if (receivers < 0) {
        /* The bus failed before Redis answered: the message may or may not have arrived. Send it again once the
         * bus is back (the next refresh); a replica that has it already joins the two. Never a loop here. */
        release_replica(d, req);
        req->resend = 1;
    } else if (req->state == REQUEST_WAITING) {
        /* That events replica is gone and nobody received the message: another one may take it at once. */
        char error[TASK_ERR_LEN];
        replica_set_remove(d->events, req->events_id);
        req->counted = 0;
        d->stats.redispatched++;
        if (req->attempts++ >= DISPATCH_MAX_ATTEMPTS || send_outbound(d, req, NULL) != 0) {
            snprintf(error, sizeof error, "no events replica could take the request");
            if (req->idem_key[0] && req->handoff == 0 && req->io_claimed_new)
                refuse_unclaiming(d, req, reply_error(error, req->task_id));
            else
                pending_answer_request(d->pending, req, 503, reply_error(error, req->task_id));
        }
    } else {
        req->resend = 1;
    }
    request_release(req, 0);
}

/* Send the task again, as handoff k + 1, to its events replica when it is alive (it may still have the task: then
 * the request joins it) or to another one. Returns 0, or -1 when it cannot now (it stays marked for the next
 * refresh). */
static int resend(struct dispatch *d, struct request *req, const char *why)
{
    struct msg m;
    char err[TASK_ERR_LEN];
    if (msg_decode(req->outbound, strlen(req->outbound), &m, err) != 0)
        return -1;
    if (m.kind == MSG_TASK) {
        m.handoff = req->handoff < MSG_MAX_HANDOFF ? req->handoff + 1 : MSG_MAX_HANDOFF;
        m.timeout_ms = d->cfg.timeout_ms;
    }
    char *text = msg_encode(&m);
    msg_clear(&m);
    if (!text)
        return -1;
    char prefer[REPLICA_ID_LEN];
    snprintf(prefer, sizeof prefer, "%s", req->events_id);
    free(req->outbound);
    req->outbound = text;
    req->resend = 1;
    if (send_outbound(d, req, prefer) != 0)
        return -1;
    req->resend = 0;
    if (req->route == ROUTE_TASK)
        req->handoff++;
    d->stats.resent++;
    LOG_I("event=resend task=%s" LOG_TRACE " from=%s to=%s handoff=%d reason=\"%s\"",
          req->task_id[0] ? req->task_id : req->id, LOG_TRACE_ARG(req->trace.id), prefer[0] ? prefer : "-",
          req->events_id, req->handoff, why);
    return 0;
}

/* Stop following a task after its 504 (its outcome came, or it is past its time). */
static void unfollow(struct dispatch *d, struct request *req)
{
    table_remove(d->orphans, req->id);
    release_replica(d, req);
    req->held = 0;
    request_release(req, 0);
}

/* Re-send what needs it: the bus may have lost its message, or its events replica is gone. A read answered from
 * the projection (reads.c) is pending too, but was never sent to an events replica: nothing to re-send. */
static void check_one(struct request *req, void *arg)
{
    struct dispatch *d = arg;
    if (!following(req) || !req->outbound)
        return;
    if (req->held && d->io.now(d->io.ctx) > req->orphan_until_ms) {
        LOG_W("event=task_unresolved task=%s" LOG_TRACE " events=%s reason=\"no outcome seen within the follow "
              "time\"", req->task_id, LOG_TRACE_ARG(req->trace.id), req->events_id);
        d->stats.unresolved++;
        unfollow(d, req);
        return;
    }
    if (req->handoff >= DISPATCH_MAX_HANDOFFS)
        return;
    if (req->resend)
        resend(d, req, "the bus failed or reconnected");
    else if (!alive(d, req->events_id))
        resend(d, req, "its events replica left the registry");
}

static void check_orphan(void *value, void *arg)
{
    check_one(value, arg);
}

/* Call 'fn' for every orphan, collected first so 'fn' may unfollow it. */
static void each_orphan(struct dispatch *d, void (*fn)(void *value, void *arg))
{
    size_t n = 0;
    void **items = table_values(d->orphans, &n);
    for (size_t i = 0; i < n; i++)
        fn(items[i], d);
    free(items);
}

void dispatch_on_refresh(void *arg)
{
    struct dispatch *d = arg;
    pending_each(d->pending, check_one, d);
    each_orphan(d, check_orphan);
}

static void mark_resend(struct request *req, void *arg)
{
    (void)arg;
    if (following(req))
        req->resend = 1;
}

static void mark_orphan(void *value, void *arg)
{
    mark_resend(value, arg);
}

void dispatch_on_reconnect(struct dispatch *d)
{
    pending_each(d->pending, mark_resend, NULL);
    each_orphan(d, mark_orphan);
}

/* Register the request as pending once its message is out. Returns 0, or -1 with a reason in 'err'. */
static int become_pending(struct dispatch *d, struct request *req, char *err)
{
    if (pending_add(d->pending, req) != 0) {
        /* The message is out; its answer will find no request and be dropped as late. */
        release_replica(d, req);
        snprintf(err, TASK_ERR_LEN, "out of memory");
        return -1;
    }
    d->stats.sent++;
    return 0;
}

/* Encode 'm' as the request's outbound message. Returns 0, or -1 with a reason in 'err'. */
static int prepare(struct dispatch *d, struct request *req, struct msg *m, char *err)
{
    m->reply_to = d->channel;
    m->origin = d->self_id;
    req->via = d;
    free(req->outbound);
    req->outbound = msg_encode(m);
    if (!req->outbound) {
        snprintf(err, TASK_ERR_LEN, "out of memory");
        return -1;
    }
    if (!d->io.ready(d->io.ctx)) {
        snprintf(err, TASK_ERR_LEN, "the message bus (Redis) is not reachable");
        return -1;
    }
    return 0;
}

/* Send the prepared request and register it as pending. */
static int dispatch_send(struct dispatch *d, struct request *req, const char *prefer, char *err)
{
    if (send_outbound(d, req, prefer) != 0) {
        snprintf(err, TASK_ERR_LEN, "no events replica is alive");
        return -1;
    }
    return become_pending(d, req, err);
}

/* The task message for 't' from the request's body. */
static struct msg task_msg(struct dispatch *d, struct request *req, const struct task *t)
{
    struct msg m = { .kind = MSG_TASK, .task = *t, .timeout_ms = d->cfg.timeout_ms, .async = req->async };
    memcpy(m.id, req->task_id, sizeof m.id);
    memcpy(m.trace, req->trace.id, sizeof m.trace);
    /* The body is valid UTF-8 JSON without NUL (classification checked it), so it can be logged as a string. */
    req->body[req->len] = '\0';
    m.request = req->body;
    return m;
}

int dispatch_task(struct dispatch *d, struct request *req, const struct task *t, char *err)
{
    next_id(d, req->id);
    memcpy(req->task_id, req->id, sizeof req->id);
    struct msg m = task_msg(d, req, t);
    return prepare(d, req, &m, err) != 0 ? -1 : dispatch_send(d, req, NULL, err);
}

/* Replay the task 'task_id' that the request's key names: send it as a handoff to the replica that had it (it
 * joins the request to the task when it still runs it) or, when that one is gone, to another (which answers the
 * kept outcome, or runs the task when it never reached one). */
static int replay(struct dispatch *d, struct request *req, const char *task_id, const char *events_id, char *err)
{
    struct msg m;
    if (msg_decode(req->outbound, strlen(req->outbound), &m, err) != 0)
        return -1;
    memcpy(req->task_id, task_id, TASK_ID_LEN);
    memcpy(m.id, task_id, sizeof m.id);
    memcpy(m.ref, req->id, sizeof m.ref);
    m.handoff = req->handoff = 1;
    free(req->outbound);
    req->outbound = msg_encode(&m);
    msg_clear(&m);
    if (!req->outbound) {
        snprintf(err, TASK_ERR_LEN, "out of memory");
        return -1;
    }
    d->stats.replays++;
    return dispatch_send(d, req, events_id, err);
}

static void on_claimed(int rc, const char *stored, void *arg)
{
    struct request *req = arg;
    struct dispatch *d = req->via;
    char err[TASK_ERR_LEN + IDEM_KEY_MAX], task_id[TASK_ID_LEN], events_id[REPLICA_ID_LEN];
    int status = 503;
    req->publishing--;
    claiming_forget(d, req);
    if (req->state != REQUEST_CLAIMING) { /* a shutdown answered it meanwhile: a key it got stays free */
        if (rc == 0)
            d->io.unclaim(d->io.ctx, req->idem_key, on_late_unclaimed, NULL);
        request_release(req, 0);
        return;
    }
    if (rc < 0) {
        snprintf(err, sizeof err, "the message bus (Redis) is not reachable");
    } else if (rc == 0) {
        req->io_claimed_new = 1;
        if (dispatch_send(d, req, req->events_id, err) == 0)
            goto out;
        refuse_unclaiming(d, req, reply_error(err, NULL)); /* never accepted: a retry may run it */
        goto out;
    } else {
        char fp[IDEM_FP_LEN];
        idem_fingerprint(req->body, req->len, fp);
        switch (idem_decide(stored, fp, task_id, events_id)) {
        case IDEM_REPLAY:
            if (replay(d, req, task_id, events_id, err) == 0)
                goto out;
            break;
        case IDEM_CONFLICT:
            d->stats.conflicts++;
            status = 422;
            memcpy(req->task_id, task_id, sizeof req->task_id);
            snprintf(err, sizeof err, "Idempotency-Key %s was used with a different body (task %s)", req->idem_key,
                     task_id);
            break;
        case IDEM_CORRUPT:
            status = 422;
            snprintf(err, sizeof err, "Idempotency-Key %s has a record this server cannot read", req->idem_key);
            break;
        }
    }
    pending_answer_request(d->pending, req, status, reply_error(err, status == 422 ? req->task_id : NULL));
out:
    request_release(req, 0);
}

int dispatch_task_keyed(struct dispatch *d, struct request *req, const struct task *t, const char *key, char *err)
{
    char fp[IDEM_FP_LEN], value[IDEM_VALUE_LEN];
    next_id(d, req->id);
    memcpy(req->task_id, req->id, sizeof req->id);
    snprintf(req->idem_key, sizeof req->idem_key, "%s", key);
    struct msg m = task_msg(d, req, t);
    m.keep_s = d->cfg.idempotency_ttl_s;
    if (prepare(d, req, &m, err) != 0)
        return -1;
    /* The record names the events replica the task will go to, so a replay reaches the replica that runs it. */
    struct replica *rep = replica_pick(d->events, d->io.now(d->io.ctx));
    if (!rep) {
        snprintf(err, TASK_ERR_LEN, "no events replica is alive");
        return -1;
    }
    snprintf(req->events_id, sizeof req->events_id, "%s", rep->id);
    idem_fingerprint(req->body, req->len, fp);
    idem_value(fp, req->task_id, rep->id, value);
    if (d->io.claim(d->io.ctx, key, value, d->cfg.idempotency_ttl_s, on_claimed, req) != 0) {
        snprintf(err, TASK_ERR_LEN, "the message bus (Redis) is not reachable");
        return -1;
    }
    req->publishing++;
    req->state = REQUEST_CLAIMING;
    claiming_add(d, req);
    return 0;
}

int dispatch_history(struct dispatch *d, struct request *req, char *err)
{
    struct msg m = { .kind = MSG_HISTORY, .request = req->history_of };
    memcpy(m.trace, req->trace.id, sizeof m.trace);
    next_id(d, req->id);
    memcpy(m.id, req->id, sizeof m.id);
    return prepare(d, req, &m, err) != 0 ? -1 : dispatch_send(d, req, NULL, err);
}

void dispatch_forget(struct dispatch *d, struct request *req)
{
    /* A task may still be running (its replica is slow, or gone and not yet noticed): follow it until its outcome
     * comes back, re-sending it if its replica vanishes, so it never stays without one. */
    if (req->route != ROUTE_TASK || !req->outbound || (long)table_len(d->orphans) >= d->cfg.max_orphans ||
        table_put(d->orphans, req->id, req) != 0) {
        if (req->route == ROUTE_TASK)
            LOG_W("event=task_not_followed task=%s" LOG_TRACE " reason=\"too many tasks followed after a 504\"",
                  req->task_id, LOG_TRACE_ARG(req->trace.id));
        release_replica(d, req);
        return;
    }
    req->held = 1;
    req->orphan_until_ms = d->io.now(d->io.ctx) + d->cfg.orphan_ms;
    d->stats.orphaned++;
}

const char *dispatch_refusal(const struct dispatch *d)
{
    return d->refusal[0] && d->io.now(d->io.ctx) < d->refusal_until_ms ? d->refusal : NULL;
}

size_t dispatch_orphans(const struct dispatch *d)
{
    return table_len(d->orphans);
}

/* A client that asked for 202 Accepted gets it when events stored the task's arrival (its 202), or when the
 * task's outcome came first; a task still running is then followed as after a 504, so it still reaches an outcome
 * if its events replica vanishes. */
static void accept_async(struct dispatch *d, struct request *req, const struct msg *m)
{
    const char *status = m->status == 202 ? m->result : m->status == 200 ? "completed" : "failed";
    char *body = reply_accepted(req->task_id, status);
    if (m->status == 202)
        dispatch_forget(d, req);
    else
        release_replica(d, req);
    pending_answer_request(d->pending, req, 202, body);
    d->stats.answered++;
}

void dispatch_on_message(const char *data, size_t len, void *arg)
{
    struct dispatch *d = arg;
    struct msg m;
    char err[TASK_ERR_LEN], quoted[LOG_VALUE_LEN];
    if (msg_decode(data, len, &m, err) != 0) {
        LOG_W("event=bad_message error=\"%s\"", log_escape(err, quoted, sizeof quoted));
        goto out;
    }
    if (m.kind == MSG_TASK || (m.kind == MSG_HISTORY && m.status == 0)) {
        LOG_W("event=bad_message error=\"a frontend takes only answers\" id=%s" LOG_TRACE, m.id,
              LOG_TRACE_ARG(m.trace));
        goto out;
    }
    const char *key = m.ref[0] ? m.ref : m.id;
    struct request *req = pending_lookup(d->pending, key);
    if (!req) {
        struct request *orphan = table_get(d->orphans, key);
        if (orphan) {
            d->stats.resolved++;
            unfollow(d, orphan);
        } else {
            d->stats.late++;
            LOG_D("event=late_answer id=%s" LOG_TRACE, key, LOG_TRACE_ARG(m.trace));
        }
        goto out;
    }
    if (req->async && m.kind == MSG_RESULT && m.retry_after_s == 0) {
        accept_async(d, req, &m);
        goto out;
    }
    release_replica(d, req);
    if (m.retry_after_s > 0) {
        snprintf(d->refusal, sizeof d->refusal, "%s", m.error);
        d->refusal_until_ms = d->io.now(d->io.ctx) + 1000LL * m.retry_after_s;
    }
    const char *id = m.kind == MSG_HISTORY ? req->history_of : req->task_id;
    LOG_D("event=answered task=%s" LOG_TRACE " status=%d", id, LOG_TRACE_ARG(req->trace.id), m.status);
    char *body;
    int found;
    if (m.kind == MSG_HISTORY && m.status == 200)
        body = taskview_render_array(id, m.history, &found);
    else if (m.status == 200)
        body = reply_ok(m.result, id);
    else
        body = reply_error(m.error, id);
    pending_answer_request(d->pending, req, m.status, body);
    d->stats.answered++;
out:
    msg_clear(&m);
}

size_t dispatch_in_flight(const struct dispatch *d)
{
    return pending_count(d->pending) + table_len(d->claiming);
}

void dispatch_get_stats(const struct dispatch *d, struct dispatch_stats *out)
{
    *out = d->stats;
}

/* At exit the registry (and its replica sets) may be gone already: only let go of the request. */
static void drop_orphan(void *value, void *arg)
{
    struct request *req = value;
    (void)arg;
    req->held = 0;
    request_release(req, 0);
}

void dispatch_free(struct dispatch *d)
{
    if (!d)
        return;
    each_orphan(d, drop_orphan);
    table_free(d->orphans);
    table_free(d->claiming);
    free(d);
}

static void collect_claiming(void *value, void *arg)
{
    struct request ***next = arg;
    *(*next)++ = value;
}

void dispatch_answer_claims(struct dispatch *d, const char *why)
{
    size_t n = table_len(d->claiming);
    struct request **items = calloc(n + 1, sizeof *items), **next = items;
    if (!items)
        return;
    table_each(d->claiming, collect_claiming, &next);
    for (size_t i = 0; i < n; i++) {
        table_remove(d->claiming, items[i]->id);
        pending_answer_request(d->pending, items[i], 503, reply_error(why, NULL));
    }
    free(items);
}
