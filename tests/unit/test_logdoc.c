/* Unit tests for common/logdoc.c: a task's arrival and outcome written as one document, and read back as two. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "logdoc.h"
#include "record.h"

#define TRACE "4bf92f3577b34da6a3ce929d0e0e4736"

/* 1 when 'a' and 'b' hold the same fields, values and order; prints both on a mismatch. */
static int same_doc(const bson_t *a, const bson_t *b)
{
    if (bson_equal(a, b))
        return 1;
    char *ja = bson_as_relaxed_extended_json(a, NULL), *jb = bson_as_relaxed_extended_json(b, NULL);
    fprintf(stderr, "    %s\n != %s\n", ja, jb);
    bson_free(ja);
    bson_free(jb);
    return 0;
}

/* Merge, split, and get back exactly the two records that were merged. */
static void round_trip(const struct msg *task, int handoff, const char *trace, const char *service,
                       const char *backend, int status)
{
    struct record_base rb = { "task-1", handoff * 100, 1700000000100LL, "events-a", trace };
    struct record_base ob = { "task-1", handoff * 100 + 1, 1700000000250LL, "events-a", trace };
    bson_t *received = record_received(&rb, task, service, backend, 1);
    bson_t *outcome = status == 200 ? record_completed(&ob, "15", backend) : record_failed(&ob, status, "no", backend);
    bson_t *commit = logdoc_merge(received, outcome);
    bson_t r, o;
    if (CHECK(commit != NULL)) {
        CHECK(logdoc_is_commit(commit));
        CHECK(!logdoc_is_commit(received) && !logdoc_is_commit(outcome));
        if (CHECK(logdoc_split(commit, &r, &o) == 0)) {
            CHECK(same_doc(&r, received));
            CHECK(same_doc(&o, outcome));
            bson_destroy(&r);
            bson_destroy(&o);
        }
        /* One document, smaller than the two: the arrival's _id, task, seq, events and trace are not repeated. */
        CHECK(commit->len < received->len + outcome->len - 40);
        bson_destroy(commit);
    }
    bson_destroy(received);
    bson_destroy(outcome);
}

static void test_round_trips(void)
{
    struct msg m = { .kind = MSG_TASK, .origin = "frontend-1", .request = "{\"a1\":5,\"a2\":10}" };
    round_trip(&m, 0, TRACE, "arithmetic", "arithmetic-7", 200);
    round_trip(&m, 0, NULL, "arithmetic", "arithmetic-7", 200);
    round_trip(&m, 0, TRACE, "arithmetic", "arithmetic-7", 400);
    round_trip(&m, 0, TRACE, "arithmetic", NULL, 504);   /* never dispatched: no live replica */
    round_trip(&m, 0, NULL, NULL, NULL, 400);            /* no service in the task map */
    m.handoff = 2;                                       /* a handed-over task: the seq of its handoff */
    round_trip(&m, 2, TRACE, "string", "string-3", 200);
}

/* Pairs that are not one step after the other of one task, by one replica, to the replica that answered, stay two. */
static void test_refused_pairs(void)
{
    struct msg m = { .kind = MSG_TASK, .origin = "f", .request = "{}" };
    struct record_base rb = { "t", 0, 1, "e", NULL }, ob = { "t", 1, 2, "e", NULL };
    bson_t *received = record_received(&rb, &m, "arithmetic", "arithmetic-1", 1);
    bson_t *other_backend = record_completed(&ob, "1", "arithmetic-2");
    CHECK(logdoc_merge(received, other_backend) == NULL);
    ob.seq = 2; /* a dispatched record came between */
    bson_t *later = record_completed(&ob, "1", "arithmetic-1");
    CHECK(logdoc_merge(received, later) == NULL);
    ob.seq = 1;
    ob.events_id = "e2";
    bson_t *elsewhere = record_completed(&ob, "1", "arithmetic-1");
    CHECK(logdoc_merge(received, elsewhere) == NULL);
    ob.events_id = "e";
    ob.task_id = "u";
    bson_t *other_task = record_completed(&ob, "1", "arithmetic-1");
    CHECK(logdoc_merge(received, other_task) == NULL);
    CHECK(logdoc_merge(other_task, received) == NULL); /* not a received record first */
    ob.task_id = "t";
    bson_t *ok = record_completed(&ob, "1", "arithmetic-1");
    bson_t *commit = logdoc_merge(received, ok);
    CHECK(commit != NULL);
    CHECK(commit && logdoc_merge(received, commit) == NULL); /* a commit holds one arrival */
    bson_t *docs[] = { received, other_backend, later, elsewhere, other_task, ok, commit };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
        if (docs[i])
            bson_destroy(docs[i]);
}

