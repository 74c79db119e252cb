/* Writing JSON text straight into one growing buffer. */
#include "jsonbuf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for 'more' bytes and a NUL. Returns 0, or -1 (and 'failed' set) when out of memory. */
static int reserve(struct jsonbuf *b, size_t more)
{
    if (b->failed)
        return -1;
    if (b->len + more + 1 <= b->cap)
        return 0;
    if (more > SIZE_MAX / 4 - b->len) { /* no text of ours comes near; doubling past it would overflow */
        b->failed = 1;
        return -1;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *buf = realloc(b->buf, cap);
    if (!buf) {
        b->failed = 1;
        return -1;
    }
    b->buf = buf;
    b->cap = cap;
    return 0;
}

void jsonbuf_put(struct jsonbuf *b, const char *s, size_t n)
{
    if (reserve(b, n) != 0)
        return;
    memcpy(b->buf + b->len, s, n);
    b->len += n;
}

void jsonbuf_puts(struct jsonbuf *b, const char *s)
{
    jsonbuf_put(b, s, strlen(s));
}

void jsonbuf_string(struct jsonbuf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    jsonbuf_put(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        size_t run = i;
        while (run < n && p[run] >= 0x20 && p[run] != '"' && p[run] != '\\')
            run++;
        jsonbuf_put(b, s + i, run - i);
        if ((i = run) == n)
            break;
        char esc[8];
        switch (p[i]) {
        case '"': jsonbuf_put(b, "\\\"", 2); break;
        case '\\': jsonbuf_put(b, "\\\\", 2); break;
        case '\b': jsonbuf_put(b, "\\b", 2); break;
        case '\f': jsonbuf_put(b, "\\f", 2); break;
        case '\n': jsonbuf_put(b, "\\n", 2); break;
        case '\r': jsonbuf_put(b, "\\r", 2); break;
        case '\t': jsonbuf_put(b, "\\t", 2); break;
        default:
            snprintf(esc, sizeof esc, "\\u%04x", p[i]);
            jsonbuf_put(b, esc, 6);
        }
        i++;
    }
    jsonbuf_put(b, "\"", 1);
}

char *jsonbuf_finish(struct jsonbuf *b)
{
    char *text = reserve(b, 0) == 0 ? b->buf : NULL;
    if (text)
        text[b->len] = '\0';
    else
        free(b->buf);
    *b = (struct jsonbuf){ 0 };
    return text;
}

void jsonbuf_clear(struct jsonbuf *b)
{
    free(b->buf);
    *b = (struct jsonbuf){ 0 };
}
