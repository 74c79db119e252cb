/* The dashboard's JSON: snapshots checked, filtered to what the page draws, sorted, and bounded. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dashboard.h"
#include "metrics.h"

/* Render 'n' NUL-terminated texts (NULL allowed) and parse the answer. */
static cJSON *render(const char *const *texts, size_t n, long long now)
{
    size_t lens[400], len = 0;
    for (size_t i = 0; i < n; i++)
        lens[i] = texts[i] ? strlen(texts[i]) : 0;
    char *body = dashboard_stats_render(texts, lens, n, now, &len);
    CHECK(body && strlen(body) == len);
    cJSON *root = body ? cJSON_Parse(body) : NULL;
    CHECK(root);
    free(body);
    return root;
}

/* A snapshot as common/telemetry.c writes it, from a registry with a few of each kind of family. */
static char *snapshot_of(const char *daemon, const char *replica, long long at)
{
    struct metrics *m = metrics_new();
    struct metric *req = metrics_add(m, METRIC_COUNTER, "taskbus_http_requests_total", "h", "route,status", NULL, 0);
    struct metric *stage = metrics_add(m, METRIC_HISTOGRAM, "taskbus_stage_seconds", "h", "stage",
                                       METRIC_SECONDS_BUCKETS, METRIC_SECONDS_BUCKETS_N);
    metric_add(metric_labels(req, "/task", "200", NULL), 5);
    metric_observe(metric_labels(stage, "end_to_end", NULL, NULL), 0.003);
    metric_set(metric_only(metrics_add(m, METRIC_GAUGE, "process_open_fds", "h", NULL, NULL, 0)), 9);
    metric_set(metric_only(metrics_add(m, METRIC_COUNTER, "process_cpu_seconds_total", "h", NULL, NULL, 0)), 1.5);
    size_t len;
    char *metrics = metrics_render_json(m, &len);
    CHECK(metrics);
    size_t cap = len + 256;
    char *s = malloc(cap);
    snprintf(s, cap, "{\"daemon\":\"%s\",\"service\":\"%s\",\"replica\":\"%s\",\"at\":%lld,\"metrics\":%s}", daemon,
             daemon, replica, at, metrics);
    free(metrics);
    metrics_free(m);
    return s;
}

static int has_series(const cJSON *rep, const char *name)
{
    const cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItem(rep, "metrics"))
        if (strcmp(cJSON_GetArrayItem(s, 0)->valuestring, name) == 0)
            return 1;
    return 0;
}

static void test_keeps_what_the_page_draws(void)
{
    char *a = snapshot_of("frontend", "frontend-b", 1000), *b = snapshot_of("events", "events-a", 1001),
         *c = snapshot_of("frontend", "frontend-a", 1002);
    const char *texts[] = { a, b, NULL, c };
    cJSON *root = render(texts, 4, 5000);
    CHECK_STR_EQ(cJSON_GetObjectItem(root, "message")->valuestring, "OK");
    CHECK_INT_EQ(cJSON_GetObjectItem(root, "at")->valuedouble, 5000);
    CHECK_INT_EQ(cJSON_GetObjectItem(root, "skipped")->valuedouble, 0); /* an expired key is not an error */
    const cJSON *reps = cJSON_GetObjectItem(root, "replicas");
    CHECK_INT_EQ(cJSON_GetArraySize(reps), 3);
    /* Sorted by daemon, then replica id. */
    CHECK_STR_EQ(cJSON_GetObjectItem(cJSON_GetArrayItem(reps, 0), "replica")->valuestring, "events-a");
    CHECK_STR_EQ(cJSON_GetObjectItem(cJSON_GetArrayItem(reps, 1), "replica")->valuestring, "frontend-a");
    CHECK_STR_EQ(cJSON_GetObjectItem(cJSON_GetArrayItem(reps, 2), "replica")->valuestring, "frontend-b");
    const cJSON *rep = cJSON_GetArrayItem(reps, 2);
    CHECK_STR_EQ(cJSON_GetObjectItem(rep, "daemon")->valuestring, "frontend");
    CHECK_STR_EQ(cJSON_GetObjectItem(rep, "service")->valuestring, "frontend");
    CHECK_INT_EQ(cJSON_GetObjectItem(rep, "at")->valuedouble, 1000);
    CHECK(has_series(rep, "taskbus_http_requests_total"));
    CHECK(has_series(rep, "taskbus_stage_seconds_bucket"));
    CHECK(has_series(rep, "taskbus_stage_seconds_count"));
    CHECK(has_series(rep, "process_cpu_seconds_total"));
    CHECK(!has_series(rep, "taskbus_stage_seconds_sum"));
    CHECK(!has_series(rep, "process_open_fds"));
    /* A series keeps its labels and value. */
    const cJSON *s;
    int found = 0;
    cJSON_ArrayForEach(s, cJSON_GetObjectItem(rep, "metrics")) {
        if (strcmp(cJSON_GetArrayItem(s, 0)->valuestring, "taskbus_http_requests_total") == 0) {
            CHECK_STR_EQ(cJSON_GetObjectItem(cJSON_GetArrayItem(s, 1), "route")->valuestring, "/task");
            CHECK_STR_EQ(cJSON_GetObjectItem(cJSON_GetArrayItem(s, 1), "status")->valuestring, "200");
            CHECK_INT_EQ(cJSON_GetArrayItem(s, 2)->valuedouble, 5);
            found++;
        }
        if (strcmp(cJSON_GetArrayItem(s, 0)->valuestring, "taskbus_stage_seconds_bucket") == 0 &&
            strcmp(cJSON_GetObjectItem(cJSON_GetArrayItem(s, 1), "le")->valuestring, "+Inf") == 0) {
            CHECK_STR_EQ(cJSON_GetObjectItem(cJSON_GetArrayItem(s, 1), "stage")->valuestring, "end_to_end");
            CHECK_INT_EQ(cJSON_GetArrayItem(s, 2)->valuedouble, 1);
            found++;
        }
    }
    CHECK_INT_EQ(found, 2);
    cJSON_Delete(root);
    free(a);
    free(b);
    free(c);
}

