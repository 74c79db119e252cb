/* Mailbox: a mutex-protected array swapped out in one piece, and an eventfd that wakes the loop. */
#include "mailbox.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct mailbox {
    pthread_mutex_t lock;
    void **items;
    size_t len, cap;
    int fd;
    struct event *ev;
    mailbox_fn fn;
    void *arg;
};

static void mailbox_drain(struct mailbox *mb)
{
    pthread_mutex_lock(&mb->lock);
    void **items = mb->items;
    size_t len = mb->len;
    mb->items = NULL;
    mb->len = mb->cap = 0;
    pthread_mutex_unlock(&mb->lock);
    for (size_t i = 0; i < len; i++)
        mb->fn(items[i], mb->arg);
    free(items);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    uint64_t n;
    if (read(fd, &n, sizeof n) < 0) {
        /* EAGAIN: a wake-up we already consumed; nothing to do but drain. */
    }
    mailbox_drain(arg);
}

struct mailbox *mailbox_new(struct event_base *base, mailbox_fn fn, void *arg)
{
    struct mailbox *mb = calloc(1, sizeof *mb);
    if (!mb)
        return NULL;
    pthread_mutex_init(&mb->lock, NULL);
    mb->fn = fn;
    mb->arg = arg;
    mb->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (mb->fd < 0)
        goto fail;
    mb->ev = event_new(base, mb->fd, EV_READ | EV_PERSIST, on_wake, mb);
    if (!mb->ev || event_add(mb->ev, NULL) != 0)
        goto fail;
    return mb;
fail:
    if (mb->ev)
        event_free(mb->ev);
    if (mb->fd >= 0)
        close(mb->fd);
    pthread_mutex_destroy(&mb->lock);
    free(mb);
    return NULL;
}

int mailbox_post(struct mailbox *mb, void *item)
{
    int wake = 0;
    pthread_mutex_lock(&mb->lock);
    if (mb->len == mb->cap) {
        size_t cap = mb->cap ? mb->cap * 2 : 64;
        void **items = realloc(mb->items, cap * sizeof *items);
        if (!items) {
            pthread_mutex_unlock(&mb->lock);
            return -1;
        }
        mb->items = items;
        mb->cap = cap;
    }
    wake = mb->len == 0;
    mb->items[mb->len++] = item;
    pthread_mutex_unlock(&mb->lock);
    if (wake) {
        uint64_t one = 1;
        if (write(mb->fd, &one, sizeof one) < 0) {
            /* The counter only overflows after 2^64-1 unread posts; a failed wake cannot lose the item. */
        }
    }
    return 0;
}

void mailbox_free(struct mailbox *mb)
{
    if (!mb)
        return;
    mailbox_drain(mb);
    event_free(mb->ev);
    close(mb->fd);
    pthread_mutex_destroy(&mb->lock);
    free(mb->items);
    free(mb);
}
