/* Unit tests of the bus messages: the exact wire text, round trips of every kind, and rejection of bad messages. */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "msg.h"

/* Return 1 when two possibly NULL strings are equal. */
static int same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Encode 'ev', check the text is 'want' (unless NULL), decode it again and check every field came back. */
static void round_trip(const struct msg *ev, const char *want, int line)
{
    struct msg back;
    char err[TASK_ERR_LEN] = "", *text = msg_encode(ev);
    int i;

    if (!check_report(text != NULL, __FILE__, line, "msg_encode() != NULL"))
        return;
    if (want)
        check_str_eq(text, want, __FILE__, line, "msg_encode()", "want");
    if (!check_int_eq(msg_decode(text, strlen(text), &back, err), 0, __FILE__, line, "msg_decode()", "0")) {
        fprintf(stderr, "    text = %s\n    err = %s\n", text, err);
        free(text);
        return;
    }
    check_report(back.kind == ev->kind && strcmp(back.id, ev->id) == 0 && same(back.reply_to, ev->reply_to) &&
                     same(back.origin, ev->origin),
                 __FILE__, line, "kind, id, replyTo and origin came back");
    check_str_eq(back.trace, ev->trace, __FILE__, line, "back.trace", "ev->trace");
    if (ev->kind == MSG_TASK) {
        check_report(back.task.type == ev->task.type && back.task.op == ev->task.op &&
                         same(back.request, ev->request) && back.timeout_ms == ev->timeout_ms,
                     __FILE__, line, "task, subtask, requestBody and timeoutMs came back");
        for (i = 0; i < 2; i++) {
            if (ev->task.type == TASK_NUMBER)
                check_report(memcmp(&back.task.arg[i].num, &ev->task.arg[i].num, sizeof(double)) == 0, __FILE__,
                             line, "number operand came back bit for bit");
            else
                check_report(same(back.task.arg[i].str, ev->task.arg[i].str) &&
                                 back.task.arg[i].len == strlen(ev->task.arg[i].str),
                             __FILE__, line, "string operand came back");
        }
    } else {
        check_report(back.status == ev->status && same(back.result, ev->result) && same(back.error, ev->error) &&
                         same(back.replica, ev->replica) && same(back.history, ev->history),
                     __FILE__, line, "status, result, error, replica and history came back");
    }
    msg_clear(&back);
    free(text);
}

/* Decode 'text', which must fail with exactly 'want' and leave nothing but the id and reply channel. */
static void bad(const char *text, const char *want, int line)
{
    struct msg ev;
    char err[TASK_ERR_LEN] = "";

    if (!check_int_eq(msg_decode(text, strlen(text), &ev, err), -1, __FILE__, line, text, "-1"))
        msg_clear(&ev);
    check_str_eq(err, want, __FILE__, line, "err", "want");
    check_report(ev.task.arg[0].str == NULL && ev.request == NULL && ev.result == NULL && ev.error == NULL &&
                     ev.origin == NULL && ev.history == NULL, __FILE__, line, "event left empty");
    msg_clear(&ev);
}

#define ROUND_TRIP(ev, want) round_trip((ev), (want), __LINE__)
#define BAD(text, want) bad((text), (want), __LINE__)
#define TASK_HEAD_TRACE "{\"kind\":\"task\",\"id\":\"x\",\"replyTo\":\"taskbus:r\",\"trace\":"

