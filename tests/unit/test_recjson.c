/* Unit tests for common/recjson.c: every document gives exactly what libbson's relaxed extended JSON gives. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "recjson.h"
#include "record.h"

/* recjson_of(doc) and bson_as_relaxed_extended_json(doc) are the same string (or both NULL). */
static int same_as_libbson(const bson_t *doc)
{
    char *ours = recjson_of(doc), *theirs = bson_as_relaxed_extended_json(doc, NULL);
    int ok = check_str_eq(ours, theirs, __FILE__, __LINE__, "recjson_of", "bson_as_relaxed_extended_json");
    free(ours);
    bson_free(theirs);
    return ok;
}

static void test_records(void)
{
    struct msg m = { .kind = MSG_TASK, .origin = "frontend-1", .request = "{\"a1\":5,\"a2\":10}", .handoff = 1 };
    struct record_base b = { "4bf92f3577b34da6", 100, 1765123456789LL, "events-x", "4bf92f3577b34da6a3ce929d0e0e4736" };
    bson_t *docs[] = {
        record_received(&b, &m, "arithmetic", "arithmetic-1", 1),
        record_dispatched(&b, "arithmetic", "arithmetic-2", 2),
        record_completed(&b, "15", "arithmetic-2"),
        record_failed(&b, 422, "division by zero", NULL),
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        CHECK(same_as_libbson(docs[i]));
        bson_destroy(docs[i]);
    }
}

/* Strings as clients send them: quotes, backslashes, control characters, NUL, multi-byte UTF-8. */
static void test_strings(void)
{
    static const char *const texts[] = {
        "", "plain", "q\"uote", "back\\slash", "\b\f\n\r\t", "\x01\x1f\x7f", "caf\xc3\xa9", "\xe2\x82\xac 20",
        "\xf0\x9f\x98\x80", "\xe2\x80\xa8 line separator", "</script>", "a\"\\\"b",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        bson_t *doc = BCON_NEW("request", BCON_UTF8(texts[i]), texts[i], BCON_INT32(1));
        CHECK(same_as_libbson(doc));
        bson_destroy(doc);
    }
    bson_t doc = BSON_INITIALIZER; /* an embedded NUL */
    bson_append_utf8(&doc, "nul", -1, "a\0b", 3);
    CHECK(same_as_libbson(&doc));
    bson_destroy(&doc);
}

/* Invalid UTF-8 (a lone continuation byte, a truncated sequence, an overlong form, a surrogate, past U+10FFFF) is
 * libbson's to judge: the answer is the same. */
static void test_invalid_utf8(void)
{
    static const char *const texts[] = { "\x80", "\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "ok\xff" };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        bson_t doc = BSON_INITIALIZER;
        bson_append_utf8(&doc, "s", -1, texts[i], (int)strlen(texts[i]));
        CHECK(same_as_libbson(&doc));
        bson_destroy(&doc);
    }
}

/* Numbers, dates at the edges of the ISO form (whole seconds, the epoch, year 9999, before 1970, after 9999), and
 * kinds it leaves to libbson (a double, a nested document, an array). */
static void test_other_values(void)
{
    bson_t *doc = BCON_NEW("i32", BCON_INT32(-2147483647 - 1), "i64", BCON_INT64(9007199254740993LL), "t",
                           BCON_BOOL(true), "f", BCON_BOOL(false), "whole", BCON_DATE_TIME(1765123456000LL), "epoch",
                           BCON_DATE_TIME(0), "last", BCON_DATE_TIME(253402300799999LL));
    CHECK(same_as_libbson(doc));
    bson_destroy(doc);
    static const int64_t outside[] = { -1, 253402300800000LL };
    for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++) {
        bson_t *d = BCON_NEW("at", BCON_DATE_TIME(outside[i]));
        CHECK(same_as_libbson(d));
        bson_destroy(d);
    }
    bson_t *mixed = BCON_NEW("d", BCON_DOUBLE(1.5), "n", "{", "k", BCON_INT32(1), "}", "a", "[", BCON_INT32(1), "]");
    CHECK(same_as_libbson(mixed));
    bson_destroy(mixed);
    bson_t empty = BSON_INITIALIZER;
    CHECK(same_as_libbson(&empty));
    bson_destroy(&empty);
}

int main(void)
{
    test_records();
    test_strings();
    test_invalid_utf8();
    test_other_values();
    return check_finish();
}
