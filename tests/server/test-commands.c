/*
 * kvs-server's commands, through hiredis (an independent RESP implementation):
 * replies and Redis-compatible error texts.
 */
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct server_proc srv;
static redisContext *ctx;

static void setup(void)
{
    const char *dir = harness_tmpdir();
    ck_assert_ptr_nonnull(dir);
    srv = (struct server_proc){0};
    ck_assert_int_eq(server_start(&srv, dir, NULL), 0);
    struct timeval tv = {.tv_sec = 5};
    ctx = redisConnectWithTimeout("127.0.0.1", srv.port, tv);
    ck_assert(ctx && !ctx->err);
    redisSetTimeout(ctx, tv);
}

static void teardown(void)
{
    redisFree(ctx);
    ctx = NULL;
    ck_assert_int_eq(server_stop(&srv, SIGTERM, 10000), 0);
}

/* Send a command given as separate C strings (NULL-terminated list). */
static redisReply *run(const char *first, ...)
{
    const char *argv[64];
    size_t lens[64];
    int argc = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && argc < 64; a = va_arg(ap, const char *)) {
        argv[argc] = a;
        lens[argc++] = strlen(a);
    }
    va_end(ap);
    redisReply *r = redisCommandArgv(ctx, argc, argv, lens);
    ck_assert_msg(r != NULL, "no reply to %s: %s", first, ctx->errstr);
    return r;
}

static void expect_status(redisReply *r, const char *status)
{
    ck_assert_int_eq(r->type, REDIS_REPLY_STATUS);
    ck_assert_str_eq(r->str, status);
    freeReplyObject(r);
}

static void expect_error(redisReply *r, const char *error)
{
    ck_assert_msg(r->type == REDIS_REPLY_ERROR, "expected error '%s', got type %d", error, r->type);
    ck_assert_str_eq(r->str, error);
    freeReplyObject(r);
}

/* The error reply starts with prefix. */
static void expect_error_prefix(redisReply *r, const char *prefix)
{
    ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
    ck_assert_msg(strncmp(r->str, prefix, strlen(prefix)) == 0, "'%s' does not start with '%s'",
                  r->str, prefix);
    freeReplyObject(r);
}

static void expect_int(redisReply *r, long long v)
{
    ck_assert_msg(r->type == REDIS_REPLY_INTEGER, "expected :%lld, got type %d (%s)", v, r->type,
                  r->type == REDIS_REPLY_ERROR ? r->str : "");
    ck_assert_int_eq(r->integer, v);
    freeReplyObject(r);
}

static void expect_str(redisReply *r, const char *s)
{
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    ck_assert_str_eq(r->str, s);
    freeReplyObject(r);
}

