/* libFuzzer harness for the events router (events/router.c, job.c, delivery.c, history.c) on a real libevent loop,
 * with a fake bus and store behind struct router_io, as tests/unit/test_router.c does.
 *
 * The input is a script, one line each: a bus message for router_on_message, in which "$TOKEN" stands for the token
 * of the last task sent to a backend (so results reach the job, forged or not), or one character for the fakes:
 *   p  answer the Redis and store calls so far, in order (publishes reach 1 subscriber)
 *   0  the same, but publishes reach nobody (the replica is gone)   -  the same, but every call fails
 *   a  the store acknowledges the records so far                     .  run the loop once (due deadlines fire)
 *   r  registry refresh: both replicas are alive again               R  the bus reconnected
 *   !  the bus refuses publishes and commands from now on / again takes them
 *   k  Redis restarted without its data: the kept answers are gone
 * After the script the fakes answer everything, the router aborts what is left (as at shutdown), that is answered
 * too, and all is freed: nothing may stay in flight, and leaks show. */
#include <event2/event.h>
#include <string.h>

#include "fuzz.h"
#include "log.h"
#include "msg.h"
#include "record.h"
#include "router.h"
#include "store.h"

/* A call through struct router_io that waits for its answer. */
enum call_kind { CALL_PUBLISH, CALL_KEEP, CALL_LOAD, CALL_READ, CALL_HISTORY };

struct call {
    enum call_kind kind;
    char id[TASK_ID_LEN];   /* the task asked about */
    char *text;             /* CALL_PUBLISH: the message; CALL_KEEP: the answer to keep */
    bus_published_fn published;   /* the callback of the kind */
    outcome_kept_fn kept;
    outcome_loaded_fn loaded;
    store_outcome_fn read;
    store_history_fn history;
    void *arg;
};

struct record {
    bson_t *doc;
    void *ctx;
    int acked;
};

struct kept {
    char id[TASK_ID_LEN];
    char *text;
};

static struct fake {
    struct event_base *base;
    struct router *r;
    struct replica_set set;
    struct call *calls;
    size_t n_calls;
    struct record *log;     /* records in append order; the acknowledged ones are "in the log" */
    size_t n_log;
    struct kept *kept;      /* answers kept in "Redis" */
    size_t n_kept;
    int refuse;
    char token[MSG_TOKEN_LEN];
} f;

static void *grow(void *items, size_t n, size_t size)
{
    void *p = realloc(items, (n + 1) * size);
    FUZZ_CHECK(p != NULL);
    return p;
}

/* Queue a call; the caller sets its callback. */
static struct call *add_call(enum call_kind kind, const char *id, char *text, void *arg)
{
    f.calls = grow(f.calls, f.n_calls, sizeof *f.calls);
    struct call *c = &f.calls[f.n_calls++];
    *c = (struct call){ .kind = kind, .text = text, .arg = arg };
    snprintf(c->id, sizeof c->id, "%s", id ? id : "");
    return c;
}

static struct kept *kept_for(const char *id)
{
    for (size_t i = 0; i < f.n_kept; i++)
        if (strcmp(f.kept[i].id, id) == 0)
            return &f.kept[i];
    return NULL;
}

static void keep(const char *id, const char *text, size_t len)
{
    struct kept *k = kept_for(id);
    if (!k) {
        f.kept = grow(f.kept, f.n_kept, sizeof *f.kept);
        k = &f.kept[f.n_kept++];
        snprintf(k->id, sizeof k->id, "%s", id);
    } else {
        free(k->text);
    }
    k->text = strndup(text, len);
}

/* ---- the fake bus and store: calls wait in f.calls until the script answers them ---- */

static const char *str_of(const bson_t *doc, const char *key)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, NULL) : "";
}

/* 1 when the store has acknowledged a record of task 'id': its outcome when 'outcome', else any. */
static int in_log(const char *id, int outcome)
{
    for (size_t i = 0; i < f.n_log; i++)
        if (f.log[i].acked && strcmp(str_of(f.log[i].doc, "task"), id) == 0 &&
            (!outcome || record_is_outcome(f.log[i].doc)))
            return 1;
    return 0;
}

