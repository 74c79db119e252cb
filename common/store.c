/* Store writer: a FIFO of appends and queries drained by one thread into unordered bulk inserts (group commit). */
#include "store.h"

#include <mongoc/mongoc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "logdoc.h"
#include "recjson.h"
#include "metrics.h"
#include "mailbox.h"
#include "msg.h"
#include "secret.h"

#define STORE_HISTORY_MAX 100
#define STORE_BACKOFF_MAX_MS 1000

enum item_kind { ITEM_APPEND, ITEM_QUERY, ITEM_OUTCOME };

struct item {
    struct item *next;
    enum item_kind kind;
    bson_t *doc;
    void *ctx;
    long long t0;
    char *task_id;
    store_history_fn cb;
    store_outcome_fn outcome_cb;
};

/* One thread and the FIFO it drains: the writer takes appends, the reader queries, so a slow read never holds up
 * a group commit (FerretDB v1 scans the collection for a lookup). */
struct lane {
    pthread_t thread;
    pthread_cond_t cond;
    struct item *head, *tail;
    int started;
};

/* What the writer hands back to the loop: acknowledgements of one bulk, or one query's answer. */
struct done {
    enum item_kind kind;
    void **ctxs;
    bson_t **docs;                 /* the stored records, in order (taken from the items) */
    unsigned char *dups;           /* per acknowledged record: 1 when its _id was in the log already */
    size_t n;
    char *json;
    bson_t *doc;
    int failed;
    char err[STORE_ERR_LEN];
    store_history_fn cb;
    store_outcome_fn outcome_cb;
    void *ctx;
};

struct store {
    pthread_mutex_t lock;            /* guards both lanes, 'stopping' and 'stats' */
    struct lane write, read;
    mongoc_client_pool_t *pool;
    int stopping;
    long long stop_deadline_ms;
    struct store_stats stats;
    mongoc_uri_t *uri;
    char db[64];
    long max_batch;
    long linger_ms;                  /* least time from one bulk insert's start to the next one's */
    int lingering;                   /* the writer waits out linger_ms: appends do not wake it */
    struct mailbox *mailbox;
    store_acked_fn on_acked;
    void *arg;
    struct metric_series *m_batch, *m_insert, *m_commit;   /* store_set_metrics; NULL: none */
};

/* The password of the URI being used, as written and as decoded: libmongoc's messages never show them. Set before
 * the first libmongoc call and not changed while its threads run. */
static char uri_password[SECRET_LEN], uri_password_decoded[SECRET_LEN];

/* 'text' with the URI's password masked, escaped for a quoted log value, into 'out' (LOG_VALUE_LEN bytes). */
static const char *scrub(const char *text, char *out)
{
    char a[LOG_VALUE_LEN], b[LOG_VALUE_LEN];
    secret_redact(text, uri_password, a, sizeof a);
    secret_redact(a, uri_password_decoded, b, sizeof b);
    return log_escape(b, out, LOG_VALUE_LEN);
}

static void mongoc_to_log(mongoc_log_level_t level, const char *domain, const char *message, void *data)
{
    (void)data;
    char text[LOG_VALUE_LEN];
    if (level <= MONGOC_LOG_LEVEL_WARNING)
        LOG_W("event=mongoc domain=%s message=\"%s\"", domain, scrub(message, text));
    else if (LOG_DEBUG <= log_threshold)
        LOG_D("event=mongoc domain=%s message=\"%s\"", domain, scrub(message, text));
}

static void item_free(struct item *it)
{
    if (it->doc)
        bson_destroy(it->doc);
    free(it->task_id);
    free(it);
}

/* Loop thread: deliver what the writer finished. */
static void on_done(void *p, void *arg)
{
    struct store *s = arg;
    struct done *d = p;
    if (d->kind == ITEM_APPEND) {
        for (size_t i = 0; i < d->n; i++) {
            s->on_acked(d->ctxs[i], d->docs[i], d->dups[i], s->arg);
            bson_destroy(d->docs[i]);
        }
        free(d->ctxs);
        free(d->docs);
        free(d->dups);
    } else if (d->kind == ITEM_QUERY) {
        d->cb(d->json, d->json ? NULL : d->err, d->ctx);
    } else {
        d->outcome_cb(d->doc, d->failed ? d->err : NULL, d->ctx);
    }
    free(d);
}

