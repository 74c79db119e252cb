/* The measurement mode EVENTS_LOG=off-for-measurement on a real libevent loop: its acknowledgements keep the
 * store's contract (store.h): once per record, in order, on the loop, never inside the append, duplicate 0; records
 * appended by an acknowledgement wait for a later turn; nolog_free acknowledges what is still due. */
#include <event2/event.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nolog.h"
#include "router.h"

#define MAX_ACKS 16

struct seen {
    struct nolog *nl;
    int in_append;                 /* set around nolog_append: an acknowledgement then breaks the contract */
    int acks[MAX_ACKS], n;
    int bad_duplicate, bad_doc, inside_append;
    int append_on;                 /* the ctx whose acknowledgement appends one more record (0: none) */
    int append_ctx;                /* ... with this ctx */
    int timed_out;
};

static bson_t *record(int ctx)
{
    char id[32];
    snprintf(id, sizeof id, "task:%d", ctx);
    return BCON_NEW("_id", BCON_UTF8(id), "seq", BCON_INT32(ctx));
}

static void append(struct seen *s, int ctx)
{
    s->in_append = 1;
    CHECK_INT_EQ(nolog_append(s->nl, record(ctx), (void *)(intptr_t)ctx), 0);
    s->in_append = 0;
}

static void on_acked(void *ctx, const bson_t *doc, int duplicate, void *arg)
{
    struct seen *s = arg;
    int c = (int)(intptr_t)ctx;
    if (s->in_append)
        s->inside_append++;
    if (duplicate)
        s->bad_duplicate++;
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, "seq") || bson_iter_int32(&it) != c)
        s->bad_doc++;
    if (s->n < MAX_ACKS)
        s->acks[s->n] = c;
    s->n++;
    if (s->append_on == c)
        append(s, s->append_ctx);
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct seen *s = arg;
    s->timed_out = 1;
}

/* Run one loop turn that has something to do (at most 2 s: the watchdog fails the test instead of hanging). */
static void one_turn(struct event_base *base, struct seen *s)
{
    struct event *dog = evtimer_new(base, on_watchdog, s);
    struct timeval two = { 2, 0 };
    evtimer_add(dog, &two);
    event_base_loop(base, EVLOOP_ONCE);
    event_free(dog);
    CHECK(!s->timed_out);
}

static void test_parse_mode(void)
{
    int off = 7;
    CHECK_INT_EQ(nolog_parse_mode("on", &off), 0);
    CHECK_INT_EQ(off, 0);
    CHECK_INT_EQ(nolog_parse_mode("off-for-measurement", &off), 0);
    CHECK_INT_EQ(off, 1);
    off = 7;
    const char *refused[] = { "off", "", "OFF-FOR-MEASUREMENT", "0", "false", "off-for-measurement ", NULL };
    for (int i = 0; i < (int)(sizeof refused / sizeof refused[0]); i++)
        CHECK_INT_EQ(nolog_parse_mode(refused[i], &off), -1);
    CHECK_INT_EQ(off, 7);
}

static void test_acks_in_order_on_a_later_turn(void)
{
    struct event_base *base = event_base_new();
    struct seen s = { 0 };
    s.nl = nolog_new(base, NULL, on_acked, &s);
    CHECK(s.nl != NULL);
    append(&s, 1);
    append(&s, 2);
    append(&s, 3);
    CHECK_INT_EQ(s.n, 0);                      /* nothing inside nolog_append */
    CHECK_INT_EQ(nolog_backlog(s.nl), 3);
    s.append_on = 2;                           /* the acknowledgement of 2 appends 4 */
    s.append_ctx = 4;
    one_turn(base, &s);
    CHECK_INT_EQ(s.n, 3);                      /* 4 waits for the next turn */
    CHECK_INT_EQ(nolog_backlog(s.nl), 1);
    one_turn(base, &s);
    CHECK_INT_EQ(s.n, 4);
    for (int i = 0; i < 4 && i < s.n; i++)
        CHECK_INT_EQ(s.acks[i], i + 1);
    CHECK_INT_EQ(nolog_backlog(s.nl), 0);
    CHECK_INT_EQ(s.inside_append, 0);
    CHECK_INT_EQ(s.bad_duplicate, 0);
    CHECK_INT_EQ(s.bad_doc, 0);
    struct store_stats st;
    nolog_free(s.nl, &st);
    CHECK_INT_EQ(st.appended, 4);
    CHECK_INT_EQ(st.stored, 0);                /* nothing is ever written */
    CHECK_INT_EQ(st.batches, 2);
    CHECK_INT_EQ(s.n, 4);                      /* nothing twice */
    event_base_free(base);
}

/* At shutdown the loop has stopped: nolog_free acknowledges what is due, and what those acknowledgements append. */
static void test_free_acknowledges_what_is_due(void)
{
    struct event_base *base = event_base_new();
    struct seen s = { 0 };
    s.nl = nolog_new(base, NULL, on_acked, &s);
    append(&s, 5);
    s.append_on = 5;
    s.append_ctx = 6;
    struct store_stats st;
    nolog_free(s.nl, &st);
    CHECK_INT_EQ(s.n, 2);
    CHECK_INT_EQ(s.acks[0], 5);
    CHECK_INT_EQ(s.acks[1], 6);
    CHECK_INT_EQ(st.appended, 2);
    CHECK_INT_EQ(s.inside_append, 0);
    nolog_free(NULL, NULL);
    event_base_free(base);
}

/* The router's table: appends go to the stand-in; the bus functions stay. */
static int fake_publish(void *bus, const char *channel, const char *data, size_t len, bus_published_fn cb, void *arg)
{
    (void)bus, (void)channel, (void)data, (void)len, (void)cb, (void)arg;
    return 0;
}

static void test_wire(void)
{
    struct event_base *base = event_base_new();
    struct seen s = { 0 };
    s.nl = nolog_new(base, NULL, on_acked, &s);
    int bus;
    struct router_io io = { &bus, fake_publish, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL };
    nolog_wire(s.nl, &io);
    CHECK(io.bus == &bus && io.publish == fake_publish);
    CHECK(io.store == s.nl && io.append && io.history && io.backlog && io.outcome_read);
    s.in_append = 1;
    CHECK_INT_EQ(io.append(io.store, record(9), (void *)(intptr_t)9), 0);
    s.in_append = 0;
    CHECK_INT_EQ(io.backlog(io.store), 1);
    one_turn(base, &s);
    CHECK_INT_EQ(s.n, 1);
    CHECK_INT_EQ(s.inside_append, 0);
    nolog_free(s.nl, NULL);
    event_base_free(base);
}

int main(void)
{
    test_parse_mode();
    test_acks_in_order_on_a_later_turn();
    test_free_acknowledges_what_is_due();
    test_wire();
    return check_finish();
}
