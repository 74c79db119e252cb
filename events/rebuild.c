/* Replaying the event log into the projection: one synchronous pass, pipelined to Redis. */
#include "rebuild.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "logdoc.h"
#include "projection.h"
#include "store.h"
#include "table.h"

#define REBUILD_PIPELINE 64 /* script calls (of PROJECTION_BATCH records each) sent before their replies are read */

/* A script call being filled: EVALSHA, sha, numkeys, the head and PROJECTION_BATCH entries. */
#define REBUILD_ARGS (5 + PROJECTION_BATCH * PROJECTION_ENTRY_ARGS)

struct rebuild {
    redisContext *redis;
    long retention_s;
    long long now_ms;
    int in_pipeline;
    int argc;                           /* of the call being filled; its entries are copies (freed once sent) */
    const char *argv[REBUILD_ARGS];
    size_t lens[REBUILD_ARGS];
    char head[2][24];
    long long records, applied, expired, skipped; /* records: of the documents read, task commits split */
    struct table *tasks;       /* distinct tasks applied: the key points into the value (a copy of the id) */
    char err[256];
};

/* Read the replies of the commands in the pipeline. Returns 0, or -1 with a reason in r->err. */
static int drain(struct rebuild *r)
{
    for (; r->in_pipeline > 0; r->in_pipeline--) {
        redisReply *reply = NULL;
        if (redisGetReply(r->redis, (void **)&reply) != REDIS_OK || !reply) {
            snprintf(r->err, sizeof r->err, "redis: %s", r->redis->errstr[0] ? r->redis->errstr : "no reply");
            return -1;
        }
        if (reply->type == REDIS_REPLY_ERROR) {
            snprintf(r->err, sizeof r->err, "redis refused a batch of records: %.200s", reply->str);
            freeReplyObject(reply);
            return -1;
        }
        for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements; i++) {
            const redisReply *e = reply->element[i];
            if (e->type == REDIS_REPLY_INTEGER && e->integer == 1)
                r->applied++;
            else if (e->type == REDIS_REPLY_INTEGER && e->integer == 0)
                r->expired++;
            else if (!r->err[0])
                snprintf(r->err, sizeof r->err, "redis refused a record");
        }
        if (reply->type != REDIS_REPLY_ARRAY && !r->err[0])
            snprintf(r->err, sizeof r->err, "redis answered the projection script unexpectedly");
        freeReplyObject(reply);
        if (r->err[0])
            return -1;
    }
    return 0;
}

static void count_task(struct rebuild *r, const char *task)
{
    if (table_get(r->tasks, task))
        return;
    char *copy = strdup(task);
    if (!copy || table_put(r->tasks, copy, copy) != 0)
        free(copy);
}

/* Send the call being filled (when it holds entries) into the pipeline. */
static void send_call(struct rebuild *r)
{
    if (r->argc <= 5)
        return;
    if (redisAppendCommandArgv(r->redis, r->argc, r->argv, r->lens) != REDIS_OK)
        snprintf(r->err, sizeof r->err, "redis: out of memory");
    else if (++r->in_pipeline >= REBUILD_PIPELINE)
        drain(r);
    for (int i = 5; i < r->argc; i++)
        free((char *)r->argv[i]);
    r->argc = 5;
}

static void apply_record(const bson_t *doc, struct rebuild *r)
{
    struct projection_args a;
    if (r->err[0])
        return;
    r->records++;
    if (projection_args_of(doc, NULL, &a) != 0) {
        r->skipped++;
        return;
    }
    for (int i = 0; i < PROJECTION_ENTRY_ARGS; i++) {
        char *copy = malloc(a.lens[i] + 1);
        if (!copy) {
            snprintf(r->err, sizeof r->err, "out of memory");
            break;
        }
        memcpy(copy, a.argv[i], a.lens[i] + 1);
        r->argv[r->argc] = copy;
        r->lens[r->argc++] = a.lens[i];
    }
    if (r->argc == REBUILD_ARGS)
        send_call(r);
    if (strtoll(a.at, NULL, 10) + r->retention_s * 1000LL > r->now_ms)
        count_task(r, a.argv[0]);
    projection_args_clear(&a);
}

/* A document of the log: one record, or a task commit holding two (logdoc.h), applied arrival first. */
static void on_record(const bson_t *doc, void *arg)
{
    struct rebuild *r = arg;
    bson_t received, outcome;
    if (logdoc_split(doc, &received, &outcome) != 0) {
        apply_record(doc, r);
        return;
    }
    apply_record(&received, r);
    apply_record(&outcome, r);
    bson_destroy(&received);
    bson_destroy(&outcome);
}

static void free_value(void *value, void *arg)
{
    (void)arg;
    free(value);
}

/* AUTH as 'username' (NULL: the default user) with 'password', when there is one. Returns 0, or -1 with a message
 * on stderr that names the user and Redis's reason (never the password). */
static int authenticate(redisContext *redis, const char *username, const char *password)
{
    if (!password)
        return 0;
    redisReply *reply = username ? redisCommand(redis, "AUTH %s %s", username, password)
                                 : redisCommand(redis, "AUTH %s", password);
    int ok = reply && reply->type == REDIS_REPLY_STATUS;
    if (!ok)
        fprintf(stderr, "events --rebuild: Redis refused AUTH as user '%s': %.200s\n", username ? username : "default",
                reply && reply->type == REDIS_REPLY_ERROR ? reply->str : redis->errstr);
    if (reply)
        freeReplyObject(reply);
    return ok ? 0 : -1;
}

