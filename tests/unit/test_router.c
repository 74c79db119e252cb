/* In-process tests of the events router on a real libevent loop, with a fake bus and a fake store behind its
 * function table: every path of a task's delivery, and every bus message that once crashed or fooled it. */
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "logdoc.h"
#include "log.h"
#include "msg.h"
#include "router.h"
#include "store.h"

/* ---- the fake bus: publishes are kept in order and answered when the test says so ---- */

#define FAKE_MAX 64

struct published {
    char channel[MSG_CHANNEL_LEN];
    char *data;
    bus_published_fn cb;
    void *arg;
    int answered;
};

/* Redis and store calls the router makes through its function table, answered later by fake_io(). */
enum op_kind { OP_KEEP, OP_LOAD, OP_READ };

struct op {
    enum op_kind kind;
    char id[TASK_ID_LEN];
    outcome_kept_fn kept;
    char *text;                 /* OP_KEEP: the answer to keep unless one is kept */
    outcome_loaded_fn loaded;
    store_outcome_fn read;
    void *arg;
};

struct fake_bus {
    struct published items[FAKE_MAX];
    int n;
    int refuse;                 /* bus_publish returns -1 (down or full) */
    char *kept_id[FAKE_MAX], *kept[FAKE_MAX];  /* outcomes kept in "Redis" */
    int n_kept;
    struct op ops[FAKE_MAX];                   /* calls not answered yet */
    int n_ops;
};

/* Outcome records in the "log" before the test: appending one again is acknowledged as a duplicate, and
 * store_outcome reads them. */
static bson_t *stored_before[4];

static struct op *new_op(struct fake_bus *b, enum op_kind kind, const char *task_id, void *arg)
{
    struct op *op = &b->ops[b->n_ops++];
    memset(op, 0, sizeof *op);
    op->kind = kind;
    snprintf(op->id, sizeof op->id, "%s", task_id);
    op->arg = arg;
    return op;
}

static void keep(struct fake_bus *b, const char *task_id, const char *answer)
{
    b->kept_id[b->n_kept] = strdup(task_id);
    b->kept[b->n_kept++] = strdup(answer);
}

static int fake_outcome_keep(void *bus, const char *task_id, const char *answer, size_t len, long ttl_s,
                             outcome_kept_fn cb, void *arg)
{
    struct fake_bus *b = bus;
    (void)ttl_s;
    struct op *op = new_op(b, OP_KEEP, task_id, arg);
    op->kept = cb;
    op->text = strndup(answer, len);
    return 0;
}

static int fake_outcome_replace(void *bus, const char *task_id, const char *answer, size_t len, long ttl_s)
{
    struct fake_bus *b = bus;
    (void)ttl_s;
    for (int k = 0; k < b->n_kept; k++)
        if (strcmp(b->kept_id[k], task_id) == 0) {
            free(b->kept[k]);
            b->kept[k] = strndup(answer, len);
            return 0;
        }
    char *text = strndup(answer, len);
    keep(b, task_id, text);
    free(text);
    return 0;
}

/* The answer kept for 'task_id', or NULL. */
static const char *kept_for(struct fake_bus *b, const char *task_id)
{
    for (int k = 0; k < b->n_kept; k++)
        if (strcmp(b->kept_id[k], task_id) == 0)
            return b->kept[k];
    return NULL;
}

static int fake_outcome_load(void *bus, const char *task_id, outcome_loaded_fn cb, void *arg)
{
    new_op(bus, OP_LOAD, task_id, arg)->loaded = cb;
    return 0;
}

/* Needs the fixture's bus: set by setup(). */
static struct fake_bus *reads_go_to;

static int fake_outcome_read(void *store, const char *task_id, store_outcome_fn cb, void *ctx)
{
    (void)store;
    new_op(reads_go_to, OP_READ, task_id, ctx)->read = cb;
    return 0;
}

/* The stored outcome record of 'task_id' among stored_before, or NULL. */
static const bson_t *before(const char *task_id)
{
    char id[STORE_ID_LEN];
    bson_iter_t it;
    snprintf(id, sizeof id, STORE_OUTCOME_ID_FMT, task_id);
    for (int k = 0; k < 4 && stored_before[k]; k++)
        if (bson_iter_init_find(&it, stored_before[k], "_id") && strcmp(bson_iter_utf8(&it, NULL), id) == 0)
            return stored_before[k];
    return NULL;
}

/* Answer every call made so far, and those their callbacks make, in order. */
static void fake_io(struct fake_bus *b)
{
    for (int i = 0; i < b->n_ops; i++) {
        struct op op = b->ops[i];
        const char *text = NULL;
        if (op.kind == OP_KEEP) {
            /* SET NX GET: the first answer kept for a task wins */
            if ((text = kept_for(b, op.id))) {
                op.kept(1, text, strlen(text), op.arg);
            } else {
                keep(b, op.id, op.text);
                op.kept(0, NULL, 0, op.arg);
            }
            free(op.text);
        } else if (op.kind == OP_LOAD) {
            text = kept_for(b, op.id);
            op.loaded(text, text ? strlen(text) : 0, op.arg);
        } else {
            const bson_t *doc = before(op.id);
            op.read(doc ? bson_copy(doc) : NULL, NULL, op.arg);
        }
    }
    b->n_ops = 0;
}

static int fake_publish(void *bus, const char *channel, const char *data, size_t len, bus_published_fn cb, void *arg)
{
    struct fake_bus *b = bus;
    if (b->refuse || b->n == FAKE_MAX)
        return -1;
    struct published *p = &b->items[b->n++];
    snprintf(p->channel, sizeof p->channel, "%s", channel);
    p->data = strndup(data, len);
    p->cb = cb;
    p->arg = arg;
    p->answered = 0;
    return 0;
}

/* Answer every publish not answered yet with 'receivers' (callbacks may publish more; those wait). */
static void fake_answer(struct fake_bus *b, long long receivers)
{
    int n = b->n;
    for (int i = 0; i < n; i++) {
        if (b->items[i].answered)
            continue;
        b->items[i].answered = 1;
        if (b->items[i].cb)
            b->items[i].cb(receivers, b->items[i].arg);
    }
}

