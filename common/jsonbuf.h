/* Writing JSON text straight into one growing buffer. Pure.
 *
 * Building a cJSON tree to print it costs a few allocations per field; the bus messages (msg.c) are written at
 * every hop of every task, and records (recjson.c) once per record, so both write their text here instead. Strings
 * are escaped as cJSON and libbson escape them: '"', '\\' and the control characters below 0x20 ("\b", "\f", "\n",
 * "\r", "\t", else "\u00XX"); every other byte is copied as is (neither checks UTF-8: a caller that must, does). */
#ifndef TASKBUS_JSONBUF_H
#define TASKBUS_JSONBUF_H

#include <stddef.h>

/* Start zeroed ({ 0 }). After an allocation failed, 'failed' is set and further writes do nothing. */
struct jsonbuf {
    char *buf;
    size_t len, cap;
    int failed;
};

/* Append the 'n' bytes at 's' / the NUL-terminated 's' as they are. */
void jsonbuf_put(struct jsonbuf *b, const char *s, size_t n);
void jsonbuf_puts(struct jsonbuf *b, const char *s);

/* Append the 'n' bytes at 's' as a quoted, escaped JSON string. */
void jsonbuf_string(struct jsonbuf *b, const char *s, size_t n);

/* The text written, NUL-terminated, for the caller to free(); NULL (and the buffer freed) when an allocation
 * failed. 'b' is empty afterwards. */
char *jsonbuf_finish(struct jsonbuf *b);

/* Free what 'b' holds without taking it. */
void jsonbuf_clear(struct jsonbuf *b);

#endif
