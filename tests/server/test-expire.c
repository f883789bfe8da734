/*
 * Keys that really expire: PEXPIRE, SET PX, SETEX, PSETEX, GETEX and
 * EXPIREAT with times of 100 to 200 ms, TTL and PTTL in range, NX/XX/GT/LT,
 * PERSIST, EXPIRETIME, KEEPTTL, expiry across a restart.
 *
 * Nothing here sleeps and hopes: a test polls (every 10 ms) until the key
 * is gone or a deadline (10 s, far beyond the expiry) passes, then asserts;
 * and a key's presence is only asserted where its expiry lies hours ahead.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "expect.h"
#include "harness.h"

#define DEADLINE_MS 10000

static struct server_proc srv;
static redisContext *ctx;
static const char *dir;

static void setup(void)
{
    dir = harness_tmpdir();
    srv = (struct server_proc){0};
    ck_assert_int_eq(server_start(&srv, dir, NULL), 0);
    ctx = ex_connect(srv.port);
}

static void teardown(void)
{
    redisFree(ctx);
    ctx = NULL;
    if (srv.pid > 0)
        ck_assert_int_eq(server_stop(&srv, SIGTERM, 10000), 0);
}

#define CMD(...) ex_cmd(ctx, __VA_ARGS__, NULL)

/* Poll until key no longer exists (bounded); then it reads as absent everywhere. */
static void wait_gone(const char *key)
{
    long long end = now_ms() + DEADLINE_MS;
    bool gone = false;
    while (!gone && now_ms() < end) {
        redisReply *r = CMD("EXISTS", key);
        ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
        gone = r->integer == 0;
        freeReplyObject(r);
        if (!gone)
            usleep(10000);
    }
    ck_assert_msg(gone, "%s still exists after %d ms", key, DEADLINE_MS);
    ex_nil(CMD("GET", key));
    ex_int(CMD("TTL", key), -2);
    ex_int(CMD("PTTL", key), -2);
    ex_int(CMD("EXPIRETIME", key), -2);
    ex_int(CMD("PERSIST", key), 0);
    ex_int(CMD("EXPIRE", key, "100"), 0);
    redisReply *r = CMD("KEYS", key);
    ck_assert_uint_eq(r->elements, 0);
    freeReplyObject(r);
}

/* PTTL right after setting ms: gone already (-2), or in (0, ms]. */
static void pttl_at_most(const char *key, long long ms)
{
    redisReply *r = CMD("PTTL", key);
    ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
    ck_assert_msg(r->integer == -2 || (r->integer >= 0 && r->integer <= ms), "PTTL %lld",
                  r->integer);
    freeReplyObject(r);
}

START_TEST(pexpire_expires)
{
    ex_status(CMD("SET", "k", "v"), "OK");
    ex_int(CMD("PEXPIRE", "k", "150"), 1);
    pttl_at_most("k", 150);
    wait_gone("k");
    ex_status(CMD("SET", "k", "again"), "OK"); /* a new value, no expiry */
    ex_int(CMD("TTL", "k"), -1);
}
END_TEST

