/*
 * kvs-server on the wire: inline commands, pipelining, protocol errors,
 * hostile clients, limits, backpressure, descriptor leaks, many clients.
 * Raw sockets, so the bytes on the wire are exactly what the test says.
 */
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static struct server_proc srv;

static void start(const char *const *extra)
{
    const char *dir = harness_tmpdir();
    ck_assert_ptr_nonnull(dir);
    srv = (struct server_proc){0};
    ck_assert_int_eq(server_start(&srv, dir, extra), 0);
}

static void stop(void)
{
    ck_assert_int_eq(server_stop(&srv, SIGTERM, 10000), 0);
}

static int conn(void)
{
    int fd = tcp_connect(srv.port);
    ck_assert_int_ge(fd, 0);
    return fd;
}

/* Send request, expect exactly reply (and nothing more for now). */
static void exchange(int fd, const char *request, size_t reqlen, const char *reply, size_t replen)
{
    char *got = malloc(replen + 1);
    ck_assert_ptr_nonnull(got);
    ck_assert_int_eq(send_all(fd, request, reqlen), 0);
    size_t n = recv_exact(fd, got, replen, 5000);
    ck_assert_msg(n == replen && memcmp(got, reply, replen) == 0, "expected '%.*s' got '%.*s'",
                  (int)replen, reply, (int)n, got);
    free(got);
}

#define EXCHANGE(fd, req, rep) exchange(fd, req, sizeof(req) - 1, rep, sizeof(rep) - 1)

/* A numeric field of INFO stats, read over a fresh connection; -1 if missing. */
static long long info_field(const char *name)
{
    struct timeval tv = {.tv_sec = 5};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", srv.port, tv);
    ck_assert(c && !c->err);
    redisSetTimeout(c, tv);
    redisReply *r = redisCommand(c, "INFO stats");
    ck_assert(r && r->type == REDIS_REPLY_STRING);
    char *at = strstr(r->str, name);
    long long v = at && at[strlen(name)] == ':' ? atoll(at + strlen(name) + 1) : -1;
    freeReplyObject(r);
    redisFree(c);
    return v;
}

/* Wait (bounded) until the server has read at least bytes in all. */
static void wait_input_bytes(long long bytes)
{
    long long end = now_ms() + 10000;
    while (info_field("total_net_input_bytes") < bytes && now_ms() < end)
        usleep(5000);
    ck_assert_int_ge(info_field("total_net_input_bytes"), bytes);
}

/* A fresh connection still gets PONG: the server survived whatever came before. */
static void still_alive(void)
{
    int fd = conn();
    EXCHANGE(fd, "PING\r\n", "+PONG\r\n");
    close(fd);
}

START_TEST(inline_commands)
{
    start(NULL);
    int fd = conn();
    EXCHANGE(fd, "PING\r\n", "+PONG\r\n");
    EXCHANGE(fd, "set \"a b\" 'c d'\r\nget \"a b\"\r\n", "+OK\r\n$3\r\nc d\r\n");
    EXCHANGE(fd, "\r\n\r\n  \r\nping\n", "+PONG\r\n");
    EXCHANGE(fd, "*0\r\n*-1\r\nECHO \"\\x41\\x00B\"\r\n", "$3\r\nA\0B\r\n");
    close(fd);
    stop();
}
END_TEST

/*
 * Send req->out (whole when max_piece is 0, else in random pieces of 1 to
 * max_piece bytes) and expect exactly rep->out back within timeout_ms; a
 * failure names what (and the test seed) and where the replies differ.
 */
static void send_expect(int fd, const struct run_result *req, const struct run_result *rep,
                        size_t max_piece, int timeout_ms, const char *what)
{
    for (size_t pos = 0; pos < req->out_len;) {
        size_t n = max_piece ? 1 + test_rand() % max_piece : req->out_len;
        n = n > req->out_len - pos ? req->out_len - pos : n;
        ck_assert_int_eq(send_all(fd, req->out + pos, n), 0);
        pos += n;
    }
    char *got = malloc(rep->out_len + 1);
    ck_assert_ptr_nonnull(got);
    size_t n = recv_exact(fd, got, rep->out_len, timeout_ms);
    size_t at = 0;
    while (at < n && got[at] == rep->out[at])
        at++;
    ck_assert_msg(n == rep->out_len && at == n,
                  "%s (seed %llu): %zu of %zu reply bytes, first difference at %zu: '%.40s' "
                  "where '%.40s' was expected", what, (unsigned long long)test_seed(), n,
                  rep->out_len, at, got + at, rep->out + at);
    free(got);
}

