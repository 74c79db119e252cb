/* Unit tests of request routing: which handler a method and path go to, the Allow header for 405, and task ids. */
#include <string.h>

#include "check.h"
#include "route.h"

#define SENTINEL "unchanged"

/* Route 'method' 'url' and check the route; for ROUTE_HISTORY the copied id must equal 'want_id', for
 * ROUTE_BAD_METHOD 'allow' must equal 'want_allow'; otherwise 'id' must be left alone. */
static void route(const char *method, const char *url, enum route want, const char *want_id, const char *want_allow,
                  int line)
{
    char id[TASK_ID_LEN + 8];
    const char *allow = NULL;

    memset(id, 'Z', sizeof id);
    strcpy(id, SENTINEL);
    enum route got = route_match(method, url, id, &allow);
    if (!check_int_eq(got, want, __FILE__, line, url, "want")) {
        fprintf(stderr, "    (%s %s)\n", method, url);
        return;
    }
    if (want == ROUTE_HISTORY)
        check_str_eq(id, want_id, __FILE__, line, "id", "want_id");
    else
        check_str_eq(id, SENTINEL, __FILE__, line, "id", "untouched");
    if (want == ROUTE_BAD_METHOD)
        check_str_eq(allow, want_allow, __FILE__, line, "allow", "want_allow");
}

#define ROUTE(method, url, want) route((method), (url), (want), NULL, NULL, __LINE__)
#define HISTORY(method, url, id) route((method), (url), ROUTE_HISTORY, (id), NULL, __LINE__)
#define BAD_METHOD(method, url, allow) route((method), (url), ROUTE_BAD_METHOD, NULL, (allow), __LINE__)

static void test_health(void)
{
    ROUTE("GET", "/", ROUTE_HEALTH);
    ROUTE("HEAD", "/", ROUTE_HEALTH);
    BAD_METHOD("POST", "/", "GET, HEAD");
    BAD_METHOD("PUT", "/", "GET, HEAD");
    BAD_METHOD("DELETE", "/", "GET, HEAD");
    BAD_METHOD("get", "/", "GET, HEAD"); /* methods are case-sensitive */
}

static void test_task(void)
{
    ROUTE("POST", "/task", ROUTE_TASK);
    BAD_METHOD("GET", "/task", "POST");
    BAD_METHOD("HEAD", "/task", "POST");
    BAD_METHOD("PUT", "/task", "POST");
    BAD_METHOD("DELETE", "/task", "POST");
}

static void test_history(void)
{
    HISTORY("GET", "/task/abc-123", "abc-123");
    HISTORY("HEAD", "/task/abc-123", "abc-123");
    HISTORY("GET", "/task/x", "x");
    HISTORY("GET", "/task/0123456789-ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789-ABCDEFGHIJKLMNOPQRSTUVWXYZ");
    /* The longest id: 39 characters. */
    HISTORY("GET", "/task/123456789012345678901234567890123456789", "123456789012345678901234567890123456789");

    ROUTE("GET", "/task/", ROUTE_BAD_ID);
    ROUTE("HEAD", "/task/", ROUTE_BAD_ID);
    ROUTE("GET", "/task/a/b", ROUTE_BAD_ID);
    ROUTE("GET", "/task/abc/", ROUTE_BAD_ID);
    ROUTE("GET", "/task//", ROUTE_BAD_ID);
    ROUTE("GET", "/task/..", ROUTE_BAD_ID);
    ROUTE("GET", "/task/a.b", ROUTE_BAD_ID);
    ROUTE("GET", "/task/%2e%2e", ROUTE_BAD_ID);
    ROUTE("GET", "/task/a%20b", ROUTE_BAD_ID);
    ROUTE("GET", "/task/a b", ROUTE_BAD_ID);
    ROUTE("GET", "/task/a_b", ROUTE_BAD_ID);
    ROUTE("GET", "/task/\xc3\xa9", ROUTE_BAD_ID);
    ROUTE("GET", "/task/1234567890123456789012345678901234567890", ROUTE_BAD_ID); /* 40 */
    ROUTE("GET", "/task/12345678901234567890123456789012345678901234567890123456789012345678901234567890",
          ROUTE_BAD_ID);

    BAD_METHOD("DELETE", "/task/x", "GET, HEAD");
    BAD_METHOD("POST", "/task/x", "GET, HEAD");
    BAD_METHOD("PUT", "/task/abc-123", "GET, HEAD");
    /* The method is checked before the id. */
    BAD_METHOD("DELETE", "/task/a.b", "GET, HEAD");
}

