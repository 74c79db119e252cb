/* Unit tests of task views and listings: status from records, rendering from any record order, the listing's
 * query validation, index keys and cursors. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "taskview.h"

#define RECEIVED "{\"_id\":\"t1:0\",\"task\":\"t1\",\"seq\":0,\"type\":\"received\"," \
                 "\"at\":{\"$date\":\"2026-12-01T20:00:00.500Z\"},\"taskType\":\"NUMBER\",\"service\":\"arithmetic\"}"
#define RUNNING "{\"_id\":\"t1:0\",\"task\":\"t1\",\"seq\":0,\"type\":\"received\"," \
                "\"at\":{\"$date\":\"2026-12-01T20:00:00.500Z\"},\"taskType\":\"NUMBER\",\"service\":\"arithmetic\"," \
                "\"backend\":\"b1\",\"attempt\":1}"
#define COMPLETED "{\"_id\":\"t1:outcome\",\"task\":\"t1\",\"seq\":1,\"type\":\"completed\"," \
                  "\"at\":{\"$date\":\"2026-12-01T20:00:01Z\"},\"status\":200,\"result\":\"15\",\"backend\":\"b1\"}"
#define FAILED "{\"_id\":\"t1:outcome\",\"task\":\"t1\",\"seq\":1,\"type\":\"failed\"," \
               "\"at\":{\"$date\":\"2026-12-01T20:00:01Z\"},\"status\":422,\"error\":\"division by zero\"}"

static char *render(const char *const *texts, size_t n, int *found)
{
    size_t lens[8];
    for (size_t i = 0; i < n; i++)
        lens[i] = strlen(texts[i]);
    return taskview_render("t1", texts, lens, n, found);
}

static void test_status_of(void)
{
    CHECK_INT_EQ(taskview_status_of("received", 0), TASKVIEW_PENDING);
    CHECK_INT_EQ(taskview_status_of("received", 1), TASKVIEW_RUNNING);
    CHECK_INT_EQ(taskview_status_of("dispatched", 0), TASKVIEW_RUNNING);
    CHECK_INT_EQ(taskview_status_of("completed", 1), TASKVIEW_COMPLETED);
    CHECK_INT_EQ(taskview_status_of("failed", 0), TASKVIEW_FAILED);
    CHECK_INT_EQ(taskview_status_of("bogus", 0), TASKVIEW_NONE);
    CHECK_INT_EQ(taskview_status_of(NULL, 0), TASKVIEW_NONE);
    CHECK_STR_EQ(taskview_status_name(TASKVIEW_RUNNING), "running");
    CHECK(taskview_status_name(TASKVIEW_NONE) == NULL);
    CHECK_INT_EQ(taskview_status_parse("failed"), TASKVIEW_FAILED);
    CHECK_INT_EQ(taskview_status_parse("Failed"), TASKVIEW_NONE);
    CHECK_INT_EQ(taskview_status_parse(NULL), TASKVIEW_NONE);
}

static void test_render(void)
{
    int found;
    const char *pending[] = { RECEIVED };
    char *v = render(pending, 1, &found);
    CHECK(found);
    CHECK_STR_EQ(v, "{\"message\":\"OK\",\"id\":\"t1\",\"status\":\"pending\",\"taskType\":\"NUMBER\","
                    "\"service\":\"arithmetic\",\"created\":\"2026-12-01T20:00:00.500Z\",\"history\":[" RECEIVED "]}");
    free(v);

    /* Any order in, seq order out; the outcome decides. */
    const char *done[] = { COMPLETED, RUNNING };
    v = render(done, 2, &found);
    CHECK_STR_EQ(v, "{\"message\":\"OK\",\"id\":\"t1\",\"status\":\"completed\",\"taskType\":\"NUMBER\","
                    "\"service\":\"arithmetic\",\"created\":\"2026-12-01T20:00:00.500Z\",\"result\":\"15\","
                    "\"history\":[" RUNNING "," COMPLETED "]}");
    free(v);

    const char *failed[] = { RECEIVED, FAILED };
    v = render(failed, 2, &found);
    CHECK(v && strstr(v, "\"status\":\"failed\""));
    CHECK(v && strstr(v, "\"error\":\"division by zero\",\"code\":422,"));
    CHECK(v && !strstr(v, "\"result\""));
    free(v);

    /* created is the earliest record's time, also when one falls on a whole second (libbson writes no fraction
     * then, and "…:00Z" sorts after "…:00.002Z" as text). */
    const char *whole[] = {
        "{\"_id\":\"t1:1\",\"task\":\"t1\",\"seq\":1,\"type\":\"dispatched\",\"at\":{\"$date\":\"2026-12-01T20:00:00.002Z\"}}",
        "{\"_id\":\"t1:0\",\"task\":\"t1\",\"seq\":0,\"type\":\"received\",\"at\":{\"$date\":\"2026-12-01T20:00:00Z\"}}",
    };
    v = render(whole, 2, &found);
    CHECK(v && strstr(v, "\"created\":\"2026-12-01T20:00:00Z\""));
    free(v);
    const char *whole2[] = { whole[0], "{\"_id\":\"t1:2\",\"task\":\"t1\",\"seq\":2,\"type\":\"dispatched\","
                                       "\"at\":{\"$date\":\"2026-12-01T20:00:01Z\"}}" };
    v = render(whole2, 2, &found);
    CHECK(v && strstr(v, "\"created\":\"2026-12-01T20:00:00.002Z\""));
    free(v);

    /* The log's answer, as an array, renders the same. */
    char *a = taskview_render_array("t1", "[" RECEIVED "," FAILED "]", &found);
    v = render(failed, 2, &found);
    CHECK_STR_EQ(a, v);
    free(a);
    free(v);

    /* Records of another task, or not objects, are not this task's. */
    const char *junk[] = { "[1]", "{\"task\":\"t2\",\"type\":\"received\"}", "not json" };
    v = render(junk, 3, &found);
    CHECK(v == NULL && !found);
    CHECK(taskview_render_array("t1", "[]", &found) == NULL && !found);
    CHECK(taskview_render_array("t1", "{}", &found) == NULL && !found);
}

