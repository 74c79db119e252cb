/* JSON encoding and validating decoding of the messages replicas send each other over the bus. */
#include "msg.h"
#include "taskview.h"

#include "compute.h"
#include "jsonbuf.h"
#include "jsonread.h"
#include "replica.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


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

/* ---- decoding: the text is read once by jsonread, which hands back the value of each field below; the
 * functions take that array of values ('f'), indexed by enum field */

enum field {
    F_KIND, F_ID, F_REPLY_TO, F_ORIGIN, F_TOKEN, F_REF, F_TRACE, F_TASK, F_SUBTASK, F_OPERANDS, F_REQUEST,
    F_HANDOFF, F_KEEP, F_ASYNC, F_TIMEOUT, F_STATUS, F_ERROR, F_RESULT, F_RETRY_AFTER, F_REPLICA, F_HISTORY,
    F_COUNT
};

static const char *const field_names[F_COUNT] = {
    "kind", "id", "replyTo", "origin", "token", "ref", "trace", "task", "subtask", "operands", "requestBody",
    "handoff", "keepS", "async", "timeoutMs", "status", "error", "result", "retryAfter", "replica", "history",
};

/* Copy the string field 'k' into '*out' (malloc'd). A missing field leaves '*out' NULL and is an error only when
 * 'required'. Returns 0, or -1 with a reason in 'err' (wrong type, missing, out of memory). */
static int get_string(const struct jsonread_value *f, enum field k, int required, char **out, char *err)
{
    if (f[k].type == JSONREAD_ABSENT) {
        if (required)
            snprintf(err, TASK_ERR_LEN, "missing %s", field_names[k]);
        return required ? -1 : 0;
    }
    if (f[k].type != JSONREAD_STRING) {
        snprintf(err, TASK_ERR_LEN, "%s must be a string", field_names[k]);
        return -1;
    }
    *out = jsonread_string_dup(&f[k], NULL);
    if (!*out) {
        snprintf(err, TASK_ERR_LEN, "out of memory");
        return -1;
    }
    return 0;
}

static void name_error(enum field k, size_t max_len, char *err)
{
    snprintf(err, TASK_ERR_LEN, "%s must be 1 to %zu letters, digits, '-', '_' or '.'", field_names[k], max_len);
}

