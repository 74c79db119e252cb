/* Reads of tasks: the projection first, the log as the fallback. */
#include "reads.h"

#include <stdio.h>
#include <stdlib.h>

#include "dispatch.h"
#include "projection.h"
#include "reply.h"
#include "snapshots.h"

#define READS_BUS_DOWN "the message bus (Redis) is not reachable"

struct reads {
    struct projection *proj;
    struct dispatch *dispatch;
    struct pending *pending;
    struct bus *bus;
};

/* What a read's callback needs: the request and who answers it. */
struct read {
    struct reads *r;
    struct request *req;
};

struct reads *reads_new(struct projection *proj, struct dispatch *dispatch, struct pending *pending, struct bus *bus)
{
    struct reads *r = calloc(1, sizeof *r);
    if (r)
        *r = (struct reads){ proj, dispatch, pending, bus };
    return r;
}

void reads_free(struct reads *r)
{
    free(r);
}

/* A read for 'req' under a fresh correlation id. NULL when out of memory. */
static struct read *read_new(struct reads *r, struct request *req)
{
    struct read *rd = malloc(sizeof *rd);
    if (rd) {
        *rd = (struct read){ r, req };
        dispatch_next_id(r->dispatch, req->id);
    }
    return rd;
}

/* The read is sent: the request is pending (its deadline runs) and held until the callback has run. */
static int sent(struct read *rd, char *err)
{
    rd->req->publishing++;
    if (pending_add(rd->r->pending, rd->req) != 0) {
        snprintf(err, TASK_ERR_LEN, "out of memory");
        return -1; /* the callback still runs, finds the request not waiting and lets it go */
    }
    return 0;
}

/* The callback ran: frees 'rd' and returns its request when it still waits for this answer, else lets the request
 * go (its deadline or the shutdown answered it) and returns NULL. */
static struct request *finish(struct read *rd)
{
    struct request *req = rd->req;
    free(rd);
    req->publishing--;
    if (req->state == REQUEST_WAITING)
        return req;
    request_release(req, 0);
    return NULL;
}

static void on_view(char *view, int found, const char *err, void *arg)
{
    struct read *rd = arg;
    struct reads *r = rd->r;
    struct request *req = finish(rd);
    char why[TASK_ERR_LEN];
    (void)found;
    if (!req) {
        free(view);
        return;
    }
    if (view) {
        pending_answer_request(r->pending, req, 200, view);
    } else if (!err) {
        /* Not in the projection: ask the log. The request becomes pending again, under a new id. */
        pending_forget(r->pending, req);
        if (dispatch_history(r->dispatch, req, why) != 0)
            pending_answer_request(r->pending, req, 503, reply_error(why, req->history_of));
    } else {
        pending_answer_request(r->pending, req, 503, reply_error(err, req->history_of));
    }
    request_release(req, 0);
}

int reads_task(struct reads *r, struct request *req, char *err)
{
    struct read *rd = read_new(r, req);
    if (!rd || projection_view(r->proj, req->history_of, on_view, rd) != 0) {
        free(rd);
        snprintf(err, TASK_ERR_LEN, READS_BUS_DOWN);
        return -1;
    }
    return sent(rd, err);
}

/* The answer of a listing or of the dashboard's read: a 200 with 'body', or a 503 with 'err'. */
static void on_list(char *body, const char *err, void *arg)
{
    struct read *rd = arg;
    struct reads *r = rd->r;
    struct request *req = finish(rd);
    if (!req) {
        free(body);
        return;
    }
    if (body)
        pending_answer_request(r->pending, req, 200, body);
    else
        pending_answer_request(r->pending, req, 503, reply_error(err, NULL));
    request_release(req, 0);
}

int reads_list(struct reads *r, struct request *req, const struct taskview_query *q, char *err)
{
    struct read *rd = read_new(r, req);
    if (!rd || projection_list(r->proj, q, on_list, rd) != 0) {
        free(rd);
        snprintf(err, TASK_ERR_LEN, READS_BUS_DOWN);
        return -1;
    }
    return sent(rd, err);
}

int reads_stats(struct reads *r, struct request *req, long long now_ms, char *err)
{
    struct read *rd = read_new(r, req);
    if (!rd || snapshots_read(r->bus, now_ms, on_list, rd) != 0) {
        free(rd);
        snprintf(err, TASK_ERR_LEN, READS_BUS_DOWN);
        return -1;
    }
    return sent(rd, err);
}
