/* Unit tests of the Idempotency-Key decisions. */
#include <string.h>

#include "check.h"
#include "idem.h"

static void test_keys(void)
{
    char longest[IDEM_KEY_MAX + 2];
    CHECK(idem_key_valid("8e03978e-40d5-43e8-bc93-6894a57f9324"));
    CHECK(idem_key_valid("\"quoted\"!~"));
    CHECK(!idem_key_valid(""));
    CHECK(!idem_key_valid("two words"));
    CHECK(!idem_key_valid("tab\there"));
    CHECK(!idem_key_valid("caf\xc3\xa9"));
    memset(longest, 'k', sizeof longest);
    longest[IDEM_KEY_MAX] = '\0';
    CHECK(idem_key_valid(longest));
    longest[IDEM_KEY_MAX] = 'k';
    longest[IDEM_KEY_MAX + 1] = '\0';
    CHECK(!idem_key_valid(longest));
}

static void test_fingerprint(void)
{
    char a[IDEM_FP_LEN], b[IDEM_FP_LEN];
    idem_fingerprint("", 0, a);
    CHECK_STR_EQ(a, "cbf29ce484222325"); /* FNV-1a's offset basis */
    idem_fingerprint("{\"a1\":5,\"a2\":10}", 16, a);
    idem_fingerprint("{\"a1\":5,\"a2\":11}", 16, b);
    CHECK(strcmp(a, b) != 0);
    CHECK_INT_EQ(strlen(a), IDEM_FP_LEN - 1);
}

static void test_decide(void)
{
    char value[IDEM_VALUE_LEN], id[TASK_ID_LEN], events[REPLICA_ID_LEN];
    idem_value("0123456789abcdef", "ab12-000000000001", "events-vm-7-deadbeef", value);
    CHECK_STR_EQ(value, "0123456789abcdef ab12-000000000001 events-vm-7-deadbeef");
    CHECK(idem_decide(value, "0123456789abcdef", id, events) == IDEM_REPLAY);
    CHECK_STR_EQ(id, "ab12-000000000001");
    CHECK_STR_EQ(events, "events-vm-7-deadbeef");
    CHECK(idem_decide(value, "fedcba9876543210", id, events) == IDEM_CONFLICT);
    CHECK_STR_EQ(id, "ab12-000000000001");
    CHECK(idem_decide("", "0123456789abcdef", id, events) == IDEM_CORRUPT);
    CHECK(idem_decide("0123456789abcdef ab12", "0123456789abcdef", id, events) == IDEM_CORRUPT);
    CHECK(idem_decide("0123456789abcdef a:b e", "0123456789abcdef", id, events) == IDEM_CORRUPT);
    CHECK(idem_decide("0123 ab12 e", "0123", id, events) == IDEM_CORRUPT);
}

int main(void)
{
    test_keys();
    test_fingerprint();
    test_decide();
    return check_finish();
}
