/* What every daemon's main needs besides its modules: signal handling on the loop and the standard settings. */
#ifndef TASKBUS_DAEMON_H
#define TASKBUS_DAEMON_H

struct event_base;
struct daemon_signals;

/* Ignore SIGPIPE and call 'on_stop' on the loop when SIGTERM or SIGINT arrives (a second signal exits at once,
 * status 1). Returns NULL when out of memory. */
struct daemon_signals *daemon_signals_new(struct event_base *base, void (*on_stop)(void *arg), void *arg);

void daemon_signals_free(struct daemon_signals *s);

/* Raise the open-file limit to its hard maximum (many connections). Returns the new soft limit. */
long daemon_raise_nofile(void);

#endif
