/* Logging to stderr as "ts=... level=... daemon=... replica=... <message>" lines, or as JSON objects. */
#include "log.h"

#include "logfmt.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum log_level log_threshold = LOG_INFO;
static char log_daemon[32] = "taskbus";
static char log_replica[96] = "-";
static enum log_format log_format = LOG_TEXT;

void log_init(const char *daemon, const char *replica, enum log_level threshold)
{
    snprintf(log_daemon, sizeof log_daemon, "%s", daemon);
    snprintf(log_replica, sizeof log_replica, "%s", replica);
    log_threshold = threshold;
}

int log_level_parse(const char *name, enum log_level *out)
{
    static const char *names[] = { "error", "warn", "info", "debug" };
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

int log_format_parse(const char *name, enum log_format *out)
{
    if (strcmp(name, "text") != 0 && strcmp(name, "json") != 0)
        return -1;
    *out = strcmp(name, "json") == 0 ? LOG_JSON : LOG_TEXT;
    return 0;
}

void log_set_format(enum log_format format)
{
    log_format = format;
}

void log_write(enum log_level level, const char *fmt, ...)
{
    static const char *names[] = { "error", "warn", "info", "debug" };
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    /* A JSON line is the same logfmt line converted, with the time under the key "time". */
    int n = snprintf(line, sizeof line, "%s=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s daemon=%s replica=%s ",
                     log_format == LOG_JSON ? "time" : "ts", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, names[level], log_daemon, log_replica);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line)
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    /* One fputs per line keeps lines from several threads whole. */
    if (log_format == LOG_JSON) {
        char json[4096];
        size_t len = logfmt_to_json(line, sizeof line, json, sizeof json - 1);
        json[len] = '\n';
        json[len + 1] = '\0';
        fputs(json, stderr);
        return;
    }
    size_t len = strnlen(line, sizeof line - 2);
    line[len] = '\n';
    line[len + 1] = '\0';
    fputs(line, stderr);
}

const char *log_escape(const char *in, char *out, size_t len)
{
    size_t n = 0;
    for (; *in && n + 5 < len; in++) {
        unsigned char c = (unsigned char)*in;
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            n += (size_t)snprintf(out + n, len - n, "\\x%02x", c);
        } else {
            out[n++] = (char)c;
        }
    }
    if (len > 0)
        out[n < len ? n : len - 1] = '\0';
    return out;
}
