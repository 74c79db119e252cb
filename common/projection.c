/* The Redis read model of the event log: applying records, reading a task, listing tasks. */
#include "projection.h"

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "clock.h"
#include "log.h"
#include "logdoc.h"
#include "recjson.h"
#include "trace.h"

/* ---- the scripts */

/* ARGV: the retention (ms), now (ms), and then PROJECTION_ENTRY_ARGS per record to apply: task id, record _id,
 * record JSON, the status it gives, service, taskType, at (ms), result, error, code, and an earlier record of the
 * task applied with it (a task commit's arrival: its _id, JSON and at in ms; three empty strings when there is
 * none). Returns one integer per record: 1 when applied, 0 when past the retention (its task would expire at once),
 * -1 when Redis refused one of its commands (the record's failure is its own: the others are still applied).
 * Batching a store commit's records into one call saved Redis a fifth of its time per task (the call's own cost,
 * and one MULTI/EXEC in the AOF per call instead of per record); the records are applied in order, each exactly
 * as if alone. The status only moves forward; created is the earliest record's time. The task's index member is in
 * the one set of its bucket and service (taskview_index_key), moved (ZREM, ZADD) when either or created changes:
 * four sets a task (all, by status, by service, by both) cost Redis a third of the script's time. Each service a
 * call indexes is added to taskbus:index:services once per call, for the listings to find its sets. One task in 16
 * (its id's last byte) trims what is past the retention from the set it writes: listings skip members whose task
 * expired, so trimming on every write cost Redis a call a task for nothing. A task's
 * outcome, once projected, stays: as in the log, the first one stands (a later one, from a replica that recorded
 * the answer another one kept, holds the same answer). */
static const char apply_lua[] =
    "local retention, now = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "local rank = {pending = 1, running = 2, completed = 3, failed = 3}\n"
    "local final = {completed = true, failed = true}\n"
    "local call, format = redis.call, string.format\n"
    "local cutoff = '(' .. format('%016d', now - retention)\n"
    "local function index_key(st, svc)\n"
    "  return 'taskbus:index:' .. (final[st] and st or 'open') .. ':' .. svc\n"
    "end\n"
    "local services = {}\n"
    "local function apply(b)\n"
    "  local id, field, json, status = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4]\n"
    "  local service, ttype, at = ARGV[b + 5], ARGV[b + 6], tonumber(ARGV[b + 7])\n"
    "  if at + retention <= now then return 0 end\n"
    "  local key = 'taskbus:task:' .. id\n"
    "  local old = call('HMGET', key, 'status', 'created', 'service', field)\n"
    "  local ostatus, ocreated, oservice = old[1] or '', tonumber(old[2]), old[3] or ''\n"
    "  local nstatus, ncreated, nservice = ostatus, ocreated, oservice\n"
    "  if (rank[status] or 0) > (rank[ostatus] or 0) then nstatus = status end\n"
    "  if not ncreated or at < ncreated then ncreated = at end\n"
    "  local earlier = tonumber(ARGV[b + 13])\n"
    "  if earlier and earlier < ncreated then ncreated = earlier end\n"
    "  if nservice == '' then nservice = service end\n"
    "  local set = {'status', nstatus, 'created', format('%d', ncreated)}\n"
    "  local function put(k, v) if v ~= '' then set[#set + 1] = k; set[#set + 1] = v end end\n"
    "  if not (old[4] and string.sub(field, -8) == ':outcome') then put(field, json) end\n"
    "  if earlier then put(ARGV[b + 11], ARGV[b + 12]) end\n"
    "  put('service', nservice)\n"
    "  put('taskType', ttype)\n"
    "  put('result', ARGV[b + 8])\n"
    "  put('error', ARGV[b + 9])\n"
    "  put('code', ARGV[b + 10])\n"
    "  call('HSET', key, unpack(set))\n"
    "  local expires = at + retention\n"
    "  if ostatus == '' then call('PEXPIREAT', key, expires) else call('PEXPIREAT', key, expires, 'GT') end\n"
    "  if ocreated == ncreated and ostatus == nstatus and oservice == nservice then return 1 end\n"
    "  local nmember = format('%016d', ncreated) .. ':' .. id\n"
    "  local nkey = index_key(nstatus, nservice)\n"
    "  if ocreated then\n"
    "    local okey, omember = index_key(ostatus, oservice), format('%016d', ocreated) .. ':' .. id\n"
    "    if okey == nkey and omember == nmember then return 1 end\n"
    "    call('ZREM', okey, omember)\n"
    "  end\n"
    "  call('ZADD', nkey, 0, nmember)\n"
    "  if string.byte(id, -1) % 16 == 0 then call('ZREMRANGEBYLEX', nkey, '-', cutoff) end\n"
    "  if not services[nservice] then\n"
    "    call('SADD', 'taskbus:index:services', nservice)\n"
    "    services[nservice] = true\n"
    "  end\n"
    "  return 1\n"
    "end\n"
    "local done = {}\n"
    "for b = 2, #ARGV - 13, 13 do\n"
    "  local ok, applied = pcall(apply, b)\n"
    "  done[#done + 1] = ok and applied or -1\n"
    "end\n"
    "return done\n";

