/*
 * Slow and hostile clients, all at once, beside a well-behaved one: clients
 * that connect and send nothing, send a byte a second, close half-way (FIN
 * or RST), announce huge or negative lengths, never end their line, send a
 * 1 MB inline command, nest arrays, or send binary junk. Each must get an
 * error or have its connection closed, the server must not leak a socket,
 * and the good client's PINGs must keep being answered (within 10 s each:
 * a hang check, not a latency threshold; the latencies are printed).
 *
 * Also the idle-client timeout (--timeout): silent clients are closed, slow
 * but moving ones are not, and without the flag nobody is.
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "loadgen.h"

static struct server_proc srv;

static void start(const char *const *extra)
{
    srv = (struct server_proc){0};
    ck_assert_int_eq(server_start(&srv, harness_tmpdir(), extra), 0);
}

/* ---- the well-behaved client ---- */

#define GOOD_DEADLINE_S 10
#define MAX_SAMPLES 20000

struct good {
    uint16_t port;
    atomic_bool stop;
    long long ms[MAX_SAMPLES]; /* PING round trips */
    size_t n;
    char error[160];
};

/* One PING and a SET/GET round trip; returns the PING's milliseconds or -1. */
static long long good_round(struct good *g, redisContext *c, unsigned i)
{
    long long t0 = now_ms();
    redisReply *r = redisCommand(c, "PING");
    long long took = now_ms() - t0;
    bool ok = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
    freeReplyObject(r);
    r = ok ? redisCommand(c, "SET good:%u v%u", i % 100, i) : NULL;
    ok = ok && r && r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    char want[32];
    snprintf(want, sizeof(want), "v%u", i);
    r = ok ? redisCommand(c, "GET good:%u", i % 100) : NULL;
    ok = ok && r && r->type == REDIS_REPLY_STRING && strcmp(r->str, want) == 0;
    freeReplyObject(r);
    if (!ok)
        snprintf(g->error, sizeof(g->error), "round %u failed: %s", i, c->err ? c->errstr : "bad reply");
    return ok ? took : -1;
}