static void test_not_found(void)
{
    ROUTE("GET", "/task2", ROUTE_NOT_FOUND);
    ROUTE("POST", "/task2", ROUTE_NOT_FOUND);
    ROUTE("GET", "/x", ROUTE_NOT_FOUND);
    ROUTE("DELETE", "/x", ROUTE_NOT_FOUND);
    ROUTE("GET", "", ROUTE_NOT_FOUND);
    ROUTE("GET", "//", ROUTE_NOT_FOUND);
    /* No path normalisation: this is under /task/ and its id is bad. */
    ROUTE("GET", "/task/../task", ROUTE_BAD_ID);
    ROUTE("GET", "/TASK", ROUTE_NOT_FOUND);
    ROUTE("GET", "/Task/abc", ROUTE_NOT_FOUND);
    ROUTE("GET", "task/abc", ROUTE_NOT_FOUND);
}

static void test_valid_id(void)
{
    CHECK_INT_EQ(route_valid_id("abc-123"), 1);
    CHECK_INT_EQ(route_valid_id("a"), 1);
    CHECK_INT_EQ(route_valid_id("-"), 1);
    CHECK_INT_EQ(route_valid_id("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-"), 0); /* 63 */
    CHECK_INT_EQ(route_valid_id("pqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-0"), 1); /* 39, every kind */
    CHECK_INT_EQ(route_valid_id("123456789012345678901234567890123456789"), 1);
    CHECK_INT_EQ(route_valid_id("1234567890123456789012345678901234567890"), 0);
    CHECK_INT_EQ(route_valid_id(""), 0);
    CHECK_INT_EQ(route_valid_id("a/b"), 0);
    CHECK_INT_EQ(route_valid_id("a.b"), 0);
    CHECK_INT_EQ(route_valid_id("a%b"), 0);
    CHECK_INT_EQ(route_valid_id("a_b"), 0);
    CHECK_INT_EQ(route_valid_id("a b"), 0);
    CHECK_INT_EQ(route_valid_id(" ab"), 0);
    CHECK_INT_EQ(route_valid_id("ab\n"), 0);
    CHECK_INT_EQ(route_valid_id("a+b"), 0);
    CHECK_INT_EQ(route_valid_id("\xc3\xa9"), 0);
}

static void test_list(void)
{
    ROUTE("GET", "/tasks", ROUTE_LIST);
    ROUTE("HEAD", "/tasks", ROUTE_LIST);
    BAD_METHOD("POST", "/tasks", "GET, HEAD");
    ROUTE("GET", "/tasks/", ROUTE_NOT_FOUND);
}

static void test_dashboard(void)
{
    ROUTE("GET", "/dashboard", ROUTE_DASHBOARD);
    ROUTE("HEAD", "/dashboard", ROUTE_DASHBOARD);
    ROUTE("GET", "/dashboard/stats", ROUTE_DASHBOARD_STATS);
    ROUTE("HEAD", "/dashboard/stats", ROUTE_DASHBOARD_STATS);
    BAD_METHOD("POST", "/dashboard", "GET, HEAD");
    BAD_METHOD("DELETE", "/dashboard/stats", "GET, HEAD");
    ROUTE("GET", "/dashboard/", ROUTE_NOT_FOUND);
    ROUTE("GET", "/dashboard/stats/", ROUTE_NOT_FOUND);
    ROUTE("GET", "/dashboards", ROUTE_NOT_FOUND);
}

static void test_prefers_async(void)
{
    CHECK_INT_EQ(route_prefers_async("respond-async"), 1);
    CHECK_INT_EQ(route_prefers_async("Respond-Async"), 1);
    CHECK_INT_EQ(route_prefers_async("wait=10, respond-async"), 1);
    CHECK_INT_EQ(route_prefers_async("respond-async; foo=bar"), 1);
    CHECK_INT_EQ(route_prefers_async(" respond-async ,return=minimal"), 1);
    CHECK_INT_EQ(route_prefers_async(NULL), 0);
    CHECK_INT_EQ(route_prefers_async(""), 0);
    CHECK_INT_EQ(route_prefers_async("respond-asynchronously"), 0);
    CHECK_INT_EQ(route_prefers_async("return=respond-async"), 0);
    CHECK_INT_EQ(route_prefers_async("x-respond-async"), 0);
}

int main(void)
{
    test_list();
    test_dashboard();
    test_prefers_async();
    test_health();
    test_task();
    test_history();
    test_not_found();
    test_valid_id();
    return check_finish();
}
