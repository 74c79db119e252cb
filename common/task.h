/* The task model shared by every daemon, and the classification of an HTTP body into a task. Pure: no I/O. */
#ifndef TASKBUS_TASK_H
#define TASKBUS_TASK_H

#include <stddef.h>

#define TASK_ERR_LEN 160
#define TASK_ID_LEN 40 /* ids are at most 39 characters plus NUL */

enum task_type { TASK_NUMBER, TASK_STRING };
enum task_op { TASK_ADD, TASK_SUBTRACT, TASK_MULTIPLY, TASK_DIVIDE };

/* One operand: a finite double for TASK_NUMBER, an owned NUL-free string for TASK_STRING. */
struct operand {
    double num;
    char *str;
    size_t len;
};

struct task {
    enum task_type type;
    enum task_op op;
    struct operand arg[2]; /* in the order the keys appear in the body */
};

/* Classify an HTTP request body of 'len' bytes (need not be NUL-terminated). Returns 0 and fills 't' on success;
 * 't' then owns its strings, free with task_clear(). On bad input returns -1, leaves 't' empty and writes a
 * message a client can read into 'err' (TASK_ERR_LEN bytes). The rules:
 *   - the body is exactly one JSON object (whitespace around it is allowed, anything else is not);
 *   - it has exactly two properties with distinct names;
 *   - both values are finite numbers (TASK_NUMBER) or both are strings without NUL (TASK_STRING);
 *   - for numbers, the first character of the FIRST key picks the operation: a add, s subtract, m multiply,
 *     d divide (case-sensitive); both keys must start with the same letter. Strings always concatenate. */
int task_classify(const char *body, size_t len, struct task *t, char *err);

/* Free the strings a task owns and zero it. NULL-safe. */
void task_clear(struct task *t);

/* Names used on the wire and in the store: "NUMBER"/"STRING", "ADD"/"SUBTRACT"/"MULTIPLY"/"DIVIDE". */
const char *task_type_name(enum task_type type);
const char *task_op_name(enum task_op op);

/* Parse the names above back. Return 0 and set '*out', or -1 for an unknown name. */
int task_type_parse(const char *name, enum task_type *out);
int task_op_parse(const char *name, enum task_op *out);

/* What task_json_scan finds in raw JSON text that cJSON 1.7.15 accepts silently. */
#define TASK_SCAN_OK 0
#define TASK_SCAN_CONTROL 1 /* a control byte outside JSON whitespace, or raw inside a string: not valid JSON */
#define TASK_SCAN_UTF8 2    /* bytes that are not valid UTF-8 */
#define TASK_SCAN_NUL 3     /* a \u0000 escape, at which cJSON would silently cut the string */

/* Scan 'len' bytes of JSON text (need not be NUL-terminated) for the problems above, so callers can reject what
 * cJSON would accept. Returns TASK_SCAN_OK or the first CONTROL/UTF8 problem; NUL is reported only when the text
 * has neither of the others. Meaningful only for text that cJSON parses. */
int task_json_scan(const char *text, size_t len);

#endif
