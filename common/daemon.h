/* What every daemon's main needs besides its modules: signal handling on the loop and the standard settings. */
#ifndef TASKBUS_DAEMON_H
#define TASKBUS_DAEMON_H

#include <stddef.h>

#include "config.h"
#include "log.h"

struct event_base;
struct daemon_signals;

/* The settings every daemon shares: Redis, the registry's timing (also the bus watchdog's period), the publish
 * window and local queue bound, and the log level and format. Redis credentials: 'redis_password' is NULL when
 * none is set (no AUTH), else REDIS_PASSWORD or the first line of REDIS_PASSWORD_FILE; 'redis_username' is NULL
 * for the "default" user. Neither is ever printed. */
struct daemon_settings {
    const char *redis_host, *log_level_name, *metrics_name, *log_format_name;
    const char *redis_username, *redis_password, *redis_password_file;
    long redis_port, heartbeat_ms, replica_ttl_ms, bus_window, bus_max_queue, metrics_port;
    enum log_level log_level;
    int metrics;                   /* METRICS=on */
    enum log_format log_format;
};

extern struct daemon_settings daemon_settings;

/* Load the daemon's own table 'own' followed by the shared variables into their destinations and
 * 'daemon_settings' (config_init: --help prints both; an invalid value exits 1 naming the variable), and set the
 * log format (log_set_format). */
void daemon_configure(int argc, char **argv, const char *daemon, const char *purpose, const struct config_var *own,
                      size_t n_own);

/* Ignore SIGPIPE and call 'on_stop' on the loop when SIGTERM or SIGINT arrives (a second signal exits at once,
 * status 1). Returns NULL when out of memory. */
struct daemon_signals *daemon_signals_new(struct event_base *base, void (*on_stop)(void *arg), void *arg);

/* Call 'on_reload' on the loop when SIGHUP arrives (re-read what can be re-read; keep the old state when that
 * fails). Without a reload callback SIGHUP is logged and ignored: it never stops a daemon. */
void daemon_signals_on_reload(struct daemon_signals *s, void (*on_reload)(void *arg), void *arg);

void daemon_signals_free(struct daemon_signals *s);

/* A secret from the variable 'var' or the first line of the file named by 'file_var' (Docker secrets), into 'buf'
 * (SECRET_LEN bytes). Returns buf, or NULL when neither is set. Both set, or an unreadable or empty file, print one
 * line naming the variable (never the secret) and exit 1. */
const char *daemon_secret(const char *daemon, const char *var, const char *file_var, char *buf);

/* Raise the open-file limit to its hard maximum (many connections). Returns the new soft limit. */
long daemon_raise_nofile(void);

#endif
