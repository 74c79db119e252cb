/* The HTTP requests the frontend holds suspended while the pipeline works, each with its own deadline. Each is
 * resumed exactly once: by its answer, by its deadline, or at shutdown. Loop thread only. */
#ifndef TASKBUS_PENDING_H
#define TASKBUS_PENDING_H

#include <stddef.h>

#include "idem.h"
#include "replica.h"
#include "task.h"
#include "trace.h"

struct MHD_Connection;
struct event_base;
struct pending;
struct dispatch;

enum request_state { REQUEST_READING, REQUEST_CLAIMING, REQUEST_WAITING, REQUEST_DONE };

/* Per-connection state, created on MHD's first call and freed by request_release after MHD's completion. */
struct request {
    char id[TASK_ID_LEN];            /* correlation id: the task id, a history query's id, or (a request replaying an
                                        Idempotency-Key) its own id while 'task_id' names the task it replays */
    char task_id[TASK_ID_LEN];       /* ROUTE_TASK: the task the client is told about */
    struct MHD_Connection *conn;
    enum request_state state;
    int route;                       /* enum route */
    char history_of[TASK_ID_LEN];    /* ROUTE_HISTORY: the task asked about */
    char *body;
    size_t len, cap;
    int too_large;
    int status;                      /* the answer, once REQUEST_DONE */
    char *response;
    const char *allow;               /* the Allow header of a 405 */
    char events_id[REPLICA_ID_LEN];  /* the events replica it was sent to */
    int counted;                     /* counted in that replica's outstanding */
    char *outbound;                  /* the message being published, kept for a retry on another replica */
    int publishing;                  /* bus callbacks still due that refer to the request */
    int handoff;                     /* times the task was re-sent to an events replica after losing one */
    int resend;                      /* re-send at the next registry refresh (the bus failed, or reconnected) */
    int held;                        /* kept after its 504 until its outcome is known (dispatch's orphans) */
    long long orphan_until_ms;
    char idem_key[IDEM_KEY_MAX + 1]; /* the Idempotency-Key this request carries, "" when none */
    int async;                       /* POST /task with Prefer: respond-async: answered 202 once accepted */
    int io_claimed_new;              /* it claimed the key for a new task (a refusal then frees the key again) */
    int completed;                   /* MHD is done with the connection */
    struct event *deadline;
    struct pending *owner;
    struct dispatch *via;            /* who sent it, for the publish callback */
    int attempts;
    double started;                  /* clock_mono_s() when its head arrived */
    double published;                /* clock_mono_s() at its last publish */
    struct trace trace;              /* the request's W3C trace (dispatch_trace_start); id "" when it has none */
};

/* 'timeout_ms' is every request's deadline. 'on_timeout' runs for a request whose deadline passed, before it
 * is answered (to release what the caller holds for it). Returns NULL when out of memory. */
struct pending *pending_new(struct event_base *base, long timeout_ms,
                            void (*on_timeout)(struct request *req, void *arg), void *arg);

/* Call 'fn' after every resume: in external polling mode MHD only notices a resumed connection when it runs next. */
void pending_on_resume(struct pending *p, void (*fn)(void *arg), void *arg);

/* A new request for 'conn'. Returns NULL when out of memory. */
struct request *request_new(struct pending *p, struct MHD_Connection *conn);

/* Free 'req' once MHD is done with it, no bus callback refers to it and nothing holds it. Call from MHD's completion with
 * 'completed' = 1, and from a publish callback after decrementing 'publishing' with 'completed' = 0. */
void request_release(struct request *req, int completed);

/* Register a suspended request under its id and start its deadline. Returns 0, or -1 when out of memory. */
int pending_add(struct pending *p, struct request *req);

/* Take 'req' out of the table and stop its deadline without answering it (it is about to be sent elsewhere and
 * added again under a new id). */
void pending_forget(struct pending *p, struct request *req);

/* The pending request with correlation id 'id', or NULL. */
struct request *pending_lookup(struct pending *p, const char *id);

/* Answer a request in hand (pending or not yet added) and resume it. */
void pending_answer_request(struct pending *p, struct request *req, int status, char *response);

/* Call 'fn' once no request is pending (at once when none is); NULL cancels. For shutdown. */
void pending_when_idle(struct pending *p, void (*fn)(void *arg), void *arg);

/* Requests suspended now. */
size_t pending_count(const struct pending *p);

/* Call 'fn' for each pending request; 'fn' may answer it (the requests are collected first). */
void pending_each(struct pending *p, void (*fn)(struct request *req, void *arg), void *arg);

/* Answer every pending request with 'status' and a JSON error 'message' (shutdown). */
void pending_answer_all(struct pending *p, int status, const char *message);

/* Free the table. Every request must have been answered. NULL-safe. */
void pending_free(struct pending *p);

#endif
