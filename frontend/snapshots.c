/* The dashboard's read of every live snapshot: two commands on the bus, then the pure rendering. */
#include "snapshots.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "dashboard.h"
#include "telemetry.h"

#define SNAPSHOTS_MAX_SKEW_MS 60000  /* clocks of the hosts may differ this much */
#define SNAPSHOTS_BUS_DOWN "the message bus (Redis) is not reachable"
#define SNAPSHOTS_REFUSED "redis refused the read of the metrics snapshots"
#define SNAPSHOTS_ID_MAX 128 /* a longer member cannot be a replica id: it is left out */

/* A read in flight; freed by finish(), which runs exactly once. */
struct read {
    struct bus *bus;
    snapshots_fn cb;
    void *arg;
    long long now_ms;
};

static void finish(struct read *rd, char *body, const char *err)
{
    rd->cb(body, body ? NULL : err, rd->arg);
    free(rd);
}

/* Render the snapshots of 'reply' (MGET's answer: strings, or nil for a key that expired since the first read). */
static void render(struct read *rd, const struct redisReply *reply)
{
    const char *texts[DASHBOARD_MAX_REPLICAS];
    size_t lens[DASHBOARD_MAX_REPLICAS], n = 0, len = 0;
    for (size_t i = 0; reply && i < reply->elements && n < DASHBOARD_MAX_REPLICAS; i++, n++) {
        const struct redisReply *e = reply->element[i];
        texts[n] = e->type == REDIS_REPLY_STRING ? e->str : NULL;
        lens[n] = e->type == REDIS_REPLY_STRING ? e->len : 0;
    }
    finish(rd, dashboard_stats_render(texts, lens, n, rd->now_ms, &len), "out of memory");
}

static void on_values(struct redisReply *reply, void *arg)
{
    struct read *rd = arg;
    if (!reply || reply->type != REDIS_REPLY_ARRAY)
        finish(rd, NULL, reply ? SNAPSHOTS_REFUSED : SNAPSHOTS_BUS_DOWN);
    else
        render(rd, reply);
}

/* The live replicas are known: read their snapshots in one MGET (none: answer at once). */
static void on_members(struct redisReply *reply, void *arg)
{
    struct read *rd = arg;
    if (!reply || reply->type != REDIS_REPLY_ARRAY) {
        finish(rd, NULL, reply ? SNAPSHOTS_REFUSED : SNAPSHOTS_BUS_DOWN);
        return;
    }
    enum { KEY_MAX = sizeof TELEMETRY_STATS_KEY + SNAPSHOTS_ID_MAX };
    const char *argv[DASHBOARD_MAX_REPLICAS + 1];
    size_t lens[DASHBOARD_MAX_REPLICAS + 1];
    char (*keys)[KEY_MAX] = malloc(DASHBOARD_MAX_REPLICAS * sizeof *keys);
    int argc = 1;
    if (!keys) {
        finish(rd, NULL, "out of memory");
        return;
    }
    argv[0] = "MGET";
    lens[0] = 4;
    for (size_t i = 0; i < reply->elements && argc <= DASHBOARD_MAX_REPLICAS; i++) {
        const struct redisReply *m = reply->element[i];
        if (m->type != REDIS_REPLY_STRING || m->len == 0 || m->len > SNAPSHOTS_ID_MAX || memchr(m->str, '\0', m->len))
            continue;
        char *key = keys[argc - 1];
        snprintf(key, KEY_MAX, TELEMETRY_STATS_KEY, m->str);
        argv[argc] = key;
        lens[argc++] = strlen(key);
    }
    if (argc == 1)
        render(rd, NULL);
    else if (bus_command_argv(rd->bus, on_values, rd, argc, argv, lens) != 0)
        finish(rd, NULL, SNAPSHOTS_BUS_DOWN);
    free(keys);
}

int snapshots_read(struct bus *bus, long long now_ms, snapshots_fn cb, void *arg)
{
    struct read *rd = malloc(sizeof *rd);
    if (!rd)
        return -1;
    *rd = (struct read){ bus, cb, arg, now_ms };
    /* Live entries only: an expiry further ahead than a snapshot ever lives (plus clock skew between hosts) was not
     * written by a replica, and must not push real ones past the cap. */
    if (bus_command(bus, on_members, rd, "ZRANGEBYSCORE %s %lld %lld LIMIT 0 %d", TELEMETRY_STATS_SET, now_ms,
                    now_ms + TELEMETRY_TTL_MS + SNAPSHOTS_MAX_SKEW_MS, DASHBOARD_MAX_REPLICAS) != 0) {
        free(rd);
        return -1;
    }
    return 0;
}
