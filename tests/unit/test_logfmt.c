/* Unit tests of logfmt_to_json: the lines the daemons write, and hostile ones (quotes, backslashes, control bytes,
 * invalid UTF-8, truncated lines, keys without values, duplicate keys, tiny buffers). Every output is read back by a
 * strict JSON reader written here (objects of string members only, RFC 8259 strings, valid UTF-8, no duplicate
 * keys), so "valid JSON whatever the input" is checked, not assumed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "logfmt.h"

#define MAX_MEMBERS 64
#define TEXT_LEN 8192

/* One object as read back: its members' keys and values, decoded (NUL-free in these tests unless noted). */
struct object {
    int n;
    char key[MAX_MEMBERS][TEXT_LEN / 8];
    char value[MAX_MEMBERS][TEXT_LEN / 4];
    size_t value_len[MAX_MEMBERS];
};

static int hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Append code point 'cp' as UTF-8 to 'out' at '*n' (bounded by 'cap'). */
static void put_utf8(unsigned cp, char *out, size_t *n, size_t cap)
{
    unsigned char b[4];
    size_t k;
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        k = 1;
    } else if (cp < 0x800) {
        b[0] = (unsigned char)(0xc0 | cp >> 6);
        b[1] = (unsigned char)(0x80 | (cp & 0x3f));
        k = 2;
    } else {
        b[0] = (unsigned char)(0xe0 | cp >> 12);
        b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        b[2] = (unsigned char)(0x80 | (cp & 0x3f));
        k = 3;
    }
    for (size_t i = 0; i < k && *n + 1 < cap; i++)
        out[(*n)++] = (char)b[i];
}

/* Length of the valid UTF-8 sequence at 'p' (bytes up to 'end'), or 0 when it is not one. */
static size_t utf8_valid_at(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t len;
    unsigned lo = 0x80, hi = 0xbf;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    else
        return 0;
    if ((size_t)(end - p) < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return len;
}

/* Read one JSON string at '*pp' strictly into 'out' ('cap' bytes, NUL-terminated, length in '*len'). Returns 0, or
 * -1 when it is not a valid JSON string. */
static int read_string(const char **pp, const char *end, char *out, size_t cap, size_t *len)
{
    const char *p = *pp;
    size_t n = 0;
    if (p >= end || *p != '"')
        return -1;
    p++;
    while (p < end && *p != '"') {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20)
            return -1; /* raw control byte */
        if (c == '\\') {
            if (++p >= end)
                return -1;
            const char *simple = strchr("\"\\/bfnrt", *p);
            if (*p && simple) {
                static const char decoded[] = "\"\\/\b\f\n\r\t";
                if (n + 1 < cap)
                    out[n++] = decoded[simple - "\"\\/bfnrt"];
                p++;
            } else if (*p == 'u') {
                if (end - p < 5 || hex(p[1]) < 0 || hex(p[2]) < 0 || hex(p[3]) < 0 || hex(p[4]) < 0)
                    return -1;
                unsigned cp = (unsigned)(hex(p[1]) << 12 | hex(p[2]) << 8 | hex(p[3]) << 4 | hex(p[4]));
                if (cp >= 0xd800 && cp <= 0xdfff)
                    return -1; /* logfmt_to_json never needs surrogates */
                put_utf8(cp, out, &n, cap);
                p += 5;
            } else {
                return -1;
            }
            continue;
        }
        size_t k = utf8_valid_at((const unsigned char *)p, (const unsigned char *)end);
        if (k == 0)
            return -1;
        for (size_t i = 0; i < k; i++, p++)
            if (n + 1 < cap)
                out[n++] = *p;
    }
    if (p >= end)
        return -1;
    out[n] = '\0';
    *len = n;
    *pp = p + 1;
    return 0;
}

/* Read 'text' as exactly one JSON object whose members are all strings, with no key twice. Returns 0, or -1. */
static int read_object(const char *text, struct object *o)
{
    const char *p = text, *end = text + strlen(text);
    size_t len;
    o->n = 0;
    if (*p++ != '{')
        return -1;
    if (*p == '}')
        return p + 1 == end ? 0 : -1;
    for (;;) {
        if (o->n == MAX_MEMBERS || read_string(&p, end, o->key[o->n], sizeof o->key[0], &len) != 0 || *p++ != ':' ||
            read_string(&p, end, o->value[o->n], sizeof o->value[0], &o->value_len[o->n]) != 0)
            return -1;
        for (int i = 0; i < o->n; i++)
            if (strcmp(o->key[i], o->key[o->n]) == 0)
                return -1;
        o->n++;
        if (*p == '}')
            return p + 1 == end ? 0 : -1;
        if (*p++ != ',')
            return -1;
    }
}

