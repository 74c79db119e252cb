/* Task views and listings for clients, derived from log records. */
#include "taskview.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "msg.h"

static const char *const names[] = { NULL, "pending", "running", "completed", "failed" };

enum taskview_status taskview_status_of(const char *type, int has_backend)
{
    if (!type)
        return TASKVIEW_NONE;
    if (strcmp(type, "received") == 0)
        return has_backend ? TASKVIEW_RUNNING : TASKVIEW_PENDING;
    if (strcmp(type, "dispatched") == 0)
        return TASKVIEW_RUNNING;
    if (strcmp(type, "completed") == 0)
        return TASKVIEW_COMPLETED;
    if (strcmp(type, "failed") == 0)
        return TASKVIEW_FAILED;
    return TASKVIEW_NONE;
}

const char *taskview_status_name(enum taskview_status s)
{
    return s > TASKVIEW_NONE && s <= TASKVIEW_FAILED ? names[s] : NULL;
}

enum taskview_status taskview_status_parse(const char *name)
{
    for (int s = TASKVIEW_PENDING; name && s <= TASKVIEW_FAILED; s++)
        if (strcmp(name, names[s]) == 0)
            return (enum taskview_status)s;
    return TASKVIEW_NONE;
}

/* How far a status is along a task's life: a later record never moves a task back. Both final ones rank alike. */
static int rank(enum taskview_status s)
{
    return s == TASKVIEW_FAILED ? TASKVIEW_COMPLETED : (int)s;
}

