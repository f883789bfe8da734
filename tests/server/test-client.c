/*
 * kvs-client: every output and exit status of API.md, usage errors, a server
 * that cannot be reached or never answers (bounded time), AUTH.
 */
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static struct server_proc srv;
static char addr[64];

static void setup(void)
{
    srv = (struct server_proc){0};
    ck_assert_int_eq(server_start(&srv, harness_tmpdir(), NULL), 0);
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", (unsigned)srv.port);
}

static void teardown(void)
{
    ck_assert_int_eq(server_stop(&srv, SIGTERM, 10000), 0);
}

/* Run kvs-client with the given arguments (NULL-terminated). */
static void client(struct run_result *r, const char *first, ...)
{
    const char *argv[16] = {harness_env("KVS_CLIENT")};
    int n = 1;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && n < 15; a = va_arg(ap, const char *))
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    ck_assert_int_eq(run_prog(argv, NULL, 0, 20000, r), 0);
}

/* Status, stdout and stderr exactly (NULL: anything for stderr). */
static void expect(struct run_result *r, int status, const char *out, const char *err)
{
    ck_assert_msg(r->status == status, "status %d, want %d; stderr: %s", r->status, status, r->err);
    ck_assert_str_eq(r->out, out);
    if (err)
        ck_assert_str_eq(r->err, err);
    run_result_free(r);
}

START_TEST(set_get_rm)
{
    struct run_result r;
    client(&r, "--addr", addr, "set", "key1", "value1", NULL);
    expect(&r, 0, "", "");
    client(&r, "--addr", addr, "get", "key1", NULL);
    expect(&r, 0, "value1\n", "");
    client(&r, "--addr", addr, "set", "key1", "value2", NULL);
    expect(&r, 0, "", "");
    client(&r, "--addr", addr, "get", "key1", NULL);
    expect(&r, 0, "value2\n", "");
    client(&r, "--addr", addr, "rm", "key1", NULL);
    expect(&r, 0, "", "");
    client(&r, "--addr", addr, "get", "key1", NULL);
    expect(&r, 0, "Key not found\n", "");
}
END_TEST

START_TEST(absent_key)
{
    struct run_result r;
    client(&r, "--addr", addr, "get", "nothing", NULL);
    expect(&r, 0, "Key not found\n", "");
    client(&r, "--addr", addr, "rm", "nothing", NULL);
    expect(&r, 1, "", "Key not found\n");
}
END_TEST

START_TEST(arguments_anywhere)
{
    struct run_result r;
    client(&r, "set", "k", "-1", "--addr", addr, NULL); /* a value that looks like an option */
    expect(&r, 0, "", "");
    client(&r, "get", "k", "--addr=", NULL);
    ck_assert_int_eq(r.status, 2); /* "--addr=" is an empty address */
    run_result_free(&r);
    char eq[80];
    snprintf(eq, sizeof(eq), "--addr=%s", addr);
    client(&r, "get", eq, "k", NULL);
    expect(&r, 0, "-1\n", "");
    client(&r, eq, "set", "--", "--weird", NULL); /* after --, words are words */
    ck_assert_int_eq(r.status, 2);                  /* set takes KEY VALUE: 2 words */
    run_result_free(&r);
    client(&r, eq, "--", "set", "--weird", "v w", NULL);
    expect(&r, 0, "", "");
    client(&r, eq, "--", "get", "--weird", NULL);
    expect(&r, 0, "v w\n", "");
    client(&r, eq, "set", "empty", "", NULL);
    expect(&r, 0, "", "");
    client(&r, eq, "get", "empty", NULL);
    expect(&r, 0, "\n", "");
}
END_TEST

START_TEST(usage_errors)
{
    const char *const cases[][5] = {
        {NULL},
        {"frobnicate", "k", NULL},
        {"get", NULL},
        {"get", "a", "b", NULL},
        {"set", "k", NULL},
        {"rm", NULL},
        {"--addr", "localhost", "get", "k", NULL},
        {"--addr", "127.0.0.1:0", "get", "k", NULL},
        {"--timeout", "0", "get", "k", NULL},
        {"--bogus", "get", "k", NULL},
        {"get", "k", "--addr", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct run_result r;
        const char *argv[8] = {harness_env("KVS_CLIENT")};
        for (int j = 0; cases[i][j]; j++)
            argv[j + 1] = cases[i][j];
        ck_assert_int_eq(run_prog(argv, NULL, 0, 10000, &r), 0);
        ck_assert_msg(r.status == 2, "case %zu: status %d", i, r.status);
        ck_assert_str_eq(r.out, "");
        ck_assert_uint_gt(r.err_len, 0);
        run_result_free(&r);
    }
}
END_TEST

START_TEST(version_and_help)
{
    struct run_result r;
    client(&r, "-V", NULL);
    expect(&r, 0, "kvs-client " KVS_PROJECT_VERSION "\n", "");
    client(&r, "--version", NULL);
    expect(&r, 0, "kvs-client " KVS_PROJECT_VERSION "\n", "");
    client(&r, "-h", NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "Usage: kvs-client"));
    ck_assert_str_eq(r.err, "");
    run_result_free(&r);
}
END_TEST