/* Decode publish 'i' into 'm' (msg_clear it). */
static int fake_msg(struct fake_bus *b, int i, struct msg *m)
{
    char err[TASK_ERR_LEN];
    return i < b->n ? msg_decode(b->items[i].data, strlen(b->items[i].data), m, err) : -1;
}

static void fake_bus_clear(struct fake_bus *b)
{
    for (int i = 0; i < b->n; i++)
        free(b->items[i].data);
    for (int i = 0; i < b->n_kept; i++) {
        free(b->kept_id[i]);
        free(b->kept[i]);
    }
    memset(b, 0, sizeof *b);
}

/* ---- the fake store: records kept in order, acknowledged when the test says so ---- */

struct record {
    bson_t *doc;
    void *ctx;
    int acked;
};

struct fake_store {
    struct record items[FAKE_MAX];
    int n;
    size_t backlog;
    struct router *router;
    int queries;
};

static int fake_append(void *store, bson_t *doc, void *ctx)
{
    struct fake_store *s = store;
    if (s->n == FAKE_MAX) {
        bson_destroy(doc);
        return -1;
    }
    s->items[s->n++] = (struct record){ doc, ctx, 0 };
    return 0;
}

static void fake_ack(struct fake_store *s)
{
    int n = s->n;
    for (int i = 0; i < n; i++) {
        if (!s->items[i].acked) {
            bson_iter_t it;
            int dup = 0;
            s->items[i].acked = 1;
            bson_iter_t id;
            for (int k = 0; k < 4 && stored_before[k]; k++)
                dup |= bson_iter_init_find(&it, s->items[i].doc, "_id") &&
                       bson_iter_init_find(&id, stored_before[k], "_id") &&
                       strcmp(bson_iter_utf8(&it, NULL), bson_iter_utf8(&id, NULL)) == 0;
            router_on_acked(s->items[i].ctx, s->items[i].doc, dup, s->router);
        }
    }
}

static int fake_history(void *store, const char *task_id, store_history_fn cb, void *ctx)
{
    struct fake_store *s = store;
    char *json = malloc(64);
    s->queries++;
    snprintf(json, 64, "[{\"task\":\"%s\"}]", task_id);
    cb(json, NULL, ctx);
    return 0;
}

static size_t fake_backlog(void *store)
{
    return ((struct fake_store *)store)->backlog;
}

/* The string field 'name' of record 'i', or "". */
static const char *rec_str(struct fake_store *s, int i, const char *name)
{
    bson_iter_t it;
    if (i >= s->n || !bson_iter_init_find(&it, s->items[i].doc, name) || !BSON_ITER_HOLDS_UTF8(&it))
        return "";
    return bson_iter_utf8(&it, NULL);
}

static int rec_int(struct fake_store *s, int i, const char *name)
{
    bson_iter_t it;
    if (i >= s->n || !bson_iter_init_find(&it, s->items[i].doc, name))
        return -1;
    return (int)bson_iter_as_int64(&it);
}

static void fake_store_clear(struct fake_store *s)
{
    for (int i = 0; i < s->n; i++)
        bson_destroy(s->items[i].doc);
    memset(s, 0, sizeof *s);
}

/* ---- a router wired to the fakes, with two arithmetic replicas ---- */

struct fixture {
    struct event_base *base;
    struct fake_bus bus;
    struct fake_store store;
    struct replica_set set;
    struct router *r;
};

#define FRONTEND "taskbus:frontend-1"

/* LOG_MERGE_MS of the next setup() (0: every record goes to the store at once). */
static long setup_merge_ms;

static void setup(struct fixture *f, long max_jobs, long max_attempts)
{
    memset(f, 0, sizeof *f);
    f->base = event_base_new();
    replica_set_upsert(&f->set, "arith-1", 1LL << 60);
    replica_set_upsert(&f->set, "arith-2", 1LL << 60);
    struct router_io io = { &f->bus, fake_publish, &f->store, fake_append, fake_history, fake_backlog,
                            fake_outcome_keep, fake_outcome_replace, fake_outcome_load, fake_outcome_read };
    struct router_config cfg = { .self_id = "events-1", .sets = { &f->set, NULL }, .max_jobs = max_jobs,
                                 .max_backlog = 1000, .max_attempts = max_attempts, .outcome_ttl_s = 60,
                                 .merge_ms = setup_merge_ms };
    char err[TASK_ERR_LEN];
    const char *map = "{\"NUMBER\":\"arithmetic\"}";
    CHECK_INT_EQ(taskmap_parse(map, strlen(map), &cfg.map, err), 0);
    f->r = router_new(f->base, &io, &cfg);
    f->store.router = f->r;
    reads_go_to = &f->bus;
}

/* As in the daemon: the bus fails what is still pending (its callbacks run) before the router is freed. */
static void teardown(struct fixture *f)
{
    fake_io(&f->bus);
    fake_answer(&f->bus, -1);
    for (int k = 0; k < 4; k++)
        if (stored_before[k])
            bson_destroy(stored_before[k]);
    memset(stored_before, 0, sizeof stored_before);
    router_free(f->r);
    fake_bus_clear(&f->bus);
    fake_store_clear(&f->store);
    replica_set_clear(&f->set);
    event_base_free(f->base);
}

static void deliver(struct fixture *f, const char *text)
{
    router_on_message(text, strlen(text), f->r);
}

static void send_handoff(struct fixture *f, const char *id, long timeout_ms, int handoff)
{
    char text[512];
    snprintf(text, sizeof text,
             "{\"kind\":\"task\",\"id\":\"%s\",\"replyTo\":\"" FRONTEND "\",\"origin\":\"frontend-1\","
             "\"task\":\"NUMBER\",\"subtask\":\"ADD\",\"operands\":[5,10],\"requestBody\":\"{}\",\"timeoutMs\":%ld,"
             "\"handoff\":%d}", id, timeout_ms, handoff);
    deliver(f, text);
}

