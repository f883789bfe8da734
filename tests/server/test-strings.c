/*
 * kvs-server's string commands through hiredis: SET with every option,
 * SETNX, SETEX, PSETEX, GETSET, GETDEL, GETEX, APPEND, INCR, DECR, INCRBY,
 * DECRBY, INCRBYFLOAT, MSET, MSETNX; their replies and Redis 7.0's error
 * texts, and what they leave in the store. Times here are far off (hours);
 * test-expire.c lets keys really expire.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect.h"
#include "harness.h"

static struct server_proc srv;
static redisContext *ctx;

static void start(const char *const *extra)
{
    srv = (struct server_proc){0};
    ck_assert_int_eq(server_start(&srv, harness_tmpdir(), extra), 0);
    ctx = ex_connect(srv.port);
}

static void setup(void)
{
    start(NULL);
}

static void teardown(void)
{
    redisFree(ctx);
    ctx = NULL;
    ck_assert_int_eq(server_stop(&srv, SIGTERM, 10000), 0);
}

#define CMD(...) ex_cmd(ctx, __VA_ARGS__, NULL)

static const char *const BAD_EXPIRE[] = {"0", "-1", "9223372036854775807"};

START_TEST(set_expiry)
{
    ex_status(CMD("SET", "k", "v", "EX", "3600"), "OK");
    ex_int_in(CMD("TTL", "k"), 3540, 3600);
    ex_status(CMD("SET", "k", "v", "px", "3600000"), "OK");
    ex_int_in(CMD("PTTL", "k"), 3540000, 3600000);
    char at[32];
    long long now_s = ex_unix_ms() / 1000;
    snprintf(at, sizeof(at), "%lld", now_s + 7200);
    ex_status(CMD("SET", "k", "v", "EXAT", at), "OK");
    ex_int(CMD("EXPIRETIME", "k"), now_s + 7200);
    snprintf(at, sizeof(at), "%lld", now_s * 1000 + 7200123);
    ex_status(CMD("SET", "k", "v", "PXAT", at), "OK");
    ex_int(CMD("PEXPIRETIME", "k"), now_s * 1000 + 7200123);
    ex_status(CMD("SET", "k", "v", "EX", "10", "EX", "3600"), "OK"); /* repeated: the last wins */
    ex_int_in(CMD("TTL", "k"), 3540, 3600);
    ex_status(CMD("SET", "k", "v2"), "OK"); /* a plain SET clears the expiry */
    ex_int(CMD("TTL", "k"), -1);
    ex_status(CMD("SET", "k", "v3", "PXAT", "1"), "OK"); /* already past: written, gone */
    ex_nil(CMD("GET", "k"));
    ex_int(CMD("EXISTS", "k"), 0);
    ex_int(CMD("TTL", "k"), -2);
    for (size_t i = 0; i < sizeof(BAD_EXPIRE) / sizeof(BAD_EXPIRE[0]); i++) {
        ex_error(CMD("SET", "k", "v", "EX", BAD_EXPIRE[i]), "ERR invalid expire time in 'set' command");
        ex_error(CMD("SET", "k", "v", "EXAT", i == 2 ? "9223372036854776" : BAD_EXPIRE[i]),
                 "ERR invalid expire time in 'set' command");
    }
    ex_error(CMD("SET", "k", "v", "PX", "0"), "ERR invalid expire time in 'set' command");
    ex_error(CMD("SET", "k", "v", "PX", "9223372036854775807"), "ERR invalid expire time in 'set' command");
    ex_status(CMD("SET", "k", "v", "PXAT", "9223372036854775807"), "OK");
    ex_int(CMD("PEXPIRETIME", "k"), 9223372036854775807LL);
    ex_error(CMD("SET", "k", "v", "EX", "ten"), "ERR value is not an integer or out of range");
    ex_error(CMD("SET", "k", "v", "EX", " 10"), "ERR value is not an integer or out of range");
    ex_int(CMD("PEXPIRETIME", "k"), 9223372036854775807LL); /* refused SETs changed nothing */
}
END_TEST

