/* Each task's answer, kept in Redis for a while after its outcome is stored, so a task that reaches another events
 * replica again (a frontend re-sent it after its events replica vanished, or the two raced) is answered with the
 * outcome the log holds instead of running again. Key "taskbus:outcome:<task id>", value the answer message as
 * sent to the frontend. Loop thread only. */
#ifndef TASKBUS_OUTCOME_H
#define TASKBUS_OUTCOME_H

#include <stddef.h>

struct bus;

#define OUTCOME_KEY_FMT "taskbus:outcome:%s"

/* Keep 'answer' ('len' bytes) as task 'task_id''s answer for 'ttl_s' seconds (0: do nothing). Returns 0 when sent,
 * -1 when the bus is down (the answer is then not kept; nothing else depends on it). */
int outcome_save(struct bus *b, const char *task_id, const char *answer, size_t len, long ttl_s);

/* The answer kept for 'task_id': 'answer' is NULL when there is none or the bus failed; valid only during the call. */
typedef void (*outcome_loaded_fn)(const char *answer, size_t len, void *arg);

/* Ask for task 'task_id''s answer. Returns 0 when asked ('cb' runs once, from the loop), -1 when the bus is down
 * ('cb' never runs). */
int outcome_load(struct bus *b, const char *task_id, outcome_loaded_fn cb, void *arg);

#endif
