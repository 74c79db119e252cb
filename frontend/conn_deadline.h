/* Deadlines per HTTP connection against slow clients: the request head must arrive within HEADER_TIMEOUT_MS and the
 * body within BODY_TIMEOUT_MS, however steadily the bytes trickle (libmicrohttpd's own timeout is an idle timeout,
 * which every byte resets). A connection past its deadline is shut down (shutdown(2)); libmicrohttpd then sees the
 * end of the stream, closes it and frees it as for any client that went away. One libevent timer per connection,
 * on libevent's common-timeout queues (all deadlines of one kind have the same length, so adding and removing one is
 * O(1)); no thread, no polling. Loop thread only. */
#ifndef TASKBUS_CONN_DEADLINE_H
#define TASKBUS_CONN_DEADLINE_H

struct event_base;
struct conn_deadlines;
struct conn_deadline;

struct conn_deadline_stats {
    unsigned long long head_expired, body_expired, open;
};

/* 'head_ms': from a connection's start to its first request's complete head; 'body_ms': from a complete head to
 * the end of the body; 'idle_ms': the idle timeout, which bounds the wait for a later request on a keep-alive
 * connection. Returns NULL when out of memory. */
struct conn_deadlines *conn_deadlines_new(struct event_base *base, long head_ms, long body_ms, long idle_ms);

/* Free the table; every connection must have been closed (conn_deadline_close). NULL-safe. */
void conn_deadlines_free(struct conn_deadlines *d);

void conn_deadlines_get_stats(const struct conn_deadlines *d, struct conn_deadline_stats *out);

/* A connection on socket 'fd' was accepted: its first request's head is due in 'head_ms'. Returns the connection's
 * deadline, owned by the table until conn_deadline_close, or NULL when out of memory. */
struct conn_deadline *conn_deadline_open(struct conn_deadlines *d, int fd);

/* The first line of a request arrived. For a later request on a keep-alive connection the head is now due in
 * 'head_ms' (or earlier, if its previous deadline was earlier); for the first request nothing changes. */
void conn_deadline_request_line(struct conn_deadline *c);

/* The request's head is complete: its body (if any) is due in 'body_ms'. */
void conn_deadline_head_done(struct conn_deadline *c);

/* The whole request is in (it is being answered, or waits suspended for its answer): no deadline runs. */
void conn_deadline_body_done(struct conn_deadline *c);

/* The request was answered and the connection stays open for another: the next request's head is due within
 * 'idle_ms' + 'head_ms' (libmicrohttpd closes an idle one after 'idle_ms'; this bounds one that trickles). */
void conn_deadline_request_done(struct conn_deadline *c);

/* The connection is closed (libmicrohttpd's notification, before it closes the socket): stop and free. NULL-safe. */
void conn_deadline_close(struct conn_deadline *c);

#endif
