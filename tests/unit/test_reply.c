/* Unit tests of the frontend's JSON bodies: exact text, escaping (checked by parsing back), and status texts. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "reply.h"

/* Check that 'got' (malloc'd, freed here) is exactly 'want'. */
static void text(char *got, const char *want, int line)
{
    check_str_eq(got, want, __FILE__, line, "reply", "want");
    free(got);
}

#define TEXT(got, want) text((got), (want), __LINE__)

static void test_exact(void)
{
    TEXT(reply_ok("15", "id1"), "{\"message\":\"OK\",\"result\":\"15\",\"id\":\"id1\"}");
    TEXT(reply_ok("15", NULL), "{\"message\":\"OK\",\"result\":\"15\"}");
    TEXT(reply_ok("", ""), "{\"message\":\"OK\",\"result\":\"\",\"id\":\"\"}");
    TEXT(reply_ok("HELLO world", "abc-123"), "{\"message\":\"OK\",\"result\":\"HELLO world\",\"id\":\"abc-123\"}");

    TEXT(reply_error("task timed out", "id1"), "{\"message\":\"FAIL\",\"error\":\"task timed out\",\"id\":\"id1\"}");
    TEXT(reply_error("not found", NULL), "{\"message\":\"FAIL\",\"error\":\"not found\"}");
    TEXT(reply_error("", NULL), "{\"message\":\"FAIL\",\"error\":\"\"}");

    TEXT(reply_accepted("id1", "running"), "{\"message\":\"Accepted\",\"id\":\"id1\",\"status\":\"running\"}");
}

static void test_escaping_text(void)
{
    /* The usual JSON escapes, exactly. */
    TEXT(reply_ok("a\"b\\c/d", "q\"id"), "{\"message\":\"OK\",\"result\":\"a\\\"b\\\\c/d\",\"id\":\"q\\\"id\"}");
    TEXT(reply_error("line1\nline2\ttab\r\b\f", NULL),
         "{\"message\":\"FAIL\",\"error\":\"line1\\nline2\\ttab\\r\\b\\f\"}");
    /* Other control characters become \u00XX (either case of hex digit is valid JSON). */
    char *got = reply_error("\x01\x1f", NULL);
    if (CHECK(got != NULL)) {
        CHECK(strcmp(got, "{\"message\":\"FAIL\",\"error\":\"\\u0001\\u001f\"}") == 0
              || strcmp(got, "{\"message\":\"FAIL\",\"error\":\"\\u0001\\u001F\"}") == 0);
        CHECK(strchr(got, '\x01') == NULL && strchr(got, '\x1f') == NULL);
    }
    free(got);
}

/* Parse 'got' (freed here) back and check each field: NULL 'want' means the field must be absent. */
static void parsed(char *got, const char *message, const char *result, const char *error, const char *id, int line)
{
    static const char *const names[] = { "message", "result", "error", "id" };
    const char *wants[] = { message, result, error, id };
    cJSON *root = got ? cJSON_Parse(got) : NULL;

    if (!check_report(root != NULL && cJSON_IsObject(root), __FILE__, line, "reply parses as a JSON object")) {
        fprintf(stderr, "    reply = %s\n", got ? got : "(null)");
        cJSON_Delete(root);
        free(got);
        return;
    }
    /* Only control characters below 0x20 need escaping; none may appear raw. */
    int raw = 0;
    for (const unsigned char *p = (const unsigned char *)got; *p; p++)
        raw += *p < 0x20;
    check_int_eq(raw, 0, __FILE__, line, "raw control characters", "0");
    int fields = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        cJSON *f = cJSON_GetObjectItemCaseSensitive(root, names[i]);
        fields += f != NULL;
        if (wants[i])
            check_str_eq(cJSON_IsString(f) ? f->valuestring : NULL, wants[i], __FILE__, line, names[i], "want");
        else
            check_report(f == NULL, __FILE__, line, names[i]);
    }
    check_int_eq(cJSON_GetArraySize(root), fields, __FILE__, line, "fields", "known fields");
    cJSON_Delete(root);
    free(got);
}

#define PARSED(got, message, result, error, id) parsed((got), (message), (result), (error), (id), __LINE__)

static void test_escaping_round_trip(void)
{
    char all[128];

    /* Every ASCII character but NUL, in one string. */
    for (int c = 1; c < 128; c++)
        all[c - 1] = (char)c;
    all[127] = '\0';

    PARSED(reply_ok(all, all), "OK", all, NULL, all);
    PARSED(reply_ok(all, NULL), "OK", all, NULL, NULL);
    PARSED(reply_error(all, all), "FAIL", NULL, all, all);
    PARSED(reply_error(all, NULL), "FAIL", NULL, all, NULL);
    PARSED(reply_ok("\"}, \"message\": \"FAIL", "\\\""), "OK", "\"}, \"message\": \"FAIL", NULL, "\\\"");
    PARSED(reply_error("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "id"), "FAIL", NULL,
           "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "id");
    PARSED(reply_ok("\\u0041", "</script>"), "OK", "\\u0041", NULL, "</script>");

    /* A long string survives intact. */
    size_t n = 100000;
    char *big = malloc(n + 1);
    if (CHECK(big != NULL)) {
        for (size_t i = 0; i < n; i++)
            big[i] = "ab\"\\\n\x7f"[i % 6];
        big[n] = '\0';
        PARSED(reply_ok(big, "id"), "OK", big, NULL, "id");
    }
    free(big);
}

static void test_status_text(void)
{
    CHECK_STR_EQ(reply_status_text(200), "OK");
    CHECK_STR_EQ(reply_status_text(400), "Bad Request");
    CHECK_STR_EQ(reply_status_text(404), "Not Found");
    CHECK_STR_EQ(reply_status_text(405), "Method Not Allowed");
    CHECK_STR_EQ(reply_status_text(413), "Payload Too Large");
    CHECK_STR_EQ(reply_status_text(422), "Unprocessable Entity");
    CHECK_STR_EQ(reply_status_text(500), "Internal Server Error");
    CHECK_STR_EQ(reply_status_text(502), "Bad Gateway");
    CHECK_STR_EQ(reply_status_text(503), "Service Unavailable");
    CHECK_STR_EQ(reply_status_text(504), "Gateway Timeout");
    /* Unknown codes get a generic, non-empty text. */
    CHECK_STR_EQ(reply_status_text(418), "Error");
    CHECK_STR_EQ(reply_status_text(0), "Error");
    CHECK_STR_EQ(reply_status_text(-1), "Error");
    CHECK_STR_EQ(reply_status_text(999), "Error");
}

int main(void)
{
    test_exact();
    test_escaping_text();
    test_escaping_round_trip();
    test_status_text();
    return check_finish();
}
