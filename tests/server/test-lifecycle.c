/*
 * kvs-server as a process: command line, start-up banner, the loopback-only
 * rule, AUTH, persistence across restarts (SIGTERM, SHUTDOWN, kill -9),
 * acknowledged writes surviving shutdown in every sync mode, group commit.
 */
#include <hiredis/hiredis.h>
#include <limits.h>
#include <stdarg.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static redisContext *hconnect(uint16_t port)
{
    struct timeval tv = {.tv_sec = 5};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    ck_assert_msg(c && !c->err, "connect: %s", c ? c->errstr : "?");
    redisSetTimeout(c, tv);
    return c;
}

static redisReply *hcmd(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    ck_assert_msg(r != NULL, "%s: %s", fmt, c->errstr);
    return r;
}

/* Run kvs-server with args (a NULL-terminated list after the binary). */
static void run_server(const char *const *args, int timeout_ms, struct run_result *res)
{
    const char *argv[32] = {harness_env("KVS_SERVER")};
    int n = 1;
    for (; args[n - 1] && n < 31; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    ck_assert_int_eq(run_prog(argv, NULL, 0, timeout_ms, res), 0);
}

START_TEST(version_and_help)
{
    struct run_result r;
    run_server((const char *[]){"-V", NULL}, 5000, &r);
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "kvs-server " KVS_PROJECT_VERSION " (libkvs " KVS_PROJECT_VERSION ")\n");
    run_result_free(&r);
    run_server((const char *[]){"--help", NULL}, 5000, &r);
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "Usage: kvs-server"));
    ck_assert_ptr_nonnull(strstr(r.out, "--requirepass"));
    run_result_free(&r);
}
END_TEST

START_TEST(usage_errors)
{
    const char *const bad[][4] = {
        {"--bogus", NULL},           {"--sync", "sometimes", NULL},
        {"--threads", "0", NULL},    {"--threads", "x", NULL},
        {"--max-bulk", "12q", NULL}, {"--log-level", "loud", NULL},
        {"--addr", "nonsense", NULL}, {"127.0.0.1:1", "127.0.0.1:2", NULL},
        {"--requirepass", "", NULL}, {"--max-clients", "0", NULL},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct run_result r;
        run_server(bad[i], 5000, &r);
        ck_assert_msg(r.status == 2, "%s %s: status %d", bad[i][0], bad[i][1], r.status);
        ck_assert_uint_gt(r.err_len, 0);
        run_result_free(&r);
    }
}
END_TEST

START_TEST(banner)
{
    const char *dir = harness_tmpdir();
    struct server_proc s = {0};
    ck_assert_int_eq(server_start(&s, dir, NULL), 0);
    char *log = server_log(&s), real[PATH_MAX], want[PATH_MAX + 64];
    ck_assert_ptr_nonnull(realpath(dir, real));
    ck_assert_ptr_nonnull(strstr(log, "kvs-server " KVS_PROJECT_VERSION));
    snprintf(want, sizeof(want), "data directory: %s\n", real);
    ck_assert_msg(strstr(log, want), "no '%s' in:\n%s", want, log);
    snprintf(want, sizeof(want), "listening on 127.0.0.1:%u\n", (unsigned)s.port);
    ck_assert_msg(strstr(log, want), "no '%s' in:\n%s", want, log);
    free(log);
    ck_assert_int_eq(server_stop(&s, SIGINT, 10000), 0);
}
END_TEST

START_TEST(positional_address)
{
    struct server_proc s = {0};
    char addr[32];
    uint16_t port = free_port();
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", (unsigned)port);
    const char *extra[] = {addr, "--threads", "1", NULL};
    ck_assert_int_eq(server_start(&s, harness_tmpdir(), extra), 0);
    ck_assert_uint_eq(s.port, port);
    redisContext *c = hconnect(s.port);
    redisReply *r = hcmd(c, "INFO server");
    ck_assert_ptr_nonnull(strstr(r->str, "worker_threads:1\r\n"));
    freeReplyObject(r);
    redisFree(c);
    ck_assert_int_eq(server_stop(&s, SIGTERM, 10000), 0);
}
END_TEST

