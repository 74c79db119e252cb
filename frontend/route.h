/* Which handler an HTTP request goes to. Pure: no I/O. */
#ifndef TASKBUS_ROUTE_H
#define TASKBUS_ROUTE_H

#include "task.h"

enum route {
    ROUTE_HEALTH,          /* GET / */
    ROUTE_TASK,            /* POST /task */
    ROUTE_HISTORY,         /* GET /task/{id} */
    ROUTE_LIST,            /* GET /tasks */
    ROUTE_METRICS,         /* GET /metrics */
    ROUTE_DASHBOARD,       /* GET /dashboard: the page */
    ROUTE_DASHBOARD_STATS, /* GET /dashboard/stats: its data */
    ROUTE_NOT_FOUND,       /* 404 */
    ROUTE_BAD_METHOD,      /* 405: the path exists, the method does not */
    ROUTE_BAD_ID,          /* 400: GET /task/{id} with an id that cannot be one of ours */
};

/* Match 'method' and 'url' (path only; MHD strips the query string). For ROUTE_HISTORY copies the id into 'id'
 * (TASK_ID_LEN bytes). For ROUTE_BAD_METHOD sets '*allow' to the methods the path takes. */
enum route route_match(const char *method, const char *url, char *id, const char **allow);

/* 1 when the Prefer header value 'prefer' (RFC 7240: comma-separated preferences, each maybe with a value and
 * parameters; NULL when absent) holds respond-async, in any case. */
int route_prefers_async(const char *prefer);

/* 1 when 's' looks like a task id: 1..TASK_ID_LEN-1 characters of [0-9A-Za-z-]. */
int route_valid_id(const char *s);

#endif
