/* Sending tasks and history queries to events replicas, and matching their answers to pending requests. */
#include "dispatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "msg.h"
#include "reply.h"
#include "route.h"

#define DISPATCH_MAX_ATTEMPTS 4

struct dispatch {
    struct dispatch_io io;
    struct replica_set *events;
    struct pending *pending;
    char self_id[REPLICA_ID_LEN];
    char channel[REPLICA_ID_LEN + 16];
    char id_prefix[17];
    unsigned long long counter;
    long timeout_ms;
    struct dispatch_stats stats;
};

struct dispatch *dispatch_new(const struct dispatch_io *io, struct replica_set *events, struct pending *pending,
                              const char *self_id, long timeout_ms)
{
    struct dispatch *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->io = *io;
    d->events = events;
    d->pending = pending;
    d->timeout_ms = timeout_ms;
    snprintf(d->self_id, sizeof d->self_id, "%s", self_id);
    snprintf(d->channel, sizeof d->channel, "taskbus:%s", self_id);
    unsigned char rnd[8];
    clock_random(rnd, sizeof rnd);
    for (int i = 0; i < 8; i++)
        snprintf(d->id_prefix + 2 * i, 3, "%02x", rnd[i]);
    return d;
}

/* A fresh id: this replica's random prefix and a fixed-width counter (every answer has the same length, which
 * keeps ab from counting answers as "failed" for their length), unique without coordination. */
static void next_id(struct dispatch *d, char *id)
{
    snprintf(id, TASK_ID_LEN, "%s-%012llx", d->id_prefix, ++d->counter);
}

static void release_replica(struct dispatch *d, struct request *req)
{
    struct replica *rep = req->events_id[0] ? replica_find(d->events, req->events_id) : NULL;
    if (rep && rep->outstanding > 0)
        rep->outstanding--;
    req->events_id[0] = '\0';
}

static void on_published(long long receivers, void *arg);

/* Publish req->outbound to the least loaded live events replica. Returns 0, or -1 when none can take it. */
static int send_outbound(struct dispatch *d, struct request *req)
{
    struct replica *rep = replica_pick(d->events, d->io.now(d->io.ctx));
    if (!rep)
        return -1;
    char channel[REPLICA_ID_LEN + 16];
    snprintf(channel, sizeof channel, "taskbus:%s", rep->id);
    if (d->io.publish(d->io.ctx, channel, req->outbound, strlen(req->outbound), on_published, req) != 0)
        return -1;
    snprintf(req->events_id, sizeof req->events_id, "%s", rep->id);
    rep->outstanding++;
    req->publishing++;
    return 0;
}

static void on_published(long long receivers, void *arg)
{
    struct request *req = arg;
    struct dispatch *d = req->via;
    req->publishing--;
    if (receivers <= 0 && req->state == REQUEST_WAITING) {
        char error[TASK_ERR_LEN];
        /* 0: that events replica is gone, nobody received the message, so sending it elsewhere cannot run the
         * task twice. -1: the bus failed; the retry below fails too until it is back. */
        if (receivers == 0)
            replica_set_remove(d->events, req->events_id);
        else
            release_replica(d, req);
        req->events_id[0] = '\0';
        d->stats.redispatched++;
        if (req->attempts++ >= DISPATCH_MAX_ATTEMPTS || send_outbound(d, req) != 0) {
            snprintf(error, sizeof error, "no events replica could take the request");
            pending_answer_request(d->pending, req, 503, reply_error(error, req->id));
        }
    }
    request_release(req, 0);
}

/* Encode 'm' as the request's outbound message, send it, and register the request as pending. */
static int dispatch_send(struct dispatch *d, struct request *req, struct msg *m, char *err)
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
    if (send_outbound(d, req) != 0) {
        snprintf(err, TASK_ERR_LEN, "no events replica is alive");
        return -1;
    }
    if (pending_add(d->pending, req) != 0) {
        /* The message is out; its answer will find no request and be dropped as late. */
        release_replica(d, req);
        snprintf(err, TASK_ERR_LEN, "out of memory");
        return -1;
    }
    d->stats.sent++;
    return 0;
}

int dispatch_task(struct dispatch *d, struct request *req, const struct task *t, char *err)
{
    struct msg m = { .kind = MSG_TASK, .task = *t, .timeout_ms = d->timeout_ms };
    next_id(d, req->id);
    memcpy(m.id, req->id, sizeof m.id);
    /* The body is valid UTF-8 JSON without NUL (classification checked it), so it can be logged as a string. */
    req->body[req->len] = '\0';
    m.request = req->body;
    return dispatch_send(d, req, &m, err);
}

int dispatch_history(struct dispatch *d, struct request *req, char *err)
{
    struct msg m = { .kind = MSG_HISTORY, .request = req->history_of };
    next_id(d, req->id);
    memcpy(m.id, req->id, sizeof m.id);
    return dispatch_send(d, req, &m, err);
}

void dispatch_forget(struct dispatch *d, struct request *req)
{
    release_replica(d, req);
}

void dispatch_on_message(const char *data, size_t len, void *arg)
{
    struct dispatch *d = arg;
    struct msg m;
    char err[TASK_ERR_LEN];
    if (msg_decode(data, len, &m, err) != 0) {
        /* A failed decode leaves 'kind' zeroed (MSG_TASK): log the decoder's reason, not the kind's. */
        LOG_W("event=bad_message error=\"%s\"", err);
        goto out;
    }
    if (m.kind == MSG_TASK) {
        LOG_W("event=bad_message error=\"a frontend takes no tasks\" id=%s", m.id);
        goto out;
    }
    struct request *req = pending_lookup(d->pending, m.id);
    if (!req) {
        d->stats.late++;
        LOG_D("event=late_answer id=%s", m.id);
        goto out;
    }
    release_replica(d, req);
    /* A history answer may leave out its status; never hand MHD a status that is not one. */
    int status = m.status >= 100 && m.status <= 599 ? m.status : 502;
    const char *id = m.kind == MSG_HISTORY ? req->history_of : req->id;
    char *body;
    if (m.kind == MSG_HISTORY && status == 200)
        body = reply_history(id, m.history ? m.history : "[]");
    else if (status == 200)
        body = reply_ok(m.result ? m.result : "", id);
    else if (status != m.status)
        body = reply_error("the events replica sent an answer without a valid status", id);
    else
        body = reply_error(m.error ? m.error : "failed", id);
    pending_answer_request(d->pending, req, status, body);
    d->stats.answered++;
out:
    msg_clear(&m);
}

void dispatch_get_stats(const struct dispatch *d, struct dispatch_stats *out)
{
    *out = d->stats;
}

void dispatch_free(struct dispatch *d)
{
    free(d);
}
