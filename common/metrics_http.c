/* GET /metrics on its own libmicrohttpd thread, for events and backends. */
#include "metrics_http.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "procstat.h"

#define METRICS_HTTP_CONNECTIONS 16
#define METRICS_HTTP_TIMEOUT_S 10

struct metrics_http {
    struct MHD_Daemon *mhd;
    struct metrics *m;
    struct procstat *p;
};

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *type, char *body, size_t len,
                              enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, "Allow", "GET");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size, void **state)
{
    (void)version;
    (void)upload_data;
    struct metrics_http *h = cls;
    if (!*state) { /* headers only so far */
        *state = h;
        return MHD_YES;
    }
    if (*upload_size) { /* a body is read and dropped: answering before its end would reset the connection */
        *upload_size = 0;
        return MHD_YES;
    }
    static char not_found[] = "{\"error\":\"not found: this port serves GET /metrics only\"}";
    static char not_allowed[] = "{\"error\":\"method not allowed: use GET\"}";
    static char no_memory[] = "{\"error\":\"out of memory\"}";
    if (strcmp(url, "/metrics") != 0)
        return answer(c, MHD_HTTP_NOT_FOUND, "application/json", not_found, strlen(not_found),
                      MHD_RESPMEM_PERSISTENT);
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return answer(c, MHD_HTTP_METHOD_NOT_ALLOWED, "application/json", not_allowed, strlen(not_allowed),
                      MHD_RESPMEM_PERSISTENT);
    procstat_collect(h->p);
    size_t len;
    char *text = metrics_render_text(h->m, &len);
    if (!text)
        return answer(c, MHD_HTTP_SERVICE_UNAVAILABLE, "application/json", no_memory, strlen(no_memory),
                      MHD_RESPMEM_PERSISTENT);
    return answer(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, len, MHD_RESPMEM_MUST_FREE);
}

struct metrics_http *metrics_http_start(int port, struct metrics *m, struct procstat *p, char *err)
{
    struct metrics_http *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, METRICS_HTTP_ERR_LEN, "out of memory");
        return NULL;
    }
    h->m = m;
    h->p = p;
    h->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, (uint16_t)port, NULL, NULL,
                              on_request, h, MHD_OPTION_CONNECTION_LIMIT, (unsigned)METRICS_HTTP_CONNECTIONS,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_HTTP_TIMEOUT_S, MHD_OPTION_END);
    if (!h->mhd) {
        snprintf(err, METRICS_HTTP_ERR_LEN, "cannot listen on METRICS_PORT=%d (in use, or not allowed)", port);
        free(h);
        return NULL;
    }
    return h;
}

void metrics_http_stop(struct metrics_http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->mhd);
    free(h);
}
