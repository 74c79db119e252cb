/* Task commits: merging a task's arrival into its outcome document, and splitting it back. */
#include "logdoc.h"

#include <stdio.h>
#include <string.h>

#include "store.h"

static int same(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* The fields logdoc_merge and logdoc_split read, found in one pass over each record (a lookup per field walked the record from its
 * start each time; merging and splitting were ~9 % of events' CPU). 'its[i]' is set where 'found' has bit i: the first field of
 * that name, as bson_iter_find finds it. */
enum { M_TYPE, M_TASK, M_SEQ, M_EVENTS, M_TRACE, M_BACKEND, M_AT, M_STATUS, M_RECEIVED_AT, M_FRONTEND, M_REQUEST,
       M_TASKTYPE, M_SUBTASK, M_HANDOFF, M_SERVICE, M_ATTEMPT, M_COUNT };
static const char *const merge_names[M_COUNT] = { "type", "task", "seq", "events", "trace", "backend", "at",
                                                  "status", LOGDOC_RECEIVED_AT, "frontend", "request", "taskType",
                                                  "subtask", "handoff", "service", "attempt" };
/* The arrival's own fields, in the order its record has them; "attempt" comes last (with the backend). */
static const int arrival_fields[] = { M_FRONTEND, M_REQUEST, M_TASKTYPE, M_SUBTASK, M_HANDOFF, M_SERVICE, M_ATTEMPT };

struct fields {
    struct {
        bson_iter_t it; /* in a struct: libbson aligns an iterator to 128 bytes, which an array of them cannot be */
    } its[M_COUNT];
    unsigned found;
};

static int fields_of(const bson_t *doc, struct fields *f)
{
    bson_iter_t it;
    f->found = 0;
    if (!bson_iter_init(&it, doc))
        return -1;
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        for (int i = 0; i < M_COUNT; i++)
            if (!(f->found >> i & 1) && strcmp(key, merge_names[i]) == 0) {
                f->found |= 1u << i;
                f->its[i].it = it;
                break;
            }
    }
    return 0;
}

static int has(const struct fields *f, int i)
{
    return f->found >> i & 1;
}

/* The string field 'i', or NULL when absent or not a string. */
static const char *text(const struct fields *f, int i)
{
    return has(f, i) && BSON_ITER_HOLDS_UTF8(&f->its[i].it) ? bson_iter_utf8(&f->its[i].it, NULL) : NULL;
}

/* The int32 field 'i' into '*out'. Returns 0, or -1 when absent or not an int32. */
static int int32(const struct fields *f, int i, int32_t *out)
{
    if (!has(f, i) || !BSON_ITER_HOLDS_INT32(&f->its[i].it))
        return -1;
    *out = bson_iter_int32(&f->its[i].it);
    return 0;
}

bson_t *logdoc_merge(const bson_t *received, const bson_t *outcome)
{
    bson_iter_t it;
    struct fields r, o;
    int32_t rseq, oseq;
    if (fields_of(received, &r) != 0 || fields_of(outcome, &o) != 0)
        return NULL;
    const char *type = text(&r, M_TYPE), *task = text(&r, M_TASK);
    if (!type || strcmp(type, "received") != 0 || !task || !same(task, text(&o, M_TASK)) ||
        int32(&r, M_SEQ, &rseq) != 0 || int32(&o, M_SEQ, &oseq) != 0 || rseq + 1 != oseq ||
        !same(text(&r, M_EVENTS), text(&o, M_EVENTS)) || !same(text(&r, M_TRACE), text(&o, M_TRACE)) ||
        has(&o, M_RECEIVED_AT))
        return NULL;
    int32_t handoff = 0, attempt = 1, status;
    if (has(&r, M_HANDOFF) && int32(&r, M_HANDOFF, &handoff) != 0)
        return NULL;
    if (rseq != handoff * STORE_HANDOFF_STRIDE || !same(text(&r, M_BACKEND), text(&o, M_BACKEND)))
        return NULL;
    if (has(&r, M_ATTEMPT) && int32(&r, M_ATTEMPT, &attempt) != 0)
        return NULL;
    if (!has(&r, M_AT) || !BSON_ITER_HOLDS_DATE_TIME(&r.its[M_AT].it))
        return NULL;
    int64_t at = bson_iter_date_time(&r.its[M_AT].it);
    /* A completed outcome's status is always 200, and most arrivals are first attempts: neither is written. */
    int implied_status = same(text(&o, M_TYPE), "completed") && int32(&o, M_STATUS, &status) == 0 && status == 200;

    bson_t *doc = bson_new();
    int ok = doc && bson_iter_init(&it, outcome);
    while (ok && bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        if (strcmp(key, "seq") != 0 && !(implied_status && strcmp(key, "status") == 0))
            ok = bson_append_iter(doc, key, -1, &it);
    }
    ok = ok && BSON_APPEND_DATE_TIME(doc, LOGDOC_RECEIVED_AT, at);
    for (size_t i = 0; ok && i < sizeof arrival_fields / sizeof arrival_fields[0]; i++)
        if (has(&r, arrival_fields[i]) && !(arrival_fields[i] == M_ATTEMPT && attempt == 1))
            ok = bson_append_iter(doc, merge_names[arrival_fields[i]], -1, &r.its[arrival_fields[i]].it);
    if (!ok && doc) {
        bson_destroy(doc);
        doc = NULL;
    }
    return doc;
}

int logdoc_is_commit(const bson_t *doc)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, doc, LOGDOC_RECEIVED_AT) && BSON_ITER_HOLDS_DATE_TIME(&it);
}

