/* GET /task/{id} and GET /tasks: answered from the projection in Redis (common/projection.h), one O(1) read that
 * never touches the event log's store; a task the projection does not hold (past TASK_RETENTION_S, or created
 * before the projection existed) is read from the log through an events replica (dispatch_history), whose reader
 * thread never holds up a write. GET /dashboard/stats: every replica's metrics snapshot (snapshots.h). Loop thread
 * only. */
#ifndef TASKBUS_READS_H
#define TASKBUS_READS_H

#include "pending.h"
#include "taskview.h"

struct bus;
struct dispatch;
struct projection;
struct reads;

/* All four must outlive it. Returns NULL when out of memory. */
struct reads *reads_new(struct projection *proj, struct dispatch *dispatch, struct pending *pending, struct bus *bus);
void reads_free(struct reads *r);

/* Start answering GET /task/{req->history_of}. Returns 0 when under way (the request is pending: suspend it; it is
 * answered like any pending request, by its answer, its deadline or shutdown), or -1 with a client-readable reason
 * in 'err' (TASK_ERR_LEN bytes) for a 503 now. */
int reads_task(struct reads *r, struct request *req, char *err);

/* The same for one page of GET /tasks, 'q' from taskview_parse_query. */
int reads_list(struct reads *r, struct request *req, const struct taskview_query *q, char *err);

/* The same for GET /dashboard/stats: the live snapshots of the whole pipeline, read at wall time 'now_ms'. */
int reads_stats(struct reads *r, struct request *req, long long now_ms, char *err);

#endif
