/* logfmt lines to JSON objects (LOG_FORMAT=json). */
#include "logfmt.h"

#include <stdio.h>
#include <string.h>

/* Room always kept free while members are written: a closing quote, ',"truncated":"true"', '}' and the NUL. */
#define LOGFMT_RESERVE 24

/* The output buffer. Once a write does not fit, 'full' stays set and every later write fails. */
struct out {
    char *buf;
    size_t cap, len;
    int full;
};

/* Append 'n' bytes unless they would eat into the reserve. Returns 0, or -1 (and sets 'full'). */
static int put(struct out *o, const char *s, size_t n)
{
    if (o->full || o->len + n > o->cap - LOGFMT_RESERVE) {
        o->full = 1;
        return -1;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    return 0;
}

/* Append into the reserve; only for the few bytes that close the object. */
static void put_reserved(struct out *o, const char *s)
{
    size_t n = strlen(s);
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

/* The bytes of one key or value: [p, end), with log_escape's escapes undone when 'quoted'. */
struct src {
    const char *p, *end;
    int quoted;
};

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The next byte of 's' (0..255), or -1 at its end. In a quoted value \" and \\ stand for the character and \xNN
 * for the byte; any other backslash is itself. */
static int src_next(struct src *s)
{
    if (s->p >= s->end)
        return -1;
    unsigned char c = (unsigned char)*s->p++;
    if (!s->quoted || c != '\\' || s->p >= s->end)
        return c;
    if (*s->p == '"' || *s->p == '\\')
        return (unsigned char)*s->p++;
    if (*s->p == 'x' && s->end - s->p >= 3 && hex_digit(s->p[1]) >= 0 && hex_digit(s->p[2]) >= 0) {
        int v = hex_digit(s->p[1]) << 4 | hex_digit(s->p[2]);
        s->p += 3;
        return v;
    }
    return c;
}

/* How many bytes the UTF-8 sequence led by 'lead' has, and the range its second byte must lie in (which excludes
 * overlong forms, surrogates and code points above U+10FFFF); 0 when 'lead' cannot start one. */
static int utf8_shape(int lead, int *lo, int *hi)
{
    *lo = 0x80;
    *hi = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf)
        return 2;
    if (lead >= 0xe0 && lead <= 0xef) {
        if (lead == 0xe0)
            *lo = 0xa0;
        if (lead == 0xed)
            *hi = 0x9f;
        return 3;
    }
    if (lead >= 0xf0 && lead <= 0xf4) {
        if (lead == 0xf0)
            *lo = 0x90;
        if (lead == 0xf4)
            *hi = 0x8f;
        return 4;
    }
    return 0;
}

/* Write the JSON form of byte 'c' (below 0x80) into 'b'. Returns its length. */
static size_t json_ascii(int c, char *b)
{
    static const char short_escapes[] = "\"\"\\\\\bb\ff\nn\rr\tt";
    for (size_t i = 0; i + 1 < sizeof short_escapes; i += 2) {
        if (c == short_escapes[i]) {
            b[0] = '\\';
            b[1] = short_escapes[i + 1];
            return 2;
        }
    }
    if (c < 0x20 || c == 0x7f)
        return (size_t)snprintf(b, 8, "\\u%04x", c);
    b[0] = (char)c;
    return 1;
}

/* Append the bytes of 's' as the inside of a JSON string, a whole character at a time. Returns 0, or -1 when the
 * output is full (what was written is a valid prefix). */
static int put_string(struct out *o, struct src *s)
{
    char b[8];
    int c;
    while ((c = src_next(s)) >= 0) {
        size_t n;
        if (c < 0x80) {
            n = json_ascii(c, b);
        } else {
            int lo, hi, len = utf8_shape(c, &lo, &hi), i;
            struct src ahead = *s;
            b[0] = (char)c;
            for (i = 1; i < len; i++) {
                int next = src_next(&ahead);
                if (next < (i == 1 ? lo : 0x80) || next > (i == 1 ? hi : 0xbf))
                    break;
                b[i] = (char)next;
            }
            if (len > 0 && i == len) {
                n = (size_t)len;
                *s = ahead;
            } else {
                /* Not valid UTF-8: the byte as text, and the bytes after it start over. */
                n = (size_t)snprintf(b, sizeof b, "\\\\x%02x", c);
            }
        }
        if (put(o, b, n) != 0)
            return -1;
    }
    return 0;
}

/* 1 when the key [k, k + n) is among the first 'count' of 'keys'/'lens'. */
static int seen(const char *const *keys, const size_t *lens, size_t count, const char *k, size_t n)
{
    for (size_t i = 0; i < count; i++)
        if (lens[i] == n && memcmp(keys[i], k, n) == 0)
            return 1;
    return 0;
}

/* Find the end of a quoted value starting at 'p' (after its opening quote): the first quote not escaped by a
 * backslash, or 'end'. */
static const char *quoted_end(const char *p, const char *end)
{
    while (p < end && *p != '"')
        p += *p == '\\' && p + 1 < end ? 2 : 1;
    return p;
}

size_t logfmt_to_json(const char *in, size_t len, char *out, size_t cap)
{
    if (cap < LOGFMT_MIN_CAP) {
        if (cap > 0)
            out[0] = '\0';
        return 0;
    }
    struct out o = { out, cap, 0, 0 };
    const char *keys[LOGFMT_MAX_KEYS];
    size_t key_lens[LOGFMT_MAX_KEYS], count = 0;
    const char *p = in, *end = in + strnlen(in, len);
    int truncated = 0;

    put(&o, "{", 1);
    while (p < end && !o.full) {
        if (*p == ' ') {
            p++;
            continue;
        }
        const char *k = p;
        while (p < end && *p != ' ' && *p != '=')
            p++;
        size_t klen = (size_t)(p - k);
        struct src value = { p, p, 0 };
        if (p < end && *p == '=') {
            p++;
            if (p < end && *p == '"') {
                const char *close = quoted_end(p + 1, end);
                value = (struct src){ p + 1, close, 1 };
                p = close < end ? close + 1 : end;
            } else {
                value.p = p;
                while (p < end && *p != ' ')
                    p++;
                value.end = p;
            }
        }
        if (seen(keys, key_lens, count, k, klen))
            continue;
        if (count == LOGFMT_MAX_KEYS) {
            truncated = 1;
            break;
        }
        keys[count] = k;
        key_lens[count++] = klen;

        size_t start = o.len;
        struct src key = { k, k + klen, 0 };
        if (put(&o, count > 1 ? ",\"" : "\"", count > 1 ? 2 : 1) != 0 || put_string(&o, &key) != 0 ||
            put(&o, "\":\"", 3) != 0) {
            o.len = start; /* no room for the key: drop the member */
            count--;
            break;
        }
        put_string(&o, &value); /* cut at a character boundary when full */
        put_reserved(&o, "\"");
    }
    /* A line that has a key "truncated" of its own keeps it: no key appears twice. */
    if ((o.full || truncated) && !seen(keys, key_lens, count, "truncated", 9))
        put_reserved(&o, count > 0 ? ",\"truncated\":\"true\"" : "\"truncated\":\"true\"");
    put_reserved(&o, "}");
    out[o.len] = '\0';
    return o.len;
}