/* Wait up to 'ms' unless the store is stopping; returns 1 when the writer should give up retrying. */
static int backoff_wait(struct store *s, long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->lock);
    if (!s->stopping)
        pthread_cond_timedwait(&s->write.cond, &s->lock, &ts);
    int give_up = s->stopping && clock_mono_ms() >= s->stop_deadline_ms;
    pthread_mutex_unlock(&s->lock);
    return give_up;
}

/* A bulk failed; it still counts as stored when every write error is a duplicate key (the record is in the log
 * already). Marks the duplicates in 'dup' ('n' entries, by the index of the document in the bulk). */
static int only_duplicates(const bson_t *reply, unsigned char *dup, size_t n)
{
    bson_iter_t it, errs;
    if (!bson_iter_init_find(&it, reply, "writeErrors") || !BSON_ITER_HOLDS_ARRAY(&it))
        return 0;
    if (bson_iter_init_find(&errs, reply, "writeConcernErrors") && BSON_ITER_HOLDS_ARRAY(&errs)) {
        uint32_t len;
        const uint8_t *data;
        bson_iter_array(&errs, &len, &data);
        if (len > 5) /* an empty BSON array is 5 bytes */
            return 0;
    }
    bson_iter_recurse(&it, &errs);
    int any = 0;
    while (bson_iter_next(&errs)) {
        bson_iter_t field;
        if (!BSON_ITER_HOLDS_DOCUMENT(&errs) || !bson_iter_recurse(&errs, &field) ||
            !bson_iter_find(&field, "code") || bson_iter_as_int64(&field) != 11000)
            return 0;
        if (bson_iter_recurse(&errs, &field) && bson_iter_find(&field, "index")) {
            int64_t i = bson_iter_as_int64(&field);
            if (i >= 0 && (size_t)i < n)
                dup[i] = 1;
        }
        any = 1;
    }
    return any;
}

static int insert_batch(mongoc_collection_t *coll, struct item **items, size_t n, unsigned char *dup,
                        bson_error_t *error)
{
    bson_t opts = BSON_INITIALIZER;
    bson_t reply;
    BSON_APPEND_BOOL(&opts, "ordered", false);
    mongoc_bulk_operation_t *bulk = mongoc_collection_create_bulk_operation_with_opts(coll, &opts);
    for (size_t i = 0; i < n; i++)
        mongoc_bulk_operation_insert(bulk, items[i]->doc);
    memset(dup, 0, n);
    int ok = mongoc_bulk_operation_execute(bulk, &reply, error) != 0 || only_duplicates(&reply, dup, n);
    bson_destroy(&reply);
    mongoc_bulk_operation_destroy(bulk);
    bson_destroy(&opts);
    return ok;
}

