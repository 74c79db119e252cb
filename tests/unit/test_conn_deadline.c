/* The per-connection deadlines on a real libevent loop, with socketpairs standing in for HTTP connections: a
 * connection past its deadline is shut down, one that moves on in time is not. */
#include <event2/event.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"
#include "conn_deadline.h"

#define HEAD_MS 100
#define BODY_MS 250
#define IDLE_MS 400

/* Whether the peer of 'fd' was shut down: a read on 'peer' sees the end of the stream at once. */
static int was_shut(int peer)
{
    char c;
    return recv(peer, &c, 1, MSG_DONTWAIT) == 0;
}

static void run_for(struct event_base *base, long ms)
{
    struct timeval tv = clock_timeval(ms);
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

int main(void)
{
    struct event_base *base = event_base_new();
    struct conn_deadlines *d = conn_deadlines_new(base, HEAD_MS, BODY_MS, IDLE_MS);
    int head[2], body[2], fast[2], kept[2], line[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, head) == 0);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, body) == 0);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, fast) == 0);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, kept) == 0);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, line) == 0);
    struct conn_deadline *c_head = conn_deadline_open(d, head[0]);
    struct conn_deadline *c_body = conn_deadline_open(d, body[0]);
    struct conn_deadline *c_fast = conn_deadline_open(d, fast[0]);
    struct conn_deadline *c_kept = conn_deadline_open(d, kept[0]);
    struct conn_deadline *c_line = conn_deadline_open(d, line[0]);

    /* 'body' completes its head at once, 'fast' its whole request, 'kept' is answered (keep-alive) and 'line' is
     * answered and then sends a later request's first line. */
    conn_deadline_head_done(c_body);
    conn_deadline_head_done(c_fast);
    conn_deadline_body_done(c_fast);
    conn_deadline_head_done(c_kept);
    conn_deadline_body_done(c_kept);
    conn_deadline_request_done(c_kept);
    conn_deadline_head_done(c_line);
    conn_deadline_body_done(c_line);
    conn_deadline_request_done(c_line);
    conn_deadline_request_line(c_line);

    run_for(base, HEAD_MS - 50); /* 50 ms */
    CHECK(!was_shut(head[1]));
    CHECK(!was_shut(line[1]));
    run_for(base, 100); /* 150 ms: HEAD_MS + 50 */
    CHECK(was_shut(head[1]));
    CHECK(was_shut(line[1]));
    CHECK(!was_shut(body[1]));
    run_for(base, 170); /* 320 ms: BODY_MS + 70 */
    CHECK(was_shut(body[1]));
    CHECK(!was_shut(kept[1]));
    CHECK(!was_shut(fast[1]));
    run_for(base, 240); /* 560 ms: IDLE_MS + HEAD_MS + 60 */
    CHECK(was_shut(kept[1]));
    CHECK(!was_shut(fast[1])); /* suspended (whole request in): no deadline runs */

    /* A shut connection's later events change nothing; closing frees everything (ASan checks). */
    conn_deadline_head_done(c_head);
    conn_deadline_request_done(c_head);
    struct conn_deadline_stats st;
    conn_deadlines_get_stats(d, &st);
    CHECK_INT_EQ(st.head_expired, 3);
    CHECK_INT_EQ(st.body_expired, 1);
    CHECK_INT_EQ(st.open, 5);
    conn_deadline_close(c_head);
    conn_deadline_close(c_body);
    conn_deadline_close(c_fast);
    conn_deadline_close(c_kept);
    conn_deadline_close(c_line);
    conn_deadline_close(NULL);
    conn_deadlines_get_stats(d, &st);
    CHECK_INT_EQ(st.open, 0);
    conn_deadlines_free(d);
    event_base_free(base);
    int *fds[] = { head, body, fast, kept, line };
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++) {
        close(fds[i][0]);
        close(fds[i][1]);
    }
    return check_finish();
}
