/*
 * Graceful shutdown under load: 50 connections pipeline SETs of known keys
 * and values (loadgen.h, SET-only mode: each knows exactly which of its SETs
 * were acknowledged) while redis-benchmark writes beside them; the server
 * gets SIGTERM in the middle, must exit with status 0, and after a restart
 * on the same directory every acknowledged SET must be there, in each sync
 * mode.
 */
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "loadgen.h"

#define CLIENTS 50
#define DEPTH 16
#define LOAD_MS 2000

struct lg_thread {
    struct loadgen_config cfg;
    struct loadgen_stats st;
    int rc;
};

static void *lg_main(void *arg)
{
    struct lg_thread *a = arg;
    a->rc = loadgen_run(&a->cfg, &a->st);
    return NULL;
}

/* redis-benchmark writing its own keys beside ours, if it is installed; -1 if not. */
static pid_t start_benchmark(uint16_t port)
{
    const char *bench = harness_which("redis-benchmark");
    if (!bench)
        return -1;
    static char path[1024], port_text[16], log[600];
    snprintf(path, sizeof(path), "%s", bench);
    snprintf(port_text, sizeof(port_text), "%u", (unsigned)port);
    snprintf(log, sizeof(log), "%s/bench.log", harness_tmpdir());
    const char *argv[] = {path, "-p", port_text, "-t", "set", "-n", "100000000", "-c", "20",
                          "-P", "16", "-r", "100000", "-d", "64", "-q", NULL};
    return proc_start(argv, log);
}

/* Is SET n of connection c in the store (the reply to a pipelined GET)? */
static bool has_value(redisContext *rc, unsigned c, uint64_t n)
{
    redisReply *r;
    ck_assert_int_eq(redisGetReply(rc, (void **)&r), REDIS_OK);
    char want[64];
    size_t wl = loadgen_value(c, n, want);
    bool ok = r->type == REDIS_REPLY_STRING && r->len == wl && memcmp(r->str, want, wl) == 0;
    freeReplyObject(r);
    return ok;
}

/*
 * SETs [0, acked) of connection c must all be there. Returns how many of
 * the next DEPTH (sent, not acknowledged) are there too: applied, with the
 * reply lost in the shutdown, which is allowed.
 */
static unsigned check_client(redisContext *rc, unsigned c, uint64_t acked)
{
    enum { BATCH = 1000 };
    unsigned extra = 0;
    uint64_t total = acked + DEPTH;
    for (uint64_t n = 0; n < total; n += BATCH) {
        uint64_t end = n + BATCH < total ? n + BATCH : total;
        for (uint64_t i = n; i < end; i++)
            redisAppendCommand(rc, "GET lg:%u:%llu", c, (unsigned long long)i);
        for (uint64_t i = n; i < end; i++) {
            bool ok = has_value(rc, c, i);
            ck_assert_msg(ok || i >= acked, "acknowledged SET lg:%u:%llu lost", c,
                          (unsigned long long)i);
            extra += ok && i >= acked;
        }
    }
    return extra;
}

static void verify(uint16_t port, const struct loadgen_stats *st, uint64_t *acked_total,
                   unsigned *unacked_applied)
{
    struct timeval tv = {.tv_sec = 10};
    redisContext *rc = redisConnectWithTimeout("127.0.0.1", port, tv);
    ck_assert(rc && !rc->err);
    redisSetTimeout(rc, tv);
    *acked_total = 0;
    *unacked_applied = 0;
    for (unsigned c = 0; c < CLIENTS; c++) {
        *unacked_applied += check_client(rc, c, st->acked[c]);
        *acked_total += st->acked[c];
    }
    redisFree(rc);
}

START_TEST(sigterm_under_load_keeps_acknowledged_sets)
{
    static const char *const modes[] = {"none", "interval", "always"};
    const char *dir = harness_tmpdir();
    struct server_proc srv = {0};
    ck_assert_int_eq(server_start(&srv, dir, (const char *[]){"--sync", modes[_i], NULL}), 0);
    pid_t bench = start_benchmark(srv.port);
    static struct lg_thread lg;
    lg = (struct lg_thread){.cfg = {.port = srv.port, .clients = CLIENTS, .depth = DEPTH,
                                    .run_ms = 60000, .drain_ms = 20000, .sets_only = true,
                                    .seed = test_seed()}};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, lg_main, &lg), 0);
    usleep(LOAD_MS * 1000);
    ck_assert_int_eq(server_stop(&srv, SIGTERM, 20000), 0);
    pthread_join(t, NULL);
    if (bench > 0)
        proc_stop(bench, SIGKILL, 5000);
    ck_assert_msg(lg.rc == 0, "load generator: %s", lg.st.first_error);
    ck_assert_msg(lg.st.mismatches == 0, "%s", lg.st.first_error);
    ck_assert_uint_eq(lg.st.closed, CLIENTS); /* the server closed every connection */

    srv = (struct server_proc){0};
    ck_assert_int_eq(server_start(&srv, dir, NULL), 0);
    uint64_t acked;
    unsigned extra;
    verify(srv.port, &lg.st, &acked, &extra);
    printf("shutdown: --sync %s: SIGTERM after %d ms of load (%d connections pipelining SETs%s): "
           "%llu SETs acknowledged, all present after restart (and %u applied whose reply "
           "was not received)\n",
           modes[_i], LOAD_MS, CLIENTS, bench > 0 ? " + redis-benchmark -c 20 -P 16" : "",
           (unsigned long long)acked, extra);
    fflush(stdout);
    ck_assert_uint_gt(acked, 100);
    free(lg.st.acked);
    ck_assert_int_eq(server_stop(&srv, SIGTERM, 10000), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("shutdown");
    TCase *tc = tcase_create("shutdown");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, sigterm_under_load_keeps_acknowledged_sets, 0, 3);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
