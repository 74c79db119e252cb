/* Idempotency-Key (IETF httpapi draft): the decisions, without I/O. A key's record in Redis is
 * "<body fingerprint> <task id> <events replica>"; a POST that finds it either replays that task (same body) or is
 * refused (another body). Pure. */
#ifndef TASKBUS_IDEM_H
#define TASKBUS_IDEM_H

#include <stddef.h>

#include "replica.h"
#include "task.h"

#define IDEM_KEY_MAX 128          /* longest accepted key */
#define IDEM_FP_LEN 17            /* a fingerprint: 16 hex digits and NUL */
#define IDEM_VALUE_LEN (IDEM_FP_LEN + TASK_ID_LEN + REPLICA_ID_LEN + 2)

enum idem_decision {
    IDEM_REPLAY,                  /* same key, same body: answer the recorded task */
    IDEM_CONFLICT,                /* same key, another body: 422 */
    IDEM_CORRUPT,                 /* a record this code did not write: treat as a conflict, say so */
};

/* 1 when 'key' (the header's value) is usable: 1 to IDEM_KEY_MAX printable ASCII characters without spaces. The
 * draft allows any string; this keeps Redis key names and log lines plain. */
int idem_key_valid(const char *key);

/* The body's fingerprint (FNV-1a, 64 bits, as 16 hex digits) into 'fp' (IDEM_FP_LEN bytes). It tells a retry from a
 * different request with a reused key; it is not a security boundary (keys are per client). */
void idem_fingerprint(const char *body, size_t len, char *fp);

/* Write the record for a new task into 'out' (IDEM_VALUE_LEN bytes). */
void idem_value(const char *fp, const char *task_id, const char *events_id, char *out);

/* Decide what to do with the record 'stored' found under a key, for a request with fingerprint 'fp'. On
 * IDEM_REPLAY and IDEM_CONFLICT copies the recorded task id into 'task_id' (TASK_ID_LEN bytes) and its events
 * replica into 'events_id' (REPLICA_ID_LEN bytes). */
enum idem_decision idem_decide(const char *stored, const char *fp, char *task_id, char *events_id);

#endif
