/* Redis bus over hiredis async + libevent: publish connection, subscribe connection, reconnect, publish window,
 * bounded local queue, liveness watchdog and deferred failure callbacks. */
#include "bus.h"

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"

#define BUS_BACKOFF_MIN_MS 50
#define BUS_BACKOFF_MAX_MS 2000
/* Watchdog periods a connection may stay silent while its probe is unanswered before it is dropped. */
#define BUS_SILENT_PERIODS 2

/* One callback owed to a caller. The same object is a publish waiting in the local queue (with its own copy of the
 * channel and payload), a command in flight through hiredis (its privdata; no payload), or a failure waiting on the
 * 'failed' list for the loop to deliver it. */
struct call {
    struct call *next;
    struct bus *bus;
    int is_publish;
    bus_published_fn published;
    bus_reply_fn replied;
    void *arg;
    char *channel;
    size_t len;
    char data[];
};

/* One connection as the watchdog sees it. */
struct probe {
    int silent;  /* watchdog periods since this connection last answered anything */
    int out;     /* a probe was sent and is not answered yet */
    int ever;    /* it was up before: the next connect is a reconnect */
};

struct bus {
    struct event_base *base;
    struct bus_config cfg;
    char *channel;
    char *host;
    char *username, *password;         /* copies of the configured credentials (NULL: none) */
    redisAsyncContext *pub, *sub;
    int pub_up, sub_up, subscribed;
    long outstanding;                  /* publishes sent on 'pub' and not answered yet */
    struct call *head, *tail;          /* publishes waiting for the window */
    size_t queued;
    struct call *failed, *failed_tail; /* callbacks owed a failure, delivered by 'deliver' */
    struct event *retry, *deliver, *watchdog;
    struct probe pub_probe, sub_probe;
    struct bus_stats stats;
    long backoff_ms;
    int closing;
};

static void bus_connect(struct bus *b);

static void schedule_reconnect(struct bus *b)
{
    if (b->closing || evtimer_pending(b->retry, NULL))
        return;
    struct timeval tv = clock_timeval(b->backoff_ms);
    evtimer_add(b->retry, &tv);
    b->backoff_ms = b->backoff_ms * 2 > BUS_BACKOFF_MAX_MS ? BUS_BACKOFF_MAX_MS : b->backoff_ms * 2;
}

/* ---- failure delivery */

/* Put 'c' (taken over) on the list of failures and make the loop deliver them. Never calls back itself: this runs
 * inside hiredis's teardown of a connection, before the bus has finished saying that it is down. */
static void owe_failure(struct bus *b, struct call *c)
{
    c->next = NULL;
    if (b->failed_tail)
        b->failed_tail->next = c;
    else
        b->failed = c;
    b->failed_tail = c;
    if (!b->closing)
        event_active(b->deliver, EV_TIMEOUT, 0);
}

/* Run each failure that is owed now exactly once (-1, or a NULL reply) and free it. Failures added by the
 * callbacks themselves wait for the next activation, so one delivery is bounded by the list it started with. */
static void run_failures(struct bus *b)
{
    struct call *c = b->failed;
    b->failed = b->failed_tail = NULL;
    while (c) {
        struct call *next = c->next;
        if (c->is_publish) {
            b->stats.failed++;
            if (c->published)
                c->published(-1, c->arg);
        } else if (c->replied) {
            c->replied(NULL, c->arg);
        }
        free(c->channel);
        free(c);
        c = next;
    }
}

static void on_deliver(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    run_failures(arg);
}

/* ---- publish connection */

static void on_call_reply(redisAsyncContext *ac, void *r, void *privdata);

static int send_publish(struct bus *b, const char *channel, const char *data, size_t len,
                        bus_published_fn cb, void *arg)
{
    struct call *c = malloc(sizeof *c);
    if (!c)
        return -1;
    *c = (struct call){ .bus = b, .is_publish = 1, .published = cb, .arg = arg };
    /* As argv: hiredis's format string parser costs more than the publish's own work. */
    const char *argv[3] = { "PUBLISH", channel, data };
    const size_t lens[3] = { 7, strlen(channel), len };
    if (redisAsyncCommandArgv(b->pub, on_call_reply, c, 3, argv, lens) != REDIS_OK) {
        free(c);
        return -1;
    }
    b->outstanding++;
    return 0;
}