static void test_iso8601(void)
{
    char buf[32];
    taskview_iso8601(0, buf);
    CHECK_STR_EQ(buf, "1970-01-01T00:00:00Z");
    taskview_iso8601(1764619200123LL, buf);
    CHECK_STR_EQ(buf, "2025-12-01T20:00:00.123Z");
    taskview_iso8601(1764619200005LL, buf);
    CHECK_STR_EQ(buf, "2025-12-01T20:00:00.005Z");
}

static void test_query(void)
{
    struct taskview_query q;
    char err[TASK_ERR_LEN];
    CHECK_INT_EQ(taskview_parse_query(NULL, NULL, NULL, NULL, &q, err), 0);
    CHECK_STR_EQ(q.bucket, "");
    CHECK_STR_EQ(q.service, "");
    CHECK_INT_EQ(q.limit, TASKVIEW_LIST_DEFAULT);
    CHECK_STR_EQ(q.after, "");
    CHECK_INT_EQ(taskview_parse_query("failed", NULL, "100", NULL, &q, err), 0);
    CHECK_STR_EQ(q.bucket, "failed");
    CHECK_STR_EQ(q.service, "");
    CHECK_STR_EQ(q.only, "");
    CHECK_INT_EQ(q.limit, 100);
    CHECK_INT_EQ(taskview_parse_query(NULL, "string", "1", NULL, &q, err), 0);
    CHECK_STR_EQ(q.bucket, "");
    CHECK_STR_EQ(q.service, "string");
    CHECK_INT_EQ(taskview_parse_query("running", "arithmetic", NULL, "0001764619200123:abc-1", &q, err), 0);
    CHECK_STR_EQ(q.bucket, "open"); /* filtered: pending and running tasks share it */
    CHECK_STR_EQ(q.service, "arithmetic");
    CHECK_STR_EQ(q.only, "running");
    CHECK_STR_EQ(q.after, "0001764619200123:abc-1");

    const char *bad_limits[] = { "0", "101", "x", "5x", "-1", " 5" };
    for (size_t i = 0; i < sizeof bad_limits / sizeof *bad_limits; i++) {
        CHECK_INT_EQ(taskview_parse_query(NULL, NULL, bad_limits[i], NULL, &q, err), -1);
        CHECK(strstr(err, "limit") != NULL);
    }
    CHECK_INT_EQ(taskview_parse_query("done", NULL, NULL, NULL, &q, err), -1);
    CHECK(strstr(err, "status") != NULL);
    CHECK_INT_EQ(taskview_parse_query(NULL, "a b", NULL, NULL, &q, err), -1);
    /* Empty parameters are absent ones. */
    CHECK_INT_EQ(taskview_parse_query("", "", "", "", &q, err), 0);
    CHECK_STR_EQ(q.bucket, "");
    CHECK_STR_EQ(q.service, "");
    CHECK_INT_EQ(q.limit, TASKVIEW_LIST_DEFAULT);
    char key[TASKVIEW_KEY_LEN];
    taskview_index_key(TASKVIEW_RUNNING, "string", key);
    CHECK_STR_EQ(key, "taskbus:index:open:string");
    taskview_index_key(TASKVIEW_FAILED, "", key);
    CHECK_STR_EQ(key, "taskbus:index:failed:");
    taskview_index_key(TASKVIEW_COMPLETED, "arithmetic", key);
    CHECK_STR_EQ(key, "taskbus:index:completed:arithmetic");
    const char *bad_cursors[] = { "garbage", "000176461920012:abc", "000176461920012x:abc", "0001764619200123:",
                                  "0001764619200123:a b", "0001764619200123-abc" };
    for (size_t i = 0; i < sizeof bad_cursors / sizeof *bad_cursors; i++)
        CHECK_INT_EQ(taskview_parse_query(NULL, NULL, NULL, bad_cursors[i], &q, err), -1);
}

