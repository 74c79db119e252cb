/* Classification of an HTTP request body into a task, and the names of task types and operations. */
#include "task.h"

#include "jsonread.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#define QUOTE_LEN 48 /* a key quoted in an error message, cut with "..." when longer */

static const char *const type_names[] = { "NUMBER", "STRING" };
static const char *const op_names[] = { "ADD", "SUBTRACT", "MULTIPLY", "DIVIDE" };

static int is_json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Return 1 when the bytes from 'p' to 'end' are JSON whitespace only (or none). */
static int only_space(const char *p, const char *end)
{
    while (p < end && is_json_space(*p))
        p++;
    return p == end;
}

int task_json_scan(const char *text, size_t len)
{
    const unsigned char *p = (const unsigned char *)text, *end = p + len;
    int in_string = 0, nul = 0;

    while (p < end) {
        if (*p >= 0x80) {
            size_t n = jsonread_utf8_len(p, (size_t)(end - p));
            if (n == 0)
                return TASK_SCAN_UTF8;
            p += n;
            continue;
        }
        if (*p < 0x20 && (in_string || !is_json_space((char)*p)))
            return TASK_SCAN_CONTROL;
        if (in_string && *p == '\\') {
            if (end - p >= 6 && p[1] == 'u' && memcmp(p + 2, "0000", 4) == 0)
                nul = 1;
            p += end - p >= 2 ? 2 : 1; /* the escaped character never opens or closes a string */
            continue;
        }
        if (*p == '"')
            in_string = !in_string;
        p++;
    }
    return nul ? TASK_SCAN_NUL : TASK_SCAN_OK;
}

/* Write at most 'max' bytes of 's' into 'out' (QUOTE_LEN bytes) between 'q' characters, for an error message a
 * client reads: the quote character, backslashes and control characters are escaped, and text that does not fit
 * is cut at a UTF-8 character boundary and ends in "...". */
static void quote(const char *s, size_t max, char q, char *out)
{
    size_t o = 0, i;
    int cut = 0;

    out[o++] = q;
    for (i = 0; i < max && s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        int k;

        if (c == (unsigned char)q || c == '\\')
            k = snprintf(esc, sizeof esc, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            k = snprintf(esc, sizeof esc, "\\u%04x", c);
        else
            k = snprintf(esc, sizeof esc, "%c", c);
        if (o + (size_t)k > QUOTE_LEN - 6) { /* keep room for `..."` and the NUL */
            cut = 1;
            break;
        }
        memcpy(out + o, esc, (size_t)k);
        o += (size_t)k;
    }
    if (cut && ((unsigned char)s[i] & 0xC0) == 0x80) {
        while (o > 1 && ((unsigned char)out[o - 1] & 0xC0) == 0x80)
            o--;
        if (o > 1 && ((unsigned char)out[o - 1] & 0xC0) == 0xC0)
            o--;
    }
    if (cut) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o++] = q;
    out[o] = '\0';
}

/* The length in bytes of the UTF-8 character that starts 's' (1 for ASCII or a stray byte). */
static size_t first_char_len(const char *s)
{
    unsigned char c = (unsigned char)s[0];
    size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1, i;

    for (i = 1; i < n; i++)
        if (s[i] == '\0')
            return i;
    return n;
}

/* How an error message names a JSON value that is neither a number nor a string. */
static const char *kind_phrase(const cJSON *v)
{
    if (cJSON_IsBool(v))
        return "a boolean";
    if (cJSON_IsNull(v))
        return "null";
    if (cJSON_IsArray(v))
        return "an array";
    return "an object";
}

/* Pick the operation of a NUMBER task from the first letter of the keys 'k0' (which decides) and 'k1' (which
 * must agree). Returns 0 and sets '*op', or -1 with a client-readable message in 'err'. */
static int pick_op(const char *k0, const char *k1, enum task_op *op, char *err)
{
    char letter[QUOTE_LEN], key[QUOTE_LEN];

    if (k0[0] == '\0' || k1[0] == '\0') {
        snprintf(err, TASK_ERR_LEN, "empty key");
        return -1;
    }
    switch (k0[0]) {
    case 'a': *op = TASK_ADD; break;
    case 's': *op = TASK_SUBTRACT; break;
    case 'm': *op = TASK_MULTIPLY; break;
    case 'd': *op = TASK_DIVIDE; break;
    default:
        quote(k0, first_char_len(k0), '\'', letter);
        quote(k0, strlen(k0), '"', key);
        snprintf(err, TASK_ERR_LEN, "unknown operation letter %s in key %s: use a, s, m or d", letter, key);
        return -1;
    }
    if (k1[0] != k0[0]) {
        snprintf(err, TASK_ERR_LEN, "keys must start with the same operation letter");
        return -1;
    }
    return 0;
}

