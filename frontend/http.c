/* libmicrohttpd in external epoll mode under libevent, and the request handler. */
#include "http.h"

#include <event2/event.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth.h"
#include "bus.h"
#include "clock.h"
#include "conn_deadline.h"
#include "dashboard.h"
#include "dispatch.h"
#include "idem.h"
#include "instruments.h"
#include "log.h"
#include "metrics.h"
#include "pending.h"
#include "reads.h"
#include "reply.h"
#include "route.h"
#include "task.h"
#include "telemetry.h"
#include "tokens.h"
#include "trace.h"

struct http {
    struct MHD_Daemon *mhd;
    struct event *io, *timer, *kick;
    struct http_config cfg;
    struct bus *bus;
    struct replica_set *events;
    struct dispatch *dispatch;
    struct pending *pending;
    struct reads *reads;
    struct conn_deadlines *deadlines;
    int stopping; /* http_quiesce ran: every new request gets 503 and every answer closes its connection */
    /* The request on_request is handling: every answer is queued from inside that call, so respond() counts it
     * under this route, and its duration from this start (clock_mono_s). */
    int route;
    double started;
};

#define HTTP_SHUTTING_DOWN "the frontend is shutting down"
#define HTTP_TOO_BUSY "too many requests in flight; retry later"

/* Run MHD's work and re-arm its timer (connection time-outs). */
static void http_run(struct http *h)
{
    MHD_run(h->mhd);
    MHD_UNSIGNED_LONG_LONG ms;
    if (MHD_get_timeout(h->mhd, &ms) == MHD_YES) {
        struct timeval tv = clock_timeval((long)ms);
        evtimer_add(h->timer, &tv);
    }
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    http_run(arg);
}

/* Resumed connections wait for the next MHD_run; one run after a burst of resumes serves them all. */
static void on_resumed(void *arg)
{
    struct http *h = arg;
    event_active(h->kick, EV_TIMEOUT, 0);
}

/* Count an answer of the current request (h->route, h->started) in the metrics. */
static void count(struct http *h, int status)
{
    const struct instruments *ins = h->cfg.metrics;
    if (!ins || !ins->requests)
        return;
    char code[16];
    snprintf(code, sizeof code, "%d", status);
    const char *label = instruments_route_label(h->route);
    double took = clock_mono_s() - h->started;
    metric_add(metric_labels(ins->requests, label, code, NULL), 1);
    metric_observe(metric_labels(ins->duration, label, NULL, NULL), took);
    if (h->route == ROUTE_TASK && status == 200)
        metric_observe(ins->end_to_end, took);
}

/* Queue 'body' (malloc'd, owned from here on; NULL means out of memory and becomes a 500) with 'status' and the
 * header pairs in 'headers' (name, value, ..., NULL; may be NULL). Every 503 says when to retry; while stopping,
 * every answer closes its connection so a client or a load balancer that keeps connections open moves to another
 * replica instead of sending its next request here. */
