/* A strict reader of one JSON object's top-level members, in one pass and without allocating. Pure: no I/O.
 *
 * The bus's messages are small flat objects whose every field the receiver validates anyway. Building a cJSON tree
 * (an allocation per value, a strcmp per lookup) and scanning the text a second time for what cJSON lets through
 * cost half of a backend's CPU; this reader validates the whole text once (RFC 8259: UTF-8, escapes, numbers,
 * nesting) and hands back, for each member name the caller asks for, the span of its value. */
#ifndef TASKBUS_JSONREAD_H
#define TASKBUS_JSONREAD_H

#include <stddef.h>

#define JSONREAD_MAX_DEPTH 64     /* arrays and objects nested deeper than this are refused */
#define JSONREAD_NUMBER_MAX 63    /* a number written with more characters than this is refused */

enum jsonread_type {
    JSONREAD_ABSENT,    /* the member was not in the object */
    JSONREAD_STRING,
    JSONREAD_NUMBER,
    JSONREAD_TRUE,
    JSONREAD_FALSE,
    JSONREAD_NULL,
    JSONREAD_ARRAY,
    JSONREAD_OBJECT,
};

/* Why a text was refused; JSONREAD_OK (0) when it was not. */
enum jsonread_error {
    JSONREAD_OK,
    JSONREAD_SYNTAX,     /* not JSON: a token out of place, a control byte, an unpaired surrogate, data after it */
    JSONREAD_NOT_OBJECT, /* valid JSON, but not an object */
    JSONREAD_UTF8,       /* bytes that are not UTF-8 */
    JSONREAD_NUL,        /* a \u0000 escape */
    JSONREAD_DEPTH,      /* nested deeper than JSONREAD_MAX_DEPTH */
    JSONREAD_NUMBER_LONG,/* a number longer than JSONREAD_NUMBER_MAX characters */
};

/* A value inside the text it was read from (valid as long as that text is). For a string, 'text' is what lies
 * between the quotes, escapes still written, and 'escaped' is 1 when there is at least one; for any other value it
 * is the value's own text. */
struct jsonread_value {
    enum jsonread_type type;
    const char *text;
    size_t len;
    int escaped;
};

/* Read the 'len' bytes at 'text' (need not be NUL-terminated), which must be one JSON object with whitespace
 * around it at most. For each member whose name (unescaped) is one of the 'count' NUL-terminated 'names', the
 * value goes into 'out[i]', 'i' the name's index; the first of repeated names wins. Members of other names, and
 * everything nested, are validated and skipped. Every 'out' slot of a name that did not appear is
 * JSONREAD_ABSENT. Returns JSONREAD_OK, or the first reason the text is refused (then 'out' is meaningless). */
enum jsonread_error jsonread_object(const char *text, size_t len, const char *const *names, size_t count,
                                    struct jsonread_value *out);

/* The length of the string value 'v' once unescaped (a string read by jsonread_object). */
size_t jsonread_string_len(const struct jsonread_value *v);

/* Write the string value 'v' unescaped, as UTF-8 and NUL-terminated, into 'dst' of jsonread_string_len(v) + 1
 * bytes at least. Returns the length written (without the NUL). */
size_t jsonread_string_copy(const struct jsonread_value *v, char *dst);

/* Return the string value 'v' unescaped in a malloc'd NUL-terminated buffer the caller frees, its length in
 * '*len' when 'len' is not NULL; NULL when out of memory. */
char *jsonread_string_dup(const struct jsonread_value *v, size_t *len);

/* 1 when the string value 'v', unescaped, is exactly the NUL-terminated 's'. */
int jsonread_string_is(const struct jsonread_value *v, const char *s);

/* The number value 'v' as a double (as strtod reads it: a value too large is an infinity). */
double jsonread_number(const struct jsonread_value *v);

/* Read the elements of the array value 'v' into 'out' (up to 'max' of them). Returns how many elements the array
 * has, which may exceed 'max' (only the first 'max' are written). */
size_t jsonread_array(const struct jsonread_value *v, struct jsonread_value *out, size_t max);

/* The length of the valid UTF-8 sequence at 'p' (a byte >= 0x80, 'avail' bytes readable), or 0 when it is not
 * one: overlong forms, surrogates and code points above U+10FFFF are invalid. */
size_t jsonread_utf8_len(const unsigned char *p, size_t avail);

#endif
