/* Task commits: merging a task's arrival into its outcome document, and splitting it back. */
#include "logdoc.h"

#include <stdio.h>
#include <string.h>

#include "store.h"

/* The arrival's own fields, in the order its record has them; "attempt" comes last (with the backend). */
static const char *const arrival_fields[] = { "frontend", "request", "taskType", "subtask", "handoff", "service",
                                              "attempt" };

static const char *utf8_of(const bson_t *doc, const char *key)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, NULL) : NULL;
}

static int int32_of(const bson_t *doc, const char *key, int32_t *out)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_INT32(&it))
        return -1;
    *out = bson_iter_int32(&it);
    return 0;
}

static int same(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

bson_t *logdoc_merge(const bson_t *received, const bson_t *outcome)
{
    bson_iter_t it;
    int32_t rseq, oseq;
    const char *type = utf8_of(received, "type"), *task = utf8_of(received, "task");
    if (!type || strcmp(type, "received") != 0 || !task || !same(task, utf8_of(outcome, "task")) ||
        int32_of(received, "seq", &rseq) != 0 || int32_of(outcome, "seq", &oseq) != 0 || rseq + 1 != oseq ||
        !same(utf8_of(received, "events"), utf8_of(outcome, "events")) ||
        !same(utf8_of(received, "trace"), utf8_of(outcome, "trace")) || bson_has_field(outcome, LOGDOC_RECEIVED_AT))
        return NULL;
    int32_t handoff = 0, attempt = 1, status;
    if (bson_has_field(received, "handoff") && int32_of(received, "handoff", &handoff) != 0)
        return NULL;
    if (rseq != handoff * STORE_HANDOFF_STRIDE || !same(utf8_of(received, "backend"), utf8_of(outcome, "backend")))
        return NULL;
    if (bson_has_field(received, "attempt") && int32_of(received, "attempt", &attempt) != 0)
        return NULL;
    if (!bson_iter_init_find(&it, received, "at") || !BSON_ITER_HOLDS_DATE_TIME(&it))
        return NULL;
    int64_t at = bson_iter_date_time(&it);
    /* A completed outcome's status is always 200, and most arrivals are first attempts: neither is written. */
    int implied_status = strcmp(utf8_of(outcome, "type") ? utf8_of(outcome, "type") : "", "completed") == 0 &&
                         int32_of(outcome, "status", &status) == 0 && status == 200;

    bson_t *doc = bson_new();
    int ok = doc && bson_iter_init(&it, outcome);
    while (ok && bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        if (strcmp(key, "seq") != 0 && !(implied_status && strcmp(key, "status") == 0))
            ok = bson_append_iter(doc, key, -1, &it);
    }
    ok = ok && BSON_APPEND_DATE_TIME(doc, LOGDOC_RECEIVED_AT, at);
    for (size_t i = 0; ok && i < sizeof arrival_fields / sizeof arrival_fields[0]; i++)
        if (bson_iter_init_find(&it, received, arrival_fields[i]) && !(strcmp(arrival_fields[i], "attempt") == 0 &&
                                                                       attempt == 1))
            ok = bson_append_iter(doc, arrival_fields[i], -1, &it);
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

/* The arrival record of commit 'doc' (task 'task', the outcome's seq 'seq') into 'out' (initialized): _id, task,
 * seq, type, at, events, trace, then the arrival's own fields; when the task went out at once (the outcome names
 * its backend), the backend and the attempt (1 unless written) last, as record_received writes them. */
static int arrival_of(const bson_t *doc, const char *task, int32_t seq, bson_t *out)
{
    bson_iter_t it, from;
    char id[160];
    const char *events = utf8_of(doc, "events"), *trace = utf8_of(doc, "trace"), *backend = utf8_of(doc, "backend");
    if (!events || !bson_iter_init_find(&from, doc, LOGDOC_RECEIVED_AT) ||
        snprintf(id, sizeof id, STORE_ID_FMT, task, (int)seq - 1) >= (int)sizeof id)
        return -1;
    bson_init(out);
    int ok = BSON_APPEND_UTF8(out, "_id", id) && BSON_APPEND_UTF8(out, "task", task) &&
             BSON_APPEND_INT32(out, "seq", seq - 1) && BSON_APPEND_UTF8(out, "type", "received") &&
             BSON_APPEND_DATE_TIME(out, "at", bson_iter_date_time(&from)) && BSON_APPEND_UTF8(out, "events", events) &&
             (!trace || BSON_APPEND_UTF8(out, "trace", trace));
    int attempt = 0;
    it = from;
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

/* The outcome record of commit 'doc' into 'out' (initialized): its fields up to the arrival's, with the seq after
 * "task" and a completed outcome's status 200 before its "result". */
static int outcome_of(const bson_t *doc, int32_t seq, bson_t *out)
{
    bson_iter_t it;
    const char *type = utf8_of(doc, "type");
    int completed = type && strcmp(type, "completed") == 0 && !bson_has_field(doc, "status");
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
    int32_t handoff = 0;
    const char *task = utf8_of(doc, "task");
    if (!logdoc_is_commit(doc) || !task || bson_has_field(doc, "seq") ||
        (bson_has_field(doc, "handoff") && int32_of(doc, "handoff", &handoff) != 0) || handoff < 0 ||
        handoff > 1000000)
        return -1;
    int32_t seq = handoff * STORE_HANDOFF_STRIDE + 1;
    if (arrival_of(doc, task, seq, received) != 0)
        return -1;
    if (outcome_of(doc, seq, outcome) != 0) {
        bson_destroy(received);
        return -1;
    }
    return 0;
}
