/* Event-log records as JSON, fast. Pure.
 *
 * The projection turns every stored record into JSON, and libbson's bson_as_relaxed_extended_json spent ~20 % of
 * the events daemon's CPU on it (bench/results/profile-latest.md): it visits each field through callbacks and
 * escapes strings one character at a time into a growing buffer. Records are flat documents of strings, int32s and
 * dates, so this writes them in one pass into one buffer, with the same output: relaxed extended JSON, dates as
 * {"$date":"<ISO-8601 UTC, milliseconds>"}. A document holding anything else (a nested document, another type, a
 * date outside years 1970-9999) is handed to libbson as a whole. */
#ifndef TASKBUS_RECJSON_H
#define TASKBUS_RECJSON_H

#include <bson/bson.h>

/* The relaxed extended JSON of 'doc', as bson_as_relaxed_extended_json writes it. Returns a string the caller frees
 * with free(), or NULL when a string in 'doc' is not valid UTF-8 (as libbson does) or memory ran out. */
char *recjson_of(const bson_t *doc);

#endif
