/* Task commits: one event-log document holding a task's arrival and its outcome, written together. Pure: builds and
 * splits BSON, does no I/O.
 *
 * Most tasks are answered within milliseconds of their arrival. Events then holds the "received" record back and
 * writes it inside the outcome document (record.h describes both), so the log takes one document per task instead
 * of two; the store's cost is per document and per field. The commit keeps the outcome's _id "<task>:outcome" (a
 * task still has one outcome, whoever writes it) and its fields in their order, followed by the arrival's own:
 *   received   the arrival's "at" (a UTC date); its presence is what marks a commit
 *   frontend, request, taskType, subtask, and "handoff", "service" when the arrival had them, "attempt" when not 1
 * Derivable fields are not written: the arrival is the first step of its handoff and the outcome the next, so their
 * seqs follow from "handoff" (h * STORE_HANDOFF_STRIDE, + 1); a completed outcome's status is 200; the arrival's
 * _id, task, events and trace are the outcome's, and its backend is the outcome's (a commit is only made when the
 * task went out once, to the replica that answered, or never went out).
 * Splitting a commit gives back the two records field for field as they were built, so every reader (history,
 * projection, rebuild) sees the same records whichever shape the log holds; logs written before commits existed
 * hold only separate records, which read as they always did. */
#ifndef TASKBUS_LOGDOC_H
#define TASKBUS_LOGDOC_H

#include <bson/bson.h>

/* The field that marks a commit: the arrival's date. */
#define LOGDOC_RECEIVED_AT "received"

/* Merge the "received" record 'received' into the outcome record 'outcome' (neither is changed). Returns the commit
 * (the caller owns it: bson_destroy), or NULL when the two cannot be one document: 'received' is not a received
 * record of the same task and handoff whose seq directly precedes the outcome's, it names a backend other than the
 * outcome's, or memory ran out. The caller then writes them as two records. */
bson_t *logdoc_merge(const bson_t *received, const bson_t *outcome);

/* 1 when 'doc' is a commit (it holds an arrival and an outcome), else 0. */
int logdoc_is_commit(const bson_t *doc);

/* Split commit 'doc' into its two records: 'received' and 'outcome' are initialized (caller: bson_destroy both).
 * Returns 0, or -1 when 'doc' is not a well-formed commit (then neither is initialized). */
int logdoc_split(const bson_t *doc, bson_t *received, bson_t *outcome);

#endif
