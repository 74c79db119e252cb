/* Prometheus metrics: families of series updated with relaxed atomics, rendered as text or JSON. */
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_MAX_FAMILIES 96
#define METRIC_NAME_LEN 96

const double METRIC_SECONDS_BUCKETS[] = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                          0.25, 0.5, 1, 2.5, 10 };
const size_t METRIC_SECONDS_BUCKETS_N = sizeof METRIC_SECONDS_BUCKETS / sizeof METRIC_SECONDS_BUCKETS[0];

struct metric {
    enum metric_type type;
    char name[METRIC_NAME_LEN];
    char *help;
    int n_labels;
    char labels[METRIC_MAX_LABELS][METRIC_NAME_LEN];
    double bounds[METRIC_MAX_BUCKETS];
    size_t n_bounds;
    struct metric_series *series[METRIC_MAX_SERIES];
    atomic_size_t n_series;          /* published with release once series[n - 1] is complete */
    pthread_mutex_t *lock;           /* the registry's: creation of series only */
};

struct metrics {
    struct metric *families[METRICS_MAX_FAMILIES];
    size_t n;
    pthread_mutex_t lock;
};

/* ---- doubles in atomics */

static uint64_t bits_of(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static double double_of(uint64_t u)
{
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

static void atomic_add_double(atomic_uint_least64_t *a, double v)
{
    uint64_t old = atomic_load_explicit(a, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(a, &old, bits_of(double_of(old) + v), memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

/* ---- registry */

struct metrics *metrics_new(void)
{
    struct metrics *m = calloc(1, sizeof *m);
    if (m)
        pthread_mutex_init(&m->lock, NULL);
    return m;
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        struct metric *f = m->families[i];
        for (size_t j = 0; j < atomic_load(&f->n_series); j++)
            free(f->series[j]);
        free(f->help);
        free(f);
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static int valid_name(const char *s)
{
    if (!s || !*s || strlen(s) >= METRIC_NAME_LEN)
        return 0;
    for (const char *p = s; *p; p++) {
        int alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_';
        if (!alpha && !(p > s && *p >= '0' && *p <= '9'))
            return 0;
    }
    return 1;
}

/* Split the comma-separated 'labels' into f->labels. Returns 0, or -1 on too many or invalid names. */
static int parse_labels(struct metric *f, const char *labels)
{
    if (!labels || !*labels)
        return 0;
    const char *p = labels;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (f->n_labels == METRIC_MAX_LABELS || len == 0 || len >= METRIC_NAME_LEN)
            return -1;
        memcpy(f->labels[f->n_labels], p, len);
        f->labels[f->n_labels][len] = '\0';
        if (!valid_name(f->labels[f->n_labels]) || strcmp(f->labels[f->n_labels], "le") == 0)
            return -1;
        f->n_labels++;
        p = end ? end + 1 : p + len;
    }
    return 0;
}

struct metric *metrics_add(struct metrics *m, enum metric_type type, const char *name, const char *help,
                           const char *labels, const double *bounds, size_t n_bounds)
{
    if (!m || m->n == METRICS_MAX_FAMILIES || !valid_name(name) || n_bounds >= METRIC_MAX_BUCKETS)
        return NULL;
    struct metric *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->type = type;
    snprintf(f->name, sizeof f->name, "%s", name);
    f->help = strdup(help ? help : "");
    f->lock = &m->lock;
    if (type == METRIC_HISTOGRAM) {
        f->n_bounds = n_bounds;
        for (size_t i = 0; i < n_bounds; i++)
            f->bounds[i] = bounds[i];
    }
    if (!f->help || parse_labels(f, labels) != 0) {
        free(f->help);
        free(f);
        return NULL;
    }
    m->families[m->n++] = f;
    if (f->n_labels == 0)
        metric_only(f);
    return f;
}

struct metric_series *metrics_add_counter(struct metrics *m, const char *name, const char *help)
{
    return metric_only(metrics_add(m, METRIC_COUNTER, name, help, NULL, NULL, 0));
}

struct metric_series *metrics_add_gauge(struct metrics *m, const char *name, const char *help)
{
    return metric_only(metrics_add(m, METRIC_GAUGE, name, help, NULL, NULL, 0));
}

/* ---- series */

static int series_matches(const struct metric_series *s, int n, const char *const *values)
{
    for (int i = 0; i < n; i++)
        if (strncmp(s->values[i], values[i], METRIC_VALUE_LEN - 1) != 0)
            return 0;
    return 1;
}

static struct metric_series *series_find(struct metric *f, const char *const *values)
{
    size_t n = atomic_load_explicit(&f->n_series, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        if (series_matches(f->series[i], f->n_labels, values))
            return f->series[i];
    return NULL;
}

struct metric_series *metric_labels(struct metric *f, const char *v1, const char *v2, const char *v3)
{
    if (!f)
        return NULL;
    const char *given[METRIC_MAX_LABELS] = { v1 ? v1 : "", v2 ? v2 : "", v3 ? v3 : "" };
    struct metric_series *s = series_find(f, given);
    if (s)
        return s;
    static const char *const others[METRIC_MAX_LABELS] = { "other", "other", "other" };
    pthread_mutex_lock(f->lock);
    size_t n = atomic_load_explicit(&f->n_series, memory_order_relaxed);
    const char *const *values = n + 1 < METRIC_MAX_SERIES ? given : others;
    s = series_find(f, values);
    if (!s && n < METRIC_MAX_SERIES && (s = calloc(1, sizeof *s)) != NULL) {
        s->family = f;
        for (int i = 0; i < f->n_labels; i++)
            snprintf(s->values[i], METRIC_VALUE_LEN, "%s", values[i]);
        f->series[n] = s;
        atomic_store_explicit(&f->n_series, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(f->lock);
    /* Out of memory: the first series stands in (NULL if there is none yet: every metric_ call takes NULL). */
    return s ? s : f->series[0];
}

struct metric_series *metric_only(struct metric *f)
{
    return metric_labels(f, NULL, NULL, NULL);
}

void metric_add(struct metric_series *s, double v)
{
    if (s)
        atomic_add_double(&s->value, v);
}

void metric_set(struct metric_series *s, double v)
{
    if (s)
        atomic_store_explicit(&s->value, bits_of(v), memory_order_relaxed);
}

double metric_value(const struct metric_series *s)
{
    return s ? double_of(atomic_load_explicit(&s->value, memory_order_relaxed)) : 0;
}

void metric_observe(struct metric_series *s, double v)
{
    if (!s)
        return;
    const struct metric *f = s->family;
    size_t i = 0;
    while (i < f->n_bounds && v > f->bounds[i])
        i++;
    atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
    atomic_add_double(&s->sum, v);
}

/* ---- rendering */

struct buf {
    char *data;
    size_t len, cap;
    int failed;
};

static void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void buf_printf(struct buf *b, const char *fmt, ...)
{
    for (int tries = 0; tries < 2 && !b->failed; tries++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->data ? b->data + b->len : NULL, b->data ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if (b->data && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap : 4096;
        while (cap <= b->len + (size_t)n)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
}

/* A number as Prometheus ('json' 0) or JSON reads it: integers without a fraction, others with 15 significant
 * digits when those read back as the same double, else 17. Infinities and NaN are the text format's +Inf, -Inf
 * and NaN; JSON has no such numbers, so there they become the largest doubles and 0. */
static const char *format_number(double v, int json, char *out, size_t len)
{
    if (isnan(v))
        snprintf(out, len, "%s", json ? "0" : "NaN");
    else if (isinf(v))
        snprintf(out, len, "%s", json ? (v > 0 ? "1e308" : "-1e308") : (v > 0 ? "+Inf" : "-Inf"));
    else if (v == floor(v) && fabs(v) < 1e15)
        snprintf(out, len, "%.0f", v);
    else if (snprintf(out, len, "%.15g", v) > 0 && strtod(out, NULL) != v)
        snprintf(out, len, "%.17g", v);
    return out;
}

/* HELP text escaped as the text format wants it there: only backslash and line feed. */
static const char *escape_help(const char *in, char *out, size_t len)
{
    size_t n = 0;
    for (; *in && n + 3 < len; in++) {
        if (*in == '\\' || *in == '\n') {
            out[n++] = '\\';
            out[n++] = *in == '\n' ? 'n' : '\\';
        } else {
            out[n++] = *in;
        }
    }
    out[n] = '\0';
    return out;
}

/* A label value escaped for the text format (\\, \", \n) or for a JSON string (also other control bytes). */
static const char *escape_value(const char *in, int json, char *out, size_t len)
{
    size_t n = 0;
    for (; *in && n + 7 < len; in++) {
        unsigned char c = (unsigned char)*in;
        if (c == '\\' || c == '"') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c == '\n') {
            out[n++] = '\\';
            out[n++] = 'n';
        } else if (c < 0x20 || c == 0x7f) {
            n += (size_t)snprintf(out + n, len - n, json ? "\\u%04x" : "\\\\x%02x", c);
        } else {
            out[n++] = (char)c;
        }
    }
    out[n] = '\0';
    return out;
}

/* 'name' and its labels ('le' last when given) as text or JSON; for JSON the output is "name",{...}. */
static void put_series(struct buf *b, int json, const char *name, const char *suffix, const struct metric *f,
                       const struct metric_series *s, const char *le)
{
    char esc[METRIC_VALUE_LEN * 6 + 8];
    buf_printf(b, json ? "[\"%s%s\",{" : "%s%s", name, suffix);
    int first = 1;
    for (int i = 0; i < f->n_labels; i++) {
        buf_printf(b, json ? "%s\"%s\":\"%s\"" : "%s%s=\"%s\"", first ? (json ? "" : "{") : ",", f->labels[i],
                   escape_value(s->values[i], json, esc, sizeof esc));
        first = 0;
    }
    if (le) {
        buf_printf(b, json ? "%s\"le\":\"%s\"" : "%sle=\"%s\"", first ? (json ? "" : "{") : ",", le);
        first = 0;
    }
    buf_printf(b, "%s", json ? "}," : (first ? " " : "} "));
}

static void put_value(struct buf *b, int json, double v)
{
    char num[64];
    buf_printf(b, json ? "%s]," : "%s\n", format_number(v, json, num, sizeof num));
}

static void render_family(struct buf *b, int json, const struct metric *f)
{
    static const char *types[] = { "counter", "gauge", "histogram" };
    if (!json) {
        char help[1024];
        escape_help(f->help, help, sizeof help);
        buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", f->name, help, f->name, types[f->type]);
    }
    size_t n = atomic_load_explicit(&f->n_series, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        const struct metric_series *s = f->series[i];
        if (f->type != METRIC_HISTOGRAM) {
            put_series(b, json, f->name, "", f, s, NULL);
            put_value(b, json, metric_value(s));
            continue;
        }
        uint64_t cumulative = 0;
        char le[64];
        for (size_t k = 0; k <= f->n_bounds; k++) {
            cumulative += atomic_load_explicit(&s->buckets[k], memory_order_relaxed);
            put_series(b, json, f->name, "_bucket", f, s,
                       k < f->n_bounds ? format_number(f->bounds[k], 0, le, sizeof le) : "+Inf");
            put_value(b, json, (double)cumulative);
        }
        put_series(b, json, f->name, "_sum", f, s, NULL);
        put_value(b, json, double_of(atomic_load_explicit(&s->sum, memory_order_relaxed)));
        put_series(b, json, f->name, "_count", f, s, NULL);
        put_value(b, json, (double)cumulative);
    }
}

static char *render(struct metrics *m, int json, size_t *len)
{
    struct buf b = { 0 };
    if (json)
        buf_printf(&b, "[");
    for (size_t i = 0; i < m->n; i++)
        render_family(&b, json, m->families[i]);
    if (json) {
        if (b.len > 1)
            b.len--; /* the last comma */
        buf_printf(&b, "]");
    }
    if (b.failed || !b.data) {
        free(b.data);
        return NULL;
    }
    *len = b.len;
    return b.data;
}

char *metrics_render_text(struct metrics *m, size_t *len)
{
    return render(m, 0, len);
}

char *metrics_render_json(struct metrics *m, size_t *len)
{
    return render(m, 1, len);
}