/* Documents that are not commits, or claim to be and are malformed (another writer, a damaged log), do not split. */
static void test_not_commits(void)
{
    bson_t r, o;
    bson_t *plain = BCON_NEW("_id", "t:outcome", "task", "t", "seq", BCON_INT32(1), "type", "completed");
    CHECK(!logdoc_is_commit(plain) && logdoc_split(plain, &r, &o) == -1);
    bson_t *no_seq = BCON_NEW("_id", "t:outcome", "task", "t", "events", "e", "received", BCON_DATE_TIME(5));
    CHECK(logdoc_is_commit(no_seq) && logdoc_split(no_seq, &r, &o) == 0); /* the seqs follow from the handoff */
    bson_destroy(&r);
    bson_destroy(&o);
    bson_t *seq0 = BCON_NEW("task", "t", "seq", BCON_INT32(0), "events", "e", "received", BCON_DATE_TIME(5));
    CHECK(logdoc_split(seq0, &r, &o) == -1); /* a commit has no seq of its own */
    bson_t *bad_handoff = BCON_NEW("task", "t", "events", "e", "received", BCON_DATE_TIME(5), "handoff", "2");
    CHECK(logdoc_split(bad_handoff, &r, &o) == -1);
    bson_t *huge_handoff = BCON_NEW("task", "t", "events", "e", "received", BCON_DATE_TIME(5), "handoff",
                                    BCON_INT32(2000000000));
    CHECK(logdoc_split(huge_handoff, &r, &o) == -1); /* its seq would overflow */
    bson_t *bad_attempt = BCON_NEW("task", "t", "events", "e", "backend", "b", "received", BCON_DATE_TIME(5),
                                   "attempt", "1");
    CHECK(logdoc_split(bad_attempt, &r, &o) == -1);
    bson_t *no_events = BCON_NEW("task", "t", "received", BCON_DATE_TIME(5));
    CHECK(logdoc_split(no_events, &r, &o) == -1);
    bson_t *attempt_no_backend = BCON_NEW("task", "t", "events", "e", "received", BCON_DATE_TIME(5),
                                          "attempt", BCON_INT32(1));
    CHECK(logdoc_split(attempt_no_backend, &r, &o) == -1);
    bson_t *string_date = BCON_NEW("task", "t", "seq", BCON_INT32(1), "events", "e", "received", "yesterday");
    CHECK(!logdoc_is_commit(string_date));
    char long_task[300];
    memset(long_task, 'x', sizeof long_task - 1);
    long_task[sizeof long_task - 1] = '\0';
    bson_t *long_id = BCON_NEW("task", long_task, "events", "e", "received", BCON_DATE_TIME(5));
    CHECK(logdoc_split(long_id, &r, &o) == -1);
    bson_t *docs[] = { plain, no_seq, seq0, bad_handoff, huge_handoff, bad_attempt, no_events, attempt_no_backend,
                       string_date, long_id };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
        bson_destroy(docs[i]);
}

int main(void)
{
    test_round_trips();
    test_refused_pairs();
    test_not_commits();
    return check_finish();
}
