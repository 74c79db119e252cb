/* The routing table of task-maps.json: task type -> name of the backend service that executes it. Pure: no I/O. */
#ifndef TASKBUS_TASKMAP_H
#define TASKBUS_TASKMAP_H

#include <stddef.h>

#include "task.h"

#define TASKMAP_SERVICE_LEN 64

struct taskmap {
    char service[2][TASKMAP_SERVICE_LEN]; /* indexed by enum task_type; "" when unmapped */
};

/* Parse the JSON text of a task map: an object whose keys are task type names ("NUMBER", "STRING") and whose
 * values are service names (letters, digits, '-', '_', at most TASKMAP_SERVICE_LEN-1 characters). Returns 0 and
 * fills 'map', or -1 with a reason in 'err' (TASK_ERR_LEN bytes). Unknown task types are an error; a type that
 * is not named stays unmapped. */
int taskmap_parse(const char *text, size_t len, struct taskmap *map, char *err);

/* The service for 'type', or NULL when the map has none. The pointer lives as long as 'map'. */
const char *taskmap_route(const struct taskmap *map, enum task_type type);

#endif
