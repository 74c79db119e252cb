/* Unit tests of task classification: every bad-input class, the seed examples and the operand order. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "task.h"

/* Classify the 'len' bytes of 'body', which must fail with exactly 'want' and leave the task empty. */
static void bad_n(const char *body, size_t len, const char *want, int line)
{
    struct task t;
    char err[TASK_ERR_LEN] = "";
    int rc = task_classify(body, len, &t, err);

    if (!check_int_eq(rc, -1, __FILE__, line, "task_classify()", "-1"))
        task_clear(&t);
    check_str_eq(err, want, __FILE__, line, "err", "want");
    check_report(t.arg[0].str == NULL && t.arg[1].str == NULL, __FILE__, line, "task left empty");
}

/* Classify 'body', which must succeed as a NUMBER task with operation 'op' and operands 'a', 'b'. */
static void number(const char *body, enum task_op op, double a, double b, int line)
{
    struct task t;
    char err[TASK_ERR_LEN] = "";

    if (!check_int_eq(task_classify(body, strlen(body), &t, err), 0, __FILE__, line, body, "0")) {
        fprintf(stderr, "    err = %s\n", err);
        return;
    }
    check_int_eq(t.type, TASK_NUMBER, __FILE__, line, "t.type", "TASK_NUMBER");
    check_int_eq(t.op, op, __FILE__, line, "t.op", "op");
    check_report(t.arg[0].num == a && t.arg[1].num == b, __FILE__, line, "operands in key order");
    task_clear(&t);
}

/* Classify the 'len' bytes of 'body', which must succeed as a STRING ADD task with operands 'a' and 'b'. */
static void strings_n(const char *body, size_t len, const char *a, const char *b, int line)
{
    struct task t;
    char err[TASK_ERR_LEN] = "";

    if (!check_int_eq(task_classify(body, len, &t, err), 0, __FILE__, line, body, "0")) {
        fprintf(stderr, "    err = %s\n", err);
        return;
    }
    check_int_eq(t.type, TASK_STRING, __FILE__, line, "t.type", "TASK_STRING");
    check_int_eq(t.op, TASK_ADD, __FILE__, line, "t.op", "TASK_ADD");
    check_str_eq(t.arg[0].str, a, __FILE__, line, "arg[0]", "a");
    check_str_eq(t.arg[1].str, b, __FILE__, line, "arg[1]", "b");
    check_int_eq(t.arg[0].len, strlen(a), __FILE__, line, "arg[0].len", "strlen(a)");
    check_int_eq(t.arg[1].len, strlen(b), __FILE__, line, "arg[1].len", "strlen(b)");
    task_clear(&t);
}

#define BAD(lit, want) bad_n((lit), sizeof(lit) - 1, (want), __LINE__)
#define NUMBER(body, op, a, b) number((body), (op), (a), (b), __LINE__)
#define STRINGS(lit, a, b) strings_n((lit), sizeof(lit) - 1, (a), (b), __LINE__)

static void test_seed_examples(void)
{
    NUMBER("{\"a1\": 5, \"a2\": 10}", TASK_ADD, 5, 10);
    NUMBER("{\"s1\": 4, \"s2\": 7}", TASK_SUBTRACT, 4, 7);
    NUMBER("{\"m1\": 4, \"m2\": 7}", TASK_MULTIPLY, 4, 7);
    NUMBER("{\"d1\": 4, \"d2\": 7}", TASK_DIVIDE, 4, 7);
    STRINGS("{\"a1\": \"a\", \"a2\": \"b\"}", "a", "b");
}

static void test_accepted_forms(void)
{
    char big[300], body[400];

    NUMBER("{\"s2\":10,\"s1\":4}", TASK_SUBTRACT, 10, 4); /* operands follow the keys' order in the body */
    NUMBER(" \r\n\t{\"add\":1.5,\"apple\":-2e3} \n", TASK_ADD, 1.5, -2000);
    NUMBER("{\"d\":0,\"dd\":-0}", TASK_DIVIDE, 0, 0);
    NUMBER("{\"m1\":9007199254740993,\"m2\":1}", TASK_MULTIPLY, 9007199254740992.0, 1); /* nearest double */
    NUMBER("{\"a1\":1e308,\"a2\":-1e-320}", TASK_ADD, 1e308, -1e-320);
    STRINGS("{\"x\":\"\",\"\":\"b\"}", "", "b"); /* strings ignore the keys' letters */
    STRINGS("{\"a1\":\"\\u00e9\\\"\\\\\",\"a2\":\"\xc3\xbc\xf0\x9f\x98\x80\"}", "\xc3\xa9\"\\", "\xc3\xbc\xf0\x9f\x98\x80");
    STRINGS("{\"a1\":\"x\\\\u0000\",\"a2\":\"y\"}", "x\\u0000", "y"); /* an escaped backslash, not a NUL */
    STRINGS("{\"a1\":\"\\ud83d\\ude00\",\"a2\":\"\"}", "\xf0\x9f\x98\x80", "");
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    snprintf(body, sizeof body, "{\"a1\":\"%s\",\"a2\":\"b\"}", big);
    strings_n(body, strlen(body), big, "b", __LINE__);
}

