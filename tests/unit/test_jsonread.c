/* Unit tests of the JSON reader: what it accepts and refuses (with which reason), the values it hands back, and the
 * unescaping of strings. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "jsonread.h"

static const char *const names[] = { "a", "b", "kind" };
#define NAMES (sizeof names / sizeof names[0])

static enum jsonread_error read_text(const char *text, struct jsonread_value *out)
{
    return jsonread_object(text, strlen(text), names, NAMES, out);
}

/* 'text' must be refused with 'want'. */
static void refused(const char *text, enum jsonread_error want)
{
    struct jsonread_value out[NAMES];
    enum jsonread_error got = read_text(text, out);
    if (got != want)
        fprintf(stderr, "for %s: got %d, want %d\n", text, (int)got, (int)want);
    CHECK_INT_EQ(got, want);
}

/* The string value of 'name' in 'text' must be 'want' (of 'len' bytes) once unescaped. */
static void string_is(const char *text, const char *want, size_t len)
{
    struct jsonread_value out[NAMES];
    size_t n = 0;
    CHECK_INT_EQ(read_text(text, out), JSONREAD_OK);
    CHECK_INT_EQ(out[0].type, JSONREAD_STRING);
    CHECK_INT_EQ(jsonread_string_len(&out[0]), len);
    char *s = jsonread_string_dup(&out[0], &n);
    CHECK(s && n == len && memcmp(s, want, len + 1) == 0);
    free(s);
}

static void test_values(void)
{
    struct jsonread_value out[NAMES], items[4];
    const char *text = " {\"x\":{\"a\":[1,{\"b\":2}]},\"a\":\"one\",\"b\":[1.5,\"s\",true,null,false],"
                       "\"a\":\"two\",\"kind\":-0.25e+2}\n";

    CHECK_INT_EQ(read_text(text, out), JSONREAD_OK);
    CHECK(jsonread_string_is(&out[0], "one")); /* the first of repeated names; nested ones are not members */
    CHECK(!jsonread_string_is(&out[0], "on") && !jsonread_string_is(&out[0], "one!"));
    CHECK_INT_EQ(out[1].type, JSONREAD_ARRAY);
    CHECK_INT_EQ(out[2].type, JSONREAD_NUMBER);
    CHECK(jsonread_number(&out[2]) == -25.0);
    CHECK_INT_EQ(jsonread_array(&out[1], items, 4), 5);
    CHECK(items[0].type == JSONREAD_NUMBER && jsonread_number(&items[0]) == 1.5);
    CHECK(jsonread_string_is(&items[1], "s"));
    CHECK(items[2].type == JSONREAD_TRUE && items[3].type == JSONREAD_NULL);

    CHECK_INT_EQ(read_text("{\"b\":[]}", out), JSONREAD_OK);
    CHECK_INT_EQ(out[0].type, JSONREAD_ABSENT);
    CHECK_INT_EQ(out[2].type, JSONREAD_ABSENT);
    CHECK_INT_EQ(jsonread_array(&out[1], items, 4), 0);
    CHECK_INT_EQ(read_text("{}", out), JSONREAD_OK);
    CHECK_INT_EQ(read_text("{\"\\u006bind\":\"k\"}", out), JSONREAD_OK); /* an escaped name is the same name */
    CHECK(jsonread_string_is(&out[2], "k"));
    CHECK_INT_EQ(read_text("{\"a\":1e400}", out), JSONREAD_OK);
    CHECK(isinf(jsonread_number(&out[0])));
}

