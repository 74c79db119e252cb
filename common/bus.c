/* Redis bus over hiredis async + libevent: publish connection, subscribe connection, reconnect, publish window. */
#include "bus.h"

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define BUS_BACKOFF_MIN_MS 50
#define BUS_BACKOFF_MAX_MS 2000

/* A publish waiting for room in the window; owns its copy of the channel and payload. */
struct queued {
    struct queued *next;
    bus_published_fn cb;
    void *arg;
    size_t len;
    char *channel;
    char data[];
};

/* What travels with one command through hiredis as privdata. */
struct call {
    struct bus *bus;
    int is_publish;
    bus_published_fn published;
    bus_reply_fn replied;
    void *arg;
};

struct bus {
    struct event_base *base;
    struct bus_config cfg;
    char *channel;
    char *host;
    redisAsyncContext *pub, *sub;
    int pub_up, sub_up, subscribed;
    long outstanding;                 /* publishes sent on 'pub' and not answered yet */
    struct queued *head, *tail;       /* publishes waiting for the window */
    struct event *retry;
    long backoff_ms;
    int closing;
};

static void bus_connect(struct bus *b);

static void schedule_reconnect(struct bus *b)
{
    if (b->closing || evtimer_pending(b->retry, NULL))
        return;
    struct timeval tv = { b->backoff_ms / 1000, (b->backoff_ms % 1000) * 1000 };
    evtimer_add(b->retry, &tv);
    b->backoff_ms = b->backoff_ms * 2 > BUS_BACKOFF_MAX_MS ? BUS_BACKOFF_MAX_MS : b->backoff_ms * 2;
}

static void fail_queue(struct bus *b)
{
    while (b->head) {
        struct queued *q = b->head;
        b->head = q->next;
        if (q->cb)
            q->cb(-1, q->arg);
        free(q->channel);
        free(q);
    }
    b->tail = NULL;
}

static void on_call_reply(redisAsyncContext *ac, void *r, void *privdata);

static int send_publish(struct bus *b, const char *channel, const char *data, size_t len,
                        bus_published_fn cb, void *arg)
{
    struct call *c = malloc(sizeof *c);
    if (!c)
        return -1;
    *c = (struct call){ .bus = b, .is_publish = 1, .published = cb, .arg = arg };
    if (redisAsyncCommand(b->pub, on_call_reply, c, "PUBLISH %s %b", channel, data, len) != REDIS_OK) {
        free(c);
        return -1;
    }
    b->outstanding++;
    return 0;
}

/* Move queued publishes into the window as replies make room. */
static void drain_queue(struct bus *b)
{
    while (b->head && b->pub_up && b->outstanding < b->cfg.max_outstanding) {
        struct queued *q = b->head;
        b->head = q->next;
        if (!b->head)
            b->tail = NULL;
        if (send_publish(b, q->channel, q->data, q->len, q->cb, q->arg) != 0 && q->cb)
            q->cb(-1, q->arg);
        free(q->channel);
        free(q);
    }
}

static void on_call_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    (void)ac;
    struct call *c = privdata;
    struct bus *b = c->bus;
    redisReply *reply = r;
    if (c->is_publish) {
        b->outstanding--;
        long long n = reply && reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
        if (c->published)
            c->published(n, c->arg);
    } else if (c->replied) {
        c->replied(reply, c->arg);
    }
    free(c);
    if (!b->closing)
        drain_queue(b);
}

static void check_ready(struct bus *b)
{
    if (b->pub_up && b->sub_up && b->subscribed) {
        b->backoff_ms = BUS_BACKOFF_MIN_MS;
        LOG_I("event=bus_ready host=%s port=%d channel=%s", b->host, b->cfg.port, b->channel);
        drain_queue(b);
        if (b->cfg.on_ready)
            b->cfg.on_ready(b->cfg.arg);
    }
}