static enum MHD_Result respond(struct http *h, struct MHD_Connection *conn, int status, char *body,
                               const char *const *headers)
{
    if (!body) {
        status = 500;
        headers = NULL;
        body = strdup("{\"message\":\"FAIL\",\"error\":\"out of memory\"}");
        if (!body)
            return MHD_NO;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    count(h, status);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    for (; headers && headers[0]; headers += 2)
        MHD_add_response_header(resp, headers[0], headers[1]);
    if (status == 503)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (h->stopping)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result respond_error(struct http *h, struct MHD_Connection *conn, int status, const char *error,
                                     const char *allow)
{
    const char *headers[] = { MHD_HTTP_HEADER_ALLOW, allow, NULL };
    return respond(h, conn, status, reply_error(error, NULL), allow ? headers : NULL);
}

/* An error answer to a request whose trace has started: with its traceparent. */
static enum MHD_Result respond_traced_error(struct http *h, struct request *req, int status, const char *error)
{
    char traceparent[TRACE_HEADER_LEN];
    const char *headers[] = { "traceparent", traceparent, NULL };
    return respond(h, req->conn, status, reply_error(error, NULL),
                   trace_header(&req->trace, traceparent) ? headers : NULL);
}

/* 401 with the reason and the Bearer challenge. Never echoes what the client sent. */
static enum MHD_Result respond_unauthorized(struct http *h, struct MHD_Connection *conn, enum auth_result r)
{
    const char *headers[] = { MHD_HTTP_HEADER_WWW_AUTHENTICATE, auth_challenge(r), NULL };
    return respond(h, conn, MHD_HTTP_UNAUTHORIZED, reply_error(auth_reason(r), NULL), headers);
}

/* The answer a suspended request got, with its traceparent; a 202 says where the task is. */
static enum MHD_Result respond_done(struct http *h, struct request *req)
{
    char *body = req->response;
    char location[TASK_ID_LEN + 8], traceparent[TRACE_HEADER_LEN];
    snprintf(location, sizeof location, "/task/%s", req->task_id);
    const char *headers[] = { "traceparent", traceparent, MHD_HTTP_HEADER_LOCATION, location, "Preference-Applied",
                              "respond-async", NULL };
    const char *const *list = trace_header(&req->trace, traceparent) ? headers : headers + 2;
    if (req->status != 202)
        headers[2] = NULL;
    req->response = NULL;
    return respond(h, req->conn, req->status, body, list);
}

/* The connection's deadlines (conn_deadline.h), or NULL when it has none (out of memory at its start). */
static struct conn_deadline *deadline_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info ? info->socket_context : NULL;
}

/* GET /: 200 only when a task sent now could be accepted; otherwise 503 with the reason. */
static enum MHD_Result health(struct http *h, struct MHD_Connection *conn)
{
    if (!bus_is_ready(h->bus))
        return respond_error(h, conn, 503, "the message bus (Redis) is not reachable", NULL);
    if (replica_count_alive(h->events, clock_wall_ms()) == 0)
        return respond_error(h, conn, 503, "no events replica is alive", NULL);
    if ((long)dispatch_in_flight(h->dispatch) >= h->cfg.max_in_flight)
        return respond_error(h, conn, 503, HTTP_TOO_BUSY, NULL);
    const char *refusal = dispatch_refusal(h->dispatch);
    if (refusal) {
        char err[TASK_ERR_LEN + 64];
        snprintf(err, sizeof err, "events refuses new tasks: %s", refusal);
        return respond_error(h, conn, 503, err, NULL);
    }
    return respond(h, conn, 200, strdup("{\"message\":\"OK\"}"), NULL);
}

/* Queue a 200 whose body is not JSON: 'len' bytes of 'body', of Content-Type 'type', with the header pairs in
 * 'headers' (name, value, ..., NULL; may be NULL). With MHD_RESPMEM_MUST_FREE the body is owned from here on. */
static enum MHD_Result respond_other(struct http *h, struct MHD_Connection *conn, const char *type, void *body,
                                     size_t len, enum MHD_ResponseMemoryMode mode, const char *const *headers)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, mode);
    if (!resp) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO;
    }
    count(h, 200);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    for (; headers && headers[0]; headers += 2)
        MHD_add_response_header(resp, headers[0], headers[1]);
    enum MHD_Result rc = MHD_queue_response(conn, 200, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* GET /metrics: the Prometheus text format (404 with METRICS=off). */
static enum MHD_Result metrics(struct http *h, struct MHD_Connection *conn)
{
    unsigned long len = 0;
    char *text = telemetry_render(h->cfg.telemetry, &len);
    if (!text)
        return respond_error(h, conn, 404, "metrics are off (METRICS=off)", NULL);
    return respond_other(h, conn, "text/plain; version=0.0.4; charset=utf-8", text, len, MHD_RESPMEM_MUST_FREE, NULL);
}

/* GET /dashboard: the page, from the binary. It holds no data (its script fetches GET /dashboard/stats), and its
 * Content-Security-Policy lets it load nothing from another host, nor run any script but its own inline one. */
static enum MHD_Result dashboard(struct http *h, struct MHD_Connection *conn)
{
    static const char *const headers[] = {
        "Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        "X-Content-Type-Options", "nosniff", "Referrer-Policy", "no-referrer", "Cache-Control", "no-cache", NULL
    };
    return respond_other(h, conn, "text/html; charset=utf-8", (void *)dashboard_html, dashboard_html_len,
                         MHD_RESPMEM_PERSISTENT, headers);
}

/* GET /tasks: validate the query, then read the page. */
static int list(struct http *h, struct request *req, char *err)
{
    struct taskview_query q;
    if (taskview_parse_query(MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "status"),
                             MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "service"),
                             MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "limit"),
                             MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "after"), &q, err) != 0)
        return 400;
    return reads_list(h->reads, req, &q, err) == 0 ? 0 : 503;
}