static void test_skips_what_is_not_a_snapshot(void)
{
    char long_name[300];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    char too_long[512];
    snprintf(too_long, sizeof too_long, "{\"daemon\":\"f\",\"service\":\"f\",\"replica\":\"%s\",\"at\":1,"
             "\"metrics\":[]}", long_name);
    const char *texts[] = {
        "not json",
        "[1,2]",
        "{\"daemon\":\"f\",\"service\":\"f\",\"at\":1,\"metrics\":[]}",                   /* no replica */
        "{\"daemon\":\"f\",\"service\":\"f\",\"replica\":\"\",\"at\":1,\"metrics\":[]}",  /* empty replica */
        "{\"daemon\":\"f\",\"service\":\"f\",\"replica\":\"r\",\"at\":\"1\",\"metrics\":[]}",
        "{\"daemon\":\"f\",\"service\":\"f\",\"replica\":\"r\",\"at\":1,\"metrics\":{}}",
        "{\"daemon\":\"f\",\"service\":\"f\",\"replica\":\"r\",\"at\":1,\"metrics\":[]} trailing",
        too_long,
        /* Valid, with malformed series that are dropped and a label of another type left out. */
        "{\"daemon\":\"f\",\"service\":\"f\",\"replica\":\"ok\",\"at\":1,\"metrics\":["
        "[\"taskbus_tasks_in_flight\",{},3],[\"taskbus_tasks_in_flight\",{}],[\"taskbus_tasks_in_flight\",[],1],"
        "[\"taskbus_tasks_in_flight\",{},\"1\"],[7,{},1],\"x\","
        "[\"taskbus_tasks_total\",{\"outcome\":\"failed\",\"n\":1,\"o\":{}},2]]}",
    };
    size_t n = sizeof texts / sizeof texts[0];
    cJSON *root = render(texts, n, 1);
    CHECK_INT_EQ(cJSON_GetObjectItem(root, "skipped")->valuedouble, n - 1);
    const cJSON *reps = cJSON_GetObjectItem(root, "replicas");
    CHECK_INT_EQ(cJSON_GetArraySize(reps), 1);
    const cJSON *metrics = cJSON_GetObjectItem(cJSON_GetArrayItem(reps, 0), "metrics");
    CHECK_INT_EQ(cJSON_GetArraySize(metrics), 2);
    const cJSON *labels = cJSON_GetArrayItem(cJSON_GetArrayItem(metrics, 1), 1);
    CHECK_INT_EQ(cJSON_GetArraySize(labels), 1);
    CHECK_STR_EQ(cJSON_GetObjectItem(labels, "outcome")->valuestring, "failed");
    cJSON_Delete(root);
}

static void test_bounded(void)
{
    static char bufs[300][160];
    const char *texts[300];
    for (int i = 0; i < 300; i++) {
        snprintf(bufs[i], sizeof bufs[i], "{\"daemon\":\"backend\",\"service\":\"arithmetic\",\"replica\":"
                 "\"arithmetic-%03d\",\"at\":1,\"metrics\":[[\"taskbus_backend_tasks_total\",{},1]]}", 299 - i);
        texts[i] = bufs[i];
    }
    cJSON *root = render(texts, 300, 1);
    CHECK_INT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(root, "replicas")), DASHBOARD_MAX_REPLICAS);
    CHECK_INT_EQ(cJSON_GetObjectItem(root, "skipped")->valuedouble, 300 - DASHBOARD_MAX_REPLICAS);
    cJSON_Delete(root);

    /* No snapshot at all: an empty list, still a valid answer. */
    root = render(texts, 0, 42);
    CHECK_INT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(root, "replicas")), 0);
    CHECK_INT_EQ(cJSON_GetObjectItem(root, "skipped")->valuedouble, 0);

    /* A snapshot past the size bound is not parsed. */
    size_t big = DASHBOARD_MAX_SNAPSHOT + 1;
    const char *one[] = { bufs[0] };
    char *body;
    size_t len;
    body = dashboard_stats_render(one, &big, 1, 1, &len);
    CHECK(body && strstr(body, "\"replicas\":[]") && strstr(body, "\"skipped\":1"));
    free(body);
    cJSON_Delete(root);
}

static void test_keeps(void)
{
    CHECK(dashboard_keeps("taskbus_stage_seconds_bucket"));
    CHECK(dashboard_keeps("taskbus_store_backlog"));
    CHECK(!dashboard_keeps("taskbus_stage_seconds"));
    CHECK(!dashboard_keeps("taskbus_http_request_duration_seconds_bucket"));
    CHECK(!dashboard_keeps(""));
}

int main(void)
{
    test_keeps_what_the_page_draws();
    test_skips_what_is_not_a_snapshot();
    test_bounded();
    test_keeps();
    return check_finish();
}