static void test_round_trips(void)
{
    struct msg ev;

    memset(&ev, 0, sizeof ev);
    ev.kind = MSG_TASK;
    snprintf(ev.id, sizeof ev.id, "fe-1-42");
    ev.reply_to = "taskbus:fe-1";
    ev.origin = "fe-1";
    ev.task.type = TASK_NUMBER;
    ev.task.op = TASK_DIVIDE;
    ev.task.arg[0].num = 4;
    ev.task.arg[1].num = 7;
    ev.request = "{\"d1\": 4, \"d2\": 7}";
    ev.timeout_ms = 4999;
    ROUND_TRIP(&ev, "{\"kind\":\"task\",\"id\":\"fe-1-42\",\"replyTo\":\"taskbus:fe-1\",\"origin\":\"fe-1\","
                    "\"task\":\"NUMBER\",\"subtask\":\"DIVIDE\",\"operands\":[4,7],"
                    "\"requestBody\":\"{\\\"d1\\\": 4, \\\"d2\\\": 7}\",\"timeoutMs\":4999}");

    ev.task.arg[0].num = 0.1 + 0.2;
    ev.task.arg[1].num = -9007199254740994.0;
    ROUND_TRIP(&ev, NULL);
    ev.task.arg[0].num = DBL_MAX;
    ev.task.arg[1].num = 5e-324;
    ROUND_TRIP(&ev, NULL);
    ev.task.arg[0].num = 4.0 / 7.0;
    ev.task.arg[1].num = -1e-300;
    ev.request = NULL;
    ev.origin = NULL;
    ev.timeout_ms = 1;
    ROUND_TRIP(&ev, NULL);

    ev.task.type = TASK_STRING;
    ev.task.op = TASK_ADD;
    ev.task.arg[0].str = "caf\xc3\xa9 \"quoted\" \\ \t\n\x01";
    ev.task.arg[0].len = strlen(ev.task.arg[0].str);
    ev.task.arg[1].str = "";
    ev.task.arg[1].len = 0;
    ROUND_TRIP(&ev, "{\"kind\":\"task\",\"id\":\"fe-1-42\",\"replyTo\":\"taskbus:fe-1\",\"task\":\"STRING\","
                    "\"subtask\":\"ADD\",\"operands\":[\"caf\xc3\xa9 \\\"quoted\\\" \\\\ \\t\\n\\u0001\",\"\"],"
                    "\"timeoutMs\":1}");

    memset(&ev, 0, sizeof ev);
    ev.kind = MSG_RESULT;
    snprintf(ev.id, sizeof ev.id, "fe-1-42");
    ev.reply_to = "taskbus:fe-1";
    ev.origin = "fe-1";
    ev.status = 200;
    ev.result = "0.5714285714285714";
    ev.replica = "backend-number-7";
    ROUND_TRIP(&ev, "{\"kind\":\"result\",\"id\":\"fe-1-42\",\"replyTo\":\"taskbus:fe-1\",\"origin\":\"fe-1\","
                    "\"status\":200,\"result\":\"0.5714285714285714\",\"replica\":\"backend-number-7\"}");
    ev.status = 503;
    ev.result = NULL;
    ev.error = "full";
    ev.retry_after_s = 2;
    ev.reply_to = NULL;
    ev.replica = NULL;
    ROUND_TRIP(&ev, "{\"kind\":\"result\",\"id\":\"fe-1-42\",\"origin\":\"fe-1\",\"status\":503,\"error\":\"full\","
                    "\"retryAfter\":2}");
    ev.retry_after_s = 0;
    ev.replica = "backend-number-7";
    ev.reply_to = "taskbus:fe-1";
    ev.status = 422;
    ev.result = NULL;
    ev.error = "division by zero";
    ev.reply_to = NULL;
    ROUND_TRIP(&ev, "{\"kind\":\"result\",\"id\":\"fe-1-42\",\"origin\":\"fe-1\",\"status\":422,"
                    "\"error\":\"division by zero\",\"replica\":\"backend-number-7\"}");

    memset(&ev, 0, sizeof ev);
    ev.kind = MSG_HISTORY;
    snprintf(ev.id, sizeof ev.id, "%s", "123456789012345678901234567890123456789"); /* the longest id */
    ev.reply_to = "taskbus:fe-2";
    ev.request = "fe-1-42";
    ROUND_TRIP(&ev, "{\"kind\":\"history\",\"id\":\"123456789012345678901234567890123456789\","
                    "\"replyTo\":\"taskbus:fe-2\",\"requestBody\":\"fe-1-42\"}");
    ev.request = NULL;
    ev.status = 200;
    ev.history = "[{\"id\":\"fe-1-42\",\"result\":\"15\"}]";
    ROUND_TRIP(&ev, "{\"kind\":\"history\",\"id\":\"123456789012345678901234567890123456789\","
                    "\"replyTo\":\"taskbus:fe-2\",\"status\":200,"
                    "\"history\":\"[{\\\"id\\\":\\\"fe-1-42\\\",\\\"result\\\":\\\"15\\\"}]\"}");
    ev.status = 503;
    ev.history = NULL;
    ev.error = "the store is unavailable";
    ROUND_TRIP(&ev, NULL);
}