static void send_task(struct fixture *f, const char *id, long timeout_ms)
{
    send_handoff(f, id, timeout_ms, 0);
}

static void send_result(struct fixture *f, const char *id, const char *token, const char *result)
{
    char text[512];
    snprintf(text, sizeof text, "{\"kind\":\"result\",\"id\":\"%s\",\"status\":200,\"result\":\"%s\","
             "\"replica\":\"arith-1\",\"token\":\"%s\"}", id, result, token);
    deliver(f, text);
    fake_io(&f->bus); /* Redis keeps the answer; then the outcome record is appended */
}

static struct router_stats stats(struct fixture *f)
{
    struct router_stats s;
    router_get_stats(f->r, &s);
    return s;
}

/* The last publish to 'channel', decoded into 'm'; -1 when there is none. */
static int last_to(struct fixture *f, const char *channel, struct msg *m)
{
    for (int i = f->bus.n - 1; i >= 0; i--)
        if (strcmp(f->bus.items[i].channel, channel) == 0)
            return fake_msg(&f->bus, i, m);
    return -1;
}

/* Tasks counted against the replicas of the set. */
static unsigned outstanding(struct fixture *f)
{
    unsigned n = 0;
    for (size_t i = 0; i < f->set.len; i++)
        n += f->set.items[i].outstanding;
    return n;
}

/* ---- the tests ---- */

/* Arrival is logged with the dispatch, the current attempt's result is logged, and only then is it answered. */
static void test_happy_path(void)
{
    struct fixture f;
    struct msg task, answer;
    setup(&f, 100, 3);
    send_task(&f, "t-1", 5000);
    CHECK_INT_EQ(f.bus.n, 1);
    CHECK_INT_EQ(fake_msg(&f.bus, 0, &task), 0);
    CHECK_STR_EQ(task.reply_to, "taskbus:events-1");
    CHECK(strlen(task.token) == MSG_TOKEN_LEN - 1);
    CHECK_STR_EQ(rec_str(&f.store, 0, "type"), "received");
    CHECK_INT_EQ(rec_int(&f.store, 0, "attempt"), 1);
    fake_answer(&f.bus, 1);
    send_result(&f, "t-1", task.token, "15");
    CHECK_STR_EQ(rec_str(&f.store, 1, "type"), "completed");
    CHECK_INT_EQ(f.bus.n, 1); /* nothing leaves before the store acknowledges */
    fake_ack(&f.store);
    CHECK_INT_EQ(last_to(&f, FRONTEND, &answer), 0);
    CHECK_INT_EQ(answer.status, 200);
    CHECK_STR_EQ(answer.result, "15");
    CHECK_INT_EQ(router_in_flight(f.r), 0);
    CHECK_INT_EQ(outstanding(&f), 0);
    msg_clear(&task);
    msg_clear(&answer);
    teardown(&f);
}

/* Regression: a result with status 200 and no "result" crashed events (strdup(NULL)). It is refused at decode. */
static void test_result_without_result(void)
{
    struct fixture f;
    struct msg task;
    setup(&f, 100, 3);
    send_task(&f, "t-2", 5000);
    fake_msg(&f.bus, 0, &task);
    char text[256];
    snprintf(text, sizeof text, "{\"kind\":\"result\",\"id\":\"t-2\",\"status\":200,\"token\":\"%s\"}", task.token);
    deliver(&f, text);
    CHECK_INT_EQ(stats(&f).bad_messages, 1);
    CHECK_INT_EQ(f.store.n, 1); /* no outcome */
    send_result(&f, "t-2", task.token, "15");
    CHECK_STR_EQ(rec_str(&f.store, 1, "result"), "15");
    msg_clear(&task);
    teardown(&f);
}

/* Regression: a forged result from a process that was not sent the task was answered to the client. Only the
 * current attempt's token completes a task. */
static void test_forged_result(void)
{
    struct fixture f;
    struct msg task, answer;
    setup(&f, 100, 3);
    send_task(&f, "t-3", 5000);
    fake_msg(&f.bus, 0, &task);
    deliver(&f, "{\"kind\":\"result\",\"id\":\"t-3\",\"status\":200,\"result\":\"666\",\"replica\":\"arith-1\"}");
    send_result(&f, "t-3", "0123456789abcdef0123456789abcdef", "666");
    CHECK_INT_EQ(stats(&f).stale_results, 2);
    CHECK_INT_EQ(f.store.n, 1);
    send_result(&f, "t-3", task.token, "15");
    fake_ack(&f.store);
    CHECK_INT_EQ(last_to(&f, FRONTEND, &answer), 0);
    CHECK_STR_EQ(answer.result, "15");
    send_result(&f, "t-3", task.token, "15"); /* answered twice by the backend: counted, dropped */
    CHECK_INT_EQ(stats(&f).late_results, 1);
    msg_clear(&task);
    msg_clear(&answer);
    teardown(&f);
}

/* Regression (found by tests/fuzz/fuzz_router.c, 2026-12-01): a backend result with status 202 and the current
 * token crashed events (strdup(NULL) of its missing error). A 202 is what events answers a frontend, never an
 * outcome: it is counted as malformed and dropped, and the task still completes. */
static void test_backend_202(void)
{
    struct fixture f;
    struct msg task, answer;
    setup(&f, 100, 3);
    send_task(&f, "t-202", 5000);
    fake_msg(&f.bus, 0, &task);
    char text[256];
    snprintf(text, sizeof text, "{\"kind\":\"result\",\"id\":\"t-202\",\"status\":202,\"result\":\"running\","
             "\"token\":\"%s\"}", task.token);
    deliver(&f, text);
    CHECK_INT_EQ(stats(&f).bad_messages, 1);
    CHECK_INT_EQ(f.store.n, 1); /* no outcome */
    send_result(&f, "t-202", task.token, "15");
    fake_ack(&f.store);
    CHECK_INT_EQ(last_to(&f, FRONTEND, &answer), 0);
    CHECK_INT_EQ(answer.status, 200);
    CHECK_STR_EQ(answer.result, "15");
    msg_clear(&task);
    msg_clear(&answer);
    teardown(&f);
}