/* Store 'n' appends, retrying with backoff until stored or the store is stopping and its grace ran out. */
static void write_appends(struct store *s, mongoc_collection_t *coll, struct item **items, size_t n,
                          unsigned char *dup)
{
    bson_error_t error;
    long backoff = 10;
    int stored, tries = 0;
    double started = clock_mono_s();
    while (tries++, !(stored = insert_batch(coll, items, n, dup, &error))) {
        if (error.domain == MONGOC_ERROR_COMMAND && error.code == MONGOC_ERROR_COMMAND_INVALID_ARG) {
            /* Client-side validation: retrying cannot help. Documents are validated before they get here. */
            LOG_E("event=store_records_rejected records=%zu error=\"%s\"", n, error.message);
            break;
        }
        LOG_W("event=store_write_failed records=%zu error=\"%s\" retry_ms=%ld", n, error.message, backoff);
        if (backoff_wait(s, backoff)) {
            LOG_E("event=store_records_lost records=%zu reason=\"store unreachable at shutdown\"", n);
            break;
        }
        backoff = backoff * 2 > STORE_BACKOFF_MAX_MS ? STORE_BACKOFF_MAX_MS : backoff * 2;
    }
    /* After a failed try, part of the batch may have landed: a duplicate then is our own record, not another
     * replica's, so only a first try tells them apart. */
    if (tries > 1)
        memset(dup, 0, n);
    struct done *d = calloc(1, sizeof *d);
    void **ctxs = calloc(n, sizeof *ctxs);
    bson_t **docs = calloc(n, sizeof *docs);
    unsigned char *dups = calloc(n, 1);
    long long now = clock_mono_ms(), lag = 0;
    for (size_t i = 0; i < n; i++) {
        if (now - items[i]->t0 > lag)
            lag = now - items[i]->t0;
        metric_observe(s->m_commit, (double)(now - items[i]->t0) / 1000.0);
    }
    metric_observe(s->m_batch, (double)n);
    metric_observe(s->m_insert, clock_mono_s() - started);
    pthread_mutex_lock(&s->lock);
    s->stats.backlog -= n;
    s->stats.batches++;
    if (stored)
        s->stats.stored += n;
    if (lag > s->stats.max_lag_ms)
        s->stats.max_lag_ms = lag;
    pthread_mutex_unlock(&s->lock);
    if (!stored || !d || !ctxs || !docs || !dups) {
        /* Records that were not stored are never acknowledged: their replies must not leave. */
        if (stored)
            LOG_E("event=store_ack_lost records=%zu reason=\"out of memory\"", n);
        free(ctxs);
        free(docs);
        free(dups);
        free(d);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        dups[i] = dup[i];
        ctxs[i] = items[i]->ctx;
        docs[i] = items[i]->doc; /* the loop thread destroys it after the acknowledgement */
        items[i]->doc = NULL;
    }
    d->kind = ITEM_APPEND;
    d->ctxs = ctxs;
    d->docs = docs;
    d->dups = dups;
    d->n = n;
    if (mailbox_post(s->mailbox, d) != 0) {
        LOG_E("event=store_ack_lost records=%zu reason=\"out of memory\"", n);
        for (size_t i = 0; i < n; i++)
            bson_destroy(docs[i]);
        free(ctxs);
        free(docs);
        free(dups);
        free(d);
    }
}

/* 1 when 'doc' is a task's last record (its outcome): nothing follows it. */
static int is_final(const bson_t *doc)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, "type") || !BSON_ITER_HOLDS_UTF8(&it))
        return 0;
    const char *type = bson_iter_utf8(&it, NULL);
    return strcmp(type, "completed") == 0 || strcmp(type, "failed") == 0;
}

/* What the history reader keeps while it collects a task's records. */
struct reading {
    mongoc_collection_t *coll;
    bson_string_t *out;          /* the JSON array's elements so far */
    int count;                   /* records appended */
    bson_error_t error;
};

/* Append record 'doc' to the reading as JSON. */
static void append_json(struct reading *rd, const bson_t *doc)
{
    char *text = recjson_of(doc);
    if (rd->count++ > 0)
        bson_string_append_c(rd->out, ',');
    bson_string_append(rd->out, text ? text : "null"); /* NULL: not UTF-8, which no decoder in front lets through */
    free(text);
}

/* Look up the document with _id 'id' and append its records to the reading: the record, or the arrival and the
 * outcome of a task commit (logdoc.h). Returns 1 when found (its "seq" goes to '*seq', whether it is an outcome to
 * '*final', and whether it is a commit to '*commit', each when not NULL), 0 when there is none, -1 on error. */
static int read_record(struct reading *rd, const char *id, int *seq, int *final, int *commit)
{
    bson_t *filter = BCON_NEW("_id", BCON_UTF8(id));
    bson_t *opts = BCON_NEW("limit", BCON_INT64(1));
    mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(rd->coll, filter, opts, NULL);
    const bson_t *doc;
    int found = 0;
    if (mongoc_cursor_next(cursor, &doc)) {
        bson_iter_t it;
        bson_t received, outcome;
        int split = logdoc_split(doc, &received, &outcome) == 0;
        if (split) {
            append_json(rd, &received);
            append_json(rd, &outcome);
        } else {
            append_json(rd, doc);
        }
        if (seq)
            *seq = bson_iter_init_find(&it, split ? &outcome : doc, "seq") ? (int)bson_iter_as_int64(&it) : 0;
        if (split) {
            bson_destroy(&received);
            bson_destroy(&outcome);
        }
        if (final)
            *final = is_final(doc);
        if (commit)
            *commit = split;
        found = 1;
    } else if (mongoc_cursor_error(cursor, &rd->error)) {
        found = -1;
    }
    mongoc_cursor_destroy(cursor);
    bson_destroy(opts);
    bson_destroy(filter);
    return found;
}

