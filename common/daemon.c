/* Signal events and process limits for the daemons. */
#include "daemon.h"

#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.h"
#include "secret.h"

struct daemon_settings daemon_settings;

static const struct config_var shared[] = {
    { "REDIS_HOST", CONFIG_STRING, "127.0.0.1", 1, 0, "Redis host", &daemon_settings.redis_host },
    { "REDIS_PORT", CONFIG_INT, "6379", 1, 65535, "Redis port", &daemon_settings.redis_port },
    { "REDIS_USERNAME", CONFIG_STRING, "", 0, 0, "Redis ACL user (empty: the default user)",
      &daemon_settings.redis_username },
    { "REDIS_PASSWORD", CONFIG_STRING, "", 0, 0,
      "Redis password, sent with AUTH first on every connection (empty: no AUTH)", &daemon_settings.redis_password },
    { "REDIS_PASSWORD_FILE", CONFIG_STRING, "", 0, 0,
      "file whose first line is the Redis password (Docker secrets); instead of REDIS_PASSWORD",
      &daemon_settings.redis_password_file },
    { "HEARTBEAT_MS", CONFIG_INT, "1000", 50, 60000,
      "registry heartbeat and refresh period; also the Redis watchdog's PING period (a connection silent for two "
      "periods is dropped and reconnected)",
      &daemon_settings.heartbeat_ms },
    { "REPLICA_TTL_MS", CONFIG_INT, "3000", 100, 600000, "a replica is dead this long after its last heartbeat",
      &daemon_settings.replica_ttl_ms },
    { "BUS_WINDOW", CONFIG_INT, "1024", 1, 1000000, "publishes in flight to Redis before queueing",
      &daemon_settings.bus_window },
    { "BUS_MAX_QUEUE", CONFIG_INT, "100000", 0, 10000000,
      "publishes queued locally beyond BUS_WINDOW; past it a publish fails at once (the frontend answers 503)",
      &daemon_settings.bus_max_queue },
    { "LOG_LEVEL", CONFIG_STRING, "info", 1, 0, "error, warn, info or debug", &daemon_settings.log_level_name },
    { "METRICS", CONFIG_STRING, "on", 1, 0,
      "on: count Prometheus metrics and share them with the dashboard through Redis once a second; off: neither "
      "(a measurement mode for the overhead)", &daemon_settings.metrics_name },
    { "METRICS_PORT", CONFIG_INT, "0", 0, 65535,
      "serve GET /metrics on this port from a thread of its own (0: no such listener; the frontend also serves it "
      "on PORT)", &daemon_settings.metrics_port },
    { "LOG_FORMAT", CONFIG_STRING, "text", 1, 0,
      "text (key=value lines) or json (one JSON object a line: time, level, daemon, replica, event, ...)",
      &daemon_settings.log_format_name },
};

#define DAEMON_MAX_VARS 32

void daemon_configure(int argc, char **argv, const char *daemon, const char *purpose, const struct config_var *own,
                      size_t n_own)
{
    size_t n_shared = sizeof shared / sizeof shared[0];
    struct config_var all[DAEMON_MAX_VARS];
    if (n_own + n_shared > DAEMON_MAX_VARS)
        abort(); /* a broken invariant of the tables, not a configuration error */
    memcpy(all, own, n_own * sizeof *own);
    memcpy(all + n_own, shared, sizeof shared);
    config_init(argc, argv, daemon, purpose, all, n_own + n_shared);
    if (log_level_parse(daemon_settings.log_level_name, &daemon_settings.log_level) != 0) {
        fprintf(stderr, "%s: invalid configuration: LOG_LEVEL=%s is not error, warn, info or debug\n", daemon,
                daemon_settings.log_level_name);
        exit(1);
    }
    if (strcmp(daemon_settings.metrics_name, "on") != 0 && strcmp(daemon_settings.metrics_name, "off") != 0) {
        fprintf(stderr, "%s: invalid configuration: METRICS=%s is not on or off\n", daemon,
                daemon_settings.metrics_name);
        exit(1);
    }
    daemon_settings.metrics = strcmp(daemon_settings.metrics_name, "on") == 0;
    if (log_format_parse(daemon_settings.log_format_name, &daemon_settings.log_format) != 0) {
        fprintf(stderr, "%s: invalid configuration: LOG_FORMAT=%s is not text or json\n", daemon,
                daemon_settings.log_format_name);
        exit(1);
    }
    log_set_format(daemon_settings.log_format);
    static char redis_password[SECRET_LEN];
    daemon_settings.redis_password = daemon_secret(daemon, "REDIS_PASSWORD", "REDIS_PASSWORD_FILE", redis_password);
    if (!*daemon_settings.redis_username)
        daemon_settings.redis_username = NULL;
}

const char *daemon_secret(const char *daemon, const char *var, const char *file_var, char *buf)
{
    const char *value = getenv(var), *path = getenv(file_var);
    char err[SECRET_ERR_LEN];
    if (value && *value && path && *path) {
        fprintf(stderr, "%s: invalid configuration: set %s or %s, not both\n", daemon, var, file_var);
        exit(1);
    }
    if (path && *path) {
        if (secret_read_file(file_var, path, buf, SECRET_LEN, err) != 0) {
            fprintf(stderr, "%s: invalid configuration: %s\n", daemon, err);
            exit(1);
        }
        return buf;
    }
    return value && *value ? value : NULL;
}

struct daemon_signals {
    struct event *term, *intr, *hup;
    void (*on_stop)(void *arg);
    void *arg;
    int stopping;
    void (*on_reload)(void *arg); /* SIGHUP; NULL: the signal is logged and otherwise ignored */
    void *reload_arg;
};

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct daemon_signals *s = arg;
    if (s->stopping) {
        LOG_W("event=forced_exit signal=%d", (int)sig);
        _exit(1);
    }
    s->stopping = 1;
    LOG_I("event=stopping signal=%d", (int)sig);
    s->on_stop(s->arg);
}

static void on_hangup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    struct daemon_signals *s = arg;
    if (!s->on_reload) {
        LOG_I("event=sighup_ignored reason=nothing_to_reload");
        return;
    }
    LOG_I("event=reloading signal=SIGHUP");
    s->on_reload(s->reload_arg);
}

void daemon_signals_on_reload(struct daemon_signals *s, void (*on_reload)(void *arg), void *arg)
{
    s->on_reload = on_reload;
    s->reload_arg = arg;
}

struct daemon_signals *daemon_signals_new(struct event_base *base, void (*on_stop)(void *arg), void *arg)
{
    signal(SIGPIPE, SIG_IGN);
    struct daemon_signals *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->on_stop = on_stop;
    s->arg = arg;
    s->term = evsignal_new(base, SIGTERM, on_signal, s);
    s->intr = evsignal_new(base, SIGINT, on_signal, s);
    s->hup = evsignal_new(base, SIGHUP, on_hangup, s);
    if (!s->term || !s->intr || !s->hup || evsignal_add(s->term, NULL) != 0 || evsignal_add(s->intr, NULL) != 0 ||
        evsignal_add(s->hup, NULL) != 0) {
        daemon_signals_free(s);
        return NULL;
    }
    return s;
}

void daemon_signals_free(struct daemon_signals *s)
{
    if (!s)
        return;
    if (s->term)
        event_free(s->term);
    if (s->intr)
        event_free(s->intr);
    if (s->hup)
        event_free(s->hup);
    free(s);
}

long daemon_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    return (long)rl.rlim_cur;
}
