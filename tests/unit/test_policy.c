/* Unit tests of the events service's delivery and admission decisions. */
#include "check.h"
#include "policy.h"

static void test_after_publish(void)
{
    CHECK(policy_after_publish(1) == POLICY_KEEP);
    CHECK(policy_after_publish(3) == POLICY_KEEP);
    CHECK(policy_after_publish(0) == POLICY_REDELIVER);
    CHECK(policy_after_publish(-1) == POLICY_WAIT);
}

static void test_attempts(void)
{
    CHECK(policy_may_attempt(0, 1));
    CHECK(!policy_may_attempt(1, 1));
    CHECK(policy_may_attempt(2, 3));
    CHECK(!policy_may_attempt(3, 3));
}

static void test_admit(void)
{
    char err[TASK_ERR_LEN] = "";
    CHECK_INT_EQ(policy_admit(0, 1, 0, 1, err), 0);
    CHECK_INT_EQ(policy_admit(9, 10, 99, 100, err), 0);
    CHECK_INT_EQ(policy_admit(10, 10, 0, 100, err), 503);
    CHECK_STR_EQ(err, "the events replica holds 10 tasks (MAX_JOBS); retry later");
    CHECK_INT_EQ(policy_admit(0, 10, 100, 100, err), 503);
    CHECK_STR_EQ(err, "the event log is behind by 100 records (STORE_MAX_BACKLOG); retry later");
}

int main(void)
{
    test_after_publish();
    test_attempts();
    test_admit();
    return check_finish();
}
