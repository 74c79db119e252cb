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
    int migrated;              /* drop_old_layout ran (at the first record, or after an empty scan) */
    long long *old_dropped;    /* while it runs: the keys it dropped */
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

static int migrate_once(struct rebuild *r);

/* A document of the log: one record, or a task commit holding two (logdoc.h), applied arrival first. */
static void on_record(const bson_t *doc, void *arg)
{
    struct rebuild *r = arg;
    bson_t received, outcome;
    if (migrate_once(r) != 0)
        return;
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

/* Run one command (an argument vector) on the rebuild's connection. Returns its reply (free it), or NULL with a
 * reason naming 'what' in r->err when Redis failed or refused it. */
static redisReply *command(struct rebuild *r, const char *what, int argc, const char **argv, const size_t *lens)
{
    redisReply *reply = redisCommandArgv(r->redis, argc, argv, lens);
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        snprintf(r->err, sizeof r->err, "redis refused to %s: %.200s", what,
                 reply ? reply->str : r->redis->errstr[0] ? r->redis->errstr : "no answer");
        if (reply)
            freeReplyObject(reply);
        return NULL;
    }
    return reply;
}

#define OLD_ALL "taskbus:tasks"
#define OLD_PAGE 1000

/* Drop one page of the old layout: the first OLD_PAGE members of taskbus:tasks (every task indexed), their task
 * hashes (their services noted in 'services' first, for the sets named after them) and the members themselves.
 * Returns how many members the page had (0: none left), or -1 with a reason in r->err. */