/* The trace id travels in every kind of message, as the optional field "trace". */
static void test_trace(void)
{
    struct msg ev;

    memset(&ev, 0, sizeof ev);
    ev.kind = MSG_TASK;
    snprintf(ev.id, sizeof ev.id, "t1");
    ev.reply_to = "taskbus:fe-1";
    ev.task.type = TASK_NUMBER;
    ev.task.op = TASK_ADD;
    ev.timeout_ms = 10;
    snprintf(ev.trace, sizeof ev.trace, "4bf92f3577b34da6a3ce929d0e0e4736");
    ROUND_TRIP(&ev, "{\"kind\":\"task\",\"id\":\"t1\",\"replyTo\":\"taskbus:fe-1\","
                    "\"trace\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"task\":\"NUMBER\",\"subtask\":\"ADD\","
                    "\"operands\":[0,0],\"timeoutMs\":10}");
    memset(&ev, 0, sizeof ev);
    ev.kind = MSG_RESULT;
    snprintf(ev.id, sizeof ev.id, "t1");
    ev.status = 200;
    ev.result = "1";
    snprintf(ev.trace, sizeof ev.trace, "00000000000000000000000000000001");
    ROUND_TRIP(&ev, "{\"kind\":\"result\",\"id\":\"t1\",\"trace\":\"00000000000000000000000000000001\","
                    "\"status\":200,\"result\":\"1\"}");
    memset(&ev, 0, sizeof ev);
    ev.kind = MSG_HISTORY;
    snprintf(ev.id, sizeof ev.id, "q1");
    ev.reply_to = "taskbus:fe-1";
    ev.request = "t1";
    snprintf(ev.trace, sizeof ev.trace, "4bf92f3577b34da6a3ce929d0e0e4736");
    ROUND_TRIP(&ev, NULL);

    /* A trace field that is not a trace id is refused like any other bad field; the message names no bytes. */
    static const char *const bad_traces[] = {
        "\"\"", "\"00000000000000000000000000000000\"", "\"4BF92F3577B34DA6A3CE929D0E0E4736\"",
        "\"4bf92f3577b34da6a3ce929d0e0e473\"", "\"4bf92f3577b34da6a3ce929d0e0e47360\"",
        "\"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\"", "\"4bf92f3577b34da6a3ce929d0e0e473\\n\"",
        "\"4bf92f3577b34da6a3ce929d0e0e473g\"", "7", "null", "true", "[]", "{}",
    };
    char text[256];
    for (size_t i = 0; i < sizeof bad_traces / sizeof bad_traces[0]; i++) {
        snprintf(text, sizeof text, "{\"kind\":\"result\",\"id\":\"x\",\"status\":200,\"result\":\"1\",\"trace\":%s}",
                 bad_traces[i]);
        BAD(text, "trace must be 32 lowercase hex digits, not all zero");
        snprintf(text, sizeof text, TASK_HEAD_TRACE "%s,\"task\":\"NUMBER\",\"subtask\":\"ADD\",\"operands\":[1,2],"
                 "\"timeoutMs\":5}", bad_traces[i]);
        BAD(text, "trace must be 32 lowercase hex digits, not all zero");
    }
}

static void test_decode_accepts(void)
{
    struct msg ev;
    char err[TASK_ERR_LEN] = "";
    const char *text = " {\"id\":\"x\",\"future\":[1,{}],\"kind\":\"result\",\"status\":599,\"error\":\"e\"} \n";

    CHECK_INT_EQ(msg_decode(text, strlen(text), &ev, err), 0);
    CHECK(ev.kind == MSG_RESULT && ev.status == 599 && strcmp(ev.id, "x") == 0 && ev.reply_to == NULL);
    msg_clear(&ev);
    msg_clear(NULL);
}

