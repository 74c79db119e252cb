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
 * a set may hold members not read yet). Members whose hash expired, of another status, or whose time is not their
 * task's created (left by a replica the task was handed to: see "direct writes") are skipped; at most 1,000 plus
 * ten pages' worth are looked at per call (then the page is short, and the cursor goes on from there). Members are
 * compared as ZREVRANGEBYLEX orders them, by their bytes (time first): never with Lua's < on strings, which follows
 * the locale Redis runs in (strcoll). */
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
    "local function newer(a, b)\n"
    "  local ta, tb = tonumber(string.sub(a, 1, 16)), tonumber(string.sub(b, 1, 16))\n"
    "  if ta ~= tb then return ta > tb end\n"
    "  for i = 18, math.min(#a, #b) do\n"
    "    local x, y = string.byte(a, i), string.byte(b, i)\n"
    "    if x ~= y then return x > y end\n"
    "  end\n"
    "  return #a > #b\n"
    "end\n"
    "while found < limit and scanned < 1000 + limit * 10 do\n"
    "  local merged, floor = {}, nil\n"
    "  for _, k in ipairs(keys) do\n"
    "    local members = call('ZREVRANGEBYLEX', k, max, '-', 'LIMIT', 0, chunk)\n"
    "    for _, m in ipairs(members) do merged[#merged + 1] = m end\n"
    "    if #members == chunk and (not floor or newer(members[chunk], floor)) then floor = members[chunk] end\n"
    "  end\n"
    "  if #merged == 0 then return out end\n"
    "  table.sort(merged, newer)\n"
    "  for i, m in ipairs(merged) do\n"
    "    if (floor and newer(floor, m)) or found == limit then break end\n"
    "    max = '(' .. m\n"
    "    if m ~= merged[i - 1] then\n"
    "      scanned = scanned + 1\n"
    "      local id = string.sub(m, 18)\n"
    "      local f = call('HMGET', 'taskbus:task:' .. id, 'status', 'taskType', 'service', 'created', 'result',\n"
    "                     'error', 'code')\n"
    "      if f[1] and (only == '' or f[1] == only) and tonumber(f[4]) == tonumber(string.sub(m, 1, 16)) then\n"
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
    int failed;                        /* a direct write: 1 a command could not be sent, 2 Redis refused one */
};

/* A direct batch's transaction at most: per entry HSET, two PEXPIREATs, ZADD and maybe a trim; one SADD. */
#define DIRECT_COMMANDS (PROJECTION_BATCH * 5 + 1)

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
    int direct;                        /* a batch of direct writes (no script): PROJECTION_ENTRY_ARGS per entry */
    int queued;                        /* a direct batch sent: the commands between its MULTI and EXEC */
    signed char command_entry[DIRECT_COMMANDS]; /* the entry each queued command writes (-1: the batch's SADD) */
};

