/* The HTTP server: libmicrohttpd driven by the libevent loop (MHD's epoll fd is watched by the loop, so HTTP, the
 * bus and the deadlines share one thread and need no locks). Loop thread only. */
#ifndef TASKBUS_HTTP_H
#define TASKBUS_HTTP_H

#include <stddef.h>

struct bus;
struct dispatch;
struct event_base;
struct http;
struct pending;
struct reads;
struct instruments;
struct replica_set;
struct telemetry;
struct tokens;

struct http_config {
    int port;
    long max_body;          /* bytes; larger bodies get 413 */
    long max_connections;   /* MHD's connection limit */
    long max_in_flight;     /* suspended requests before new tasks get 503 */
    long idle_timeout_s;    /* idle keep-alive connections are closed after this */
    long connection_memory; /* bytes of libmicrohttpd's per-connection pool (headers and buffers) */
    long header_timeout_ms; /* a request's head must arrive within this (conn_deadline.h) */
    long body_timeout_ms;   /* and its body within this after the head */
    long max_per_ip;        /* open connections from one address (0: no cap) */
    const struct tokens *tokens; /* API tokens every route but GET / and GET /metrics needs; NULL: none needed */
    struct telemetry *telemetry; /* rendered by GET /metrics (telemetry.h) */
    const struct instruments *metrics; /* where requests are counted (instruments.h) */
};

/* Listen on 'cfg->port'. Returns NULL with a reason in 'err' (256 bytes) when it cannot. */
struct http *http_new(struct event_base *base, const struct http_config *cfg, struct bus *bus,
                      struct replica_set *events, struct dispatch *dispatch, struct pending *pending,
                      struct reads *reads, char *err);

/* Shutdown: stop accepting connections, and answer every request that arrives from now on (on a connection that was
 * already open) with 503 at once, neither published nor suspended. Requests suspended before still get their
 * answer; every answer from now on closes its connection. */
void http_quiesce(struct http *h);

/* Stop the server. Every pending request must have been answered. NULL-safe. */
void http_free(struct http *h);

#endif