/* ARGV: the bucket to list ("open", "completed" or "failed"; "" for all three), the service ("" for every service
 * in taskbus:index:services), the cursor ("" for the first page), the limit, and the only status to keep ("" for
 * any; "pending" or "running" filter the open bucket). Returns the next cursor ("" when there is no more) and then
 * 8 values per task: id, status, taskType, service, created, result, error, code (nil when absent). The page merges
 * the index sets of every (bucket, service) asked for, newest first: each set is read in chunks below the cursor,
 * and a merged chunk is only trusted down to the highest last member of the sets that filled theirs (below it, such
 * a set may hold members not read yet). Members whose hash expired, or of another status, are skipped; at most
 * 1,000 plus ten pages' worth are looked at per call (then the page is short, and the cursor goes on from there). */
static const char list_lua[] =
    "local bucket, service, after, limit, only = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]\n"
    "local call = redis.call\n"
    "local buckets = bucket == '' and {'open', 'completed', 'failed'} or {bucket}\n"
    "local services = service == '' and call('SMEMBERS', 'taskbus:index:services') or {service}\n"
    "local keys = {}\n"
    "for _, b in ipairs(buckets) do\n"
    "  for _, s in ipairs(services) do keys[#keys + 1] = 'taskbus:index:' .. b .. ':' .. s end\n"
    "end\n"
    "local max = after == '' and '+' or ('(' .. after)\n"
    "local out, found, scanned, chunk = {''}, 0, 0, math.max(limit, 100)\n"
    "local function newer(a, b) return a > b end\n"
    "while found < limit and scanned < 1000 + limit * 10 do\n"
    "  local merged, floor = {}, nil\n"
    "  for _, k in ipairs(keys) do\n"
    "    local members = call('ZREVRANGEBYLEX', k, max, '-', 'LIMIT', 0, chunk)\n"
    "    for _, m in ipairs(members) do merged[#merged + 1] = m end\n"
    "    if #members == chunk and (not floor or members[chunk] > floor) then floor = members[chunk] end\n"
    "  end\n"
    "  if #merged == 0 then return out end\n"
    "  table.sort(merged, newer)\n"
    "  for i, m in ipairs(merged) do\n"
    "    if (floor and m < floor) or found == limit then break end\n"
    "    max = '(' .. m\n"
    "    if m ~= merged[i - 1] then\n"
    "      scanned = scanned + 1\n"
    "      local id = string.sub(m, 18)\n"
    "      local f = call('HMGET', 'taskbus:task:' .. id, 'status', 'taskType', 'service', 'created', 'result',\n"
    "                     'error', 'code')\n"
    "      if f[1] and (only == '' or f[1] == only) then\n"
    "        out[#out + 1] = id\n"
    "        for j = 1, 7 do out[#out + 1] = f[j] end\n"
    "        found = found + 1\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "for _, k in ipairs(keys) do\n"
    "  if #call('ZREVRANGEBYLEX', k, max, '-', 'LIMIT', 0, 1) > 0 then\n"
    "    out[1] = string.sub(max, 2)\n"
    "    break\n"
    "  end\n"
    "end\n"
    "return out\n";

#define LIST_FIELDS 8

/* A script and how it is called: the list script only reads, so it goes as EVALSHA_RO / EVAL_RO (Redis 7), which
 * Redis refuses to run if it wrote, and which a read-only ACL user (the frontend) may call. */
struct script {
    const char *text;
    const char *evalsha, *eval;
    char sha[2 * SHA_DIGEST_LENGTH + 1];
};