struct projection {
    struct bus *bus;
    long retention_s;
    struct event *flush;               /* active while batches wait: sends them once the loop's callbacks are done */
    struct call *first, *last;         /* batches not sent yet */
    struct call *open[2];              /* the script batch and the direct batch still taking records, if any */
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
 * three pushed; with 'script' NULL, a direct batch with room for 'argc' arguments. NULL when out of memory. */
static struct call *call_new(struct projection *p, struct script *script, int argc)
{
    struct call *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->p = p;
    c->script = script;
    c->direct = script == NULL;
    c->cap = argc + 3;
    c->argv = calloc((size_t)c->cap, sizeof *c->argv);
    c->lens = calloc((size_t)c->cap, sizeof *c->lens);
    const char *sha = script ? sha_of(script) : NULL;
    if (!c->argv || !c->lens || (script && (call_push(c, script->evalsha, strlen(script->evalsha)) != 0 ||
                                            call_push(c, sha, strlen(sha)) != 0 || call_push(c, "0", 1) != 0))) {
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

/* Count and log entry 'e''s fate (applied, or failed for 'why'), then run its callback. */
static void report(struct projection *p, const struct entry *e, const char *why)
{
    if (!why) {
        p->stats.applied++;
    } else {
        p->stats.failed++;
        LOG_W("event=projection_failed task=%s" LOG_TRACE " error=\"%s\"", e->task_id, LOG_TRACE_ARG(e->trace), why);
    }
    if (e->cb)
        e->cb(e->arg);
}

/* Redis answered a batch (or it could not be sent: 'reply' NULL): one integer per record when applied. Each record's
 * callback runs, in order, whatever the answer. */
static void applied(struct call *c, struct redisReply *reply)
{
    int ok = reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == (size_t)c->entries;
    for (int i = 0; i < c->entries; i++) {
        int done = ok && reply->element[i]->type == REDIS_REPLY_INTEGER && reply->element[i]->integer >= 0;
        report(c->p, &c->entry[i], done ? NULL : !reply ? "redis is not reachable"
                                           : ok ? "redis refused the record" : "redis refused the script");
    }
}

/* ---- direct writes
 *
 * A task commit that holds a task's arrival and its outcome, stored by the events replica the task was sent to
 * first (no handoff), is the task's whole life so far, and no other writer can have projected more of it: a replica
 * it was handed to later projects through the script (which reads and merges), and an outcome stored by one makes
 * this commit a duplicate, never acknowledged, never projected. So its projection needs no read: it goes as plain
 * commands in one MULTI/EXEC per batch, HSET of the hash, PEXPIREAT NX and GT (set the expiry on a new hash, only
 * lengthen an existing one), ZADD to its final bucket's set, and once per batch and service SADD to the services.
 * The transaction keeps it all-or-nothing, as a script call is (in memory, in the AOF, in a snapshot): a hash never
 * lands without its expiry or its index member. Against the script, Redis spends about half the time per task
 * (bench/projection_cost.py --direct). What the script does that these cannot: remove an older index member of the
 * task. A replica it was handed to may have indexed it under its own (later) arrival; the hash's created is then
 * this commit's earlier one, and listings skip a member whose time is not its task's created. Each entry's callback
 * runs once EXEC has answered (or failed), in order, as for the script. */

/* Queue one command of a direct batch's transaction, for entry 'entry' (-1: the batch's own). Returns 0, or -1 when
 * it could not be sent. */
static int direct_queue(struct call *c, int entry, int argc, const char **argv, const size_t *lens)
{
    if (c->queued == DIRECT_COMMANDS || bus_command_argv(c->p->bus, NULL, NULL, argc, argv, lens) != 0)
        return -1;
    c->command_entry[c->queued++] = (signed char)entry;
    return 0;
}

/* Queue entry 'i''s commands: its arguments are the script's (PROJECTION_ENTRY_ARGS from argv[i * that]). Returns
 * 0, or -1 when one could not be sent. */
static int direct_entry(struct call *c, int i, long long retention_ms, const char *cutoff)
{
    char *const *a = c->argv + (size_t)i * PROJECTION_ENTRY_ARGS;
    const size_t *n = c->lens + (size_t)i * PROJECTION_ENTRY_ARGS;
    long long at = strtoll(a[6], NULL, 10), earlier = strtoll(a[12], NULL, 10);
    long long created = earlier < at ? earlier : at;
    char key[sizeof PROJECTION_KEY_PREFIX + TASK_ID_LEN], created_s[24], expires[24], member[TASKVIEW_CURSOR_LEN];
    char index[TASKVIEW_KEY_LEN];
    snprintf(key, sizeof key, PROJECTION_KEY_PREFIX "%s", a[0]);
    snprintf(created_s, sizeof created_s, "%lld", created);
    snprintf(expires, sizeof expires, "%lld", at + retention_ms);
    taskview_member(created, a[0], member);
    taskview_index_key(taskview_status_parse(a[3]), a[4], index);

    const char *hset[20] = { "HSET", key, "status", a[3], "created", created_s, a[1], a[2], a[10], a[11] };
    size_t hlen[20] = { 4, strlen(key), 6, n[3], 7, strlen(created_s), n[1], n[2], n[10], n[11] };
    int argc = 10;
    static const char *const names[] = { "service", "taskType", "result", "error", "code" };
    static const int from[] = { 4, 5, 7, 8, 9 };
    for (int k = 0; k < 5; k++)
        if (n[from[k]] > 0) {
            hset[argc] = names[k];
            hlen[argc++] = strlen(names[k]);
            hset[argc] = a[from[k]];
            hlen[argc++] = n[from[k]];
        }
    if (direct_queue(c, i, argc, hset, hlen) != 0)
        return -1;
    for (int k = 0; k < 2; k++) {
        const char *expire[4] = { "PEXPIREAT", key, expires, k ? "GT" : "NX" };
        const size_t elen[4] = { 9, strlen(key), strlen(expires), 2 };
        if (direct_queue(c, i, 4, expire, elen) != 0)
            return -1;
    }
    const char *zadd[4] = { "ZADD", index, "0", member };
    const size_t zlen[4] = { 4, strlen(index), 1, strlen(member) };
    if (direct_queue(c, i, 4, zadd, zlen) != 0)
        return -1;
    if ((unsigned char)a[0][n[0] - 1] % 16 != 0)
        return 0;
    const char *trim[4] = { "ZREMRANGEBYLEX", index, "-", cutoff };
    const size_t tlen[4] = { 14, strlen(index), 1, strlen(cutoff) };
    return direct_queue(c, i, 4, trim, tlen);
}

/* Each entry's fate and callback, then the batch goes. */
static void direct_finish(struct call *c)
{
    for (int i = 0; i < c->entries; i++)
        report(c->p, &c->entry[i], c->entry[i].failed == 1 ? "redis is not reachable"
                                   : c->entry[i].failed ? "redis refused the record" : NULL);
    call_free(c);
}

/* EXEC's answer: one reply per queued command, an error for each one Redis refused (and an error, or NULL, when
 * the whole transaction was refused or lost: then every entry failed). */
static void on_exec(struct redisReply *reply, void *arg)
{
    struct call *c = arg;
    int whole = reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == (size_t)c->queued;
    for (int k = 0; k < c->queued; k++) {
        if (whole && reply->element[k]->type != REDIS_REPLY_ERROR)
            continue;
        for (int i = 0; i < c->entries; i++) /* a refused SADD (-1) fails the batch: its services may be unlisted */
            if (c->command_entry[k] < 0 || c->command_entry[k] == i)
                c->entry[i].failed = reply ? 2 : 1;
    }
    direct_finish(c);
}

/* Send a direct batch: MULTI, each entry's commands, SADD of the services it indexed, EXEC. When a command cannot
 * be sent the transaction is discarded (so the connection is never left inside one) and every entry fails. */
static void send_direct(struct call *c)
{
    long long now = clock_wall_ms(), retention_ms = c->p->retention_s * 1000LL;
    char cutoff[TASKVIEW_CURSOR_LEN];
    const char *sadd[2 + PROJECTION_BATCH] = { "SADD", "taskbus:index:services" };
    size_t slen[2 + PROJECTION_BATCH] = { 4, 22 };
    const char *multi = "MULTI", *exec = "EXEC", *discard = "DISCARD";
    size_t five = 5, four = 4, seven = 7;
    int services = 2, ok = bus_command_argv(c->p->bus, NULL, NULL, 1, &multi, &five) == 0;
    int opened = ok;
    snprintf(cutoff, sizeof cutoff, "(%016lld", now - retention_ms);
    for (int i = 0; ok && i < c->entries; i++) {
        char *const *a = c->argv + (size_t)i * PROJECTION_ENTRY_ARGS;
        if (strtoll(a[6], NULL, 10) + retention_ms <= now) /* its task would expire at once */
            continue;
        ok = direct_entry(c, i, retention_ms, cutoff) == 0;
        int seen = 0;
        for (int k = 2; k < services && !seen; k++)
            seen = strcmp(sadd[k], a[4]) == 0;
        if (!seen) {
            sadd[services] = a[4];
            slen[services++] = c->lens[(size_t)i * PROJECTION_ENTRY_ARGS + 4];
        }
    }
    if (ok && c->queued == 0) { /* every entry past the retention: nothing to write */
        bus_command_argv(c->p->bus, NULL, NULL, 1, &discard, &seven);
        direct_finish(c);
        return;
    }
    ok = ok && (services == 2 || direct_queue(c, -1, services, sadd, slen) == 0);
    if (ok && bus_command_argv(c->p->bus, on_exec, c, 1, &exec, &four) == 0)
        return;
    if (opened)
        bus_command_argv(c->p->bus, NULL, NULL, 1, &discard, &seven);
    for (int i = 0; i < c->entries; i++)
        c->entry[i].failed = 1;
    direct_finish(c);
}

void projection_flush(struct projection *p)
{
    while (p && p->first) {
        struct call *c = p->first;
        p->first = c->next;
        if (!p->first)
            p->last = NULL;
        if (p->open[c->direct] == c)
            p->open[c->direct] = NULL;
        if (c->direct) {
            send_direct(c);
        } else if (send_script(c) != 0) {
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

/* The batch of kind 'direct' that takes the next record: the open one, or a new one (queued) when there is none or
 * it is full. NULL when out of memory. */
static struct call *open_batch(struct projection *p, int direct)
{
    struct call *c = p->open[direct];
    if (c && c->entries < PROJECTION_BATCH)
        return c;
    if (direct) {
        c = call_new(p, NULL, PROJECTION_BATCH * PROJECTION_ENTRY_ARGS);
    } else {
        char retention[24], now[24];
        c = call_new(p, &apply_script, 2 + PROJECTION_BATCH * PROJECTION_ENTRY_ARGS);
        projection_args_head(p->retention_s, clock_wall_ms(), retention, now);
        if (c && (call_push(c, retention, strlen(retention)) != 0 || call_push(c, now, strlen(now)) != 0)) {
            call_free(c);
            c = NULL;
        }
        if (c)
            c->done = applied;
    }
    if (!c)
        return NULL;
    if (p->last)
        p->last->next = c;
    else
        p->first = c;
    p->last = p->open[direct] = c;
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

/* Add 'doc', and 'earlier' (may be NULL) with it, to the open batch of its kind ('direct': see "direct writes"). */
static int apply_records(struct projection *p, const bson_t *doc, const bson_t *earlier, int direct,
                         projection_applied_fn cb, void *arg)
{
    struct projection_args a;
    if (projection_args_of(doc, earlier, &a) != 0)
        return -1;
    enum taskview_status status = taskview_status_parse(a.argv[3]);
    direct = direct && earlier && (status == TASKVIEW_COMPLETED || status == TASKVIEW_FAILED);
    struct call *c = open_batch(p, direct);
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

/* 1 when the arrival 'received' is that of a task handed to this replica (handoff > 0): another one may have
 * projected the task before. */
static int handed_over(const bson_t *received)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, received, "handoff") && BSON_ITER_HOLDS_INT32(&it) && bson_iter_int32(&it) > 0;
}

int projection_apply(struct projection *p, const bson_t *doc, projection_applied_fn cb, void *arg)
{
    bson_t received, outcome;
    if (logdoc_split(doc, &received, &outcome) != 0)
        return apply_records(p, doc, NULL, 0, cb, arg);
    /* A task commit: both records in one entry. */
    int rc = apply_records(p, &outcome, &received, !handed_over(&received), cb, arg);
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
