/* Building event-log documents. */
#include "record.h"

#include <stdio.h>
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