static long long drop_old_page(struct rebuild *r, struct table *services, long long *dropped)
{
    const char *range[] = { "ZRANGE", OLD_ALL, "0", "999" };
    redisReply *page = command(r, "read the old index", 4, range, NULL);
    long long n = -1;
    size_t count = page && page->type == REDIS_REPLY_ARRAY ? page->elements : 0;
    const char **argv = calloc(2 + count, sizeof *argv);
    size_t *lens = calloc(2 + count, sizeof *lens);
    char (*keys)[sizeof PROJECTION_KEY_PREFIX + TASK_ID_LEN] = calloc(count + 1, sizeof *keys);
    if (!page)
        goto out;
    if (!argv || !lens || !keys) {
        snprintf(r->err, sizeof r->err, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        const struct redisReply *m = page->element[i];
        if (m->type != REDIS_REPLY_STRING || m->len < 18 || m->len - 17 >= TASK_ID_LEN) {
            snprintf(r->err, sizeof r->err, "the old index holds a member that is not a task");
            goto out;
        }
        snprintf(keys[i], sizeof keys[i], PROJECTION_KEY_PREFIX "%s", m->str + 17);
        argv[i + 1] = keys[i];
        if (redisAppendCommand(r->redis, "HGET %s service", keys[i]) != REDIS_OK) {
            snprintf(r->err, sizeof r->err, "redis: out of memory");
            goto out; /* the connection is useless now: the run ends */
        }
    }
    for (size_t i = 0; i < count; i++) { /* the services, pipelined */
        redisReply *svc = NULL;
        if (redisGetReply(r->redis, (void **)&svc) != REDIS_OK || !svc || svc->type == REDIS_REPLY_ERROR) {
            snprintf(r->err, sizeof r->err, "redis refused to read an old task's service: %.200s",
                     svc ? svc->str : r->redis->errstr);
            if (svc)
                freeReplyObject(svc);
            goto out;
        }
        if (svc->type == REDIS_REPLY_STRING && !table_get(services, svc->str)) {
            char *copy = strdup(svc->str);
            if (!copy || table_put(services, copy, copy) != 0)
                free(copy);
        }
        freeReplyObject(svc);
    }
    argv[0] = "UNLINK";
    redisReply *gone = count ? command(r, "drop the old task hashes", (int)count + 1, argv, NULL) : NULL;
    if (count && !gone)
        goto out;
    *dropped += gone && gone->type == REDIS_REPLY_INTEGER ? gone->integer : 0;
    if (gone)
        freeReplyObject(gone);
    argv[0] = "ZREM";
    argv[1] = OLD_ALL;
    for (size_t i = 0; i < count; i++) {
        argv[i + 2] = page->element[i]->str;
        lens[i + 2] = page->element[i]->len;
    }
    lens[0] = 4;
    lens[1] = strlen(OLD_ALL);
    redisReply *removed = count ? command(r, "drop the old index", (int)count + 2, argv, lens) : NULL;
    if (count && !removed)
        goto out;
    if (removed)
        freeReplyObject(removed);
    n = (long long)count;
out:
    if (page)
        freeReplyObject(page);
    free(argv);
    free(lens);
    free(keys);
    return n;
}

static void unlink_old_sets(void *value, void *arg);

/* Before 2026-12-08 the listings were indexed in four sorted sets per task ("taskbus:tasks", "...:status:<s>",
 * "...:service:<v>" and both). A replay does not index a task whose hash it finds already right, so when that layout
 * is still there, its sets and the task hashes go before the replay (reads fall back to the log meanwhile). It runs
 * once the log has proved readable (at its first record, or after an empty scan), so a rebuild that cannot read the
 * log drops nothing. No SCAN: the hashes are found through taskbus:tasks, which indexed every task, and the other
 * sets by the names their services give them. Returns the keys dropped, or -1 with a reason in r->err. */
static long long drop_old_layout(struct rebuild *r)
{
    const char *exists[] = { "EXISTS", OLD_ALL };
    redisReply *reply = command(r, "check for the old index", 2, exists, NULL);
    long long dropped = 0, page = 1;
    if (!reply)
        return -1;
    int old = reply->type == REDIS_REPLY_INTEGER && reply->integer > 0;
    freeReplyObject(reply);
    if (!old)
        return 0;
    struct table *services = table_new();
    if (!services) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    while (page > 0)
        page = drop_old_page(r, services, &dropped);
    if (page == 0) {
        r->old_dropped = &dropped;
        unlink_old_sets(NULL, r); /* the sets without a service */
        table_each(services, unlink_old_sets, r);
    }
    table_each(services, free_value, NULL);
    table_free(services);
    return r->err[0] ? -1 : dropped;
}

/* UNLINK the old sets of service 'value' (NULL: those without one), counting into r->old_dropped. */
static void unlink_old_sets(void *value, void *arg)
{
    struct rebuild *r = arg;
    const char *svc = value;
    char names[5][160];
    const char *argv[6] = { "UNLINK" };
    int argc = 1;
    if (r->err[0])
        return;
    if (!svc) {
        argv[argc++] = OLD_ALL;
        argv[argc++] = OLD_ALL ":status:completed";
        argv[argc++] = OLD_ALL ":status:failed";
    } else {
        snprintf(names[0], sizeof names[0], OLD_ALL ":service:%s", svc);
        snprintf(names[1], sizeof names[1], OLD_ALL ":status:completed:service:%s", svc);
        snprintf(names[2], sizeof names[2], OLD_ALL ":status:failed:service:%s", svc);
        for (int i = 0; i < 3; i++)
            argv[argc++] = names[i];
    }
    redisReply *gone = command(r, "drop the old index", argc, argv, NULL);
    if (gone) {
        *r->old_dropped += gone->type == REDIS_REPLY_INTEGER ? gone->integer : 0;
        freeReplyObject(gone);
    }
}

/* Drop the old layout once, at the first record read or after an empty scan; prints what it dropped. Returns 0, or
 * -1 with a reason in r->err. */
static int migrate_once(struct rebuild *r)
{
    if (r->migrated)
        return r->err[0] ? -1 : 0;
    r->migrated = 1;
    long long dropped = drop_old_layout(r);
    if (dropped > 0)
        printf("dropped the index layout before 2026-12-08: keys=%lld\n", dropped);
    return dropped < 0 ? -1 : 0;
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
    long long read = store_scan(mongo_uri, on_record, &r, err);
    if (read >= 0)
        migrate_once(&r); /* an empty log: nothing was migrated at a first record */
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
