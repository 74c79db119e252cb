/* The Redis bus: one connection that publishes and runs commands, one that is subscribed to this replica's own
 * channel; both on one libevent loop, watched for liveness, reconnected with capped backoff when Redis goes away.
 * Loop thread only. */
#ifndef TASKBUS_BUS_H
#define TASKBUS_BUS_H

#include <stddef.h>

struct event_base;
struct redisReply;
struct bus;

/* A message on our channel. 'data' is valid only during the call. */
typedef void (*bus_message_fn)(const char *data, size_t len, void *arg);

/* The answer to a PUBLISH: how many subscribers received it (0: nobody listens on that channel any more), or -1
 * when Redis refused it or the connection failed before Redis answered (the message may or may not have been
 * delivered). See "Callbacks" below for when it runs. */
typedef void (*bus_published_fn)(long long receivers, void *arg);

/* The reply to a command, or NULL when the connection failed first. Valid only during the call. */
typedef void (*bus_reply_fn)(struct redisReply *reply, void *arg);

/* Called whenever both connections are up and the subscription is confirmed (after every reconnect). */
typedef void (*bus_ready_fn)(void *arg);

/* Callbacks. Every accepted bus_publish and bus_command gets exactly one callback, and never from inside the call
 * that was accepted: it runs later from the loop. When a connection is lost (Redis closed it, a read or write
 * failed, or the watchdog dropped it), the bus first marks itself not connected, so bus_publish and bus_command
 * return -1 and bus_is_ready returns 0, and only then delivers the failures (-1, or a NULL reply) from a loop event
 * of its own, oldest first. A callback that publishes again on -1 therefore gets -1 back at once instead of
 * looping; it should retry after on_ready or a timer of its own. Only bus_free runs callbacks from inside a call
 * (with failure), because the loop will not run them afterwards. */

struct bus_config {
    const char *host;
    int port;
    const char *channel;          /* our own channel */
    long max_outstanding;         /* commands in flight on the publish connection before we queue locally */
    bus_message_fn on_message;
    bus_ready_fn on_ready;
    void *arg;
    long ping_ms;                 /* watchdog period (HEARTBEAT_MS): a connection that has not answered a probe for
                                   * two periods is dropped and reconnected; 0 turns the watchdog off */
    long max_queued;              /* publishes that may wait locally beyond the window (BUS_MAX_QUEUE); past it,
                                   * bus_publish returns -1 at once; 0: none wait */
    const char *username;         /* Redis ACL user, or NULL for "default" (copied) */
    const char *password;         /* NULL: no AUTH. Else every connection sends AUTH first and is used only once
                                   * Redis accepted it; a refusal is logged (never the password) and the connection
                                   * is closed and retried with backoff, as an unreachable Redis is (copied) */
};

/* Counters since bus_new, for logs and tests. */
struct bus_stats {
    unsigned long long published;       /* publishes accepted by bus_publish */
    unsigned long long failed;          /* publish callbacks that got -1 */
    size_t queued;                      /* publishes waiting in the local queue now */
    size_t outstanding;                 /* publishes sent to Redis and not answered yet (at most the window) */
    size_t max_queued;                  /* the most that ever waited there at once */
    unsigned long long reconnects;      /* connections (publish or subscribe) re-established after one was lost */
    unsigned long long watchdog_drops;  /* connections dropped because they did not answer the watchdog */
    unsigned long long refused;         /* connections Redis refused at their first command (AUTH, or PING) */
};

/* Start connecting. Returns NULL only when out of memory; an unreachable Redis is retried in the background. */
struct bus *bus_new(struct event_base *base, const struct bus_config *cfg);

/* Publish 'len' bytes of 'data' (copied) to 'channel'. Returns 0 when accepted ('cb' will run once as described
 * under "Callbacks"; 'cb' may be NULL), or -1 when the bus is not connected, when max_queued publishes already wait
 * for the window, or when out of memory (then 'cb' never runs). */
int bus_publish(struct bus *b, const char *channel, const char *data, size_t len, bus_published_fn cb, void *arg);

/* Run a command on the publish connection (hiredis format string). Returns 0 when sent ('cb' runs once with the
 * reply, or with NULL on failure, as described under "Callbacks"), or -1 when not connected. */
int bus_command(struct bus *b, bus_reply_fn cb, void *arg, const char *fmt, ...);

/* The same with an argument vector ('argc' arguments of lens[i] bytes each, copied): for binary-safe arguments
 * whose number varies. A command sent before a publish reaches Redis before it. */
int bus_command_argv(struct bus *b, bus_reply_fn cb, void *arg, int argc, const char **argv, const size_t *lens);

/* 1 when both connections are up and subscribed. */
int bus_is_ready(const struct bus *b);

/* How many publishes wait in the local queue for room in the window. */
size_t bus_queued(const struct bus *b);

/* Copy the counters into 'out'. */
void bus_get_stats(const struct bus *b, struct bus_stats *out);

/* Close both connections; pending callbacks run with failure before it returns. NULL-safe. */
void bus_free(struct bus *b);

#endif
