/* Event-log records as relaxed extended JSON in one pass. */
#include "recjson.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jsonbuf.h"

/* Dates libbson writes as ISO-8601 strings in relaxed mode: years 1970 to 9999. */
#define RECJSON_DATE_MAX 253402300799999LL

/* Length of the valid UTF-8 sequence (2 to 4 bytes; no overlong form, surrogate or code point past U+10FFFF) at
 * 's' (at most 'n' bytes), or 0 when it is not one. */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) || (c == 0xF0 && s[1] < 0x90) ||
        (c == 0xF4 && s[1] > 0x8F))
        return 0;
    return len;
}

/* Append 's' ('n' bytes) as a quoted JSON string, escaped as libbson escapes it. Returns -1 when it is not valid
 * UTF-8 by the strict rule above (the caller then leaves the document to libbson). */
static int put_string(struct jsonbuf *o, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0, len; i < n; i += len)
        if ((len = p[i] < 0x80 ? 1 : utf8_sequence(p + i, n - i)) == 0)
            return -1;
    jsonbuf_string(o, s, n);
    return 0;
}

/* Append date 'ms' as libbson's relaxed mode writes it: { "$date" : "YYYY-MM-DDTHH:MM:SS[.mmm]Z" }. */
static void put_date(struct jsonbuf *o, int64_t ms)
{
    char text[64];
    time_t t = (time_t)(ms / 1000);
    int frac = (int)(ms % 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
    if (frac)
        snprintf(text + n, sizeof text - n, ".%03dZ", frac);
    else
        snprintf(text + n, sizeof text - n, "Z");
    jsonbuf_puts(o, "{ \"$date\" : \"");
    jsonbuf_puts(o, text);
    jsonbuf_puts(o, "\" }");
}

/* Append the value at 'it'. Returns 1 when done, 0 when it is a kind left to libbson, -1 when a string is not
 * valid UTF-8. */
static int put_value(struct jsonbuf *o, const bson_iter_t *it)
{
    char num[32];
    uint32_t n;
    switch (bson_iter_type(it)) {
    case BSON_TYPE_UTF8: {
        const char *s = bson_iter_utf8(it, &n);
        return put_string(o, s, n) == 0 ? 1 : -1;
    }
    case BSON_TYPE_INT32:
        snprintf(num, sizeof num, "%" PRId32, bson_iter_int32(it));
        jsonbuf_puts(o, num);
        return 1;
    case BSON_TYPE_INT64:
        snprintf(num, sizeof num, "%" PRId64, bson_iter_int64(it));
        jsonbuf_puts(o, num);
        return 1;
    case BSON_TYPE_BOOL:
        jsonbuf_puts(o, bson_iter_bool(it) ? "true" : "false");
        return 1;
    case BSON_TYPE_DATE_TIME: {
        int64_t ms = bson_iter_date_time(it);
        if (ms < 0 || ms > RECJSON_DATE_MAX)
            return 0;
        put_date(o, ms);
        return 1;
    }
    default:
        return 0;
    }
}

char *recjson_of(const bson_t *doc)
{
    bson_iter_t it;
    struct jsonbuf o = { 0 };
    int rc = bson_iter_init(&it, doc) ? 1 : 0, fields = 0;
    jsonbuf_put(&o, "{ ", 2);
    while (rc == 1 && bson_iter_next(&it)) {
        if (fields++)
            jsonbuf_put(&o, ", ", 2);
        if (put_string(&o, bson_iter_key(&it), bson_iter_key_len(&it)) != 0) {
            rc = -1;
            break;
        }
        jsonbuf_put(&o, " : ", 3);
        rc = put_value(&o, &it);
    }
    if (rc == 1)
        jsonbuf_put(&o, fields ? " }" : "}", fields ? 2 : 1);
    if (rc != 1) {
        /* Anything this does not write, or strings it does not take for UTF-8: libbson decides, as before. */
        jsonbuf_clear(&o);
        char *theirs = bson_as_relaxed_extended_json(doc, NULL), *copy = theirs ? strdup(theirs) : NULL;
        bson_free(theirs);
        return copy;
    }
    return jsonbuf_finish(&o);
}
