/* Idempotency-Key records in Redis. */
#include "idem_store.h"

#include <hiredis/hiredis.h>
#include <stdlib.h>

#include "bus.h"
#include "log.h"

#define IDEM_STORE_PREFIX "taskbus:idem:"

struct claim {
    dispatch_claimed_fn cb;
    void *arg;
};

static void on_reply(struct redisReply *reply, void *arg)
{
    struct claim *c = arg;
    if (reply && reply->type == REDIS_REPLY_NIL)
        c->cb(0, NULL, c->arg);
    else if (reply && reply->type == REDIS_REPLY_STRING)
        c->cb(1, reply->str, c->arg);
    else {
        if (reply && reply->type == REDIS_REPLY_ERROR)
            LOG_E("event=idempotency_claim_failed error=\"%.200s\"", reply->str);
        c->cb(-1, NULL, c->arg);
    }
    free(c);
}

int idem_store_claim(struct bus *b, const char *key, const char *value, long ttl_s, dispatch_claimed_fn cb,
                     void *arg)
{
    struct claim *c = malloc(sizeof *c);
    if (!c)
        return -1;
    *c = (struct claim){ cb, arg };
    if (bus_command(b, on_reply, c, "SET " IDEM_STORE_PREFIX "%s %s NX GET EX %ld", key, value, ttl_s) != 0) {
        free(c);
        return -1;
    }
    return 0;
}

struct release {
    dispatch_unclaimed_fn cb;
    void *arg;
};

static void on_released(struct redisReply *reply, void *arg)
{
    struct release *r = arg;
    if (reply && reply->type == REDIS_REPLY_ERROR)
        LOG_E("event=idempotency_release_failed error=\"%.200s\"", reply->str);
    r->cb(r->arg);
    free(r);
}

int idem_store_release(struct bus *b, const char *key, dispatch_unclaimed_fn cb, void *arg)
{
    struct release *r = malloc(sizeof *r);
    if (!r)
        return -1;
    *r = (struct release){ cb, arg };
    if (bus_command(b, on_released, r, "DEL " IDEM_STORE_PREFIX "%s", key) != 0) {
        free(r);
        return -1;
    }
    return 0;
}