/* Move queued publishes into the window as replies make room. One that cannot be sent is owed a failure. */
static void drain_queue(struct bus *b)
{
    while (b->head && b->pub_up && b->outstanding < b->cfg.max_outstanding) {
        struct call *q = b->head;
        b->head = q->next;
        if (!b->head)
            b->tail = NULL;
        b->queued--;
        if (send_publish(b, q->channel, q->data, q->len, q->published, q->arg) != 0) {
            owe_failure(b, q);
            continue;
        }
        free(q->channel);
        free(q);
    }
}

static void on_call_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct call *c = privdata;
    struct bus *b = c->bus;
    redisReply *reply = r;
    if (!reply) {
        /* hiredis runs every pending callback with NULL while it tears the connection down, before our disconnect
         * callback: say "not connected" now, and let the loop deliver the failure afterwards. */
        if (ac == b->pub)
            b->pub_up = 0;
        owe_failure(b, c);
        return;
    }
    b->pub_probe.silent = 0;
    if (c->is_publish) {
        b->outstanding--;
        long long n = reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
        if (n < 0)
            b->stats.failed++;
        if (c->published)
            c->published(n, c->arg);
    } else if (c->replied) {
        c->replied(reply, c->arg);
    }
    free(c);
    if (!b->closing)
        drain_queue(b);
}

/* The watchdog's PING on the publish connection: an ordinary command there, answered "PONG" in order. */
static void on_pub_pong(redisAsyncContext *ac, void *r, void *privdata)
{
    (void)ac;
    struct bus *b = privdata;
    if (!r)
        return;
    b->pub_probe.silent = 0;
    b->pub_probe.out = 0;
}

/* The publish connection is gone (closed, failed, or dropped by the watchdog): mark it down and owe every queued
 * publish its failure (hiredis has already failed the ones in flight). Safe to call twice. */
static void pub_lost(struct bus *b)
{
    b->pub = NULL;
    b->pub_up = 0;
    b->outstanding = 0;
    b->pub_probe.silent = b->pub_probe.out = 0;
    while (b->head) {
        struct call *q = b->head;
        b->head = q->next;
        owe_failure(b, q);
    }
    b->tail = NULL;
    b->queued = 0;
}

/* ---- subscribe connection */

static void check_ready(struct bus *b)
{
    if (b->pub_up && b->sub_up && b->subscribed) {
        b->backoff_ms = BUS_BACKOFF_MIN_MS;
        LOG_I("event=bus_ready host=%s port=%d channel=%s reconnects=%llu watchdog_drops=%llu", b->host,
              b->cfg.port, b->channel, b->stats.reconnects, b->stats.watchdog_drops);
        drain_queue(b);
        if (b->cfg.on_ready)
            b->cfg.on_ready(b->cfg.arg);
    }
}

/* Everything on the subscribe connection arrives here: messages, the confirmation of our SUBSCRIBE, and the
 * watchdog's probes, which are that same SUBSCRIBE again (see send_sub_probe). */
static void on_sub_message(redisAsyncContext *ac, void *r, void *privdata)
{
    (void)ac;
    struct bus *b = privdata;
    redisReply *reply = r;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3)
        return;
    b->sub_probe.silent = 0;
    const redisReply *kind = reply->element[0];
    if (kind->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(kind->str, "message") == 0 && reply->element[2]->type == REDIS_REPLY_STRING) {
        b->cfg.on_message(reply->element[2]->str, reply->element[2]->len, b->cfg.arg);
    } else if (strcmp(kind->str, "subscribe") == 0) {
        b->sub_probe.out = 0;
        if (!b->subscribed) {
            b->subscribed = 1;
            check_ready(b);
        }
    }
}

