/* In-process tests of the frontend's dispatcher and pending table against a fake bus: every path a request can take
 * between its publish and its one resume. libmicrohttpd is not linked: MHD_resume_connection is recorded here. */
#include <event2/event.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dispatch.h"
#include "idem.h"
#include "log.h"
#include "msg.h"
#include "pending.h"
#include "route.h"

#define FAKE_MAX 16

/* The bus: records what is published and holds each callback until the test delivers Redis's answer. */
struct fake {
    int ready, refuse;
    long long now;
    int published;
    char channel[FAKE_MAX][MSG_CHANNEL_LEN];
    char *data[FAKE_MAX];
    dispatch_published_fn cb[FAKE_MAX];
    void *arg[FAKE_MAX];
    int delivered;
    char claimed_key[IDEM_KEY_MAX + 1], claimed_value[IDEM_VALUE_LEN], unclaimed[IDEM_KEY_MAX + 1];
    dispatch_claimed_fn claim_cb;     /* a claim waiting for Redis's answer */
    void *claim_arg;
    dispatch_unclaimed_fn unclaim_cb; /* a DEL of a claim waiting for Redis's answer */
    void *unclaim_arg;
};

static int fake_claim(void *ctx, const char *key, const char *value, long ttl_s, dispatch_claimed_fn cb, void *arg)
{
    struct fake *f = ctx;
    (void)ttl_s;
    if (f->refuse)
        return -1;
    snprintf(f->claimed_key, sizeof f->claimed_key, "%s", key);
    snprintf(f->claimed_value, sizeof f->claimed_value, "%s", value);
    f->claim_cb = cb;
    f->claim_arg = arg;
    return 0;
}

static int fake_unclaim(void *ctx, const char *key, dispatch_unclaimed_fn cb, void *arg)
{
    struct fake *f = ctx;
    snprintf(f->unclaimed, IDEM_KEY_MAX + 1, "%s", key);
    f->unclaim_cb = cb;
    f->unclaim_arg = arg;
    return 0;
}

/* Redis answers the DEL of a claim. */
static void fake_unclaimed(struct fake *f)
{
    dispatch_unclaimed_fn cb = f->unclaim_cb;
    f->unclaim_cb = NULL;
    if (CHECK(cb != NULL))
        cb(f->unclaim_arg);
}

/* Redis answers the claim: 0 it was free, 1 it holds 'stored', -1 failed. */
static void fake_claimed(struct fake *f, int rc, const char *stored)
{
    dispatch_claimed_fn cb = f->claim_cb;
    f->claim_cb = NULL;
    if (CHECK(cb != NULL))
        cb(rc, stored, f->claim_arg);
}

static int fake_publish(void *ctx, const char *channel, const char *data, size_t len, dispatch_published_fn cb,
                        void *arg)
{
    struct fake *f = ctx;
    if (f->refuse || f->published == FAKE_MAX)
        return -1;
    snprintf(f->channel[f->published], sizeof f->channel[0], "%s", channel);
    f->data[f->published] = strndup(data, len);
    f->cb[f->published] = cb;
    f->arg[f->published] = arg;
    f->published++;
    return 0;
}

static int fake_ready(void *ctx)
{
    return ((struct fake *)ctx)->ready;
}

static long long fake_now(void *ctx)
{
    return ((struct fake *)ctx)->now;
}

/* Redis answers the oldest publish not answered yet: 'receivers' subscribers got it, or -1 (connection lost). */
static void fake_deliver(struct fake *f, long long receivers)
{
    if (!CHECK(f->delivered < f->published))
        return;
    int i = f->delivered++;
    f->cb[i](receivers, f->arg[i]);
}

static int resumed;
static struct MHD_Connection *resumed_conn;

void MHD_resume_connection(struct MHD_Connection *connection)
{
    resumed++;
    resumed_conn = connection;
}

struct env {
    struct event_base *base;
    struct fake fake;
    struct replica_set events;
    struct pending *pending;
    struct dispatch *d;
};

static void on_timeout(struct request *req, void *arg)
{
    dispatch_forget(((struct env *)arg)->d, req);
}

/* A dispatcher over the fake bus with the events replicas 'ids' (NULL-terminated), alive until now + 10 s. */
static void env_init(struct env *e, long timeout_ms, const char *const *ids)
{
    memset(e, 0, sizeof *e);
    e->base = event_base_new();
    e->fake.ready = 1;
    e->fake.now = 1000000;
    for (; *ids; ids++)
        replica_set_upsert(&e->events, *ids, e->fake.now + 10000);
    e->pending = pending_new(e->base, timeout_ms, on_timeout, e);
    struct dispatch_io io = { fake_publish, fake_ready, fake_now, &e->fake, fake_claim, fake_unclaim };
    struct dispatch_config cfg = { "frontend-test", timeout_ms, 60000, 100, 86400, NULL, 1, TASKID_TIME };
    e->d = dispatch_new(&io, &cfg, &e->events, e->pending);
    resumed = 0;
    resumed_conn = NULL;
}

