/* A strict one-pass reader of a JSON object's top-level members (RFC 8259), and the unescaping of its strings. */
#include "jsonread.h"

#include <stdlib.h>
#include <string.h>

#define KEY_MAX 63 /* an escaped member name longer than this once unescaped is compared as no name asked for */

/* The text left to read, and the first reason it was refused. */
struct reader {
    const unsigned char *p, *end;
    enum jsonread_error err;
};

static int fail(struct reader *r, enum jsonread_error e)
{
    if (r->err == JSONREAD_OK)
        r->err = e;
    return -1;
}

static void skip_space(struct reader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

/* 1 when the next byte is 'c' (and consume it). */
static int take(struct reader *r, unsigned char c)
{
    if (r->p < r->end && *r->p == c) {
        r->p++;
        return 1;
    }
    return 0;
}

static int is_digit(const struct reader *r)
{
    return r->p < r->end && *r->p >= '0' && *r->p <= '9';
}

/* Read four hex digits at 'p' into '*out'. Returns 0, or -1 when one is not a hex digit. */
static int hex4(const unsigned char *p, unsigned *out)
{
    unsigned u = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            d = (c | 0x20) - 'a' + 10;
        else
            return -1;
        u = u << 4 | d;
    }
    *out = u;
    return 0;
}

size_t jsonread_utf8_len(const unsigned char *p, size_t avail)
{
    unsigned lo = 0x80, hi = 0xBF;
    size_t n, i;

    if (p[0] >= 0xC2 && p[0] <= 0xDF) {
        n = 2;
    } else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
        n = 3;
        lo = p[0] == 0xE0 ? 0xA0 : lo;
        hi = p[0] == 0xED ? 0x9F : hi;
    } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
        n = 4;
        lo = p[0] == 0xF0 ? 0x90 : lo;
        hi = p[0] == 0xF4 ? 0x8F : hi;
    } else {
        return 0;
    }
    if (avail < n || p[1] < lo || p[1] > hi)
        return 0;
    for (i = 2; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

/* ---- reading: each function starts at its value's first byte and leaves 'r->p' just after it */

/* A \u escape at 'r->p' (the backslash): a surrogate must come as a pair, and U+0000 is refused apart. */
static int read_unicode_escape(struct reader *r)
{
    unsigned u, lo;

    if (r->end - r->p < 6 || hex4(r->p + 2, &u) < 0)
        return fail(r, JSONREAD_SYNTAX);
    r->p += 6;
    if (u == 0)
        return fail(r, JSONREAD_NUL);
    if (u >= 0xDC00 && u <= 0xDFFF)
        return fail(r, JSONREAD_SYNTAX);
    if (u < 0xD800 || u > 0xDBFF)
        return 0;
    if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u' || hex4(r->p + 2, &lo) < 0 || lo < 0xDC00 ||
        lo > 0xDFFF)
        return fail(r, JSONREAD_SYNTAX);
    r->p += 6;
    return 0;
}

static int read_string(struct reader *r, struct jsonread_value *out)
{
    const unsigned char *start = ++r->p;
    int escaped = 0;

    while (r->p < r->end) {
        unsigned char c = *r->p;
        if (c == '"') {
            *out = (struct jsonread_value){ JSONREAD_STRING, (const char *)start, (size_t)(r->p - start), escaped };
            r->p++;
            return 0;
        }
        if (c < 0x20)
            return fail(r, JSONREAD_SYNTAX);
        if (c >= 0x80) {
            size_t n = jsonread_utf8_len(r->p, (size_t)(r->end - r->p));
            if (n == 0)
                return fail(r, JSONREAD_UTF8);
            r->p += n;
        } else if (c != '\\') {
            r->p++;
        } else {
            escaped = 1;
            if (r->end - r->p < 2)
                return fail(r, JSONREAD_SYNTAX);
            c = r->p[1];
            if (c == 'u') {
                if (read_unicode_escape(r) < 0)
                    return -1;
            } else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' ||
                       c == 't') {
                r->p += 2;
            } else {
                return fail(r, JSONREAD_SYNTAX);
            }
        }
    }
    return fail(r, JSONREAD_SYNTAX);
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int read_number(struct reader *r, struct jsonread_value *out)
{
    const unsigned char *start = r->p;

    take(r, '-');
    if (!take(r, '0')) {
        if (!is_digit(r))
            return fail(r, JSONREAD_SYNTAX);
        while (is_digit(r))
            r->p++;
    }
    if (take(r, '.')) {
        if (!is_digit(r))
            return fail(r, JSONREAD_SYNTAX);
        while (is_digit(r))
            r->p++;
    }
    if (take(r, 'e') || take(r, 'E')) {
        if (!take(r, '+'))
            take(r, '-');
        if (!is_digit(r))
            return fail(r, JSONREAD_SYNTAX);
        while (is_digit(r))
            r->p++;
    }
    if (r->p - start > JSONREAD_NUMBER_MAX)
        return fail(r, JSONREAD_NUMBER_LONG);
    *out = (struct jsonread_value){ JSONREAD_NUMBER, (const char *)start, (size_t)(r->p - start), 0 };
    return 0;
}