static void test_member_and_list(void)
{
    char m[TASKVIEW_CURSOR_LEN];
    taskview_member(1764619200123LL, "abc-1", m);
    CHECK_STR_EQ(m, "0001764619200123:abc-1");
    /* Members compare like their times. */
    char earlier[TASKVIEW_CURSOR_LEN];
    taskview_member(999, "zzz", earlier);
    CHECK(strcmp(earlier, m) < 0);

    struct taskview_item items[2] = {
        { "t2", "completed", "STRING", "string", "1764619200123", "ab", NULL, NULL },
        { "t1", "failed", "NUMBER", NULL, "1764619200000", NULL, "division by zero", "422" },
    };
    char *body = taskview_render_list(items, 2, "0001764619200000:t1");
    CHECK_STR_EQ(body, "{\"message\":\"OK\",\"tasks\":[{\"id\":\"t2\",\"status\":\"completed\",\"taskType\":\"STRING\","
                       "\"service\":\"string\",\"created\":\"2025-12-01T20:00:00.123Z\",\"result\":\"ab\"},"
                       "{\"id\":\"t1\",\"status\":\"failed\",\"taskType\":\"NUMBER\","
                       "\"created\":\"2025-12-01T20:00:00Z\",\"error\":\"division by zero\",\"code\":422}],"
                       "\"next\":\"0001764619200000:t1\"}");
    free(body);
    body = taskview_render_list(items, 0, NULL);
    CHECK_STR_EQ(body, "{\"message\":\"OK\",\"tasks\":[],\"next\":null}");
    free(body);
}

int main(void)
{
    test_status_of();
    test_render();
    test_iso8601();
    test_query();
    test_member_and_list();
    return check_finish();
}