/* Read the steps "<task>:<first>", +1, ... up to the first missing one, 'max' at most, or up to an outcome stored
 * as a step (logs written before the outcome had its own _id). Returns how many were found, or -1 on error;
 * '*final' says whether the last one was an outcome. */
static int read_chain(struct reading *rd, const char *task_id, int first, int max, int *final)
{
    char id[STORE_ID_LEN];
    int n = 0, rc;
    *final = 0;
    while (n < max && rd->count < STORE_HISTORY_MAX) {
        snprintf(id, sizeof id, STORE_ID_FMT, task_id, first + n);
        if ((rc = read_record(rd, id, NULL, final, NULL)) <= 0)
            return rc < 0 ? -1 : n;
        n++;
        if (*final)
            break;
    }
    return n;
}

/* Collect the task's records (steps, then the outcome) into rd->out. Returns 0, or -1 on a store error. */
static int read_history(struct reading *rd, const char *task_id)
{
    char id[STORE_ID_LEN];
    int oseq = 0, final = 0, commit = 0, rc;
    bson_string_t *steps = rd->out;
    struct reading outcome = { rd->coll, bson_string_new(""), 0, { 0 } };

    snprintf(id, sizeof id, STORE_OUTCOME_ID_FMT, task_id);
    rc = read_record(&outcome, id, &oseq, NULL, &commit);
    if (rc < 0) {
        rd->error = outcome.error;
        bson_string_free(outcome.out, true);
        return -1;
    }
    if (rc == 1) {
        /* The outcome's seq names the handoff that wrote it and how many steps that handoff wrote before it; a
         * commit holds the last of those steps itself. */
        int last = oseq / STORE_HANDOFF_STRIDE, n = oseq % STORE_HANDOFF_STRIDE - commit;
        for (int h = 0; h < last && rc >= 0; h++)
            rc = read_chain(rd, task_id, h * STORE_HANDOFF_STRIDE, STORE_HANDOFF_STRIDE, &final);
        if (rc >= 0)
            rc = read_chain(rd, task_id, last * STORE_HANDOFF_STRIDE, n, &final);
        if (rd->count > 0)
            bson_string_append_c(steps, ',');
        rd->count += outcome.count;
        bson_string_append(steps, outcome.out->str);
    } else {
        /* No outcome yet (or an older log that kept it as a step): each handoff's steps until one is missing. */
        for (int h = 0; h <= MSG_MAX_HANDOFF && rc >= 0 && !final; h++) {
            rc = read_chain(rd, task_id, h * STORE_HANDOFF_STRIDE, STORE_HANDOFF_STRIDE, &final);
            if (rc == 0 && h > 0)
                break;
        }
    }
    bson_string_free(outcome.out, true);
    return rc < 0 ? -1 : 0;
}

/* A task's records in order, as a JSON array: a few lookups by _id (two for most tasks: the outcome, then the one
 * step it names). MongoDB answers them from the _id index; FerretDB v1 (SQLite) at least pushes them down to SQL,
 * where a filter on "task" is evaluated in Go for every document of the log. */
static char *history_json(mongoc_collection_t *coll, const char *task_id, char *err)
{
    struct reading rd = { coll, bson_string_new("["), 0, { 0 } };
    if (read_history(&rd, task_id) != 0) {
        snprintf(err, STORE_ERR_LEN, "store query failed: %.200s", rd.error.message);
        bson_string_free(rd.out, true);
        return NULL;
    }
    bson_string_append_c(rd.out, ']');
    char *text = bson_string_free(rd.out, false);
    char *json = strdup(text);
    bson_free(text);
    if (!json)
        snprintf(err, STORE_ERR_LEN, "out of memory");
    return json;
}