/* The last call of a POST /task, GET /task/{id}, GET /tasks or GET /dashboard/stats: classify, send, suspend. */
static enum MHD_Result submit(struct http *h, struct request *req)
{
    char err[TASK_ERR_LEN];
    /* The dashboard's once-a-second poll is about no task: it starts no trace (and its answers carry none). */
    if (req->route != ROUTE_DASHBOARD_STATS)
        dispatch_trace_start(h->dispatch, req,
                             MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "traceparent"));
    if (req->route == ROUTE_TASK && req->too_large) {
        snprintf(err, sizeof err, "body is larger than %ld bytes", h->cfg.max_body);
        return respond_traced_error(h, req, 413, err);
    }
    if ((long)dispatch_in_flight(h->dispatch) >= h->cfg.max_in_flight)
        return respond_traced_error(h, req, 503, HTTP_TOO_BUSY);
    int rc;
    if (req->route == ROUTE_TASK) {
        struct task t;
        const char *key = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Idempotency-Key");
        if (key && !idem_key_valid(key))
            return respond_traced_error(h, req, 400, "Idempotency-Key must be 1 to 128 printable ASCII characters "
                                        "without spaces");
        if (task_classify(req->body ? req->body : "", req->len, &t, err) != 0)
            return respond_traced_error(h, req, 400, err);
        req->async = route_prefers_async(MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Prefer"));
        rc = key ? dispatch_task_keyed(h->dispatch, req, &t, key, err) : dispatch_task(h->dispatch, req, &t, err);
        task_clear(&t);
    } else if (req->route == ROUTE_LIST) {
        int status = list(h, req, err);
        if (status != 0)
            return respond_traced_error(h, req, status, err);
        rc = 0;
    } else if (req->route == ROUTE_DASHBOARD_STATS) {
        rc = reads_stats(h->reads, req, clock_wall_ms(), err);
    } else {
        rc = reads_task(h->reads, req, err);
    }
    if (rc != 0)
        return respond_traced_error(h, req, 503, err);
    /* Nothing can answer before we return: the bus only delivers from this same loop. */
    MHD_suspend_connection(req->conn);
    return MHD_YES;
}

static int append_body(struct http *h, struct request *req, const char *data, size_t size)
{
    if (req->too_large || req->len + size > (size_t)h->cfg.max_body) {
        req->too_large = 1;
        return 0;
    }
    if (req->len + size + 1 > req->cap) {
        size_t cap = req->cap ? req->cap : 256;
        while (cap < req->len + size + 1)
            cap *= 2;
        char *body = realloc(req->body, cap);
        if (!body)
            return -1;
        req->body = body;
        req->cap = cap;
    }
    memcpy(req->body + req->len, data, size);
    req->len += size;
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    struct http *h = cls;
    struct request *req = *con_cls;
    if (req) {
        h->route = req->route;
        h->started = req->started;
    } else {
        const char *allow;
        char id[TASK_ID_LEN];
        h->route = route_match(method, url, id, &allow);
        h->started = clock_mono_s();
    }
    if (!req) {
        struct conn_deadline *dl = deadline_of(conn);
        if (dl)
            conn_deadline_head_done(dl);
        /* Before any state is kept or a byte of the body is read: MHD closes the connection after an answer given
         * while a body is still due, and nothing of the request reaches the bus. */
        if (h->cfg.tokens && !auth_exempt(method, url)) {
            enum auth_result r = auth_check(tokens_current(h->cfg.tokens),
                                            MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                                        MHD_HTTP_HEADER_AUTHORIZATION));
            if (r != AUTH_OK)
                return respond_unauthorized(h, conn, r);
        }
        req = request_new(h->pending, conn);
        if (!req)
            return MHD_NO;
        *con_cls = req;
        req->started = h->started;
        req->route = route_match(method, url, req->history_of, &req->allow);
        if (req->route == ROUTE_TASK) {
            const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
            if (cl && strtoll(cl, NULL, 10) > h->cfg.max_body) {
                /* Answer before reading a body we would refuse; MHD closes the connection after it. */
                char err[TASK_ERR_LEN];
                snprintf(err, sizeof err, "body is larger than %ld bytes", h->cfg.max_body);
                return respond_error(h, conn, 413, err, NULL);
            }
        }
        return MHD_YES;
    }
    if (req->state == REQUEST_DONE)
        return respond_done(h, req);
    if (*upload_data_size) {
        /* While stopping the body is read (so the 503 reaches the client instead of a reset) but not kept. */
        if (!h->stopping && append_body(h, req, upload_data, *upload_data_size) != 0)
            return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }
    struct conn_deadline *dl = deadline_of(conn);
    if (dl)
        conn_deadline_body_done(dl);
    /* After SIGTERM nothing new is published or suspended: a suspended request would outlive the loop, and
     * MHD_stop_daemon aborts the process when it finds one. Requests already suspended are answered by main. */
    if (h->stopping)
        return respond_error(h, conn, 503, HTTP_SHUTTING_DOWN, NULL);
    char err[TASK_ERR_LEN + 64]; /* a 404 names every route */
    switch (req->route) {
    case ROUTE_HEALTH:
        return health(h, conn);
    case ROUTE_METRICS:
        return metrics(h, conn);
    case ROUTE_DASHBOARD:
        return dashboard(h, conn);
    case ROUTE_TASK:
    case ROUTE_HISTORY:
    case ROUTE_LIST:
    case ROUTE_DASHBOARD_STATS:
        return submit(h, req);
    case ROUTE_BAD_METHOD:
        snprintf(err, sizeof err, "method %s is not allowed on %s (allowed: %s)", method, url, req->allow);
        return respond_error(h, conn, 405, err, req->allow);
    case ROUTE_BAD_ID:
        return respond_error(h, conn, 400, "a task id is 1 to 39 characters of letters, digits and '-'", NULL);
    default:
        snprintf(err, sizeof err, "no route for %.10s %.60s (routes: GET /, POST /task, GET /task/{id}, GET /tasks, "
                 "GET /metrics, GET /dashboard, GET /dashboard/stats)", method, url);
        return respond_error(h, conn, 404, err, NULL);
    }
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    struct request *req = *con_cls;
    if (req)
        request_release(req, 1);
    *con_cls = NULL;
    struct conn_deadline *dl = deadline_of(conn);
    if (dl && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
        conn_deadline_request_done(dl);
}

