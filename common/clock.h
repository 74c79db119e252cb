/* Wall-clock and monotonic time in milliseconds, and replica ids. */
#ifndef TASKBUS_CLOCK_H
#define TASKBUS_CLOCK_H

#include <stddef.h>
#include <sys/time.h>

/* Milliseconds since the epoch: the registry's clock, shared by every replica. */
long long clock_wall_ms(void);

/* A duration of 'ms' milliseconds (negative counts as 0) as a struct timeval, for libevent timers. */
struct timeval clock_timeval(long ms);

/* Milliseconds of a monotonic clock: for local deadlines. */
long long clock_mono_ms(void);

/* Seconds of the monotonic clock, with its full resolution: for latency histograms. */
double clock_mono_s(void);

/* Write a replica id "<service>-<hostname>-<pid>-<random hex>" into 'buf' ('len' bytes). Unique across hosts,
 * restarts and containers that share a pid namespace. */
void clock_replica_id(const char *service, char *buf, size_t len);

/* Fill 'buf' with 'n' random bytes from getrandom(2); falls back to the clock only if it fails. */
void clock_random(void *buf, size_t n);

#endif
