/* Unit tests of the JSON writer: the exact escapes, growth past the first buffer, and a failed allocation. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "jsonbuf.h"

/* 's' ('n' bytes) written as a JSON string is 'want', and cJSON prints the same for it. */
static void string_is(const char *s, size_t n, const char *want, int line)
{
    struct jsonbuf b = { 0 };
    jsonbuf_string(&b, s, n);
    char *text = jsonbuf_finish(&b);
    check_str_eq(text, want, __FILE__, line, "jsonbuf_string", "want");
    cJSON *item = cJSON_CreateString(s);
    char *theirs = item ? cJSON_PrintUnformatted(item) : NULL;
    if (strlen(s) == n)
        check_str_eq(text, theirs, __FILE__, line, "jsonbuf_string", "cJSON_PrintUnformatted");
    free(theirs);
    cJSON_Delete(item);
    free(text);
}

static void test_escapes(void)
{
    string_is("", 0, "\"\"", __LINE__);
    string_is("plain", 5, "\"plain\"", __LINE__);
    string_is("q\"b\\s/", 6, "\"q\\\"b\\\\s/\"", __LINE__);
    string_is("\b\f\n\r\t", 5, "\"\\b\\f\\n\\r\\t\"", __LINE__);
    string_is("\x01\x1f\x7f", 3, "\"\\u0001\\u001f\x7f\"", __LINE__);
    string_is("caf\xc3\xa9 \xe2\x82\xac", 9, "\"caf\xc3\xa9 \xe2\x82\xac\"", __LINE__);
    string_is("a\0b", 3, "\"a\\u0000b\"", __LINE__); /* an embedded NUL, which cJSON cannot hold */
}

static void test_growth(void)
{
    struct jsonbuf b = { 0 };
    char want[5001];
    for (int i = 0; i < 5000; i++) {
        jsonbuf_put(&b, "x", 1);
        want[i] = 'x';
    }
    want[5000] = '\0';
    jsonbuf_puts(&b, "");
    char *text = jsonbuf_finish(&b);
    CHECK_STR_EQ(text, want);
    CHECK(b.buf == NULL && b.len == 0);
    free(text);
}

static void test_failed(void)
{
    struct jsonbuf b = { 0 };
    jsonbuf_puts(&b, "{\"a\":");
    b.failed = 1; /* as after a realloc that returned NULL */
    jsonbuf_string(&b, "b", 1);
    CHECK_INT_EQ((int)b.len, 5);
    CHECK(jsonbuf_finish(&b) == NULL);
    CHECK(b.buf == NULL && !b.failed);
    jsonbuf_puts(&b, "1");
    jsonbuf_clear(&b);
    CHECK(b.buf == NULL);
}

int main(void)
{
    test_escapes();
    test_growth();
    test_failed();
    return check_finish();
}