START_TEST(loopback_only_without_password)
{
    const char *addrs[] = {"0.0.0.0:0", "[::]:0", "10.1.2.3:4000"};
    for (size_t i = 0; i < 3; i++) {
        struct run_result r;
        run_server((const char *[]){"--addr", addrs[i], "--dir", harness_tmpdir(), NULL}, 5000, &r);
        ck_assert_int_eq(r.status, 1);
        ck_assert_msg(strstr(r.err, "refusing to listen") && strstr(r.err, "--requirepass"),
                      "stderr: %s", r.err);
        run_result_free(&r);
    }
    /* allowed when asked for explicitly, or with a password */
    const char *unsafe[] = {"--addr", "0.0.0.0:0", "--unsafe-no-auth", NULL};
    const char *pass[] = {"--addr", "0.0.0.0:0", "--requirepass", "pw", NULL};
    const char *const *extras[] = {unsafe, pass};
    for (size_t i = 0; i < 2; i++) {
        struct server_proc s = {0};
        ck_assert_int_eq(server_start(&s, harness_tmpdir(), extras[i]), 0);
        int fd = tcp_connect(s.port);
        ck_assert_int_ge(fd, 0);
        close(fd);
        ck_assert_int_eq(server_stop(&s, SIGTERM, 10000), 0);
    }
}
END_TEST

static void exchange(int fd, const char *req, const char *want)
{
    char got[256];
    ck_assert_int_eq(send_all(fd, req, strlen(req)), 0);
    size_t n = recv_exact(fd, got, strlen(want), 5000);
    ck_assert_msg(n == strlen(want) && memcmp(got, want, n) == 0, "sent %s: want '%s' got '%s'",
                  req, want, got);
}

