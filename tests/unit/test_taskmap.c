/* Unit tests of the task map: parsing task-maps.json, routing a task type, and rejecting bad maps. */
#include <string.h>

#include "check.h"
#include "taskmap.h"

/* Parse 'text', which must fail with exactly 'want' and leave the map empty. */
static void bad(const char *text, const char *want, int line)
{
    struct taskmap map;
    char err[TASK_ERR_LEN] = "";

    check_int_eq(taskmap_parse(text, strlen(text), &map, err), -1, __FILE__, line, text, "-1");
    check_str_eq(err, want, __FILE__, line, "err", "want");
    check_report(map.service[0][0] == '\0' && map.service[1][0] == '\0', __FILE__, line, "map left empty");
}

#define BAD(text, want) bad((text), (want), __LINE__)

static void test_parse_and_route(void)
{
    const char *text = " {\"NUMBER\": \"backend-number\", \"STRING\": \"Backend_String2\"}\n";
    struct taskmap map;
    char err[TASK_ERR_LEN] = "";

    CHECK_INT_EQ(taskmap_parse(text, strlen(text), &map, err), 0);
    CHECK_STR_EQ(taskmap_route(&map, TASK_NUMBER), "backend-number");
    CHECK_STR_EQ(taskmap_route(&map, TASK_STRING), "Backend_String2");

    text = "{\"STRING\": \"strings\"}";
    CHECK_INT_EQ(taskmap_parse(text, strlen(text), &map, err), 0);
    CHECK(taskmap_route(&map, TASK_NUMBER) == NULL);
    CHECK_STR_EQ(taskmap_route(&map, TASK_STRING), "strings");

    CHECK_INT_EQ(taskmap_parse("{}", 2, &map, err), 0);
    CHECK(taskmap_route(&map, TASK_NUMBER) == NULL && taskmap_route(&map, TASK_STRING) == NULL);

    /* The longest service name fits. */
    text = "{\"NUMBER\": \"123456789012345678901234567890123456789012345678901234567890123\"}";
    CHECK_INT_EQ(taskmap_parse(text, strlen(text), &map, err), 0);
    CHECK_INT_EQ(strlen(taskmap_route(&map, TASK_NUMBER)), TASKMAP_SERVICE_LEN - 1);
}

static void test_errors(void)
{
    BAD("", "task map is empty");
    BAD("{\"NUMBER\": \"a\"", "task map is not valid JSON");
    BAD("{\"NUMBER\": \"a\"} x", "task map is not valid JSON");
    BAD("{\"NUMBER\": \"a\\u0000b\"}", "task map is not valid JSON");
    BAD("[\"NUMBER\"]", "task map must be a JSON object");
    BAD("{\"FLOAT\": \"a\"}", "unknown task type \"FLOAT\": use NUMBER or STRING");
    BAD("{\"number\": \"a\"}", "unknown task type \"number\": use NUMBER or STRING");
    BAD("{\"NUMBER\": \"a\", \"NUMBER\": \"b\"}", "task type NUMBER is mapped twice");
    BAD("{\"NUMBER\": 1}", "service for NUMBER must be 1 to 63 letters, digits, '-' or '_'");
    BAD("{\"STRING\": \"\"}", "service for STRING must be 1 to 63 letters, digits, '-' or '_'");
    BAD("{\"STRING\": \"a b\"}", "service for STRING must be 1 to 63 letters, digits, '-' or '_'");
    BAD("{\"STRING\": \"a/b\"}", "service for STRING must be 1 to 63 letters, digits, '-' or '_'");
    BAD("{\"NUMBER\": \"ok\", \"STRING\": \"1234567890123456789012345678901234567890123456789012345678901234\"}",
        "service for STRING must be 1 to 63 letters, digits, '-' or '_'");
}

int main(void)
{
    test_parse_and_route();
    test_errors();
    return check_finish();
}
