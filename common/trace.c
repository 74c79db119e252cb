/* Parsing and writing W3C traceparent headers. */
#include "trace.h"

#include <stdio.h>
#include <string.h>

#define TRACE_VERSION_LEN 2
#define TRACE_FLAGS_LEN 2
/* "vv-" + trace id + "-" + parent id + "-" + flags */
#define TRACE_V00_LEN (TRACE_VERSION_LEN + 1 + (TRACE_ID_LEN - 1) + 1 + (TRACE_SPAN_LEN - 1) + 1 + TRACE_FLAGS_LEN)

/* 1 when the 'n' bytes at 's' are lowercase hex digits and, with 'nonzero', not all '0'. */
static int lower_hex(const char *s, size_t n, int nonzero)
{
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
        any |= s[i] != '0';
    }
    return any || !nonzero;
}

static int hex_value(char c)
{
    return c <= '9' ? c - '0' : c - 'a' + 10;
}

int trace_id_valid(const char *s)
{
    return s && strnlen(s, TRACE_ID_LEN) == TRACE_ID_LEN - 1 && lower_hex(s, TRACE_ID_LEN - 1, 1);
}

int trace_parse(const char *header, char *id, unsigned char *flags)
{
    if (!header)
        return -1;
    size_t len = strnlen(header, TRACE_V00_LEN + 1);
    const char *trace = header + TRACE_VERSION_LEN + 1, *parent = trace + TRACE_ID_LEN, *fl = parent + TRACE_SPAN_LEN;
    if (len < TRACE_V00_LEN || !lower_hex(header, TRACE_VERSION_LEN, 0) || strncmp(header, "ff", 2) == 0 ||
        trace[-1] != '-' || parent[-1] != '-' || fl[-1] != '-')
        return -1;
    /* Version 00 has exactly these four fields; a later version may add more, after a '-'. */
    if (len > TRACE_V00_LEN && (strncmp(header, "00", 2) == 0 || header[TRACE_V00_LEN] != '-'))
        return -1;
    if (!lower_hex(trace, TRACE_ID_LEN - 1, 1) || !lower_hex(parent, TRACE_SPAN_LEN - 1, 1) ||
        !lower_hex(fl, TRACE_FLAGS_LEN, 0))
        return -1;
    memcpy(id, trace, TRACE_ID_LEN - 1);
    id[TRACE_ID_LEN - 1] = '\0';
    *flags = (unsigned char)(hex_value(fl[0]) << 4 | hex_value(fl[1]));
    return 0;
}

/* Write the 'n' bytes at 'r' as 2n lowercase hex digits and a NUL into 'out'; all zero becomes ...01, which the
 * specification forbids as an id. */
static void hex_id(const unsigned char *r, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[r[i] >> 4];
        out[2 * i + 1] = digits[r[i] & 0x0f];
        any |= r[i] != 0;
    }
    if (!any)
        out[2 * n - 1] = '1';
    out[2 * n] = '\0';
}

void trace_start(struct trace *t, const char *header, int enabled, const unsigned char *random)
{
    memset(t, 0, sizeof *t);
    if (trace_parse(header, t->id, &t->flags) == 0) {
        t->flags &= TRACE_SAMPLED;
    } else if (enabled) {
        hex_id(random, (TRACE_ID_LEN - 1) / 2, t->id);
        t->flags = TRACE_SAMPLED;
    }
    hex_id(random + (TRACE_ID_LEN - 1) / 2, (TRACE_SPAN_LEN - 1) / 2, t->span);
}

int trace_header(const struct trace *t, char *out)
{
    if (!t->id[0])
        return 0;
    snprintf(out, TRACE_HEADER_LEN, "00-%s-%s-%02x", t->id, t->span, t->flags);
    return 1;
}
