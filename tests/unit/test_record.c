/* Unit tests for events/record.c: the documents of the event log. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "record.h"

static const char *utf8(const bson_t *doc, const char *key)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, NULL) : NULL;
}

static long long integer(const bson_t *doc, const char *key)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, doc, key) ? bson_iter_as_int64(&it) : -1;
}

static void test_common_fields(void)
{
    struct record_base b = { "abc-1", 2, 1700000000123LL, "events-x", NULL };
    bson_t *doc = record_completed(&b, "15", "arithmetic-y");
    CHECK_STR_EQ(utf8(doc, "_id"), "abc-1:outcome"); /* one outcome per task, whoever writes it */
    CHECK_STR_EQ(utf8(doc, "task"), "abc-1");
    CHECK_INT_EQ(integer(doc, "seq"), 2);
    CHECK_STR_EQ(utf8(doc, "type"), "completed");
    CHECK_STR_EQ(utf8(doc, "events"), "events-x");
    bson_iter_t it;
    CHECK(bson_iter_init_find(&it, doc, "at") && BSON_ITER_HOLDS_DATE_TIME(&it) &&
          bson_iter_date_time(&it) == 1700000000123LL);
    CHECK_STR_EQ(utf8(doc, "result"), "15");
    CHECK_STR_EQ(utf8(doc, "backend"), "arithmetic-y");
    CHECK_INT_EQ(integer(doc, "status"), 200);
    CHECK(utf8(doc, "trace") == NULL); /* no trace, no field */
    bson_destroy(doc);
}

/* Every kind of record carries the task's trace id when it has one. */
static void test_trace(void)
{
    struct record_base b = { "t", 0, 1, "e", "4bf92f3577b34da6a3ce929d0e0e4736" };
    struct msg m = { .kind = MSG_TASK, .origin = "frontend-1", .request = "{}" };
    bson_t *docs[] = {
        record_received(&b, &m, "arithmetic", "arithmetic-7", 1), record_dispatched(&b, "string", "string-2", 2),
        record_completed(&b, "15", "arithmetic-y"), record_failed(&b, 504, "late", NULL),
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        CHECK_STR_EQ(utf8(docs[i], "trace"), "4bf92f3577b34da6a3ce929d0e0e4736");
        bson_destroy(docs[i]);
    }
    b.trace = "";
    bson_t *doc = record_failed(&b, 504, "late", NULL);
    CHECK(utf8(doc, "trace") == NULL);
    bson_destroy(doc);
}

static void test_received(void)
{
    struct record_base b = { "t", 0, 1, "e", "" };
    struct msg m = { .kind = MSG_TASK, .origin = "frontend-1", .request = "{\"d1\": 4, \"d2\": 7}" };
    m.task.type = TASK_NUMBER;
    m.task.op = TASK_DIVIDE;
    bson_t *doc = record_received(&b, &m, "arithmetic", "arithmetic-7", 1);
    CHECK_STR_EQ(utf8(doc, "_id"), "t:0");
    CHECK_STR_EQ(utf8(doc, "service"), "arithmetic");
    CHECK_STR_EQ(utf8(doc, "backend"), "arithmetic-7");
    CHECK_INT_EQ(integer(doc, "attempt"), 1);
    CHECK_STR_EQ(utf8(doc, "type"), "received");
    CHECK_STR_EQ(utf8(doc, "frontend"), "frontend-1");
    CHECK_STR_EQ(utf8(doc, "request"), "{\"d1\": 4, \"d2\": 7}");
    CHECK_STR_EQ(utf8(doc, "taskType"), "NUMBER");
    CHECK_STR_EQ(utf8(doc, "subtask"), "DIVIDE");
    CHECK_INT_EQ(integer(doc, "handoff"), -1); /* only a handed-over task says so */
    /* Every key must be storable in a MongoDB (and FerretDB) document: no '.', no leading '$'. */
    CHECK(bson_validate(doc, BSON_VALIDATE_DOT_KEYS | BSON_VALIDATE_DOLLAR_KEYS | BSON_VALIDATE_UTF8, NULL));
    bson_destroy(doc);

    /* A task handed over from another events replica numbers its steps from 100 and says so. */
    m.handoff = 1;
    b.seq = 100;
    doc = record_received(&b, &m, "arithmetic", "arithmetic-7", 1);
    CHECK_STR_EQ(utf8(doc, "_id"), "t:100");
    CHECK_INT_EQ(integer(doc, "handoff"), 1);
    bson_destroy(doc);
    m.handoff = 0;
    b.seq = 0;

    /* Not dispatched (no live replica yet) and not routed: no dispatch fields at all. */
    doc = record_received(&b, &m, NULL, NULL, 0);
    CHECK(utf8(doc, "service") == NULL && utf8(doc, "backend") == NULL && integer(doc, "attempt") == -1);
    bson_destroy(doc);
}

static void test_dispatched_and_failed(void)
{
    struct record_base b = { "t", 1, 1, "e", NULL };
    bson_t *doc = record_dispatched(&b, "string", "string-2", 3);
    CHECK_STR_EQ(utf8(doc, "type"), "dispatched");
    CHECK_STR_EQ(utf8(doc, "service"), "string");
    CHECK_STR_EQ(utf8(doc, "backend"), "string-2");
    CHECK_INT_EQ(integer(doc, "attempt"), 3);
    bson_destroy(doc);

    b.seq = 2;
    doc = record_failed(&b, 504, "no live replica", NULL);
    CHECK_STR_EQ(utf8(doc, "_id"), "t:outcome");
    CHECK_INT_EQ(integer(doc, "seq"), 2);
    CHECK_STR_EQ(utf8(doc, "type"), "failed");
    CHECK_INT_EQ(integer(doc, "status"), 504);
    CHECK_STR_EQ(utf8(doc, "error"), "no live replica");
    CHECK(utf8(doc, "backend") == NULL); /* no backend was involved */
    bson_destroy(doc);

    doc = record_failed(&b, 422, "division by zero", "arithmetic-1");
    CHECK_STR_EQ(utf8(doc, "backend"), "arithmetic-1");
    bson_destroy(doc);
}

int main(void)
{
    test_common_fields();
    test_received();
    test_trace();
    test_dispatched_and_failed();
    return check_finish();
}