/* A PUBLISH that reached nobody: the replica is gone, the task goes to the other one at once with a new token, the
 * second attempt is logged, and a result for the first attempt is stale. */
static void test_redeliver_on_no_subscriber(void)
{
    struct fixture f;
    struct msg first, second;
    setup(&f, 100, 3);
    send_task(&f, "t-4", 5000);
    fake_msg(&f.bus, 0, &first);
    fake_answer(&f.bus, 0);
    CHECK_INT_EQ(f.bus.n, 2);
    CHECK_INT_EQ(fake_msg(&f.bus, 1, &second), 0);
    CHECK(strcmp(f.bus.items[0].channel, f.bus.items[1].channel) != 0);
    CHECK(strcmp(first.token, second.token) != 0);
    CHECK_INT_EQ(f.set.len, 1);
    CHECK_STR_EQ(rec_str(&f.store, 1, "type"), "dispatched");
    CHECK_INT_EQ(rec_int(&f.store, 1, "attempt"), 2);
    fake_answer(&f.bus, 1);
    send_result(&f, "t-4", first.token, "15");
    CHECK_INT_EQ(stats(&f).stale_results, 1);
    send_result(&f, "t-4", second.token, "15");
    CHECK_STR_EQ(rec_str(&f.store, 2, "type"), "completed");
    CHECK_INT_EQ(outstanding(&f), 0);
    CHECK_INT_EQ(stats(&f).redelivered, 1);
    msg_clear(&first);
    msg_clear(&second);
    teardown(&f);
}

/* Regression: a -1 publish answer (connection lost) re-dispatched in a tight loop. Now the task waits for the next
 * registry refresh, and nothing is published until then. */
static void test_bus_failure_waits_for_refresh(void)
{
    struct fixture f;
    setup(&f, 100, 3);
    send_task(&f, "t-5", 5000);
    f.bus.refuse = 1;
    fake_answer(&f.bus, -1);
    CHECK_INT_EQ(f.bus.n, 1);
    CHECK_INT_EQ(outstanding(&f), 0);
    router_on_refresh(f.r); /* still down: waits again, no loop */
    CHECK_INT_EQ(f.bus.n, 1);
    f.bus.refuse = 0;
    router_on_refresh(f.r);
    CHECK_INT_EQ(f.bus.n, 2);
    CHECK_INT_EQ(outstanding(&f), 1);
    teardown(&f);
}

/* A replica that leaves the registry (no heartbeat: frozen or killed) with a task: the next refresh sends the task to
 * another replica; the dead one's count is gone with it, and the live one's is released by its result. */
static void test_redeliver_when_replica_vanishes(void)
{
    struct fixture f;
    struct msg first, second;
    setup(&f, 100, 3);
    send_task(&f, "t-6", 5000);
    fake_answer(&f.bus, 1);
    fake_msg(&f.bus, 0, &first);
    const char *gone = strcmp(f.bus.items[0].channel, "taskbus:arith-1") == 0 ? "arith-1" : "arith-2";
    replica_set_remove(&f.set, gone);
    router_on_refresh(f.r);
    CHECK_INT_EQ(f.bus.n, 2);
    fake_msg(&f.bus, 1, &second);
    CHECK(strcmp(f.bus.items[1].channel, f.bus.items[0].channel) != 0);
    CHECK_INT_EQ(outstanding(&f), 1);
    fake_answer(&f.bus, 1);
    router_on_refresh(f.r); /* the live replica is still there: nothing moves */
    CHECK_INT_EQ(f.bus.n, 2);
    send_result(&f, "t-6", second.token, "15");
    CHECK_INT_EQ(outstanding(&f), 0);
    CHECK_STR_EQ(rec_str(&f.store, 2, "type"), "completed");
    msg_clear(&first);
    msg_clear(&second);
    teardown(&f);
}

/* Attempts are bounded: with MAX_ATTEMPTS=2 and replicas that vanish, the task fails with 503 and the reason. */
static void test_attempts_bounded(void)
{
    struct fixture f;
    struct msg answer;
    setup(&f, 100, 2);
    replica_set_upsert(&f.set, "arith-3", 1LL << 60);
    send_task(&f, "t-7", 5000);
    fake_answer(&f.bus, 0);
    fake_answer(&f.bus, 0);
    fake_io(&f.bus);
    CHECK_INT_EQ(f.bus.n, 2);
    CHECK_STR_EQ(rec_str(&f.store, 2, "type"), "failed");
    CHECK_INT_EQ(rec_int(&f.store, 2, "status"), 503);
    fake_ack(&f.store);
    CHECK_INT_EQ(last_to(&f, FRONTEND, &answer), 0);
    CHECK_INT_EQ(answer.status, 503);
    msg_clear(&answer);
    teardown(&f);
}

/* Regression: a replica that timed out once kept its outstanding count forever and was avoided afterwards. */
static void test_deadline_releases_replica(void)
{
    struct fixture f;
    setup(&f, 100, 3);
    send_task(&f, "t-8", 20);
    fake_answer(&f.bus, 1);
    CHECK_INT_EQ(outstanding(&f), 1);
    event_base_dispatch(f.base); /* runs until the deadline timer, the only event, has fired */
    fake_io(&f.bus);
    CHECK_STR_EQ(rec_str(&f.store, 1, "type"), "failed");
    CHECK_INT_EQ(rec_int(&f.store, 1, "status"), 504);
    CHECK_INT_EQ(outstanding(&f), 0);
    fake_ack(&f.store);
    CHECK_INT_EQ(router_in_flight(f.r), 0);
    teardown(&f);
}

