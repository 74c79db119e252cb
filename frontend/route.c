/* Request routing. */
#include "route.h"

#include <string.h>
#include <strings.h>

int route_valid_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= TASK_ID_LEN)
        return 0;
    return strspn(s, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-") == n;
}

enum route route_match(const char *method, const char *url, char *id, const char **allow)
{
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (strcmp(url, "/") == 0) {
        *allow = "GET, HEAD";
        return get ? ROUTE_HEALTH : ROUTE_BAD_METHOD;
    }
    if (strcmp(url, "/task") == 0) {
        *allow = "POST";
        return strcmp(method, "POST") == 0 ? ROUTE_TASK : ROUTE_BAD_METHOD;
    }
    if (strcmp(url, "/tasks") == 0) {
        *allow = "GET, HEAD";
        return get ? ROUTE_LIST : ROUTE_BAD_METHOD;
    }
    if (strcmp(url, "/metrics") == 0) {
        *allow = "GET, HEAD";
        return get ? ROUTE_METRICS : ROUTE_BAD_METHOD;
    }
    if (strcmp(url, "/dashboard") == 0 || strcmp(url, "/dashboard/stats") == 0) {
        *allow = "GET, HEAD";
        return !get ? ROUTE_BAD_METHOD : url[10] ? ROUTE_DASHBOARD_STATS : ROUTE_DASHBOARD;
    }
    if (strncmp(url, "/task/", 6) == 0) {
        *allow = "GET, HEAD";
        if (!get)
            return ROUTE_BAD_METHOD;
        if (!route_valid_id(url + 6))
            return ROUTE_BAD_ID;
        memcpy(id, url + 6, strlen(url + 6) + 1);
        return ROUTE_HISTORY;
    }
    return ROUTE_NOT_FOUND;
}

int route_prefers_async(const char *prefer)
{
    static const char token[] = "respond-async";
    const size_t n = sizeof token - 1;
    for (const char *p = prefer; p && *p;) {
        p += strspn(p, " \t,");
        if (strncasecmp(p, token, n) == 0 && strchr(" \t,;=", p[n]))
            return 1;
        p = strchr(p, ',');
    }
    return 0;
}