/* Probe the subscribe connection by subscribing to our own channel again. Why not PING: a subscribed connection
 * answers PING with the array ["pong", ""] (RESP2), and hiredis 0.14.1 (async.c) mishandles it: the PING's own
 * callback is queued on ac->sub.invalid, which only non-array replies consume, so it never sees the pong and stays
 * queued until the context is freed (one leaked entry per probe); __redisGetSubscribeCallback takes the array for a
 * pattern reply (first word starts with 'p'), finds no pattern "" and leaves the callback untouched, and because
 * redisProcessCallbacks does not reset that callback between replies, the pong is dropped or handed to whichever
 * callback ran before it in the same read (checked against Redis 7.0 here). A SUBSCRIBE to a channel we already
 * have is harmless to Redis: it answers ["subscribe", channel, count] again, and no message is lost or doubled.
 * hiredis routes that answer through the channel's own callback (the SUBSCRIBE replaces the dict entry with the
 * same function and pending_subs + 1; the answer decrements it again), which is on_sub_message: so the answer
 * really arrives, after anything Redis sent before it, and nothing accumulates. */
static int send_sub_probe(struct bus *b)
{
    return redisAsyncCommand(b->sub, on_sub_message, b, "SUBSCRIBE %s", b->channel) == REDIS_OK ? 0 : -1;
}

static void sub_lost(struct bus *b)
{
    b->sub = NULL;
    b->sub_up = 0;
    b->subscribed = 0;
    b->sub_probe.silent = b->sub_probe.out = 0;
}

/* ---- connections */

/* A connection Redis accepted: the publish connection takes commands, the subscribe connection subscribes. */
static void connection_up(struct bus *b, const redisAsyncContext *ac)
{
    if (ac == b->pub) {
        b->pub_up = 1;
    } else {
        b->sub_up = 1;
        /* The first SUBSCRIBE is also the first probe: it must be confirmed within the watchdog's limit. */
        b->sub_probe.out = redisAsyncCommand(b->sub, on_sub_message, b, "SUBSCRIBE %s", b->channel) == REDIS_OK;
    }
    check_ready(b);
}

/* The answer to the first command of a connection: AUTH when credentials are configured, else PING (so a Redis
 * that wants a password says so at once, NOAUTH, instead of refusing every later command). Only an accepted answer
 * makes the connection usable. A refusal is logged with Redis's reason, which never holds the password, and the
 * connection is closed: like a failed connect, it is retried with backoff. */
