/* In-process test of common/bus.c against a real redis-server on a free port: the callback contract (never from
 * inside bus_publish, exactly once, failures delivered after the bus says it is down), the bounded local queue,
 * the counters, and the watchdog (SIGSTOP of the server) with reconnection after SIGCONT. */
#include <arpa/inet.h>
#include <event2/event.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../unit/check.h"
#include "bus.h"
#include "log.h"

#define PING_MS 100
#define N_PUB 4

static struct event_base *base;
static struct bus *bus;
static pid_t redis_pid = -1;
static int redis_port;
static int ready_count, messages;
static int in_bus_call;                /* set around bus_publish: a callback seeing it ran synchronously */
static int sync_callbacks;
static int calls[N_PUB];               /* callbacks per publish */
static int n_expected;                 /* publishes whose callbacks all_called waits for */
static long long results[N_PUB];
static int republish_rc[N_PUB];        /* what bus_publish returned when a -1 callback published again */
static int ready_in_failure;           /* bus_is_ready() was 1 inside a -1 callback */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || getsockname(fd, (struct sockaddr *)&sa, &len))
        abort();
    close(fd);
    return ntohs(sa.sin_port);
}

/* Run a command on a blocking connection of our own. Returns the reply (free with freeReplyObject) or NULL. */
static redisReply *side_command(const char *cmd)
{
    struct timeval tv = { 1, 0 };
    redisContext *c = redisConnectWithTimeout("127.0.0.1", redis_port, tv);
    redisReply *r = c && !c->err ? redisCommand(c, cmd) : NULL;
    redisFree(c);
    return r;
}

static void start_redis(void)
{
    char port[16];
    redis_port = free_port();
    snprintf(port, sizeof port, "%d", redis_port);
    redis_pid = fork();
    if (redis_pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly",
               "no", "--dir", "/tmp", (char *)NULL);
        _exit(127);
    }
    for (long long until = now_ms() + 10000; now_ms() < until;) {
        redisReply *r = side_command("PING");
        int ok = r && r->type == REDIS_REPLY_STATUS;
        freeReplyObject(r);
        if (ok)
            return;
        struct timespec ts = { 0, 20 * 1000000 };
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "redis-server did not start\n");
    exit(1);
}

static void stop_redis(void)
{
    if (redis_pid > 0) {
        kill(redis_pid, SIGCONT);
        kill(redis_pid, SIGTERM);
        waitpid(redis_pid, NULL, 0);
        redis_pid = -1;
    }
}

