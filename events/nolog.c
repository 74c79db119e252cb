/* EVENTS_LOG=off-for-measurement: records acknowledged on the next loop turn, never written (see nolog.h). */
#include "nolog.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "router.h"

struct pending {
    bson_t *doc;
    void *ctx;
    long long t0;                  /* clock_mono_ms() at append */
};

/* Appends go to 'queue'; a loop turn swaps it with 'spare' and acknowledges what it took, so a record appended by
 * an acknowledgement waits for the next turn, as with the real store. */
struct queue {
    struct pending *items;
    size_t n, cap;
};

struct nolog {
    struct event *turn;            /* a zero timer: runs on the loop's next turn */
    int armed;
    int closing;                   /* nolog_free is draining: acknowledge in its loop, arm nothing */
    struct queue queue, spare;
    struct store *reads;
    store_acked_fn on_acked;
    void *arg;
    struct store_stats stats;
};

int nolog_parse_mode(const char *value, int *off)
{
    if (value && strcmp(value, NOLOG_MODE_ON) == 0) {
        *off = 0;
        return 0;
    }
    if (value && strcmp(value, NOLOG_MODE_OFF) == 0) {
        *off = 1;
        return 0;
    }
    return -1;
}

/* Acknowledge every record of 'q' in order and empty it. */
static void ack_all(struct nolog *nl, struct queue *q)
{
    long long now = clock_mono_ms();
    for (size_t i = 0; i < q->n; i++) {
        struct pending *p = &q->items[i];
        if (now - p->t0 > nl->stats.max_lag_ms)
            nl->stats.max_lag_ms = now - p->t0;
        nl->on_acked(p->ctx, p->doc, 0, nl->arg);
        bson_destroy(p->doc);
    }
    if (q->n)
        nl->stats.batches++;
    q->n = 0;
}

static void on_turn(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct nolog *nl = arg;
    nl->armed = 0;
    struct queue taken = nl->queue;
    nl->queue = nl->spare;
    ack_all(nl, &taken);
    nl->spare = taken;
}

struct nolog *nolog_new(struct event_base *base, struct store *reads, store_acked_fn on_acked, void *arg)
{
    struct nolog *nl = calloc(1, sizeof *nl);
    if (!nl)
        return NULL;
    nl->turn = evtimer_new(base, on_turn, nl);
    if (!nl->turn) {
        free(nl);
        return NULL;
    }
    nl->reads = reads;
    nl->on_acked = on_acked;
    nl->arg = arg;
    return nl;
}

int nolog_append(struct nolog *nl, bson_t *doc, void *ctx)
{
    struct queue *q = &nl->queue;
    if (q->n == q->cap) {
        size_t cap = q->cap ? 2 * q->cap : 256;
        struct pending *items = realloc(q->items, cap * sizeof *items);
        if (!items) {
            bson_destroy(doc);
            return -1;
        }
        q->items = items;
        q->cap = cap;
    }
    q->items[q->n++] = (struct pending){ doc, ctx, clock_mono_ms() };
    nl->stats.appended++;
    if (!nl->armed && !nl->closing) {
        struct timeval now = { 0, 0 };
        if (evtimer_add(nl->turn, &now) == 0)
            nl->armed = 1;
    }
    return 0;
}

size_t nolog_backlog(const struct nolog *nl)
{
    return nl->queue.n;
}

/* ---- the router's store functions in this mode */

static int io_append(void *nl, bson_t *doc, void *ctx)
{
    return nolog_append(nl, doc, ctx);
}

static int io_history(void *nl, const char *task_id, store_history_fn cb, void *ctx)
{
    return store_history(((struct nolog *)nl)->reads, task_id, cb, ctx);
}

static size_t io_backlog(void *nl)
{
    return nolog_backlog(nl);
}

static int io_outcome_read(void *nl, const char *task_id, store_outcome_fn cb, void *ctx)
{
    return store_outcome(((struct nolog *)nl)->reads, task_id, cb, ctx);
}

void nolog_wire(struct nolog *nl, struct router_io *io)
{
    io->store = nl;
    io->append = io_append;
    io->history = io_history;
    io->backlog = io_backlog;
    io->outcome_read = io_outcome_read;
}

void nolog_free(struct nolog *nl, struct store_stats *final)
{
    if (!nl)
        return;
    nl->closing = 1;
    while (nl->queue.n) {
        struct queue taken = nl->queue;
        nl->queue = nl->spare;
        ack_all(nl, &taken);
        nl->spare = taken;
    }
    if (final) {
        *final = nl->stats;
        final->backlog = 0;
    }
    event_free(nl->turn);
    free(nl->queue.items);
    free(nl->spare.items);
    free(nl);
}
