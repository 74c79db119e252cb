/* process_* metrics from /proc/self: CPU, memory, open files, start time. */
#include "procstat.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"

struct procstat {
    struct metric_series *cpu, *rss, *vsize, *fds, *max_fds, *start;
};

struct procstat *procstat_new(struct metrics *m)
{
    struct procstat *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->cpu = metrics_add_counter(m, "process_cpu_seconds_total", "User and system CPU time spent in seconds.");
    p->rss = metrics_add_gauge(m, "process_resident_memory_bytes", "Resident memory size in bytes.");
    p->vsize = metrics_add_gauge(m, "process_virtual_memory_bytes", "Virtual memory size in bytes.");
    p->fds = metrics_add_gauge(m, "process_open_fds", "Number of open file descriptors.");
    p->max_fds = metrics_add_gauge(m, "process_max_fds", "Maximum number of open file descriptors.");
    p->start = metrics_add_gauge(m, "process_start_time_seconds",
                                 "Start time of the process since unix epoch in seconds.");
    if (!p->cpu || !p->rss || !p->vsize || !p->fds || !p->max_fds || !p->start) {
        free(p);
        return NULL;
    }
    struct timespec now, up;
    clock_gettime(CLOCK_REALTIME, &now);
    clock_gettime(CLOCK_MONOTONIC, &up);
    /* Field 22 of /proc/self/stat is the start in clock ticks since boot; the boot is now minus the uptime. */
    FILE *f = fopen("/proc/self/stat", "r");
    char line[1024];
    if (f && fgets(line, sizeof line, f)) {
        const char *rest = strrchr(line, ')');
        unsigned long long ticks = 0;
        if (rest && sscanf(rest + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                           &ticks) == 1) {
            double boot = (double)now.tv_sec + now.tv_nsec / 1e9 - ((double)up.tv_sec + up.tv_nsec / 1e9);
            metric_set(p->start, boot + (double)ticks / (double)sysconf(_SC_CLK_TCK));
        }
    }
    if (f)
        fclose(f);
    return p;
}

static long count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

void procstat_collect(struct procstat *p)
{
    if (!p)
        return;
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        metric_set(p->cpu, (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                               ru.ru_stime.tv_usec / 1e6);
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long pages_v, pages_r;
    if (f && fscanf(f, "%llu %llu", &pages_v, &pages_r) == 2) {
        long page = sysconf(_SC_PAGESIZE);
        metric_set(p->vsize, (double)pages_v * (double)page);
        metric_set(p->rss, (double)pages_r * (double)page);
    }
    if (f)
        fclose(f);
    long fds = count_fds();
    if (fds >= 0)
        metric_set(p->fds, (double)fds);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        metric_set(p->max_fds, rl.rlim_cur == RLIM_INFINITY ? 1e9 : (double)rl.rlim_cur);
}

void procstat_free(struct procstat *p)
{
    free(p);
}
