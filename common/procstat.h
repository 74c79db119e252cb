/* The process's own gauges in Prometheus's standard names (process_cpu_seconds_total, process_resident_memory_bytes,
 * process_open_fds, ...), read from /proc when a scrape asks. */
#ifndef TASKBUS_PROCSTAT_H
#define TASKBUS_PROCSTAT_H

struct metrics;
struct procstat;

/* Declare the process families in 'm'. Returns NULL when out of memory (then nothing is collected). */
struct procstat *procstat_new(struct metrics *m);
/* Read /proc/self and set the families (before rendering). A file that cannot be read leaves its value as it was.
 * Any thread; NULL-safe. */
void procstat_collect(struct procstat *p);
void procstat_free(struct procstat *p);

#endif