/* Find the outcome record of 'task_id'. Returns a copy, or NULL (none, or an error: then '*failed' and 'err'). */
static bson_t *find_outcome(mongoc_collection_t *coll, const char *task_id, int *failed, char *err)
{
    char id[STORE_ID_LEN];
    bson_error_t error;
    const bson_t *doc;
    bson_t *copy = NULL;
    snprintf(id, sizeof id, STORE_OUTCOME_ID_FMT, task_id);
    bson_t *filter = BCON_NEW("_id", BCON_UTF8(id));
    bson_t *opts = BCON_NEW("limit", BCON_INT64(1));
    mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
    if (mongoc_cursor_next(cursor, &doc)) {
        copy = bson_copy(doc);
    } else if (mongoc_cursor_error(cursor, &error)) {
        *failed = 1;
        snprintf(err, STORE_ERR_LEN, "store query failed: %.200s", error.message);
    }
    mongoc_cursor_destroy(cursor);
    bson_destroy(opts);
    bson_destroy(filter);
    return copy;
}

static void answer_query(struct store *s, mongoc_collection_t *coll, struct item *it)
{
    struct done *d = calloc(1, sizeof *d);
    if (!d)
        return;
    d->kind = it->kind;
    d->cb = it->cb;
    d->outcome_cb = it->outcome_cb;
    d->ctx = it->ctx;
    if (it->kind == ITEM_QUERY)
        d->json = history_json(coll, it->task_id, d->err);
    else
        d->doc = find_outcome(coll, it->task_id, &d->failed, d->err);
    if (mailbox_post(s->mailbox, d) != 0) {
        free(d->json);
        if (d->doc)
            bson_destroy(d->doc);
        free(d);
    }
}

/* Writer: wait until 'due_ms' (monotonic) unless the store is stopping or a full batch is queued, so that a bulk
 * insert takes everything that arrived meanwhile: fewer, larger inserts cost the store less per record. */
static void linger_until(struct store *s, long long due_ms)
{
    pthread_mutex_lock(&s->lock);
    s->lingering = 1;
    while (!s->stopping && s->stats.backlog < (size_t)s->max_batch) {
        long long now = clock_mono_ms();
        if (now >= due_ms)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long long ns = ts.tv_nsec + (due_ms - now) * 1000000LL;
        ts.tv_sec += ns / 1000000000LL;
        ts.tv_nsec = ns % 1000000000LL;
        pthread_cond_timedwait(&s->write.cond, &s->lock, &ts);
    }
    s->lingering = 0;
    pthread_mutex_unlock(&s->lock);
}

/* Take everything queued on 'lane' (or wait for something); returns NULL when stopping and nothing is left. */
static struct item *take_all(struct store *s, struct lane *lane)
{
    pthread_mutex_lock(&s->lock);
    while (!lane->head && !s->stopping)
        pthread_cond_wait(&lane->cond, &s->lock);
    struct item *list = lane->head;
    lane->head = lane->tail = NULL;
    pthread_mutex_unlock(&s->lock);
    return list;
}

static void *writer_main(void *arg)
{
    struct store *s = arg;
    mongoc_client_t *client = mongoc_client_pool_pop(s->pool);
    mongoc_collection_t *coll = mongoc_client_get_collection(client, s->db, STORE_COLLECTION);
    struct item **batch = calloc((size_t)s->max_batch, sizeof *batch);
    unsigned char *dup = calloc((size_t)s->max_batch, 1);
    struct item *list;
    long long started = 0;
    while (batch && dup) {
        /* Under load, bulk inserts start at least linger_ms apart; after a quiet spell the first record goes at
         * once. */
        if (s->linger_ms > 0 && started)
            linger_until(s, started + s->linger_ms);
        if (!(list = take_all(s, &s->write)))
            break;
        started = clock_mono_ms();
        size_t n = 0;
        while (list) {
            struct item *it = list;
            list = it->next;
            batch[n++] = it;
            if (n < (size_t)s->max_batch && list)
                continue;
            write_appends(s, coll, batch, n, dup);
            for (size_t i = 0; i < n; i++)
                item_free(batch[i]);
            n = 0;
        }
    }
    free(batch);
    free(dup);
    mongoc_collection_destroy(coll);
    mongoc_client_pool_push(s->pool, client);
    return NULL;
}

static void *reader_main(void *arg)
{
    struct store *s = arg;
    mongoc_client_t *client = mongoc_client_pool_pop(s->pool);
    mongoc_collection_t *coll = mongoc_client_get_collection(client, s->db, STORE_COLLECTION);
    struct item *list;
    while ((list = take_all(s, &s->read))) {
        while (list) {
            struct item *it = list;
            list = it->next;
            answer_query(s, coll, it);
            item_free(it);
        }
    }
    mongoc_collection_destroy(coll);
    mongoc_client_pool_push(s->pool, client);
    return NULL;
}