static void on_hello(redisAsyncContext *ac, void *r, void *privdata)
{
    struct bus *b = privdata;
    redisReply *reply = r;
    if (!reply)
        return; /* torn down before the answer: its disconnect callback or the watchdog does the bookkeeping */
    struct probe *p = ac == b->pub ? &b->pub_probe : &b->sub_probe;
    p->silent = p->out = 0;
    if (reply->type == REDIS_REPLY_ERROR) {
        char user[64], reason[LOG_VALUE_LEN];
        b->stats.refused++;
        LOG_E("event=bus_auth_failed connection=%s host=%s port=%d user=\"%s\" password=%s error=\"%s\"",
              ac == b->pub ? "pub" : "sub", b->host, b->cfg.port,
              log_escape(b->cfg.username ? b->cfg.username : "default", user, sizeof user),
              b->cfg.password ? "set" : "none", log_escape(reply->str, reason, sizeof reason));
        redisAsyncDisconnect(ac); /* closes once this callback returns; the disconnect callback retries */
        return;
    }
    connection_up(b, ac);
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
    struct probe *p = is_pub ? &b->pub_probe : &b->sub_probe;
    if (p->ever)
        b->stats.reconnects++;
    *p = (struct probe){ .ever = 1 };
    /* AUTH must be the first command on every new connection, before SUBSCRIBE or anything else. */
    redisAsyncContext *c = is_pub ? b->pub : b->sub;
    int sent = b->cfg.password
                   ? (b->cfg.username ? redisAsyncCommand(c, on_hello, b, "AUTH %s %s", b->cfg.username,
                                                          b->cfg.password)
                                      : redisAsyncCommand(c, on_hello, b, "AUTH %s", b->cfg.password))
                   : redisAsyncCommand(c, on_hello, b, "PING");
    p->out = sent == REDIS_OK; /* unanswered for two watchdog periods: dropped and reconnected */
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct bus *b = ac->data;
    (void)status;
    int was_up;
    if (ac == b->pub) {
        was_up = b->pub_up;
        pub_lost(b);
    } else if (ac == b->sub) {
        was_up = b->sub_up;
        sub_lost(b);
    } else {
        return; /* dropped by the watchdog, which did the bookkeeping */
    }
    if (b->closing)
        return;
    if (was_up)
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
    /* TCP keepalive lets the kernel notice a dead peer on an idle connection; it matters when the watchdog is off or
     * slower than the keepalive. redisEnableKeepAlive is the public form of redisKeepAlive(c, 15) in 0.14.1 (whose
     * net.h is not installed): SO_KEEPALIVE with TCP_KEEPIDLE 15 s, TCP_KEEPINTVL 5 s and TCP_KEEPCNT 3, so a dead
     * peer is noticed ~30 s after the connection went idle. It only sets options on the (still connecting) socket,
     * but on failure it also sets the context's error, which would fail every later read and write: the connection
     * is still good, so clear the error and go on with the watchdog alone. */
    if (redisEnableKeepAlive(&ac->c) != REDIS_OK) {
        LOG_W("event=bus_keepalive_failed host=%s port=%d error=\"%s\"", b->host, b->cfg.port, ac->c.errstr);
        ac->c.err = 0;
        ac->c.errstr[0] = '\0';
    }
    ac->data = b;
    redisLibeventAttach(ac, b->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    return ac;
}

static void bus_connect(struct bus *b)
{
    if (!b->pub) {
        b->pub = open_context(b);
        b->pub_probe.silent = b->pub_probe.out = 0;
    }
    if (!b->sub) {
        b->sub = open_context(b);
        b->sub_probe.silent = b->sub_probe.out = 0;
    }
    if (!b->pub || !b->sub)
        schedule_reconnect(b);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    bus_connect(arg);
}

/* ---- watchdog */

/* Drop a connection that stopped answering. It is detached from the bus before hiredis frees it, so the disconnect
 * callback (which hiredis runs only for a connection that was established) ignores it, and a connection still
 * connecting, which gets no callback at all, is handled the same way. hiredis runs the pending callbacks with NULL
 * inside redisAsyncFree; they become owed failures. We are on a timer, not inside a hiredis callback, so the free
 * happens now. */
static void drop(struct bus *b, redisAsyncContext *ac)
{
    int is_pub = ac == b->pub;
    b->stats.watchdog_drops++;
    LOG_W("event=bus_watchdog_drop connection=%s host=%s port=%d state=%s silent_ms=%ld", is_pub ? "pub" : "sub",
          b->host, b->cfg.port, (ac->c.flags & REDIS_CONNECTED) ? "connected" : "connecting",
          BUS_SILENT_PERIODS * b->cfg.ping_ms);
    if (is_pub) {
        b->pub = NULL;
        b->pub_up = 0;
    } else {
        b->sub = NULL;
        b->sub_up = 0;
        b->subscribed = 0;
    }
    redisAsyncFree(ac);
    if (is_pub)
        pub_lost(b);
    else
        sub_lost(b);
    schedule_reconnect(b);
}

/* One watchdog period for one connection: drop it if it has been silent for too long with a probe out (or never
 * got established), otherwise send a probe unless one is out already. Returns nothing; errors to send a probe are
 * left to the next period. */
static void watch(struct bus *b, redisAsyncContext *ac, struct probe *p, int is_pub)
{
    if (!ac)
        return;
    if (p->silent >= BUS_SILENT_PERIODS) {
        drop(b, ac);
        return;
    }
    p->silent++;
    if (p->out)
        return;
    if (is_pub && b->pub_up)
        p->out = redisAsyncCommand(ac, on_pub_pong, b, "PING") == REDIS_OK;
    else if (!is_pub && b->subscribed)
        p->out = send_sub_probe(b) == 0;
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct bus *b = arg;
    watch(b, b->pub, &b->pub_probe, 1);
    watch(b, b->sub, &b->sub_probe, 0);
}

/* ---- API */

struct bus *bus_new(struct event_base *base, const struct bus_config *cfg)
{
    struct bus *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->base = base;
    b->cfg = *cfg;
    b->channel = strdup(cfg->channel);
    b->host = strdup(cfg->host);
    b->username = cfg->username ? strdup(cfg->username) : NULL;
    b->password = cfg->password ? strdup(cfg->password) : NULL;
    b->retry = evtimer_new(base, on_retry, b);
    b->deliver = event_new(base, -1, 0, on_deliver, b);
    if (cfg->ping_ms > 0)
        b->watchdog = event_new(base, -1, EV_PERSIST, on_watchdog, b);
    b->backoff_ms = BUS_BACKOFF_MIN_MS;
    if (!b->channel || !b->host || !b->retry || !b->deliver || (cfg->ping_ms > 0 && !b->watchdog) ||
        (cfg->username && !b->username) || (cfg->password && !b->password)) {
        bus_free(b);
        return NULL;
    }
    b->cfg.channel = b->channel;
    b->cfg.host = b->host;
    b->cfg.username = b->username;
    b->cfg.password = b->password;
    if (b->watchdog) {
        struct timeval tv = clock_timeval(cfg->ping_ms);
        event_add(b->watchdog, &tv);
    }
    bus_connect(b);
    return b;
}

int bus_publish(struct bus *b, const char *channel, const char *data, size_t len, bus_published_fn cb, void *arg)
{
    if (!b->pub_up)
        return -1;
    if (b->outstanding < b->cfg.max_outstanding && !b->head) {
        if (send_publish(b, channel, data, len, cb, arg) != 0)
            return -1;
        b->stats.published++;
        return 0;
    }
    if (b->cfg.max_queued <= 0 || b->queued >= (size_t)b->cfg.max_queued)
        return -1;
    struct call *q = malloc(sizeof *q + len);
    if (!q)
        return -1;
    *q = (struct call){ .bus = b, .is_publish = 1, .published = cb, .arg = arg, .len = len };
    q->channel = strdup(channel);
    if (!q->channel) {
        free(q);
        return -1;
    }
    memcpy(q->data, data, len);
    if (b->tail)
        b->tail->next = q;
    else
        b->head = q;
    b->tail = q;
    b->queued++;
    if (b->queued > b->stats.max_queued)
        b->stats.max_queued = b->queued;
    b->stats.published++;
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

int bus_command_argv(struct bus *b, bus_reply_fn cb, void *arg, int argc, const char **argv, const size_t *lens)
{
    if (!b->pub_up)
        return -1;
    struct call *c = malloc(sizeof *c);
    if (!c)
        return -1;
    *c = (struct call){ .bus = b, .replied = cb, .arg = arg };
    if (redisAsyncCommandArgv(b->pub, on_call_reply, c, argc, argv, lens) != REDIS_OK) {
        free(c);
        return -1;
    }
    return 0;
}

int bus_is_ready(const struct bus *b)
{
    return b->pub_up && b->sub_up && b->subscribed;
}

size_t bus_queued(const struct bus *b)
{
    return b->queued;
}

void bus_get_stats(const struct bus *b, struct bus_stats *out)
{
    *out = b->stats;
    out->queued = b->queued;
    out->outstanding = (size_t)b->outstanding;
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
    pub_lost(b); /* a connection that never got established gets no disconnect callback */
    sub_lost(b);
    run_failures(b);
    if (b->watchdog)
        event_free(b->watchdog);
    if (b->deliver)
        event_free(b->deliver);
    if (b->retry)
        event_free(b->retry);
    free(b->channel);
    free(b->host);
    free(b->username);
    if (b->password) /* not left behind in freed memory */
        explicit_bzero(b->password, strlen(b->password));
    free(b->password);
    free(b);
}