/* The value of 'key' in 'o', or NULL. */
static const char *get(const struct object *o, const char *key)
{
    for (int i = 0; i < o->n; i++)
        if (strcmp(o->key[i], key) == 0)
            return o->value[i];
    return NULL;
}

static struct object obj;
static char out[TEXT_LEN];

/* Convert 'in' ('len' bytes) with a buffer of 'cap' bytes and read the result back into 'obj'. Returns 1 when the
 * result is a valid object and its length is what the function returned. */
static int convert_n(const char *in, size_t len, size_t cap)
{
    memset(out, 0x5a, sizeof out);
    size_t n = logfmt_to_json(in, len, out, cap);
    int ok = n < cap && out[n] == '\0' && strlen(out) == n && read_object(out, &obj) == 0;
    /* Nothing is written past 'cap'. */
    for (size_t i = cap; i < sizeof out; i++)
        ok &= out[i] == 0x5a;
    if (!ok)
        fprintf(stderr, "    invalid output for cap %zu: %s\n", cap, out);
    return ok;
}

static int convert(const char *in)
{
    return convert_n(in, strlen(in), sizeof out);
}

static void test_daemon_lines(void)
{
    CHECK(convert("time=2026-12-01T20:41:00.123Z level=info daemon=frontend replica=frontend-h-1-ab event=started "
                  "port=4000 redis=127.0.0.1:6379"));
    CHECK_INT_EQ(obj.n, 7);
    CHECK_STR_EQ(obj.key[0], "time");
    CHECK_STR_EQ(get(&obj, "time"), "2026-12-01T20:41:00.123Z");
    CHECK_STR_EQ(obj.key[4], "event");
    CHECK_STR_EQ(get(&obj, "event"), "started");
    CHECK_STR_EQ(get(&obj, "port"), "4000"); /* numbers stay strings */
    CHECK_STR_EQ(get(&obj, "redis"), "127.0.0.1:6379");

    /* A quoted value with spaces and log_escape's escapes. */
    CHECK(convert("event=bad_message task=ab trace=0123 error=\"a \\\"b\\\" c\\\\d \\x0a\\x09e\""));
    CHECK_STR_EQ(get(&obj, "task"), "ab");
    CHECK_STR_EQ(get(&obj, "trace"), "0123");
    CHECK_STR_EQ(get(&obj, "error"), "a \"b\" c\\d \n\te");
    CHECK(strstr(out, "\"error\":\"a \\\"b\\\" c\\\\d \\n\\te\"") != NULL);

    /* The exact text for a simple line. */
    CHECK(convert("a=1 b=\"x y\""));
    CHECK_STR_EQ(out, "{\"a\":\"1\",\"b\":\"x y\"}");
    CHECK(convert(""));
    CHECK_STR_EQ(out, "{}");
    CHECK(convert("   "));
    CHECK_STR_EQ(out, "{}");
    CHECK(convert("  a=1   b=2  "));
    CHECK_STR_EQ(out, "{\"a\":\"1\",\"b\":\"2\"}");
    /* UTF-8 passes as it is. */
    CHECK(convert("name=\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\""));
    CHECK_STR_EQ(get(&obj, "name"), "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80");
}

static void test_keys_without_values(void)
{
    CHECK(convert("event=x empty= bare last"));
    CHECK_STR_EQ(out, "{\"event\":\"x\",\"empty\":\"\",\"bare\":\"\",\"last\":\"\"}");
    CHECK(convert("=v"));
    CHECK_STR_EQ(out, "{\"\":\"v\"}");
    CHECK(convert("=== a==b"));
    CHECK_STR_EQ(get(&obj, ""), "==");
    CHECK_STR_EQ(get(&obj, "a"), "=b");
    CHECK(convert("k=\"\""));
    CHECK_STR_EQ(out, "{\"k\":\"\"}");
    CHECK(convert("k=\""));
    CHECK_STR_EQ(out, "{\"k\":\"\"}");
}

static void test_duplicates(void)
{
    /* The first of a key stays: a message cannot replace the daemon's own keys. */
    CHECK(convert("level=info daemon=events event=x level=error daemon=evil level"));
    CHECK_INT_EQ(obj.n, 3);
    CHECK_STR_EQ(get(&obj, "level"), "info");
    CHECK_STR_EQ(get(&obj, "daemon"), "events");
}