void taskview_iso8601(long long ms, char *buf)
{
    time_t secs = (time_t)(ms / 1000);
    int frac = (int)(ms % 1000);
    if (frac < 0) {
        secs--;
        frac += 1000;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    if (frac)
        snprintf(buf + n, 32 - n, ".%03dZ", frac);
    else
        snprintf(buf + n, 32 - n, "Z");
}

/* ---- one task */

static const char *string_of(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double seq_of(const cJSON *rec)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, "seq");
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static int by_seq(const void *a, const void *b)
{
    double x = seq_of(*(cJSON *const *)a), y = seq_of(*(cJSON *const *)b);
    return (x > y) - (x < y);
}

/* 1 when date text 'a' is earlier than 'b', both as libbson writes them: "YYYY-MM-DDTHH:MM:SS" then ".mmmZ", or
 * just "Z" when the milliseconds are 0 (so the texts alone do not sort: '.' sorts before 'Z'). */
static int date_before(const char *a, const char *b)
{
    int c = strncmp(a, b, 19);
    if (c != 0 || strlen(a) < 19 || strlen(b) < 19)
        return c < 0;
    double fa = a[19] == '.' ? strtod(a + 19, NULL) : 0, fb = b[19] == '.' ? strtod(b + 19, NULL) : 0;
    return fa < fb;
}

/* The date text of a record's "at" ({"$date": "..."}), or NULL. */
static const char *at_of(const cJSON *rec)
{
    return string_of(cJSON_GetObjectItemCaseSensitive(rec, "at"), "$date");
}

/* Render from 'records' (an array of this task's record objects, which it takes over and reorders). */
static char *render(const char *id, cJSON *records, int *found)
{
    size_t n = (size_t)cJSON_GetArraySize(records);
    cJSON **sorted = n ? calloc(n, sizeof *sorted) : NULL;
    cJSON *root = cJSON_CreateObject();
    char *text = NULL;
    *found = n > 0;
    if (n == 0 || !sorted || !root)
        goto out;
    for (size_t i = 0; i < n; i++)
        sorted[i] = cJSON_DetachItemFromArray(records, 0);
    qsort(sorted, n, sizeof *sorted, by_seq);

    enum taskview_status status = TASKVIEW_NONE;
    const char *type = NULL, *service = NULL, *created = NULL;
    const cJSON *outcome = NULL;
    for (size_t i = 0; i < n; i++) {
        const cJSON *rec = sorted[i];
        enum taskview_status s = taskview_status_of(string_of(rec, "type"), string_of(rec, "backend") != NULL);
        if (rank(s) > rank(status))
            status = s;
        if (s == TASKVIEW_COMPLETED || s == TASKVIEW_FAILED)
            outcome = rec;
        if (!type)
            type = string_of(rec, "taskType");
        if (!service)
            service = string_of(rec, "service");
        const char *at = at_of(rec);
        if (at && (!created || date_before(at, created)))
            created = at;
    }
    int ok = cJSON_AddStringToObject(root, "message", "OK") && cJSON_AddStringToObject(root, "id", id) &&
             (status == TASKVIEW_NONE || cJSON_AddStringToObject(root, "status", taskview_status_name(status))) &&
             (!type || cJSON_AddStringToObject(root, "taskType", type)) &&
             (!service || cJSON_AddStringToObject(root, "service", service)) &&
             (!created || cJSON_AddStringToObject(root, "created", created));
    if (ok && status == TASKVIEW_COMPLETED && string_of(outcome, "result"))
        ok = cJSON_AddStringToObject(root, "result", string_of(outcome, "result")) != NULL;
    if (ok && status == TASKVIEW_FAILED && string_of(outcome, "error")) {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(outcome, "status");
        ok = cJSON_AddStringToObject(root, "error", string_of(outcome, "error")) &&
             (!cJSON_IsNumber(code) || cJSON_AddNumberToObject(root, "code", code->valuedouble));
    }
    cJSON *history = ok ? cJSON_AddArrayToObject(root, "history") : NULL;
    for (size_t i = 0; i < n; i++) {
        if (history)
            cJSON_AddItemToArray(history, sorted[i]);
        else
            cJSON_Delete(sorted[i]);
    }
    if (history)
        text = cJSON_PrintUnformatted(root);
out:
    free(sorted);
    cJSON_Delete(root);
    cJSON_Delete(records);
    return text;
}

/* 1 when 'rec' is a record object of task 'id'. */
static int is_record_of(const cJSON *rec, const char *id)
{
    const char *task = string_of(rec, "task");
    return cJSON_IsObject(rec) && task && strcmp(task, id) == 0;
}

char *taskview_render(const char *id, const char *const *texts, const size_t *lens, size_t n, int *found)
{
    cJSON *records = cJSON_CreateArray();
    *found = 0;
    if (!records)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        cJSON *rec = cJSON_ParseWithLength(texts[i], lens[i]);
        if (is_record_of(rec, id))
            cJSON_AddItemToArray(records, rec);
        else
            cJSON_Delete(rec);
    }
    return render(id, records, found);
}

char *taskview_render_array(const char *id, const char *array, int *found)
{
    cJSON *parsed = cJSON_Parse(array), *records = cJSON_CreateArray();
    *found = 0;
    if (!records) {
        cJSON_Delete(parsed);
        return NULL;
    }
    while (cJSON_IsArray(parsed) && cJSON_GetArraySize(parsed) > 0) {
        cJSON *rec = cJSON_DetachItemFromArray(parsed, 0);
        if (is_record_of(rec, id))
            cJSON_AddItemToArray(records, rec);
        else
            cJSON_Delete(rec);
    }
    cJSON_Delete(parsed);
    return render(id, records, found);
}

/* ---- listings */

const char *taskview_bucket(enum taskview_status status)
{
    return status == TASKVIEW_COMPLETED || status == TASKVIEW_FAILED ? taskview_status_name(status) : "open";
}

void taskview_index_key(enum taskview_status status, const char *service, char *key)
{
    snprintf(key, TASKVIEW_KEY_LEN, "taskbus:index:%s:%s", taskview_bucket(status), service ? service : "");
}

void taskview_member(long long created_ms, const char *id, char *member)
{
    snprintf(member, TASKVIEW_CURSOR_LEN, "%016lld:%s", created_ms, id);
}