/* Past MAX_JOBS or STORE_MAX_BACKLOG a task is refused at once with 503 and a reason, and nothing is logged. */
static void test_admission(void)
{
    struct fixture f;
    struct msg answer;
    setup(&f, 1, 3);
    send_task(&f, "t-9", 5000);
    send_task(&f, "t-10", 5000);
    CHECK_INT_EQ(last_to(&f, FRONTEND, &answer), 0);
    CHECK_STR_EQ(answer.id, "t-10");
    CHECK_INT_EQ(answer.status, 503);
    CHECK(strstr(answer.error, "MAX_JOBS") != NULL);
    CHECK_INT_EQ(answer.retry_after_s, 1); /* refused, not accepted: the frontend may say so and retry */
    CHECK_INT_EQ(f.store.n, 1);
    msg_clear(&answer);
    teardown(&f);

    setup(&f, 100, 3);
    f.store.backlog = 1000;
    send_task(&f, "t-11", 5000);
    CHECK_INT_EQ(last_to(&f, FRONTEND, &answer), 0);
    CHECK(strstr(answer.error, "STORE_MAX_BACKLOG") != NULL);
    CHECK_INT_EQ(f.store.n, 0);
    CHECK_INT_EQ(stats(&f).refused, 1);
    msg_clear(&answer);
    teardown(&f);
}

/* Regression: a history query without replyTo published to a NULL channel. Malformed messages of every kind are
 * counted and dropped; none reaches the store or the bus, and none leaks (ASan). */
static void test_hostile_messages(void)
{
    static const char *const bad[] = {
        "", "nope", "[]", "{}", "{\"kind\":\"x\\\"\\nevent=forged\",\"id\":\"a\"}",
        "{\"kind\":\"history\",\"id\":\"q-1\",\"requestBody\":\"t-1\"}",
        "{\"kind\":\"history\",\"id\":\"q-1\",\"replyTo\":\"" FRONTEND "\"}",
        "{\"kind\":\"history\",\"id\":\"q-1\",\"replyTo\":\"elsewhere\",\"requestBody\":\"t-1\"}",
        "{\"kind\":\"history\",\"id\":\"q-1\",\"replyTo\":\"" FRONTEND "\",\"requestBody\":\"a b\"}",
        "{\"kind\":\"task\",\"id\":\"t x\",\"replyTo\":\"" FRONTEND "\",\"task\":\"NUMBER\",\"subtask\":\"ADD\","
        "\"operands\":[1,2],\"timeoutMs\":100}",
        "{\"kind\":\"task\",\"id\":\"t-1\",\"replyTo\":\"" FRONTEND "\",\"task\":\"NUMBER\",\"subtask\":\"ADD\","
        "\"operands\":[1,2],\"timeoutMs\":1000000}",
        "{\"kind\":\"task\",\"id\":\"t-1\",\"replyTo\":\"" FRONTEND "\",\"task\":\"NUMBER\",\"subtask\":\"ADD\","
        "\"operands\":[1,2,3],\"timeoutMs\":100}",
        "{\"kind\":\"result\",\"id\":\"t-1\",\"status\":500}",
        "{\"kind\":\"history\",\"id\":\"q-1\",\"status\":200,\"history\":\"[]\"}",
    };
    struct fixture f;
    setup(&f, 100, 3);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        deliver(&f, bad[i]);
    CHECK_INT_EQ(stats(&f).bad_messages, sizeof bad / sizeof bad[0]);
    CHECK_INT_EQ(f.bus.n, 0);
    CHECK_INT_EQ(f.store.n, 0);
    CHECK_INT_EQ(f.store.queries, 0);
    deliver(&f, "{\"kind\":\"history\",\"id\":\"q-2\",\"replyTo\":\"" FRONTEND "\",\"requestBody\":\"t-1\"}");
    CHECK_INT_EQ(f.store.queries, 1);
    CHECK_INT_EQ(f.bus.n, 1);
    teardown(&f);
}

/* A task sent again with the same id while in flight (a frontend's retry) is not run twice. */
static void test_duplicate_task(void)
{
    struct fixture f;
    setup(&f, 100, 3);
    send_task(&f, "t-12", 5000);
    send_task(&f, "t-12", 5000);
    CHECK_INT_EQ(f.bus.n, 1);
    CHECK_INT_EQ(router_in_flight(f.r), 1);
    teardown(&f);
}

/* No replica alive: the task waits (its arrival logged) and goes out on the refresh that finds one. */
static void test_waits_for_a_replica(void)
{
    struct fixture f;
    setup(&f, 100, 3);
    replica_set_remove(&f.set, "arith-1");
    replica_set_remove(&f.set, "arith-2");
    send_task(&f, "t-13", 5000);
    CHECK_INT_EQ(f.bus.n, 0);
    CHECK_STR_EQ(rec_str(&f.store, 0, "type"), "received");
    replica_set_upsert(&f.set, "arith-3", 1LL << 60);
    router_on_refresh(f.r);
    CHECK_INT_EQ(f.bus.n, 1);
    CHECK_STR_EQ(f.bus.items[0].channel, "taskbus:arith-3");
    CHECK_STR_EQ(rec_str(&f.store, 1, "type"), "dispatched");
    teardown(&f);
}

/* A log value cannot be ended or split by what it quotes. */
static void test_log_escape(void)
{
    char out[LOG_VALUE_LEN], tiny[8];
    CHECK_STR_EQ(log_escape("task must be \"NUMBER\"\nevent=x\\", out, sizeof out),
                 "task must be \\\"NUMBER\\\"\\x0aevent=x\\\\");
    CHECK_STR_EQ(log_escape("abcdefghij", tiny, sizeof tiny), "abc");
}

/* An answered task's answer is kept for a replica that gets it again; a handed-over task that has one is answered
 * with it: nothing runs, nothing is logged again. */