static void on_sub_message(redisAsyncContext *ac, void *r, void *privdata)
{
    (void)ac;
    struct bus *b = privdata;
    redisReply *reply = r;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3)
        return;
    const redisReply *kind = reply->element[0];
    if (kind->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(kind->str, "message") == 0 && reply->element[2]->type == REDIS_REPLY_STRING) {
        b->cfg.on_message(reply->element[2]->str, reply->element[2]->len, b->cfg.arg);
    } else if (strcmp(kind->str, "subscribe") == 0) {
        b->subscribed = 1;
        check_ready(b);
    }
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct bus *b = ac->data;
    int is_pub = ac == b->pub;
    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback, without a disconnect callback. */
        LOG_W("event=bus_connect_failed host=%s port=%d error=\"%s\"", b->host, b->cfg.port, ac->errstr);
        if (is_pub)
            b->pub = NULL;
        else
            b->sub = NULL;
        schedule_reconnect(b);
        return;
    }
    if (is_pub) {
        b->pub_up = 1;
    } else {
        b->sub_up = 1;
        redisAsyncCommand(b->sub, on_sub_message, b, "SUBSCRIBE %s", b->channel);
    }
    check_ready(b);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct bus *b = ac->data;
    (void)status;
    if (ac == b->pub) {
        b->pub = NULL;
        b->pub_up = 0;
        b->outstanding = 0;
        fail_queue(b);
    } else {
        b->sub = NULL;
        b->sub_up = 0;
        b->subscribed = 0;
    }
    if (b->closing)
        return;
    LOG_W("event=bus_disconnected host=%s port=%d error=\"%s\"", b->host, b->cfg.port, ac->errstr);
    schedule_reconnect(b);
}

static redisAsyncContext *open_context(struct bus *b)
{
    redisAsyncContext *ac = redisAsyncConnect(b->host, b->cfg.port);
    if (!ac)
        return NULL;
    if (ac->err) {
        LOG_W("event=bus_connect_failed host=%s port=%d error=\"%s\"", b->host, b->cfg.port, ac->errstr);
        redisAsyncFree(ac);
        return NULL;
    }
    ac->data = b;
    redisLibeventAttach(ac, b->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    return ac;
}

static void bus_connect(struct bus *b)
{
    if (!b->pub)
        b->pub = open_context(b);
    if (!b->sub)
        b->sub = open_context(b);
    if (!b->pub || !b->sub)
        schedule_reconnect(b);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    bus_connect(arg);
}

struct bus *bus_new(struct event_base *base, const struct bus_config *cfg)
{
    struct bus *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->base = base;
    b->cfg = *cfg;
    b->channel = strdup(cfg->channel);
    b->host = strdup(cfg->host);
    b->retry = evtimer_new(base, on_retry, b);
    b->backoff_ms = BUS_BACKOFF_MIN_MS;
    if (!b->channel || !b->host || !b->retry) {
        bus_free(b);
        return NULL;
    }
    b->cfg.channel = b->channel;
    b->cfg.host = b->host;
    bus_connect(b);
    return b;
}

int bus_publish(struct bus *b, const char *channel, const char *data, size_t len, bus_published_fn cb, void *arg)
{
    if (!b->pub_up)
        return -1;
    if (b->outstanding < b->cfg.max_outstanding && !b->head)
        return send_publish(b, channel, data, len, cb, arg);
    struct queued *q = malloc(sizeof *q + len);
    if (!q)
        return -1;
    q->channel = strdup(channel);
    if (!q->channel) {
        free(q);
        return -1;
    }
    q->next = NULL;
    q->cb = cb;
    q->arg = arg;
    q->len = len;
    memcpy(q->data, data, len);
    if (b->tail)
        b->tail->next = q;
    else
        b->head = q;
    b->tail = q;
    return 0;
}

int bus_command(struct bus *b, bus_reply_fn cb, void *arg, const char *fmt, ...)
{
    if (!b->pub_up)
        return -1;
    struct call *c = malloc(sizeof *c);
    if (!c)
        return -1;
    *c = (struct call){ .bus = b, .replied = cb, .arg = arg };
    va_list ap;
    va_start(ap, fmt);
    int rc = redisvAsyncCommand(b->pub, on_call_reply, c, fmt, ap);
    va_end(ap);
    if (rc != REDIS_OK) {
        free(c);
        return -1;
    }
    return 0;
}

int bus_is_ready(const struct bus *b)
{
    return b->pub_up && b->sub_up && b->subscribed;
}

void bus_free(struct bus *b)
{
    if (!b)
        return;
    b->closing = 1;
    b->pub_up = b->sub_up = b->subscribed = 0;
    if (b->pub)
        redisAsyncFree(b->pub);
    if (b->sub)
        redisAsyncFree(b->sub);
    fail_queue(b);
    if (b->retry)
        event_free(b->retry);
    free(b->channel);
    free(b->host);
    free(b);
}