/* Copy the string value 'v' into operand 'arg'. Returns 0, or -1 with a message in 'err' when out of memory. */
static int copy_operand(const cJSON *v, struct operand *arg, char *err)
{
    size_t n = strlen(v->valuestring);

    arg->str = malloc(n + 1);
    if (!arg->str) {
        snprintf(err, TASK_ERR_LEN, "out of memory");
        return -1;
    }
    memcpy(arg->str, v->valuestring, n + 1);
    arg->len = n;
    return 0;
}

/* Check the two values 'v' (already known to be an object's two distinct properties) and fill 't'. Returns 0, or
 * -1 with a client-readable message in 'err'. */
static int classify_values(const cJSON *v[2], struct task *t, char *err)
{
    char key[QUOTE_LEN];
    int i;

    for (i = 0; i < 2; i++) {
        if (!cJSON_IsNumber(v[i]) && !cJSON_IsString(v[i])) {
            quote(v[i]->string, strlen(v[i]->string), '"', key);
            snprintf(err, TASK_ERR_LEN, "value of %s must be a number or a string, not %s", key,
                     kind_phrase(v[i]));
            return -1;
        }
    }
    if (cJSON_IsNumber(v[0]) != cJSON_IsNumber(v[1])) {
        snprintf(err, TASK_ERR_LEN, "values must be both numbers or both strings");
        return -1;
    }
    if (cJSON_IsString(v[0])) {
        t->type = TASK_STRING;
        t->op = TASK_ADD;
        for (i = 0; i < 2; i++)
            if (copy_operand(v[i], &t->arg[i], err) < 0)
                return -1;
        return 0;
    }
    for (i = 0; i < 2; i++) {
        if (!isfinite(v[i]->valuedouble)) {
            quote(v[i]->string, strlen(v[i]->string), '"', key);
            snprintf(err, TASK_ERR_LEN, "value of %s is not a finite number", key);
            return -1;
        }
        t->arg[i].num = v[i]->valuedouble;
    }
    t->type = TASK_NUMBER;
    return pick_op(v[0]->string, v[1]->string, &t->op, err);
}

int task_classify(const char *body, size_t len, struct task *t, char *err)
{
    cJSON *root = NULL;
    const cJSON *v[2];
    const char *end = NULL;
    char key[QUOTE_LEN];
    int rc = -1, scan, n;

    memset(t, 0, sizeof *t);
    if (len == 0 || only_space(body, body + len)) {
        snprintf(err, TASK_ERR_LEN, "body is empty");
        goto out;
    }
    scan = task_json_scan(body, len);
    root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!root) {
        snprintf(err, TASK_ERR_LEN, "body is not valid JSON");
        goto out;
    }
    if (!cJSON_IsObject(root)) {
        snprintf(err, TASK_ERR_LEN, "body must be a JSON object");
        goto out;
    }
    if (!only_space(end, body + len)) {
        snprintf(err, TASK_ERR_LEN, "unexpected data after the JSON object");
        goto out;
    }
    if (scan == TASK_SCAN_CONTROL) {
        snprintf(err, TASK_ERR_LEN, "body is not valid JSON");
        goto out;
    }
    if (scan == TASK_SCAN_UTF8) {
        snprintf(err, TASK_ERR_LEN, "body is not valid UTF-8");
        goto out;
    }
    if (scan == TASK_SCAN_NUL) {
        snprintf(err, TASK_ERR_LEN, "strings may not contain NUL (\\u0000)");
        goto out;
    }
    n = cJSON_GetArraySize(root);
    if (n != 2) {
        snprintf(err, TASK_ERR_LEN, "expected exactly 2 properties, got %d", n);
        goto out;
    }
    v[0] = root->child;
    v[1] = root->child->next;
    if (strcmp(v[0]->string, v[1]->string) == 0) {
        quote(v[0]->string, strlen(v[0]->string), '"', key);
        snprintf(err, TASK_ERR_LEN, "duplicate key %s", key);
        goto out;
    }
    if (classify_values(v, t, err) < 0)
        goto out;
    rc = 0;
out:
    if (rc < 0)
        task_clear(t);
    cJSON_Delete(root);
    return rc;
}

void task_clear(struct task *t)
{
    if (!t)
        return;
    free(t->arg[0].str);
    free(t->arg[1].str);
    memset(t, 0, sizeof *t);
}

const char *task_type_name(enum task_type type)
{
    return (unsigned)type < 2 ? type_names[type] : "UNKNOWN";
}

const char *task_op_name(enum task_op op)
{
    return (unsigned)op < 4 ? op_names[op] : "UNKNOWN";
}

int task_type_parse(const char *name, enum task_type *out)
{
    int i;

    for (i = 0; i < 2; i++) {
        if (name && strcmp(name, type_names[i]) == 0) {
            *out = (enum task_type)i;
            return 0;
        }
    }
    return -1;
}

int task_op_parse(const char *name, enum task_op *out)
{
    int i;

    for (i = 0; i < 4; i++) {
        if (name && strcmp(name, op_names[i]) == 0) {
            *out = (enum task_op)i;
            return 0;
        }
    }
    return -1;
}