START_TEST(auth_required)
{
    struct server_proc s = {0};
    const char *extra[] = {"--requirepass", "s3cret", NULL};
    ck_assert_int_eq(server_start(&s, harness_tmpdir(), extra), 0);
    int fd = tcp_connect(s.port);
    exchange(fd, "PING\r\n", "-NOAUTH Authentication required.\r\n");
    exchange(fd, "GET k\r\n", "-NOAUTH Authentication required.\r\n");
    exchange(fd, "SHUTDOWN\r\n", "-NOAUTH Authentication required.\r\n");
    exchange(fd, "NOPE\r\n", "-ERR unknown command 'NOPE', with args beginning with: \r\n");
    exchange(fd, "AUTH wrong\r\n", "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
    exchange(fd, "AUTH s3cre\r\n", "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
    exchange(fd, "AUTH s3cret\r\n", "+OK\r\n");
    exchange(fd, "PING\r\n", "+PONG\r\n");
    close(fd);

    fd = tcp_connect(s.port);
    exchange(fd, "AUTH nobody s3cret\r\n", "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
    exchange(fd, "AUTH default s3cret\r\n", "+OK\r\n");
    exchange(fd, "SET k v\r\n", "+OK\r\n");
    close(fd);

    /* HELLO: needs AUTH first or its AUTH option; HELLO 3 is unknown, as in Redis 5 */
    fd = tcp_connect(s.port);
    exchange(fd, "HELLO\r\n",
             "-NOAUTH HELLO must be called with the client already authenticated, otherwise the "
             "HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and "
             "select the RESP protocol version at the same time\r\n");
    exchange(fd, "HELLO 3 AUTH default s3cret\r\n",
             "-ERR unknown command 'HELLO', with args beginning with: '3' \r\n");
    exchange(fd, "HELLO 2 AUTH default wrong\r\n",
             "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
    exchange(fd, "HELLO 2 AUTH nobody s3cret\r\n",
             "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
    exchange(fd, "GET k\r\n", "-NOAUTH Authentication required.\r\n");
    exchange(fd, "HELLO 2 AUTH default s3cret SETNAME app\r\n",
             "*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.0.0\r\n"
             "$5\r\nproto\r\n:2\r\n$2\r\nid\r\n:");
    /* the id (a number and CRLF), then mode, role, modules */
    const char *tail = "$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
                       "$7\r\nmodules\r\n*0\r\n";
    char rest[128];
    size_t n = 0;
    while (n < 24 && recv_exact(fd, rest + n, 1, 5000) == 1 && rest[n] != '\n')
        n++;
    ck_assert_msg(n >= 2 && rest[n - 1] == '\r', "HELLO id line");
    n = recv_exact(fd, rest, strlen(tail), 5000);
    ck_assert_msg(n == strlen(tail) && strcmp(rest, tail) == 0, "got '%s'", rest);
    exchange(fd, "GET k\r\n", "$1\r\nv\r\n");
    exchange(fd, "CLIENT GETNAME\r\n", "$3\r\napp\r\n");
    /* authenticated by HELLO: the full request limits apply */
    char *echo = malloc(20100);
    ck_assert_ptr_nonnull(echo);
    int len = snprintf(echo, 64, "*2\r\n$4\r\nECHO\r\n$20000\r\n");
    memset(echo + len, 'e', 20000);
    memcpy(echo + len + 20000, "\r\n", 2);
    ck_assert_int_eq(send_all(fd, echo, (size_t)len + 20002), 0);
    n = recv_exact(fd, rest, 8, 5000);
    ck_assert_msg(n == 8 && memcmp(rest, "$20000\r\n", 8) == 0, "got '%s'", rest);
    free(echo);
    close(fd);

    /* before AUTH only small requests are accepted (as Redis) */
    fd = tcp_connect(s.port);
    exchange(fd, "*20\r\n", "-ERR Protocol error: unauthenticated multibulk length\r\n");
    ck_assert(wait_closed(fd, 5000));
    close(fd);
    fd = tcp_connect(s.port);
    exchange(fd, "*2\r\n$4\r\nECHO\r\n$20000\r\n", "-ERR Protocol error: unauthenticated bulk length\r\n");
    close(fd);
    fd = tcp_connect(s.port);
    exchange(fd, "QUIT\r\n", "+OK\r\n");
    ck_assert(wait_closed(fd, 5000));
    close(fd);
    ck_assert_int_eq(server_stop(&s, SIGTERM, 10000), 0);
}
END_TEST

static void set_keys(uint16_t port, int n, const char *prefix)
{
    redisContext *c = hconnect(port);
    for (int i = 0; i < n; i++)
        redisAppendCommand(c, "SET %s%d value-%d", prefix, i, i);
    for (int i = 0; i < n; i++) {
        redisReply *r;
        ck_assert_int_eq(redisGetReply(c, (void **)&r), REDIS_OK);
        ck_assert_int_eq(r->type, REDIS_REPLY_STATUS);
        freeReplyObject(r);
    }
    redisFree(c);
}

static void check_keys(uint16_t port, int n, const char *prefix)
{
    redisContext *c = hconnect(port);
    for (int i = 0; i < n; i++)
        redisAppendCommand(c, "GET %s%d", prefix, i);
    for (int i = 0; i < n; i++) {
        redisReply *r;
        char want[32];
        snprintf(want, sizeof(want), "value-%d", i);
        ck_assert_int_eq(redisGetReply(c, (void **)&r), REDIS_OK);
        ck_assert_msg(r->type == REDIS_REPLY_STRING && strcmp(r->str, want) == 0,
                      "%s%d lost", prefix, i);
        freeReplyObject(r);
    }
    redisFree(c);
}

START_TEST(restart_keeps_data)
{
    const char *dir = harness_tmpdir();
    struct server_proc s = {0};
    ck_assert_int_eq(server_start(&s, dir, NULL), 0);
    set_keys(s.port, 1000, "k");
    ck_assert_int_eq(server_stop(&s, SIGTERM, 10000), 0);
    s = (struct server_proc){0};
    ck_assert_int_eq(server_start(&s, dir, NULL), 0);
    check_keys(s.port, 1000, "k");
    redisContext *c = hconnect(s.port);
    redisReply *r = hcmd(c, "DBSIZE");
    ck_assert_int_eq(r->integer, 1000);
    freeReplyObject(r);
    redisFree(c);
    ck_assert_int_eq(server_stop(&s, SIGTERM, 10000), 0);
}
END_TEST

START_TEST(kill9_restart_same_port)
{
    const char *dir = harness_tmpdir();
    struct server_proc s = {0};
    ck_assert_int_eq(server_start(&s, dir, NULL), 0);
    uint16_t port = s.port;
    set_keys(port, 500, "k");
    /* leave a connection open so the port has live TCP state when it dies */
    redisContext *c = hconnect(port);
    ck_assert_int_eq(server_stop(&s, SIGKILL, 10000), 128 + SIGKILL);
    s = (struct server_proc){.port = port};
    ck_assert_int_eq(server_start(&s, dir, NULL), 0);
    ck_assert_uint_eq(s.port, port);
    check_keys(port, 500, "k");
    redisFree(c);
    ck_assert_int_eq(server_stop(&s, SIGTERM, 10000), 0);
}
END_TEST

START_TEST(shutdown_command)
{
    const char *dir = harness_tmpdir();
    struct server_proc s = {0};
    ck_assert_int_eq(server_start(&s, dir, NULL), 0);
    set_keys(s.port, 100, "k");
    redisContext *c = hconnect(s.port);
    redisReply *r = hcmd(c, "SHUTDOWN ABORT");
    ck_assert_str_eq(r->str, "ERR No shutdown in progress.");
    freeReplyObject(r);
    r = hcmd(c, "SHUTDOWN BOGUS");
    ck_assert_str_eq(r->str, "ERR syntax error");
    freeReplyObject(r);
    r = redisCommand(c, "SHUTDOWN NOSAVE");
    ck_assert_ptr_null(r); /* no reply: the connection closes */
    redisFree(c);
    ck_assert_int_eq(server_wait(&s, 10000), 0); /* it exits by itself, status 0 */
    s = (struct server_proc){0};
    ck_assert_int_eq(server_start(&s, dir, NULL), 0);
    check_keys(s.port, 100, "k");
    ck_assert_int_eq(server_stop(&s, SIGTERM, 10000), 0);
}
END_TEST

/* Flip one byte in the middle of the newest segment's records and drop the hint files,
 * so that open must read, and notice, the damage. */
static void damage_store(const char *dir)
{
    char cmd[1200];
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && rm -f *.hint INDEX && f=$(ls *.log | tail -n 1) && "
             "printf '\\377' | dd of=\"$f\" bs=1 seek=2000 conv=notrunc 2>/dev/null",
             dir);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(damaged_store_needs_repair)
{
    const char *dir = harness_tmpdir();
    struct server_proc s = {0};
    ck_assert_int_eq(server_start(&s, dir, NULL), 0);
    set_keys(s.port, 200, "k");
    ck_assert_int_eq(server_stop(&s, SIGTERM, 10000), 0);
    damage_store(dir);
    struct run_result r;
    run_server((const char *[]){"--addr", "127.0.0.1:0", "--dir", dir, NULL}, 10000, &r);
    ck_assert_int_eq(r.status, 1);
    ck_assert_msg(strstr(r.err, "corrupt") && strstr(r.err, "--repair"), "stderr: %s", r.err);
    run_result_free(&r);
    s = (struct server_proc){0};
    ck_assert_int_eq(server_start(&s, dir, (const char *[]){"--repair", NULL}), 0);
    redisContext *c = hconnect(s.port);
    redisReply *rep = hcmd(c, "DBSIZE");
    ck_assert_int_eq(rep->integer, 199); /* one record lost, reported in the log */
    freeReplyObject(rep);
    redisFree(c);
    ck_assert_int_eq(server_stop(&s, SIGTERM, 10000), 0);
    char *log = server_log(&s);
    ck_assert_msg(strstr(log, "damaged"), "log: %s", log);
    free(log);
}
END_TEST

START_TEST(directory_in_use)
{
    const char *dir = harness_tmpdir();
    struct server_proc s = {0};
    ck_assert_int_eq(server_start(&s, dir, NULL), 0);
    struct run_result r;
    run_server((const char *[]){"--addr", "127.0.0.1:0", "--dir", dir, NULL}, 10000, &r);
    ck_assert_int_eq(r.status, 1);
    ck_assert_msg(strstr(r.err, "another kvs-server"), "stderr: %s", r.err);
    run_result_free(&r);
    /* and its address is taken: another directory on the same port fails too */
    char addr[32];
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", (unsigned)s.port);
    run_server((const char *[]){"--addr", addr, "--dir", harness_tmpdir(), NULL}, 10000, &r);
    ck_assert_int_eq(r.status, 1);
    ck_assert_msg(strstr(r.err, "cannot listen on") && strstr(r.err, "in use"), "stderr: %s", r.err);
    run_result_free(&r);
    ck_assert_int_eq(server_stop(&s, SIGTERM, 10000), 0);
    ck_assert_int_ne(access(s.port_file, F_OK), 0); /* a clean exit removes the port file */
}
END_TEST

/*
 * A writer (child process) sets keys one by one and reports each
 * acknowledged index on a pipe; the server gets SIGTERM in the middle.
 * After a restart every acknowledged key must be there.
 */
static void writer(uint16_t port, int out_fd)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    struct timeval tv = {.tv_sec = 5};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (!c || c->err)
        _exit(1);
    redisSetTimeout(c, tv);
    for (int i = 0; i < 1000000; i++) {
        redisReply *r = redisCommand(c, "SET k%d value-%d", i, i);
        if (!r || r->type != REDIS_REPLY_STATUS)
            _exit(0);
        freeReplyObject(r);
        if (write(out_fd, &i, sizeof(i)) != (ssize_t)sizeof(i))
            _exit(1);
    }
    _exit(0);
}

/*
 * Read acknowledged indices (they come in order) until *acked reaches
 * at_least (0: until EOF), or the deadline passes.
 */
static void read_acks(int fd, int *acked, int at_least, long long deadline)
{
    int v;
    while (now_ms() < deadline && (at_least == 0 || *acked < at_least)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        if (read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
            return; /* EOF: the writer is done */
        ck_assert_int_eq(v, *acked);
        (*acked)++;
    }
}

static void acknowledged_survive(const char *sync)
{
    const char *dir = harness_tmpdir();
    const char *extra[] = {"--sync", sync, NULL};
    struct server_proc s = {0};
    ck_assert_int_eq(server_start(&s, dir, extra), 0);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t child = fork();
    if (child == 0) {
        close(p[0]);
        writer(s.port, p[1]);
    }
    close(p[1]);
    int acked = 0;
    read_acks(p[0], &acked, 300, now_ms() + 20000);
    ck_assert_int_ge(acked, 300);
    ck_assert_int_eq(server_stop(&s, SIGTERM, 10000), 0);
    read_acks(p[0], &acked, 0, now_ms() + 10000); /* the rest, until the writer stops */
    close(p[0]);
    int st;
    ck_assert_int_eq(waitpid(child, &st, 0), child);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    s = (struct server_proc){0};
    ck_assert_int_eq(server_start(&s, dir, NULL), 0);
    check_keys(s.port, acked, "k");
    ck_assert_int_eq(server_stop(&s, SIGTERM, 10000), 0);
}

START_TEST(acknowledged_writes_survive_sigterm)
{
    static const char *const modes[] = {"none", "interval", "always"};
    acknowledged_survive(modes[_i]);
}
END_TEST

START_TEST(group_commit)
{
    /* --sync always: a pipeline of writes shares fdatasyncs instead of one each */
    const char *dir = harness_tmpdir();
    const char *extra[] = {"--sync", "always", NULL};
    struct server_proc s = {0};
    ck_assert_int_eq(server_start(&s, dir, extra), 0);
    set_keys(s.port, 500, "k");
    redisContext *c = hconnect(s.port);
    redisReply *r = hcmd(c, "INFO stats");
    char *sets = strstr(r->str, "kvs_sets:"), *syncs = strstr(r->str, "kvs_syncs:");
    ck_assert(sets && syncs);
    ck_assert_int_eq(atoll(sets + 9), 500);
    ck_assert_msg(atoll(syncs + 10) < 100, "%lld syncs for 500 writes", atoll(syncs + 10));
    freeReplyObject(r);
    r = hcmd(c, "CONFIG GET appendfsync");
    ck_assert_str_eq(r->element[1]->str, "always");
    freeReplyObject(r);
    redisFree(c);
    ck_assert_int_eq(server_stop(&s, SIGKILL, 10000), 128 + SIGKILL);
    s = (struct server_proc){0};
    ck_assert_int_eq(server_start(&s, dir, NULL), 0);
    check_keys(s.port, 500, "k");
    ck_assert_int_eq(server_stop(&s, SIGTERM, 10000), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lifecycle");
    TCase *tc = tcase_create("command line");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, version_and_help);
    tcase_add_test(tc, usage_errors);
    tcase_add_test(tc, banner);
    tcase_add_test(tc, positional_address);
    tcase_add_test(tc, directory_in_use);
    tcase_add_test(tc, damaged_store_needs_repair);
    suite_add_tcase(s, tc);

    tc = tcase_create("security");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, loopback_only_without_password);
    tcase_add_test(tc, auth_required);
    suite_add_tcase(s, tc);

    tc = tcase_create("durability");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, restart_keeps_data);
    tcase_add_test(tc, kill9_restart_same_port);
    tcase_add_test(tc, shutdown_command);
    tcase_add_loop_test(tc, acknowledged_writes_survive_sigterm, 0, 3);
    tcase_add_test(tc, group_commit);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