static void test_handoff_of_a_finished_task(void)
{
    struct fixture f;
    struct msg task, answer;
    setup(&f, 100, 3);
    send_task(&f, "t-20", 5000);
    fake_msg(&f.bus, 0, &task);
    send_result(&f, "t-20", task.token, "15");
    fake_ack(&f.store);
    CHECK(kept_for(&f.bus, "t-20") != NULL);
    int records = f.store.n, published = f.bus.n;
    send_handoff(&f, "t-20", 5000, 1); /* a frontend re-sent it after losing this replica: it is here again */
    CHECK_INT_EQ(f.bus.n, published);   /* waits for the kept outcome */
    fake_io(&f.bus);
    /* Its arrival here (with the request) and its outcome are written before the answer leaves (the outcome is a
     * duplicate here): the log always has both, whatever the first replica managed to store. */
    CHECK_INT_EQ(f.store.n, records + 2);
    CHECK_STR_EQ(rec_str(&f.store, records, "_id"), "t-20:100");
    CHECK_STR_EQ(rec_str(&f.store, records, "type"), "received");
    CHECK_STR_EQ(rec_str(&f.store, records + 1, "_id"), "t-20:outcome");
    CHECK_STR_EQ(rec_str(&f.store, records + 1, "result"), "15");
    CHECK_INT_EQ(f.bus.n, published);
    fake_ack(&f.store);
    CHECK_INT_EQ(f.bus.n, published + 1);
    CHECK_INT_EQ(last_to(&f, FRONTEND, &answer), 0);
    CHECK_INT_EQ(answer.status, 200);
    CHECK_STR_EQ(answer.result, "15");
    CHECK_INT_EQ(stats(&f).answered_from_outcome, 1);
    CHECK_INT_EQ(router_in_flight(f.r), 0);
    msg_clear(&task);
    msg_clear(&answer);
    teardown(&f);
}

/* A handed-over task without a kept outcome runs; its steps are numbered from 100 so they never collide with the
 * first replica's, and its outcome has the one _id a task's outcome can have. */
static void test_handoff_runs(void)
{
    struct fixture f;
    struct msg task;
    setup(&f, 100, 3);
    send_handoff(&f, "t-21", 5000, 1);
    fake_io(&f.bus);
    CHECK_INT_EQ(f.bus.n, 1);
    CHECK_STR_EQ(rec_str(&f.store, 0, "_id"), "t-21:100");
    CHECK_INT_EQ(rec_int(&f.store, 0, "handoff"), 1);
    fake_msg(&f.bus, 0, &task);
    send_result(&f, "t-21", task.token, "15");
    CHECK_STR_EQ(rec_str(&f.store, 1, "_id"), "t-21:outcome");
    CHECK_INT_EQ(rec_int(&f.store, 1, "seq"), 101);
    msg_clear(&task);
    teardown(&f);
}

/* Two replicas raced on one task. The first answer kept in Redis is the task's: the second replica records and
 * answers that one, not its own. When the other replica stored its outcome without keeping it (Redis was down for
 * it), the log's outcome is read back and answered, and Redis keeps it from then on. */
/* The outcome record another replica stored for task 'id': completed with "15" by arith-9. */
static bson_t *completed_elsewhere(const char *id)
{
    char oid[64];
    snprintf(oid, sizeof oid, "%s:outcome", id);
    return BCON_NEW("_id", BCON_UTF8(oid), "task", BCON_UTF8(id), "type", BCON_UTF8("completed"), "status",
                    BCON_INT32(200), "result", BCON_UTF8("15"), "backend", BCON_UTF8("arith-9"));
}

static void test_duplicate_outcome(void)
{
    struct fixture f;
    struct msg task, answer;
    setup(&f, 100, 3);
    stored_before[0] = BCON_NEW("_id", BCON_UTF8("t-22:outcome"), "task", BCON_UTF8("t-22"), "type",
                                BCON_UTF8("failed"), "status", BCON_INT32(422), "error", BCON_UTF8("first"));
    keep(&f.bus, "t-22", "{\"kind\":\"result\",\"id\":\"t-22\",\"status\":422,\"error\":\"first\"}");
    send_task(&f, "t-22", 5000);
    fake_msg(&f.bus, 0, &task);
    send_result(&f, "t-22", task.token, "15");
    fake_ack(&f.store);
    fake_io(&f.bus);
    CHECK_INT_EQ(last_to(&f, FRONTEND, &answer), 0);
    CHECK_INT_EQ(answer.status, 422);
    CHECK_STR_EQ(answer.error, "first");
    CHECK_INT_EQ(rec_int(&f.store, 1, "status"), 422); /* it recorded the kept answer, not its own */
    msg_clear(&task);
    msg_clear(&answer);
    teardown(&f);

    /* Not kept in Redis any more (expired, or Redis lost it): read from the log. */
    setup(&f, 100, 3);
    stored_before[0] = completed_elsewhere("t-23");
    send_task(&f, "t-23", 5000);
    fake_msg(&f.bus, 0, &task);
    send_result(&f, "t-23", task.token, "15");
    fake_ack(&f.store);
    fake_io(&f.bus);
    CHECK_INT_EQ(last_to(&f, FRONTEND, &answer), 0);
    CHECK_INT_EQ(answer.status, 200);
    CHECK_STR_EQ(answer.result, "15");
    CHECK_STR_EQ(answer.replica, "arith-9");
    CHECK_INT_EQ(stats(&f).outcomes_read, 1);
    CHECK(strstr(kept_for(&f.bus, "t-23"), "arith-9") != NULL); /* Redis now keeps what the log holds */
    msg_clear(&task);
    msg_clear(&answer);
    teardown(&f);

    /* Neither kept nor readable: the client is told where the outcome is, never a contradiction. */
    setup(&f, 100, 3);
    stored_before[0] = BCON_NEW("_id", BCON_UTF8("t-24:outcome"));
    send_task(&f, "t-24", 5000);
    fake_msg(&f.bus, 0, &task);
    send_result(&f, "t-24", task.token, "15");
    fake_ack(&f.store);
    fake_io(&f.bus);
    CHECK_INT_EQ(last_to(&f, FRONTEND, &answer), 0);
    CHECK_INT_EQ(answer.status, 504);
    CHECK(strstr(answer.error, "GET /task/t-24") != NULL);
    msg_clear(&task);
    msg_clear(&answer);
    teardown(&f);
}

