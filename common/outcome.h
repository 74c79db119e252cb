/* Each task's answer, kept in Redis for a while, so a task that reaches another events replica again (a frontend
 * re-sent it after its events replica vanished, the two raced, or a client replayed its Idempotency-Key) is
 * answered with the task's one outcome instead of running again. Key "taskbus:outcome:<task id>", value the answer
 * message as sent to the frontend. The first answer kept for a task wins (SET NX): a replica that finds one kept
 * already records and answers that one, so the log's outcome and the kept answer never disagree. Loop thread only. */
#ifndef TASKBUS_OUTCOME_H
#define TASKBUS_OUTCOME_H

#include <stddef.h>

struct bus;

#define OUTCOME_KEY_FMT "taskbus:outcome:%s"

/* Redis's answer to outcome_keep: 0 when 'answer' is now the kept one; 1 when another was kept already ('kept' is
 * it, 'len' bytes, valid only during the call); -1 when the command failed. */
typedef void (*outcome_kept_fn)(int rc, const char *kept, size_t len, void *arg);

/* Keep 'answer' ('len' bytes) as task 'task_id''s answer for 'ttl_s' seconds unless one is kept already. 'cb' runs
 * once, from the loop. Returns 0 when sent, -1 when the bus is down ('cb' never runs). */
int outcome_keep(struct bus *b, const char *task_id, const char *answer, size_t len, long ttl_s, outcome_kept_fn cb,
                 void *arg);

/* Replace the kept answer of 'task_id' by 'answer' (the one the log holds, read back after a race). Returns 0 when
 * sent, -1 when the bus is down. */
int outcome_replace(struct bus *b, const char *task_id, const char *answer, size_t len, long ttl_s);

/* The answer kept for 'task_id': 'answer' is NULL when there is none or the bus failed; valid only during the call. */
typedef void (*outcome_loaded_fn)(const char *answer, size_t len, void *arg);

/* Ask for task 'task_id''s answer. Returns 0 when asked ('cb' runs once, from the loop), -1 when the bus is down
 * ('cb' never runs). */
int outcome_load(struct bus *b, const char *task_id, outcome_loaded_fn cb, void *arg);

#endif
