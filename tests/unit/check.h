/* A tiny assertion header for the unit tests: failed checks print file:line and the values, then the run goes on. */
#ifndef TASKBUS_CHECK_H
#define TASKBUS_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

/* Count one check; on failure print where it was and what was compared. Returns 'ok' so tests can stop early. */
static inline int check_report(int ok, const char *file, int line, const char *what)
{
    if (ok) {
        check_passed++;
    } else {
        check_failed++;
        fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
    }
    return ok;
}

/* Compare two strings, either of which may be NULL, and print both on a mismatch. */
static inline int check_str_eq(const char *a, const char *b, const char *file, int line, const char *ea,
                               const char *eb)
{
    int ok = (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);

    if (!check_report(ok, file, line, "CHECK_STR_EQ"))
        fprintf(stderr, "    %s = \"%s\"\n    %s = \"%s\"\n", ea, a ? a : "(null)", eb, b ? b : "(null)");
    return ok;
}

/* Compare two integers and print both on a mismatch. */
static inline int check_int_eq(long long a, long long b, const char *file, int line, const char *ea,
                               const char *eb)
{
    if (!check_report(a == b, file, line, "CHECK_INT_EQ"))
        fprintf(stderr, "    %s = %lld\n    %s = %lld\n", ea, a, eb, b);
    return a == b;
}

/* Print the totals; the return value is the test's exit status (nonzero when any check failed). */
static inline int check_finish(void)
{
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed != 0;
}

#define CHECK(cond) check_report(!!(cond), __FILE__, __LINE__, #cond)
#define CHECK_STR_EQ(a, b) check_str_eq((a), (b), __FILE__, __LINE__, #a, #b)
#define CHECK_INT_EQ(a, b) check_int_eq((long long)(a), (long long)(b), __FILE__, __LINE__, #a, #b)

#endif