static void test_not_an_object(void)
{
    BAD("", "body is empty");
    BAD(" \t\r\n ", "body is empty");
    BAD("not json", "body is not valid JSON");
    BAD("{", "body is not valid JSON");
    BAD("{\"a1\":1,}", "body is not valid JSON");
    BAD("{'a1':1,'a2':2}", "body is not valid JSON");
    BAD("{\"a1\":1,\0\"a2\":2}", "body is not valid JSON");         /* cJSON skips a raw NUL as whitespace */
    BAD("\x01{\"a1\":1,\"a2\":2}", "body is not valid JSON");       /* and any other control byte */
    BAD("{\"a1\":\"a\tb\",\"a2\":\"c\"}", "body is not valid JSON"); /* raw control characters in strings */
    BAD("{\"a1\":\"\\ud800\",\"a2\":\"c\"}", "body is not valid JSON"); /* a lone surrogate */
    BAD("{\"a1\": 5, \"a2\": 10}xyz", "unexpected data after the JSON object");
    BAD("{\"a1\": 5, \"a2\": 10} {}", "unexpected data after the JSON object");
    BAD("{\"a1\": 5, \"a2\": 10}\0", "unexpected data after the JSON object");
    BAD("[5, 10]", "body must be a JSON object");
    BAD("\"a1\"", "body must be a JSON object");
    BAD("15", "body must be a JSON object");
    BAD("true", "body must be a JSON object");
    BAD("null", "body must be a JSON object");
    BAD("{\"a1\":\"\xff\",\"a2\":\"b\"}", "body is not valid UTF-8");
    BAD("{\"a1\":\"\xc0\xaf\",\"a2\":\"b\"}", "body is not valid UTF-8"); /* overlong '/' */
    BAD("{\"a1\":\"\xed\xa0\x80\",\"a2\":\"b\"}", "body is not valid UTF-8"); /* encoded surrogate */
    BAD("{\"a1\":\"\xe2\x82\",\"a2\":\"b\"}", "body is not valid UTF-8"); /* cut short */
}

static void test_properties(void)
{
    BAD("{}", "expected exactly 2 properties, got 0");
    BAD("{\"a1\": 5}", "expected exactly 2 properties, got 1");
    BAD("{\"a1\": 5, \"a2\": 10, \"a3\": 1}", "expected exactly 2 properties, got 3");
    BAD("{\"a1\": 5, \"a1\": 10}", "duplicate key \"a1\"");
    BAD("{\"a1\": \"x\", \"a1\": \"y\"}", "duplicate key \"a1\"");
    BAD("{\"a1\":\"x\\u0000y\",\"a2\":\"b\"}", "strings may not contain NUL (\\u0000)");
    BAD("{\"a1\":\"\\u0000\",\"a2\":\"b\"}", "strings may not contain NUL (\\u0000)");
    BAD("{\"a\\u0000x\":1,\"a\\u0000y\":2}", "strings may not contain NUL (\\u0000)"); /* in keys too */
}

static void test_values(void)
{
    BAD("{\"a1\": 5, \"a2\": \"10\"}", "values must be both numbers or both strings");
    BAD("{\"a1\": \"5\", \"a2\": 10}", "values must be both numbers or both strings");
    BAD("{\"a1\": true, \"a2\": 10}", "value of \"a1\" must be a number or a string, not a boolean");
    BAD("{\"a1\": 5, \"a2\": false}", "value of \"a2\" must be a number or a string, not a boolean");
    BAD("{\"a1\": null, \"a2\": 10}", "value of \"a1\" must be a number or a string, not null");
    BAD("{\"a1\": 5, \"a2\": [10]}", "value of \"a2\" must be a number or a string, not an array");
    BAD("{\"a1\": {}, \"a2\": 10}", "value of \"a1\" must be a number or a string, not an object");
    BAD("{\"a1\": 1e400, \"a2\": 10}", "value of \"a1\" is not a finite number");
    BAD("{\"a1\": 1, \"a2\": -1e400}", "value of \"a2\" is not a finite number");
}

