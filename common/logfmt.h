/* Converting one logfmt line (what the log calls write: key=value pairs, values quoted and escaped by log_escape
 * when they may hold spaces) into one JSON object, for LOG_FORMAT=json. Pure: no I/O, no allocation. */
#ifndef TASKBUS_LOGFMT_H
#define TASKBUS_LOGFMT_H

#include <stddef.h>

#define LOGFMT_MIN_CAP 64    /* the smallest output buffer logfmt_to_json writes an object into */
#define LOGFMT_MAX_KEYS 48   /* keys kept per line; later ones are dropped (and the object marked truncated) */

/* Convert the 'len' bytes at 'in' (one line without its newline; stops early at a NUL) into a JSON object in 'out'
 * ('cap' bytes, at least LOGFMT_MIN_CAP), NUL-terminated. Returns the object's length, or 0 (with 'out' "" when
 * 'cap' > 0) when 'cap' is below LOGFMT_MIN_CAP.
 *
 * Tokens are separated by spaces. "key=value" gives "key":"value"; a value in double quotes may hold spaces and
 * the escapes log_escape writes (\" \\ \xNN), which are undone; another backslash stays as it is, and a quote that
 * never closes runs to the end of the line. "key=" and a bare "key" give "key":"". Every value is a JSON string,
 * numbers included, so each key has one type whatever the line. A key seen before in the line is dropped (the
 * first stays), so the daemon's own keys cannot be overridden by a message. In keys and values, control bytes are
 * written as JSON escapes and bytes that are not valid UTF-8 as the text \xNN (a backslash and "xNN"), so the
 * result is valid JSON whatever the input. When the object does not fit, the value being written is cut at a
 * character boundary, later keys are dropped, and "truncated":"true" ends the object. */
size_t logfmt_to_json(const char *in, size_t len, char *out, size_t cap);

#endif