/* Run the loop until 'done' returns 1, or fail the test after 'ms'. Returns 1 when done. */
static int run_until(int (*done)(void), long ms)
{
    long long until = now_ms() + ms;
    while (!done()) {
        if (now_ms() > until)
            return 0;
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    return 1;
}

static void on_message(const char *data, size_t len, void *arg)
{
    (void)data;
    (void)len;
    (void)arg;
    messages++;
}

static void on_ready(void *arg)
{
    (void)arg;
    ready_count++;
}

static void on_published(long long receivers, void *arg)
{
    int i = (int)(long)arg;
    if (in_bus_call)
        sync_callbacks++;
    calls[i]++;
    results[i] = receivers;
    if (receivers < 0) {
        ready_in_failure |= bus_is_ready(bus);
        republish_rc[i] = bus_publish(bus, "bus-test:nobody", "x", 1, NULL, NULL);
    }
}

static int publish(int i)
{
    in_bus_call = 1;
    int rc = bus_publish(bus, "bus-test:self", "hello", 5, on_published, (void *)(long)i);
    in_bus_call = 0;
    return rc;
}

static int is_ready(void)
{
    return bus_is_ready(bus);
}

static int is_down(void)
{
    return !bus_is_ready(bus);
}

static int all_called(void)
{
    for (int i = 0; i < n_expected; i++)
        if (!calls[i])
            return 0;
    return 1;
}

static int both_dropped(void)
{
    struct bus_stats s;
    bus_get_stats(bus, &s);
    return s.watchdog_drops >= 2;
}

static void reset_calls(int n)
{
    n_expected = n;
    memset(calls, 0, sizeof calls);
    memset(results, 0, sizeof results);
    memset(republish_rc, 0, sizeof republish_rc);
}

/* A window of one and a queue of three: four publishes are accepted, the fifth refused; all are answered. */
static void test_window_and_queue(void)
{
    reset_calls(N_PUB);
    for (int i = 0; i < N_PUB; i++)
        CHECK_INT_EQ(publish(i), 0);
    CHECK_INT_EQ(bus_queued(bus), 3);
    CHECK_INT_EQ(bus_publish(bus, "bus-test:self", "x", 1, NULL, NULL), -1);
    CHECK_INT_EQ(sync_callbacks, 0);
    CHECK(run_until(all_called, 5000));
    for (int i = 0; i < N_PUB; i++) {
        CHECK_INT_EQ(calls[i], 1);
        CHECK_INT_EQ(results[i], 1); /* we subscribe to that channel ourselves */
    }
    struct bus_stats s;
    bus_get_stats(bus, &s);
    CHECK_INT_EQ(s.queued, 0);
    CHECK_INT_EQ(s.max_queued, 3);
    CHECK_INT_EQ(s.published, 4);
}

/* The publish connection is killed with one publish written and three queued: each callback runs once, from the
 * loop, after the bus says it is down, so publishing again from it fails at once. */
static void test_lost_with_publishes_pending(void)
{
    reset_calls(N_PUB);
    int before = ready_count;
    for (int i = 0; i < N_PUB; i++)
        CHECK_INT_EQ(publish(i), 0);
    /* Our publishes are not written yet (hiredis writes from the loop); the kill resets the connection first. */
    redisReply *r = side_command("CLIENT KILL TYPE normal SKIPME yes");
    CHECK(r && r->type == REDIS_REPLY_INTEGER && r->integer >= 1);
    freeReplyObject(r);
    CHECK(run_until(all_called, 5000));
    CHECK_INT_EQ(sync_callbacks, 0);
    CHECK_INT_EQ(ready_in_failure, 0);
    for (int i = 0; i < N_PUB; i++) {
        CHECK_INT_EQ(calls[i], 1);
        CHECK_INT_EQ(results[i], -1);
        CHECK_INT_EQ(republish_rc[i], -1);
    }
    CHECK(run_until(is_ready, 5000));
    CHECK(ready_count > before);
    for (int i = 0; i < N_PUB; i++)
        CHECK_INT_EQ(calls[i], 1);
    struct bus_stats s;
    bus_get_stats(bus, &s);
    CHECK(s.reconnects >= 1);
    CHECK_INT_EQ(s.failed, N_PUB);
}

/* A server that stops answering (the connections stay open) is noticed within two watchdog periods plus one tick;
 * a publish pending on it fails once; after SIGCONT the bus comes back and publishes again. */
static void test_watchdog(void)
{
    reset_calls(1);
    long long t0 = now_ms();
    kill(redis_pid, SIGSTOP);
    CHECK_INT_EQ(publish(0), 0);
    CHECK(run_until(is_down, 5000));
    long long noticed = now_ms() - t0;
    CHECK(noticed <= 3 * PING_MS + 200);
    CHECK(run_until(both_dropped, 5000));
    CHECK(run_until(all_called, 5000));
    CHECK_INT_EQ(calls[0], 1);
    CHECK_INT_EQ(results[0], -1);
    kill(redis_pid, SIGCONT);
    CHECK(run_until(is_ready, 10000));
    reset_calls(1);
    CHECK_INT_EQ(publish(0), 0);
    CHECK(run_until(all_called, 5000));
    CHECK_INT_EQ(results[0], 1);
    fprintf(stderr, "watchdog noticed the stopped server after %lld ms\n", noticed);
}

int main(void)
{
    log_init("bus_inprocess", "-", LOG_WARN);
    signal(SIGPIPE, SIG_IGN);
    start_redis();
    base = event_base_new();
    struct bus_config cfg = { "127.0.0.1", redis_port, "bus-test:self", 1, on_message, on_ready, NULL, PING_MS, 3, NULL, NULL };
    bus = bus_new(base, &cfg);
    CHECK(bus != NULL);
    if (bus && run_until(is_ready, 5000)) {
        test_window_and_queue();
        test_lost_with_publishes_pending();
        test_watchdog();
    } else {
        CHECK(!"the bus never became ready");
    }
    bus_free(bus);
    event_base_free(base);
    stop_redis();
    return check_finish();
}
