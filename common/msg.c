/* JSON encoding and validating decoding of the messages replicas send each other over the bus. */
#include "msg.h"
#include "taskview.h"

#include "compute.h"
#include "jsonbuf.h"
#include "replica.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

/* A replica id is at most REPLICA_ID_LEN - 1 characters (replica.h); no longer name is accepted. */
#define REPLICA_NAME_MAX (REPLICA_ID_LEN - 1)

/* Wire names; indexed by enum msg_kind. */
static const char *const kind_names[] = { "task", "result", "history" };

/* ---- encoding: written straight into one buffer, exactly as cJSON_PrintUnformatted would print the object */

/* Append ,"name": (every field but "kind", which msg_encode writes first). */
static void put_key(struct jsonbuf *b, const char *name)
{
    jsonbuf_put(b, ",\"", 2);
    jsonbuf_puts(b, name);
    jsonbuf_put(b, "\":", 2);
}

/* Append the field 'name' with the string 'value', unless 'value' is NULL. */
static void put_string(struct jsonbuf *b, const char *name, const char *value)
{
    if (!value)
        return;
    put_key(b, name);
    jsonbuf_string(b, value, strlen(value));
}

static void put_long(struct jsonbuf *b, const char *name, long x)
{
    char buf[24];
    put_key(b, name);
    jsonbuf_put(b, buf, (size_t)snprintf(buf, sizeof buf, "%ld", x));
}

/* Append the finite 'x' in the shortest text that reads back as exactly 'x'. cJSON 1.7.15's own printer is not
 * exact (it accepts %.15g when it is within DBL_EPSILON: 0.1+0.2 prints as 0.3, DBL_MAX as a text that reads back
 * as inf). */
static void put_number(struct jsonbuf *b, double x)
{
    char buf[COMPUTE_NUM_LEN];
    compute_format_number(x, buf);
    jsonbuf_puts(b, buf);
}

/* Append the fields of an MSG_TASK. */
static void encode_task(struct jsonbuf *b, const struct msg *ev)
{
    const struct task *t = &ev->task;
    put_string(b, "task", task_type_name(t->type));
    put_string(b, "subtask", task_op_name(t->op));
    put_key(b, "operands");
    for (int i = 0; i < 2; i++) {
        jsonbuf_put(b, i ? "," : "[", 1);
        if (t->type == TASK_STRING)
            jsonbuf_string(b, t->arg[i].str ? t->arg[i].str : "", t->arg[i].str ? strlen(t->arg[i].str) : 0);
        else
            put_number(b, t->arg[i].num);
    }
    jsonbuf_put(b, "]", 1);
    put_string(b, "requestBody", ev->request);
    if (ev->handoff > 0)
        put_long(b, "handoff", ev->handoff);
    if (ev->keep_s > 0)
        put_long(b, "keepS", ev->keep_s);
    if (ev->async) {
        put_key(b, "async");
        jsonbuf_put(b, "true", 4);
    }
    put_long(b, "timeoutMs", ev->timeout_ms);
}

/* Append the fields of an MSG_RESULT or MSG_HISTORY; a history query (status 0) carries no status. */
static void encode_answer(struct jsonbuf *b, const struct msg *ev)
{
    if (ev->kind == MSG_RESULT || ev->status != 0)
        put_long(b, "status", ev->status);
    put_string(b, "error", ev->error);
    if (ev->kind == MSG_HISTORY) {
        put_string(b, "requestBody", ev->request);
        put_string(b, "history", ev->history);
        return;
    }
    put_string(b, "result", ev->result);
    if (ev->retry_after_s > 0)
        put_long(b, "retryAfter", ev->retry_after_s);
    put_string(b, "replica", ev->replica);
}

char *msg_encode(const struct msg *ev)
{
    struct jsonbuf b = { 0 };
    if ((unsigned)ev->kind >= sizeof kind_names / sizeof kind_names[0])
        return NULL;
    jsonbuf_puts(&b, "{\"kind\":");
    jsonbuf_string(&b, kind_names[ev->kind], strlen(kind_names[ev->kind]));
    put_string(&b, "id", ev->id);
    put_string(&b, "replyTo", ev->reply_to);
    put_string(&b, "origin", ev->origin);
    put_string(&b, "token", ev->token[0] ? ev->token : NULL);
    put_string(&b, "ref", ev->ref[0] ? ev->ref : NULL);
    put_string(&b, "trace", ev->trace[0] ? ev->trace : NULL);
    if (ev->kind == MSG_TASK)
        encode_task(&b, ev);
    else
        encode_answer(&b, ev);
    jsonbuf_put(&b, "}", 1);
    return jsonbuf_finish(&b);
}

/* ---- decoding */

