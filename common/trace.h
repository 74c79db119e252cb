/* W3C Trace Context (https://www.w3.org/TR/trace-context/): reading a client's traceparent header, starting a
 * trace when there is none, and writing the traceparent of an answer. Pure: the caller supplies the random bytes.
 *
 * A traceparent is "<version>-<trace-id>-<parent-id>-<trace-flags>": 2, 32, 16 and 2 lowercase hex digits. Version
 * ff, an all-zero trace-id or parent-id, and a version 00 header with anything after its flags are invalid; a
 * later version may carry more fields after "-". An invalid header is ignored: the request starts a new trace. */
#ifndef TASKBUS_TRACE_H
#define TASKBUS_TRACE_H

#include <stddef.h>

#define TRACE_ID_LEN 33      /* a trace id: 32 lowercase hex digits plus NUL */
#define TRACE_SPAN_LEN 17    /* a span (parent) id: 16 lowercase hex digits plus NUL */
#define TRACE_HEADER_LEN 56  /* "00-<trace id>-<span id>-<flags>" plus NUL */
#define TRACE_RANDOM_LEN 24  /* random bytes trace_start takes: 16 for a new trace id, 8 for the span id */
#define TRACE_SAMPLED 0x01   /* the one trace flag version 00 defines */

/* A request's place in a trace. 'id' is "" when the request has none (tracing off and no valid header). */
struct trace {
    char id[TRACE_ID_LEN];
    char span[TRACE_SPAN_LEN];  /* this frontend's own span id, sent back as the answer's parent-id */
    unsigned char flags;
};

/* 1 when 's' is a trace id: exactly 32 lowercase hex digits, not all zero; else 0. NULL gives 0. */
int trace_id_valid(const char *s);

/* Parse the traceparent header value 'header' (NULL when absent). Returns 0 and writes its trace id into 'id'
 * (TRACE_ID_LEN bytes) and its flags into '*flags'; returns -1 when it is absent or invalid ('id' untouched). */
int trace_parse(const char *header, char *id, unsigned char *flags);

/* Start the trace of a request: the client's trace id and sampled flag when 'header' is a valid traceparent; else,
 * when 'enabled', a new trace id made from random[0..16) with the sampled flag; else no trace (t->id ""). The span
 * id is made from random[16..24) either way. Random bytes that are all zero are nudged to a valid id. */
void trace_start(struct trace *t, const char *header, int enabled, const unsigned char *random);

/* Write the traceparent of an answer, "00-<t->id>-<t->span>-<t->flags>", into 'out' (TRACE_HEADER_LEN bytes).
 * Returns 1, or 0 without writing when 't' has no trace. */
int trace_header(const struct trace *t, char *out);

#endif