static void test_decode_rejects(void)
{
    BAD("", "message is empty");
    BAD("nope", "message is not valid JSON");
    BAD("{\"kind\":\"result\",\"id\":\"x\",\"status\":200}x", "message is not valid JSON");
    BAD("{\"kind\":\"result\",\"id\":\"x\",\"status\":200,\"error\":\"\xff\"}", "message is not valid UTF-8");
    BAD("{\"kind\":\"result\",\"id\":\"x\\u0000y\",\"status\":200}", "message contains \\u0000");
    BAD("[]", "message must be a JSON object");
    BAD("{}", "missing kind");
    BAD("{\"kind\":7,\"id\":\"x\"}", "missing kind");
    BAD("{\"kind\":\"Task\",\"id\":\"x\"}", "unknown kind (not task, result or history)");
    BAD("{\"kind\":\"x\\\"\\nevent=forged\",\"id\":\"x\"}", "unknown kind (not task, result or history)");
    BAD("{\"kind\":\"result\",\"id\":\"a b\",\"status\":500,\"error\":\"e\"}",
        "id must be letters, digits, '-', '_' or '.'");
    BAD("{\"kind\":\"result\",\"id\":\"a:1\",\"status\":500,\"error\":\"e\"}",
        "id must be letters, digits, '-', '_' or '.'");
    BAD("{\"kind\":\"result\",\"id\":\"x\",\"replyTo\":\"reply.fe\",\"status\":500,\"error\":\"e\"}",
        "replyTo must be taskbus:<replica id>");
    BAD("{\"kind\":\"result\",\"id\":\"x\",\"replyTo\":\"taskbus:a\\nb\",\"status\":500,\"error\":\"e\"}",
        "replyTo must be taskbus:<replica id>");
    BAD("{\"kind\":\"result\",\"id\":\"x\",\"status\":200}", "missing result (status 200)");
    BAD("{\"kind\":\"result\",\"id\":\"x\",\"status\":503,\"error\":\"e\",\"retryAfter\":0}",
        "retryAfter must be an integer from 1 to 3600");
    BAD("{\"kind\":\"result\",\"id\":\"x\",\"status\":422}", "missing error (status is not 200)");
    BAD("{\"kind\":\"result\",\"id\":\"x\",\"status\":200,\"result\":\"1\",\"token\":\"a\\\"b\"}",
        "token must be 1 to 32 letters, digits, '-', '_' or '.'");
    BAD("{\"kind\":\"result\",\"id\":\"x\",\"status\":200,\"result\":\"1\",\"replica\":\"\"}",
        "replica must be 1 to 95 letters, digits, '-', '_' or '.'");
    BAD("{\"kind\":\"history\",\"id\":\"x\",\"requestBody\":\"t-1\"}", "missing replyTo (a history query needs one)");
    BAD("{\"kind\":\"history\",\"id\":\"x\",\"replyTo\":\"taskbus:r\"}", "missing requestBody");
    BAD("{\"kind\":\"history\",\"id\":\"x\",\"status\":200}", "missing history (status 200)");
    BAD("{\"kind\":\"history\",\"id\":\"x\",\"status\":404}", "missing error (status is not 200)");
    BAD("{\"kind\":\"result\",\"status\":200}", "missing id");
    BAD("{\"kind\":\"result\",\"id\":\"\",\"status\":200}", "missing id");
    BAD("{\"kind\":\"result\",\"id\":1,\"status\":200}", "missing id");
    BAD("{\"kind\":\"result\",\"id\":\"1234567890123456789012345678901234567890\",\"status\":200}",
        "id is longer than 39 characters");
    BAD("{\"kind\":\"result\",\"id\":\"x\",\"replyTo\":5,\"status\":200}", "replyTo must be a string");
    BAD("{\"kind\":\"result\",\"id\":\"x\",\"origin\":null,\"status\":200}", "origin must be a string");

    BAD("{\"kind\":\"result\",\"id\":\"x\"}", "missing status");
    BAD("{\"kind\":\"result\",\"id\":\"x\",\"status\":99}", "status must be an integer from 100 to 599");
    BAD("{\"kind\":\"result\",\"id\":\"x\",\"status\":600}", "status must be an integer from 100 to 599");
    BAD("{\"kind\":\"result\",\"id\":\"x\",\"status\":200.5}", "status must be an integer from 100 to 599");
    BAD("{\"kind\":\"result\",\"id\":\"x\",\"status\":\"200\"}", "status must be an integer from 100 to 599");
    BAD("{\"kind\":\"result\",\"id\":\"x\",\"status\":1e400}", "status must be an integer from 100 to 599");
    BAD("{\"kind\":\"result\",\"id\":\"x\",\"status\":200,\"result\":15}", "result must be a string");
    BAD("{\"kind\":\"result\",\"id\":\"x\",\"status\":200,\"replica\":[]}", "replica must be a string");
    BAD("{\"kind\":\"history\",\"id\":\"x\",\"status\":0}", "status must be an integer from 100 to 599");
    BAD("{\"kind\":\"history\",\"id\":\"x\",\"status\":200,\"history\":[]}", "history must be a string");
    BAD("{\"kind\":\"history\",\"id\":\"x\",\"error\":false}", "error must be a string");
}