/* Copy the string field 'name' of 'obj' into '*out' (malloc'd). A missing field leaves '*out' NULL and is an error
 * only when 'required'. Returns 0, or -1 with a reason in 'err' (wrong type, missing, out of memory). */
static int get_string(const cJSON *obj, const char *name, int required, char **out, char *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    size_t n;

    if (!v) {
        if (required)
            snprintf(err, TASK_ERR_LEN, "missing %s", name);
        return required ? -1 : 0;
    }
    if (!cJSON_IsString(v)) {
        snprintf(err, TASK_ERR_LEN, "%s must be a string", name);
        return -1;
    }
    n = strlen(v->valuestring);
    *out = malloc(n + 1);
    if (!*out) {
        snprintf(err, TASK_ERR_LEN, "out of memory");
        return -1;
    }
    memcpy(*out, v->valuestring, n + 1);
    return 0;
}

/* Like get_string, for a field that must pass msg_valid_name with at most 'max_len' characters. */
static int get_name(const cJSON *obj, const char *name, int required, size_t max_len, char **out, char *err)
{
    if (get_string(obj, name, required, out, err) < 0)
        return -1;
    if (*out && !msg_valid_name(*out, max_len)) {
        snprintf(err, TASK_ERR_LEN, "%s must be 1 to %zu letters, digits, '-', '_' or '.'", name, max_len);
        free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

/* Read the reply channel: "taskbus:" and a replica id. Returns 0, or -1 with a reason in 'err'. */
static int get_channel(const cJSON *obj, struct msg *ev, char *err)
{
    const size_t prefix = sizeof MSG_CHANNEL_PREFIX - 1;

    if (get_string(obj, "replyTo", 0, &ev->reply_to, err) < 0)
        return -1;
    if (ev->reply_to && (strncmp(ev->reply_to, MSG_CHANNEL_PREFIX, prefix) != 0 ||
                         !msg_valid_name(ev->reply_to + prefix, MSG_CHANNEL_LEN - prefix - 1))) {
        snprintf(err, TASK_ERR_LEN, "replyTo must be %s<replica id>", MSG_CHANNEL_PREFIX);
        free(ev->reply_to);
        ev->reply_to = NULL;
        return -1;
    }
    return 0;
}

/* Read the optional name 'field' into the array 'dst' of 'size' bytes. Returns 0, or -1 with a reason in 'err'. */
static int get_short_name(const cJSON *obj, const char *field, char *dst, size_t size, char *err)
{
    char *value = NULL;

    if (get_name(obj, field, 0, size - 1, &value, err) < 0)
        return -1;
    if (value)
        memcpy(dst, value, strlen(value) + 1);
    free(value);
    return 0;
}

/* Read the optional attempt token and request reference. Returns 0, or -1 with a reason in 'err'. */
static int get_token(const cJSON *obj, struct msg *ev, char *err)
{
    return get_short_name(obj, "token", ev->token, sizeof ev->token, err) < 0
               ? -1 : get_short_name(obj, "ref", ev->ref, sizeof ev->ref, err);
}

/* Read the optional trace id. Returns 0, or -1 with a reason in 'err'. */
static int get_trace(const cJSON *obj, struct msg *ev, char *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "trace");

    if (!v)
        return 0;
    if (!cJSON_IsString(v) || !trace_id_valid(v->valuestring)) {
        snprintf(err, TASK_ERR_LEN, "trace must be 32 lowercase hex digits, not all zero");
        return -1;
    }
    memcpy(ev->trace, v->valuestring, TRACE_ID_LEN);
    return 0;
}

/* Read the integer field 'name' of 'obj' into '*out' when it lies in [lo, hi]. A missing field leaves '*out'
 * alone and is an error only when 'required'. Returns 0, or -1 with a reason in 'err'. */
static int get_integer(const cJSON *obj, const char *name, int required, double lo, double hi, long *out,
                       char *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    double x;

    if (!v) {
        if (required)
            snprintf(err, TASK_ERR_LEN, "missing %s", name);
        return required ? -1 : 0;
    }
    x = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!(x >= lo && x <= hi) || x != floor(x)) {
        snprintf(err, TASK_ERR_LEN, "%s must be an integer from %.0f to %.0f", name, lo, hi);
        return -1;
    }
    *out = (long)x;
    return 0;
}

/* Read the two operands of a task of type 't->type' from the array 'ops' into 't'. Returns 0, or -1 with a reason
 * in 'err'. */