static struct script apply_script = { apply_lua, "EVALSHA", "EVAL", "" },
                     list_script = { list_lua, "EVALSHA_RO", "EVAL_RO", "" };

static const char *sha_of(struct script *s)
{
    if (!s->sha[0]) {
        unsigned char md[SHA_DIGEST_LENGTH];
        SHA1((const unsigned char *)s->text, strlen(s->text), md);
        for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
            snprintf(s->sha + 2 * i, 3, "%02x", md[i]);
    }
    return s->sha;
}

const char *projection_apply_script(void)
{
    return apply_lua;
}

const char *projection_apply_sha(void)
{
    return sha_of(&apply_script);
}

/* ---- records to arguments */

static void set_arg(struct projection_args *a, int i, const char *s)
{
    a->argv[i] = s;
    a->lens[i] = strlen(s);
}

/* The fields of a record the projection reads, found in one pass over it (a lookup per field walked the record from
 * its start each time: a tenth of events' CPU went to finding fields). A field that is absent or not of its type
 * reads as "" (or 'has_at' / 'has_status' 0); of a repeated key the first counts, as with bson_iter_find. */
enum { F_ID, F_TASK, F_TYPE, F_BACKEND, F_SERVICE, F_TASKTYPE, F_RESULT, F_ERROR, F_TRACE, F_STRINGS, F_AT = F_STRINGS,
       F_STATUS, F_COUNT };
static const char *const field_names[F_COUNT] = { "_id", "task", "type", "backend", "service", "taskType", "result",
                                                  "error", "trace", "at", "status" };

struct record_fields {
    const char *s[F_STRINGS];
    int64_t at;
    int32_t status;
    int has_at, has_status;
};

static void record_fields_of(const bson_t *doc, struct record_fields *f)
{
    bson_iter_t it;
    unsigned seen = 0;
    memset(f, 0, sizeof *f);
    for (int i = 0; i < F_STRINGS; i++)
        f->s[i] = "";
    if (!bson_iter_init(&it, doc))
        return;
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        int i = 0;
        while (i < F_COUNT && ((seen >> i & 1) || strcmp(key, field_names[i]) != 0))
            i++;
        if (i == F_COUNT)
            continue;
        seen |= 1u << i;
        if (i == F_AT && BSON_ITER_HOLDS_DATE_TIME(&it))
            f->has_at = 1, f->at = bson_iter_date_time(&it);
        else if (i == F_STATUS && BSON_ITER_HOLDS_INT32(&it))
            f->has_status = 1, f->status = bson_iter_int32(&it);
        else if (i < F_STRINGS && BSON_ITER_HOLDS_UTF8(&it))
            f->s[i] = bson_iter_utf8(&it, NULL);
    }
}

int projection_args_of(const bson_t *doc, const bson_t *earlier, struct projection_args *a)
{
    struct record_fields f, e = { 0 };
    memset(a, 0, sizeof *a);
    record_fields_of(doc, &f);
    enum taskview_status status = taskview_status_of(f.s[F_TYPE], f.s[F_BACKEND][0] != '\0');
    if (!f.s[F_ID][0] || !f.s[F_TASK][0] || status == TASKVIEW_NONE || !f.has_at)
        return -1;
    snprintf(a->at, sizeof a->at, "%lld", (long long)f.at);
    if (earlier) {
        record_fields_of(earlier, &e);
        if (!e.s[F_ID][0] || strcmp(e.s[F_TASK], f.s[F_TASK]) != 0 || !e.has_at)
            return -1;
        snprintf(a->earlier_at, sizeof a->earlier_at, "%lld", (long long)e.at);
    }
    if (status == TASKVIEW_FAILED && f.has_status)
        snprintf(a->code, sizeof a->code, "%d", f.status);
    a->json = recjson_of(doc);
    a->earlier_json = earlier ? recjson_of(earlier) : NULL;
    if (!a->json || (earlier && !a->earlier_json)) {
        projection_args_clear(a);
        return -1;
    }
    set_arg(a, 0, f.s[F_TASK]);
    set_arg(a, 1, f.s[F_ID]);
    set_arg(a, 2, a->json);
    set_arg(a, 3, taskview_status_name(status));
    /* The arrival names the service and type; an outcome does not. */
    set_arg(a, 4, f.s[F_SERVICE][0] || !earlier ? f.s[F_SERVICE] : e.s[F_SERVICE]);
    set_arg(a, 5, f.s[F_TASKTYPE][0] || !earlier ? f.s[F_TASKTYPE] : e.s[F_TASKTYPE]);
    set_arg(a, 6, a->at);
    set_arg(a, 7, status == TASKVIEW_COMPLETED ? f.s[F_RESULT] : "");
    set_arg(a, 8, status == TASKVIEW_FAILED ? f.s[F_ERROR] : "");
    set_arg(a, 9, a->code);
    set_arg(a, 10, earlier ? e.s[F_ID] : "");
    set_arg(a, 11, a->earlier_json ? a->earlier_json : "");
    set_arg(a, 12, a->earlier_at);
    a->trace = f.s[F_TRACE];
    return 0;
}

