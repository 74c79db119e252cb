/* The messages replicas send each other over the bus, and their JSON encoding. Pure: no I/O. */
#ifndef TASKBUS_MSG_H
#define TASKBUS_MSG_H

#include <stddef.h>

#include "task.h"
#include "trace.h"

/* Every replica listens on its own channel "taskbus:<replica id>"; answers go to the channel a message names. */
#define MSG_CHANNEL_PREFIX "taskbus:"
#define MSG_CHANNEL_LEN 112     /* prefix + a replica id (REPLICA_ID_LEN) */
#define MSG_TOKEN_LEN 33        /* an attempt token: up to 32 characters plus NUL */
#define MSG_MAX_TIMEOUT_MS 600000
#define MSG_MAX_LEN (40L << 20)
#define MSG_MAX_HANDOFF 99
#define MSG_MAX_KEEP_S 604800   /* a week */
#define MSG_MAX_RETRY_AFTER_S 3600      /* a task is handed to another events replica at most this many times */ /* a bus message larger than this is refused before it is parsed */

enum msg_kind {
    MSG_TASK,     /* frontend -> events, and events -> backend: do this task */
    MSG_RESULT,   /* backend -> events, and events -> frontend: the task's outcome */
    MSG_HISTORY,  /* frontend -> events: a query; events -> frontend: the answer */
};

/* One message. Strings are owned by the struct (free with msg_clear) and NULL when absent. */
struct msg {
    enum msg_kind kind;
    char id[TASK_ID_LEN];       /* the task id (MSG_HISTORY: the query's own id, to correlate the answer) */
    char ref[TASK_ID_LEN];      /* MSG_TASK from a frontend and MSG_RESULT to it: the request's own correlation id
                                   when it differs from the task id (a retry joining a task); "" when the same */
    char *reply_to;             /* channel that gets the answer */
    char *origin;               /* frontend replica that holds the HTTP request (travels with the task) */
    struct task task;           /* MSG_TASK only */
    char *request;              /* MSG_TASK: the client's body as received, for the log;
                                   MSG_HISTORY query: the id of the task whose history is asked for */
    long timeout_ms;            /* MSG_TASK: the budget left when the message was sent */
    long keep_s;                /* MSG_TASK from a frontend: keep the answer at least this long (seconds) for
                                   replays of an Idempotency-Key; 0 for the events replica's default */
    int async;                  /* MSG_TASK from a frontend: the client asked for 202 Accepted (Prefer: respond-async);
                                   events answers status 202 once the task's arrival is stored */
    int handoff;                /* MSG_TASK from a frontend: 0 the first time; k > 0 when the task was sent to
                                   another events replica before (it may have records, even an outcome) */
    int status;                 /* MSG_RESULT and MSG_HISTORY answers: the HTTP status to answer with */
    char *result;               /* MSG_RESULT on success; a 202 (accepted, see 'async'): "pending" or "running" */
    char *error;                /* MSG_RESULT / MSG_HISTORY on failure: a client-readable message */
    char *replica;              /* MSG_RESULT: the backend replica that computed it */
    int retry_after_s;          /* MSG_RESULT (a 503): the task was refused, not accepted (a cap was full); the
                                   sender may retry after this many seconds. 0 otherwise */
    char *history;              /* MSG_HISTORY answer: a JSON array, as text */
    char token[MSG_TOKEN_LEN];  /* events -> backend task and backend -> events result: the attempt it belongs to,
                                   so only the replica an attempt went to can complete it; "" when absent */
    char trace[TRACE_ID_LEN];   /* any kind: the W3C trace id of the request the message is about; "" when none */
};

/* Write the channel of replica 'replica_id' ("taskbus:<id>") into 'buf' (MSG_CHANNEL_LEN bytes). */
void msg_channel(char *buf, const char *replica_id);

/* 1 when 's' is a usable id: 1 to 'max_len' characters of letters, digits, '-', '_' and '.' (nothing a log line,
 * a record _id "<task>:<seq>" or a channel name would need to escape). */
int msg_valid_name(const char *s, size_t max_len);

/* Encode 'ev' as a JSON text. Returns a malloc'd NUL-terminated string the caller frees, or NULL when out of
 * memory. Fields that are NULL or do not belong to the kind are left out. */
char *msg_encode(const struct msg *ev);

/* Decode a message of 'len' bytes and validate it once, here, so receivers can trust every field they use:
 *   - every kind: a known "kind"; an "id" that passes msg_valid_name (TASK_ID_LEN - 1 characters at most);
 *     "replyTo", when present, is "taskbus:" and a valid name; "origin", "token" and "ref" are valid names;
 *     "trace", when present, is a trace id (trace_id_valid: 32 lowercase hex digits, not all zero);
 *   - task: "replyTo", a type, an operation, two operands of that type, "timeoutMs" from 1 to MSG_MAX_TIMEOUT_MS,
 *     "handoff" (optional) from 0 to MSG_MAX_HANDOFF, "keepS" (optional) from 0 to MSG_MAX_KEEP_S;
 *   - result: "status" 100..599; a 200 carries "result", a 202 "result" "pending" or "running", any other
 *     status carries "error"; "retryAfter"
 *     (optional) 1..MSG_MAX_RETRY_AFTER_S;
 *   - history query (no status): "replyTo" and "requestBody" naming a valid task id; history answer: a 200
 *     carries "history", any other status carries "error".
 * Returns 0 and fills 'ev' (free with msg_clear), or -1 with a reason in 'err' (TASK_ERR_LEN bytes) that never
 * repeats the message's own bytes (safe to log as is). On failure 'id' and 'reply_to' stay filled when they were
 * valid, so the sender can be answered; always call msg_clear. */
int msg_decode(const char *text, size_t len, struct msg *ev, char *err);

/* Free what 'ev' owns and zero it. NULL-safe. */
void msg_clear(struct msg *ev);

#endif