/* A retry that reaches the replica running its task joins it: no second run, and both requesters get the answer,
 * each under its own reference. */
static void test_join(void)
{
    struct fixture f;
    struct msg task, first, second;
    setup(&f, 100, 3);
    send_task(&f, "t-30", 5000);
    deliver(&f, "{\"kind\":\"task\",\"id\":\"t-30\",\"ref\":\"r-2\",\"replyTo\":\"taskbus:frontend-2\","
                "\"task\":\"NUMBER\",\"subtask\":\"ADD\",\"operands\":[5,10],\"timeoutMs\":5000,\"handoff\":1}");
    CHECK_INT_EQ(f.bus.n, 1);
    fake_msg(&f.bus, 0, &task);
    CHECK_STR_EQ(task.ref, "");
    send_result(&f, "t-30", task.token, "15");
    fake_ack(&f.store);
    CHECK_INT_EQ(last_to(&f, FRONTEND, &first), 0);
    CHECK_INT_EQ(last_to(&f, "taskbus:frontend-2", &second), 0);
    CHECK_STR_EQ(first.result, "15");
    CHECK_STR_EQ(first.ref, "");
    CHECK_STR_EQ(second.result, "15");
    CHECK_STR_EQ(second.ref, "r-2");
    msg_clear(&task);
    msg_clear(&first);
    msg_clear(&second);
    teardown(&f);
}

/* After the bus reconnects, results sent meanwhile may be lost: every task out at a backend goes out again (a new
 * attempt and token) at the next refresh; the old attempt's result is stale. */
static void test_redeliver_after_reconnect(void)
{
    struct fixture f;
    struct msg first, second;
    setup(&f, 100, 3);
    send_task(&f, "t-40", 5000);
    fake_answer(&f.bus, 1);
    fake_msg(&f.bus, 0, &first);
    router_on_reconnect(f.r);
    router_on_refresh(f.r);
    CHECK_INT_EQ(f.bus.n, 2);
    fake_msg(&f.bus, 1, &second);
    CHECK(strcmp(first.token, second.token) != 0);
    CHECK_INT_EQ(rec_int(&f.store, 1, "attempt"), 2);
    fake_answer(&f.bus, 1);
    router_on_refresh(f.r); /* once */
    CHECK_INT_EQ(f.bus.n, 2);
    send_result(&f, "t-40", first.token, "15");
    CHECK_INT_EQ(stats(&f).stale_results, 1);
    send_result(&f, "t-40", second.token, "15");
    CHECK_STR_EQ(rec_str(&f.store, 2, "type"), "completed");
    msg_clear(&first);
    msg_clear(&second);
    teardown(&f);
}

/* Prefer: respond-async: the requester gets a 202 with the task's status once its arrival is stored (not before),
 * and still gets the outcome after it; a task without the flag gets no 202. */
static void test_async_accepted(void)
{
    struct fixture f;
    struct msg task, answer;
    setup(&f, 100, 3);
    deliver(&f, "{\"kind\":\"task\",\"id\":\"t-async\",\"replyTo\":\"" FRONTEND "\",\"origin\":\"frontend-1\","
                "\"task\":\"NUMBER\",\"subtask\":\"ADD\",\"operands\":[5,10],\"requestBody\":\"{}\","
                "\"timeoutMs\":5000,\"async\":true}");
    fake_msg(&f.bus, 0, &task);
    CHECK_INT_EQ(last_to(&f, FRONTEND, &answer), -1); /* nothing before the arrival is stored */
    fake_ack(&f.store);
    CHECK_INT_EQ(last_to(&f, FRONTEND, &answer), 0);
    CHECK_INT_EQ(answer.status, 202);
    CHECK_STR_EQ(answer.result, "running");
    msg_clear(&answer);
    send_result(&f, "t-async", task.token, "15");
    fake_ack(&f.store);
    CHECK_INT_EQ(last_to(&f, FRONTEND, &answer), 0);
    CHECK_INT_EQ(answer.status, 200);
    CHECK_STR_EQ(answer.result, "15");
    msg_clear(&answer);
    msg_clear(&task);

    send_task(&f, "t-sync", 5000);
    fake_ack(&f.store);
    CHECK_INT_EQ(last_to(&f, FRONTEND, &answer), 0);
    CHECK_INT_EQ(answer.status, 200); /* the last one to the frontend is still t-async's outcome */
    CHECK_STR_EQ(answer.id, "t-async");
    msg_clear(&answer);
    teardown(&f);
}

/* A task's trace id goes with it to the backend, into every record, and back in its 202 and its answer; a refusal
 * carries it too, and a task message with a malformed one is dropped like any malformed message. */