static void test_quotes_and_backslashes(void)
{
    /* A quote that never closes runs to the end. */
    CHECK(convert("event=x error=\"no end here a=b"));
    CHECK_INT_EQ(obj.n, 2);
    CHECK_STR_EQ(get(&obj, "error"), "no end here a=b");
    /* An escaped quote does not close the value. */
    CHECK(convert("e=\"a\\\" b=c\" d=1"));
    CHECK_STR_EQ(get(&obj, "e"), "a\" b=c");
    CHECK_STR_EQ(get(&obj, "d"), "1");
    /* Other backslashes stay; a lone one at the end too. */
    CHECK(convert("e=\"a\\qb\\"));
    CHECK_STR_EQ(get(&obj, "e"), "a\\qb\\");
    CHECK(convert("e=\"\\x4\" f=\"\\xzz\" g=\"\\x41\\x4a\""));
    CHECK_STR_EQ(get(&obj, "e"), "\\x4");
    CHECK_STR_EQ(get(&obj, "f"), "\\xzz");
    CHECK_STR_EQ(get(&obj, "g"), "AJ");
    /* Text right after a closing quote starts a new token. */
    CHECK(convert("e=\"a\"junk f=1"));
    CHECK_STR_EQ(get(&obj, "e"), "a");
    CHECK_STR_EQ(get(&obj, "junk"), "");
    CHECK_STR_EQ(get(&obj, "f"), "1");
    /* Bare values are not unescaped; quotes and backslashes in keys and bare values are escaped for JSON. */
    CHECK(convert("k\"ey=v\\al\"ue"));
    CHECK_STR_EQ(obj.key[0], "k\"ey");
    CHECK_STR_EQ(obj.value[0], "v\\al\"ue");
    CHECK(convert("\"=\"\""));
    CHECK_STR_EQ(obj.key[0], "\"");
    CHECK_STR_EQ(obj.value[0], "");
}

static void test_control_bytes(void)
{
    char in[64];
    /* Raw control bytes anywhere become JSON escapes, \x00 from an escape included. */
    snprintf(in, sizeof in, "k\x01=a\x1f\x7f\tb e=\"\\x00\\x1b[31m\"");
    CHECK(convert(in));
    CHECK(strstr(out, "\"k\\u0001\":\"a\\u001f\\u007f\\tb\"") != NULL);
    CHECK(strstr(out, "\"e\":\"\\u0000\\u001b[31m\"") != NULL);
    CHECK_INT_EQ(obj.value_len[1], 6);
    /* Newlines cannot split the line. */
    CHECK(convert("a=\"x\\x0ay\" b=1\nc=2\rd"));
    CHECK(strchr(out, '\n') == NULL && strchr(out, '\r') == NULL);
    CHECK_STR_EQ(get(&obj, "b"), "1\nc=2\rd");
    /* The input ends at 'len' or at a NUL, whichever comes first. */
    CHECK(convert_n("a=1\0b=2", 7, sizeof out));
    CHECK_STR_EQ(out, "{\"a\":\"1\"}");
    CHECK(convert_n("a=123456", 4, sizeof out));
    CHECK_STR_EQ(out, "{\"a\":\"12\"}");
}

static void test_invalid_utf8(void)
{
    static const char *const bad[] = {
        "\x80", "\xbf", "\xc0\xaf", "\xc1\xbf", "\xc3", "\xc3(", "\xe0\x80\xaf", "\xe0\x9f\xbf", "\xed\xa0\x80",
        "\xe2\x82", "\xf0\x80\x80\x80", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff", "\xfe",
    };
    char in[64];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(in, sizeof in, "k=%s v=\"%s\" %s=1", bad[i], bad[i], bad[i]);
        CHECK(convert(in));
        CHECK_INT_EQ(obj.n, 3);
        /* The lead byte is written as the text \xNN. */
        char want[8];
        snprintf(want, sizeof want, "\\x%02x", (unsigned char)bad[i][0]);
        CHECK(strncmp(get(&obj, "k"), want, 4) == 0);
        CHECK(strncmp(get(&obj, "v"), want, 4) == 0);
    }
    /* Decoded escapes are checked too: \xc3\xa9 is é, a lone \xc3 is not UTF-8. */
    CHECK(convert("a=\"\\xc3\\xa9\" b=\"\\xc3\""));
    CHECK_STR_EQ(get(&obj, "a"), "\xc3\xa9");
    CHECK_STR_EQ(get(&obj, "b"), "\\xc3");
    /* A valid character after an invalid byte is kept. */
    CHECK(convert("a=\xe2\xc3\xa9"));
    CHECK_STR_EQ(get(&obj, "a"), "\\xe2\xc3\xa9");
}