static int fake_publish(void *bus, const char *channel, const char *data, size_t len, bus_published_fn cb, void *arg)
{
    struct msg m;
    char err[TASK_ERR_LEN];
    (void)bus;
    FUZZ_CHECK(channel && strncmp(channel, MSG_CHANNEL_PREFIX, strlen(MSG_CHANNEL_PREFIX)) == 0);
    if (f.refuse)
        return -1;
    /* Whatever the router sends must be a valid message; a task goes to a backend with its attempt's token. */
    FUZZ_CHECK(msg_decode(data, len, &m, err) == 0);
    if (m.kind == MSG_TASK)
        memcpy(f.token, m.token, sizeof f.token);
    /* No answer leaves before the log holds what it tells: the outcome, or for a 202 the arrival. Refusals (with
     * retryAfter) answer tasks that were never accepted. */
    if (m.kind == MSG_RESULT && m.retry_after_s == 0)
        FUZZ_CHECK(in_log(m.id, m.status != 202));
    msg_clear(&m);
    add_call(CALL_PUBLISH, NULL, strndup(data, len), arg)->published = cb;
    return 0;
}

static int fake_keep(void *bus, const char *id, const char *answer, size_t len, long ttl_s, outcome_kept_fn cb,
                     void *arg)
{
    (void)bus;
    (void)ttl_s;
    if (f.refuse)
        return -1;
    add_call(CALL_KEEP, id, strndup(answer, len), arg)->kept = cb;
    return 0;
}

static int fake_replace(void *bus, const char *id, const char *answer, size_t len, long ttl_s)
{
    (void)bus;
    (void)ttl_s;
    if (f.refuse)
        return -1;
    keep(id, answer, len);
    return 0;
}

static int fake_load(void *bus, const char *id, outcome_loaded_fn cb, void *arg)
{
    (void)bus;
    if (f.refuse)
        return -1;
    add_call(CALL_LOAD, id, NULL, arg)->loaded = cb;
    return 0;
}

static int fake_read(void *store, const char *id, store_outcome_fn cb, void *ctx)
{
    (void)store;
    add_call(CALL_READ, id, NULL, ctx)->read = cb;
    return 0;
}

static int fake_history(void *store, const char *id, store_history_fn cb, void *ctx)
{
    (void)store;
    add_call(CALL_HISTORY, id, NULL, ctx)->history = cb;
    return 0;
}

static int fake_append(void *store, bson_t *doc, void *ctx)
{
    (void)store;
    f.log = grow(f.log, f.n_log, sizeof *f.log);
    f.log[f.n_log++] = (struct record){ doc, ctx, 0 };
    return 0;
}

static size_t fake_backlog(void *store)
{
    size_t n = 0;
    (void)store;
    for (size_t i = 0; i < f.n_log; i++)
        n += !f.log[i].acked;
    return n;
}

/* The first acknowledged record with _id 'id' before record 'before', or NULL. */
static const bson_t *stored(const char *id, size_t before)
{
    for (size_t i = 0; i < before; i++)
        if (f.log[i].acked && strcmp(str_of(f.log[i].doc, "_id"), id) == 0)
            return f.log[i].doc;
    return NULL;
}

/* Answer one call: publishes reach 'receivers'; -1 fails every kind. */
static void answer_call(const struct call *c, long long receivers)
{
    char id[STORE_ID_LEN];
    struct kept *k = kept_for(c->id);
    const bson_t *doc;
    size_t n = 0;

    switch (c->kind) {
    case CALL_PUBLISH:
        if (c->published)
            c->published(receivers, c->arg);
        break;
    case CALL_KEEP: /* SET NX GET: the first answer kept for a task wins */
        if (receivers < 0) {
            c->kept(-1, NULL, 0, c->arg);
        } else if (k) {
            c->kept(1, k->text, strlen(k->text), c->arg);
        } else {
            keep(c->id, c->text, strlen(c->text));
            c->kept(0, NULL, 0, c->arg);
        }
        break;
    case CALL_LOAD:
        c->loaded(receivers >= 0 && k ? k->text : NULL, receivers >= 0 && k ? strlen(k->text) : 0, c->arg);
        break;
    case CALL_READ:
        snprintf(id, sizeof id, STORE_OUTCOME_ID_FMT, c->id);
        doc = stored(id, f.n_log);
        c->read(receivers >= 0 && doc ? bson_copy(doc) : NULL, receivers < 0 ? "store down" : NULL, c->arg);
        break;
    case CALL_HISTORY:
        for (size_t i = 0; i < f.n_log; i++)
            n += f.log[i].acked && strcmp(str_of(f.log[i].doc, "task"), c->id) == 0;
        if (receivers < 0) {
            c->history(NULL, "store down", c->arg);
        } else {
            char *json = malloc(64);
            snprintf(json, 64, n ? "[{\"records\":%zu}]" : "[]", n);
            c->history(json, NULL, c->arg);
        }
        break;
    }
}