static void test_trace_travels(void)
{
    struct fixture f;
    struct msg task, answer;
    const char *tid = "4bf92f3577b34da6a3ce929d0e0e4736";
    setup(&f, 1, 3);
    deliver(&f, "{\"kind\":\"task\",\"id\":\"t-tr\",\"replyTo\":\"" FRONTEND "\",\"origin\":\"frontend-1\","
                "\"task\":\"NUMBER\",\"subtask\":\"ADD\",\"operands\":[5,10],\"requestBody\":\"{}\","
                "\"timeoutMs\":5000,\"async\":true,\"trace\":\"4bf92f3577b34da6a3ce929d0e0e4736\"}");
    CHECK_INT_EQ(fake_msg(&f.bus, 0, &task), 0);
    CHECK_STR_EQ(task.trace, tid);
    fake_answer(&f.bus, 1);
    fake_ack(&f.store);
    CHECK_INT_EQ(last_to(&f, FRONTEND, &answer), 0);
    CHECK_INT_EQ(answer.status, 202);
    CHECK_STR_EQ(answer.trace, tid);
    msg_clear(&answer);
    /* Refused while this one runs (MAX_JOBS 1): the refusal names the refused task's trace. */
    deliver(&f, "{\"kind\":\"task\",\"id\":\"t-full\",\"replyTo\":\"" FRONTEND "\",\"task\":\"NUMBER\","
                "\"subtask\":\"ADD\",\"operands\":[1,2],\"timeoutMs\":5000,"
                "\"trace\":\"0af7651916cd43dd8448eb211c80319c\"}");
    CHECK_INT_EQ(last_to(&f, FRONTEND, &answer), 0);
    CHECK_INT_EQ(answer.status, 503);
    CHECK_STR_EQ(answer.trace, "0af7651916cd43dd8448eb211c80319c");
    msg_clear(&answer);
    send_result(&f, "t-tr", task.token, "15");
    fake_ack(&f.store);
    CHECK_INT_EQ(last_to(&f, FRONTEND, &answer), 0);
    CHECK_INT_EQ(answer.status, 200);
    CHECK_STR_EQ(answer.trace, tid);
    CHECK_INT_EQ(f.store.n, 2);
    for (int i = 0; i < f.store.n; i++)
        CHECK_STR_EQ(rec_str(&f.store, i, "trace"), tid);
    msg_clear(&answer);
    msg_clear(&task);

    int before = f.bus.n;
    unsigned long long bad = stats(&f).bad_messages;
    deliver(&f, "{\"kind\":\"task\",\"id\":\"t-bad\",\"replyTo\":\"" FRONTEND "\",\"task\":\"NUMBER\","
                "\"subtask\":\"ADD\",\"operands\":[1,2],\"timeoutMs\":5000,\"trace\":\"x\\\"\\nevent=forged\"}");
    CHECK_INT_EQ(stats(&f).bad_messages, bad + 1);
    CHECK_INT_EQ(f.bus.n, before);
    CHECK_INT_EQ(router_in_flight(f.r), 0);
    teardown(&f);
}

/* Run the loop for 'ms' (the router's timers fire). */
static void run_for(struct fixture *f, long ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    event_base_loopexit(f->base, &tv);
    event_base_dispatch(f->base);
}

/* With LOG_MERGE_MS, a task answered in time is one document (a task commit); a slower one gets its arrival written
 * alone when the time is up; a later step writes the arrival first; a commit that was a duplicate keeps the
 * arrival as a record of its own. */
static void test_task_commits(void)
{
    struct fixture f;
    struct msg task, answer;
    setup_merge_ms = 40;
    setup(&f, 100, 3);
    send_task(&f, "t-m1", 5000);
    fake_answer(&f.bus, 1);
    CHECK_INT_EQ(f.store.n, 0); /* the arrival waits for the outcome */
    fake_msg(&f.bus, 0, &task);
    send_result(&f, "t-m1", task.token, "15");
    CHECK_INT_EQ(f.store.n, 1);
    CHECK(f.store.n == 1 && logdoc_is_commit(f.store.items[0].doc));
    CHECK_STR_EQ(rec_str(&f.store, 0, "_id"), "t-m1:outcome");
    CHECK_STR_EQ(rec_str(&f.store, 0, "request"), "{}");
    fake_ack(&f.store);
    CHECK_INT_EQ(last_to(&f, FRONTEND, &answer), 0);
    CHECK_INT_EQ(answer.status, 200);
    msg_clear(&task);
    msg_clear(&answer);

    int sent = f.bus.n;
    send_task(&f, "t-m2", 5000); /* slower than LOG_MERGE_MS */
    fake_answer(&f.bus, 1);
    run_for(&f, 80);
    CHECK_INT_EQ(f.store.n, 2);
    CHECK_STR_EQ(rec_str(&f.store, 1, "_id"), "t-m2:0");
    CHECK_STR_EQ(rec_str(&f.store, 1, "type"), "received");
    fake_msg(&f.bus, sent, &task);
    send_result(&f, "t-m2", task.token, "15");
    CHECK_INT_EQ(f.store.n, 3);
    CHECK(f.store.n == 3 && !logdoc_is_commit(f.store.items[2].doc));
    CHECK_STR_EQ(rec_str(&f.store, 2, "_id"), "t-m2:outcome");
    fake_ack(&f.store);
    msg_clear(&task);
    teardown(&f);

    /* Another replica stored the outcome first: the stored one is answered, and this arrival is stored alone. */
    setup(&f, 100, 3);
    stored_before[0] = completed_elsewhere("t-m3");
    send_task(&f, "t-m3", 5000);
    fake_answer(&f.bus, 1);
    fake_msg(&f.bus, 0, &task);
    send_result(&f, "t-m3", task.token, "15");
    CHECK(f.store.n == 1 && logdoc_is_commit(f.store.items[0].doc));
    fake_ack(&f.store);
    CHECK_INT_EQ(f.store.n, 2);
    CHECK_STR_EQ(rec_str(&f.store, 1, "_id"), "t-m3:0");
    CHECK_STR_EQ(rec_str(&f.store, 1, "type"), "received");
    CHECK_STR_EQ(rec_str(&f.store, 1, "backend"), rec_str(&f.store, 0, "backend"));
    fake_io(&f.bus);
    CHECK_INT_EQ(last_to(&f, FRONTEND, &answer), 0);
    CHECK_STR_EQ(answer.replica, "arith-9");
    msg_clear(&task);
    msg_clear(&answer);
    teardown(&f);
    setup_merge_ms = 0;
}

int main(void)
{
    test_task_commits();
    test_trace_travels();
    test_async_accepted();
    test_redeliver_after_reconnect();
    test_join();
    test_handoff_of_a_finished_task();
    test_handoff_runs();
    test_duplicate_outcome();
    test_log_escape();
    test_happy_path();
    test_result_without_result();
    test_forged_result();
    test_backend_202();
    test_redeliver_on_no_subscriber();
    test_bus_failure_waits_for_refresh();
    test_redeliver_when_replica_vanishes();
    test_attempts_bounded();
    test_deadline_releases_replica();
    test_admission();
    test_hostile_messages();
    test_duplicate_task();
    test_waits_for_a_replica();
    return check_finish();
}
