/* The messages replicas send each other over the bus, and their JSON encoding. Pure: no I/O. */
#ifndef TASKBUS_MSG_H
#define TASKBUS_MSG_H

#include <stddef.h>

#include "task.h"

enum msg_kind {
    MSG_TASK,     /* frontend -> events, and events -> backend: do this task */
    MSG_RESULT,   /* backend -> events, and events -> frontend: the task's outcome */
    MSG_HISTORY,  /* frontend -> events: a query; events -> frontend: the answer */
};

/* One message. Strings are owned by the struct (free with msg_clear) and NULL when absent. */
struct msg {
    enum msg_kind kind;
    char id[TASK_ID_LEN];       /* the task id (MSG_HISTORY: the query's own id, to correlate the answer) */
    char *reply_to;             /* channel that gets the answer */
    char *origin;               /* frontend replica that holds the HTTP request (travels with the task) */
    struct task task;           /* MSG_TASK only */
    char *request;              /* MSG_TASK: the client's body as received, for the log;
                                   MSG_HISTORY query: the id of the task whose history is asked for */
    long timeout_ms;            /* MSG_TASK: the budget left when the message was sent */
    int status;                 /* MSG_RESULT and MSG_HISTORY answers: the HTTP status to answer with */
    char *result;               /* MSG_RESULT on success */
    char *error;                /* MSG_RESULT / MSG_HISTORY on failure: a client-readable message */
    char *replica;              /* MSG_RESULT: the backend replica that computed it */
    char *history;              /* MSG_HISTORY answer: a JSON array, as text */
};

/* Encode 'ev' as a JSON text. Returns a malloc'd NUL-terminated string the caller frees, or NULL when out of
 * memory. Fields that are NULL or do not belong to the kind are left out. */
char *msg_encode(const struct msg *ev);

/* Decode a message of 'len' bytes. Returns 0 and fills 'ev' (free with msg_clear), or -1 with a reason in 'err'
 * (TASK_ERR_LEN bytes) when the text is not a message of a known kind with the fields that kind needs. On failure
 * 'id' and 'reply_to' stay filled when the message had them, so the sender can be answered; call msg_clear. */
int msg_decode(const char *text, size_t len, struct msg *ev, char *err);

/* Free what 'ev' owns and zero it. NULL-safe. */
void msg_clear(struct msg *ev);

#endif