static void *good_main(void *arg)
{
    struct good *g = arg;
    struct timeval tv = {.tv_sec = GOOD_DEADLINE_S};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", g->port, tv);
    if (!c || c->err) {
        snprintf(g->error, sizeof(g->error), "connect failed");
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    for (unsigned i = 0; !atomic_load(&g->stop) && g->n < MAX_SAMPLES; i++) {
        long long ms = good_round(g, c, i);
        if (ms < 0)
            break;
        g->ms[g->n++] = ms;
        usleep(20000);
    }
    redisFree(c);
    return NULL;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static void report_good(struct good *g)
{
    qsort(g->ms, g->n, sizeof(g->ms[0]), cmp_ll);
    long long p99 = g->n ? g->ms[(g->n - 1) * 99 / 100] : 0, max = g->n ? g->ms[g->n - 1] : 0;
    printf("hostile: the good client's PING beside the bad ones: %zu rounds, p50 %lld ms, "
           "p99 %lld ms, max %lld ms\n", g->n, g->n ? g->ms[g->n / 2] : 0, p99, max);
    fflush(stdout);
}

/* ---- the bad clients ---- */

enum bad_kind {
    SILENT,    /* connects, sends nothing: the idle timeout closes it */
    EXPECT,    /* must receive want, then be closed */
    EXPECT_OPEN, /* must receive want (a slow but valid request) */
    WANT_OR_RESET, /* closed, after want if anything arrived: a server closing on
                      unread input sends a reset, which may drop its error reply */
    ANY_ERROR, /* must receive an error reply or be closed */
};

struct bad {
    const char *name;
    enum bad_kind kind;
    const char *want;
    const char *drip;      /* sent one byte a second */
    size_t dripped;
    long long next_drip;
    int fd;
    char got[256];
    size_t got_len;
    bool eof, done;
    long long done_ms;
};

static int bad_connect(struct bad *b)
{
    b->fd = tcp_connect(srv.port);
    ck_assert_int_ge(b->fd, 0);
    return b->fd;
}

static void drip(struct bad *b, long long now)
{
    if (!b->drip || b->drip[b->dripped] == '\0' || now < b->next_drip)
        return;
    send(b->fd, b->drip + b->dripped, 1, MSG_NOSIGNAL);
    b->dripped++;
    b->next_drip = now + 1000;
}

static void take_input(struct bad *b)
{
    while (!b->eof) {
        char tmp[4096];
        ssize_t n = recv(b->fd, tmp, sizeof(tmp), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            b->eof = true;
        } else if (n < 0) {
            return;
        } else {
            size_t keep = sizeof(b->got) - 1 - b->got_len;
            keep = (size_t)n < keep ? (size_t)n : keep;
            memcpy(b->got + b->got_len, tmp, keep);
            b->got_len += keep;
            b->got[b->got_len] = '\0';
        }
    }
}

static bool satisfied(const struct bad *b)
{
    bool has_want = b->want && strncmp(b->got, b->want, strlen(b->want)) == 0;
    switch (b->kind) {
    case SILENT: return b->eof && b->got_len == 0;
    case EXPECT: return has_want && b->eof;
    case EXPECT_OPEN: return has_want;
    case WANT_OR_RESET: return b->eof && (b->got_len == 0 || has_want);
    case ANY_ERROR: return b->eof || (b->got_len > 0 && b->got[0] == '-');
    }
    return false;
}

/* Drive the slow senders and watch every bad client until all are satisfied. */
static void watch_bad(struct bad *bads, size_t n, long long t0, int timeout_ms)
{
    long long end = t0 + timeout_ms;
    size_t left = n;
    while (left && now_ms() < end) {
        long long now = now_ms();
        for (size_t i = 0; i < n; i++) {
            struct bad *b = &bads[i];
            if (b->done)
                continue;
            drip(b, now);
            take_input(b);
            if (satisfied(b)) {
                b->done = true;
                b->done_ms = now - t0;
                left--;
            }
        }
        usleep(20000);
    }
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(bads[i].done, "%s: not closed or answered in %d ms (got '%s'%s)",
                      bads[i].name, timeout_ms, bads[i].got, bads[i].eof ? ", closed" : "");
}

/* Send what is given, ignoring errors: the server may close first. */
static void blast(int fd, const char *p, size_t n)
{
    send_all(fd, p, n);
}

static char *filled(size_t n, char c, const char *head, const char *tail)
{
    char *p = malloc(n + 1);
    ck_assert_ptr_nonnull(p);
    memset(p, c, n);
    memcpy(p, head, strlen(head));
    memcpy(p + n - strlen(tail), tail, strlen(tail));
    p[n] = '\0';
    return p;
}

/* Clients that send all their bytes at once. */
static void send_bursts(struct bad *b)
{
    char *line = filled(70 * 1024, 'a', "", "");            /* no end of line */
    char *big = filled(1 << 20, 'x', "SET k ", "\r\n");     /* 1 MB inline command */
    char *nest = malloc(100000 * 4 + 1);
    ck_assert_ptr_nonnull(nest);
    for (int i = 0; i < 100000; i++)
        memcpy(nest + i * 4, "*1\r\n", 4);
    for (; b->name; b++) {
        if (strcmp(b->name, "unterminated line") == 0)
            blast(b->fd, line, 70 * 1024);
        else if (strcmp(b->name, "1 MB inline") == 0)
            blast(b->fd, big, 1 << 20);
        else if (strcmp(b->name, "deep nesting") == 0)
            blast(b->fd, nest, 100000 * 4);
    }
    free(line);
    free(big);
    free(nest);
}

static void send_junk(int fd)
{
    char junk[4096];
    size_t n = 1 + test_rand() % sizeof(junk);
    for (size_t i = 0; i < n; i++)
        junk[i] = (char)test_rand();
    blast(fd, junk, n);
}

/* A request cut off by a FIN (half-close) or by a reset. */
static void half_open(uint16_t port, bool reset)
{
    int fd = tcp_connect(port);
    ck_assert_int_ge(fd, 0);
    const char half[] = "*3\r\n$3\r\nSET\r\n$1\r\nk";
    blast(fd, half, sizeof(half) - 1);
    if (reset) {
        struct linger l = {.l_onoff = 1, .l_linger = 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
        close(fd);
        return;
    }
    shutdown(fd, SHUT_WR);
    ck_assert_msg(wait_closed(fd, 10000), "half-closed client left open");
    close(fd);
}

#define N_SILENT 50
#define N_JUNK 20

static const struct bad bad_templates[] = {
    {.name = "byte-a-second PING", .kind = EXPECT_OPEN, .want = "+PONG\r\n", .drip = "PING\r\n"},
    {.name = "byte-a-second bad count", .kind = EXPECT, .drip = "*x\r\n",
     .want = "-ERR Protocol error: invalid multibulk length\r\n"},
    {.name = "byte-a-second negative bulk", .kind = EXPECT, .drip = "*1\r\n$-5\r\n",
     .want = "-ERR Protocol error: invalid bulk length\r\n"},
    {.name = "huge bulk length", .kind = EXPECT,
     .want = "-ERR Protocol error: invalid bulk length\r\n"},
    {.name = "huge count", .kind = EXPECT,
     .want = "-ERR Protocol error: invalid multibulk length\r\n"},
    {.name = "unterminated line", .kind = WANT_OR_RESET,
     .want = "-ERR Protocol error: too big inline request\r\n"},
    {.name = "1 MB inline", .kind = WANT_OR_RESET,
     .want = "-ERR Protocol error: too big inline request\r\n"},
    {.name = "deep nesting", .kind = WANT_OR_RESET,
     .want = "-ERR Protocol error: expected '$', got '*'\r\n"},
    {.name = "half request, then silent", .kind = SILENT},
};

START_TEST(hostile_clients_beside_a_good_one)
{
    start((const char *[]){"--timeout", "3", NULL});
    int base = proc_socket_count(srv.pid);
    static struct good g;
    memset(&g, 0, sizeof(g));
    g.port = srv.port;
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, good_main, &g), 0);

    enum { NT = sizeof(bad_templates) / sizeof(bad_templates[0]) };
    static struct bad bads[NT + N_SILENT + N_JUNK + 1];
    size_t n = 0;
    for (size_t i = 0; i < NT; i++, n++) {
        bads[n] = bad_templates[i];
        bad_connect(&bads[n]);
    }
    blast(bads[3].fd, "*1\r\n$99999999999999999\r\n", 25);
    blast(bads[4].fd, "*9223372036854775807\r\n", 22);
    blast(bads[8].fd, "*2\r\n$3\r\nGET\r\n$1", 15);
    for (int i = 0; i < N_SILENT; i++, n++) {
        bads[n] = (struct bad){.name = "silent", .kind = SILENT};
        bad_connect(&bads[n]);
    }
    for (int i = 0; i < N_JUNK; i++, n++) {
        bads[n] = (struct bad){.name = "binary junk", .kind = ANY_ERROR};
        send_junk(bad_connect(&bads[n]));
    }
    bads[n] = (struct bad){0};
    long long t0 = now_ms();
    send_bursts(bads);
    half_open(srv.port, false);
    half_open(srv.port, true);
    watch_bad(bads, n, t0, 30000);

    atomic_store(&g.stop, true);
    pthread_join(t, NULL);
    report_good(&g);
    printf("hostile: silent clients closed by --timeout 3 after %lld ms\n", bads[NT].done_ms);
    ck_assert_msg(g.error[0] == '\0', "good client: %s", g.error);
    ck_assert_uint_gt(g.n, 10);
    for (size_t i = 0; i < n; i++)
        close(bads[i].fd);
    long long end = now_ms() + 10000;
    while (proc_socket_count(srv.pid) != base && now_ms() < end)
        usleep(20000);
    ck_assert_int_eq(proc_socket_count(srv.pid), base);
    ck_assert_int_eq(server_stop(&srv, SIGTERM, 10000), 0);
}
END_TEST

/* ---- --timeout ---- */

/* How long until the server closes a silent client, in ms (-1: not within limit_ms). */
static long long time_to_close(int fd, int limit_ms)
{
    long long t0 = now_ms();
    return wait_closed(fd, limit_ms) ? now_ms() - t0 : -1;
}

START_TEST(idle_timeout)
{
    start((const char *[]){"--timeout", "1", NULL});
    int silent = tcp_connect(srv.port), partial = tcp_connect(srv.port);
    int busy = tcp_connect(srv.port);
    ck_assert(silent >= 0 && partial >= 0 && busy >= 0);
    ck_assert_int_eq(send_all(partial, "*2\r\n$3\r\nGET", 11), 0);
    /* busy: a PING every 300 ms for 2.5 s is never idle for a second */
    char got[16];
    for (int i = 0; i < 8; i++) {
        ck_assert_int_eq(send_all(busy, "PING\r\n", 6), 0);
        ck_assert_uint_eq(recv_exact(busy, got, 7, 5000), 7);
        ck_assert_str_eq(got, "+PONG\r\n");
        usleep(300000);
    }
    long long t_silent = time_to_close(silent, 100), t_partial = time_to_close(partial, 100);
    ck_assert_msg(t_silent >= 0 && t_partial >= 0, "idle clients still open after 2.5 s");
    /* now busy goes quiet: closed about a second later */
    long long t_busy = time_to_close(busy, 5000);
    ck_assert_msg(t_busy >= 500 && t_busy <= 5000, "quiet client closed after %lld ms", t_busy);
    close(silent);
    close(partial);
    close(busy);
    /* the setting is what CONFIG GET reports */
    int asker = tcp_connect(srv.port);
    ck_assert_int_ge(asker, 0);
    static const char want[] = "*2\r\n$7\r\ntimeout\r\n$1\r\n1\r\n";
    char reply[sizeof(want)] = {0};
    ck_assert_int_eq(send_all(asker, "CONFIG GET timeout\r\n", 20), 0);
    ck_assert_uint_eq(recv_exact(asker, reply, sizeof(want) - 1, 5000), sizeof(want) - 1);
    ck_assert_str_eq(reply, want);
    close(asker);
    ck_assert_int_eq(server_stop(&srv, SIGTERM, 10000), 0);
}
END_TEST

struct busy {
    struct loadgen_config cfg;
    struct loadgen_stats st;
    int rc;
    atomic_bool stop;
    char error[96];
};

#define STREAM_VALUE 100000
#define STREAM_DEPTH 64

/*
 * Pipelines GETs of a 100 KB value and reads them: every reply passes the
 * 64 KiB soft output limit, so the connection is paused and resumed in
 * every loop iteration and the worker never runs out of work.
 */
static void *stream_main(void *arg)
{
    struct busy *b = arg;
    static char reply[STREAM_VALUE + 64];
    int fd = tcp_connect(srv.port);
    char hdr[32];
    int hl = snprintf(hdr, sizeof(hdr), "$%d\r\n", STREAM_VALUE);
    while (fd >= 0 && !atomic_load(&b->stop)) {
        static const char gets[] = "GET big\r\nGET big\r\nGET big\r\nGET big\r\n";
        for (int i = 0; i < STREAM_DEPTH / 4; i++)
            if (send_all(fd, gets, sizeof(gets) - 1) != 0)
                break;
        for (int i = 0; i < STREAM_DEPTH; i++) {
            size_t want = (size_t)hl + STREAM_VALUE + 2;
            if (recv_exact(fd, reply, want, 10000) != want || memcmp(reply, hdr, (size_t)hl)) {
                snprintf(b->error, sizeof(b->error), "streaming client: bad or missing reply");
                close(fd);
                return NULL;
            }
        }
    }
    if (fd < 0)
        snprintf(b->error, sizeof(b->error), "streaming client: connect failed");
    else
        close(fd);
    return NULL;
}

static void *busy_main(void *arg)
{
    struct busy *b = arg;
    b->rc = loadgen_run(&b->cfg, &b->st);
    return NULL;
}

/* The sweep also runs while the worker never runs out of work; busy clients stay. */
START_TEST(idle_timeout_under_load)
{
    start((const char *[]){"--timeout", "1", "--threads", "1", NULL});
    int fd = tcp_connect(srv.port);
    char *set = malloc(STREAM_VALUE + 64);
    ck_assert(fd >= 0 && set);
    int h = snprintf(set, 64, "*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%d\r\n", STREAM_VALUE);
    memset(set + h, 'b', STREAM_VALUE);
    memcpy(set + h + STREAM_VALUE, "\r\n", 2);
    ck_assert_int_eq(send_all(fd, set, (size_t)h + STREAM_VALUE + 2), 0);
    ck_assert_uint_eq(recv_exact(fd, set, 5, 5000), 5);
    free(set);
    close(fd);
    int silent = tcp_connect(srv.port);
    ck_assert_int_ge(silent, 0);
    static struct busy b;
    memset(&b, 0, sizeof(b));
    b.cfg = (struct loadgen_config){.port = srv.port, .clients = 20, .depth = 8, .run_ms = 4000,
                                    .drain_ms = 20000, .seed = test_seed()};
    pthread_t t, ts;
    ck_assert_int_eq(pthread_create(&ts, NULL, stream_main, &b), 0);
    ck_assert_int_eq(pthread_create(&t, NULL, busy_main, &b), 0);
    long long took = time_to_close(silent, 3500);
    pthread_join(t, NULL);
    atomic_store(&b.stop, true);
    pthread_join(ts, NULL);
    close(silent);
    ck_assert_msg(b.error[0] == '\0', "%s", b.error);
    ck_assert_msg(took >= 0, "silent client not closed within 3.5 s of load");
    ck_assert_msg(b.rc == 0 && b.st.closed == 0 && b.st.mismatches == 0, "busy clients: %s",
                  b.st.first_error);
    ck_assert_uint_eq(b.st.replies, b.st.requests);
    free(b.st.acked);
    ck_assert_int_eq(server_stop(&srv, SIGTERM, 10000), 0);
}
END_TEST

START_TEST(no_timeout_by_default)
{
    start(NULL);
    int fd = tcp_connect(srv.port);
    ck_assert_int_ge(fd, 0);
    ck_assert(!wait_closed(fd, 2500));
    char got[16];
    ck_assert_int_eq(send_all(fd, "PING\r\n", 6), 0);
    ck_assert_uint_eq(recv_exact(fd, got, 7, 5000), 7);
    ck_assert_str_eq(got, "+PONG\r\n");
    close(fd);
    char *log = server_log(&srv);
    ck_assert_msg(strstr(log, "idle timeout off"), "log: %s", log);
    free(log);
    ck_assert_int_eq(server_stop(&srv, SIGTERM, 10000), 0);
}
END_TEST

START_TEST(timeout_usage_errors)
{
    const char *bad[] = {"-1", "x", "1.5", "1k", "", "31536001"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *argv[] = {harness_env("KVS_SERVER"), "--timeout", bad[i], NULL};
        struct run_result r;
        ck_assert_int_eq(run_prog(argv, NULL, 0, 5000, &r), 0);
        ck_assert_msg(r.status == 2, "--timeout '%s': status %d", bad[i], r.status);
        run_result_free(&r);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hostile");
    TCase *tc = tcase_create("hostile");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, hostile_clients_beside_a_good_one);
    suite_add_tcase(s, tc);
    tc = tcase_create("timeout");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, idle_timeout);
    tcase_add_test(tc, idle_timeout_under_load);
    tcase_add_test(tc, no_timeout_by_default);
    tcase_add_test(tc, timeout_usage_errors);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