static void expect_nil(redisReply *r)
{
    ck_assert_int_eq(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
}

START_TEST(ping_echo)
{
    expect_status(run("PING", NULL), "PONG");
    expect_str(run("ping", "hello", NULL), "hello");
    expect_error(run("PING", "a", "b", NULL), "ERR wrong number of arguments for 'ping' command");
    expect_str(run("ECHO", "x y", NULL), "x y");
    expect_error(run("ECHO", NULL), "ERR wrong number of arguments for 'echo' command");
}
END_TEST

START_TEST(set_get_binary)
{
    const char *argv[] = {"SET", "k\0ey", "v\r\n\0al"};
    size_t lens[] = {3, 4, 6};
    redisReply *r = redisCommandArgv(ctx, 3, argv, lens);
    expect_status(r, "OK");
    const char *get[] = {"GET", "k\0ey"};
    r = redisCommandArgv(ctx, 2, get, lens);
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    ck_assert_uint_eq(r->len, 6);
    ck_assert(memcmp(r->str, "v\r\n\0al", 6) == 0);
    freeReplyObject(r);
    expect_status(run("SET", "empty", "", NULL), "OK");
    expect_str(run("GET", "empty", NULL), "");
    expect_status(run("set", "k", "one", NULL), "OK");
    expect_status(run("SeT", "k", "two", NULL), "OK");
    expect_str(run("get", "k", NULL), "two");
    expect_nil(run("GET", "absent", NULL));
}
END_TEST

START_TEST(set_options)
{
    expect_status(run("SET", "k", "1", "NX", NULL), "OK");
    expect_nil(run("SET", "k", "2", "nx", NULL));
    expect_str(run("GET", "k", NULL), "1");
    expect_nil(run("SET", "other", "1", "XX", NULL));
    expect_nil(run("GET", "other", NULL));
    expect_status(run("SET", "k", "3", "XX", NULL), "OK");
    expect_str(run("GET", "k", NULL), "3");
    expect_error(run("SET", "k", "1", "NX", "XX", NULL), "ERR syntax error");
    expect_error(run("SET", "k", "1", "BOGUS", NULL), "ERR syntax error");
    expect_error(run("SET", "k", "1", "EX", NULL), "ERR syntax error");
    expect_error(run("SET", "k", "1", "EX", "10", "PX", "5", NULL), "ERR syntax error");
    expect_error(run("SET", "k", "1", "EX", "0", NULL), "ERR invalid expire time in 'set' command");
    expect_str(run("GET", "k", NULL), "3"); /* refused SETs wrote nothing */
    expect_status(run("SET", "k", "4", "KEEPTTL", NULL), "OK");
    expect_str(run("SET", "k", "5", "GET", NULL), "4");
    expect_status(run("SET", "k", "6", "EX", "100", NULL), "OK");
    expect_error(run("SET", "k", NULL), "ERR wrong number of arguments for 'set' command");
}
END_TEST

START_TEST(del_exists_mget_mset)
{
    expect_status(run("MSET", "a", "1", "b", "2", "c", "3", NULL), "OK");
    expect_int(run("EXISTS", "a", "b", "x", "a", NULL), 3);
    redisReply *r = run("MGET", "a", "x", "c", NULL);
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_uint_eq(r->elements, 3);
    ck_assert_str_eq(r->element[0]->str, "1");
    ck_assert_int_eq(r->element[1]->type, REDIS_REPLY_NIL);
    ck_assert_str_eq(r->element[2]->str, "3");
    freeReplyObject(r);
    expect_int(run("DEL", "a", "b", "x", "a", NULL), 2);
    expect_int(run("DEL", "a", NULL), 0);
    expect_int(run("EXISTS", "a", NULL), 0);
    expect_int(run("DBSIZE", NULL), 1);
    expect_error(run("MSET", "a", NULL), "ERR wrong number of arguments for 'mset' command");
    expect_error(run("MSET", "a", "1", "b", NULL), "ERR wrong number of arguments for 'mset' command");
    expect_int(run("EXISTS", "b", NULL), 0); /* the bad MSET wrote nothing */
    expect_error(run("DEL", NULL), "ERR wrong number of arguments for 'del' command");
    expect_error(run("MGET", NULL), "ERR wrong number of arguments for 'mget' command");
}
END_TEST

START_TEST(strlen_dbsize)
{
    expect_int(run("DBSIZE", NULL), 0);
    expect_status(run("SET", "k", "hello", NULL), "OK");
    expect_int(run("STRLEN", "k", NULL), 5);
    expect_int(run("STRLEN", "nothing", NULL), 0);
    for (int i = 0; i < 100; i++) {
        char key[16];
        snprintf(key, sizeof(key), "key:%d", i);
        expect_status(run("SET", key, "v", NULL), "OK");
    }
    expect_int(run("DBSIZE", NULL), 101);
    expect_error(run("DBSIZE", "x", NULL), "ERR wrong number of arguments for 'dbsize' command");
}
END_TEST

START_TEST(key_limits)
{
    expect_error(run("SET", "", "v", NULL), "ERR empty keys are not supported by kvs-server");
    expect_nil(run("GET", "", NULL));
    expect_int(run("EXISTS", "", NULL), 0);
    expect_int(run("DEL", "", NULL), 0);
    expect_error(run("MSET", "a", "1", "", "2", NULL), "ERR empty keys are not supported by kvs-server");
    expect_int(run("EXISTS", "a", NULL), 0);
    char *big = malloc(70000);
    ck_assert_ptr_nonnull(big);
    memset(big, 'k', 69999);
    big[69999] = '\0';
    expect_error_prefix(run("SET", big, "v", NULL), "ERR key too long");
    expect_nil(run("GET", big, NULL));
    free(big);
}
END_TEST

START_TEST(unknown_and_arity)
{
    expect_error(run("FOO", "a", "b", NULL),
                 "ERR unknown command 'FOO', with args beginning with: 'a' 'b' ");
    expect_error(run("nosuch", NULL), "ERR unknown command 'nosuch', with args beginning with: ");
    /* arguments are cut at 128 bytes in all, CR/LF become blanks */
    char big[300];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    redisReply *r = run("FOO", "a\r\nb", big, "more", NULL);
    ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
    ck_assert_ptr_nonnull(strstr(r->str, "'a  b' 'xxx"));
    ck_assert_ptr_null(strstr(r->str, "more"));
    ck_assert_uint_lt(strlen(r->str), 220);
    freeReplyObject(r);
    expect_error(run("GET", NULL), "ERR wrong number of arguments for 'get' command");
    expect_error(run("get", "a", "b", NULL), "ERR wrong number of arguments for 'get' command");
    expect_error(run("STRLEN", NULL), "ERR wrong number of arguments for 'strlen' command");
}
END_TEST

START_TEST(select_and_quit)
{
    expect_status(run("SELECT", "0", NULL), "OK");
    expect_error(run("SELECT", "1", NULL), "ERR DB index is out of range");
    expect_error(run("SELECT", "x", NULL), "ERR value is not an integer or out of range");
    expect_status(run("QUIT", NULL), "OK");
    redisReply *r = redisCommand(ctx, "PING");
    ck_assert_ptr_null(r); /* the server closed the connection */
}
END_TEST

START_TEST(client)
{
    redisReply *r = run("CLIENT", "ID", NULL);
    ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
    ck_assert_int_gt(r->integer, 0);
    freeReplyObject(r);
    expect_nil(run("CLIENT", "GETNAME", NULL));
    expect_status(run("CLIENT", "SETNAME", "worker-1", NULL), "OK");
    expect_str(run("client", "getname", NULL), "worker-1");
    expect_error(run("CLIENT", "SETNAME", "a b", NULL),
                 "ERR Client names cannot contain spaces, newlines or special characters.");
    r = run("CLIENT", "INFO", NULL);
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    ck_assert_ptr_nonnull(strstr(r->str, "name=worker-1"));
    ck_assert_ptr_nonnull(strstr(r->str, "addr=127.0.0.1:"));
    freeReplyObject(r);
    expect_status(run("CLIENT", "SETINFO", "LIB-NAME", "redis-py", NULL), "OK");
    expect_status(run("CLIENT", "SETINFO", "lib-ver", "5.0.1", NULL), "OK");
    r = run("CLIENT", "INFO", NULL);
    ck_assert_ptr_nonnull(strstr(r->str, " lib-name=redis-py lib-ver=5.0.1\n"));
    freeReplyObject(r);
    expect_error(run("CLIENT", "SETINFO", "lib-name", "a b", NULL),
                 "ERR lib-name cannot contain spaces, newlines or special characters.");
    expect_error(run("CLIENT", "SETINFO", "lib-ver", "1\n", NULL),
                 "ERR lib-ver cannot contain spaces, newlines or special characters.");
    expect_error(run("CLIENT", "SETINFO", "lib-color", "x", NULL), "ERR Unrecognized option 'lib-color'");
    expect_error(run("CLIENT", "SETINFO", "lib-name", NULL),
                 "ERR wrong number of arguments for 'client|setinfo' command");
    expect_status(run("CLIENT", "NO-EVICT", "on", NULL), "OK");
    expect_error(run("CLIENT", "SETNAME", NULL),
                 "ERR wrong number of arguments for 'client|setname' command");
    expect_error(run("CLIENT", "KILL", "x", NULL), "ERR unknown subcommand 'KILL'. Try CLIENT HELP.");
    expect_error(run("CLIENT", NULL), "ERR wrong number of arguments for 'client' command");
    r = run("CLIENT", "HELP", NULL);
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    freeReplyObject(r);
}
END_TEST

/* Flat [name, value, ...] reply of CONFIG GET contains name = value. */
static void expect_config(redisReply *r, size_t elements, const char *name, const char *value)
{
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_uint_eq(r->elements, elements);
    bool found = false;
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (strcmp(r->element[i]->str, name) == 0) {
            ck_assert_str_eq(r->element[i + 1]->str, value);
            found = true;
        }
    ck_assert_msg(found, "%s missing", name);
    freeReplyObject(r);
}

START_TEST(config)
{
    /* what redis-benchmark asks before it starts */
    expect_config(run("CONFIG", "GET", "save", NULL), 2, "save", "");
    expect_config(run("CONFIG", "GET", "appendonly", NULL), 2, "appendonly", "yes");
    expect_config(run("config", "get", "APPENDFSYNC", NULL), 2, "appendfsync", "everysec");
    expect_config(run("CONFIG", "GET", "maxclients", "max*", NULL), 4, "maxclients", "10000");
    redisReply *r = run("CONFIG", "GET", "*", NULL);
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_uint_ge(r->elements, 20);
    freeReplyObject(r);
    r = run("CONFIG", "GET", "nosuchparam", NULL);
    ck_assert_uint_eq(r->elements, 0);
    freeReplyObject(r);
    expect_error_prefix(run("CONFIG", "SET", "save", "", NULL), "ERR kvs-server settings are fixed");
    expect_error(run("CONFIG", "GET", NULL), "ERR wrong number of arguments for 'config|get' command");
    expect_error(run("CONFIG", NULL), "ERR wrong number of arguments for 'config' command");
    expect_error(run("CONFIG", "BLAH", NULL), "ERR unknown subcommand 'BLAH'. Try CONFIG HELP.");
}
END_TEST

START_TEST(command)
{
    redisReply *r = run("COMMAND", "COUNT", NULL);
    ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
    long long count = r->integer;
    ck_assert_int_ge(count, 18);
    freeReplyObject(r);
    r = run("COMMAND", NULL);
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_uint_eq(r->elements, (size_t)count);
    freeReplyObject(r);
    r = run("COMMAND", "DOCS", NULL);
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_uint_eq(r->elements, 0);
    freeReplyObject(r);
    r = run("COMMAND", "INFO", "get", "nosuch", NULL);
    ck_assert_uint_eq(r->elements, 2);
    redisReply *get = r->element[0];
    ck_assert_uint_eq(get->elements, 10);
    ck_assert_str_eq(get->element[0]->str, "get");
    ck_assert_int_eq(get->element[1]->integer, 2);
    ck_assert_str_eq(get->element[2]->element[0]->str, "readonly");
    ck_assert_int_eq(get->element[3]->integer, 1);
    ck_assert_int_eq(r->element[1]->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    r = run("COMMAND", "LIST", NULL);
    ck_assert_uint_eq(r->elements, (size_t)count);
    freeReplyObject(r);
    expect_error(run("COMMAND", "FOO", NULL), "ERR unknown subcommand 'FOO'. Try COMMAND HELP.");
}
END_TEST

START_TEST(info)
{
    expect_status(run("SET", "k", "v", NULL), "OK");
    redisReply *r = run("INFO", NULL);
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    const char *fields[] = {"# Server\r\n", "redis_version:7.0.0\r\n",
                            "kvs_server_version:" KVS_PROJECT_VERSION,
                            "process_id:", "tcp_port:", "# Clients\r\n", "connected_clients:1\r\n",
                            "# Persistence\r\n", "loading:0\r\n", "kvs_sync:interval",
                            "rdb_bgsave_in_progress:0\r\n", "rdb_last_bgsave_status:ok\r\n",
                            "rdb_last_save_time:", "kvs_backup_dir:\r\n",
                            "# Stats\r\n", "total_commands_processed:", "kvs_keys:1\r\n",
                            "kvs_sets:1\r\n", "kvs_syncs:", "# Keyspace\r\n",
                            "db0:keys=1,expires=0,avg_ttl=0\r\n"};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        ck_assert_msg(strstr(r->str, fields[i]), "INFO lacks '%s'", fields[i]);
    freeReplyObject(r);
    r = run("INFO", "keyspace", NULL);
    ck_assert_ptr_nonnull(strstr(r->str, "db0:keys=1"));
    ck_assert_ptr_null(strstr(r->str, "# Server"));
    freeReplyObject(r);
    r = run("INFO", "CLIENTS", "stats", NULL);
    ck_assert_ptr_nonnull(strstr(r->str, "# Clients"));
    ck_assert_ptr_nonnull(strstr(r->str, "# Stats"));
    ck_assert_ptr_null(strstr(r->str, "# Keyspace"));
    freeReplyObject(r);
    r = run("INFO", "nosuchsection", NULL);
    ck_assert_uint_eq(r->len, 0);
    freeReplyObject(r);
}
END_TEST

/* HELLO's RESP2 reply: field/value pairs in a flat array, as Redis 6+ with protover 2. */
static void expect_hello(redisReply *r, long long id)
{
    ck_assert_msg(r->type == REDIS_REPLY_ARRAY, "type %d %s", r->type,
                  r->type == REDIS_REPLY_ERROR ? r->str : "");
    ck_assert_uint_eq(r->elements, 14);
    static const char *const fields[] = {"server", "version", "proto", "id", "mode", "role",
                                         "modules"};
    for (size_t i = 0; i < 7; i++)
        ck_assert_str_eq(r->element[2 * i]->str, fields[i]);
    ck_assert_str_eq(r->element[1]->str, "redis");
    ck_assert_str_eq(r->element[3]->str, "7.0.0");
    ck_assert_int_eq(r->element[5]->integer, 2);
    ck_assert_int_eq(r->element[7]->integer, id);
    ck_assert_str_eq(r->element[9]->str, "standalone");
    ck_assert_str_eq(r->element[11]->str, "master");
    ck_assert_int_eq(r->element[13]->type, REDIS_REPLY_ARRAY);
    ck_assert_uint_eq(r->element[13]->elements, 0);
    freeReplyObject(r);
}

START_TEST(hello)
{
    redisReply *r = run("CLIENT", "ID", NULL);
    long long id = r->integer;
    freeReplyObject(r);
    expect_hello(run("HELLO", NULL), id);
    expect_hello(run("hello", "2", NULL), id);
    expect_hello(run("HELLO", "2", "SETNAME", "app", NULL), id);
    expect_str(run("CLIENT", "GETNAME", NULL), "app");
    /* no password configured: the default user takes any (Redis's nopass) */
    expect_hello(run("HELLO", "2", "AUTH", "default", "anything", NULL), id);
    expect_error(run("HELLO", "2", "AUTH", "bob", "x", NULL),
                 "WRONGPASS invalid username-password pair or user is disabled.");
    /* RESP3: Redis 5's reply, which clients take as "fall back to RESP2"; no password echoed */
    expect_error(run("HELLO", "3", NULL),
                 "ERR unknown command 'HELLO', with args beginning with: '3' ");
    expect_error(run("HELLO", "3", "SETNAME", "x", "AUTH", "default", "secret", NULL),
                 "ERR unknown command 'HELLO', with args beginning with: '3' 'SETNAME' 'x' ");
    expect_error(run("HELLO", "4", NULL), "NOPROTO unsupported protocol version");
    expect_error(run("HELLO", "1", NULL), "NOPROTO unsupported protocol version");
    expect_error(run("HELLO", "x", NULL), "ERR Protocol version is not an integer or out of range");
    expect_error(run("HELLO", "2", "foo", NULL), "ERR Syntax error in HELLO option 'foo'");
    expect_error(run("HELLO", "2", "AUTH", "a", NULL), "ERR Syntax error in HELLO option 'AUTH'");
    expect_error(run("HELLO", "2", "SETNAME", "a b", NULL),
                 "ERR Client names cannot contain spaces, newlines or special characters.");
    expect_str(run("CLIENT", "GETNAME", NULL), "app");
    expect_status(run("PING", NULL), "PONG"); /* still RESP2 */
}
END_TEST

START_TEST(auth_without_password)
{
    expect_error_prefix(run("AUTH", "x", NULL), "ERR AUTH <password> called without any password");
    expect_error(run("AUTH", "a", "b", "c", NULL), "ERR syntax error");
    /* the two-argument form: the default user is "nopass", as in Redis */
    expect_status(run("AUTH", "default", "anything", NULL), "OK");
    expect_error_prefix(run("AUTH", "someone", "x", NULL), "WRONGPASS");
    /* contradictory SHUTDOWN options are refused, and the server stays up */
    expect_error(run("SHUTDOWN", "SAVE", "NOSAVE", NULL), "ERR syntax error");
    expect_status(run("PING", NULL), "PONG");
}
END_TEST

START_TEST(large_values)
{
    /* 20 MiB, across many reads and writes; and one value per size class */
    size_t sizes[] = {1, 16383, 16384, 16385, 65536, 1 << 20, 20u << 20};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t n = sizes[i];
        char *v = malloc(n);
        ck_assert_ptr_nonnull(v);
        for (size_t j = 0; j < n; j++)
            v[j] = (char)(j * 31 + i);
        const char *argv[] = {"SET", "big", v};
        size_t lens[] = {3, 3, n};
        expect_status(redisCommandArgv(ctx, 3, argv, lens), "OK");
        redisReply *r = redisCommand(ctx, "GET big");
        ck_assert_ptr_nonnull(r);
        ck_assert_uint_eq(r->len, n);
        ck_assert(memcmp(r->str, v, n) == 0);
        freeReplyObject(r);
        expect_int(run("STRLEN", "big", NULL), (long long)n);
        free(v);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("commands");
    TCase *tc = tcase_create("commands");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, ping_echo);
    tcase_add_test(tc, set_get_binary);
    tcase_add_test(tc, set_options);
    tcase_add_test(tc, del_exists_mget_mset);
    tcase_add_test(tc, strlen_dbsize);
    tcase_add_test(tc, key_limits);
    tcase_add_test(tc, unknown_and_arity);
    tcase_add_test(tc, select_and_quit);
    tcase_add_test(tc, client);
    tcase_add_test(tc, config);
    tcase_add_test(tc, command);
    tcase_add_test(tc, info);
    tcase_add_test(tc, hello);
    tcase_add_test(tc, auth_without_password);
    tcase_add_test(tc, large_values);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