static int read_literal(struct reader *r, const char *word, enum jsonread_type type, struct jsonread_value *out)
{
    size_t n = strlen(word);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        return fail(r, JSONREAD_SYNTAX);
    *out = (struct jsonread_value){ type, (const char *)r->p, n, 0 };
    r->p += n;
    return 0;
}

static int read_value(struct reader *r, int depth, struct jsonread_value *out);

/* Read an object's members; those named in 'names' (when not NULL) go into their 'out' slot. */
static int read_members(struct reader *r, int depth, const char *const *names, size_t count,
                        struct jsonread_value *out);

static int read_array(struct reader *r, int depth, struct jsonread_value *out)
{
    const unsigned char *start = r->p++;
    struct jsonread_value v;

    skip_space(r);
    if (!take(r, ']')) {
        do {
            skip_space(r);
            if (read_value(r, depth, &v) < 0)
                return -1;
            skip_space(r);
        } while (take(r, ','));
        if (!take(r, ']'))
            return fail(r, JSONREAD_SYNTAX);
    }
    *out = (struct jsonread_value){ JSONREAD_ARRAY, (const char *)start, (size_t)(r->p - start), 0 };
    return 0;
}

static int read_value(struct reader *r, int depth, struct jsonread_value *out)
{
    const unsigned char *start = r->p;

    if (r->p == r->end)
        return fail(r, JSONREAD_SYNTAX);
    switch (*r->p) {
    case '"':
        return read_string(r, out);
    case '[':
        if (depth >= JSONREAD_MAX_DEPTH)
            return fail(r, JSONREAD_DEPTH);
        return read_array(r, depth + 1, out);
    case '{':
        if (depth >= JSONREAD_MAX_DEPTH)
            return fail(r, JSONREAD_DEPTH);
        if (read_members(r, depth + 1, NULL, 0, NULL) < 0)
            return -1;
        *out = (struct jsonread_value){ JSONREAD_OBJECT, (const char *)start, (size_t)(r->p - start), 0 };
        return 0;
    case 't':
        return read_literal(r, "true", JSONREAD_TRUE, out);
    case 'f':
        return read_literal(r, "false", JSONREAD_FALSE, out);
    case 'n':
        return read_literal(r, "null", JSONREAD_NULL, out);
    default:
        return read_number(r, out);
    }
}

/* ---- strings */