#define TASK_HEAD "{\"kind\":\"task\",\"id\":\"x\",\"replyTo\":\"taskbus:r\","

static void test_decode_rejects_tasks(void)
{
    BAD("{\"kind\":\"task\",\"id\":\"x\",\"task\":\"NUMBER\",\"subtask\":\"ADD\",\"operands\":[1,2]}",
        "missing replyTo");
    BAD(TASK_HEAD "\"subtask\":\"ADD\",\"operands\":[1,2]}", "task must be \"NUMBER\" or \"STRING\"");
    BAD(TASK_HEAD "\"task\":\"number\",\"subtask\":\"ADD\",\"operands\":[1,2]}",
        "task must be \"NUMBER\" or \"STRING\"");
    BAD(TASK_HEAD "\"task\":\"NUMBER\",\"subtask\":\"POW\",\"operands\":[1,2]}",
        "subtask must be \"ADD\", \"SUBTRACT\", \"MULTIPLY\" or \"DIVIDE\"");
    BAD(TASK_HEAD "\"task\":\"NUMBER\",\"subtask\":\"ADD\"}", "operands must be an array of 2 values");
    BAD(TASK_HEAD "\"task\":\"NUMBER\",\"subtask\":\"ADD\",\"operands\":{}}", "operands must be an array of 2 values");
    BAD(TASK_HEAD "\"task\":\"NUMBER\",\"subtask\":\"ADD\",\"operands\":[1]}", "operands must be an array of 2 values");
    BAD(TASK_HEAD "\"task\":\"NUMBER\",\"subtask\":\"ADD\",\"operands\":[1,2,3]}",
        "operands must be an array of 2 values");
    BAD(TASK_HEAD "\"task\":\"NUMBER\",\"subtask\":\"ADD\",\"operands\":[1,\"2\"]}",
        "operands of a NUMBER task must be finite numbers");
    BAD(TASK_HEAD "\"task\":\"NUMBER\",\"subtask\":\"ADD\",\"operands\":[1,-1e400]}",
        "operands of a NUMBER task must be finite numbers");
    BAD(TASK_HEAD "\"task\":\"NUMBER\",\"subtask\":\"ADD\",\"operands\":[null,1]}",
        "operands of a NUMBER task must be finite numbers");
    BAD(TASK_HEAD "\"task\":\"STRING\",\"subtask\":\"ADD\",\"operands\":[\"a\",2]}",
        "operands of a STRING task must be strings");
    BAD(TASK_HEAD "\"task\":\"STRING\",\"subtask\":\"ADD\",\"operands\":[\"a\",\"b\"],\"requestBody\":{}}",
        "requestBody must be a string");
    BAD(TASK_HEAD "\"task\":\"STRING\",\"subtask\":\"ADD\",\"operands\":[\"a\",\"b\"],\"timeoutMs\":-1}",
        "timeoutMs must be an integer from 1 to 600000");
    BAD(TASK_HEAD "\"task\":\"STRING\",\"subtask\":\"ADD\",\"operands\":[\"a\",\"b\"],\"timeoutMs\":1.5}",
        "timeoutMs must be an integer from 1 to 600000");
}

/* A fixed PRNG so a failure can be replayed. */
static unsigned next_random(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 16;
}

