/* Unit tests of the replica set: least outstanding first, round robin among equals, expiry, removal, upsert. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "replica.h"

/* Pick at 'now' and return the chosen id, or "" when none is alive. */
static const char *pick_id(struct replica_set *set, long long now)
{
    struct replica *r = replica_pick(set, now);

    return r ? r->id : "";
}

static void test_round_robin(void)
{
    struct replica_set set = { 0 };

    CHECK(replica_pick(&set, 0) == NULL);
    CHECK_INT_EQ(replica_set_upsert(&set, "a", 1000), 0);
    CHECK_INT_EQ(replica_set_upsert(&set, "b", 1000), 0);
    CHECK_INT_EQ(replica_set_upsert(&set, "c", 1000), 0);
    CHECK_INT_EQ(set.len, 3);

    /* Equal load and the caller never changes it: the picks still rotate. */
    CHECK_STR_EQ(pick_id(&set, 0), "a");
    CHECK_STR_EQ(pick_id(&set, 0), "b");
    CHECK_STR_EQ(pick_id(&set, 0), "c");
    CHECK_STR_EQ(pick_id(&set, 0), "a");
    replica_set_clear(&set);
    replica_set_clear(&set);
    replica_set_clear(NULL);
    CHECK(set.items == NULL && set.len == 0 && set.cap == 0 && set.next == 0);
}

static void test_least_outstanding(void)
{
    struct replica_set set = { 0 };
    struct replica *r;
    int i, count[3] = { 0, 0, 0 };

    replica_set_upsert(&set, "a", 1000);
    replica_set_upsert(&set, "b", 1000);
    replica_set_upsert(&set, "c", 1000);
    replica_find(&set, "a")->outstanding = 2;
    replica_find(&set, "b")->outstanding = 1;
    replica_find(&set, "c")->outstanding = 5;
    CHECK_STR_EQ(pick_id(&set, 0), "b");
    CHECK_STR_EQ(pick_id(&set, 0), "b"); /* still the least loaded: load beats the rotation */
    replica_find(&set, "b")->outstanding = 2;
    CHECK_STR_EQ(pick_id(&set, 0), "a"); /* a and b tie; the cursor is past b, so a is next */
    CHECK_STR_EQ(pick_id(&set, 0), "b");

    /* A caller that counts what it sends spreads the work evenly. */
    for (i = 0; i < 3; i++)
        set.items[i].outstanding = 0;
    for (i = 0; i < 300; i++) {
        r = replica_pick(&set, 0);
        r->outstanding++;
        count[r - set.items]++;
    }
    CHECK(count[0] == 100 && count[1] == 100 && count[2] == 100);
    replica_set_clear(&set);
}

static void test_expiry(void)
{
    struct replica_set set = { 0 };

    replica_set_upsert(&set, "a", 100);
    replica_set_upsert(&set, "b", 200);
    replica_set_upsert(&set, "c", 300);
    CHECK_STR_EQ(pick_id(&set, 150), "b"); /* a expired: skipped */
    CHECK_STR_EQ(pick_id(&set, 150), "c");
    CHECK_STR_EQ(pick_id(&set, 150), "b");
    CHECK_STR_EQ(pick_id(&set, 200), "c"); /* b is alive until 200 inclusive */
    CHECK_STR_EQ(pick_id(&set, 200), "b");
    CHECK_STR_EQ(pick_id(&set, 301), "");
    CHECK_INT_EQ(set.len, 3); /* picking never removes */

    CHECK_INT_EQ(replica_set_expire(&set, 200), 1);
    CHECK(replica_find(&set, "a") == NULL && replica_find(&set, "b") != NULL);
    CHECK_INT_EQ(replica_set_expire(&set, 200), 0);
    CHECK_INT_EQ(replica_set_expire(&set, 1000), 2);
    CHECK_INT_EQ(set.len, 0);
    CHECK(replica_pick(&set, 0) == NULL);
    replica_set_clear(&set);
}

static void test_upsert_and_remove(void)
{
    struct replica_set set = { 0 };
    char id[REPLICA_ID_LEN + 1];
    int i;

    replica_set_upsert(&set, "a", 100);
    replica_find(&set, "a")->outstanding = 7;
    CHECK_INT_EQ(replica_set_upsert(&set, "a", 500), 0); /* a heartbeat refreshes expiry, keeps the load */
    CHECK_INT_EQ(set.len, 1);
    CHECK_INT_EQ(replica_find(&set, "a")->outstanding, 7);
    CHECK_INT_EQ(replica_find(&set, "a")->expires_ms, 500);

    memset(id, 'x', sizeof id);
    id[REPLICA_ID_LEN] = '\0';
    CHECK_INT_EQ(replica_set_upsert(&set, id, 1), -1); /* one too long */
    id[REPLICA_ID_LEN - 1] = '\0';
    CHECK_INT_EQ(replica_set_upsert(&set, id, 1), 0); /* the longest */
    CHECK_INT_EQ(replica_set_upsert(&set, "", 1), -1);

    CHECK_INT_EQ(replica_set_remove(&set, "nope"), -1);
    CHECK_INT_EQ(replica_set_remove(&set, "a"), 0);
    CHECK(replica_find(&set, "a") == NULL);
    CHECK_INT_EQ(replica_set_remove(&set, "a"), -1);
    replica_set_clear(&set);

    /* Growth keeps every entry, and removal keeps the cursor in range and on the same replica. */
    for (i = 0; i < 100; i++) {
        snprintf(id, sizeof id, "r%d", i);
        CHECK_INT_EQ(replica_set_upsert(&set, id, 1000), 0);
    }
    CHECK_INT_EQ(set.len, 100);
    CHECK(replica_find(&set, "r0") != NULL && replica_find(&set, "r99") != NULL);
    for (i = 0; i < 50; i++)
        replica_pick(&set, 0);
    CHECK_STR_EQ(pick_id(&set, 0), "r50");
    replica_set_remove(&set, "r3");
    CHECK_STR_EQ(pick_id(&set, 0), "r51");
    replica_set_remove(&set, "r52");
    CHECK_STR_EQ(pick_id(&set, 0), "r53");
    for (i = 54; i < 100; i++) {
        snprintf(id, sizeof id, "r%d", i);
        replica_set_remove(&set, id);
    }
    CHECK(set.next < set.len);
    CHECK_STR_EQ(pick_id(&set, 0), "r0");
    replica_set_clear(&set);
}

/* Counting live replicas (the health check) sees expiry and never moves the round-robin cursor. */
static void test_count_alive(void)
{
    struct replica_set set = { 0 };
    CHECK_INT_EQ(replica_count_alive(&set, 100), 0);
    replica_set_upsert(&set, "a", 200);
    replica_set_upsert(&set, "b", 50);
    replica_set_upsert(&set, "c", 300);
    size_t cursor = set.next;
    CHECK_INT_EQ(replica_count_alive(&set, 100), 2);
    CHECK_INT_EQ(replica_count_alive(&set, 250), 1);
    CHECK_INT_EQ(replica_count_alive(&set, 301), 0);
    CHECK_INT_EQ(set.next, cursor);
    replica_set_clear(&set);
}

int main(void)
{
    test_count_alive();
    test_round_robin();
    test_least_outstanding();
    test_expiry();
    test_upsert_and_remove();
    return check_finish();
}
