/* Unit tests for frontend/taskid.c: time-ordered and random task ids. */
#include <string.h>

#include "check.h"
#include "taskid.h"

static int all_hex(const char *id)
{
    return strlen(id) == TASKID_LEN && strspn(id, "0123456789abcdef") == TASKID_LEN;
}

static void test_parse(void)
{
    enum taskid_order o = TASKID_RANDOM;
    CHECK_INT_EQ(taskid_order_parse("time", &o), 0);
    CHECK_INT_EQ(o, TASKID_TIME);
    CHECK_INT_EQ(taskid_order_parse("random", &o), 0);
    CHECK_INT_EQ(o, TASKID_RANDOM);
    CHECK_INT_EQ(taskid_order_parse("", &o), -1);
    CHECK_INT_EQ(taskid_order_parse("Time", &o), -1);
    CHECK_INT_EQ(taskid_order_parse("time ", &o), -1);
    CHECK_INT_EQ(o, TASKID_RANDOM); /* unchanged by a refusal */
}

static void test_time_ordered(void)
{
    unsigned char r[TASKID_RANDOM_MAX];
    for (size_t i = 0; i < sizeof r; i++)
        r[i] = (unsigned char)(0xa0 + i);
    char id[TASKID_LEN + 1];
    CHECK_INT_EQ(taskid_random_bytes(TASKID_TIME), 10);
    taskid_format(TASKID_TIME, 1765130000123LL, r, id);
    CHECK_STR_EQ(id, "019af9f256fba0a1a2a3a4a5a6a7a8a9"); /* 0x019af9f256fb ms, then the 10 bytes given */
    CHECK(all_hex(id));

    /* Later ids sort after earlier ones whatever their random bits; within one ms, by the random bits. */
    unsigned char hi[TASKID_RANDOM_MAX], lo[TASKID_RANDOM_MAX];
    memset(hi, 0xff, sizeof hi);
    memset(lo, 0x00, sizeof lo);
    char a[TASKID_LEN + 1], b[TASKID_LEN + 1];
    taskid_format(TASKID_TIME, 1765130000123LL, hi, a);
    taskid_format(TASKID_TIME, 1765130000124LL, lo, b);
    CHECK(strcmp(a, b) < 0);
    taskid_format(TASKID_TIME, 1765130000124LL, hi, a);
    CHECK(strcmp(b, a) < 0);

    /* The clock's edges: before the epoch counts as 0, past 2^48 ms (year 10889) wraps. */
    taskid_format(TASKID_TIME, -5, lo, id);
    CHECK_STR_EQ(id, "00000000000000000000000000000000");
    taskid_format(TASKID_TIME, (1LL << 48) + 1, lo, id);
    CHECK_STR_EQ(id, "00000000000100000000000000000000");
    taskid_format(TASKID_TIME, (1LL << 48) - 1, hi, id);
    CHECK_STR_EQ(id, "ffffffffffffffffffffffffffffffff");
}

static void test_random(void)
{
    unsigned char r[TASKID_RANDOM_MAX];
    for (size_t i = 0; i < sizeof r; i++)
        r[i] = (unsigned char)(i * 17);
    char id[TASKID_LEN + 1], again[TASKID_LEN + 1];
    CHECK_INT_EQ(taskid_random_bytes(TASKID_RANDOM), 16);
    taskid_format(TASKID_RANDOM, 1765130000123LL, r, id);
    CHECK_STR_EQ(id, "00112233445566778899aabbccddeeff"); /* the time plays no part */
    taskid_format(TASKID_RANDOM, 0, r, again);
    CHECK_STR_EQ(id, again);
}

int main(void)
{
    test_parse();
    test_time_ordered();
    test_random();
    return check_finish();
}