static void enqueue(struct store *s, struct item *it)
{
    struct lane *lane = it->kind == ITEM_APPEND ? &s->write : &s->read;
    pthread_mutex_lock(&s->lock);
    if (lane->tail)
        lane->tail->next = it;
    else
        lane->head = it;
    lane->tail = it;
    if (it->kind == ITEM_APPEND) {
        s->stats.appended++;
        s->stats.backlog++;
    }
    if (lane != &s->write || !s->lingering || s->stats.backlog >= (size_t)s->max_batch)
        pthread_cond_signal(&lane->cond);
    pthread_mutex_unlock(&s->lock);
}

/* Stop both threads: the writer stores what is queued first (see store_free). */
static void stop_lanes(struct store *s, long grace_ms)
{
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    s->stop_deadline_ms = clock_mono_ms() + grace_ms;
    pthread_cond_broadcast(&s->write.cond);
    pthread_cond_broadcast(&s->read.cond);
    pthread_mutex_unlock(&s->lock);
    if (s->write.started)
        pthread_join(s->write.thread, NULL);
    if (s->read.started)
        pthread_join(s->read.thread, NULL);
}

static mongoc_uri_t *parse_uri(const char *text, char *db, size_t db_len, char *err)
{
    bson_error_t error;
    if (secret_uri_password(text, uri_password, sizeof uri_password) != 0)
        uri_password[0] = '\0';
    mongoc_uri_t *uri = mongoc_uri_new_with_error(text, &error);
    if (!uri) {
        /* Neither the URI nor libmongoc's reason may show the password. */
        char shown[96], reason[LOG_VALUE_LEN];
        secret_redact_uri(text, shown, sizeof shown);
        snprintf(err, STORE_ERR_LEN, "invalid MONGO_URI %s: %.130s", shown, scrub(error.message, reason));
        return NULL;
    }
    const char *password = mongoc_uri_get_password(uri);
    snprintf(uri_password_decoded, sizeof uri_password_decoded, "%s", password ? password : "");
    static const struct { const char *name; int32_t value; } defaults[] = {
        { MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 2000 },
        { MONGOC_URI_CONNECTTIMEOUTMS, 2000 },
        { MONGOC_URI_SOCKETTIMEOUTMS, 10000 },
    };
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        if (mongoc_uri_get_option_as_int32(uri, defaults[i].name, -1) == -1)
            mongoc_uri_set_option_as_int32(uri, defaults[i].name, defaults[i].value);
    const char *name = mongoc_uri_get_database(uri);
    snprintf(db, db_len, "%s", name && *name ? name : "taskbus");
    return uri;
}

struct store *store_new(struct event_base *base, const char *uri, long max_batch, long linger_ms,
                        store_acked_fn on_acked, void *arg, char *err)
{
    struct store *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, STORE_ERR_LEN, "out of memory");
        return NULL;
    }
    mongoc_log_set_handler(mongoc_to_log, NULL);
    s->uri = parse_uri(uri, s->db, sizeof s->db, err);
    if (!s->uri)
        goto fail;
    s->max_batch = max_batch > 0 ? max_batch : 1;
    s->linger_ms = linger_ms > 0 ? linger_ms : 0;
    s->on_acked = on_acked;
    s->arg = arg;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->write.cond, NULL);
    pthread_cond_init(&s->read.cond, NULL);
    /* A pool even for two threads: its background monitor rediscovers a restarted server within ~0.5 s, where a
     * single-threaded client waits out a 5 s cooldown after every failed server check. */
    s->pool = mongoc_client_pool_new(s->uri);
    s->mailbox = mailbox_new(base, on_done, s);
    if (!s->pool || !s->mailbox) {
        snprintf(err, STORE_ERR_LEN, "cannot create the store's client pool or mailbox");
        goto fail_sync;
    }
    mongoc_client_pool_set_error_api(s->pool, MONGOC_ERROR_API_VERSION_2);
    s->write.started = pthread_create(&s->write.thread, NULL, writer_main, s) == 0;
    s->read.started = s->write.started && pthread_create(&s->read.thread, NULL, reader_main, s) == 0;
    if (!s->read.started) {
        snprintf(err, STORE_ERR_LEN, "cannot start the writer and reader threads");
        stop_lanes(s, 0);
        goto fail_sync;
    }
    return s;
