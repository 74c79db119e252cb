/* Time and identity helpers. */
#include "clock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

long long clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double clock_mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void clock_random(void *buf, size_t n)
{
    /* Reads above 256 bytes may come back short when a signal interrupts them: read on until all are there. */
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom((unsigned char *)buf + got, n - got, 0);
        if (r < 0 && errno != EINTR)
            break;
        got += r > 0 ? (size_t)r : 0;
    }
    if (got == n)
        return;
    long long seed = clock_mono_ms() ^ ((long long)getpid() << 20);
    unsigned char *p = buf;
    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005LL + 1442695040888963407LL;
        p[i] = (unsigned char)(seed >> 33);
    }
}

void clock_replica_id(const char *service, char *buf, size_t len)
{
    char host[64] = "host";
    unsigned char rnd[4];
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    clock_random(rnd, sizeof rnd);
    snprintf(buf, len, "%s-%.40s-%d-%02x%02x%02x%02x", service, host, (int)getpid(), rnd[0], rnd[1], rnd[2], rnd[3]);
}

struct timeval clock_timeval(long ms)
{
    if (ms < 0)
        ms = 0;
    return (struct timeval){ ms / 1000, (ms % 1000) * 1000 };
}
