/* Prometheus metrics: counters, gauges and histograms whose label values come from bounded sets, updated from any
 * thread with relaxed atomics (no lock on the hot path) and rendered in the text exposition format 0.0.4, or as a
 * JSON snapshot for the dashboard. Rendering reads only atomics, so a scrape never stops the thread that counts. */
#ifndef TASKBUS_METRICS_H
#define TASKBUS_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

#define METRIC_MAX_LABELS 3
#define METRIC_MAX_SERIES 64     /* label combinations per family; past it, new ones count under "other" */
#define METRIC_MAX_BUCKETS 16
#define METRIC_VALUE_LEN 48      /* a label value, truncated */

struct metrics;
struct metric;

/* One label combination of a family: its value (a double's bits), or a histogram's buckets and sum
 * (its count is the sum of its buckets, so the two always agree in a scrape). */
struct metric_series {
    struct metric *family;
    char values[METRIC_MAX_LABELS][METRIC_VALUE_LEN];
    atomic_uint_least64_t value;                       /* counter or gauge, as the bits of a double */
    atomic_uint_least64_t buckets[METRIC_MAX_BUCKETS]; /* observations <= bounds[i] (not cumulative) */
    atomic_uint_least64_t sum;                         /* histogram: their sum, as the bits of a double */
};

/* Latency buckets in seconds, from 100 µs to 10 s. */
extern const double METRIC_SECONDS_BUCKETS[];
extern const size_t METRIC_SECONDS_BUCKETS_N;

/* A registry. Returns NULL when out of memory. Free with metrics_free after every thread that counts has stopped. */
struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* Declare a family: 'name' (copied; a valid Prometheus name), 'help' (copied), 'labels' a comma-separated list of
 * at most METRIC_MAX_LABELS label names or NULL, and for a histogram its 'n_bounds' ascending upper bounds (copied;
 * at most METRIC_MAX_BUCKETS - 1, +Inf is implied). A family without labels gets its one series at once, so it is
 * rendered (as 0) before anything counts. Returns the family (owned by 'm'), or NULL when out of memory, on a full
 * registry or on a bad declaration. Call before the threads that count start. */
struct metric *metrics_add(struct metrics *m, enum metric_type type, const char *name, const char *help,
                           const char *labels, const double *bounds, size_t n_bounds);

/* The one series of a new counter or gauge without labels (metrics_add, then metric_only): for the many families
 * that are a single number. NULL when 'm' is NULL (METRICS=off) or on a bad declaration. */
struct metric_series *metrics_add_counter(struct metrics *m, const char *name, const char *help);
struct metric_series *metrics_add_gauge(struct metrics *m, const char *name, const char *help);

/* The series of 'f' for the label values given, in the order of the declaration (as many as it has labels; NULL
 * or missing values count as ""). Created on first use; values are truncated to METRIC_VALUE_LEN - 1 bytes. Past
 * METRIC_MAX_SERIES - 1 combinations every new one shares one series whose values are all "other". Returns the
 * same pointer for the same values, so callers may cache it; NULL when 'f' is NULL, or out of memory before the
 * family had any series (every metric_ call takes NULL). Any thread; a new combination takes the registry's lock
 * once. */
struct metric_series *metric_labels(struct metric *f, const char *v1, const char *v2, const char *v3);
/* The series of a family without labels (NULL-safe). */
struct metric_series *metric_only(struct metric *f);

/* Add 'v' to a counter or gauge; set a gauge (or a counter copied from a module's own running total); observe one
 * value of a histogram. All NULL-safe, so a module can be given no metrics. Any thread. */
void metric_add(struct metric_series *s, double v);
void metric_set(struct metric_series *s, double v);
void metric_observe(struct metric_series *s, double v);
/* The current value of a counter or gauge (0 for NULL). */
double metric_value(const struct metric_series *s);

/* Render every family in the Prometheus text format into a malloc'd string the caller frees; '*len' gets its
 * length. Returns NULL when out of memory. */
char *metrics_render_text(struct metrics *m, size_t *len);
/* The same values as JSON, for the dashboard: [["name",{"label":"value",...},value],...] with histograms as their
 * _bucket (cumulative, with "le"), _sum and _count series. Returns a malloc'd string, or NULL when out of memory. */
char *metrics_render_json(struct metrics *m, size_t *len);

#endif