START_TEST(set_syntax)
{
    static const char *const bad[][5] = {
        {"EX", "10", "PX", "10"}, {"KEEPTTL", "EX", "10"}, {"EX", "10", "KEEPTTL"},
        {"NX", "XX"},             {"XX", "NX"},            {"EX"},
        {"PERSIST"},              {"EXAT", "1", "PXAT", "1"}, {"BOGUS"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *argv[8] = {"SET", "k", "v"};
        size_t lens[8] = {3, 1, 1}, n = 3;
        for (size_t j = 0; j < 5 && bad[i][j]; j++, n++) {
            argv[n] = bad[i][j];
            lens[n] = strlen(bad[i][j]);
        }
        ex_error(redisCommandArgv(ctx, (int)n, argv, lens), "ERR syntax error");
    }
    ex_int(CMD("EXISTS", "k"), 0);
    ex_nil(CMD("SET", "k", "v", "NX", "NX", "get", "GET")); /* repeats are fine */
    ex_str(CMD("GET", "k"), "v");
    ex_error(CMD("SET", "k"), "ERR wrong number of arguments for 'set' command");
    ex_error(CMD("SET", "", "v"), "ERR empty keys are not supported by kvs-server");
}
END_TEST

START_TEST(set_keepttl_nx_xx)
{
    ex_status(CMD("SET", "k", "1", "EX", "3600"), "OK");
    ex_status(CMD("SET", "k", "2", "KEEPTTL"), "OK");
    ex_str(CMD("GET", "k"), "2");
    ex_int_in(CMD("TTL", "k"), 3540, 3600);
    ex_status(CMD("SET", "k", "3", "XX", "KEEPTTL"), "OK");
    ex_int_in(CMD("TTL", "k"), 3540, 3600);
    ex_nil(CMD("SET", "k", "4", "NX", "EX", "10"));
    ex_str(CMD("GET", "k"), "3");
    ex_int_in(CMD("TTL", "k"), 3540, 3600);
    ex_nil(CMD("SET", "new", "1", "XX", "KEEPTTL"));
    ex_status(CMD("SET", "new", "1", "NX", "KEEPTTL"), "OK"); /* nothing to keep */
    ex_int(CMD("TTL", "new"), -1);
    ex_status(CMD("SET", "k", "5", "XX", "PX", "7200000"), "OK");
    ex_int_in(CMD("TTL", "k"), 7140, 7200);
}
END_TEST

START_TEST(set_get)
{
    ex_nil(CMD("SET", "k", "1", "GET"));
    ex_str(CMD("GET", "k"), "1");
    ex_str(CMD("SET", "k", "2", "GET"), "1");
    ex_str(CMD("SET", "k", "3", "NX", "GET"), "2"); /* not set, the old value all the same */
    ex_str(CMD("GET", "k"), "2");
    ex_nil(CMD("SET", "absent", "x", "XX", "GET"));
    ex_int(CMD("EXISTS", "absent"), 0);
    ex_nil(CMD("SET", "fresh", "x", "NX", "GET"));
    ex_str(CMD("GET", "fresh"), "x");
    ex_status(CMD("SET", "t", "a", "EX", "3600"), "OK");
    ex_str(CMD("SET", "t", "b", "GET", "KEEPTTL"), "a");
    ex_int_in(CMD("TTL", "t"), 3540, 3600);
    ex_str(CMD("SET", "t", "c", "GET"), "b");
    ex_int(CMD("TTL", "t"), -1);
    ex_str(CMD("SET", "t", "d", "GET", "PX", "7200000"), "c");
    ex_int_in(CMD("TTL", "t"), 7140, 7200);
    ex_error(CMD("SET", "t", "e", "GET", "EX", "0"), "ERR invalid expire time in 'set' command");
    ex_str(CMD("GET", "t"), "d");
    /* binary values with CR LF and NUL come back whole */
    const char *argv[] = {"SET", "bin", "a\r\n\0b", "GET"};
    size_t lens[] = {3, 3, 5, 3};
    ex_nil(redisCommandArgv(ctx, 4, argv, lens));
    argv[2] = "new";
    lens[2] = 3;
    redisReply *r = redisCommandArgv(ctx, 4, argv, lens);
    ck_assert(r && r->type == REDIS_REPLY_STRING && r->len == 5 && memcmp(r->str, "a\r\n\0b", 5) == 0);
    freeReplyObject(r);
}
END_TEST

START_TEST(setnx_setex_psetex)
{
    ex_int(CMD("SETNX", "k", "1"), 1);
    ex_int(CMD("SETNX", "k", "2"), 0);
    ex_str(CMD("GET", "k"), "1");
    ex_status(CMD("SETEX", "k", "3600", "v"), "OK");
    ex_str(CMD("GET", "k"), "v");
    ex_int_in(CMD("TTL", "k"), 3540, 3600);
    ex_status(CMD("PSETEX", "k", "7200000", "w"), "OK");
    ex_int_in(CMD("PTTL", "k"), 7140000, 7200000);
    ex_error(CMD("SETEX", "k", "0", "v"), "ERR invalid expire time in 'setex' command");
    ex_error(CMD("SETEX", "k", "-5", "v"), "ERR invalid expire time in 'setex' command");
    ex_error(CMD("SETEX", "k", "9223372036854775807", "v"), "ERR invalid expire time in 'setex' command");
    ex_error(CMD("PSETEX", "k", "0", "v"), "ERR invalid expire time in 'psetex' command");
    ex_error(CMD("SETEX", "k", "x", "v"), "ERR value is not an integer or out of range");
    ex_error(CMD("SETEX", "k", "10"), "ERR wrong number of arguments for 'setex' command");
    ex_error(CMD("SETNX", "k"), "ERR wrong number of arguments for 'setnx' command");
    ex_str(CMD("GET", "k"), "w");
    ex_error(CMD("SETNX", "", "v"), "ERR empty keys are not supported by kvs-server");
}
END_TEST

START_TEST(getset_getdel)
{
    ex_nil(CMD("GETSET", "k", "1"));
    ex_str(CMD("GETSET", "k", "2"), "1");
    ex_status(CMD("SET", "k", "3", "EX", "3600"), "OK");
    ex_str(CMD("GETSET", "k", "4"), "3");
    ex_int(CMD("TTL", "k"), -1); /* GETSET clears the expiry, as SET */
    ex_str(CMD("GETDEL", "k"), "4");
    ex_nil(CMD("GETDEL", "k"));
    ex_int(CMD("EXISTS", "k"), 0);
    ex_nil(CMD("GETDEL", ""));
    ex_error(CMD("GETSET", "k"), "ERR wrong number of arguments for 'getset' command");
    ex_error(CMD("GETDEL", "a", "b"), "ERR wrong number of arguments for 'getdel' command");
}
END_TEST

START_TEST(getex)
{
    ex_nil(CMD("GETEX", "nokey"));
    ex_nil(CMD("GETEX", "nokey", "EX", "abc")); /* as Redis: the time matters only for a key */
    ex_nil(CMD("GETEX", "nokey", "EX", "0"));
    ex_status(CMD("SET", "k", "v"), "OK");
    ex_str(CMD("GETEX", "k"), "v");
    ex_int(CMD("TTL", "k"), -1);
    ex_str(CMD("GETEX", "k", "EX", "3600"), "v");
    ex_int_in(CMD("TTL", "k"), 3540, 3600);
    ex_str(CMD("GETEX", "k", "PX", "7200000"), "v");
    ex_int_in(CMD("TTL", "k"), 7140, 7200);
    ex_str(CMD("GETEX", "k"), "v"); /* no option: the expiry stays */
    ex_int_in(CMD("TTL", "k"), 7140, 7200);
    ex_str(CMD("GETEX", "k", "EXAT", "4102444800"), "v");
    ex_int(CMD("EXPIRETIME", "k"), 4102444800LL);
    ex_str(CMD("GETEX", "k", "PERSIST"), "v");
    ex_int(CMD("TTL", "k"), -1);
    ex_str(CMD("GETEX", "k", "PERSIST"), "v");
    ex_error(CMD("GETEX", "k", "EX", "abc"), "ERR value is not an integer or out of range");
    ex_error(CMD("GETEX", "k", "EX", "0"), "ERR invalid expire time in 'getex' command");
    ex_error(CMD("GETEX", "k", "PXAT", "-1"), "ERR invalid expire time in 'getex' command");
    ex_error(CMD("GETEX", "k", "NX"), "ERR syntax error");
    ex_error(CMD("GETEX", "k", "KEEPTTL"), "ERR syntax error");
    ex_error(CMD("GETEX", "k", "PERSIST", "EX", "10"), "ERR syntax error");
    ex_error(CMD("GETEX", "k", "EX"), "ERR syntax error");
    ex_int(CMD("TTL", "k"), -1);
    ex_str(CMD("GETEX", "k", "PXAT", "1"), "v"); /* a past absolute time removes the key */
    ex_int(CMD("EXISTS", "k"), 0);
    ex_error(CMD("GETEX"), "ERR wrong number of arguments for 'getex' command");
}
END_TEST

START_TEST(append)
{
    ex_int(CMD("APPEND", "k", "hello"), 5);
    ex_int(CMD("APPEND", "k", " world"), 11);
    ex_int(CMD("APPEND", "k", ""), 11);
    ex_str(CMD("GET", "k"), "hello world");
    ex_int(CMD("APPEND", "e", ""), 0);
    ex_int(CMD("EXISTS", "e"), 1); /* as Redis: an empty value is created */
    ex_status(CMD("SET", "t", "a", "EX", "3600"), "OK");
    ex_int(CMD("APPEND", "t", "b"), 2);
    ex_int_in(CMD("TTL", "t"), 3540, 3600); /* the expiry stays */
    const char *argv[] = {"APPEND", "bin", "\0\r\n"};
    size_t lens[] = {6, 3, 3};
    ex_int(redisCommandArgv(ctx, 3, argv, lens), 3);
    ex_int(redisCommandArgv(ctx, 3, argv, lens), 6);
    redisReply *r = CMD("GET", "bin");
    ck_assert(r->len == 6 && memcmp(r->str, "\0\r\n\0\r\n", 6) == 0);
    freeReplyObject(r);
    ex_error(CMD("APPEND", "", "x"), "ERR empty keys are not supported by kvs-server");
    ex_error(CMD("APPEND", "k"), "ERR wrong number of arguments for 'append' command");
}
END_TEST

/* A value may not outgrow --max-bulk (Redis's proto-max-bulk-len). */
START_TEST(append_limit)
{
    teardown();
    start((const char *[]){"--max-bulk", "1k", NULL});
    char part[601];
    memset(part, 'x', 600);
    part[600] = '\0';
    ex_int(CMD("APPEND", "k", part), 600);
    ex_error(CMD("APPEND", "k", part), "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    ex_int(CMD("STRLEN", "k"), 600);
    part[424] = '\0';
    ex_int(CMD("APPEND", "k", part), 1024); /* exactly the limit */
    ex_error(CMD("APPEND", "k", "y"), "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    ex_int(CMD("STRLEN", "k"), 1024);
}
END_TEST

START_TEST(incr_decr)
{
    ex_int(CMD("INCR", "n"), 1);
    ex_int(CMD("INCR", "n"), 2);
    ex_int(CMD("DECR", "n"), 1);
    ex_int(CMD("INCRBY", "n", "41"), 42);
    ex_int(CMD("DECRBY", "n", "50"), -8);
    ex_int(CMD("INCRBY", "n", "-2"), -10);
    ex_int(CMD("DECRBY", "n", "-10"), 0);
    ex_str(CMD("GET", "n"), "0");
    ex_int(CMD("DECR", "fresh"), -1);
    ex_int(CMD("INCRBY", "fresh2", "-5"), -5);
    ex_status(CMD("SET", "t", "10", "EX", "3600"), "OK");
    ex_int(CMD("INCR", "t"), 11);
    ex_int_in(CMD("TTL", "t"), 3540, 3600); /* the expiry stays */
    static const char *const not_int[] = {"abc", " 1", "1 ", "+1", "01", "-0", "1.5", "",
                                          "99999999999999999999", "9223372036854775808", "0x10"};
    for (size_t i = 0; i < sizeof(not_int) / sizeof(not_int[0]); i++) {
        ex_status(CMD("SET", "bad", not_int[i]), "OK");
        ex_error(CMD("INCR", "bad"), "ERR value is not an integer or out of range");
        ex_error(CMD("DECRBY", "bad", "1"), "ERR value is not an integer or out of range");
        ex_str(CMD("GET", "bad"), not_int[i]); /* unchanged */
        ex_error(CMD("INCRBY", "n", not_int[i]), "ERR value is not an integer or out of range");
    }
    ex_status(CMD("SET", "big", "9223372036854775807"), "OK");
    ex_error(CMD("INCR", "big"), "ERR increment or decrement would overflow");
    ex_int(CMD("DECR", "big"), 9223372036854775806LL);
    ex_status(CMD("SET", "small", "-9223372036854775808"), "OK");
    ex_error(CMD("DECR", "small"), "ERR increment or decrement would overflow");
    ex_error(CMD("INCRBY", "small", "-1"), "ERR increment or decrement would overflow");
    ex_int(CMD("INCRBY", "small", "9223372036854775807"), -1);
    ex_error(CMD("DECRBY", "n", "-9223372036854775808"), "ERR decrement would overflow");
    ex_int(CMD("INCRBY", "n", "-9223372036854775808"), -9223372036854775807LL - 1);
    ex_error(CMD("INCR", ""), "ERR empty keys are not supported by kvs-server");
    ex_error(CMD("INCR"), "ERR wrong number of arguments for 'incr' command");
    ex_error(CMD("INCRBY", "n"), "ERR wrong number of arguments for 'incrby' command");
}
END_TEST

START_TEST(incrbyfloat)
{
    redisReply *r;
    ex_str(CMD("INCRBYFLOAT", "f", "1.5"), "1.5");
    ex_str(CMD("INCRBYFLOAT", "f", "-1.5"), "0");
    ex_str(CMD("INCRBYFLOAT", "f", "5.0e3"), "5000");
    ex_str(CMD("INCRBYFLOAT", "f", "0x10"), "5016");
    ex_status(CMD("SET", "f", "3.0"), "OK");
    ex_str(CMD("INCRBYFLOAT", "f", "0.1"), "3.1");
    ex_str(CMD("INCRBYFLOAT", "f", "-3.1"), "0");
    ex_str(CMD("INCRBYFLOAT", "g", "-0.0"), "0");
    ex_status(CMD("SET", "i", "10"), "OK");
    ex_str(CMD("INCRBYFLOAT", "i", "1"), "11");
    ex_int(CMD("INCR", "i"), 12);
    ex_status(CMD("SET", "t", "1", "EX", "3600"), "OK");
    ex_str(CMD("INCRBYFLOAT", "t", "0.25"), "1.25");
    ex_int_in(CMD("TTL", "t"), 3540, 3600);
    static const char *const bad[] = {"abc", " 1", "1 ", "nan", "", "1e5000", "1e-5000"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ex_error(CMD("INCRBYFLOAT", "f", bad[i]), "ERR value is not a valid float");
        ex_status(CMD("SET", "bad", bad[i]), "OK");
        ex_error(CMD("INCRBYFLOAT", "bad", "1"), "ERR value is not a valid float");
    }
    ex_error(CMD("INCRBYFLOAT", "f", "inf"), "ERR increment would produce NaN or Infinity");
    ex_status(CMD("SET", "huge", "1.18e4932"), "OK");
    ex_error(CMD("INCRBYFLOAT", "huge", "1e4932"), "ERR increment would produce NaN or Infinity");
    r = CMD("INCRBYFLOAT", "p", "1e20");
    ex_str(r, "100000000000000000000");
    ex_str(CMD("GET", "f"), "0");
    ex_error(CMD("INCRBYFLOAT", "f"), "ERR wrong number of arguments for 'incrbyfloat' command");
}
END_TEST

START_TEST(mset_msetnx)
{
    ex_status(CMD("SET", "a", "old", "EX", "3600"), "OK");
    ex_status(CMD("MSET", "a", "1", "b", "2", "a", "3"), "OK"); /* the later pair wins */
    ex_str(CMD("GET", "a"), "3");
    ex_int(CMD("TTL", "a"), -1); /* MSET clears the expiry, as SET */
    ex_int(CMD("MSETNX", "c", "1", "d", "2"), 1);
    ex_int(CMD("MSETNX", "d", "x", "e", "y"), 0);
    ex_str(CMD("GET", "d"), "2");
    ex_int(CMD("EXISTS", "e"), 0); /* none written */
    ex_int(CMD("MSETNX", "f", "1", "f", "2"), 1);
    ex_str(CMD("GET", "f"), "2");
    ex_error(CMD("MSETNX", "g", "1", "h"), "ERR wrong number of arguments for 'msetnx' command");
    ex_error(CMD("MSETNX", "g"), "ERR wrong number of arguments for 'msetnx' command");
    ex_error(CMD("MSETNX", "g", "1", "", "2"), "ERR empty keys are not supported by kvs-server");
    ex_int(CMD("EXISTS", "g"), 0);
    ex_status(CMD("SET", "x", "v", "PXAT", "1"), "OK"); /* expired: absent for MSETNX */
    ex_int(CMD("MSETNX", "x", "1", "y", "1"), 1);
}
END_TEST

/* COMMAND INFO of the new commands: arity, flags and key positions as Redis 7.0. */
START_TEST(command_info)
{
    static const struct {
        const char *name;
        long long arity, first, last, step;
        const char *flags;
    } want[] = {
        {"set", -3, 1, 1, 1, "write denyoom"},         {"setnx", 3, 1, 1, 1, "write denyoom fast"},
        {"setex", 4, 1, 1, 1, "write denyoom"},        {"psetex", 4, 1, 1, 1, "write denyoom"},
        {"getset", 3, 1, 1, 1, "write denyoom fast"},  {"getdel", 2, 1, 1, 1, "write fast"},
        {"getex", -2, 1, 1, 1, "write fast"},          {"append", 3, 1, 1, 1, "write denyoom fast"},
        {"incr", 2, 1, 1, 1, "write denyoom fast"},    {"decr", 2, 1, 1, 1, "write denyoom fast"},
        {"incrby", 3, 1, 1, 1, "write denyoom fast"},  {"decrby", 3, 1, 1, 1, "write denyoom fast"},
        {"incrbyfloat", 3, 1, 1, 1, "write denyoom fast"},
        {"mset", -3, 1, -1, 2, "write denyoom"},       {"msetnx", -3, 1, -1, 2, "write denyoom"},
        {"expire", -3, 1, 1, 1, "write fast"},         {"pexpire", -3, 1, 1, 1, "write fast"},
        {"expireat", -3, 1, 1, 1, "write fast"},       {"pexpireat", -3, 1, 1, 1, "write fast"},
        {"ttl", 2, 1, 1, 1, "readonly fast"},          {"pttl", 2, 1, 1, 1, "readonly fast"},
        {"expiretime", 2, 1, 1, 1, "readonly fast"},   {"pexpiretime", 2, 1, 1, 1, "readonly fast"},
        {"persist", 2, 1, 1, 1, "write fast"},         {"bgsave", -1, 0, 0, 0, "admin"},
        {"save", 1, 0, 0, 0, "admin"},                 {"lastsave", 1, 0, 0, 0, "fast loading stale"},
        {"flushdb", -1, 0, 0, 0, "write"},             {"flushall", -1, 0, 0, 0, "write"},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        redisReply *r = CMD("COMMAND", "INFO", want[i].name);
        ck_assert_uint_eq(r->elements, 1);
        redisReply *c = r->element[0];
        ck_assert_msg(c->type == REDIS_REPLY_ARRAY, "COMMAND INFO %s: no such command", want[i].name);
        ck_assert_str_eq(c->element[0]->str, want[i].name);
        ck_assert_int_eq(c->element[1]->integer, want[i].arity);
        char flags[128] = "";
        for (size_t f = 0; f < c->element[2]->elements; f++)
            snprintf(flags + strlen(flags), sizeof(flags) - strlen(flags), "%s%s", f ? " " : "",
                     c->element[2]->element[f]->str);
        ck_assert_msg(strcmp(flags, want[i].flags) == 0, "%s: flags '%s'", want[i].name, flags);
        ck_assert_int_eq(c->element[3]->integer, want[i].first);
        ck_assert_int_eq(c->element[4]->integer, want[i].last);
        ck_assert_int_eq(c->element[5]->integer, want[i].step);
        freeReplyObject(r);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("strings");
    TCase *tc = tcase_create("strings");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, set_expiry);
    tcase_add_test(tc, set_syntax);
    tcase_add_test(tc, set_keepttl_nx_xx);
    tcase_add_test(tc, set_get);
    tcase_add_test(tc, setnx_setex_psetex);
    tcase_add_test(tc, getset_getdel);
    tcase_add_test(tc, getex);
    tcase_add_test(tc, append);
    tcase_add_test(tc, append_limit);
    tcase_add_test(tc, incr_decr);
    tcase_add_test(tc, incrbyfloat);
    tcase_add_test(tc, mset_msetnx);
    tcase_add_test(tc, command_info);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
