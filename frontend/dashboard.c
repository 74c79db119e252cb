/* The dashboard's JSON: live snapshots, checked, filtered and bounded. */
#include "dashboard.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define DASHBOARD_NAME_MAX 128 /* daemon, service and replica ids longer than this make a snapshot invalid */

/* The series the page draws: rates of requests and tasks, stage latencies (from the buckets), in flight, the store's
 * backlog, live replicas, and each replica's CPU and memory. Everything else stays in GET /metrics. */
static const char *const kept[] = {
    "taskbus_http_requests_total",     "taskbus_http_requests_in_flight", "taskbus_stage_seconds_bucket",
    "taskbus_stage_seconds_count",     "taskbus_tasks_total",             "taskbus_tasks_in_flight",
    "taskbus_store_backlog",           "taskbus_replicas",                "taskbus_backend_tasks_total",
    "process_cpu_seconds_total",       "process_resident_memory_bytes",   "taskbus_bus_up",
};

int dashboard_keeps(const char *name)
{
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
        if (strcmp(name, kept[i]) == 0)
            return 1;
    return 0;
}

/* The string member 'key' of 'o' when it is 1 to DASHBOARD_NAME_MAX bytes, else NULL. */
static const char *name_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v) || !v->valuestring[0] || strlen(v->valuestring) > DASHBOARD_NAME_MAX)
        return NULL;
    return v->valuestring;
}

/* A copy of one series [name, {labels}, value] when the page uses it: the labels keep only their string values.
 * Returns NULL when the series is not kept, is malformed, or memory runs out ('*oom' set then). */
static cJSON *series_copy(const cJSON *s, int *oom)
{
    const cJSON *name = cJSON_GetArrayItem(s, 0), *labels = cJSON_GetArrayItem(s, 1), *value = cJSON_GetArrayItem(s, 2);
    if (!cJSON_IsArray(s) || cJSON_GetArraySize(s) != 3 || !cJSON_IsString(name) || !cJSON_IsObject(labels) ||
        !cJSON_IsNumber(value) || !dashboard_keeps(name->valuestring))
        return NULL;
    cJSON *out = cJSON_CreateArray(), *l = cJSON_CreateObject();
    if (!out || !l || !cJSON_AddItemToArray(out, cJSON_CreateString(name->valuestring))) {
        cJSON_Delete(out);
        cJSON_Delete(l);
        *oom = 1;
        return NULL;
    }
    cJSON_AddItemToArray(out, l); /* cannot fail: both exist; 'out' owns 'l' from here */
    const cJSON *item;
    cJSON_ArrayForEach(item, labels) {
        if (cJSON_IsString(item) && item->string && !cJSON_AddStringToObject(l, item->string, item->valuestring)) {
            *oom = 1;
            cJSON_Delete(out);
            return NULL;
        }
    }
    if (!cJSON_AddItemToArray(out, cJSON_CreateNumber(value->valuedouble))) {
        *oom = 1;
        cJSON_Delete(out);
        return NULL;
    }
    return out;
}

/* One replica of the answer from the snapshot text 's' ('len' bytes), or NULL when the snapshot is not valid
 * ('*oom' set when memory ran out instead). */
static cJSON *replica_of(const char *s, size_t len, int *oom)
{
    const char *end = NULL;
    cJSON *snap = len <= DASHBOARD_MAX_SNAPSHOT ? cJSON_ParseWithLengthOpts(s, len, &end, 0) : NULL, *out = NULL,
          *series;
    const char *daemon = name_of(snap, "daemon"), *service = name_of(snap, "service"),
               *replica = name_of(snap, "replica");
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(snap, "at"),
                *metrics = cJSON_GetObjectItemCaseSensitive(snap, "metrics"), *item;
    int kept_n = 0;
    while (end && end < s + len && *end && strchr(" \t\r\n", *end))
        end++; /* whitespace may follow the object; nothing else */
    if (end != s + len || !cJSON_IsObject(snap) || !daemon || !service || !replica || !cJSON_IsNumber(at) ||
        !cJSON_IsArray(metrics))
        goto out;
    if (!(out = cJSON_CreateObject()) || !cJSON_AddStringToObject(out, "daemon", daemon) ||
        !cJSON_AddStringToObject(out, "service", service) || !cJSON_AddStringToObject(out, "replica", replica) ||
        !cJSON_AddNumberToObject(out, "at", at->valuedouble) || !(series = cJSON_AddArrayToObject(out, "metrics"))) {
        *oom = 1;
        goto fail;
    }
    cJSON_ArrayForEach(item, metrics) {
        cJSON *copy = series_copy(item, oom);
        if (*oom)
            goto fail;
        if (copy && kept_n < DASHBOARD_MAX_SERIES) {
            cJSON_AddItemToArray(series, copy);
            kept_n++;
        } else {
            cJSON_Delete(copy);
        }
    }
    goto out;
fail:
    cJSON_Delete(out);
    out = NULL;
out:
    cJSON_Delete(snap);
    return out;
}

static int by_daemon_then_replica(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    int c = strcmp(name_of(x, "daemon"), name_of(y, "daemon"));
    return c ? c : strcmp(name_of(x, "replica"), name_of(y, "replica"));
}

char *dashboard_stats_render(const char *const *texts, const size_t *lens, size_t n, long long now_ms, size_t *len)
{
    cJSON *reps[DASHBOARD_MAX_REPLICAS];
    size_t got = 0, skipped = 0;
    int oom = 0;
    char *body = NULL;
    for (size_t i = 0; i < n && !oom; i++) {
        if (!texts[i])
            continue;
        cJSON *r = got < DASHBOARD_MAX_REPLICAS ? replica_of(texts[i], lens[i], &oom) : NULL;
        if (r)
            reps[got++] = r;
        else if (!oom)
            skipped++;
    }
    qsort(reps, got, sizeof reps[0], by_daemon_then_replica);
    cJSON *root = oom ? NULL : cJSON_CreateObject(), *list = NULL;
    if (root && cJSON_AddStringToObject(root, "message", "OK") && cJSON_AddNumberToObject(root, "at", (double)now_ms))
        list = cJSON_AddArrayToObject(root, "replicas");
    for (size_t i = 0; i < got; i++) {
        if (!list || !cJSON_AddItemToArray(list, reps[i]))
            cJSON_Delete(reps[i]);
    }
    if (list && cJSON_AddNumberToObject(root, "skipped", (double)skipped) && (body = cJSON_PrintUnformatted(root)))
        *len = strlen(body);
    cJSON_Delete(root);
    return body;
}