/* Every prefix and many single-byte mutations of valid messages must decode or fail without a crash or a leak. */
/* A task the receiver cannot read still names its id and reply channel, so the sender can be told why. */
static void test_rejected_task_keeps_sender(void)
{
    const char *text = "{\"kind\":\"task\",\"id\":\"t-1\",\"replyTo\":\"taskbus:events-1\",\"task\":\"MATRIX\","
                       "\"subtask\":\"ADD\",\"operands\":[1,2]}";
    struct msg ev;
    char err[TASK_ERR_LEN];
    CHECK_INT_EQ(msg_decode(text, strlen(text), &ev, err), -1);
    CHECK_STR_EQ(ev.id, "t-1");
    CHECK_STR_EQ(ev.reply_to, "taskbus:events-1");
    CHECK(ev.task.arg[0].str == NULL);
    msg_clear(&ev);
}

static void test_garbage(void)
{
    static const char *const texts[] = {
        TASK_HEAD "\"origin\":\"o\",\"task\":\"STRING\",\"subtask\":\"ADD\",\"operands\":[\"a\",\"b\"],"
                  "\"requestBody\":\"{}\",\"timeoutMs\":5}",
        "{\"kind\":\"result\",\"id\":\"x\",\"replyTo\":\"taskbus:r\",\"status\":200,\"result\":\"1\",\"error\":\"e\","
        "\"replica\":\"b\"}",
        "{\"kind\":\"history\",\"id\":\"x\",\"status\":200,\"history\":\"[]\",\"error\":\"e\"}",
    };
    static const char bytes[] = "\"{}[],:\\0a-e\x01\xff ";
    struct msg ev;
    char err[TASK_ERR_LEN], buf[512];
    unsigned seed = 1, ok = 0;
    size_t t, i, n;
    int k;

    for (t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        n = strlen(texts[t]);
        CHECK_INT_EQ(msg_decode(texts[t], n, &ev, err), 0);
        msg_clear(&ev);
        for (i = 0; i < n; i++) {
            if (msg_decode(texts[t], i, &ev, err) == 0)
                ok++;
            msg_clear(&ev);
        }
        for (k = 0; k < 5000; k++) {
            memcpy(buf, texts[t], n);
            buf[next_random(&seed) % n] = bytes[next_random(&seed) % (sizeof bytes - 1)];
            msg_decode(buf, n, &ev, err);
            msg_clear(&ev);
        }
    }
    CHECK_INT_EQ(ok, 0); /* no prefix of an object is an object */
}

static unsigned long alloc_count, alloc_fail_at;

/* test_msg is linked with --wrap=malloc (CMakeLists.txt): every malloc of the code under test comes here, and the
 * alloc_fail_at-th one fails (none while alloc_fail_at is 0). */
void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_malloc(size_t n)
{
    return alloc_fail_at && ++alloc_count == alloc_fail_at ? NULL : __real_malloc(n);
}

/* With malloc failing at every possible point of a decode in turn, the decode fails cleanly ("out of memory") or
 * succeeds; the leak checker verifies the error paths. */
static void test_out_of_memory(void)
{
    struct msg ev, back;
    char err[TASK_ERR_LEN], *good;
    unsigned long fail_at;
    int decoded = 0, refused = 0;

    memset(&ev, 0, sizeof ev);
    ev.kind = MSG_TASK;
    snprintf(ev.id, sizeof ev.id, "id");
    ev.reply_to = "taskbus:r";
    ev.origin = "o";
    ev.timeout_ms = 5;
    ev.task.type = TASK_STRING;
    ev.task.arg[0].str = "a";
    ev.task.arg[1].str = "b";
    ev.request = "{}";
    good = msg_encode(&ev);
    CHECK(good != NULL);
    for (fail_at = 1; fail_at < 20; fail_at++) {
        alloc_count = 0;
        alloc_fail_at = fail_at;
        int rc = msg_decode(good, strlen(good), &back, err);
        alloc_fail_at = 0;
        if (rc == 0) {
            decoded++;
            CHECK_STR_EQ(back.task.arg[1].str, "b");
        } else {
            refused++;
            CHECK_STR_EQ(err, "out of memory");
        }
        msg_clear(&back);
    }
    CHECK_INT_EQ(refused, 5); /* replyTo, origin, two operands, requestBody */
    CHECK_INT_EQ(decoded, 14);
    free(good);
}

int main(void)
{
    test_round_trips();
    test_decode_accepts();
    test_trace();
    test_decode_rejects();
    test_decode_rejects_tasks();
    test_rejected_task_keeps_sender();
    test_garbage();
    test_out_of_memory();
    return check_finish();
}
