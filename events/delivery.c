/* Sending a task to a backend replica, and sending it again when that replica is gone. Each send is an attempt
 * with a fresh random token; only a result carrying the current attempt's token completes the task. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "job.h"
#include "log.h"
#include "metrics.h"
#include "policy.h"
#include "store.h"

void delivery_unwait(struct job *job)
{
    if (!job->waiting)
        return;
    struct job **p = &job->r->waiting;
    while (*p && *p != job)
        p = &(*p)->next_waiting;
    if (*p)
        *p = job->next_waiting;
    job->waiting = 0;
    job->next_waiting = NULL;
}

void delivery_release(struct job *job)
{
    struct replica *rep = job->counted ? replica_find(job->set, job->backend) : NULL;
    if (rep && rep->outstanding > 0)
        rep->outstanding--;
    job->counted = 0;
}

/* No replica can take the task now: log its arrival if that is not done yet, and wait for the next refresh. */
static void park(struct job *job)
{
    delivery_release(job);
    job->backend[0] = '\0';
    job->token[0] = '\0';
    if (job->seq % STORE_HANDOFF_STRIDE == 0)
        job_log_step(job);
    if (job->waiting)
        return;
    job->waiting = 1;
    job->next_waiting = job->r->waiting;
    job->r->waiting = job;
}

static void new_token(char *token)
{
    unsigned char rnd[(MSG_TOKEN_LEN - 1) / 2];
    clock_random(rnd, sizeof rnd);
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof rnd; i++) { /* snprintf per byte was ~2 % of events' CPU */
        token[2 * i] = hex[rnd[i] >> 4];
        token[2 * i + 1] = hex[rnd[i] & 0xf];
    }
    token[2 * sizeof rnd] = '\0';
}

static void on_published(long long receivers, void *arg)
{
    struct job *job = arg;
    job->callbacks--;
    /* Redis answers our publishes in order, so this answer is the current attempt's only when it is the last. */
    int current = ++job->dispatch_acks == job->attempts;
    if (current && !job->finishing) {
        switch (policy_after_publish(receivers)) {
        case POLICY_KEEP:
            break;
        case POLICY_REDELIVER:
            replica_set_remove(job->set, job->backend);
            job->counted = 0;
            delivery_redeliver(job, "no subscriber");
            break;
        case POLICY_WAIT:
            LOG_I("event=dispatch_unknown task=%s" LOG_TRACE " backend=%s reason=\"bus failed\"", job->id,
                  LOG_TRACE_ARG(job->task.trace), job->backend);
            park(job);
            break;
        }
    }
    job_release(job);
}

void delivery_send(struct job *job)
{
    struct router *r = job->r;
    char error[TASK_ERR_LEN], channel[MSG_CHANNEL_LEN];

    if (job->finishing)
        return;
    if (!policy_may_attempt(job->attempts, r->cfg.max_attempts)) {
        snprintf(error, sizeof error, "replicas of service '%s' vanished during %d attempts", job->service,
                 job->attempts);
        job_finish(job, 503, NULL, error);
        return;
    }
    struct replica *rep = replica_pick(job->set, clock_wall_ms());
    if (!rep) {
        park(job);
        return;
    }
    msg_channel(channel, rep->id);
    struct msg out = job->task;
    out.reply_to = r->channel;
    out.ref[0] = '\0';
    out.handoff = 0;
    out.keep_s = 0;
    new_token(out.token);
    char *text = msg_encode(&out);
    if (!text || r->io.publish(r->io.bus, channel, text, strlen(text), on_published, job) != 0) {
        free(text);
        park(job);
        return;
    }
    free(text);
    memcpy(job->token, out.token, sizeof job->token);
    snprintf(job->backend, sizeof job->backend, "%s", rep->id);
    job->attempts++;
    job->sent = clock_mono_s();
    if (job->attempts == 1)
        metric_observe(r->cfg.metrics.queue, job->sent - job->arrived);
    job->callbacks++;
    rep->outstanding++;
    job->counted = 1;
    job_log_step(job);
}

void delivery_redeliver(struct job *job, const char *why)
{
    LOG_I("event=redeliver task=%s" LOG_TRACE " backend=%s attempt=%d reason=\"%s\"", job->id,
          LOG_TRACE_ARG(job->task.trace), job->backend, job->attempts, why);
    job->r->stats.redelivered++;
    delivery_release(job);
    job->backend[0] = '\0';
    job->token[0] = '\0';
    delivery_send(job);
}
