/* The metrics registry: series by label values, the text exposition format, histograms, the JSON snapshot. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "metrics.h"

static char *text_of(struct metrics *m)
{
    size_t len;
    char *t = metrics_render_text(m, &len);
    CHECK(t && strlen(t) == len);
    return t;
}

static void test_counter_and_gauge(void)
{
    struct metrics *m = metrics_new();
    struct metric *req = metrics_add(m, METRIC_COUNTER, "taskbus_http_requests_total", "HTTP requests.",
                                     "route,status", NULL, 0);
    struct metric *fl = metrics_add(m, METRIC_GAUGE, "taskbus_tasks_in_flight", "Tasks in flight.", NULL, NULL, 0);
    CHECK(req && fl);
    struct metric_series *ok = metric_labels(req, "/task", "200", NULL);
    CHECK(ok == metric_labels(req, "/task", "200", NULL)); /* the same series every time: callers may cache it */
    metric_add(ok, 1);
    metric_add(ok, 2);
    metric_add(metric_labels(req, "/task", "400", NULL), 1);
    metric_set(metric_only(fl), 7);
    metric_add(metric_only(fl), -2);
    CHECK(metric_value(ok) == 3);
    char *t = text_of(m);
    CHECK(strstr(t, "# HELP taskbus_http_requests_total HTTP requests.\n# TYPE taskbus_http_requests_total counter\n"));
    CHECK(strstr(t, "taskbus_http_requests_total{route=\"/task\",status=\"200\"} 3\n"));
    CHECK(strstr(t, "taskbus_http_requests_total{route=\"/task\",status=\"400\"} 1\n"));
    CHECK(strstr(t, "# TYPE taskbus_tasks_in_flight gauge\ntaskbus_tasks_in_flight 5\n"));
    free(t);
    metrics_free(m);
}

static void test_histogram(void)
{
    struct metrics *m = metrics_new();
    const double bounds[] = { 0.001, 0.01, 0.1 };
    struct metric *h = metrics_add(m, METRIC_HISTOGRAM, "taskbus_stage_seconds", "Stage latency.", "stage", bounds,
                                   3);
    struct metric_series *s = metric_labels(h, "backend", NULL, NULL);
    metric_observe(s, 0.0005);
    metric_observe(s, 0.001); /* on a bound: counts in that bucket (le is "less or equal") */
    metric_observe(s, 0.05);
    metric_observe(s, 3);
    char *t = text_of(m);
    CHECK(strstr(t, "# TYPE taskbus_stage_seconds histogram\n"));
    CHECK(strstr(t, "taskbus_stage_seconds_bucket{stage=\"backend\",le=\"0.001\"} 2\n"));
    CHECK(strstr(t, "taskbus_stage_seconds_bucket{stage=\"backend\",le=\"0.01\"} 2\n"));
    CHECK(strstr(t, "taskbus_stage_seconds_bucket{stage=\"backend\",le=\"0.1\"} 3\n"));
    CHECK(strstr(t, "taskbus_stage_seconds_bucket{stage=\"backend\",le=\"+Inf\"} 4\n"));
    CHECK(strstr(t, "taskbus_stage_seconds_sum{stage=\"backend\"} 3.0515"));
    CHECK(strstr(t, "taskbus_stage_seconds_count{stage=\"backend\"} 4\n"));
    free(t);
    metrics_free(m);
}

static void test_bounds_and_escaping(void)
{
    struct metrics *m = metrics_new();
    CHECK(metrics_add(m, METRIC_COUNTER, "bad name", "x", NULL, NULL, 0) == NULL);
    CHECK(metrics_add(m, METRIC_COUNTER, "x_total", "x", "a,b,c,d", NULL, 0) == NULL);  /* too many labels */
    CHECK(metrics_add(m, METRIC_COUNTER, "y_total", "x", "le", NULL, 0) == NULL);       /* reserved */
    struct metric *f = metrics_add(m, METRIC_COUNTER, "taskbus_things_total", "Say \"things\"\nand more.", "kind",
                                   NULL, 0);
    struct metric_series *inf = metrics_add_gauge(m, "taskbus_inf", "Infinite.");
    metric_set(inf, 1.0 / 0.0);
    metric_add(metric_labels(f, "quo\"te\\back\nline", NULL, NULL), 1);
    char name[16];
    for (int i = 0; i < METRIC_MAX_SERIES + 10; i++) {
        snprintf(name, sizeof name, "k%d", i);
        metric_add(metric_labels(f, name, NULL, NULL), 1);
    }
    char *t = text_of(m);
    /* HELP escapes only backslash and line feed; a quote stands as it is (label values escape it). */
    CHECK(strstr(t, "# HELP taskbus_things_total Say \"things\"\\nand more.\n"));
    CHECK(strstr(t, "taskbus_things_total{kind=\"quo\\\"te\\\\back\\nline\"} 1\n"));
    /* 63 distinct series (the escaped one and k0..k61), then everything else under "other". */
    CHECK(strstr(t, "taskbus_things_total{kind=\"k61\"} 1\n"));
    CHECK(!strstr(t, "kind=\"k62\""));
    CHECK(strstr(t, "taskbus_things_total{kind=\"other\"} 12\n"));
    CHECK(strstr(t, "taskbus_inf +Inf\n"));
    free(t);
    /* NULL families (METRICS=off) make every call a no-op. */
    CHECK(metric_labels(NULL, "a", NULL, NULL) == NULL);
    metric_add(NULL, 1);
    metric_set(NULL, 1);
    metric_observe(NULL, 1);
    CHECK(metric_value(NULL) == 0);
    CHECK(metrics_add(NULL, METRIC_GAUGE, "z", "z", NULL, NULL, 0) == NULL);
    metrics_free(m);
}

static void test_json(void)
{
    struct metrics *m = metrics_new();
    const double bounds[] = { 0.5 };
    struct metric *c = metrics_add(m, METRIC_COUNTER, "a_total", "a", "k", NULL, 0);
    struct metric *h = metrics_add(m, METRIC_HISTOGRAM, "b_seconds", "b", NULL, bounds, 1);
    metric_add(metric_labels(c, "v\x01\"", NULL, NULL), 2.5);
    metric_observe(metric_only(h), 0.25);
    size_t len;
    char *j = metrics_render_json(m, &len);
    cJSON *root = cJSON_Parse(j);
    CHECK(cJSON_IsArray(root));
    CHECK_INT_EQ(cJSON_GetArraySize(root), 1 + 2 + 2); /* a_total; two buckets; _sum, _count */
    cJSON *first = cJSON_GetArrayItem(root, 0);
    CHECK_STR_EQ(cJSON_GetArrayItem(first, 0)->valuestring, "a_total");
    CHECK_STR_EQ(cJSON_GetObjectItem(cJSON_GetArrayItem(first, 1), "k")->valuestring, "v\x01\"");
    CHECK(cJSON_GetArrayItem(first, 2)->valuedouble == 2.5);
    cJSON *inf = cJSON_GetArrayItem(root, 2);
    CHECK_STR_EQ(cJSON_GetArrayItem(inf, 0)->valuestring, "b_seconds_bucket");
    CHECK_STR_EQ(cJSON_GetObjectItem(cJSON_GetArrayItem(inf, 1), "le")->valuestring, "+Inf");
    cJSON_Delete(root);
    free(j);
    metrics_free(m);
}

int main(void)
{
    test_counter_and_gauge();
    test_histogram();
    test_bounds_and_escaping();
    test_json();
    return check_finish();
}
