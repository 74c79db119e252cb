/* What a client reads about tasks: the view of one task derived from its log records (GET /task/{id}), and the
 * listing of recent tasks (GET /tasks) with its query and cursor. Pure: no I/O.
 *
 * A task's status is the furthest of its records: "received" without a backend is pending (no live replica
 * took it yet), "received" with one or "dispatched" is running, "completed" and "failed" are final. The same
 * function derives the view from the projection's copy of the records and from the log's, so both answer alike. */
#ifndef TASKBUS_TASKVIEW_H
#define TASKBUS_TASKVIEW_H

#include <stddef.h>

#include "task.h"

enum taskview_status { TASKVIEW_NONE, TASKVIEW_PENDING, TASKVIEW_RUNNING, TASKVIEW_COMPLETED, TASKVIEW_FAILED };

#define TASKVIEW_LIST_MAX 100        /* most tasks on one page of GET /tasks */
#define TASKVIEW_LIST_DEFAULT 20
#define TASKVIEW_KEY_LEN 160         /* an index key: "taskbus:index:<bucket>:<service>" */
#define TASKVIEW_SERVICE_LEN 64      /* a service name: up to 63 characters */
#define TASKVIEW_CURSOR_LEN 64       /* "<16 digits of created ms>:<task id>" */

/* The status a record of 'type' gives its task ("received" needs 'has_backend' to tell pending from running);
 * TASKVIEW_NONE for an unknown type. */
enum taskview_status taskview_status_of(const char *type, int has_backend);

/* "pending", "running", "completed", "failed"; NULL for TASKVIEW_NONE. */
const char *taskview_status_name(enum taskview_status s);

/* Parse a status name; TASKVIEW_NONE when it is not one. */
enum taskview_status taskview_status_parse(const char *name);

/* The body of GET /task/{id} for task 'id' from its records, 'n' JSON object texts in any order (texts[i] of
 * lens[i] bytes): {"message":"OK","id","status","taskType","service","created","result"|"error"+"code",
 * "history":[records in seq order]}. Returns a malloc'd text, or NULL when out of memory or when no record is
 * a JSON object of this task ('*found' 0 then, 1 otherwise). */
char *taskview_render(const char *id, const char *const *texts, const size_t *lens, size_t n, int *found);

/* The same from a JSON array of records (the log's answer). */
char *taskview_render_array(const char *id, const char *array, int *found);

/* "2026-12-01T20:41:00.123Z" for 'ms' since the epoch (no fraction when it is 0, as libbson writes dates), into
 * 'buf' (32 bytes). */
void taskview_iso8601(long long ms, char *buf);

/* A GET /tasks query, validated. */
struct taskview_query {
    char bucket[16];                  /* the index bucket to read (taskview_bucket); "" for all of them */
    char service[TASKVIEW_SERVICE_LEN]; /* the service to list; "" for every service */
    char only[16];                    /* "pending" or "running": keep only tasks of that status; "" keeps all */
    char after[TASKVIEW_CURSOR_LEN];  /* "" for the first page */
    int limit;
};

/* Validate the query parameters (each NULL or "" when absent) and pick the index. Returns 0, or -1 with a client-readable
 * reason in 'err' (TASK_ERR_LEN bytes). */
int taskview_parse_query(const char *status, const char *service, const char *limit, const char *after,
                         struct taskview_query *q, char *err);

/* The index bucket of a task of 'status': completed and failed tasks have one each; pending and running tasks share
 * "open" (a task moves at most once, with its outcome, so most tasks are written to one index set only). */
const char *taskview_bucket(enum taskview_status status);

/* The index set of tasks of 'status' and 'service' ("" when the task has none), into 'key' (TASKVIEW_KEY_LEN
 * bytes): "taskbus:index:<bucket>:<service>", as the projection's apply script writes it. */
void taskview_index_key(enum taskview_status status, const char *service, char *key);

/* The index member of a task: "<created ms, 16 digits>:<id>", so members sort by creation time, into 'member'
 * (TASKVIEW_CURSOR_LEN bytes). */
void taskview_member(long long created_ms, const char *id, char *member);

/* One task of a listing, as read from the projection: each string NULL when absent. */
struct taskview_item {
    const char *id, *status, *task_type, *service, *created_ms, *result, *error, *code;
};

/* The body of GET /tasks: {"message":"OK","tasks":[...],"next":<cursor or null>}. Returns a malloc'd text or NULL
 * when out of memory. */
char *taskview_render_list(const struct taskview_item *items, size_t n, const char *next);

#endif
