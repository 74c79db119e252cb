/* Signal events and process limits for the daemons. */
#include "daemon.h"

#include <event2/event.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.h"

struct daemon_signals {
    struct event *term, *intr;
    void (*on_stop)(void *arg);
    void *arg;
    int stopping;
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
    if (!s->term || !s->intr || evsignal_add(s->term, NULL) != 0 || evsignal_add(s->intr, NULL) != 0) {
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
