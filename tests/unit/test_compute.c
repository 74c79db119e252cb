/* Unit tests of computing tasks and formatting numbers: the seed examples, edge cases of the format, and errors. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "compute.h"

/* Classify and compute 'body', which must answer 'want'. */
static void answer(const char *body, const char *want, int line)
{
    struct task t;
    char err[TASK_ERR_LEN] = "", *result = NULL;

    if (!check_int_eq(task_classify(body, strlen(body), &t, err), 0, __FILE__, line, body, "0")) {
        fprintf(stderr, "    err = %s\n", err);
        return;
    }
    if (check_int_eq(compute_task(&t, &result, err), 0, __FILE__, line, "compute_task()", "0"))
        check_str_eq(result, want, __FILE__, line, "result", "want");
    else
        fprintf(stderr, "    err = %s\n", err);
    free(result);
    task_clear(&t);
}

/* Compute the NUMBER task 'a' op 'b', which must fail with exactly 'want'. */
static void fails(enum task_op op, double a, double b, const char *want, int line)
{
    struct task t = { TASK_NUMBER, op, { { a, NULL, 0 }, { b, NULL, 0 } } };
    char err[TASK_ERR_LEN] = "", *result = NULL;

    check_int_eq(compute_task(&t, &result, err), -1, __FILE__, line, "compute_task()", "-1");
    check_str_eq(err, want, __FILE__, line, "err", "want");
    check_report(result == NULL, __FILE__, line, "result == NULL");
    free(result);
}

/* Format 'x', which must give 'want'. */
static void formats(double x, const char *want, int line)
{
    char buf[COMPUTE_NUM_LEN];

    compute_format_number(x, buf);
    check_str_eq(buf, want, __FILE__, line, "compute_format_number()", "want");
}

#define ANSWER(body, want) answer((body), (want), __LINE__)
#define FAILS(op, a, b, want) fails((op), (a), (b), (want), __LINE__)
#define FORMATS(x, want) formats((x), (want), __LINE__)

static void test_seed_examples(void)
{
    ANSWER("{\"a1\": 5, \"a2\": 10}", "15");
    ANSWER("{\"s1\": 4, \"s2\": 7}", "-3");
    ANSWER("{\"m1\": 4, \"m2\": 7}", "28");
    ANSWER("{\"d1\": 4, \"d2\": 7}", "0.5714285714285714");
    ANSWER("{\"a1\": \"a\", \"a2\": \"b\"}", "ab");
    ANSWER("{\"s2\":10,\"s1\":4}", "6");
    ANSWER("{\"a1\": 0.1, \"a2\": 0.2}", "0.30000000000000004");
    ANSWER("{\"a1\": \"\", \"a2\": \"\"}", "");
    ANSWER("{\"x\": \"caf\\u00e9 \", \"y\": \"\\\"q\\\"\"}", "caf\xc3\xa9 \"q\"");
    ANSWER("{\"m1\": -0, \"m2\": 5}", "0");
    ANSWER("{\"d1\": 1e-300, \"d2\": 1e10}", "1e-310"); /* subnormal results are finite */
}

static void test_format(void)
{
    char buf[COMPUTE_NUM_LEN];
    uint64_t bits = 0x9e3779b97f4a7c15u;
    double x;
    int i, bad = 0;

    FORMATS(0, "0");
    FORMATS(-0.0, "0");
    FORMATS(15, "15");
    FORMATS(-3, "-3");
    FORMATS(1e20, "100000000000000000000");
    FORMATS(-1e20, "-100000000000000000000");
    FORMATS(999999999999999868928.0, "999999999999999868928"); /* the largest double below 1e21 */
    FORMATS(1e21, "1e+21");
    FORMATS(-1e21, "-1e+21");
    FORMATS(9007199254740992.0, "9007199254740992");
    FORMATS(9007199254740994.0, "9007199254740994");
    FORMATS(0.1 + 0.2, "0.30000000000000004");
    FORMATS(4.0 / 7.0, "0.5714285714285714");
    FORMATS(1.0 / 3.0, "0.3333333333333333");
    FORMATS(1.5, "1.5");
    FORMATS(-2.5e-7, "-2.5e-07");
    FORMATS(0.0001, "0.0001");
    FORMATS(DBL_MAX, "1.7976931348623157e+308");
    FORMATS(-DBL_MAX, "-1.7976931348623157e+308");
    FORMATS(DBL_MIN, "2.2250738585072014e-308");
    FORMATS(5e-324, "5e-324");

    /* Any finite double: the text fits and reads back as the same double. */
    for (i = 0; i < 100000; i++) {
        bits ^= bits << 13;
        bits ^= bits >> 7;
        bits ^= bits << 17;
        memcpy(&x, &bits, sizeof x);
        if (!isfinite(x))
            continue;
        compute_format_number(x, buf);
        if (strlen(buf) >= COMPUTE_NUM_LEN || strtod(buf, NULL) != x) {
            fprintf(stderr, "    %.17g -> %s\n", x, buf);
            bad++;
        }
    }
    CHECK_INT_EQ(bad, 0);
}

static void test_errors(void)
{
    struct task t = { TASK_STRING, TASK_SUBTRACT, { { 0, "a", 1 }, { 0, "b", 1 } } };
    char err[TASK_ERR_LEN] = "", *result = NULL;

    FAILS(TASK_DIVIDE, 1, 0, "division by zero");
    FAILS(TASK_DIVIDE, 0, 0, "division by zero");
    FAILS(TASK_DIVIDE, 1, -0.0, "division by zero");
    FAILS(TASK_MULTIPLY, 1e308, 10, "result is not a finite number (it overflows a double)");
    FAILS(TASK_ADD, DBL_MAX, DBL_MAX, "result is not a finite number (it overflows a double)");
    FAILS(TASK_SUBTRACT, -DBL_MAX, DBL_MAX, "result is not a finite number (it overflows a double)");
    FAILS(TASK_DIVIDE, 1e308, 1e-10, "result is not a finite number (it overflows a double)");

    CHECK_INT_EQ(compute_task(&t, &result, err), -1);
    CHECK_STR_EQ(err, "strings can only be added (concatenated), not SUBTRACT");
    CHECK(result == NULL);
}

int main(void)
{
    test_seed_examples();
    test_format();
    test_errors();
    return check_finish();
}
