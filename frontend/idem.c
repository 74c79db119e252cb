/* Idempotency-Key records: validation, fingerprints, and the replay-or-conflict decision. */
#include "idem.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "msg.h"

int idem_key_valid(const char *key)
{
    size_t n = 0;
    for (; key[n]; n++)
        if ((unsigned char)key[n] <= 0x20 || (unsigned char)key[n] >= 0x7f)
            return 0;
    return n > 0 && n <= IDEM_KEY_MAX;
}

void idem_fingerprint(const char *body, size_t len, char *fp)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)body[i];
        h *= 1099511628211ULL;
    }
    snprintf(fp, IDEM_FP_LEN, "%016llx", (unsigned long long)h);
}

void idem_value(const char *fp, const char *task_id, const char *events_id, char *out)
{
    snprintf(out, IDEM_VALUE_LEN, "%s %s %s", fp, task_id, events_id);
}

enum idem_decision idem_decide(const char *stored, const char *fp, char *task_id, char *events_id)
{
    char sfp[IDEM_FP_LEN], sid[TASK_ID_LEN], sev[REPLICA_ID_LEN];
    if (strlen(stored) >= IDEM_VALUE_LEN || sscanf(stored, "%16s %39s %95s", sfp, sid, sev) != 3 ||
        strlen(sfp) != IDEM_FP_LEN - 1 || !msg_valid_name(sid, TASK_ID_LEN - 1) ||
        !msg_valid_name(sev, REPLICA_ID_LEN - 1))
        return IDEM_CORRUPT;
    memcpy(task_id, sid, TASK_ID_LEN);
    memcpy(events_id, sev, REPLICA_ID_LEN);
    return strcmp(sfp, fp) == 0 ? IDEM_REPLAY : IDEM_CONFLICT;
}
