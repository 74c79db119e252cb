/* Building event-log documents. */
#include "record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

static bson_t *record_start(const struct record_base *b, const char *type)
{
    char id[STORE_ID_LEN];
    if (strcmp(type, "completed") == 0 || strcmp(type, "failed") == 0)
        snprintf(id, sizeof id, STORE_OUTCOME_ID_FMT, b->task_id);
    else
        snprintf(id, sizeof id, STORE_ID_FMT, b->task_id, b->seq);
    bson_t *doc = bson_new();
    BSON_APPEND_UTF8(doc, "_id", id);
    BSON_APPEND_UTF8(doc, "task", b->task_id);
    BSON_APPEND_INT32(doc, "seq", b->seq);
    BSON_APPEND_UTF8(doc, "type", type);
    BSON_APPEND_DATE_TIME(doc, "at", b->at_ms);
    BSON_APPEND_UTF8(doc, "events", b->events_id);
    if (b->trace && b->trace[0])
        BSON_APPEND_UTF8(doc, "trace", b->trace);
    return doc;
}

bson_t *record_received(const struct record_base *b, const struct msg *task, const char *service,
                        const char *backend, int attempt)
{
    bson_t *doc = record_start(b, "received");
    BSON_APPEND_UTF8(doc, "frontend", task->origin ? task->origin : "");
    BSON_APPEND_UTF8(doc, "request", task->request ? task->request : "");
    BSON_APPEND_UTF8(doc, "taskType", task_type_name(task->task.type));
    BSON_APPEND_UTF8(doc, "subtask", task_op_name(task->task.op));
    if (task->handoff > 0)
        BSON_APPEND_INT32(doc, "handoff", task->handoff);
    if (service)
        BSON_APPEND_UTF8(doc, "service", service);
    if (backend) {
        BSON_APPEND_UTF8(doc, "backend", backend);
        BSON_APPEND_INT32(doc, "attempt", attempt);
    }
    return doc;
}

bson_t *record_dispatched(const struct record_base *b, const char *service, const char *backend, int attempt)
{
    bson_t *doc = record_start(b, "dispatched");
    BSON_APPEND_UTF8(doc, "service", service);
    BSON_APPEND_UTF8(doc, "backend", backend);
    BSON_APPEND_INT32(doc, "attempt", attempt);
    return doc;
}

bson_t *record_completed(const struct record_base *b, const char *result, const char *backend)
{
    bson_t *doc = record_start(b, "completed");
    BSON_APPEND_INT32(doc, "status", 200);
    BSON_APPEND_UTF8(doc, "result", result);
    BSON_APPEND_UTF8(doc, "backend", backend ? backend : "");
    return doc;
}

bson_t *record_failed(const struct record_base *b, int status, const char *error, const char *backend)
{
    bson_t *doc = record_start(b, "failed");
    BSON_APPEND_INT32(doc, "status", status);
    BSON_APPEND_UTF8(doc, "error", error);
    if (backend)
        BSON_APPEND_UTF8(doc, "backend", backend);
    return doc;
}

/* A copy of the string field 'key' of 'doc', or NULL when it is absent or not a string. */
static char *dup_utf8(const bson_t *doc, const char *key)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_UTF8(&it) ? strdup(bson_iter_utf8(&it, NULL)) : NULL;
}

int record_answer(const bson_t *doc, const char *task_id, struct msg *answer)
{
    bson_iter_t it;
    char *type = dup_utf8(doc, "type"), *task = dup_utf8(doc, "task");
    int ok = type && task && strcmp(task, task_id) == 0 && strlen(task_id) < TASK_ID_LEN &&
             (strcmp(type, "completed") == 0 || strcmp(type, "failed") == 0) &&
             bson_iter_init_find(&it, doc, "status") && BSON_ITER_HOLDS_INT32(&it);
    memset(answer, 0, sizeof *answer);
    if (ok) {
        answer->kind = MSG_RESULT;
        memcpy(answer->id, task_id, strlen(task_id) + 1);
        answer->status = bson_iter_int32(&it);
        answer->replica = dup_utf8(doc, "backend");
        if (answer->replica && !answer->replica[0]) {
            free(answer->replica);
            answer->replica = NULL;
        }
        if (strcmp(type, "completed") == 0)
            ok = (answer->result = dup_utf8(doc, "result")) != NULL;
        else
            ok = (answer->error = dup_utf8(doc, "error")) != NULL;
    }
    free(type);
    free(task);
    if (!ok)
        msg_clear(answer);
    return ok ? 0 : -1;
}

int record_is_outcome(const bson_t *doc)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, "type") || !BSON_ITER_HOLDS_UTF8(&it))
        return 0;
    const char *type = bson_iter_utf8(&it, NULL);
    return strcmp(type, "completed") == 0 || strcmp(type, "failed") == 0;
}