static void test_strings(void)
{
    string_is("{\"a\":\"plain\"}", "plain", 5);
    string_is("{\"a\":\"\"}", "", 0);
    string_is("{\"a\":\"q\\\"b\\\\s\\/b\\bf\\fn\\nr\\rt\\t\"}", "q\"b\\s/b\bf\fn\nr\rt\t", 16);
    string_is("{\"a\":\"\\u0041\\u00e9\\u20AC\"}", "A\xc3\xa9\xe2\x82\xac", 6);
    string_is("{\"a\":\"\\ud83d\\ude00!\"}", "\xf0\x9f\x98\x80!", 5); /* a surrogate pair */
    string_is("{\"a\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9);
}

static void test_refused(void)
{
    refused("", JSONREAD_SYNTAX);
    refused("   ", JSONREAD_SYNTAX);
    refused("{", JSONREAD_SYNTAX);
    refused("{\"a\"}", JSONREAD_SYNTAX);
    refused("{\"a\":}", JSONREAD_SYNTAX);
    refused("{\"a\":1,}", JSONREAD_SYNTAX);
    refused("{,}", JSONREAD_SYNTAX);
    refused("{a:1}", JSONREAD_SYNTAX);
    refused("{\"a\":1} x", JSONREAD_SYNTAX);
    refused("{\"a\":1}{}", JSONREAD_SYNTAX);
    refused("{\"a\":[1,]}", JSONREAD_SYNTAX);
    refused("{\"a\":[1 2]}", JSONREAD_SYNTAX);
    refused("{\"a\":tru}", JSONREAD_SYNTAX);
    refused("{\"a\":True}", JSONREAD_SYNTAX);
    refused("\xef\xbb\xbf{}", JSONREAD_SYNTAX); /* a byte order mark is not whitespace */
    refused("{\f\"a\":1}", JSONREAD_SYNTAX);
    /* numbers: RFC 8259's grammar, which cJSON's strtod-based reader loosens */
    refused("{\"a\":01}", JSONREAD_SYNTAX);
    refused("{\"a\":1.}", JSONREAD_SYNTAX);
    refused("{\"a\":.5}", JSONREAD_SYNTAX);
    refused("{\"a\":+1}", JSONREAD_SYNTAX);
    refused("{\"a\":-}", JSONREAD_SYNTAX);
    refused("{\"a\":1e}", JSONREAD_SYNTAX);
    refused("{\"a\":0x10}", JSONREAD_SYNTAX);
    refused("{\"a\":NaN}", JSONREAD_SYNTAX);
    refused("{\"a\":1234567890123456789012345678901234567890123456789012345678901234}", JSONREAD_NUMBER_LONG);
    /* strings */
    refused("{\"a\":\"unterminated}", JSONREAD_SYNTAX);
    refused("{\"a\":\"tab\there\"}", JSONREAD_SYNTAX);
    refused("{\"a\":\"\\x\"}", JSONREAD_SYNTAX);
    refused("{\"a\":\"\\u12\"}", JSONREAD_SYNTAX);
    refused("{\"a\":\"\\uZZZZ\"}", JSONREAD_SYNTAX);
    refused("{\"a\":\"\\ude00\"}", JSONREAD_SYNTAX);       /* a low surrogate alone */
    refused("{\"a\":\"\\ud83d\"}", JSONREAD_SYNTAX);       /* a high surrogate alone */
    refused("{\"a\":\"\\ud83d\\u0041\"}", JSONREAD_SYNTAX); /* ... followed by no low one */
    refused("{\"a\":\"\\u0000\"}", JSONREAD_NUL);
    refused("{\"a\":\"\xff\"}", JSONREAD_UTF8);
    refused("{\"a\":\"\xc0\xaf\"}", JSONREAD_UTF8);         /* overlong */
    refused("{\"a\":\"\xed\xa0\x80\"}", JSONREAD_UTF8);     /* an encoded surrogate */
    refused("{\"a\":\"\xf4\x90\x80\x80\"}", JSONREAD_UTF8); /* above U+10FFFF */
    refused("{\"a\":\"\xe2\x82\"}", JSONREAD_UTF8);         /* cut short */
    refused("{\"\xff\":1}", JSONREAD_UTF8);
    /* the first reason wins */
    refused("{\"a\":\"\xff\",", JSONREAD_UTF8);
    /* not an object */
    refused("[]", JSONREAD_NOT_OBJECT);
    refused(" \"a\" ", JSONREAD_NOT_OBJECT);
    refused("1", JSONREAD_NOT_OBJECT);
    refused("[] x", JSONREAD_SYNTAX);
    refused("[", JSONREAD_SYNTAX);
}

static void test_depth(void)
{
    char text[256];
    size_t n = 0;

    /* the object itself is level 1: 63 arrays inside it are allowed, 64 are not */
    for (int deep = 63; deep <= 64; deep++) {
        n = 0;
        text[n++] = '{';
        memcpy(text + n, "\"x\":", 4);
        n += 4;
        for (int i = 0; i < deep; i++)
            text[n++] = '[';
        for (int i = 0; i < deep; i++)
            text[n++] = ']';
        text[n++] = '}';
        text[n] = '\0';
        refused(text, deep == 63 ? JSONREAD_OK : JSONREAD_DEPTH);
    }
}

/* The text need not be NUL-terminated: a length that stops before the end reads only that much. */
static void test_length(void)
{
    struct jsonread_value out[NAMES];
    const char *text = "{\"a\":12}345";
    CHECK_INT_EQ(jsonread_object(text, 8, names, NAMES, out), JSONREAD_OK);
    CHECK(jsonread_number(&out[0]) == 12.0);
    CHECK_INT_EQ(jsonread_object(text, 7, names, NAMES, out), JSONREAD_SYNTAX);
    CHECK_INT_EQ(jsonread_object("{\"a\":\"x\0y\"}", 11, names, NAMES, out), JSONREAD_SYNTAX); /* a raw NUL */
}

static void test_utf8_len(void)
{
    CHECK_INT_EQ(jsonread_utf8_len((const unsigned char *)"\xc3\xa9", 2), 2);
    CHECK_INT_EQ(jsonread_utf8_len((const unsigned char *)"\xc3\xa9", 1), 0);
    CHECK_INT_EQ(jsonread_utf8_len((const unsigned char *)"\xf0\x9f\x98\x80", 4), 4);
    CHECK_INT_EQ(jsonread_utf8_len((const unsigned char *)"\x80", 1), 0);
    CHECK_INT_EQ(jsonread_utf8_len((const unsigned char *)"\xc1\xbf", 2), 0);
}

int main(void)
{
    test_values();
    test_strings();
    test_refused();
    test_depth();
    test_length();
    test_utf8_len();
    return check_finish();
}