static int decode_operands(const cJSON *ops, struct task *t, char *err)
{
    const cJSON *v;
    int i = 0;

    if (!cJSON_IsArray(ops) || cJSON_GetArraySize(ops) != 2) {
        snprintf(err, TASK_ERR_LEN, "operands must be an array of 2 values");
        return -1;
    }
    cJSON_ArrayForEach(v, ops) {
        if (t->type == TASK_NUMBER) {
            if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
                snprintf(err, TASK_ERR_LEN, "operands of a NUMBER task must be finite numbers");
                return -1;
            }
            t->arg[i].num = v->valuedouble;
        } else {
            if (!cJSON_IsString(v)) {
                snprintf(err, TASK_ERR_LEN, "operands of a STRING task must be strings");
                return -1;
            }
            t->arg[i].len = strlen(v->valuestring);
            t->arg[i].str = malloc(t->arg[i].len + 1);
            if (!t->arg[i].str) {
                snprintf(err, TASK_ERR_LEN, "out of memory");
                return -1;
            }
            memcpy(t->arg[i].str, v->valuestring, t->arg[i].len + 1);
        }
        i++;
    }
    return 0;
}

/* Read the fields of an MSG_TASK from 'obj' into 'ev'. Returns 0, or -1 with a reason in 'err'. */
static int decode_task(const cJSON *obj, struct msg *ev, char *err)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(obj, "task");
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(obj, "subtask");

    if (!ev->reply_to) {
        snprintf(err, TASK_ERR_LEN, "missing replyTo");
        return -1;
    }
    if (task_type_parse(cJSON_GetStringValue(type), &ev->task.type) < 0) {
        snprintf(err, TASK_ERR_LEN, "task must be \"NUMBER\" or \"STRING\"");
        return -1;
    }
    if (task_op_parse(cJSON_GetStringValue(op), &ev->task.op) < 0) {
        snprintf(err, TASK_ERR_LEN, "subtask must be \"ADD\", \"SUBTRACT\", \"MULTIPLY\" or \"DIVIDE\"");
        return -1;
    }
    if (decode_operands(cJSON_GetObjectItemCaseSensitive(obj, "operands"), &ev->task, err) < 0)
        return -1;
    if (get_string(obj, "requestBody", 0, &ev->request, err) < 0)
        return -1;
    long handoff = 0;
    if (get_integer(obj, "handoff", 0, 0, MSG_MAX_HANDOFF, &handoff, err) < 0)
        return -1;
    ev->handoff = (int)handoff;
    if (get_integer(obj, "keepS", 0, 0, MSG_MAX_KEEP_S, &ev->keep_s, err) < 0)
        return -1;
    const cJSON *async = cJSON_GetObjectItemCaseSensitive(obj, "async");
    if (async && !cJSON_IsBool(async)) {
        snprintf(err, TASK_ERR_LEN, "async must be a boolean");
        return -1;
    }
    ev->async = cJSON_IsTrue(async);
    return get_integer(obj, "timeoutMs", 1, 1, MSG_MAX_TIMEOUT_MS, &ev->timeout_ms, err);
}

/* Require 'field' (already read into 'value') when 'needed'. Returns 0, or -1 with a reason in 'err'. */
static int require(const char *value, int needed, const char *field, const char *when, char *err)
{
    if (needed && !value) {
        snprintf(err, TASK_ERR_LEN, "missing %s (%s)", field, when);
        return -1;
    }
    return 0;
}

/* Read the fields of an MSG_RESULT or MSG_HISTORY from 'obj' into 'ev': a result needs a status; a 200 needs its
 * result or history, any other status an error; a history query needs the reply channel and a valid task id.
 * Returns 0, or -1 with a reason in 'err'. */
static int decode_answer(const cJSON *obj, struct msg *ev, char *err)
{
    long status = 0;

    if (get_integer(obj, "status", ev->kind == MSG_RESULT, 100, 599, &status, err) < 0)
        return -1;
    ev->status = (int)status;
    if (get_string(obj, "error", 0, &ev->error, err) < 0 || get_token(obj, ev, err) < 0)
        return -1;
    if (ev->kind == MSG_HISTORY && status == 0)
        return get_name(obj, "requestBody", 1, TASK_ID_LEN - 1, &ev->request, err) < 0 ? -1
               : require(ev->reply_to, 1, "replyTo", "a history query needs one", err);
    if (ev->kind == MSG_HISTORY) {
        if (get_string(obj, "requestBody", 0, &ev->request, err) < 0 ||
            get_string(obj, "history", 0, &ev->history, err) < 0)
            return -1;
        return require(ev->history, status == 200, "history", "status 200", err) < 0 ? -1
               : require(ev->error, status != 200, "error", "status is not 200", err);
    }
    long retry_after = 0;
    if (get_string(obj, "result", 0, &ev->result, err) < 0 ||
        get_name(obj, "replica", 0, REPLICA_NAME_MAX, &ev->replica, err) < 0 ||
        get_integer(obj, "retryAfter", 0, 1, MSG_MAX_RETRY_AFTER_S, &retry_after, err) < 0)
        return -1;
    ev->retry_after_s = (int)retry_after;
    if (status == 202) {
        enum taskview_status s = taskview_status_parse(ev->result);
        if (s != TASKVIEW_PENDING && s != TASKVIEW_RUNNING) {
            snprintf(err, TASK_ERR_LEN, "a 202 carries the task's status, pending or running, as its result");
            return -1;
        }
        return 0;
    }
    return require(ev->result, status == 200, "result", "status 200", err) < 0 ? -1
           : require(ev->error, status != 200, "error", "status is not 200", err);
}

