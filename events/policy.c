/* Delivery and admission decisions of the events service. */
#include "policy.h"

#include <stdio.h>

enum policy_action policy_after_publish(long long receivers)
{
    if (receivers > 0)
        return POLICY_KEEP;
    return receivers == 0 ? POLICY_REDELIVER : POLICY_WAIT;
}

int policy_may_attempt(int attempts, long max_attempts)
{
    return attempts < max_attempts;
}

int policy_admit(size_t jobs, long max_jobs, size_t backlog, long max_backlog, char *err)
{
    if (jobs >= (size_t)max_jobs) {
        snprintf(err, TASK_ERR_LEN, "the events replica holds %zu tasks (MAX_JOBS); retry later", jobs);
        return 503;
    }
    if (backlog >= (size_t)max_backlog) {
        snprintf(err, TASK_ERR_LEN, "the event log is behind by %zu records (STORE_MAX_BACKLOG); retry later", backlog);
        return 503;
    }
    return 0;
}