static void env_free(struct env *e)
{
    for (int i = 0; i < e->fake.published; i++)
        free(e->fake.data[i]);
    dispatch_free(e->d);
    pending_free(e->pending);
    replica_set_clear(&e->events);
    event_base_free(e->base);
}

static struct dispatch_stats stats(struct env *e)
{
    struct dispatch_stats s;
    dispatch_get_stats(e->d, &s);
    return s;
}

/* A fake connection: only its address is used, to check which request was resumed. */
static int conns[16];
#define CONN(i) ((struct MHD_Connection *)&conns[i])

/* Classify 'body' and dispatch it as MHD's last handler call would. Returns the request (freed by done()) and
 * dispatch_task's result in '*rc'. */
static struct request *post(struct env *e, struct MHD_Connection *conn, const char *body, int *rc, char *err)
{
    struct request *req = request_new(e->pending, conn);
    req->route = ROUTE_TASK;
    req->len = strlen(body);
    req->cap = req->len + 1;
    req->body = strdup(body);
    struct task t;
    *rc = -1;
    if (CHECK(task_classify(body, req->len, &t, err) == 0)) {
        *rc = dispatch_task(e->d, req, &t, err);
        task_clear(&t);
    }
    return req;
}

/* MHD's completion of the request's connection. */
static void done(struct request *req)
{
    request_release(req, 1);
}

static void answer(struct env *e, const char *fmt, const char *id)
{
    char text[512];
    int n = snprintf(text, sizeof text, fmt, id);
    dispatch_on_message(text, (size_t)n, e->d);
}

static void test_answered(void)
{
    struct env e;
    const char *ids[] = { "ev-a", NULL };
    env_init(&e, 10000, ids);
    char err[TASK_ERR_LEN];
    int rc;
    struct request *req = post(&e, CONN(0), "{\"a1\": 1, \"a2\": 2}", &rc, err);
    CHECK_INT_EQ(rc, 0);
    CHECK_INT_EQ(e.fake.published, 1);
    CHECK_STR_EQ(e.fake.channel[0], "taskbus:ev-a");
    CHECK(strstr(e.fake.data[0], req->id) != NULL);
    CHECK(strstr(e.fake.data[0], "\"replyTo\":\"taskbus:frontend-test\"") != NULL);
    CHECK_INT_EQ(replica_find(&e.events, "ev-a")->outstanding, 1);
    CHECK_INT_EQ(pending_count(e.pending), 1);
    fake_deliver(&e.fake, 1);
    answer(&e, "{\"kind\":\"result\",\"id\":\"%s\",\"status\":200,\"result\":\"3\"}", req->id);
    CHECK_INT_EQ(resumed, 1);
    CHECK(resumed_conn == CONN(0));
    CHECK_INT_EQ(req->status, 200);
    CHECK(req->response && strstr(req->response, "\"result\":\"3\""));
    CHECK_INT_EQ(replica_find(&e.events, "ev-a")->outstanding, 0);
    CHECK_INT_EQ(pending_count(e.pending), 0);
    CHECK_INT_EQ(stats(&e).sent, 1);
    CHECK_INT_EQ(stats(&e).answered, 1);
    /* The same answer again: the request is gone, so it is late, not a second resume. */
    answer(&e, "{\"kind\":\"result\",\"id\":\"%s\",\"status\":200,\"result\":\"3\"}", req->id);
    CHECK_INT_EQ(resumed, 1);
    CHECK_INT_EQ(stats(&e).late, 1);
    done(req);
    env_free(&e);
}

/* A client's traceparent gives the task its trace id; without one (tracing on) the task gets a new one. The message
 * to events carries it, also when it is re-sent after its replica vanished. */
