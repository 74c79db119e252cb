/* The data of the dashboard (GET /dashboard/stats): every live replica's metrics snapshot (common/telemetry.h),
 * checked, cut down to the families the page draws and bounded, in one JSON body. The page aggregates them: it
 * sums counters across replicas and turns successive polls into rates. Pure: no I/O. */
#ifndef TASKBUS_DASHBOARD_H
#define TASKBUS_DASHBOARD_H

#include <stddef.h>

#define DASHBOARD_MAX_REPLICAS 256               /* snapshots read and answered at most */
#define DASHBOARD_MAX_SNAPSHOT (512 * 1024)      /* a larger snapshot is skipped as malformed */
#define DASHBOARD_MAX_SERIES 1024                /* series kept per replica, the rest dropped */

/* The body of GET /dashboard/stats at wall time 'now_ms' from the 'n' snapshots in 'texts' ('lens[i]' bytes each,
 * need not be NUL-terminated; a NULL text is a key that expired between the reads and is left out):
 * {"message":"OK","at":<now_ms>,"replicas":[{"daemon","service","replica","at","metrics":[[name,{labels},value],
 * ...]},...],"skipped":<snapshots left out: not valid, or past the cap>}, replicas sorted by daemon then replica
 * id, at most DASHBOARD_MAX_REPLICAS of them, each with only the series the page uses (dashboard_keeps; label
 * values that are not strings are dropped). Returns a malloc'd string the caller frees ('*len' its length), or
 * NULL when out of memory. */
char *dashboard_stats_render(const char *const *texts, const size_t *lens, size_t n, long long now_ms, size_t *len);

/* The page, frontend/dashboard.html, as bytes: generated at build time by cmake/embed.cmake into the build dir's
 * dashboard_html.c, which only the frontend binary links. */
extern const unsigned char dashboard_html[];
extern const unsigned long dashboard_html_len;

/* 1 when the page draws series 'name' (a family's name, or a histogram's name with _bucket or _count). */
int dashboard_keeps(const char *name);

#endif