START_TEST(unreachable_server)
{
    char there[64];
    snprintf(there, sizeof(there), "127.0.0.1:%u", (unsigned)free_port()); /* nothing listens */
    struct run_result r;
    client(&r, "--addr", there, "get", "k", NULL);
    ck_assert_int_eq(r.status, 1);
    ck_assert_str_eq(r.out, "");
    ck_assert_ptr_nonnull(strstr(r.err, "cannot connect"));
    ck_assert_int_lt(r.elapsed_ms, 6000);
    run_result_free(&r);
}
END_TEST

START_TEST(silent_server)
{
    /* A socket that accepts connections (backlog) but never answers. */
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    ck_assert_int_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(l, 8), 0);
    getsockname(l, (struct sockaddr *)&a, &len);
    char there[64];
    snprintf(there, sizeof(there), "127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
    struct run_result r;
    client(&r, "--timeout", "1", "--addr", there, "get", "k", NULL);
    ck_assert_int_eq(r.status, 1);
    ck_assert_str_eq(r.out, "");
    ck_assert_msg(strstr(r.err, "timed out"), "stderr: %s", r.err);
    ck_assert_int_lt(r.elapsed_ms, 5000);
    run_result_free(&r);
    close(l);
}
END_TEST

START_TEST(server_error_reply)
{
    struct run_result r;
    char key[70000];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    client(&r, "--addr", addr, "set", key, "v", NULL); /* over kvs-server's key limit */
    ck_assert_int_eq(r.status, 1);
    ck_assert_str_eq(r.out, "");
    ck_assert_ptr_nonnull(strstr(r.err, "server error: ERR key too long"));
    run_result_free(&r);
}
END_TEST

START_TEST(password)
{
    struct server_proc s = {0};
    const char *extra[] = {"--requirepass", "pw", NULL};
    ck_assert_int_eq(server_start(&s, harness_tmpdir(), extra), 0);
    char there[64];
    snprintf(there, sizeof(there), "127.0.0.1:%u", (unsigned)s.port);
    struct run_result r;
    unsetenv("KVS_PASSWORD");
    client(&r, "--addr", there, "set", "k", "v", NULL);
    ck_assert_int_eq(r.status, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "NOAUTH"));
    run_result_free(&r);
    setenv("KVS_PASSWORD", "wrong", 1);
    client(&r, "--addr", there, "set", "k", "v", NULL);
    ck_assert_int_eq(r.status, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "WRONGPASS"));
    run_result_free(&r);
    setenv("KVS_PASSWORD", "pw", 1);
    client(&r, "--addr", there, "set", "k", "v", NULL);
    expect(&r, 0, "", "");
    client(&r, "--addr", there, "get", "k", NULL);
    expect(&r, 0, "v\n", "");
    unsetenv("KVS_PASSWORD");
    ck_assert_int_eq(server_stop(&s, SIGTERM, 10000), 0);
}
END_TEST

START_TEST(persistence_via_client)
{
    struct run_result r;
    client(&r, "--addr", addr, "set", "durable", "yes", NULL);
    expect(&r, 0, "", "");
    ck_assert_int_eq(server_stop(&srv, SIGTERM, 10000), 0);
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", srv.dir);
    srv = (struct server_proc){0};
    ck_assert_int_eq(server_start(&srv, dir, NULL), 0);
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", (unsigned)srv.port);
    client(&r, "--addr", addr, "get", "durable", NULL);
    expect(&r, 0, "yes\n", "");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("client");
    TCase *tc = tcase_create("client");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, set_get_rm);
    tcase_add_test(tc, absent_key);
    tcase_add_test(tc, arguments_anywhere);
    tcase_add_test(tc, usage_errors);
    tcase_add_test(tc, version_and_help);
    tcase_add_test(tc, unreachable_server);
    tcase_add_test(tc, silent_server);
    tcase_add_test(tc, server_error_reply);
    tcase_add_test(tc, password);
    tcase_add_test(tc, persistence_via_client);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