/* Write the UTF-8 form of code point 'cp' at 'dst' (when not NULL). Returns its length. */
static size_t put_utf8(unsigned cp, char *dst)
{
    char b[4];
    size_t n;

    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | cp >> 6);
        b[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | cp >> 12);
        b[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | cp >> 18);
        b[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        b[2] = (char)(0x80 | (cp >> 6 & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    if (dst)
        memcpy(dst, b, n);
    return n;
}

/* Unescape the string 'v' (already validated by the reader) into 'dst', or only count when 'dst' is NULL. Returns
 * the unescaped length. */
static size_t unescape(const struct jsonread_value *v, char *dst)
{
    const unsigned char *p = (const unsigned char *)v->text, *end = p + v->len;
    size_t n = 0;

    if (!v->escaped) {
        if (dst)
            memcpy(dst, v->text, v->len);
        return v->len;
    }
    while (p < end) {
        const unsigned char *q = p;
        while (q < end && *q != '\\')
            q++;
        if (dst)
            memcpy(dst + n, p, (size_t)(q - p));
        n += (size_t)(q - p);
        if (q == end)
            break;
        unsigned cp = q[1];
        p = q + 2;
        switch (q[1]) {
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u':
            hex4(q + 2, &cp);
            p = q + 6;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo = 0xDC00;
                hex4(q + 8, &lo);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p = q + 12;
            }
            break;
        default: /* " \ / stand for themselves */
            break;
        }
        n += put_utf8(cp, dst ? dst + n : NULL);
    }
    return n;
}

size_t jsonread_string_len(const struct jsonread_value *v)
{
    return unescape(v, NULL);
}

size_t jsonread_string_copy(const struct jsonread_value *v, char *dst)
{
    size_t n = unescape(v, dst);
    dst[n] = '\0';
    return n;
}

char *jsonread_string_dup(const struct jsonread_value *v, size_t *len)
{
    size_t n = jsonread_string_len(v);
    char *s = malloc(n + 1);
    if (s)
        jsonread_string_copy(v, s);
    if (s && len)
        *len = n;
    return s;
}

int jsonread_string_is(const struct jsonread_value *v, const char *s)
{
    char buf[KEY_MAX + 1];
    size_t n = strlen(s);

    if (v->type != JSONREAD_STRING)
        return 0;
    if (!v->escaped)
        return v->len == n && memcmp(v->text, s, n) == 0;
    if (n > KEY_MAX || jsonread_string_len(v) != n)
        return 0;
    jsonread_string_copy(v, buf);
    return memcmp(buf, s, n) == 0;
}

double jsonread_number(const struct jsonread_value *v)
{
    char buf[JSONREAD_NUMBER_MAX + 1];
    memcpy(buf, v->text, v->len);
    buf[v->len] = '\0';
    return strtod(buf, NULL);
}

/* ---- objects and arrays */

/* The index in 'names' of the member name 'key', or 'count' when it is none of them. */
static size_t name_index(const struct jsonread_value *key, const char *const *names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (jsonread_string_is(key, names[i]))
            return i;
    return count;
}

static int read_members(struct reader *r, int depth, const char *const *names, size_t count,
                        struct jsonread_value *out)
{
    struct jsonread_value key, v;

    r->p++;
    skip_space(r);
    if (take(r, '}'))
        return 0;
    do {
        skip_space(r);
        if (r->p == r->end || *r->p != '"' || read_string(r, &key) < 0)
            return fail(r, JSONREAD_SYNTAX);
        skip_space(r);
        if (!take(r, ':'))
            return fail(r, JSONREAD_SYNTAX);
        skip_space(r);
        if (read_value(r, depth, &v) < 0)
            return -1;
        if (names) {
            size_t i = name_index(&key, names, count);
            if (i < count && out[i].type == JSONREAD_ABSENT)
                out[i] = v;
        }
        skip_space(r);
    } while (take(r, ','));
    return take(r, '}') ? 0 : fail(r, JSONREAD_SYNTAX);
}

enum jsonread_error jsonread_object(const char *text, size_t len, const char *const *names, size_t count,
                                    struct jsonread_value *out)
{
    struct reader r = { (const unsigned char *)text, (const unsigned char *)text + len, JSONREAD_OK };
    struct jsonread_value v;

    for (size_t i = 0; i < count; i++)
        out[i] = (struct jsonread_value){ JSONREAD_ABSENT, NULL, 0, 0 };
    skip_space(&r);
    if (r.p < r.end && *r.p == '{')
        read_members(&r, 1, names, count, out);
    else if (read_value(&r, 1, &v) == 0)
        fail(&r, JSONREAD_NOT_OBJECT); /* unless the text is not JSON at all: checked below */
    if (r.err != JSONREAD_OK && r.err != JSONREAD_NOT_OBJECT)
        return r.err;
    skip_space(&r);
    if (r.p != r.end)
        return JSONREAD_SYNTAX;
    return r.err;
}

size_t jsonread_array(const struct jsonread_value *v, struct jsonread_value *out, size_t max)
{
    struct reader r = { (const unsigned char *)v->text + 1, (const unsigned char *)v->text + v->len, JSONREAD_OK };
    struct jsonread_value e;
    size_t n = 0;

    skip_space(&r);
    if (take(&r, ']'))
        return 0;
    do {
        skip_space(&r);
        if (read_value(&r, 1, &e) < 0)
            break;
        if (n < max)
            out[n] = e;
        n++;
        skip_space(&r);
    } while (take(&r, ','));
    return n;
}