void projection_args_clear(struct projection_args *a)
{
    free(a->json);
    free(a->earlier_json);
    a->json = a->earlier_json = NULL;
}

void projection_args_head(long retention_s, long long now_ms, char *retention, char *now)
{
    snprintf(retention, 24, "%lld", retention_s * 1000LL);
    snprintf(now, 24, "%lld", now_ms);
}

/* ---- asynchronous client */

/* A record waiting in a script call: who to tell once Redis answered, and what to log if it failed. */
struct entry {
    projection_applied_fn cb;
    void *arg;
    char task_id[TASK_ID_LEN];
    char trace[TRACE_ID_LEN];
};

/* A script call, in flight or (an apply batch) still filling. Its arguments are kept (copied) so that a NOSCRIPT
 * answer (Redis restarted and lost its script cache) can be sent again as EVAL with the script's text. */
struct call {
    struct projection *p;
    struct script *script;
    int argc, cap, retried;
    char **argv;
    size_t *lens;
    void (*done)(struct call *c, struct redisReply *reply);
    projection_list_fn list_cb;
    void *arg;
    int entries;                       /* an apply batch: its records, in argument order */
    struct entry entry[PROJECTION_BATCH];
    struct call *next;                 /* the queue of batches not sent yet */
};

struct projection {
    struct bus *bus;
    long retention_s;
    struct event *flush;               /* active while batches wait: sends them once the loop's callbacks are done */
    struct call *first, *last;         /* batches not sent yet; only the last one may still take records */
    struct projection_stats stats;
};

static void call_free(struct call *c)
{
    for (int i = 0; c->argv && i < c->argc; i++)
        free(c->argv[i]);
    free(c->argv);
    free(c->lens);
    free(c);
}

/* Append a copy of 's' ('len' bytes) to c's arguments (there is room: call_new sized them). Returns 0, or -1 when
 * out of memory. */
static int call_push(struct call *c, const char *s, size_t len)
{
    if (c->argc == c->cap || !(c->argv[c->argc] = malloc(len + 1)))
        return -1;
    memcpy(c->argv[c->argc], s, len);
    c->argv[c->argc][len] = '\0';
    c->lens[c->argc++] = len;
    return 0;
}

/* A call of 'script' with room for 'argc' arguments after EVALSHA (or EVALSHA_RO), sha, numkeys, and those first
 * three pushed. NULL when out of memory. */
static struct call *call_new(struct projection *p, struct script *script, int argc)
{
    struct call *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->p = p;
    c->script = script;
    c->cap = argc + 3;
    c->argv = calloc((size_t)c->cap, sizeof *c->argv);
    c->lens = calloc((size_t)c->cap, sizeof *c->lens);
    const char *sha = sha_of(script);
    if (!c->argv || !c->lens || call_push(c, script->evalsha, strlen(script->evalsha)) != 0 ||
        call_push(c, sha, strlen(sha)) != 0 || call_push(c, "0", 1) != 0) {
        call_free(c);
        return NULL;
    }
    return c;
}

static void on_script_reply(struct redisReply *reply, void *arg);

static int send_script(struct call *c)
{
    return bus_command_argv(c->p->bus, on_script_reply, c, c->argc, (const char **)c->argv, c->lens);
}

static void on_script_reply(struct redisReply *reply, void *arg)
{
    struct call *c = arg;
    if (reply && reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) == 0 && !c->retried) {
        char *eval = strdup(c->script->eval), *text = strdup(c->script->text);
        if (eval && text) {
            free(c->argv[0]);
            free(c->argv[1]);
            c->argv[0] = eval;
            c->argv[1] = text;
            c->lens[0] = strlen(eval);
            c->lens[1] = strlen(text);
            c->retried = 1;
            if (send_script(c) == 0)
                return;
        } else {
            free(eval);
            free(text);
        }
    }
    c->done(c, reply);
    call_free(c);
}