static void test_keys(void)
{
    char body[400], want[TASK_ERR_LEN];
    size_t n;

    BAD("{\"x1\": 5, \"x2\": 10}", "unknown operation letter 'x' in key \"x1\": use a, s, m or d");
    BAD("{\"A1\": 5, \"A2\": 10}", "unknown operation letter 'A' in key \"A1\": use a, s, m or d");
    BAD("{\"\xc3\xb1\": 5, \"\xc3\xb1\x32\": 10}",
        "unknown operation letter '\xc3\xb1' in key \"\xc3\xb1\": use a, s, m or d");
    BAD("{\"\\\"q\": 5, \"\\\"r\": 10}", "unknown operation letter '\"' in key \"\\\"q\": use a, s, m or d");
    BAD("{\"\\tq\": 5, \"\\tr\": 10}", "unknown operation letter '\\u0009' in key \"\\u0009q\": use a, s, m or d");
    BAD("{\"a1\": 5, \"s2\": 10}", "keys must start with the same operation letter");
    BAD("{\"a1\": 5, \"A2\": 10}", "keys must start with the same operation letter");
    BAD("{\"\": 5, \"a2\": 10}", "empty key");
    BAD("{\"a1\": 5, \"\": 10}", "empty key");

    /* A long key is cut at a character boundary so the message stays short and valid UTF-8. */
    n = (size_t)snprintf(body, sizeof body, "{\"x");
    while (n < 300)
        n += (size_t)snprintf(body + n, sizeof body - n, "\xc3\xa9");
    snprintf(body + n, sizeof body - n, "\": 5, \"x\": 1}");
    n = (size_t)snprintf(want, sizeof want, "unknown operation letter 'x' in key \"x");
    while (n < 38 + 40)
        n += (size_t)snprintf(want + n, sizeof want - n, "\xc3\xa9");
    snprintf(want + n, sizeof want - n, "...\": use a, s, m or d");
    bad_n(body, strlen(body), want, __LINE__);
}

static void test_names(void)
{
    enum task_type type;
    enum task_op op;

    CHECK_STR_EQ(task_type_name(TASK_NUMBER), "NUMBER");
    CHECK_STR_EQ(task_type_name(TASK_STRING), "STRING");
    CHECK_STR_EQ(task_op_name(TASK_ADD), "ADD");
    CHECK_STR_EQ(task_op_name(TASK_SUBTRACT), "SUBTRACT");
    CHECK_STR_EQ(task_op_name(TASK_MULTIPLY), "MULTIPLY");
    CHECK_STR_EQ(task_op_name(TASK_DIVIDE), "DIVIDE");
    CHECK(task_type_parse("STRING", &type) == 0 && type == TASK_STRING);
    CHECK(task_op_parse("DIVIDE", &op) == 0 && op == TASK_DIVIDE);
    CHECK_INT_EQ(task_type_parse("number", &type), -1);
    CHECK_INT_EQ(task_op_parse("ADD ", &op), -1);
    CHECK_INT_EQ(task_op_parse(NULL, &op), -1);
}

static void test_scan(void)
{
    CHECK_INT_EQ(task_json_scan("{\"a\":\"\\\\\"}", 10), TASK_SCAN_OK);
    CHECK_INT_EQ(task_json_scan("\"\\U0000\"", 8), TASK_SCAN_OK); /* not an escape JSON knows */
    CHECK_INT_EQ(task_json_scan("\"\\u0000\"", 8), TASK_SCAN_NUL);
    CHECK_INT_EQ(task_json_scan("\"\\u0000\xff\"", 9), TASK_SCAN_UTF8);
    CHECK_INT_EQ(task_json_scan("\"\xf4\x90\x80\x80\"", 6), TASK_SCAN_UTF8); /* above U+10FFFF */
    CHECK_INT_EQ(task_json_scan("\"\xf4\x8f\xbf\xbf\"", 6), TASK_SCAN_OK);
    CHECK_INT_EQ(task_json_scan(" \x7f", 2), TASK_SCAN_OK);
    CHECK_INT_EQ(task_json_scan("\"\\", 2), TASK_SCAN_OK); /* cut text is not read past its end */
}

/* Deep nesting and every prefix of a valid body must fail cleanly. */
static void test_garbage(void)
{
    static char deep[4001];
    const char *body = "{\"a1\": \"x\", \"a2\": \"y\"}";
    struct task t;
    char err[TASK_ERR_LEN];
    size_t i;

    memset(deep, '[', 2000);
    memset(deep + 2000, ']', 2000);
    BAD(deep, "body is not valid JSON");
    for (i = 1; i < strlen(body); i++) {
        CHECK_INT_EQ(task_classify(body, i, &t, err), -1);
        CHECK(t.arg[0].str == NULL);
    }
}

int main(void)
{
    test_seed_examples();
    test_accepted_forms();
    test_not_an_object();
    test_properties();
    test_values();
    test_keys();
    test_names();
    test_scan();
    test_garbage();
    return check_finish();
}