/* Answer the calls made so far, in order (those their callbacks make wait). Returns how many. */
static size_t answer_calls(long long receivers)
{
    size_t n = f.n_calls;
    struct call *calls = f.calls;

    f.calls = NULL;
    f.n_calls = 0;
    for (size_t i = 0; i < n; i++) {
        answer_call(&calls[i], receivers);
        free(calls[i].text);
    }
    free(calls);
    return n;
}

/* Acknowledge the records appended so far, in order; one whose _id is in the log already is a duplicate. */
static size_t ack(void)
{
    size_t n = f.n_log, done = 0;

    for (size_t i = 0; i < n; i++) {
        if (f.log[i].acked)
            continue;
        int duplicate = stored(str_of(f.log[i].doc, "_id"), i) != NULL;
        f.log[i].acked = 1;
        done++;
        router_on_acked(f.log[i].ctx, f.log[i].doc, duplicate, f.r);
    }
    return done;
}

/* Answer and acknowledge until nothing is left; it must settle. */
static void settle(void)
{
    int rounds = 0;

    while (answer_calls(1) + ack() > 0)
        FUZZ_CHECK(++rounds < 1000);
}

static void alive(void)
{
    replica_set_upsert(&f.set, "arith-1", 1LL << 60);
    replica_set_upsert(&f.set, "arith-2", 1LL << 60);
}

/* ---- one run of the script ---- */

static void setup(void)
{
    struct router_io io = { &f, fake_publish, &f, fake_append, fake_history, fake_backlog, fake_keep, fake_replace,
                            fake_load, fake_read };
    struct router_config cfg = { .self_id = "events-1", .sets = { &f.set, NULL }, .max_jobs = 4, .max_backlog = 16,
                                 .max_attempts = 3, .outcome_ttl_s = 60 };
    const char *map = "{\"NUMBER\":\"arithmetic\"}"; /* STRING has no route: those tasks fail with 500 */
    char err[TASK_ERR_LEN];

    memset(&f, 0, sizeof f);
    FUZZ_CHECK(taskmap_parse(map, strlen(map), &cfg.map, err) == 0);
    f.base = event_base_new();
    alive();
    f.r = router_new(f.base, &io, &cfg);
    FUZZ_CHECK(f.base && f.r);
}

static void teardown(void)
{
    router_free(f.r);
    for (size_t i = 0; i < f.n_log; i++)
        bson_destroy(f.log[i].doc);
    for (size_t i = 0; i < f.n_kept; i++)
        free(f.kept[i].text);
    free(f.log);
    free(f.kept);
    replica_set_clear(&f.set);
    event_base_free(f.base);
}

/* Deliver 'line' ('len' bytes) with every "$TOKEN" replaced by the last token sent. */
static void deliver(const char *line, size_t len)
{
    static const char mark[] = "$TOKEN";
    const size_t m = sizeof mark - 1;
    char *text = malloc((len / m + 1) * sizeof f.token + len + 1), *exact;
    size_t n = 0;

    for (size_t i = 0; i < len;) {
        if (len - i >= m && memcmp(line + i, mark, m) == 0) {
            n += (size_t)sprintf(text + n, "%s", f.token);
            i += m;
        } else {
            text[n++] = line[i++];
        }
    }
    /* Exactly 'n' bytes, as the bus hands them over, so ASan sees a read past the end. */
    exact = malloc(n ? n : 1);
    memcpy(exact, text, n);
    router_on_message(exact, n, f.r);
    free(exact);
    free(text);
}

static void step(const char *line, size_t len)
{
    if (len != 1) {
        deliver(line, len);
        return;
    }
    switch (line[0]) {
    case 'p': answer_calls(1); break;
    case '0': answer_calls(0); break;
    case '-': answer_calls(-1); break;
    case 'a': ack(); break;
    case '.': event_base_loop(f.base, EVLOOP_NONBLOCK); break;
    case 'r': alive(); router_on_refresh(f.r); break;
    case 'R': router_on_reconnect(f.r); break;
    case '!': f.refuse = !f.refuse; break;
    case 'k':
        for (size_t i = 0; i < f.n_kept; i++)
            free(f.kept[i].text);
        f.n_kept = 0;
        break;
    default: deliver(line, len); break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;

    log_threshold = LOG_ERROR;
    setup();
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        step(p, len);
        p += len + (nl != NULL);
    }
    f.refuse = 0;
    settle();
    router_abort_all(f.r);
    settle();
    FUZZ_CHECK(router_in_flight(f.r) == 0);
    teardown();
    return 0;
}