/* 1 when 'after' is a member as taskview_member writes it. */
static int valid_cursor(const char *after)
{
    size_t len = strlen(after);
    if (len < 18 || len >= TASKVIEW_CURSOR_LEN || after[16] != ':')
        return 0;
    for (int i = 0; i < 16; i++)
        if (after[i] < '0' || after[i] > '9')
            return 0;
    return msg_valid_name(after + 17, TASK_ID_LEN - 1);
}

int taskview_parse_query(const char *status, const char *service, const char *limit, const char *after,
                         struct taskview_query *q, char *err)
{
    enum taskview_status s = TASKVIEW_NONE;
    /* An empty parameter (?status=&service=) means the same as an absent one. */
    status = status && status[0] ? status : NULL;
    service = service && service[0] ? service : NULL;
    limit = limit && limit[0] ? limit : NULL;
    after = after && after[0] ? after : NULL;
    memset(q, 0, sizeof *q);
    q->limit = TASKVIEW_LIST_DEFAULT;
    if (status && (s = taskview_status_parse(status)) == TASKVIEW_NONE) {
        snprintf(err, TASK_ERR_LEN, "status must be pending, running, completed or failed");
        return -1;
    }
    if (service && !msg_valid_name(service, TASKVIEW_SERVICE_LEN - 1)) {
        snprintf(err, TASK_ERR_LEN, "service must be 1 to 63 characters of letters, digits, '.', '_' and '-'");
        return -1;
    }
    if (limit) {
        char *end;
        long v = strtol(limit, &end, 10);
        if (limit[0] < '0' || limit[0] > '9' || *end || v < 1 || v > TASKVIEW_LIST_MAX) {
            snprintf(err, TASK_ERR_LEN, "limit must be an integer from 1 to %d", TASKVIEW_LIST_MAX);
            return -1;
        }
        q->limit = (int)v;
    }
    if (after) {
        if (!valid_cursor(after)) {
            snprintf(err, TASK_ERR_LEN, "after must be the 'next' cursor of a previous page");
            return -1;
        }
        memcpy(q->after, after, strlen(after) + 1);
    }
    if (s != TASKVIEW_NONE)
        snprintf(q->bucket, sizeof q->bucket, "%s", taskview_bucket(s));
    if (service)
        snprintf(q->service, sizeof q->service, "%s", service);
    if (s == TASKVIEW_PENDING || s == TASKVIEW_RUNNING)
        snprintf(q->only, sizeof q->only, "%s", taskview_status_name(s));
    return 0;
}

static int add_item(cJSON *tasks, const struct taskview_item *it)
{
    cJSON *o = cJSON_CreateObject();
    char created[32];
    if (!o || !cJSON_AddItemToArray(tasks, o))
        return (cJSON_Delete(o), 0);
    int ok = cJSON_AddStringToObject(o, "id", it->id) && cJSON_AddStringToObject(o, "status", it->status) &&
             (!it->task_type || cJSON_AddStringToObject(o, "taskType", it->task_type)) &&
             (!it->service || cJSON_AddStringToObject(o, "service", it->service));
    if (ok && it->created_ms) {
        taskview_iso8601(strtoll(it->created_ms, NULL, 10), created);
        ok = cJSON_AddStringToObject(o, "created", created) != NULL;
    }
    if (ok && it->result)
        ok = cJSON_AddStringToObject(o, "result", it->result) != NULL;
    if (ok && it->error)
        ok = cJSON_AddStringToObject(o, "error", it->error) != NULL;
    if (ok && it->code)
        ok = cJSON_AddNumberToObject(o, "code", strtol(it->code, NULL, 10)) != NULL;
    return ok;
}

char *taskview_render_list(const struct taskview_item *items, size_t n, const char *next)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *tasks = root && cJSON_AddStringToObject(root, "message", "OK") ? cJSON_AddArrayToObject(root, "tasks")
                                                                          : NULL;
    int ok = tasks != NULL;
    for (size_t i = 0; ok && i < n; i++)
        ok = add_item(tasks, &items[i]);
    if (ok)
        ok = (next ? cJSON_AddStringToObject(root, "next", next) : cJSON_AddNullToObject(root, "next")) != NULL;
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}
