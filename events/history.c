/* History queries: read a task's records from the store and answer the frontend that asked. */
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "log.h"

struct query {
    struct router *r;
    char id[TASK_ID_LEN];        /* the query's own id, to correlate the answer */
    char trace[TRACE_ID_LEN];    /* the reading request's trace id, carried back */
    char *reply_to;
};

static void on_history(char *json, const char *err, void *ctx)
{
    struct query *q = ctx;
    struct msg out = { .kind = MSG_HISTORY };
    memcpy(out.id, q->id, sizeof out.id);
    memcpy(out.trace, q->trace, sizeof out.trace);
    if (json) {
        out.status = strcmp(json, "[]") == 0 ? 404 : 200;
        out.history = json;
        if (out.status == 404)
            out.error = "no task with this id is in the log";
    } else {
        out.status = 503;
        out.error = (char *)err;
    }
    char *text = msg_encode(&out);
    if (!text || q->r->io.publish(q->r->io.bus, q->reply_to, text, strlen(text), NULL, NULL) != 0)
        LOG_W("event=history_answer_lost query=%s" LOG_TRACE, q->id, LOG_TRACE_ARG(q->trace));
    free(text);
    free(json);
    free(q->reply_to);
    free(q);
}

void history_query(struct router *r, struct msg *m)
{
    struct query *q = calloc(1, sizeof *q);
    if (!q)
        return;
    q->r = r;
    memcpy(q->id, m->id, sizeof q->id);
    memcpy(q->trace, m->trace, sizeof q->trace);
    q->reply_to = m->reply_to;
    m->reply_to = NULL;
    if (r->io.history(r->io.store, m->request, on_history, q) != 0) {
        free(q->reply_to);
        free(q);
    }
}