/* A connection opens or closes: start its deadlines, or free them (MHD has not closed the socket yet). */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct http *h = cls;
    if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        conn_deadline_close(*socket_context);
        *socket_context = NULL;
        return;
    }
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!info)
        return;
    *socket_context = conn_deadline_open(h->deadlines, info->connect_fd);
    if (!*socket_context)
        shutdown(info->connect_fd, SHUT_RDWR); /* out of memory: a connection without deadlines is not served */
}

/* The first line of a request is in (before its headers): a later request on a keep-alive connection starts its
 * head deadline here. The value returned is the request's initial state: none. */
static void *on_request_line(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)uri;
    struct conn_deadline *dl = deadline_of(conn);
    if (dl)
        conn_deadline_request_line(dl);
    return NULL;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    http_run(arg);
}

struct http *http_new(struct event_base *base, const struct http_config *cfg, struct bus *bus,
                      struct replica_set *events, struct dispatch *dispatch, struct pending *pending,
                      struct reads *reads, char *err)
{
    struct http *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, 256, "out of memory");
        return NULL;
    }
    h->cfg = *cfg;
    h->bus = bus;
    h->events = events;
    h->dispatch = dispatch;
    h->pending = pending;
    h->reads = reads;
    h->deadlines = conn_deadlines_new(base, cfg->header_timeout_ms, cfg->body_timeout_ms, cfg->idle_timeout_s * 1000);
    if (!h->deadlines) {
        snprintf(err, 256, "out of memory");
        free(h);
        return NULL;
    }
    h->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO, (uint16_t)cfg->port, NULL,
                              NULL, on_request, h,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cfg->max_connections,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->idle_timeout_s,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg->connection_memory,
                              MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)4096,
                              MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)cfg->max_per_ip,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                              MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
                              MHD_OPTION_URI_LOG_CALLBACK, on_request_line, h,
                              MHD_OPTION_END);
    if (!h->mhd) {
        snprintf(err, 256, "cannot listen on port %d (in use, or not permitted)", cfg->port);
        conn_deadlines_free(h->deadlines);
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    h->io = event_new(base, info->epoll_fd, EV_READ | EV_PERSIST, on_io, h);
    h->timer = evtimer_new(base, on_timer, h);
    h->kick = evtimer_new(base, on_timer, h);
    if (!h->io || !h->timer || !h->kick || event_add(h->io, NULL) != 0) {
        snprintf(err, 256, "cannot watch the HTTP server's epoll descriptor");
        http_free(h);
        return NULL;
    }
    pending_on_resume(pending, on_resumed, h);
    return h;
}

void http_quiesce(struct http *h)
{
    h->stopping = 1;
    MHD_socket fd = MHD_quiesce_daemon(h->mhd);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

void http_free(struct http *h)
{
    if (!h)
        return;
    if (h->io)
        event_free(h->io);
    if (h->timer)
        event_free(h->timer);
    if (h->kick)
        event_free(h->kick);
    MHD_stop_daemon(h->mhd); /* closes every connection, and with it its deadlines */
    if (h->deadlines) {
        struct conn_deadline_stats st;
        conn_deadlines_get_stats(h->deadlines, &st);
        LOG_I("event=http_stopped slow_heads_closed=%llu slow_bodies_closed=%llu", st.head_expired, st.body_expired);
    }
    conn_deadlines_free(h->deadlines);
    free(h);
}