/* The arrival record of commit 'doc' (its fields 'f'; task 'task', the outcome's seq 'seq') into 'out'
 * (initialized): _id, task, seq, type, at, events, trace, then the arrival's own fields; when the task went out at
 * once (the outcome names its backend), the backend and the attempt (1 unless written) last, as record_received
 * writes them. */
static int arrival_of(const struct fields *f, const char *task, int32_t seq, bson_t *out)
{
    bson_iter_t it;
    char id[160];
    const char *events = text(f, M_EVENTS), *trace = text(f, M_TRACE), *backend = text(f, M_BACKEND);
    if (!events || snprintf(id, sizeof id, STORE_ID_FMT, task, (int)seq - 1) >= (int)sizeof id)
        return -1;
    bson_init(out);
    int ok = BSON_APPEND_UTF8(out, "_id", id) && BSON_APPEND_UTF8(out, "task", task) &&
             BSON_APPEND_INT32(out, "seq", seq - 1) && BSON_APPEND_UTF8(out, "type", "received") &&
             BSON_APPEND_DATE_TIME(out, "at", bson_iter_date_time(&f->its[M_RECEIVED_AT].it)) &&
             BSON_APPEND_UTF8(out, "events", events) && (!trace || BSON_APPEND_UTF8(out, "trace", trace));
    int attempt = 0;
    it = f->its[M_RECEIVED_AT].it;
    while (ok && bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        if (strcmp(key, "attempt") == 0)
            attempt = BSON_ITER_HOLDS_INT32(&it) && bson_iter_int32(&it) > 0 ? bson_iter_int32(&it) : -1;
        else
            ok = bson_append_iter(out, key, -1, &it);
    }
    /* An attempt without a backend, or one that is not a positive int32, is not ours. */
    ok = ok && attempt >= 0 && (backend ? BSON_APPEND_UTF8(out, "backend", backend) &&
                                              BSON_APPEND_INT32(out, "attempt", attempt ? attempt : 1)
                                        : attempt == 0);
    if (!ok)
        bson_destroy(out);
    return ok ? 0 : -1;
}

/* The outcome record of commit 'doc' (its fields 'f') into 'out' (initialized): its fields up to the arrival's, with
 * the seq after "task" and a completed outcome's status 200 before its "result". */
static int outcome_of(const bson_t *doc, const struct fields *f, int32_t seq, bson_t *out)
{
    bson_iter_t it;
    int completed = same(text(f, M_TYPE), "completed") && !has(f, M_STATUS);
    bson_init(out);
    int ok = bson_iter_init(&it, doc);
    while (ok && bson_iter_next(&it) && strcmp(bson_iter_key(&it), LOGDOC_RECEIVED_AT) != 0) {
        const char *key = bson_iter_key(&it);
        if (completed && strcmp(key, "result") == 0)
            ok = BSON_APPEND_INT32(out, "status", 200);
        ok = ok && bson_append_iter(out, key, -1, &it);
        if (strcmp(key, "task") == 0)
            ok = ok && BSON_APPEND_INT32(out, "seq", seq);
    }
    if (!ok)
        bson_destroy(out);
    return ok ? 0 : -1;
}

int logdoc_split(const bson_t *doc, bson_t *received, bson_t *outcome)
{
    struct fields f;
    int32_t handoff = 0;
    if (fields_of(doc, &f) != 0)
        return -1;
    const char *task = text(&f, M_TASK);
    if (!has(&f, M_RECEIVED_AT) || !BSON_ITER_HOLDS_DATE_TIME(&f.its[M_RECEIVED_AT].it) || !task || has(&f, M_SEQ) ||
        (has(&f, M_HANDOFF) && int32(&f, M_HANDOFF, &handoff) != 0) || handoff < 0 || handoff > 1000000)
        return -1;
    int32_t seq = handoff * STORE_HANDOFF_STRIDE + 1;
    if (arrival_of(&f, task, seq, received) != 0)
        return -1;
    if (outcome_of(doc, &f, seq, outcome) != 0) {
        bson_destroy(received);
        return -1;
    }
    return 0;
}
