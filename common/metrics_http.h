/* A small HTTP listener that answers GET /metrics for a daemon without an HTTP server of its own (events,
 * backends): libmicrohttpd on its own thread, which only reads the registry's atomics and /proc, so a scrape never
 * touches the daemon's event loop. */
#ifndef TASKBUS_METRICS_HTTP_H
#define TASKBUS_METRICS_HTTP_H

struct metrics;
struct procstat;
struct metrics_http;

#define METRICS_HTTP_ERR_LEN 160

/* Listen on 'port' (all addresses) and serve 'm' (and 'p', collected at each scrape; may be NULL) until
 * metrics_http_stop. Returns NULL with a reason in 'err' when the port cannot be bound or out of memory. */
struct metrics_http *metrics_http_start(int port, struct metrics *m, struct procstat *p, char *err);
/* Stop listening and join the thread. NULL-safe. */
void metrics_http_stop(struct metrics_http *h);

#endif
