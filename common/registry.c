/* Heartbeats into and refreshes from the Redis replica registry. */
#include "registry.h"

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "clock.h"
#include "log.h"

#define REGISTRY_MAX_WATCHED 4
#define REGISTRY_KEY_LEN 128

struct watched {
    struct registry *reg;
    char key[REGISTRY_KEY_LEN];
    struct replica_set set;
};

struct registry {
    struct bus *bus;
    struct event *timer;
    char self_key[REGISTRY_KEY_LEN];
    char self_id[REPLICA_ID_LEN];
    long heartbeat_ms, ttl_ms;
    int leaving;
    struct watched watched[REGISTRY_MAX_WATCHED];
    size_t n_watched;
    registry_refresh_fn on_refresh;
    void *arg;
};

static void registry_key(char *buf, const char *service)
{
    snprintf(buf, REGISTRY_KEY_LEN, "taskbus:replicas:%s", service);
}

/* Replace the set's members by the reply of ZRANGEBYSCORE ... WITHSCORES, keeping outstanding counts. */
static void on_range(struct redisReply *reply, void *arg)
{
    struct watched *w = arg;
    if (!reply || reply->type != REDIS_REPLY_ARRAY)
        return;
    struct replica_set *set = &w->set;
    for (size_t i = 0; i < set->len; i++)
        set->items[i].expires_ms = 0;
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
        const redisReply *id = reply->element[i], *score = reply->element[i + 1];
        if (id->type != REDIS_REPLY_STRING || score->type != REDIS_REPLY_STRING)
            continue;
        replica_set_upsert(set, id->str, atoll(score->str));
    }
    replica_set_expire(set, 1);
    if (w == &w->reg->watched[w->reg->n_watched - 1] && w->reg->on_refresh)
        w->reg->on_refresh(w->reg->arg);
}

void registry_beat(struct registry *r)
{
    long long now = clock_wall_ms();
    if (!r->leaving) {
        bus_command(r->bus, NULL, NULL, "ZADD %s %lld %s", r->self_key, now + r->ttl_ms, r->self_id);
        /* Entries of replicas that died without leaving; a minute keeps the set small. */
        bus_command(r->bus, NULL, NULL, "ZREMRANGEBYSCORE %s -inf %lld", r->self_key, now - 60000);
    }
    for (size_t i = 0; i < r->n_watched; i++)
        bus_command(r->bus, on_range, &r->watched[i], "ZRANGEBYSCORE %s %lld +inf WITHSCORES",
                    r->watched[i].key, now);
    struct timeval tv = clock_timeval(r->heartbeat_ms);
    evtimer_add(r->timer, &tv);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    registry_beat(arg);
}

struct registry *registry_new(struct event_base *base, struct bus *bus, const char *self_service,
                              const char *self_id, long heartbeat_ms, long ttl_ms,
                              registry_refresh_fn on_refresh, void *arg)
{
    struct registry *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->bus = bus;
    r->heartbeat_ms = heartbeat_ms;
    r->ttl_ms = ttl_ms;
    r->on_refresh = on_refresh;
    r->arg = arg;
    registry_key(r->self_key, self_service);
    snprintf(r->self_id, sizeof r->self_id, "%s", self_id);
    r->timer = evtimer_new(base, on_timer, r);
    if (!r->timer) {
        free(r);
        return NULL;
    }
    return r;
}

struct replica_set *registry_watch(struct registry *r, const char *service)
{
    for (size_t i = 0; i < r->n_watched; i++) {
        char key[REGISTRY_KEY_LEN];
        registry_key(key, service);
        if (strcmp(key, r->watched[i].key) == 0)
            return &r->watched[i].set;
    }
    if (r->n_watched == REGISTRY_MAX_WATCHED)
        return NULL;
    struct watched *w = &r->watched[r->n_watched++];
    w->reg = r;
    registry_key(w->key, service);
    return &w->set;
}

void registry_leave(struct registry *r)
{
    r->leaving = 1;
    bus_command(r->bus, NULL, NULL, "ZREM %s %s", r->self_key, r->self_id);
}

void registry_free(struct registry *r)
{
    if (!r)
        return;
    event_free(r->timer);
    for (size_t i = 0; i < r->n_watched; i++)
        replica_set_clear(&r->watched[i].set);
    free(r);
}
