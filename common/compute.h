/* Computing a task's result and formatting it as the API's result string. Pure: no I/O. */
#ifndef TASKBUS_COMPUTE_H
#define TASKBUS_COMPUTE_H

#include "task.h"

#define COMPUTE_NUM_LEN 32 /* enough for any double formatted by compute_format_number */

/* Format a finite double the way the API answers: integral values below 1e21 in magnitude without a decimal point
 * ("15", "-3", "100000000000000000000"), everything else in the shortest %g text that reads back as the same double
 * ("0.5714285714285714", "1e+21"). Writes at most COMPUTE_NUM_LEN bytes including the NUL into 'buf'. */
void compute_format_number(double x, char *buf);

/* Compute 't'. Returns 0 and sets '*result' to a malloc'd string the caller frees. On a task that has no result
 * (division by zero, a result that is not a finite number) returns -1 and writes a client-readable message into
 * 'err' (TASK_ERR_LEN bytes). Returns -2 when out of memory. */
int compute_task(const struct task *t, char **result, char *err);

#endif
