/* Task answers kept in Redis: SET NX GET with an expiry, SET, GET. */
#include "outcome.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"

/* The caller's callback, carried through hiredis. */
struct call {
    outcome_kept_fn kept;
    outcome_loaded_fn loaded;
    void *arg;
};

static void key_of(char *key, size_t size, const char *task_id)
{
    snprintf(key, size, OUTCOME_KEY_FMT, task_id);
}

static void on_keep(struct redisReply *reply, void *arg)
{
    struct call *c = arg;
    if (reply && reply->type == REDIS_REPLY_NIL)
        c->kept(0, NULL, 0, c->arg);
    else if (reply && reply->type == REDIS_REPLY_STRING)
        c->kept(1, reply->str, reply->len, c->arg);
    else
        c->kept(-1, NULL, 0, c->arg);
    free(c);
}

int outcome_keep(struct bus *b, const char *task_id, const char *answer, size_t len, long ttl_s, outcome_kept_fn cb,
                 void *arg)
{
    char key[128];
    struct call *c = malloc(sizeof *c);
    if (!c)
        return -1;
    *c = (struct call){ .kept = cb, .arg = arg };
    key_of(key, sizeof key, task_id);
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%ld", ttl_s);
    const char *argv[7] = { "SET", key, answer, "NX", "GET", "EX", ttl };
    const size_t lens[7] = { 3, strlen(key), len, 2, 3, 2, strlen(ttl) };
    if (bus_command_argv(b, on_keep, c, 7, argv, lens) != 0) {
        free(c);
        return -1;
    }
    return 0;
}

int outcome_replace(struct bus *b, const char *task_id, const char *answer, size_t len, long ttl_s)
{
    char key[128];
    key_of(key, sizeof key, task_id);
    return bus_command(b, NULL, NULL, "SET %s %b EX %ld", key, answer, len, ttl_s);
}

static void on_get(struct redisReply *reply, void *arg)
{
    struct call *c = arg;
    if (reply && reply->type == REDIS_REPLY_STRING)
        c->loaded(reply->str, reply->len, c->arg);
    else
        c->loaded(NULL, 0, c->arg);
    free(c);
}

int outcome_load(struct bus *b, const char *task_id, outcome_loaded_fn cb, void *arg)
{
    char key[128];
    struct call *c = malloc(sizeof *c);
    if (!c)
        return -1;
    *c = (struct call){ .loaded = cb, .arg = arg };
    key_of(key, sizeof key, task_id);
    if (bus_command(b, on_get, c, "GET %s", key) != 0) {
        free(c);
        return -1;
    }
    return 0;
}