/* Read the kind and id of 'obj' into 'ev'. Returns 0, or -1 with a reason in 'err'. */
static int decode_header(const cJSON *obj, struct msg *ev, char *err)
{
    const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "kind"));
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "id"));
    size_t i, n;

    if (!kind) {
        snprintf(err, TASK_ERR_LEN, "missing kind");
        return -1;
    }
    for (i = 0; i < sizeof kind_names / sizeof kind_names[0]; i++)
        if (strcmp(kind, kind_names[i]) == 0)
            break;
    if (i == sizeof kind_names / sizeof kind_names[0]) {
        snprintf(err, TASK_ERR_LEN, "unknown kind (not task, result or history)");
        return -1;
    }
    ev->kind = (enum msg_kind)i;
    if (!id || id[0] == '\0') {
        snprintf(err, TASK_ERR_LEN, "missing id");
        return -1;
    }
    n = strlen(id);
    if (n >= TASK_ID_LEN) {
        snprintf(err, TASK_ERR_LEN, "id is longer than %d characters", TASK_ID_LEN - 1);
        return -1;
    }
    if (!msg_valid_name(id, TASK_ID_LEN - 1)) {
        snprintf(err, TASK_ERR_LEN, "id must be letters, digits, '-', '_' or '.'");
        return -1;
    }
    memcpy(ev->id, id, n + 1);
    return 0;
}

int msg_decode(const char *text, size_t len, struct msg *ev, char *err)
{
    cJSON *root = NULL;
    const char *end = NULL;
    int rc = -1, scan;

    memset(ev, 0, sizeof *ev);
    if (!text || len == 0) {
        snprintf(err, TASK_ERR_LEN, "message is empty");
        goto out;
    }
    if (len > (size_t)MSG_MAX_LEN) {
        snprintf(err, TASK_ERR_LEN, "message is larger than %ld bytes", MSG_MAX_LEN);
        goto out;
    }
    scan = task_json_scan(text, len);
    root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    while (root && end < text + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
        end++;
    if (!root || scan == TASK_SCAN_CONTROL || end != text + len) {
        snprintf(err, TASK_ERR_LEN, "message is not valid JSON");
        goto out;
    }
    if (scan != TASK_SCAN_OK) {
        snprintf(err, TASK_ERR_LEN, "message %s", scan == TASK_SCAN_UTF8 ? "is not valid UTF-8" : "contains \\u0000");
        goto out;
    }
    if (!cJSON_IsObject(root)) {
        snprintf(err, TASK_ERR_LEN, "message must be a JSON object");
        goto out;
    }
    if (decode_header(root, ev, err) < 0 || get_channel(root, ev, err) < 0 ||
        get_name(root, "origin", 0, REPLICA_NAME_MAX, &ev->origin, err) < 0 || get_trace(root, ev, err) < 0)
        goto out;
    if (ev->kind == MSG_TASK ? (decode_task(root, ev, err) < 0 || get_token(root, ev, err) < 0)
                             : decode_answer(root, ev, err) < 0)
        goto out;
    rc = 0;
out:
    if (rc < 0) {
        /* Keep what lets a receiver tell the sender why its message was refused. */
        char id[TASK_ID_LEN];
        char *reply_to = ev->reply_to;
        memcpy(id, ev->id, sizeof id);
        ev->reply_to = NULL;
        msg_clear(ev);
        memcpy(ev->id, id, sizeof id);
        ev->reply_to = reply_to;
    }
    cJSON_Delete(root);
    return rc;
}

void msg_channel(char *buf, const char *replica_id)
{
    snprintf(buf, MSG_CHANNEL_LEN, MSG_CHANNEL_PREFIX "%s", replica_id);
}

int msg_valid_name(const char *s, size_t max_len)
{
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.");

    return n > 0 && n <= max_len && s[n] == '\0';
}

void msg_clear(struct msg *ev)
{
    if (!ev)
        return;
    free(ev->reply_to);
    free(ev->origin);
    task_clear(&ev->task);
    free(ev->request);
    free(ev->result);
    free(ev->error);
    free(ev->replica);
    free(ev->history);
    memset(ev, 0, sizeof *ev);
}