/* 2000 commands in one buffer; replies must come back complete and in order. */
static void build_pipeline(struct run_result *req, struct run_result *rep, int n)
{
    FILE *q = open_memstream(&req->out, &req->out_len);
    FILE *a = open_memstream(&rep->out, &rep->out_len);
    for (int i = 0; i < n; i++) {
        char key[32], val[32];
        int kl = snprintf(key, sizeof(key), "key:%d", i), vl = snprintf(val, sizeof(val), "v%d", i * 7);
        fprintf(q, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", kl, key, vl, val);
        fprintf(q, "*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n", kl, key);
        fprintf(q, "EXISTS %s nokey\r\n", key);
        fprintf(a, "+OK\r\n$%d\r\n%s\r\n:1\r\n", vl, val);
    }
    fclose(q);
    fclose(a);
}

static void pipeline(bool in_pieces)
{
    struct run_result req = {0}, rep = {0};
    build_pipeline(&req, &rep, 2000);
    int fd = conn();
    send_expect(fd, &req, &rep, in_pieces ? 97 : 0, 10000, "SET/GET/EXISTS pipeline");
    close(fd);
    free(req.out);
    free(rep.out);
}

START_TEST(pipelining_in_order)
{
    start(NULL);
    pipeline(false);
    pipeline(true);
    stop();
}
END_TEST

/*
 * Pipelined GETs are answered together (the server's get_run.c), but the
 * replies must be exactly those of the requests executed one by one: in
 * order, each GET seeing the SETs before it, errors where they were asked,
 * inline GETs among multibulk ones, more GETs than one run holds, and values
 * large enough that the connection's output budget (64 KiB unsent) stops a
 * run part way and the rest is parsed again. The pipeline ends in a protocol
 * error, whose reply must come after every GET before it.
 */
#define BIG_GETS 24
#define BIG_GET_BYTES (20 * 1024)

static void big_value(char *v, int i)
{
    for (int j = 0; j < BIG_GET_BYTES; j++)
        v[j] = (char)('a' + (i * 7 + j) % 26);
}

static void build_get_pipeline(struct run_result *req, struct run_result *rep)
{
    FILE *q = open_memstream(&req->out, &req->out_len);
    FILE *a = open_memstream(&rep->out, &rep->out_len);
    static char v[BIG_GET_BYTES];
    for (int i = 0; i < 70; i++) { /* more than two runs; key:i holds v<i*7> */
        if (i % 10 == 9) {
            fprintf(q, "GET key:%d\r\n", i); /* inline, amid multibulk GETs */
        } else {
            int kl = snprintf(NULL, 0, "key:%d", i);
            fprintf(q, "*2\r\n$3\r\nGET\r\n$%d\r\nkey:%d\r\n", kl, i);
        }
        int vl = snprintf(NULL, 0, "v%d", i * 7);
        fprintf(a, "$%d\r\nv%d\r\n", vl, i * 7);
    }
    fprintf(q, "*2\r\n$3\r\nGET\r\n$5\r\nnokey\r\n*2\r\n$3\r\nGET\r\n$0\r\n\r\n");
    fprintf(a, "$-1\r\n$-1\r\n");
    fprintf(q, "*3\r\n$3\r\nGET\r\n$5\r\nkey:1\r\n$5\r\nkey:2\r\n");
    fprintf(a, "-ERR wrong number of arguments for 'get' command\r\n");
    fprintf(q, "*2\r\n$3\r\nGET\r\n$5\r\nkey:5\r\n*3\r\n$3\r\nSET\r\n$5\r\nkey:5\r\n$3\r\nnew\r\n"
               "*2\r\n$3\r\nGET\r\n$5\r\nkey:5\r\nSET key:5 v35\r\n");
    fprintf(a, "$3\r\nv35\r\n+OK\r\n$3\r\nnew\r\n+OK\r\n"); /* as it was, for the next run */
    for (int i = 0; i < BIG_GETS; i++) { /* 480 KiB of values: several budgets */
        fprintf(q, "*2\r\n$3\r\nGET\r\n$%d\r\nbig:%d\r\n", i < 10 ? 5 : 6, i);
        big_value(v, i);
        fprintf(a, "$%d\r\n", BIG_GET_BYTES);
        fwrite(v, 1, BIG_GET_BYTES, a);
        fprintf(a, "\r\n");
    }
    fprintf(q, "ECHO after-big\r\n*2\r\n$3\r\nGET\r\n$5\r\nbig:0\r\n*1\r\n$4\r\nPING\r\n");
    fprintf(a, "$9\r\nafter-big\r\n$%d\r\n", BIG_GET_BYTES);
    big_value(v, 0);
    fwrite(v, 1, BIG_GET_BYTES, a);
    fprintf(a, "\r\n+PONG\r\n");
    for (int i = 0; i < 8; i++) /* big GETs, then an error that must wait for them */
        fprintf(q, "*2\r\n$3\r\nGET\r\n$5\r\nbig:%d\r\n", i);
    fprintf(q, "*1\r\n$x\r\n");
    for (int i = 0; i < 8; i++) {
        big_value(v, i);
        fprintf(a, "$%d\r\n", BIG_GET_BYTES);
        fwrite(v, 1, BIG_GET_BYTES, a);
        fprintf(a, "\r\n");
    }
    fprintf(a, "-ERR Protocol error: invalid bulk length\r\n");
    fclose(q);
    fclose(a);
}

static void get_pipeline(bool in_pieces)
{
    struct run_result req = {0}, rep = {0};
    build_get_pipeline(&req, &rep);
    int fd = conn();
    send_expect(fd, &req, &rep, in_pieces ? 997 : 0, 10000, "GET pipeline");
    ck_assert(wait_closed(fd, 10000));
    close(fd);
    free(req.out);
    free(rep.out);
}

START_TEST(pipelined_gets_in_order)
{
    start(NULL);
    int fd = conn();
    static char v[BIG_GET_BYTES];
    for (int i = 0; i < 70; i++) {
        char cmd[64];
        int len = snprintf(cmd, sizeof(cmd), "SET key:%d v%d\r\n", i, i * 7);
        exchange(fd, cmd, (size_t)len, "+OK\r\n", 5);
    }
    for (int i = 0; i < BIG_GETS; i++) {
        char head[64];
        int kl = snprintf(NULL, 0, "big:%d", i);
        int len = snprintf(head, sizeof(head), "*3\r\n$3\r\nSET\r\n$%d\r\nbig:%d\r\n$%d\r\n", kl,
                           i, BIG_GET_BYTES);
        big_value(v, i);
        ck_assert_int_eq(send_all(fd, head, (size_t)len), 0);
        ck_assert_int_eq(send_all(fd, v, sizeof(v)), 0);
        exchange(fd, "\r\n", 2, "+OK\r\n", 5);
    }
    close(fd);
    long long before = info_field("total_commands_processed");
    get_pipeline(false);
    /* every request counted once, though some were parsed twice: 70 GETs;
     * nokey, the empty key, the arity error, GET SET GET SET; 24 big GETs;
     * ECHO, GET, PING; 8 big GETs; and this INFO (the error is no command) */
    ck_assert_int_eq(info_field("total_commands_processed") - before, 70 + 7 + 24 + 3 + 8 + 1);
    get_pipeline(true);
    stop();
}
END_TEST

/*
 * Random pipelines against a model of the store: GETs (multibulk and
 * inline), SETs of small and large values, DELs, MGETs, arity errors and
 * PINGs over eight keys, sent whole or in random pieces. The replies must be
 * exactly what executing the requests one by one gives, whatever runs of
 * GETs the server gathers and however often their values' size sends it
 * back to parse them again. The seed is printed; KVS_TEST_SEED replays it.
 */
#define MODEL_KEYS 8

struct model {
    char *val[MODEL_KEYS];
    size_t len[MODEL_KEYS];
};

static void model_bulk(FILE *a, const struct model *m, int k)
{
    if (!m->val[k]) {
        fprintf(a, "$-1\r\n");
        return;
    }
    fprintf(a, "$%zu\r\n", m->len[k]);
    fwrite(m->val[k], 1, m->len[k], a);
    fprintf(a, "\r\n");
}

static void model_set(struct model *m, int k, size_t len)
{
    free(m->val[k]);
    m->val[k] = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(m->val[k]);
    for (size_t i = 0; i < len; i++)
        m->val[k][i] = (char)test_rand();
    m->len[k] = len;
}

/* One random request into q, its reply (per the model, updated) into a. */
static void model_request(FILE *q, FILE *a, struct model *m)
{
    int k = (int)(test_rand() % MODEL_KEYS), pick = (int)(test_rand() % 100);
    if (pick < 45) {
        fprintf(q, "*2\r\n$3\r\nGET\r\n$3\r\nrk%d\r\n", k);
        model_bulk(a, m, k);
    } else if (pick < 55) {
        fprintf(q, "get rk%d\r\n", k);
        model_bulk(a, m, k);
    } else if (pick < 72) {
        size_t len = test_rand() % 4 == 0 ? 8192 + test_rand() % 32768 : test_rand() % 60;
        model_set(m, k, len);
        fprintf(q, "*3\r\n$3\r\nSET\r\n$3\r\nrk%d\r\n$%zu\r\n", k, len);
        fwrite(m->val[k], 1, len, q);
        fprintf(q, "\r\n");
        fprintf(a, "+OK\r\n");
    } else if (pick < 80) {
        fprintf(q, "*2\r\n$3\r\nDEL\r\n$3\r\nrk%d\r\n", k);
        fprintf(a, ":%d\r\n", m->val[k] != NULL);
        free(m->val[k]);
        m->val[k] = NULL;
    } else if (pick < 88) {
        int k2 = (int)(test_rand() % MODEL_KEYS);
        fprintf(q, "*3\r\n$4\r\nMGET\r\n$3\r\nrk%d\r\n$3\r\nrk%d\r\n", k, k2);
        fprintf(a, "*2\r\n");
        model_bulk(a, m, k);
        model_bulk(a, m, k2);
    } else if (pick < 94) {
        fprintf(q, "*3\r\n$3\r\nGET\r\n$3\r\nrk%d\r\n$1\r\nx\r\n", k);
        fprintf(a, "-ERR wrong number of arguments for 'get' command\r\n");
    } else {
        fprintf(q, "PING\r\n");
        fprintf(a, "+PONG\r\n");
    }
}

START_TEST(random_pipelines_match_a_model)
{
    start(NULL);
    struct model m;
    memset(&m, 0, sizeof(m));
    for (int round = 0; round < 6; round++) {
        struct run_result req = {0}, rep = {0};
        FILE *q = open_memstream(&req.out, &req.out_len);
        FILE *a = open_memstream(&rep.out, &rep.out_len);
        for (int i = 0; i < 400; i++)
            model_request(q, a, &m);
        fclose(q);
        fclose(a);
        int fd = conn();
        char what[32];
        snprintf(what, sizeof(what), "round %d", round);
        send_expect(fd, &req, &rep, round % 2 ? 4000 : 0, 20000, what);
        close(fd);
        free(req.out);
        free(rep.out);
    }
    for (int k = 0; k < MODEL_KEYS; k++)
        free(m.val[k]);
    stop();
}
END_TEST

START_TEST(half_close_gets_replies)
{
    start(NULL);
    int fd = conn();
    ck_assert_int_eq(send_all(fd, "PING\r\nECHO hi\r\n", 15), 0);
    shutdown(fd, SHUT_WR);
    char got[64];
    ck_assert_uint_eq(recv_exact(fd, got, 15, 5000), 15);
    ck_assert_str_eq(got, "+PONG\r\n$2\r\nhi\r\n");
    ck_assert(wait_closed(fd, 5000));
    close(fd);
    stop();
}
END_TEST

/* Redis tests/unit/protocol.tcl inputs: error reply, then the connection closes. */
static const struct {
    const char *input;
    const char *reply;
} bad_inputs[] = {
    {"*3000000000\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
    {"*abc\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
    {"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n", "-ERR Protocol error: expected '$', got 'f'\r\n"},
    {"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
    {"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$2000000000\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
    {"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$blabla\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
    {"*1\r\nfoo\r\n", "-ERR Protocol error: expected '$', got 'f'\r\n"},
    {"set \"\"\"test-key\"\"\" test-value\r\nping\r\n",
     "-ERR Protocol error: unbalanced quotes in request\r\n"},
    {"PING\r\n*1\r\n$x\r\n", "+PONG\r\n-ERR Protocol error: invalid bulk length\r\n"},
    {"*1\r\n$4\r\nPINGxx", "-ERR Protocol error: bulk string not terminated by CRLF\r\n"},
};

START_TEST(protocol_errors_close)
{
    start(NULL);
    for (size_t i = 0; i < sizeof(bad_inputs) / sizeof(bad_inputs[0]); i++) {
        int fd = conn();
        exchange(fd, bad_inputs[i].input, strlen(bad_inputs[i].input), bad_inputs[i].reply,
                 strlen(bad_inputs[i].reply));
        ck_assert_msg(wait_closed(fd, 5000), "connection left open after '%s'", bad_inputs[i].input);
        close(fd);
    }
    /* "ping x y z": an ordinary error, the connection stays */
    int fd = conn();
    EXCHANGE(fd, "ping x y z\r\nPING\r\n",
             "-ERR wrong number of arguments for 'ping' command\r\n+PONG\r\n");
    close(fd);
    still_alive();
    stop();
}
END_TEST

START_TEST(line_limits)
{
    start(NULL);
    size_t n = 70 * 1024;
    char *big = malloc(n);
    ck_assert_ptr_nonnull(big);
    memset(big, 'a', n);
    int fd = conn();
    send_all(fd, big, n); /* the server may close before taking it all */
    char got[128];
    const char want[] = "-ERR Protocol error: too big inline request\r\n";
    ck_assert_uint_eq(recv_exact(fd, got, sizeof(want) - 1, 5000), sizeof(want) - 1);
    ck_assert_str_eq(got, want);
    ck_assert(wait_closed(fd, 5000));
    close(fd);
    big[0] = '*';
    memset(big + 1, '1', n - 1);
    fd = conn();
    send_all(fd, big, n);
    const char want2[] = "-ERR Protocol error: too big mbulk count string\r\n";
    ck_assert_uint_eq(recv_exact(fd, got, sizeof(want2) - 1, 5000), sizeof(want2) - 1);
    ck_assert_str_eq(got, want2);
    close(fd);
    free(big);
    still_alive();
    stop();
}
END_TEST

START_TEST(max_bulk_option)
{
    const char *extra[] = {"--max-bulk", "1k", NULL};
    start(extra);
    int fd = conn();
    char req[1200];
    int h = snprintf(req, sizeof(req), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1024\r\n");
    memset(req + h, 'v', 1024);
    memcpy(req + h + 1024, "\r\n", 2);
    exchange(fd, req, (size_t)h + 1026, "+OK\r\n", 5);
    EXCHANGE(fd, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1025\r\n",
             "-ERR Protocol error: invalid bulk length\r\n");
    ck_assert(wait_closed(fd, 5000));
    close(fd);
    still_alive();
    stop();
}
END_TEST

START_TEST(random_bytes)
{
    start(NULL);
    int base = proc_socket_count(srv.pid);
    for (int c = 0; c < 30; c++) {
        int fd = conn();
        char junk[4096];
        size_t n = 1 + test_rand() % sizeof(junk);
        for (size_t i = 0; i < n; i++)
            junk[i] = (char)test_rand();
        if (c % 3 == 0)
            junk[0] = '*'; /* steer some into the multibulk parser */
        send_all(fd, junk, n);
        if (c % 2)
            wait_closed(fd, 200); /* some the server closes, some stay half-sent */
        close(fd);
    }
    still_alive();
    long long end = now_ms() + 5000;
    while (proc_socket_count(srv.pid) != base && now_ms() < end)
        usleep(10000);
    ck_assert_msg(proc_socket_count(srv.pid) == base, "sockets: %d, were %d (KVS_TEST_SEED=%llu)",
                  proc_socket_count(srv.pid), base, (unsigned long long)test_seed());
    stop();
}
END_TEST

START_TEST(half_command_then_close)
{
    start(NULL);
    const char *halves[] = {"*3\r\n$3\r\nSET\r\n$1\r\nk", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nab",
                            "*3\r\n", "SET k v", "*3\r\n$3\r\nSET\r\n$1"};
    for (size_t i = 0; i < sizeof(halves) / sizeof(halves[0]); i++) {
        int fd = conn();
        ck_assert_int_eq(send_all(fd, halves[i], strlen(halves[i])), 0);
        close(fd);
    }
    int fd = conn();
    EXCHANGE(fd, "EXISTS k\r\n", ":0\r\n");
    close(fd);
    stop();
}
END_TEST

START_TEST(huge_declared_bulk)
{
    /* 20 clients announce 512 MiB values and send 64 KiB: the server must
     * hold about what arrived, not what was announced (that would be 10 GiB). */
    start(NULL);
    long rss0 = proc_rss_kib(srv.pid);
    int fds[20];
    char chunk[64 * 1024];
    memset(chunk, 'x', sizeof(chunk));
    for (int i = 0; i < 20; i++) {
        fds[i] = conn();
        const char hdr[] = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870912\r\n";
        ck_assert_int_eq(send_all(fds[i], hdr, sizeof(hdr) - 1), 0);
        ck_assert_int_eq(send_all(fds[i], chunk, sizeof(chunk)), 0);
    }
    wait_input_bytes(20 * (long long)sizeof(chunk));
    long rss = proc_rss_kib(srv.pid);
    ck_assert_msg(rss - rss0 < 64 * 1024, "RSS grew from %ld to %ld KiB", rss0, rss);
    for (int i = 0; i < 20; i++)
        close(fds[i]);
    int fd = conn();
    EXCHANGE(fd, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870913\r\n",
             "-ERR Protocol error: invalid bulk length\r\n");
    close(fd);
    fd = conn();
    EXCHANGE(fd, "*1000000000\r\n", "-ERR Protocol error: invalid multibulk length\r\n");
    close(fd);
    still_alive();
    stop();
}
END_TEST

START_TEST(no_descriptor_leak)
{
    start(NULL);
    int base = proc_socket_count(srv.pid);
    ck_assert_int_gt(base, 0);
    int fds[100];
    for (int i = 0; i < 100; i++) {
        fds[i] = conn();
        EXCHANGE(fds[i], "PING\r\n", "+PONG\r\n");
    }
    ck_assert_int_ge(proc_socket_count(srv.pid), base + 100);
    for (int i = 0; i < 100; i++)
        close(fds[i]);
    long long end = now_ms() + 5000;
    while (proc_socket_count(srv.pid) != base && now_ms() < end)
        usleep(10000);
    ck_assert_int_eq(proc_socket_count(srv.pid), base);
    stop();
}
END_TEST

START_TEST(max_clients)
{
    const char *extra[] = {"--max-clients", "3", NULL};
    start(extra);
    int fds[3];
    for (int i = 0; i < 3; i++) {
        fds[i] = conn();
        EXCHANGE(fds[i], "PING\r\n", "+PONG\r\n");
    }
    int extra_fd = conn();
    char got[64];
    const char want[] = "-ERR max number of clients reached\r\n";
    ck_assert_uint_eq(recv_exact(extra_fd, got, sizeof(want) - 1, 5000), sizeof(want) - 1);
    ck_assert_str_eq(got, want);
    ck_assert(wait_closed(extra_fd, 5000));
    close(extra_fd);
    close(fds[0]);
    /* the freed slot becomes usable once the server has seen the close */
    bool ok = false;
    for (long long end = now_ms() + 5000; !ok && now_ms() < end;) {
        int fd = conn();
        ck_assert_int_eq(send_all(fd, "PING\r\n", 6), 0);
        ok = recv_exact(fd, got, 7, 5000) == 7 && strcmp(got, "+PONG\r\n") == 0;
        close(fd);
        if (!ok)
            usleep(10000);
    }
    ck_assert(ok);
    close(fds[1]);
    close(fds[2]);
    stop();
}
END_TEST

/* A client that never reads its replies stalls only itself. */
START_TEST(slow_reader)
{
    start(NULL);
    size_t vlen = 64 * 1024, count = 500;
    char *req = malloc(vlen + 64);
    ck_assert_ptr_nonnull(req);
    int h = sprintf(req, "*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%zu\r\n", vlen);
    memset(req + h, 'v', vlen);
    memcpy(req + h + vlen, "\r\n", 2);
    int hog = conn();
    exchange(hog, req, (size_t)h + vlen + 2, "+OK\r\n", 5);
    long rss0 = proc_rss_kib(srv.pid);
    for (size_t i = 0; i < count; i++)
        ck_assert_int_eq(send_all(hog, "GET big\r\n", 9), 0); /* 32 MiB of replies, unread */
    int other = conn();
    for (int i = 0; i < 100; i++)
        EXCHANGE(other, "PING\r\n", "+PONG\r\n");
    long rss = proc_rss_kib(srv.pid);
    ck_assert_msg(rss - rss0 < 16 * 1024, "RSS grew from %ld to %ld KiB", rss0, rss);
    /* now read it all: every reply intact */
    size_t one = (size_t)snprintf(req, 64, "$%zu\r\n", vlen) + vlen + 2, total = one * count;
    char *got = malloc(total + 1);
    ck_assert_ptr_nonnull(got);
    ck_assert_uint_eq(recv_exact(hog, got, total, 20000), total);
    for (size_t i = 0; i < count; i++)
        ck_assert(memcmp(got + i * one, "$65536\r\nvvvv", 12) == 0);
    free(got);
    free(req);
    close(hog);
    close(other);
    stop();
}
END_TEST

struct load_arg {
    uint16_t port;
    int id;
    int ok;
};

static void *load_client(void *p)
{
    struct load_arg *a = p;
    struct timeval tv = {.tv_sec = 10};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", a->port, tv);
    if (!c || c->err)
        goto out;
    redisSetTimeout(c, tv);
    /* 200 SETs pipelined, then 200 GETs one at a time */
    for (int i = 0; i < 200; i++)
        redisAppendCommand(c, "SET c%d:k%d v%d", a->id, i, i * a->id);
    for (int i = 0; i < 200; i++) {
        redisReply *r;
        if (redisGetReply(c, (void **)&r) != REDIS_OK)
            goto out;
        bool good = r->type == REDIS_REPLY_STATUS;
        freeReplyObject(r);
        if (!good)
            goto out;
    }
    for (int i = 0; i < 200; i++) {
        char want[32];
        snprintf(want, sizeof(want), "v%d", i * a->id);
        redisReply *r = redisCommand(c, "GET c%d:k%d", a->id, i);
        bool good = r && r->type == REDIS_REPLY_STRING && strcmp(r->str, want) == 0;
        freeReplyObject(r);
        if (!good)
            goto out;
    }
    a->ok = 1;
out:
    redisFree(c);
    return NULL;
}

START_TEST(many_clients)
{
    start(NULL);
    enum { N = 50 };
    pthread_t t[N];
    struct load_arg args[N];
    for (int i = 0; i < N; i++) {
        args[i] = (struct load_arg){.port = srv.port, .id = i};
        ck_assert_int_eq(pthread_create(&t[i], NULL, load_client, &args[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        ck_assert_msg(args[i].ok, "client %d failed", i);
    }
    int fd = conn();
    EXCHANGE(fd, "DBSIZE\r\n", ":10000\r\n");
    close(fd);
    stop();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("protocol");
    TCase *tc = tcase_create("wire");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, inline_commands);
    tcase_add_test(tc, pipelining_in_order);
    tcase_add_test(tc, pipelined_gets_in_order);
    tcase_add_test(tc, random_pipelines_match_a_model);
    tcase_add_test(tc, half_close_gets_replies);
    suite_add_tcase(s, tc);

    tc = tcase_create("hostile");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, protocol_errors_close);
    tcase_add_test(tc, line_limits);
    tcase_add_test(tc, max_bulk_option);
    tcase_add_test(tc, random_bytes);
    tcase_add_test(tc, half_command_then_close);
    tcase_add_test(tc, huge_declared_bulk);
    suite_add_tcase(s, tc);

    tc = tcase_create("resources");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, no_descriptor_leak);
    tcase_add_test(tc, max_clients);
    tcase_add_test(tc, slow_reader);
    tcase_add_test(tc, many_clients);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