static void test_trace(void)
{
    struct env e;
    const char *ids[] = { "ev-a", "ev-b", NULL };
    env_init(&e, 10000, ids);
    char err[TASK_ERR_LEN];
    struct task t;
    struct request *req = request_new(e.pending, CONN(5));
    req->route = ROUTE_TASK;
    req->body = strdup("{\"a1\": 1, \"a2\": 2}");
    req->len = strlen(req->body);
    req->cap = req->len + 1;
    dispatch_trace_start(e.d, req, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    CHECK_STR_EQ(req->trace.id, "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK(strlen(req->trace.span) == 16 && strcmp(req->trace.span, "00f067aa0ba902b7") != 0);
    CHECK(task_classify(req->body, req->len, &t, err) == 0);
    CHECK_INT_EQ(dispatch_task(e.d, req, &t, err), 0);
    task_clear(&t);
    CHECK(strstr(e.fake.data[0], "\"trace\":\"4bf92f3577b34da6a3ce929d0e0e4736\"") != NULL);
    fake_deliver(&e.fake, 0); /* nobody heard it: it goes to the other replica, trace and all */
    CHECK_INT_EQ(e.fake.published, 2);
    CHECK(strstr(e.fake.data[1], "\"trace\":\"4bf92f3577b34da6a3ce929d0e0e4736\"") != NULL);
    fake_deliver(&e.fake, 1);
    answer(&e, "{\"kind\":\"result\",\"id\":\"%s\",\"status\":200,\"result\":\"3\"}", req->id);
    CHECK_INT_EQ(req->status, 200);
    done(req);

    int rc;
    req = request_new(e.pending, CONN(6));
    dispatch_trace_start(e.d, req, "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"); /* invalid */
    CHECK(trace_id_valid(req->trace.id) && strcmp(req->trace.id, "4bf92f3577b34da6a3ce929d0e0e4736") != 0);
    request_release(req, 1);
    req = post(&e, CONN(7), "{\"a1\": 1, \"a2\": 2}", &rc, err); /* no trace started: none sent */
    CHECK_INT_EQ(rc, 0);
    CHECK(strstr(e.fake.data[e.fake.published - 1], "\"trace\"") == NULL);
    fake_deliver(&e.fake, 1);
    answer(&e, "{\"kind\":\"result\",\"id\":\"%s\",\"status\":200,\"result\":\"3\"}", req->id);
    done(req);
    env_free(&e);
}

/* PUBLISH reached 0 subscribers: that replica is gone and nobody has the task, so it goes to another one. */
static void test_zero_receivers_goes_to_another_replica(void)
{
    struct env e;
    const char *ids[] = { "ev-a", "ev-b", NULL };
    env_init(&e, 10000, ids);
    char err[TASK_ERR_LEN];
    int rc;
    struct request *req = post(&e, CONN(1), "{\"a1\": \"x\", \"a2\": \"y\"}", &rc, err);
    CHECK_INT_EQ(rc, 0);
    char first[MSG_CHANNEL_LEN];
    snprintf(first, sizeof first, "%s", e.fake.channel[0]);
    fake_deliver(&e.fake, 0);
    CHECK_INT_EQ(e.fake.published, 2);
    CHECK(strcmp(e.fake.channel[1], first) != 0);
    CHECK(replica_find(&e.events, first + strlen("taskbus:")) == NULL);
    CHECK_INT_EQ(e.events.len, 1);
    CHECK_STR_EQ(e.fake.data[1], e.fake.data[0]);
    CHECK_INT_EQ(stats(&e).redispatched, 1);
    CHECK_INT_EQ(resumed, 0);
    fake_deliver(&e.fake, 1);
    answer(&e, "{\"kind\":\"result\",\"id\":\"%s\",\"status\":200,\"result\":\"xy\"}", req->id);
    CHECK_INT_EQ(req->status, 200);
    CHECK_INT_EQ(e.events.items[0].outstanding, 0);
    done(req);

    /* The last replica vanishes too: nobody is left, so the client hears it at once. */
    req = post(&e, CONN(2), "{\"a1\": \"x\", \"a2\": \"y\"}", &rc, err);
    CHECK_INT_EQ(rc, 0);
    fake_deliver(&e.fake, 0);
    CHECK_INT_EQ(e.events.len, 0);
    CHECK_INT_EQ(req->status, 503);
    CHECK(strstr(req->response, "no events replica could take the request") != NULL);
    CHECK_INT_EQ(pending_count(e.pending), 0);
    done(req);
    env_free(&e);
}

/* The connection to Redis failed before it answered (-1): the message may or may not have arrived, so the task is
 * re-sent (as a handoff: a replica that has it joins the two) at the next registry refresh, never in a loop, and the
 * client is not told it failed. */
static void test_bus_failure_waits_for_refresh(void)
{
    struct env e;
    const char *ids[] = { "ev-a", NULL };
    env_init(&e, 10000, ids);
    char err[TASK_ERR_LEN];
    int rc;
    struct request *req = post(&e, CONN(3), "{\"a1\": 1, \"a2\": 2}", &rc, err);
    CHECK_INT_EQ(rc, 0);
    fake_deliver(&e.fake, -1);
    CHECK_INT_EQ(e.fake.published, 1);
    CHECK_INT_EQ(resumed, 0);
    CHECK_INT_EQ(replica_find(&e.events, "ev-a")->outstanding, 0);
    e.fake.refuse = 1;
    dispatch_on_refresh(e.d);   /* still down: stays marked, nothing sent */
    CHECK_INT_EQ(e.fake.published, 1);
    e.fake.refuse = 0;
    dispatch_on_refresh(e.d);
    CHECK_INT_EQ(e.fake.published, 2);
    CHECK_STR_EQ(e.fake.channel[1], "taskbus:ev-a");
    CHECK(strstr(e.fake.data[1], "\"handoff\":1") != NULL);
    CHECK(strstr(e.fake.data[1], req->id) != NULL);
    dispatch_on_refresh(e.d);   /* sent: nothing more */
    CHECK_INT_EQ(e.fake.published, 2);
    fake_deliver(&e.fake, 1);
    answer(&e, "{\"kind\":\"result\",\"id\":\"%s\",\"status\":200,\"result\":\"3\"}", req->id);
    CHECK_INT_EQ(req->status, 200);
    CHECK_INT_EQ(stats(&e).resent, 1);
    done(req);
    env_free(&e);
}

/* The events replica holding a task leaves the registry (killed or frozen): the task goes to another one as a
 * handoff, and its answer completes the request. After a reconnect every task in flight is re-sent likewise. */
static void test_events_replica_vanishes(void)
{
    struct env e;
    const char *ids[] = { "ev-a", "ev-b", NULL };
    env_init(&e, 10000, ids);
    char err[TASK_ERR_LEN];
    int rc;
    struct request *req = post(&e, CONN(4), "{\"a1\": 1, \"a2\": 2}", &rc, err);
    fake_deliver(&e.fake, 1);
    const char *first = e.fake.channel[0] + strlen("taskbus:");
    const char *other = strcmp(first, "ev-a") == 0 ? "ev-b" : "ev-a";
    replica_set_remove(&e.events, first);
    dispatch_on_refresh(e.d);
    CHECK_INT_EQ(e.fake.published, 2);
    CHECK(strcmp(e.fake.channel[1] + strlen("taskbus:"), other) == 0);
    CHECK(strstr(e.fake.data[1], "\"handoff\":1") != NULL);
    fake_deliver(&e.fake, 1);
    dispatch_on_reconnect(e.d);
    dispatch_on_refresh(e.d);
    CHECK_INT_EQ(e.fake.published, 3);
    CHECK(strstr(e.fake.data[2], "\"handoff\":2") != NULL);
    CHECK(strcmp(e.fake.channel[2] + strlen("taskbus:"), other) == 0); /* the replica that has it, if alive */
    fake_deliver(&e.fake, 1);
    answer(&e, "{\"kind\":\"result\",\"id\":\"%s\",\"status\":200,\"result\":\"3\"}", req->id);
    CHECK_INT_EQ(req->status, 200);
    CHECK_INT_EQ(resumed, 1);
    done(req);
    env_free(&e);
}

/* Idempotency-Key: the first request claims the key and runs; a retry with the same body replays that task (a
 * handoff with its own reference: it joins the task or gets its outcome, never a second run); another body is 422. */
static void test_idempotency_key(void)
{
    struct env e;
    const char *ids[] = { "ev-a", NULL };
    env_init(&e, 10000, ids);
    char err[TASK_ERR_LEN], stored[IDEM_VALUE_LEN], task_id[TASK_ID_LEN];
    struct task t;
    const char *body = "{\"a1\": 1, \"a2\": 2}";

    struct request *first = request_new(e.pending, CONN(0));
    first->route = ROUTE_TASK;
    first->len = strlen(body);
    first->body = strdup(body);
    task_classify(body, first->len, &t, err);
    CHECK_INT_EQ(dispatch_task_keyed(e.d, first, &t, "key-1", err), 0);
    CHECK_INT_EQ(e.fake.published, 0); /* nothing runs before the key is ours */
    CHECK_STR_EQ(e.fake.claimed_key, "key-1");
    snprintf(stored, sizeof stored, "%s", e.fake.claimed_value);
    snprintf(task_id, sizeof task_id, "%s", first->task_id);
    fake_claimed(&e.fake, 0, NULL);
    CHECK_INT_EQ(e.fake.published, 1);
    CHECK(strstr(e.fake.data[0], "\"keepS\":86400") != NULL);
    CHECK_INT_EQ(pending_count(e.pending), 1);

    struct request *retry = request_new(e.pending, CONN(1));
    retry->route = ROUTE_TASK;
    retry->len = strlen(body);
    retry->body = strdup(body);
    CHECK_INT_EQ(dispatch_task_keyed(e.d, retry, &t, "key-1", err), 0);
    fake_claimed(&e.fake, 1, stored);
    CHECK_INT_EQ(e.fake.published, 2);
    CHECK_STR_EQ(retry->task_id, task_id);
    CHECK(strcmp(retry->id, task_id) != 0);
    CHECK(strstr(e.fake.data[1], "\"handoff\":1") != NULL);
    CHECK(strstr(e.fake.data[1], retry->id) != NULL); /* as "ref" */
    fake_deliver(&e.fake, 1);
    fake_deliver(&e.fake, 1);
    answer(&e, "{\"kind\":\"result\",\"id\":\"%s\",\"status\":200,\"result\":\"3\"}", task_id);
    char text[256];
    snprintf(text, sizeof text, "{\"kind\":\"result\",\"id\":\"%s\",\"ref\":\"%s\",\"status\":200,\"result\":\"3\"}",
             task_id, retry->id);
    dispatch_on_message(text, strlen(text), e.d);
    CHECK_INT_EQ(first->status, 200);
    CHECK_INT_EQ(retry->status, 200);
    CHECK(strstr(retry->response, task_id) != NULL); /* the client sees the task it replayed */
    done(first);
    done(retry);
    task_clear(&t);

    const char *other = "{\"a1\": 1, \"a2\": 3}";
    struct request *conflict = request_new(e.pending, CONN(2));
    conflict->route = ROUTE_TASK;
    conflict->len = strlen(other);
    conflict->body = strdup(other);
    task_classify(other, conflict->len, &t, err);
    CHECK_INT_EQ(dispatch_task_keyed(e.d, conflict, &t, "key-1", err), 0);
    fake_claimed(&e.fake, 1, stored);
    CHECK_INT_EQ(conflict->status, 422);
    CHECK(strstr(conflict->response, "different body") != NULL);
    CHECK_INT_EQ(e.fake.published, 2);
    CHECK_INT_EQ(stats(&e).conflicts, 1);
    done(conflict);

    /* No events replica can take a newly claimed task: refused, and the key is freed so a retry can run it. */
    struct request *refused = request_new(e.pending, CONN(3));
    refused->route = ROUTE_TASK;
    refused->len = strlen(other);
    refused->body = strdup(other);
    CHECK_INT_EQ(dispatch_task_keyed(e.d, refused, &t, "key-2", err), 0);
    e.fake.refuse = 1;
    fake_claimed(&e.fake, 0, NULL);
    CHECK_STR_EQ(e.fake.unclaimed, "key-2");
    /* The 503 waits for Redis to have freed the key: a retry through another frontend (another connection to
     * Redis) must find it free, not the claim of a task that was never accepted. */
    CHECK_INT_EQ(refused->status, 0);
    CHECK(refused->state != REQUEST_DONE);
    fake_unclaimed(&e.fake);
    CHECK_INT_EQ(refused->status, 503);
    CHECK(refused->state == REQUEST_DONE);
    done(refused);
    task_clear(&t);
    env_free(&e);
}

/* A shutdown answers the requests that wait for Redis about their key (they are suspended outside the pending
 * table); Redis's late answer then only lets the request go, and frees a key it just claimed. */
static void test_claims_answered_at_shutdown(void)
{
    struct env e;
    const char *ids[] = { "ev-a", NULL };
    env_init(&e, 10000, ids);
    char err[TASK_ERR_LEN];
    struct task t;
    const char *body = "{\"a1\": 1, \"a2\": 2}";
    struct request *req = request_new(e.pending, CONN(7));
    req->route = ROUTE_TASK;
    req->len = strlen(body);
    req->body = strdup(body);
    task_classify(body, req->len, &t, err);
    CHECK_INT_EQ(dispatch_task_keyed(e.d, req, &t, "key-9", err), 0);
    CHECK(req->state == REQUEST_CLAIMING);
    CHECK_INT_EQ(dispatch_in_flight(e.d), 1); /* counted against MAX_IN_FLIGHT while it waits */
    dispatch_answer_claims(e.d, "the frontend is shutting down");
    CHECK_INT_EQ(dispatch_in_flight(e.d), 0);
    CHECK_INT_EQ(req->status, 503);
    CHECK(strstr(req->response, "shutting down") != NULL);
    e.fake.unclaimed[0] = '\0';
    fake_claimed(&e.fake, 0, NULL); /* Redis answers after all: the key was ours */
    CHECK_INT_EQ(req->status, 503);
    CHECK_INT_EQ(e.fake.published, 0);
    CHECK_STR_EQ(e.fake.unclaimed, "key-9");
    fake_unclaimed(&e.fake);
    done(req);
    dispatch_answer_claims(e.d, "again"); /* nothing is left to answer */
    task_clear(&t);
    env_free(&e);
}

/* Refused before anything is sent: the caller answers 503 itself, nothing is pending or suspended. */
static void test_refused_before_sending(void)
{
    struct env e;
    const char *ids[] = { "ev-a", NULL };
    env_init(&e, 10000, ids);
    char err[TASK_ERR_LEN];
    int rc;
    e.fake.ready = 0;
    struct request *req = post(&e, CONN(5), "{\"a1\": 1, \"a2\": 2}", &rc, err);
    CHECK_INT_EQ(rc, -1);
    CHECK_STR_EQ(err, "the message bus (Redis) is not reachable");
    done(req);
    e.fake.ready = 1;
    e.fake.now += 20000; /* ev-a's heartbeat expired */
    req = post(&e, CONN(5), "{\"a1\": 1, \"a2\": 2}", &rc, err);
    CHECK_INT_EQ(rc, -1);
    CHECK_STR_EQ(err, "no events replica is alive");
    done(req);
    CHECK_INT_EQ(e.fake.published, 0);
    CHECK_INT_EQ(pending_count(e.pending), 0);
    CHECK_INT_EQ(resumed, 0);
    env_free(&e);
}

/* Messages that are not answers are dropped (ASan checks that nothing they allocated leaks); a pending request
 * is not touched by them. */
static void test_malformed_messages_are_dropped(void)
{
    struct env e;
    const char *ids[] = { "ev-a", NULL };
    env_init(&e, 10000, ids);
    char err[TASK_ERR_LEN];
    int rc;
    struct request *req = post(&e, CONN(6), "{\"a1\": 1, \"a2\": 2}", &rc, err);
    fake_deliver(&e.fake, 1);
    const char *bad[] = {
        "",
        "not json",
        "[1,2]",
        "{\"kind\":\"result\",\"id\":\"%s\",\"status\":200,\"result\":\"3\"} trailing",
        "{\"kind\":\"result\",\"id\":\"%s\",\"replyTo\":\"taskbus:x\",\"origin\":\"o\"}",   /* no status */
        "{\"kind\":\"result\",\"id\":\"%s\",\"status\":\"200\",\"result\":\"3\"}",
        "{\"kind\":\"result\",\"id\":\"%s\",\"status\":200,\"result\":3}",
        "{\"kind\":\"answer\",\"id\":\"%s\",\"status\":200}",
        "{\"kind\":\"result\",\"status\":200,\"result\":\"3\"}",
        "{\"kind\":\"task\",\"id\":\"%s\",\"replyTo\":\"taskbus:x\",\"task\":\"NUMBER\",\"subtask\":\"ADD\","
        "\"operands\":[1,2],\"requestBody\":\"{}\",\"timeoutMs\":100}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        answer(&e, bad[i], req->id);
    CHECK_INT_EQ(resumed, 0);
    CHECK_INT_EQ(pending_count(e.pending), 1);
    CHECK_INT_EQ(stats(&e).answered, 0);
    CHECK_INT_EQ(stats(&e).late, 0);
    CHECK(dispatch_refusal(e.d) == NULL);
    /* An answer for an id nobody waits for (timed out, or never ours) is counted late. */
    answer(&e, "{\"kind\":\"result\",\"id\":\"%s\",\"status\":200,\"result\":\"3\"}", "0000000000000000-00000000ffff");
    CHECK_INT_EQ(stats(&e).late, 1);
    CHECK_INT_EQ(resumed, 0);
    answer(&e, "{\"kind\":\"result\",\"id\":\"%s\",\"status\":200,\"result\":\"3\"}", req->id);
    CHECK_INT_EQ(req->status, 200);
    done(req);
    env_free(&e);
}

/* History answers; one without a status is a query, which a frontend never takes: it is refused at decode and the
 * request keeps waiting for a real answer (it never becomes HTTP status 0). */
static void test_history(void)
{
    struct env e;
    const char *ids[] = { "ev-a", NULL };
    env_init(&e, 10000, ids);
    char err[TASK_ERR_LEN];
    for (int i = 0; i < 2; i++) {
        struct request *req = request_new(e.pending, CONN(7));
        req->route = ROUTE_HISTORY;
        snprintf(req->history_of, sizeof req->history_of, "abc-1");
        CHECK_INT_EQ(dispatch_history(e.d, req, err), 0);
        CHECK(strstr(e.fake.data[i], "\"requestBody\":\"abc-1\"") != NULL);
        fake_deliver(&e.fake, 1);
        if (i == 0) {
            /* The log's records become the same view as the projection's (taskview_render). */
            answer(&e, "{\"kind\":\"history\",\"id\":\"%s\",\"status\":200,\"history\":"
                       "\"[{\\\"task\\\":\\\"abc-1\\\",\\\"seq\\\":0,\\\"type\\\":\\\"received\\\"}]\"}", req->id);
            CHECK_INT_EQ(req->status, 200);
            CHECK_STR_EQ(req->response, "{\"message\":\"OK\",\"id\":\"abc-1\",\"status\":\"pending\","
                                        "\"history\":[{\"task\":\"abc-1\",\"seq\":0,\"type\":\"received\"}]}");
        } else {
            answer(&e, "{\"kind\":\"history\",\"id\":\"%s\"}", req->id);
            CHECK_INT_EQ(req->status, 0);
            answer(&e, "{\"kind\":\"history\",\"id\":\"%s\",\"status\":503,\"error\":\"store down\"}", req->id);
            CHECK_INT_EQ(req->status, 503);
            CHECK(strstr(req->response, "\"id\":\"abc-1\"") != NULL);
        }
        done(req);
    }
    env_free(&e);
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    CHECK(!"the deadline never fired");
    event_base_loopbreak(arg);
}

static void stop_on_resume(void *arg)
{
    event_base_loopbreak(arg);
}

/* A result that never comes: the deadline answers 504, once, and says the outcome may still come. The publish is
 * still unanswered when MHD completes the request, so the request must outlive its connection until then. */
static void test_result_that_never_comes(void)
{
    struct env e;
    const char *ids[] = { "ev-a", NULL };
    env_init(&e, 30, ids);
    pending_on_resume(e.pending, stop_on_resume, e.base);
    char err[TASK_ERR_LEN];
    int rc;
    struct request *req = post(&e, CONN(0), "{\"a1\": 1, \"a2\": 2}", &rc, err);
    CHECK_INT_EQ(rc, 0);
    struct event *watchdog = evtimer_new(e.base, on_watchdog, e.base);
    struct timeval tv = { 2, 0 };
    evtimer_add(watchdog, &tv);
    event_base_dispatch(e.base);
    event_free(watchdog);
    CHECK_INT_EQ(resumed, 1);
    CHECK_INT_EQ(req->status, 504);
    char want[256];
    snprintf(want, sizeof want,
             "{\"message\":\"FAIL\",\"error\":\"no answer within 30 ms; the task may still complete: GET /task/%s "
             "shows its outcome\",\"id\":\"%s\"}", req->id, req->id);
    CHECK_STR_EQ(req->response, want);
    char id[TASK_ID_LEN];
    snprintf(id, sizeof id, "%s", req->id);
    done(req); /* freed only once its task's outcome is known: it is followed after the 504 */
    CHECK_INT_EQ(dispatch_orphans(e.d), 1);
    fake_deliver(&e.fake, 1);
    /* Its events replica vanishes: the task is re-sent, so it still reaches an outcome. */
    replica_set_upsert(&e.events, "ev-b", e.fake.now + 10000);
    replica_set_remove(&e.events, "ev-a");
    dispatch_on_refresh(e.d);
    CHECK_INT_EQ(e.fake.published, 2);
    CHECK_STR_EQ(e.fake.channel[1], "taskbus:ev-b");
    fake_deliver(&e.fake, 1);
    answer(&e, "{\"kind\":\"result\",\"id\":\"%s\",\"status\":200,\"result\":\"3\"}", id);
    CHECK_INT_EQ(stats(&e).resolved, 1);
    CHECK_INT_EQ(dispatch_orphans(e.d), 0);
    CHECK_INT_EQ(resumed, 1);
    answer(&e, "{\"kind\":\"result\",\"id\":\"%s\",\"status\":200,\"result\":\"3\"}", id);
    CHECK_INT_EQ(stats(&e).late, 1);
    env_free(&e);
}

/* A refusal from events (a cap was full) is a 503 the client may retry, and GET / says why until its Retry-After
 * has passed. */
static void test_refusal(void)
{
    struct env e;
    const char *ids[] = { "ev-a", NULL };
    env_init(&e, 10000, ids);
    char err[TASK_ERR_LEN];
    int rc;
    struct request *req = post(&e, CONN(5), "{\"a1\": 1, \"a2\": 2}", &rc, err);
    fake_deliver(&e.fake, 1);
    answer(&e, "{\"kind\":\"result\",\"id\":\"%s\",\"status\":503,\"error\":\"full (MAX_JOBS)\",\"retryAfter\":2}",
           req->id);
    CHECK_INT_EQ(req->status, 503);
    CHECK_STR_EQ(dispatch_refusal(e.d), "full (MAX_JOBS)");
    e.fake.now += 1999;
    CHECK(dispatch_refusal(e.d) != NULL);
    e.fake.now += 1;
    CHECK(dispatch_refusal(e.d) == NULL);
    done(req);
    env_free(&e);
}

/* Prefer: respond-async: events' 202 answers the client at once with the task's status, and the task is followed
 * (as after a 504) until its outcome comes; an outcome that comes first is a 202 with the final status. The task
 * message carries the flag. */
static void test_async(void)
{
    struct env e;
    const char *ids[] = { "ev-a", NULL };
    env_init(&e, 10000, ids);
    char err[TASK_ERR_LEN];
    int rc;
    struct request *req = request_new(e.pending, CONN(8));
    req->route = ROUTE_TASK;
    req->async = 1;
    req->len = strlen("{\"a1\": 1, \"a2\": 2}");
    req->body = strdup("{\"a1\": 1, \"a2\": 2}");
    struct task t;
    CHECK_INT_EQ(task_classify(req->body, req->len, &t, err), 0);
    CHECK_INT_EQ(rc = dispatch_task(e.d, req, &t, err), 0);
    task_clear(&t);
    CHECK(strstr(e.fake.data[0], "\"async\":true") != NULL);
    fake_deliver(&e.fake, 1);
    answer(&e, "{\"kind\":\"result\",\"id\":\"%s\",\"status\":202,\"result\":\"running\"}", req->id);
    CHECK_INT_EQ(req->status, 202);
    CHECK(req->response && strstr(req->response, "\"message\":\"Accepted\"") && strstr(req->response, "\"running\""));
    CHECK_INT_EQ(dispatch_orphans(e.d), 1);
    answer(&e, "{\"kind\":\"result\",\"id\":\"%s\",\"status\":200,\"result\":\"3\"}", req->id);
    CHECK_INT_EQ(dispatch_orphans(e.d), 0);
    CHECK_INT_EQ(req->status, 202); /* answered once */
    done(req);

    struct request *fast = post(&e, CONN(9), "{\"a1\": 1, \"a2\": 2}", &rc, err);
    fast->async = 1; /* the outcome comes before any 202 */
    fake_deliver(&e.fake, 1);
    answer(&e, "{\"kind\":\"result\",\"id\":\"%s\",\"status\":422,\"error\":\"division by zero\"}", fast->id);
    CHECK_INT_EQ(fast->status, 202);
    CHECK(fast->response && strstr(fast->response, "\"failed\""));
    CHECK_INT_EQ(dispatch_orphans(e.d), 0);
    done(fast);
    env_free(&e);
}

/* Regression: a read served from the projection waits in the pending table without an outbound message; a refresh
 * that finds no live events replica tried to re-send it and crashed on the NULL message. */
static void test_read_is_never_resent(void)
{
    struct env e;
    const char *ids[] = { "ev-a", NULL };
    env_init(&e, 10000, ids);
    struct request *req = request_new(e.pending, CONN(10));
    req->route = ROUTE_LIST;
    dispatch_next_id(e.d, req->id);
    CHECK_INT_EQ(pending_add(e.pending, req), 0);
    replica_set_remove(&e.events, "ev-a");
    dispatch_on_reconnect(e.d);
    dispatch_on_refresh(e.d);
    CHECK_INT_EQ(e.fake.published, 0);
    pending_answer_request(e.pending, req, 200, strdup("{}"));
    CHECK_INT_EQ(resumed, 1);
    done(req);
    env_free(&e);
}

/* Ids start with the clock's time (12 hex digits of ms) by default, so they sort by creation; TASK_IDS=random ids
 * do not; both are 32 hex digits and never repeat. */
static void test_ids_follow_the_clock(void)
{
    struct env e;
    const char *ids[] = { "ev-a", NULL };
    env_init(&e, 10000, ids);
    char a[TASK_ID_LEN], b[TASK_ID_LEN], prefix[16];
    e.fake.now = 0x19af9f256fbLL;
    dispatch_next_id(e.d, a);
    e.fake.now++;
    dispatch_next_id(e.d, b);
    CHECK_INT_EQ((long)strlen(a), 32);
    CHECK_INT_EQ((long)strspn(a, "0123456789abcdef"), 32);
    CHECK(strncmp(a, "019af9f256fb", 12) == 0);
    CHECK(strncmp(b, "019af9f256fc", 12) == 0);
    CHECK(strcmp(a, b) < 0);
    CHECK(strcmp(a + 12, b + 12) != 0);

    struct dispatch_io io = { fake_publish, fake_ready, fake_now, &e.fake, fake_claim, fake_unclaim };
    struct dispatch_config cfg = { "frontend-test", 10000, 60000, 100, 86400, NULL, 1, TASKID_RANDOM };
    struct dispatch *random = dispatch_new(&io, &cfg, &e.events, e.pending);
    if (CHECK(random != NULL)) {
        int with_time = 0;
        for (int i = 0; i < 8; i++) {
            dispatch_next_id(random, a);
            CHECK_INT_EQ((long)strspn(a, "0123456789abcdef"), 32);
            snprintf(prefix, sizeof prefix, "%.12s", a);
            with_time += strcmp(prefix, "019af9f256fc") == 0;
        }
        CHECK_INT_EQ(with_time, 0);
        dispatch_free(random);
    }
    env_free(&e);
}

int main(void)
{
    test_ids_follow_the_clock();
    test_async();
    test_read_is_never_resent();
    test_refusal();
    log_init("test_fe_dispatch", "-", LOG_ERROR); /* the dropped messages below each log a warning */
    test_answered();
    test_trace();
    test_zero_receivers_goes_to_another_replica();
    test_bus_failure_waits_for_refresh();
    test_events_replica_vanishes();
    test_idempotency_key();
    test_claims_answered_at_shutdown();
    test_refused_before_sending();
    test_malformed_messages_are_dropped();
    test_history();
    test_result_that_never_comes();
    return check_finish();
}