/* Redis answered a batch (or it could not be sent: 'reply' NULL): one integer per record when applied. Each record's
 * callback runs, in order, whatever the answer. */
static void applied(struct call *c, struct redisReply *reply)
{
    int ok = reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == (size_t)c->entries;
    for (int i = 0; i < c->entries; i++) {
        const struct entry *e = &c->entry[i];
        if (ok && reply->element[i]->type == REDIS_REPLY_INTEGER && reply->element[i]->integer >= 0) {
            c->p->stats.applied++;
        } else {
            c->p->stats.failed++;
            LOG_W("event=projection_failed task=%s" LOG_TRACE " error=\"%s\"", e->task_id, LOG_TRACE_ARG(e->trace),
                  !reply ? "redis is not reachable" : ok ? "redis refused the record" : "redis refused the script");
        }
        if (e->cb)
            e->cb(e->arg);
    }
}

void projection_flush(struct projection *p)
{
    while (p && p->first) {
        struct call *c = p->first;
        p->first = c->next;
        if (!p->first)
            p->last = NULL;
        if (send_script(c) != 0) {
            c->done(c, NULL);
            call_free(c);
        }
    }
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    projection_flush(arg);
}

/* The batch that takes the next record: the last one queued, or a new one (queued) when it is full. NULL when out
 * of memory. */
static struct call *open_batch(struct projection *p)
{
    if (p->last && p->last->entries < PROJECTION_BATCH)
        return p->last;
    struct call *c = call_new(p, &apply_script, 2 + PROJECTION_BATCH * PROJECTION_ENTRY_ARGS);
    char retention[24], now[24];
    projection_args_head(p->retention_s, clock_wall_ms(), retention, now);
    if (!c || call_push(c, retention, strlen(retention)) != 0 || call_push(c, now, strlen(now)) != 0) {
        if (c)
            call_free(c);
        return NULL;
    }
    c->done = applied;
    if (p->last)
        p->last->next = c;
    else
        p->first = c;
    p->last = c;
    event_active(p->flush, EV_TIMEOUT, 0);
    return c;
}

struct projection *projection_new(struct event_base *base, struct bus *bus, long retention_s)
{
    struct projection *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->bus = bus;
    p->retention_s = retention_s;
    if (!(p->flush = event_new(base, -1, 0, on_flush, p))) {
        free(p);
        return NULL;
    }
    return p;
}

/* Batches not sent yet are dropped without their callbacks (projection_flush sends them). */
void projection_free(struct projection *p)
{
    if (!p)
        return;
    while (p->first) {
        struct call *c = p->first;
        p->first = c->next;
        call_free(c);
    }
    event_free(p->flush);
    free(p);
}

/* Add 'doc', and 'earlier' (may be NULL) with it, to the open batch. */
static int apply_records(struct projection *p, const bson_t *doc, const bson_t *earlier, projection_applied_fn cb,
                         void *arg)
{
    struct projection_args a;
    if (projection_args_of(doc, earlier, &a) != 0)
        return -1;
    struct call *c = open_batch(p);
    int rc = c ? 0 : -1, argc = c ? c->argc : 0;
    for (int i = 0; rc == 0 && i < PROJECTION_ENTRY_ARGS; i++)
        rc = call_push(c, a.argv[i], a.lens[i]);
    if (rc == 0) {
        struct entry *e = &c->entry[c->entries++];
        *e = (struct entry){ .cb = cb, .arg = arg };
        snprintf(e->task_id, sizeof e->task_id, "%s", a.argv[0]);
        snprintf(e->trace, sizeof e->trace, "%s", a.trace);
    } else {
        while (c && c->argc > argc) /* out of memory: the batch stays as it was */
            free(c->argv[--c->argc]);
        p->stats.failed++;
    }
    projection_args_clear(&a);
    return rc;
}

int projection_apply(struct projection *p, const bson_t *doc, projection_applied_fn cb, void *arg)
{
    bson_t received, outcome;
    if (logdoc_split(doc, &received, &outcome) != 0)
        return apply_records(p, doc, NULL, cb, arg);
    /* A task commit: both records in one entry. */
    int rc = apply_records(p, &outcome, &received, cb, arg);
    bson_destroy(&received);
    bson_destroy(&outcome);
    return rc;
}

