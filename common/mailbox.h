/* A queue that any thread posts to and one libevent loop drains: how threads hand work to an event loop. */
#ifndef TASKBUS_MAILBOX_H
#define TASKBUS_MAILBOX_H

struct event_base;
struct mailbox;

/* Called on the loop thread once per posted item, in posting order. The callback owns 'item'. */
typedef void (*mailbox_fn)(void *item, void *arg);

/* Create a mailbox whose items are delivered to 'fn' on 'base's loop. Returns NULL on failure. */
struct mailbox *mailbox_new(struct event_base *base, mailbox_fn fn, void *arg);

/* Post 'item' (any thread). Wakes the loop only when the queue goes from empty to non-empty.
 * Returns 0, or -1 when out of memory (the caller keeps 'item'). */
int mailbox_post(struct mailbox *mb, void *item);

/* Free the mailbox; items still queued are passed to 'fn' first. Loop thread only. NULL-safe. */
void mailbox_free(struct mailbox *mb);

#endif
