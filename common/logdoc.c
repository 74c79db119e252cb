/* Task commits: merging a task's arrival into its outcome document, and splitting it back. */
#include "logdoc.h"

#include <stdio.h>
#include <string.h>

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
    const char *sent_to = utf8_of(received, "backend");
    if (sent_to && !same(sent_to, utf8_of(outcome, "backend")))
        return NULL;
    if (!bson_iter_init_find(&it, received, "at") || !BSON_ITER_HOLDS_DATE_TIME(&it))
        return NULL;
    int64_t at = bson_iter_date_time(&it);

    bson_t *doc = bson_copy(outcome);
    int ok = doc && BSON_APPEND_DATE_TIME(doc, LOGDOC_RECEIVED_AT, at);
    for (size_t i = 0; ok && i < sizeof arrival_fields / sizeof arrival_fields[0]; i++)
        if (bson_iter_init_find(&it, received, arrival_fields[i]))
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

/* The arrival record of commit 'doc' into 'out' (initialized): _id, task, seq, type, at, events, trace, then the
 * arrival's own fields, with the backend before "attempt" as record_received writes them. */
static int arrival_of(const bson_t *doc, const char *task, int32_t seq, bson_t *out)
{
    bson_iter_t it, from;
    char id[160];
    const char *events = utf8_of(doc, "events"), *trace = utf8_of(doc, "trace"), *backend = utf8_of(doc, "backend");
    if (!events || !bson_iter_init_find(&from, doc, LOGDOC_RECEIVED_AT) ||
        snprintf(id, sizeof id, "%s:%d", task, (int)seq - 1) >= (int)sizeof id)
        return -1;
    bson_init(out);
    int ok = BSON_APPEND_UTF8(out, "_id", id) && BSON_APPEND_UTF8(out, "task", task) &&
             BSON_APPEND_INT32(out, "seq", seq - 1) && BSON_APPEND_UTF8(out, "type", "received") &&
             BSON_APPEND_DATE_TIME(out, "at", bson_iter_date_time(&from)) && BSON_APPEND_UTF8(out, "events", events) &&
             (!trace || BSON_APPEND_UTF8(out, "trace", trace));
    it = from;
    while (ok && bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        if (strcmp(key, "attempt") == 0)
            ok = backend && BSON_APPEND_UTF8(out, "backend", backend) && bson_append_iter(out, key, -1, &it);
        else
            ok = bson_append_iter(out, key, -1, &it);
    }
    if (!ok)
        bson_destroy(out);
    return ok ? 0 : -1;
}

int logdoc_split(const bson_t *doc, bson_t *received, bson_t *outcome)
{
    bson_iter_t it;
    int32_t seq;
    const char *task = utf8_of(doc, "task");
    if (!logdoc_is_commit(doc) || !task || int32_of(doc, "seq", &seq) != 0 || seq < 1 ||
        arrival_of(doc, task, seq, received) != 0)
        return -1;
    bson_init(outcome);
    int ok = bson_iter_init(&it, doc);
    while (ok && bson_iter_next(&it) && strcmp(bson_iter_key(&it), LOGDOC_RECEIVED_AT) != 0)
        ok = bson_append_iter(outcome, bson_iter_key(&it), -1, &it);
    if (!ok) {
        bson_destroy(received);
        bson_destroy(outcome);
        return -1;
    }
    return 0;
}