/* ---- reads */

struct view_call {
    projection_view_fn cb;
    void *arg;
    char task_id[TASK_ID_LEN];
};

/* HGETALL's answer: the fields that are record _ids ("<task>:<seq>", "<task>:outcome") hold the records. */
static void on_hash(struct redisReply *reply, void *arg)
{
    struct view_call *v = arg;
    if (!reply || reply->type != REDIS_REPLY_ARRAY) {
        v->cb(NULL, 0, reply ? "redis refused the read" : "the message bus (Redis) is not reachable", v->arg);
        free(v);
        return;
    }
    size_t n = 0;
    const char **texts = calloc(reply->elements / 2 + 1, sizeof *texts);
    size_t *lens = calloc(reply->elements / 2 + 1, sizeof *lens);
    char *view = NULL;
    int found = 0;
    for (size_t i = 0; texts && lens && i + 1 < reply->elements; i += 2) {
        const struct redisReply *k = reply->element[i], *val = reply->element[i + 1];
        if (k->type == REDIS_REPLY_STRING && val->type == REDIS_REPLY_STRING && memchr(k->str, ':', k->len)) {
            texts[n] = val->str;
            lens[n++] = val->len;
        }
    }
    if (texts && lens && n > 0)
        view = taskview_render(v->task_id, texts, lens, n, &found);
    free(texts);
    free(lens);
    v->cb(view, found, found && !view ? "out of memory" : NULL, v->arg);
    free(v);
}

int projection_view(struct projection *p, const char *task_id, projection_view_fn cb, void *arg)
{
    struct view_call *v = malloc(sizeof *v);
    if (!v)
        return -1;
    *v = (struct view_call){ .cb = cb, .arg = arg };
    snprintf(v->task_id, sizeof v->task_id, "%s", task_id);
    if (bus_command(p->bus, on_hash, v, "HGETALL " PROJECTION_KEY_PREFIX "%s", task_id) != 0) {
        free(v);
        return -1;
    }
    return 0;
}

static const char *str_or_null(const struct redisReply *r)
{
    return r->type == REDIS_REPLY_STRING ? r->str : NULL;
}

static void listed(struct call *c, struct redisReply *reply)
{
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        (reply->elements - 1) % LIST_FIELDS != 0) {
        c->list_cb(NULL, reply ? "redis refused the listing" : "the message bus (Redis) is not reachable", c->arg);
        return;
    }
    size_t n = (reply->elements - 1) / LIST_FIELDS;
    struct taskview_item *items = calloc(n + 1, sizeof *items);
    if (!items) {
        c->list_cb(NULL, "out of memory", c->arg);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct redisReply **f = reply->element + 1 + i * LIST_FIELDS;
        items[i] = (struct taskview_item){ str_or_null(f[0]), str_or_null(f[1]), str_or_null(f[2]),
                                           str_or_null(f[3]), str_or_null(f[4]), str_or_null(f[5]),
                                           str_or_null(f[6]), str_or_null(f[7]) };
        if (!items[i].id || !items[i].status) { /* the script always gives both: anything else is not our data */
            free(items);
            c->list_cb(NULL, "the projection holds malformed data", c->arg);
            return;
        }
    }
    const char *next = str_or_null(reply->element[0]);
    char *body = taskview_render_list(items, n, next && next[0] ? next : NULL);
    free(items);
    c->list_cb(body, body ? NULL : "out of memory", c->arg);
}

int projection_list(struct projection *p, const struct taskview_query *q, projection_list_fn cb, void *arg)
{
    char limit[16];
    snprintf(limit, sizeof limit, "%d", q->limit);
    const char *argv[5] = { q->bucket, q->service, q->after, limit, q->only };
    struct call *c = call_new(p, &list_script, 5);
    for (int i = 0; c && i < 5; i++)
        if (call_push(c, argv[i], strlen(argv[i])) != 0) {
            call_free(c);
            c = NULL;
        }
    if (!c)
        return -1;
    c->done = listed;
    c->list_cb = cb;
    c->arg = arg;
    if (send_script(c) != 0) {
        call_free(c);
        return -1;
    }
    return 0;
}

void projection_get_stats(const struct projection *p, struct projection_stats *out)
{
    *out = p->stats;
}
