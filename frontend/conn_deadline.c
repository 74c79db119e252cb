/* Per-connection deadlines for the request head and body, and shutting down connections that miss them. */
#include "conn_deadline.h"

#include <event2/event.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "clock.h"
#include "log.h"

enum phase { PHASE_HEAD, PHASE_BODY, PHASE_NONE, PHASE_NEXT, PHASE_EXPIRED };

struct conn_deadlines {
    struct event_base *base;
    long head_ms, body_ms, next_ms;
    const struct timeval *head_tv, *body_tv, *next_tv; /* libevent common timeouts */
    struct conn_deadline_stats stats;
};

struct conn_deadline {
    struct conn_deadlines *owner;
    struct event *timer;
    int fd;
    enum phase phase;
    long long due_ms; /* monotonic; meaningful in PHASE_HEAD and PHASE_NEXT */
};

static void on_expired(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn_deadline *c = arg;
    struct conn_deadlines *d = c->owner;
    int head = c->phase != PHASE_BODY;
    if (head)
        d->stats.head_expired++;
    else
        d->stats.body_expired++;
    LOG_D("event=slow_client_closed phase=%s fd=%d", head ? "head" : "body", c->fd);
    c->phase = PHASE_EXPIRED;
    /* Both directions: libmicrohttpd's next read sees the end of the stream, and it closes the connection. */
    shutdown(c->fd, SHUT_RDWR);
}

/* Start (or restart) the timer on one of the common timeouts. */
static void arm(struct conn_deadline *c, enum phase phase, const struct timeval *tv, long ms)
{
    c->phase = phase;
    c->due_ms = clock_mono_ms() + ms;
    evtimer_add(c->timer, tv);
}

static void disarm(struct conn_deadline *c, enum phase phase)
{
    c->phase = phase;
    evtimer_del(c->timer);
}

struct conn_deadlines *conn_deadlines_new(struct event_base *base, long head_ms, long body_ms, long idle_ms)
{
    struct conn_deadlines *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->base = base;
    d->head_ms = head_ms;
    d->body_ms = body_ms;
    d->next_ms = idle_ms + head_ms;
    struct timeval head = clock_timeval(head_ms), body = clock_timeval(body_ms), next = clock_timeval(d->next_ms);
    d->head_tv = event_base_init_common_timeout(base, &head);
    d->body_tv = event_base_init_common_timeout(base, &body);
    d->next_tv = event_base_init_common_timeout(base, &next);
    if (!d->head_tv || !d->body_tv || !d->next_tv) {
        free(d);
        return NULL;
    }
    return d;
}

void conn_deadlines_free(struct conn_deadlines *d)
{
    free(d);
}

void conn_deadlines_get_stats(const struct conn_deadlines *d, struct conn_deadline_stats *out)
{
    *out = d->stats;
}

struct conn_deadline *conn_deadline_open(struct conn_deadlines *d, int fd)
{
    struct conn_deadline *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->owner = d;
    c->fd = fd;
    c->timer = evtimer_new(d->base, on_expired, c);
    if (!c->timer) {
        free(c);
        return NULL;
    }
    d->stats.open++;
    arm(c, PHASE_HEAD, d->head_tv, d->head_ms);
    return c;
}

void conn_deadline_request_line(struct conn_deadline *c)
{
    if (c->phase != PHASE_NEXT)
        return;
    struct conn_deadlines *d = c->owner;
    if (c->due_ms > clock_mono_ms() + d->head_ms)
        arm(c, PHASE_HEAD, d->head_tv, d->head_ms);
    else
        c->phase = PHASE_HEAD; /* the earlier deadline keeps running */
}

void conn_deadline_head_done(struct conn_deadline *c)
{
    if (c->phase == PHASE_EXPIRED)
        return;
    arm(c, PHASE_BODY, c->owner->body_tv, c->owner->body_ms);
}

void conn_deadline_body_done(struct conn_deadline *c)
{
    if (c->phase != PHASE_EXPIRED)
        disarm(c, PHASE_NONE);
}

void conn_deadline_request_done(struct conn_deadline *c)
{
    if (c->phase == PHASE_EXPIRED)
        return;
    arm(c, PHASE_NEXT, c->owner->next_tv, c->owner->next_ms);
}

void conn_deadline_close(struct conn_deadline *c)
{
    if (!c)
        return;
    c->owner->stats.open--;
    event_free(c->timer);
    free(c);
}
