/* Task answers kept in Redis for handoffs: SET with an expiry, GET. */
#include "outcome.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>

#include "bus.h"

int outcome_save(struct bus *b, const char *task_id, const char *answer, size_t len, long ttl_s)
{
    char key[128];
    if (ttl_s <= 0)
        return 0;
    snprintf(key, sizeof key, OUTCOME_KEY_FMT, task_id);
    return bus_command(b, NULL, NULL, "SET %s %b EX %ld", key, answer, len, ttl_s);
}

struct load {
    outcome_loaded_fn cb;
    void *arg;
};

static void on_get(struct redisReply *reply, void *arg)
{
    struct load *l = arg;
    if (reply && reply->type == REDIS_REPLY_STRING)
        l->cb(reply->str, reply->len, l->arg);
    else
        l->cb(NULL, 0, l->arg);
    free(l);
}

int outcome_load(struct bus *b, const char *task_id, outcome_loaded_fn cb, void *arg)
{
    char key[128];
    struct load *l = malloc(sizeof *l);
    if (!l)
        return -1;
    *l = (struct load){ cb, arg };
    snprintf(key, sizeof key, OUTCOME_KEY_FMT, task_id);
    if (bus_command(b, on_get, l, "GET %s", key) != 0) {
        free(l);
        return -1;
    }
    return 0;
}
