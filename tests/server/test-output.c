/*
 * Clients that never read their replies, and the per-client output limit
 * (--client-output-limit, Redis's client-output-buffer-limit hard limit).
 *
 * 100 clients pipeline GETs of a 1 MiB value and never read: the server's
 * resident memory (VmRSS) must stay under clients x limit plus a margin,
 * and other clients are still served. One request whose reply passes the
 * limit gets its client disconnected; pipelined replies under it are not.
 */
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define BIG ((size_t)1 << 20)
#define NON_READERS 100
#define GETS_EACH 1000
/* Beyond clients x limit: the server's own memory, pools, allocator slack. */
#define RSS_MARGIN_KIB (64L * 1024)

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1 /* shadow memory and quarantines: RSS says little */
#else
#define SANITIZED 0
#endif

static struct server_proc srv;

static redisContext *hconnect(void)
{
    struct timeval tv = {.tv_sec = 10};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", srv.port, tv);
    ck_assert_msg(c && !c->err, "connect");
    redisSetTimeout(c, tv);
    return c;
}

static void set_big(redisContext *c, const char *key)
{
    char *v = malloc(BIG);
    ck_assert_ptr_nonnull(v);
    memset(v, 'v', BIG);
    redisReply *r = redisCommand(c, "SET %s %b", key, v, BIG);
    ck_assert(r && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    free(v);
}

/* A GET of big read back whole. */
static void get_big(redisContext *c)
{
    redisReply *r = redisCommand(c, "GET big");
    ck_assert(r && r->type == REDIS_REPLY_STRING && r->len == BIG);
    ck_assert(r->str[0] == 'v' && r->str[BIG - 1] == 'v');
    freeReplyObject(r);
}

/* Send GETS_EACH pipelined GETs without blocking; stop when the socket is full. */
static size_t pipeline_gets(int fd)
{
    static char req[GETS_EACH * 9];
    for (int i = 0; i < GETS_EACH; i++)
        memcpy(req + i * 9, "GET big\r\n", 9);
    size_t sent = 0;
    while (sent < sizeof(req)) {
        ssize_t n = send(fd, req + sent, sizeof(req) - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n <= 0)
            break;
        sent += (size_t)n;
    }
    return sent;
}

/* The largest RSS seen over ms milliseconds. */
static long max_rss_over(int ms)
{
    long most = 0;
    for (long long end = now_ms() + ms; now_ms() < end; usleep(100000)) {
        long kib = proc_rss_kib(srv.pid);
        most = kib > most ? kib : most;
    }
    return most;
}

START_TEST(non_reading_clients_bounded_memory)
{
    const char *limit_text = "2m";
    long limit_kib = 2 * 1024;
    srv = (struct server_proc){0};
    ck_assert_int_eq(server_start(&srv, harness_tmpdir(),
                                  (const char *[]){"--client-output-limit", limit_text, NULL}), 0);
    redisContext *c = hconnect();
    set_big(c, "big");
    get_big(c); /* warm: the value's pages, one reply's buffers */
    long rss0 = proc_rss_kib(srv.pid);
    int fds[NON_READERS];
    size_t queued = 0;
    for (int i = 0; i < NON_READERS; i++) {
        fds[i] = tcp_connect(srv.port);
        ck_assert_int_ge(fds[i], 0);
        queued += pipeline_gets(fds[i]);
    }
    long rss = max_rss_over(3000);
    get_big(c); /* the others are still served */
    redisReply *r = redisCommand(c, "PING");
    ck_assert(r && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    long bound = NON_READERS * limit_kib + RSS_MARGIN_KIB;
    printf("output: %d clients pipelining GETs of a 1 MiB value (%zu GETs sent, %zu MiB of "
           "replies asked for), never reading, --client-output-limit %s: server RSS %ld -> %ld "
           "KiB (+%ld KiB; bound %ld KiB = clients x limit + %ld MiB)%s\n",
           NON_READERS, queued / 9, queued / 9, limit_text, rss0, rss, rss - rss0, bound,
           RSS_MARGIN_KIB / 1024, SANITIZED ? "; not checked under sanitizers" : "");
    fflush(stdout);
    if (!SANITIZED)
        ck_assert_msg(rss - rss0 <= bound, "RSS grew by %ld KiB, bound %ld KiB", rss - rss0, bound);
    for (int i = 0; i < NON_READERS; i++)
        close(fds[i]);
    redisFree(c);
    ck_assert_int_eq(server_stop(&srv, SIGTERM, 20000), 0);
}
END_TEST

START_TEST(reply_past_limit_disconnects)
{
    srv = (struct server_proc){0};
    ck_assert_int_eq(server_start(&srv, harness_tmpdir(),
                                  (const char *[]){"--client-output-limit", "2m", NULL}), 0);
    redisContext *c = hconnect();
    set_big(c, "big");
    /* three 1 MiB replies pipelined: each waits under the limit, none is lost */
    for (int i = 0; i < 3; i++)
        redisAppendCommand(c, "GET big");
    for (int i = 0; i < 3; i++) {
        redisReply *r;
        ck_assert_int_eq(redisGetReply(c, (void **)&r), REDIS_OK);
        ck_assert(r->type == REDIS_REPLY_STRING && r->len == BIG);
        freeReplyObject(r);
    }
    /* one reply of 3 MiB: past the limit, the client is dropped without it,
     * after the replies to its earlier requests; later ones are not run */
    int fd = tcp_connect(srv.port);
    ck_assert_int_ge(fd, 0);
    const char req[] = "SET before 1\r\nMGET big big big\r\nSET after 1\r\n";
    ck_assert_int_eq(send_all(fd, req, sizeof(req) - 1), 0);
    char got[16];
    ck_assert_uint_eq(recv_exact(fd, got, 5, 10000), 5);
    ck_assert_str_eq(got, "+OK\r\n");
    ck_assert(wait_closed(fd, 10000));
    close(fd);
    redisReply *r = redisCommand(c, "EXISTS before after");
    ck_assert(r && r->type == REDIS_REPLY_INTEGER && r->integer == 1);
    freeReplyObject(r);
    get_big(c); /* everyone else carries on */
    redisFree(c);
    ck_assert_int_eq(server_stop(&srv, SIGTERM, 10000), 0);
    char *log = server_log(&srv);
    ck_assert_msg(strstr(log, "over the output limit (2097152 bytes)"), "log: %s", log);
    free(log);
}
END_TEST

START_TEST(limit_defaults_and_usage)
{
    /* default: 64 MiB, or one --max-bulk value plus 1 MiB if larger; 0 is no limit */
    const char *const cases[][3] = {
        {"--max-bulk", "1m", "unsent replies 67108864 bytes"},
        {"--max-bulk", "512m", "unsent replies 537919488 bytes"},
        {"--client-output-limit", "0", "unsent replies no limit"},
        {"--client-output-limit", "64k", "unsent replies 65536 bytes"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        srv = (struct server_proc){0};
        ck_assert_int_eq(server_start(&srv, harness_tmpdir(),
                                      (const char *[]){cases[i][0], cases[i][1], NULL}), 0);
        ck_assert_int_eq(server_stop(&srv, SIGTERM, 10000), 0);
        char *log = server_log(&srv);
        ck_assert_msg(strstr(log, cases[i][2]), "%s %s: no '%s' in %s", cases[i][0], cases[i][1],
                      cases[i][2], log);
        free(log);
    }
    const char *bad[] = {"1k", "65535", "x", "-1", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *argv[] = {harness_env("KVS_SERVER"), "--client-output-limit", bad[i], NULL};
        struct run_result r;
        ck_assert_int_eq(run_prog(argv, NULL, 0, 5000, &r), 0);
        ck_assert_msg(r.status == 2, "--client-output-limit '%s': status %d", bad[i], r.status);
        run_result_free(&r);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("output");
    TCase *tc = tcase_create("output");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, non_reading_clients_bounded_memory);
    tcase_add_test(tc, reply_past_limit_disconnects);
    tcase_add_test(tc, limit_defaults_and_usage);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