START_TEST(set_forms_expire)
{
    char at[32];
    snprintf(at, sizeof(at), "%lld", ex_unix_ms() + 150);
    ex_status(CMD("SET", "px", "v", "PX", "100"), "OK");
    ex_status(CMD("SET", "pxat", "v", "PXAT", at), "OK");
    ex_status(CMD("PSETEX", "psetex", "120", "v"), "OK");
    ex_status(CMD("SET", "getex", "v"), "OK");
    ex_str(CMD("GETEX", "getex", "PX", "130"), "v");
    ex_status(CMD("SET", "pexpireat", "v"), "OK");
    ex_int(CMD("PEXPIREAT", "pexpireat", at), 1);
    ex_status(CMD("SET", "stays", "v", "PX", "100"), "OK");
    redisReply *g = CMD("GETEX", "stays", "PERSIST"); /* "v", or nil if it expired first */
    ck_assert(g->type == REDIS_REPLY_NIL || (g->type == REDIS_REPLY_STRING && !strcmp(g->str, "v")));
    freeReplyObject(g);
    static const char *const keys[] = {"px", "pxat", "psetex", "getex", "pexpireat"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        pttl_at_most(keys[i], 200);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        wait_gone(keys[i]);
    redisReply *r = CMD("TTL", "stays");
    ck_assert_msg(r->type == REDIS_REPLY_INTEGER && (r->integer == -1 || r->integer == -2),
                  "TTL of a persisted key: %lld", r->integer);
    freeReplyObject(r);
}
END_TEST

/*
 * SET ... KEEPTTL and INCR keep an expiry, which then takes effect. If the
 * key expired before the second command (a stalled machine), that command
 * made a new key without one: the round says so and is tried again.
 */
static bool kept_expiring(const char *first_cmd, const char *second_cmd)
{
    redisReply *r = redisCommand(ctx, first_cmd);
    ck_assert(r && r->type != REDIS_REPLY_ERROR);
    freeReplyObject(r);
    r = redisCommand(ctx, second_cmd);
    ck_assert(r && r->type != REDIS_REPLY_ERROR);
    freeReplyObject(r);
    r = CMD("PTTL", "k");
    ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
    long long pttl = r->integer;
    freeReplyObject(r);
    ck_assert_int_le(pttl, 150);
    if (pttl == -1) { /* expired in between: recreated without an expiry */
        ex_int(CMD("DEL", "k"), 1);
        return false;
    }
    wait_gone("k");
    return true;
}

START_TEST(keepttl_and_incr_keep_expiry)
{
    int rounds = 0;
    while (!kept_expiring("SET k 1 PX 150", "SET k 2 KEEPTTL") && ++rounds < 20)
        ;
    ck_assert_int_lt(rounds, 20);
    rounds = 0;
    while (!kept_expiring("PSETEX k 150 7", "INCR k") && ++rounds < 20)
        ;
    ck_assert_int_lt(rounds, 20);
    ex_int(CMD("INCR", "k"), 1); /* an expired counter starts from 0 */
    ex_int(CMD("TTL", "k"), -1);
    ex_status(CMD("SET", "j", "1", "PX", "3600000"), "OK");
    ex_status(CMD("SET", "j", "2", "KEEPTTL"), "OK");
    ex_int_in(CMD("PTTL", "j"), 3540000, 3600000);
}
END_TEST

START_TEST(ttl_values)
{
    ex_int(CMD("TTL", "nokey"), -2);
    ex_int(CMD("PTTL", "nokey"), -2);
    ex_status(CMD("SET", "k", "v"), "OK");
    ex_int(CMD("TTL", "k"), -1);
    ex_int(CMD("PTTL", "k"), -1);
    ex_int(CMD("EXPIRETIME", "k"), -1);
    ex_int(CMD("PEXPIRETIME", "k"), -1);
    ex_int(CMD("EXPIRE", "k", "3600"), 1);
    ex_int_in(CMD("TTL", "k"), 3540, 3600);
    ex_int_in(CMD("PTTL", "k"), 3540000, 3600000);
    long long before = ex_unix_ms();
    ex_int(CMD("PEXPIRE", "k", "5000000"), 1);
    long long at = ex_int_in(CMD("PEXPIRETIME", "k"), before + 5000000, ex_unix_ms() + 5000000);
    ex_int(CMD("EXPIRETIME", "k"), (at + 500) / 1000);
    ex_int(CMD("EXPIREAT", "k", "4102444800"), 1);
    ex_int(CMD("EXPIRETIME", "k"), 4102444800LL);
    ex_int(CMD("PEXPIRETIME", "k"), 4102444800000LL);
    ex_int(CMD("PEXPIREAT", "k", "4102444800499"), 1);
    ex_int(CMD("EXPIRETIME", "k"), 4102444800LL); /* rounded, as Redis */
    ex_int(CMD("PEXPIREAT", "k", "4102444800500"), 1);
    ex_int(CMD("EXPIRETIME", "k"), 4102444801LL);
    ex_int(CMD("PEXPIREAT", "k", "9223372036854775807"), 1);
    ex_int(CMD("EXPIRETIME", "k"), 9223372036854776LL);
    ex_error(CMD("TTL"), "ERR wrong number of arguments for 'ttl' command");
    ex_error(CMD("PTTL", "a", "b"), "ERR wrong number of arguments for 'pttl' command");
}
END_TEST

START_TEST(expire_errors_and_past)
{
    ex_int(CMD("EXPIRE", "nokey", "100"), 0);
    ex_status(CMD("SET", "k", "v"), "OK");
    ex_error(CMD("EXPIRE", "k", "abc"), "ERR value is not an integer or out of range");
    ex_error(CMD("EXPIRE", "k", "9223372036854775807"), "ERR invalid expire time in 'expire' command");
    ex_error(CMD("EXPIRE", "k", "-9223372036854775807"), "ERR invalid expire time in 'expire' command");
    ex_error(CMD("PEXPIRE", "k", "9223372036854775807"), "ERR invalid expire time in 'pexpire' command");
    ex_error(CMD("EXPIREAT", "k", "9223372036854775807"), "ERR invalid expire time in 'expireat' command");
    ex_error(CMD("EXPIRE", "k", "10", "FOO"), "ERR Unsupported option FOO");
    ex_error(CMD("EXPIRE", "k", "abc", "NX", "XX"),
             "ERR NX and XX, GT or LT options at the same time are not compatible");
    ex_error(CMD("EXPIRE", "k", "10", "NX", "GT"),
             "ERR NX and XX, GT or LT options at the same time are not compatible");
    ex_error(CMD("EXPIRE", "k", "10", "GT", "LT"),
             "ERR GT and LT options at the same time are not compatible");
    ex_error(CMD("EXPIRE", "k"), "ERR wrong number of arguments for 'expire' command");
    ex_int(CMD("TTL", "k"), -1); /* untouched */
    ex_int(CMD("EXPIRE", "k", "0"), 1); /* a time not in the future removes the key */
    ex_int(CMD("EXISTS", "k"), 0);
    ex_status(CMD("SET", "k", "v"), "OK");
    ex_int(CMD("PEXPIREAT", "k", "1"), 1);
    ex_int(CMD("EXISTS", "k"), 0);
    ex_status(CMD("SET", "k", "v"), "OK");
    ex_int(CMD("EXPIREAT", "k", "-100"), 1);
    ex_int(CMD("EXISTS", "k"), 0);
}
END_TEST

START_TEST(expire_options)
{
    ex_status(CMD("SET", "k", "v"), "OK");
    ex_int(CMD("EXPIRE", "k", "100", "XX"), 0); /* no expiry yet */
    ex_int(CMD("EXPIRE", "k", "100", "GT"), 0); /* none counts as infinite */
    ex_int(CMD("EXPIRE", "k", "1000", "NX"), 1);
    ex_int(CMD("EXPIRE", "k", "2000", "NX"), 0);
    ex_int_in(CMD("TTL", "k"), 940, 1000);
    ex_int(CMD("EXPIRE", "k", "500", "GT"), 0);
    ex_int(CMD("EXPIRE", "k", "2000", "GT"), 1);
    ex_int(CMD("EXPIRE", "k", "3000", "LT"), 0);
    ex_int(CMD("EXPIRE", "k", "1500", "LT"), 1);
    ex_int(CMD("EXPIRE", "k", "1200", "XX", "LT"), 1);
    ex_int(CMD("EXPIRE", "k", "1300", "xx", "lt"), 0);
    ex_int_in(CMD("TTL", "k"), 1140, 1200);
    ex_int(CMD("EXPIRE", "k", "-1", "GT"), 0);
    ex_int(CMD("EXISTS", "k"), 1);
    ex_int(CMD("PERSIST", "k"), 1);
    ex_int(CMD("PERSIST", "k"), 0);
    ex_int(CMD("TTL", "k"), -1);
    ex_int(CMD("EXPIRE", "k", "100", "LT"), 1); /* any time is less than none */
    ex_int_in(CMD("TTL", "k"), 40, 100);
    ex_int(CMD("EXPIRE", "k", "-1", "LT"), 1); /* and a past one removes it */
    ex_int(CMD("EXISTS", "k"), 0);
    ex_int(CMD("EXPIRE", "nokey", "100", "NX"), 0);
    ex_int(CMD("PERSIST", "nokey"), 0);
    /* a conditional expiry keeps the value bytes */
    const char *argv[] = {"SET", "bin", "a\0b\r\n"};
    size_t lens[] = {3, 3, 5};
    ex_status(redisCommandArgv(ctx, 3, argv, lens), "OK");
    ex_int(CMD("EXPIRE", "bin", "100", "NX"), 1);
    ex_int(CMD("PERSIST", "bin"), 1);
    redisReply *r = CMD("GET", "bin");
    ck_assert(r->type == REDIS_REPLY_STRING && r->len == 5 && memcmp(r->str, "a\0b\r\n", 5) == 0);
    freeReplyObject(r);
}
END_TEST

/* An expiry is stored: after a restart a far one remains, a past one has taken effect. */
START_TEST(expiry_survives_restart)
{
    char at[32];
    snprintf(at, sizeof(at), "%lld", ex_unix_ms() + 200);
    ex_status(CMD("SET", "far", "v", "EX", "3600"), "OK");
    ex_status(CMD("SET", "near", "v", "PXAT", at), "OK");
    ex_status(CMD("SET", "never", "v"), "OK");
    redisFree(ctx);
    ctx = NULL;
    ck_assert_int_eq(server_stop(&srv, SIGTERM, 10000), 0);
    srv = (struct server_proc){0};
    ck_assert_int_eq(server_start(&srv, dir, NULL), 0);
    ctx = ex_connect(srv.port);
    ex_int_in(CMD("TTL", "far"), 3540, 3600);
    ex_int(CMD("TTL", "never"), -1);
    wait_gone("near");
    ex_int(CMD("EXISTS", "far", "never"), 2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("expire");
    TCase *tc = tcase_create("expire");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, pexpire_expires);
    tcase_add_test(tc, set_forms_expire);
    tcase_add_test(tc, keepttl_and_incr_keep_expiry);
    tcase_add_test(tc, ttl_values);
    tcase_add_test(tc, expire_errors_and_past);
    tcase_add_test(tc, expire_options);
    tcase_add_test(tc, expiry_survives_restart);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
