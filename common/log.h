/* Level-checked logging: one line per event on stderr, tagged with the daemon and replica id: key=value pairs, or
 * (LOG_FORMAT=json) the same pairs as one JSON object. */
#ifndef TASKBUS_LOG_H
#define TASKBUS_LOG_H

#include <stddef.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };
enum log_format { LOG_TEXT, LOG_JSON };

extern enum log_level log_threshold;

/* Set the daemon name and replica id that prefix every line (copied). */
void log_init(const char *daemon, const char *replica, enum log_level threshold);

/* Parse "error", "warn", "info" or "debug". Returns 0 and sets '*out', or -1. */
int log_level_parse(const char *name, enum log_level *out);

/* Parse "text" or "json". Returns 0 and sets '*out', or -1. */
int log_format_parse(const char *name, enum log_format *out);

/* Write every later line as 'format': LOG_TEXT "ts=<time> level=... daemon=... replica=... <message>", LOG_JSON
 * {"time":...,"level":...,"daemon":...,"replica":..., then the message's keys} (logfmt.h: all values strings).
 * Call before other threads log. */
void log_set_format(enum log_format format);

/* A task's trace id next to its id: LOG_I("event=x task=%s" LOG_TRACE " y=%d", id, LOG_TRACE_ARG(trace), y) writes
 * " trace=<id>" after the task, or nothing when 'trace' is "" (the task has none). 'trace' must not be NULL. */
#define LOG_TRACE "%s%s"
#define LOG_TRACE_ARG(trace) ((trace)[0] ? " trace=" : ""), (trace)

/* Copy 'in' into 'out' ('len' bytes, truncated) so it can stand inside a quoted value of a log line: '"' and '\\'
 * are escaped with a backslash and control bytes written as \xNN, so no input can end the value or the line.
 * Returns 'out'. */
#define LOG_VALUE_LEN 512
const char *log_escape(const char *in, char *out, size_t len);

void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Arguments are not evaluated when the level is off. */
#define LOG(level, ...) do { if ((level) <= log_threshold) log_write((level), __VA_ARGS__); } while (0)
#define LOG_E(...) LOG(LOG_ERROR, __VA_ARGS__)
#define LOG_W(...) LOG(LOG_WARN, __VA_ARGS__)
#define LOG_I(...) LOG(LOG_INFO, __VA_ARGS__)
#define LOG_D(...) LOG(LOG_DEBUG, __VA_ARGS__)

#endif