/* Like get_string, for a field that must pass msg_valid_name with at most 'max_len' characters. */
static int get_name(const struct jsonread_value *f, enum field k, int required, size_t max_len, char **out, char *err)
{
    if (get_string(f, k, required, out, err) < 0)
        return -1;
    if (*out && !msg_valid_name(*out, max_len)) {
        name_error(k, max_len, err);
        free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

/* Copy the string field 'k' into 'dst' of 'size' bytes when it is a string that fits; NULL otherwise. */
static const char *small_string(const struct jsonread_value *f, enum field k, char *dst, size_t size)
{
    if (f[k].type != JSONREAD_STRING || jsonread_string_len(&f[k]) >= size)
        return NULL;
    jsonread_string_copy(&f[k], dst);
    return dst;
}

/* Read the reply channel: "taskbus:" and a replica id. Returns 0, or -1 with a reason in 'err'. */
static int get_channel(const struct jsonread_value *f, struct msg *ev, char *err)
{
    const size_t prefix = sizeof MSG_CHANNEL_PREFIX - 1;

    if (get_string(f, F_REPLY_TO, 0, &ev->reply_to, err) < 0)
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

/* Read the optional name 'k' into the array 'dst' of 'size' bytes. Returns 0, or -1 with a reason in 'err'. */
static int get_short_name(const struct jsonread_value *f, enum field k, char *dst, size_t size, char *err)
{
    if (f[k].type == JSONREAD_ABSENT)
        return 0;
    if (f[k].type != JSONREAD_STRING) {
        snprintf(err, TASK_ERR_LEN, "%s must be a string", field_names[k]);
        return -1;
    }
    if (!small_string(f, k, dst, size) || !msg_valid_name(dst, size - 1)) {
        dst[0] = '\0';
        name_error(k, size - 1, err);
        return -1;
    }
    return 0;
}

/* Read the optional attempt token and request reference. Returns 0, or -1 with a reason in 'err'. */
static int get_token(const struct jsonread_value *f, struct msg *ev, char *err)
{
    return get_short_name(f, F_TOKEN, ev->token, sizeof ev->token, err) < 0
               ? -1 : get_short_name(f, F_REF, ev->ref, sizeof ev->ref, err);
}

/* Read the optional trace id. Returns 0, or -1 with a reason in 'err'. */
static int get_trace(const struct jsonread_value *f, struct msg *ev, char *err)
{
    if (f[F_TRACE].type == JSONREAD_ABSENT)
        return 0;
    if (!small_string(f, F_TRACE, ev->trace, sizeof ev->trace) || !trace_id_valid(ev->trace)) {
        ev->trace[0] = '\0';
        snprintf(err, TASK_ERR_LEN, "trace must be 32 lowercase hex digits, not all zero");
        return -1;
    }
    return 0;
}

/* Read the integer field 'k' into '*out' when it lies in [lo, hi]. A missing field leaves '*out' alone and is an
 * error only when 'required'. Returns 0, or -1 with a reason in 'err'. */
static int get_integer(const struct jsonread_value *f, enum field k, int required, double lo, double hi, long *out, char *err)
{
    double x;

    if (f[k].type == JSONREAD_ABSENT) {
        if (required)
            snprintf(err, TASK_ERR_LEN, "missing %s", field_names[k]);
        return required ? -1 : 0;
    }
    x = f[k].type == JSONREAD_NUMBER ? jsonread_number(&f[k]) : NAN;
    if (!(x >= lo && x <= hi) || x != floor(x)) {
        snprintf(err, TASK_ERR_LEN, "%s must be an integer from %.0f to %.0f", field_names[k], lo, hi);
        return -1;
    }
    *out = (long)x;
    return 0;
}

/* Read the two operands of a task of type 't->type' from the array field into 't'. Returns 0, or -1 with a reason
 * in 'err'. */
static int decode_operands(const struct jsonread_value *f, struct task *t, char *err)
{
    struct jsonread_value v[2];

    if (f[F_OPERANDS].type != JSONREAD_ARRAY || jsonread_array(&f[F_OPERANDS], v, 2) != 2) {
        snprintf(err, TASK_ERR_LEN, "operands must be an array of 2 values");
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        if (t->type == TASK_NUMBER) {
            t->arg[i].num = v[i].type == JSONREAD_NUMBER ? jsonread_number(&v[i]) : NAN;
            if (!isfinite(t->arg[i].num)) {
                snprintf(err, TASK_ERR_LEN, "operands of a NUMBER task must be finite numbers");
                return -1;
            }
        } else {
            if (v[i].type != JSONREAD_STRING) {
                snprintf(err, TASK_ERR_LEN, "operands of a STRING task must be strings");
                return -1;
            }
            t->arg[i].str = jsonread_string_dup(&v[i], &t->arg[i].len);
            if (!t->arg[i].str) {
                snprintf(err, TASK_ERR_LEN, "out of memory");
                return -1;
            }
        }
    }
    return 0;
}

/* Read the fields of an MSG_TASK into 'ev'. Returns 0, or -1 with a reason in 'err'. */
static int decode_task(const struct jsonread_value *f, struct msg *ev, char *err)
{
    char name[16];

    if (!ev->reply_to) {
        snprintf(err, TASK_ERR_LEN, "missing replyTo");
        return -1;
    }
    if (task_type_parse(small_string(f, F_TASK, name, sizeof name), &ev->task.type) < 0) {
        snprintf(err, TASK_ERR_LEN, "task must be \"NUMBER\" or \"STRING\"");
        return -1;
    }
    if (task_op_parse(small_string(f, F_SUBTASK, name, sizeof name), &ev->task.op) < 0) {
        snprintf(err, TASK_ERR_LEN, "subtask must be \"ADD\", \"SUBTRACT\", \"MULTIPLY\" or \"DIVIDE\"");
        return -1;
    }
    if (decode_operands(f, &ev->task, err) < 0)
        return -1;
    if (get_string(f, F_REQUEST, 0, &ev->request, err) < 0)
        return -1;
    long handoff = 0;
    if (get_integer(f, F_HANDOFF, 0, 0, MSG_MAX_HANDOFF, &handoff, err) < 0)
        return -1;
    ev->handoff = (int)handoff;
    if (get_integer(f, F_KEEP, 0, 0, MSG_MAX_KEEP_S, &ev->keep_s, err) < 0)
        return -1;
    enum jsonread_type async = f[F_ASYNC].type;
    if (async != JSONREAD_ABSENT && async != JSONREAD_TRUE && async != JSONREAD_FALSE) {
        snprintf(err, TASK_ERR_LEN, "async must be a boolean");
        return -1;
    }
    ev->async = async == JSONREAD_TRUE;
    return get_integer(f, F_TIMEOUT, 1, 1, MSG_MAX_TIMEOUT_MS, &ev->timeout_ms, err);
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

/* Read the fields of an MSG_RESULT or MSG_HISTORY into 'ev': a result needs a status; a 200 needs its result or
 * history, any other status an error; a history query needs the reply channel and a valid task id. Returns 0, or
 * -1 with a reason in 'err'. */
static int decode_answer(const struct jsonread_value *f, struct msg *ev, char *err)
{
    long status = 0;

    if (get_integer(f, F_STATUS, ev->kind == MSG_RESULT, 100, 599, &status, err) < 0)
        return -1;
    ev->status = (int)status;
    if (get_string(f, F_ERROR, 0, &ev->error, err) < 0 || get_token(f, ev, err) < 0)
        return -1;
    if (ev->kind == MSG_HISTORY && status == 0)
        return get_name(f, F_REQUEST, 1, TASK_ID_LEN - 1, &ev->request, err) < 0 ? -1
               : require(ev->reply_to, 1, "replyTo", "a history query needs one", err);
    if (ev->kind == MSG_HISTORY) {
        if (get_string(f, F_REQUEST, 0, &ev->request, err) < 0 || get_string(f, F_HISTORY, 0, &ev->history, err) < 0)
            return -1;
        return require(ev->history, status == 200, "history", "status 200", err) < 0 ? -1
               : require(ev->error, status != 200, "error", "status is not 200", err);
    }
    long retry_after = 0;
    if (get_string(f, F_RESULT, 0, &ev->result, err) < 0 ||
        get_name(f, F_REPLICA, 0, REPLICA_NAME_MAX, &ev->replica, err) < 0 ||
        get_integer(f, F_RETRY_AFTER, 0, 1, MSG_MAX_RETRY_AFTER_S, &retry_after, err) < 0)
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

/* Read the kind and id into 'ev'. Returns 0, or -1 with a reason in 'err'. */
static int decode_header(const struct jsonread_value *f, struct msg *ev, char *err)
{
    size_t i;

    if (f[F_KIND].type != JSONREAD_STRING) {
        snprintf(err, TASK_ERR_LEN, "missing kind");
        return -1;
    }
    for (i = 0; i < sizeof kind_names / sizeof kind_names[0]; i++)
        if (jsonread_string_is(&f[F_KIND], kind_names[i]))
            break;
    if (i == sizeof kind_names / sizeof kind_names[0]) {
        snprintf(err, TASK_ERR_LEN, "unknown kind (not task, result or history)");
        return -1;
    }
    ev->kind = (enum msg_kind)i;
    if (f[F_ID].type != JSONREAD_STRING || f[F_ID].len == 0) {
        snprintf(err, TASK_ERR_LEN, "missing id");
        return -1;
    }
    if (!small_string(f, F_ID, ev->id, sizeof ev->id)) {
        snprintf(err, TASK_ERR_LEN, "id is longer than %d characters", TASK_ID_LEN - 1);
        return -1;
    }
    if (!msg_valid_name(ev->id, TASK_ID_LEN - 1)) {
        ev->id[0] = '\0';
        snprintf(err, TASK_ERR_LEN, "id must be letters, digits, '-', '_' or '.'");
        return -1;
    }
    return 0;
}

/* The reason a message jsonread refused is refused for. */
static void json_error(enum jsonread_error e, char *err)
{
    switch (e) {
    case JSONREAD_NOT_OBJECT:
        snprintf(err, TASK_ERR_LEN, "message must be a JSON object");
        break;
    case JSONREAD_UTF8:
        snprintf(err, TASK_ERR_LEN, "message is not valid UTF-8");
        break;
    case JSONREAD_NUL:
        snprintf(err, TASK_ERR_LEN, "message contains \\u0000");
        break;
    case JSONREAD_DEPTH:
        snprintf(err, TASK_ERR_LEN, "message nests deeper than %d levels", JSONREAD_MAX_DEPTH);
        break;
    case JSONREAD_NUMBER_LONG:
        snprintf(err, TASK_ERR_LEN, "message has a number longer than %d characters", JSONREAD_NUMBER_MAX);
        break;
    default:
        snprintf(err, TASK_ERR_LEN, "message is not valid JSON");
        break;
    }
}

int msg_decode(const char *text, size_t len, struct msg *ev, char *err)
{
    struct jsonread_value f[F_COUNT];
    enum jsonread_error e;
    int rc = -1;

    memset(ev, 0, sizeof *ev);
    if (!text || len == 0) {
        snprintf(err, TASK_ERR_LEN, "message is empty");
        goto out;
    }
    if (len > (size_t)MSG_MAX_LEN) {
        snprintf(err, TASK_ERR_LEN, "message is larger than %ld bytes", MSG_MAX_LEN);
        goto out;
    }
    e = jsonread_object(text, len, field_names, F_COUNT, f);
    if (e != JSONREAD_OK) {
        json_error(e, err);
        goto out;
    }
    if (decode_header(f, ev, err) < 0 || get_channel(f, ev, err) < 0 ||
        get_name(f, F_ORIGIN, 0, REPLICA_NAME_MAX, &ev->origin, err) < 0 || get_trace(f, ev, err) < 0)
        goto out;
    if (ev->kind == MSG_TASK ? (decode_task(f, ev, err) < 0 || get_token(f, ev, err) < 0)
                             : decode_answer(f, ev, err) < 0)
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
