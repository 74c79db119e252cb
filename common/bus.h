/* The Redis bus: one connection that publishes and runs commands, one that is subscribed to this replica's own
 * channel; both on one libevent loop, reconnected with capped backoff when Redis goes away. Loop thread only. */
#ifndef TASKBUS_BUS_H
#define TASKBUS_BUS_H

#include <stddef.h>

struct event_base;
struct redisReply;
struct bus;

/* A message on our channel. 'data' is valid only during the call. */
typedef void (*bus_message_fn)(const char *data, size_t len, void *arg);

/* The answer to a PUBLISH: how many subscribers received it (0: nobody listens on that channel any more), or -1
 * when the connection failed before Redis answered (the message may or may not have been delivered). Called
 * exactly once per accepted bus_publish, always from the loop, never from inside bus_publish. */
typedef void (*bus_published_fn)(long long receivers, void *arg);

/* The reply to a command, or NULL when the connection failed first. Valid only during the call. */
typedef void (*bus_reply_fn)(struct redisReply *reply, void *arg);

/* Called whenever both connections are up and the subscription is confirmed (after every reconnect). */
typedef void (*bus_ready_fn)(void *arg);

struct bus_config {
    const char *host;
    int port;
    const char *channel;          /* our own channel */
    long max_outstanding;         /* commands in flight on the publish connection before we queue locally */
    bus_message_fn on_message;
    bus_ready_fn on_ready;
    void *arg;
};

/* Start connecting. Returns NULL only when out of memory; an unreachable Redis is retried in the background. */
struct bus *bus_new(struct event_base *base, const struct bus_config *cfg);

/* Publish 'len' bytes of 'data' (copied) to 'channel'. Returns 0 when accepted ('cb' will run once, 'cb' may be
 * NULL), or -1 when the bus is not connected (then 'cb' never runs). */
int bus_publish(struct bus *b, const char *channel, const char *data, size_t len, bus_published_fn cb, void *arg);

/* Run a command on the publish connection (hiredis format string). Returns 0 when sent ('cb' runs once with the
 * reply, or NULL on failure), or -1 when not connected. */
int bus_command(struct bus *b, bus_reply_fn cb, void *arg, const char *fmt, ...);

/* 1 when both connections are up and subscribed. */
int bus_is_ready(const struct bus *b);

/* Close both connections; pending callbacks run with failure. NULL-safe. */
void bus_free(struct bus *b);

#endif