static void test_truncation(void)
{
    char in[4096];
    /* A long value is cut at a character boundary and the object says it was truncated. */
    memset(in, 0, sizeof in);
    strcpy(in, "event=x long=\"");
    for (size_t i = strlen(in); i < 3000; i += 2)
        memcpy(in + i, "\xc3\xa9", 2);
    CHECK(convert_n(in, strlen(in), 200));
    CHECK(strlen(out) < 200);
    CHECK_STR_EQ(get(&obj, "event"), "x");
    CHECK_STR_EQ(get(&obj, "truncated"), "true");
    CHECK(strlen(get(&obj, "long")) > 100);

    /* Escapes are never split: every cap from the minimum up gives a valid object. */
    const char *line = "time=t level=info event=\"q\\\"\\\\\\x01\xe2\x82\xac\xf0\x9f\x98\x80\" task=abc "
                       "trace=0af7651916cd43dd8448eb211c80319c k=\xff\xfe v=\"\\x00\\x00\\x00\" end";
    char whole[TEXT_LEN];
    size_t full = logfmt_to_json(line, strlen(line), whole, sizeof whole);
    int all_ok = 1;
    for (size_t cap = LOGFMT_MIN_CAP; cap <= full + 40; cap++) {
        all_ok &= convert_n(line, strlen(line), cap);
        /* Either the whole object, or a cut one that says so; a buffer with room to spare is never cut (a few
         * bytes are kept free for the marker, so one that would just fit may be). */
        int cut = get(&obj, "truncated") != NULL;
        if (cut ? cap > full + 32 || strlen(out) >= cap : strcmp(out, whole) != 0) {
            all_ok = 0;
            fprintf(stderr, "    cap %zu (full %zu): %s\n", cap, full, out);
        }
    }
    CHECK(all_ok);

    /* Too small a buffer: nothing but an empty string; 0 bytes: nothing at all. */
    char small[LOGFMT_MIN_CAP];
    memset(small, 'z', sizeof small);
    CHECK_INT_EQ(logfmt_to_json("a=1", 3, small, LOGFMT_MIN_CAP - 1), 0);
    CHECK_STR_EQ(small, "");
    CHECK_INT_EQ(logfmt_to_json("a=1", 3, small, 0), 0);

    /* More keys than LOGFMT_MAX_KEYS: the rest are dropped and the object marked. */
    char many[2048] = "";
    for (int i = 0; i < LOGFMT_MAX_KEYS + 5; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "k%d=%d ", i, i);
    CHECK(convert(many));
    CHECK_INT_EQ(obj.n, LOGFMT_MAX_KEYS + 1);
    CHECK_STR_EQ(get(&obj, "truncated"), "true");
    CHECK(get(&obj, "k47") != NULL && get(&obj, "k48") == NULL);
    /* A line with its own "truncated" key keeps it, once. */
    CHECK(convert_n("truncated=no x=\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"", 200,
                    LOGFMT_MIN_CAP));
    CHECK_STR_EQ(get(&obj, "truncated"), "no");
}

/* A small deterministic generator (xorshift) for the random lines below. */
static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static unsigned next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng >> 32);
}

static void test_random_lines(void)
{
    /* Bytes drawn mostly from the characters that matter to the parser, and any byte at all. */
    static const char alphabet[] = "ab=\" \\x0f\xc3\xa9\xe2\x82\xac\xff\x01\n";
    char in[600];
    int all_ok = 1;
    for (int round = 0; round < 20000; round++) {
        size_t len = next_rand() % sizeof in;
        for (size_t i = 0; i < len; i++) {
            unsigned r = next_rand();
            in[i] = r % 4 == 0 ? (char)(r >> 8) : alphabet[(r >> 8) % (sizeof alphabet - 1)];
        }
        size_t cap = round % 3 == 0 ? LOGFMT_MIN_CAP + next_rand() % 400 : sizeof out;
        if (!convert_n(in, len, cap)) {
            all_ok = 0;
            break;
        }
    }
    CHECK(all_ok);
}

int main(void)
{
    test_daemon_lines();
    test_keys_without_values();
    test_duplicates();
    test_quotes_and_backslashes();
    test_control_bytes();
    test_invalid_utf8();
    test_truncation();
    test_random_lines();
    return check_finish();
}
