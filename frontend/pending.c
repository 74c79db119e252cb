/* Suspended requests: a table by correlation id, a deadline timer each, and exactly one resume. */
#include "pending.h"

#include <event2/event.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "reply.h"
#include "route.h"
#include "table.h"

struct pending {
    struct event_base *base;
    struct table *table;
    const struct timeval *timeout; /* a libevent common timeout: O(1) timers when all share one duration */
    long timeout_ms;
    void (*on_timeout)(struct request *req, void *arg);
    void *arg;
    void (*on_resume)(void *arg);
    void *resume_arg;
    void (*on_idle)(void *arg);
    void *idle_arg;
};

static void check_idle(struct pending *p)
{
    if (p->on_idle && table_len(p->table) == 0) {
        void (*fn)(void *) = p->on_idle;
        p->on_idle = NULL;
        fn(p->idle_arg);
    }
}

void pending_when_idle(struct pending *p, void (*fn)(void *arg), void *arg)
{
    p->on_idle = fn;
    p->idle_arg = arg;
    if (fn)
        check_idle(p);
}

void pending_on_resume(struct pending *p, void (*fn)(void *arg), void *arg)
{
    p->on_resume = fn;
    p->resume_arg = arg;
}

struct pending *pending_new(struct event_base *base, long timeout_ms,
                            void (*on_timeout)(struct request *req, void *arg), void *arg)
{
    struct pending *p = calloc(1, sizeof *p);
    if (!p || !(p->table = table_new())) {
        free(p);
        return NULL;
    }
    struct timeval tv = clock_timeval(timeout_ms);
    p->base = base;
    p->timeout_ms = timeout_ms;
    p->timeout = event_base_init_common_timeout(base, &tv);
    p->on_timeout = on_timeout;
    p->arg = arg;
    return p;
}

struct request *request_new(struct pending *p, struct MHD_Connection *conn)
{
    struct request *req = calloc(1, sizeof *req);
    if (!req)
        return NULL;
    req->conn = conn;
    req->owner = p;
    return req;
}

void request_release(struct request *req, int completed)
{
    if (completed)
        req->completed = 1;
    if (!req->completed || req->publishing > 0 || req->held)
        return;
    if (req->deadline)
        event_free(req->deadline);
    free(req->body);
    free(req->response);
    free(req->outbound);
    free(req);
}

/* The task an error answer names: the one asked about, the one submitted, or none (a listing). */
static const char *subject_of(const struct request *req)
{
    return req->route == ROUTE_HISTORY ? req->history_of : req->route == ROUTE_TASK ? req->task_id : NULL;
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct request *req = arg;
    struct pending *p = req->owner;
    char error[TASK_ERR_LEN + 128];
    /* A task may still run after its deadline (it was sent; events or a backend may be slow), so the client must
     * not read a 504 as "it failed": say where its outcome will be. A history query changes nothing. */
    if (req->route != ROUTE_TASK)
        snprintf(error, sizeof error, "no answer within %ld ms", p->timeout_ms);
    else
        snprintf(error, sizeof error, "no answer within %ld ms; the task may still complete: GET /task/%s shows its "
                 "outcome", p->timeout_ms, req->task_id);
    if (p->on_timeout)
        p->on_timeout(req, p->arg);
    pending_answer_request(p, req, 504,
                           reply_error(error, subject_of(req)));
}

int pending_add(struct pending *p, struct request *req)
{
    if (!req->deadline && !(req->deadline = evtimer_new(p->base, on_deadline, req)))
        return -1;
    if (table_put(p->table, req->id, req) != 0)
        return -1;
    req->state = REQUEST_WAITING;
    evtimer_add(req->deadline, p->timeout);
    return 0;
}

void pending_answer_request(struct pending *p, struct request *req, int status, char *response)
{
    table_remove(p->table, req->id);
    if (req->deadline)
        event_del(req->deadline);
    req->status = response ? status : 500;
    req->response = response;
    req->state = REQUEST_DONE;
    MHD_resume_connection(req->conn);
    if (p->on_resume)
        p->on_resume(p->resume_arg);
    check_idle(p);
}

void pending_forget(struct pending *p, struct request *req)
{
    if (table_get(p->table, req->id) == req)
        table_remove(p->table, req->id);
    if (req->deadline)
        event_del(req->deadline);
    req->state = REQUEST_READING;
}

struct request *pending_lookup(struct pending *p, const char *id)
{
    return table_get(p->table, id);
}

size_t pending_count(const struct pending *p)
{
    return table_len(p->table);
}

/* The pending requests, collected so callers may change the table ('*n' of them; NULL when none). */
static struct request **collect(struct pending *p, size_t *n)
{
    return (struct request **)table_values(p->table, n);
}

void pending_each(struct pending *p, void (*fn)(struct request *req, void *arg), void *arg)
{
    size_t n = 0;
    struct request **items = collect(p, &n);
    for (size_t i = 0; i < n; i++)
        fn(items[i], arg);
    free(items);
}

void pending_answer_all(struct pending *p, int status, const char *message)
{
    size_t n = 0;
    struct request **items = collect(p, &n);
    for (size_t i = 0; i < n; i++)
        pending_answer_request(p, items[i], status,
                               reply_error(message, subject_of(items[i])));
    free(items);
}

void pending_free(struct pending *p)
{
    if (!p)
        return;
    table_free(p->table);
    free(p);
}