/* Before 2026-12-08 the listings were indexed in four sorted sets per task ("taskbus:tasks", "...:status:<s>",
 * "...:service:<v>" and both). A replay does not index a task whose hash it finds already right, so when that layout
 * is still there, its sets and the task hashes go before the replay (reads fall back to the log meanwhile).
 * Returns the keys dropped, or -1 with a reason in r->err. */
static long long drop_old_layout(struct rebuild *r)
{
    static const char *const patterns[] = { "taskbus:tasks*", PROJECTION_KEY_PREFIX "*" };
    redisReply *reply = redisCommand(r->redis, "EXISTS taskbus:tasks");
    long long dropped = 0;
    int old = reply && reply->type == REDIS_REPLY_INTEGER && reply->integer > 0;

    if (reply)
        freeReplyObject(reply);
    for (size_t i = 0; old && i < sizeof patterns / sizeof patterns[0]; i++) {
        char cursor[32] = "0";
        do {
            reply = redisCommand(r->redis, "SCAN %s MATCH %s COUNT 1000", cursor, patterns[i]);
            if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
                reply->element[0]->type != REDIS_REPLY_STRING || reply->element[1]->type != REDIS_REPLY_ARRAY) {
                snprintf(r->err, sizeof r->err, "redis refused to list the old index: %s",
                         reply && reply->type == REDIS_REPLY_ERROR ? reply->str : r->redis->errstr);
                if (reply)
                    freeReplyObject(reply);
                return -1;
            }
            snprintf(cursor, sizeof cursor, "%s", reply->element[0]->str);
            struct redisReply *keys = reply->element[1];
            const char **argv = calloc(keys->elements + 1, sizeof *argv);
            size_t *lens = calloc(keys->elements + 1, sizeof *lens);
            if (keys->elements > 0 && argv && lens) {
                argv[0] = "UNLINK";
                lens[0] = 6;
                for (size_t k = 0; k < keys->elements; k++) {
                    argv[k + 1] = keys->element[k]->str;
                    lens[k + 1] = keys->element[k]->len;
                }
                redisReply *gone = redisCommandArgv(r->redis, (int)keys->elements + 1, argv, lens);
                dropped += gone && gone->type == REDIS_REPLY_INTEGER ? gone->integer : 0;
                if (gone)
                    freeReplyObject(gone);
            }
            int oom = keys->elements > 0 && (!argv || !lens);
            free(argv);
            free(lens);
            freeReplyObject(reply);
            if (oom) {
                snprintf(r->err, sizeof r->err, "out of memory");
                return -1;
            }
        } while (strcmp(cursor, "0") != 0);
    }
    return dropped;
}

int rebuild_run(const char *mongo_uri, const char *host, int port, const char *username, const char *password,
                long retention_s)
{
    struct rebuild r = { .retention_s = retention_s, .now_ms = clock_wall_ms(), .tasks = table_new() };
    char err[STORE_ERR_LEN];
    int rc = 1;
    struct timeval tv = { 10, 0 };
    r.redis = redisConnectWithTimeout(host, port, tv);
    if (!r.tasks || !r.redis || r.redis->err) {
        fprintf(stderr, "events --rebuild: cannot connect to Redis at %s:%d: %s\n", host, port,
                r.redis ? r.redis->errstr : "out of memory");
        goto out;
    }
    redisSetTimeout(r.redis, tv);
    if (authenticate(r.redis, username, password) != 0)
        goto out;
    /* Load the script once: every batch of records then goes as EVALSHA. */
    redisReply *loaded = redisCommand(r.redis, "SCRIPT LOAD %s", projection_apply_script());
    int ok = loaded && loaded->type == REDIS_REPLY_STRING && strcmp(loaded->str, projection_apply_sha()) == 0;
    if (!ok)
        fprintf(stderr, "events --rebuild: Redis did not load the projection script: %.200s\n",
                r.redis->errstr[0] ? r.redis->errstr
                : loaded && loaded->type == REDIS_REPLY_ERROR ? loaded->str : "unexpected answer");
    if (loaded)
        freeReplyObject(loaded);
    if (!ok)
        goto out;
    projection_args_head(retention_s, r.now_ms, r.head[0], r.head[1]);
    const char *head[5] = { "EVALSHA", projection_apply_sha(), "0", r.head[0], r.head[1] };
    for (r.argc = 0; r.argc < 5; r.argc++) {
        r.argv[r.argc] = head[r.argc];
        r.lens[r.argc] = strlen(head[r.argc]);
    }
    long long dropped = drop_old_layout(&r);
    if (dropped < 0) {
        fprintf(stderr, "events --rebuild: %s\n", r.err);
        goto out;
    }
    if (dropped > 0)
        printf("dropped the index layout before 2026-12-08: keys=%lld\n", dropped);
    long long read = store_scan(mongo_uri, on_record, &r, err);
    if (read >= 0 && !r.err[0])
        send_call(&r);
    if (read >= 0 && !r.err[0])
        drain(&r);
    if (read < 0 || r.err[0]) {
        fprintf(stderr, "events --rebuild: %s\n", read < 0 ? err : r.err);
        goto out;
    }
    printf("rebuilt records=%lld documents=%lld applied=%lld expired=%lld skipped=%lld tasks=%zu\n", r.records, read,
           r.applied, r.expired, r.skipped, table_len(r.tasks));
    rc = 0;
out:
    for (int i = 5; i < r.argc; i++)
        free((char *)r.argv[i]);
    if (r.tasks) {
        table_each(r.tasks, free_value, NULL);
        table_free(r.tasks);
    }
    if (r.redis)
        redisFree(r.redis);
    return rc;
}