fail_sync:
    mailbox_free(s->mailbox);
    if (s->pool)
        mongoc_client_pool_destroy(s->pool);
    pthread_cond_destroy(&s->write.cond);
    pthread_cond_destroy(&s->read.cond);
    pthread_mutex_destroy(&s->lock);
fail:
    mongoc_uri_destroy(s->uri);
    free(s);
    return NULL;
}

int store_append(struct store *s, bson_t *doc, void *ctx)
{
    struct item *it = calloc(1, sizeof *it);
    if (!it) {
        bson_destroy(doc);
        return -1;
    }
    it->kind = ITEM_APPEND;
    it->doc = doc;
    it->ctx = ctx;
    it->t0 = clock_mono_ms();
    enqueue(s, it);
    return 0;
}

void store_set_metrics(struct store *s, struct metric_series *batch_records, struct metric_series *insert_seconds,
                       struct metric_series *commit_seconds)
{
    s->m_batch = batch_records;
    s->m_insert = insert_seconds;
    s->m_commit = commit_seconds;
}

size_t store_backlog(struct store *s)
{
    pthread_mutex_lock(&s->lock);
    size_t n = s->stats.backlog;
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* A new query of 'kind' about 'task_id' for the reader; the caller sets its callback and enqueues it. NULL when out
 * of memory. */
static struct item *query_item(enum item_kind kind, const char *task_id, void *ctx)
{
    struct item *it = calloc(1, sizeof *it);
    if (!it || !(it->task_id = strdup(task_id))) {
        free(it);
        return NULL;
    }
    it->kind = kind;
    it->ctx = ctx;
    return it;
}

int store_history(struct store *s, const char *task_id, store_history_fn cb, void *ctx)
{
    struct item *it = query_item(ITEM_QUERY, task_id, ctx);
    if (!it)
        return -1;
    it->cb = cb;
    enqueue(s, it);
    return 0;
}

int store_outcome(struct store *s, const char *task_id, store_outcome_fn cb, void *ctx)
{
    struct item *it = query_item(ITEM_OUTCOME, task_id, ctx);
    if (!it)
        return -1;
    it->outcome_cb = cb;
    enqueue(s, it);
    return 0;
}

void store_free(struct store *s, long grace_ms, struct store_stats *final)
{
    if (!s)
        return;
    stop_lanes(s, grace_ms);
    mailbox_free(s->mailbox);
    mongoc_client_pool_destroy(s->pool);
    if (final)
        *final = s->stats;
    pthread_cond_destroy(&s->write.cond);
    pthread_cond_destroy(&s->read.cond);
    pthread_mutex_destroy(&s->lock);
    mongoc_uri_destroy(s->uri);
    free(s);
}

long long store_scan(const char *uri_text, void (*fn)(const bson_t *doc, void *arg), void *arg, char *err)
{
    char db[64];
    bson_error_t error;
    long long n = 0;
    mongoc_uri_t *uri = parse_uri(uri_text, db, sizeof db, err);
    if (!uri)
        return -1;
    mongoc_client_t *client = mongoc_client_new_from_uri(uri);
    mongoc_collection_t *coll = client ? mongoc_client_get_collection(client, db, STORE_COLLECTION) : NULL;
    bson_t filter = BSON_INITIALIZER;
    bson_t *opts = BCON_NEW("batchSize", BCON_INT32(1000));
    mongoc_cursor_t *cursor = coll ? mongoc_collection_find_with_opts(coll, &filter, opts, NULL) : NULL;
    const bson_t *doc;
    while (cursor && mongoc_cursor_next(cursor, &doc)) {
        fn(doc, arg);
        n++;
    }
    if (!cursor) {
        snprintf(err, STORE_ERR_LEN, "cannot create a MongoDB client");
        n = -1;
    } else if (mongoc_cursor_error(cursor, &error)) {
        snprintf(err, STORE_ERR_LEN, "reading the log failed after %lld records: %.180s", n, error.message);
        n = -1;
    }
    mongoc_cursor_destroy(cursor);
    bson_destroy(opts);
    bson_destroy(&filter);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(client);
    mongoc_uri_destroy(uri);
    return n;
}
