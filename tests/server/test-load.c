/*
 * kvs-server under load: 1,000 concurrent connections doing mixed commands
 * (loadgen.h), every reply checked byte for byte against each connection's
 * model, while a fresh client connects every 20 ms, sends PING and times the
 * answer. The PING latencies (connect + PING, p50/p99/max) are printed, not
 * asserted: a shared CI machine makes any threshold flaky.
 *
 *   test-load [--seconds N] [--clients N]    (default 12 s, 1000 connections;
 *   also KVS_LOAD_SECONDS, KVS_LOAD_CLIENTS)  KVS_SERVER names the server
 *
 * The CI runs the short form; a soak runs it for a minute or more.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "loadgen.h"

static unsigned load_seconds = 12;
static unsigned load_clients = 1000;

/* Every fresh-client PING still gets its answer within this (it is a hang check). */
#define PING_DEADLINE_MS 10000
#define PING_EVERY_US 20000
#define MAX_SAMPLES 100000

struct pinger {
    uint16_t port;
    atomic_bool stop;
    long long *us;       /* connect + PING round trip, microseconds */
    long long *ping_us;  /* the PING round trip alone */
    size_t n;
    unsigned failures;
    char error[128];
};

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* One fresh connection, one PING. Returns the microseconds taken, or -1. */
static long long fresh_ping(struct pinger *p, long long *ping_us)
{
    long long t0 = now_us();
    int fd = tcp_connect(p->port);
    if (fd < 0) {
        snprintf(p->error, sizeof(p->error), "connect failed");
        return -1;
    }
    long long t1 = now_us();
    char got[16];
    bool ok = send_all(fd, "PING\r\n", 6) == 0 && recv_exact(fd, got, 7, PING_DEADLINE_MS) == 7 &&
              strcmp(got, "+PONG\r\n") == 0;
    *ping_us = now_us() - t1;
    close(fd);
    if (!ok)
        snprintf(p->error, sizeof(p->error), "no PONG within %d ms", PING_DEADLINE_MS);
    return ok ? now_us() - t0 : -1;
}

static void *pinger_main(void *arg)
{
    struct pinger *p = arg;
    while (!atomic_load(&p->stop)) {
        long long ping_us, us = fresh_ping(p, &ping_us);
        if (us < 0) {
            p->failures++;
        } else if (p->n < MAX_SAMPLES) {
            p->ping_us[p->n] = ping_us;
            p->us[p->n++] = us;
        }
        usleep(PING_EVERY_US);
    }
    return NULL;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static double pct_ms(const long long *sorted, size_t n, double pct)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(pct / 100.0 * (double)(n - 1) + 0.5);
    return (double)sorted[i] / 1000.0;
}

static void report(const struct loadgen_stats *st, struct pinger *p, long rss_kib, unsigned clients)
{
    qsort(p->us, p->n, sizeof(p->us[0]), cmp_ll);
    qsort(p->ping_us, p->n, sizeof(p->ping_us[0]), cmp_ll);
    double secs = (double)st->elapsed_ms / 1000.0;
    printf("load: %u connections for %.1f s: %llu requests, %llu replies checked "
           "(%.0f/s), %llu mismatches\n",
           clients, secs, (unsigned long long)st->requests, (unsigned long long)st->replies,
           secs > 0 ? (double)st->replies / secs : 0.0, (unsigned long long)st->mismatches);
    printf("load: fresh-client PING (connect + PING) during the load: %zu samples, "
           "p50 %.2f ms, p99 %.2f ms, max %.2f ms, %u failed\n",
           p->n, pct_ms(p->us, p->n, 50), pct_ms(p->us, p->n, 99), pct_ms(p->us, p->n, 100),
           p->failures);
    printf("load: the PING alone (after connect): p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
           pct_ms(p->ping_us, p->n, 50), pct_ms(p->ping_us, p->n, 99),
           pct_ms(p->ping_us, p->n, 100));
    printf("load: server RSS at the end: %ld KiB\n", rss_kib);
    fflush(stdout);
}

static unsigned fit_clients(void)
{
    unsigned long limit = loadgen_raise_fd_limit();
    unsigned clients = load_clients;
    if (limit < (unsigned long)clients + 64) {
        clients = limit > 128 ? (unsigned)(limit - 64) : 64;
        printf("load: descriptor limit %lu: %u connections instead of %u\n", limit, clients,
               load_clients);
    }
    return clients;
}

START_TEST(many_connections_mixed_commands)
{
    unsigned clients = fit_clients();
    struct server_proc srv = {0};
    ck_assert_int_eq(server_start(&srv, harness_tmpdir(), NULL), 0);
    struct pinger p = {.port = srv.port, .us = calloc(MAX_SAMPLES, sizeof(long long)),
                       .ping_us = calloc(MAX_SAMPLES, sizeof(long long))};
    ck_assert(p.us && p.ping_us);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, pinger_main, &p), 0);
    struct loadgen_config cfg = {.port = srv.port, .clients = clients, .depth = 2,
                                 .run_ms = load_seconds * 1000ll, .drain_ms = 60000,
                                 .seed = test_seed()};
    struct loadgen_stats st;
    int rc = loadgen_run(&cfg, &st);
    atomic_store(&p.stop, true);
    pthread_join(t, NULL);
    report(&st, &p, proc_rss_kib(srv.pid), clients);
    ck_assert_msg(rc == 0, "load generator: %s", st.first_error);
    ck_assert_uint_eq(st.connected, clients);
    ck_assert_msg(st.mismatches == 0 && st.closed == 0, "%s (KVS_TEST_SEED=%llu)", st.first_error,
                  (unsigned long long)test_seed());
    ck_assert_msg(st.unfinished == 0, "%u connections still waiting for replies", st.unfinished);
    ck_assert_uint_eq(st.replies, st.requests);
    ck_assert_uint_gt(st.replies, clients);
    ck_assert_msg(p.failures == 0, "%u fresh-client PINGs failed: %s", p.failures, p.error);
    ck_assert_uint_gt(p.n, 0);
    free(st.acked);
    free(p.us);
    free(p.ping_us);
    ck_assert_int_eq(server_stop(&srv, SIGTERM, 20000), 0);
}
END_TEST

static unsigned parse_count(const char *text, unsigned fallback)
{
    char *end;
    unsigned long v = text ? strtoul(text, &end, 10) : 0;
    return text && *end == '\0' && v > 0 && v < 1000000 ? (unsigned)v : fallback;
}

static void parse_args(int argc, char **argv)
{
    load_seconds = parse_count(getenv("KVS_LOAD_SECONDS"), load_seconds);
    load_clients = parse_count(getenv("KVS_LOAD_CLIENTS"), load_clients);
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--seconds") == 0)
            load_seconds = parse_count(argv[i + 1], load_seconds);
        else if (strcmp(argv[i], "--clients") == 0)
            load_clients = parse_count(argv[i + 1], load_clients);
    }
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    Suite *s = suite_create("load");
    TCase *tc = tcase_create("load");
    tcase_set_timeout(tc, (double)load_seconds + 180);
    tcase_add_test(tc, many_connections_mixed_commands);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
