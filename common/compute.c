/* Computing a task's result and formatting numbers the way the API answers them. */
#include "compute.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void compute_format_number(double x, char *buf)
{
    int p;

    if (x == 0) { /* also -0, which reads better as "0" */
        snprintf(buf, COMPUTE_NUM_LEN, "0");
        return;
    }
    if (!isfinite(x)) { /* outside the contract; say what it is rather than print garbage */
        snprintf(buf, COMPUTE_NUM_LEN, "%s", isnan(x) ? "NaN" : x > 0 ? "Infinity" : "-Infinity");
        return;
    }
    if (x == floor(x) && fabs(x) < 1e21) {
        snprintf(buf, COMPUTE_NUM_LEN, "%.0f", x);
        return;
    }
    for (p = 1; p <= 17; p++) {
        snprintf(buf, COMPUTE_NUM_LEN, "%.*g", p, x);
        if (strtod(buf, NULL) == x)
            return;
    }
}

/* Return a malloc'd copy of the 'n' bytes at 'a' followed by the 'm' bytes at 'b', NUL-terminated, or NULL when
 * out of memory. */
static char *concat(const char *a, size_t n, const char *b, size_t m)
{
    char *s;

    if (n > SIZE_MAX - 1 - m)
        return NULL;
    s = malloc(n + m + 1);
    if (!s)
        return NULL;
    if (n)
        memcpy(s, a, n);
    if (m)
        memcpy(s + n, b, m);
    s[n + m] = '\0';
    return s;
}

/* Compute a NUMBER task into '*x'. Returns 0, or -1 with a client-readable message in 'err'. */
static int compute_number(const struct task *t, double *x, char *err)
{
    double a = t->arg[0].num, b = t->arg[1].num;

    switch (t->op) {
    case TASK_ADD: *x = a + b; break;
    case TASK_SUBTRACT: *x = a - b; break;
    case TASK_MULTIPLY: *x = a * b; break;
    case TASK_DIVIDE:
        if (b == 0) {
            snprintf(err, TASK_ERR_LEN, "division by zero");
            return -1;
        }
        *x = a / b;
        break;
    default:
        snprintf(err, TASK_ERR_LEN, "unknown operation");
        return -1;
    }
    if (!isfinite(*x)) {
        snprintf(err, TASK_ERR_LEN, "result is not a finite number (it overflows a double)");
        return -1;
    }
    return 0;
}

int compute_task(const struct task *t, char **result, char *err)
{
    char num[COMPUTE_NUM_LEN];
    double x;

    *result = NULL;
    if (t->type == TASK_STRING) {
        if (t->op != TASK_ADD) {
            snprintf(err, TASK_ERR_LEN, "strings can only be added (concatenated), not %s", task_op_name(t->op));
            return -1;
        }
        *result = concat(t->arg[0].str, t->arg[0].str ? t->arg[0].len : 0, t->arg[1].str,
                         t->arg[1].str ? t->arg[1].len : 0);
        return *result ? 0 : -2;
    }
    if (t->type != TASK_NUMBER) {
        snprintf(err, TASK_ERR_LEN, "unknown task type");
        return -1;
    }
    if (compute_number(t, &x, err) < 0)
        return -1;
    compute_format_number(x, num);
    *result = concat(num, strlen(num), "", 0);
    return *result ? 0 : -2;
}
