/* Unit tests of the W3C traceparent module: valid and invalid headers (the specification's rules), starting a trace
 * with or without one and with tracing on or off, and the header an answer carries. */
#include <string.h>

#include "check.h"
#include "trace.h"

#define TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define SPAN "00f067aa0ba902b7"

static int parses(const char *header)
{
    char id[TRACE_ID_LEN] = "untouched";
    unsigned char flags = 0xee;
    int rc = trace_parse(header, id, &flags);
    if (rc != 0 && (strcmp(id, "untouched") != 0 || flags != 0xee))
        return 2; /* a refusal must leave the outputs alone */
    return rc == 0;
}

static void test_parse_valid(void)
{
    char id[TRACE_ID_LEN];
    unsigned char flags = 0;
    CHECK_INT_EQ(trace_parse("00-" TID "-" SPAN "-01", id, &flags), 0);
    CHECK_STR_EQ(id, TID);
    CHECK_INT_EQ(flags, 1);
    CHECK_INT_EQ(trace_parse("00-" TID "-" SPAN "-00", id, &flags), 0);
    CHECK_INT_EQ(flags, 0);
    CHECK_INT_EQ(trace_parse("00-" TID "-" SPAN "-ff", id, &flags), 0);
    CHECK_INT_EQ(flags, 0xff);
    /* A later version may carry more fields after a '-'. */
    CHECK_INT_EQ(parses("01-" TID "-" SPAN "-01"), 1);
    CHECK_INT_EQ(parses("cc-" TID "-" SPAN "-01-what-the-future-holds"), 1);
    CHECK_INT_EQ(parses("fe-" TID "-" SPAN "-09"), 1);
}

static void test_parse_invalid(void)
{
    static const char *const bad[] = {
        NULL,
        "",
        "00",
        "ff-" TID "-" SPAN "-01",                                  /* version ff */
        "00-00000000000000000000000000000000-" SPAN "-01",         /* all-zero trace id */
        "00-" TID "-0000000000000000-01",                          /* all-zero parent id */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-" SPAN "-01",         /* uppercase */
        "00-" TID "-00F067AA0BA902B7-01",
        "00-" TID "-" SPAN "-0A",
        "0A-" TID "-" SPAN "-01",
        "00-" TID "-" SPAN "-01-extra",                            /* version 00 has four fields */
        "00-" TID "-" SPAN "-01 ",
        "01-" TID "-" SPAN "-01x",                                 /* a later version: more only after '-' */
        "00-" TID "-" SPAN "-1",                                   /* short fields */
        "00-4bf92f3577b34da6a3ce929d0e0e473-" SPAN "-01",
        "00-" TID "-00f067aa0ba902b-01",
        "00-" TID "0-" SPAN "-01",
        "00_" TID "-" SPAN "-01",                                  /* separators */
        "00-" TID "_" SPAN "-01",
        "00-" TID "-" SPAN "_01",
        "00-" TID "-" SPAN "-0g",
        "00-4bf92f3577b34da6a3ce929d0e0e473g-" SPAN "-01",
        " 00-" TID "-" SPAN "-01",
        "00-" TID "-" SPAN "-\x00" "1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (!CHECK_INT_EQ(parses(bad[i]), 0))
            fprintf(stderr, "    accepted: %s\n", bad[i] ? bad[i] : "(null)");
}

static void test_id_valid(void)
{
    CHECK(trace_id_valid(TID));
    CHECK(!trace_id_valid(NULL));
    CHECK(!trace_id_valid(""));
    CHECK(!trace_id_valid("00000000000000000000000000000000"));
    CHECK(trace_id_valid("00000000000000000000000000000001"));
    CHECK(!trace_id_valid(TID "0"));
    CHECK(!trace_id_valid("4bf92f3577b34da6a3ce929d0e0e473"));
    CHECK(!trace_id_valid("4BF92F3577B34DA6A3CE929D0E0E4736"));
    CHECK(!trace_id_valid("4bf92f3577b34da6a3ce929d0e0e473-"));
    CHECK(!trace_id_valid("4bf92f3577b34da6a3ce929d0e0e473\n"));
}

static void test_start(void)
{
    unsigned char r[TRACE_RANDOM_LEN];
    char header[TRACE_HEADER_LEN];
    struct trace t;
    for (size_t i = 0; i < sizeof r; i++)
        r[i] = (unsigned char)(0xa0 + i);

    /* The client's trace id, our own span; only the sampled flag is kept. */
    trace_start(&t, "00-" TID "-" SPAN "-03", 1, r);
    CHECK_STR_EQ(t.id, TID);
    CHECK_STR_EQ(t.span, "b0b1b2b3b4b5b6b7");
    CHECK_INT_EQ(t.flags, 1);
    CHECK_INT_EQ(trace_header(&t, header), 1);
    CHECK_STR_EQ(header, "00-" TID "-b0b1b2b3b4b5b6b7-01");
    trace_start(&t, "00-" TID "-" SPAN "-00", 1, r);
    CHECK_INT_EQ(trace_header(&t, header), 1);
    CHECK_STR_EQ(header, "00-" TID "-b0b1b2b3b4b5b6b7-00");

    /* Tracing off: a client's trace is still carried. */
    trace_start(&t, "00-" TID "-" SPAN "-01", 0, r);
    CHECK_STR_EQ(t.id, TID);

    /* No header, or an invalid one: a new trace, sampled. */
    trace_start(&t, NULL, 1, r);
    CHECK_STR_EQ(t.id, "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
    CHECK_INT_EQ(t.flags, 1);
    CHECK(trace_id_valid(t.id));
    trace_start(&t, "ff-" TID "-" SPAN "-01", 1, r);
    CHECK_STR_EQ(t.id, "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
    CHECK_INT_EQ(trace_header(&t, header), 1);
    CHECK_STR_EQ(header, "00-a0a1a2a3a4a5a6a7a8a9aaabacadaeaf-b0b1b2b3b4b5b6b7-01");

    /* Off and no valid header: no trace, no header. */
    trace_start(&t, "garbage", 0, r);
    CHECK_STR_EQ(t.id, "");
    memcpy(header, "unchanged", 10);
    CHECK_INT_EQ(trace_header(&t, header), 0);
    CHECK_STR_EQ(header, "unchanged");

    /* All-zero random bytes still give valid ids. */
    memset(r, 0, sizeof r);
    trace_start(&t, NULL, 1, r);
    CHECK(trace_id_valid(t.id));
    CHECK_STR_EQ(t.span, "0000000000000001");
    CHECK_INT_EQ(trace_header(&t, header), 1);
    char id[TRACE_ID_LEN];
    unsigned char flags;
    CHECK_INT_EQ(trace_parse(header, id, &flags), 0); /* what we send, we would accept */
}

int main(void)
{
    test_parse_valid();
    test_parse_invalid();
    test_id_valid();
    test_start();
    return check_finish();
}
