/*
 * SCAN and KEYS through hiredis: every key exactly once on a quiet store,
 * COUNT, MATCH (with its literal prefix bounding the walk), TYPE, errors,
 * unknown cursors, and the promise under concurrent writes: a full SCAN of
 * 100k keys, while another client adds keys and removes others, returns
 * every key that was there the whole time.
 */
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define CURSOR_MAX ((UINT64_C(1) << 53) - 1)

static struct server_proc srv;
static redisContext *ctx;

static redisContext *connect_server(void)
{
    struct timeval tv = {.tv_sec = 20};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", srv.port, tv);
    ck_assert(c && !c->err);
    redisSetTimeout(c, tv);
    return c;
}

static void setup(void)
{
    srv = (struct server_proc){0};
    ck_assert_int_eq(server_start(&srv, harness_tmpdir(), NULL), 0);
    ctx = connect_server();
}

static void teardown(void)
{
    redisFree(ctx);
    ctx = NULL;
    ck_assert_int_eq(server_stop(&srv, SIGTERM, 10000), 0);
}

static redisReply *run(const char *first, ...)
{
    const char *argv[32];
    size_t lens[32];
    int argc = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && argc < 32; a = va_arg(ap, const char *)) {
        argv[argc] = a;
        lens[argc++] = strlen(a);
    }
    va_end(ap);
    redisReply *r = redisCommandArgv(ctx, argc, argv, lens);
    ck_assert_msg(r != NULL, "no reply to %s: %s", first, ctx->errstr);
    return r;
}

static void expect_error(redisReply *r, const char *error)
{
    ck_assert_msg(r->type == REDIS_REPLY_ERROR, "expected error '%s', got type %d", error, r->type);
    ck_assert_str_eq(r->str, error);
    freeReplyObject(r);
}

static void ok(redisReply *r)
{
    ck_assert_msg(r->type == REDIS_REPLY_STATUS, "type %d: %s", r->type,
                  r->type == REDIS_REPLY_ERROR ? r->str : "");
    freeReplyObject(r);
}

/* Write the n keys <prefix><i> (i zero-padded to width digits) = "v", pipelined MSETs. */
static void fill_keys(redisContext *c, const char *prefix, int width, int n)
{
    int sent = 0;
    for (int i = 0; i < n; i += 500) {
        const char *argv[1001];
        size_t lens[1001];
        char keys[500][64];
        int argc = 1;
        argv[0] = "MSET";
        lens[0] = 4;
        for (int j = i; j < n && j < i + 500; j++) {
            int len = snprintf(keys[j - i], sizeof(keys[0]), "%s%0*d", prefix, width, j);
            argv[argc] = keys[j - i];
            lens[argc++] = (size_t)len;
            argv[argc] = "v";
            lens[argc++] = 1;
        }
        ck_assert_int_eq(redisAppendCommandArgv(c, argc, argv, lens), REDIS_OK);
        sent++;
    }
    for (int i = 0; i < sent; i++) {
        redisReply *r;
        ck_assert_int_eq(redisGetReply(c, (void **)&r), REDIS_OK);
        ok(r);
    }
}

/* One SCAN call; returns the next cursor, calls fn on each key. */
static uint64_t scan_page(redisContext *c, uint64_t cursor, const char *const *opts,
                          void (*fn)(const char *, size_t, void *), void *arg, size_t *nkeys)
{
    const char *argv[12] = {"SCAN"};
    size_t lens[12] = {4};
    char cur[24];
    lens[1] = (size_t)snprintf(cur, sizeof(cur), "%" PRIu64, cursor);
    argv[1] = cur;
    int argc = 2;
    for (int i = 0; opts && opts[i] && argc < 12; i++) {
        argv[argc] = opts[i];
        lens[argc++] = strlen(opts[i]);
    }
    redisReply *r = redisCommandArgv(c, argc, argv, lens);
    ck_assert_msg(r != NULL, "SCAN: %s", c->errstr);
    ck_assert_msg(r->type == REDIS_REPLY_ARRAY && r->elements == 2, "SCAN reply type %d %s",
                  r->type, r->type == REDIS_REPLY_ERROR ? r->str : "");
    ck_assert_int_eq(r->element[0]->type, REDIS_REPLY_STRING);
    char *end;
    uint64_t next = strtoull(r->element[0]->str, &end, 10);
    ck_assert(*end == '\0' && end != r->element[0]->str);
    ck_assert_uint_le(next, CURSOR_MAX); /* exact in a double: JavaScript clients */
    redisReply *keys = r->element[1];
    ck_assert_int_eq(keys->type, REDIS_REPLY_ARRAY);
    for (size_t i = 0; i < keys->elements; i++)
        fn(keys->element[i]->str, keys->element[i]->len, arg);
    if (nkeys)
        *nkeys = keys->elements;
    freeReplyObject(r);
    return next;
}

/* ---- counting what a scan returned, for keys "<prefix><number>" ---- */

struct tally {
    const char *prefix;
    int n;
    unsigned char *seen; /* per number, saturating */
    int others;          /* keys not of the form */
    long total;
};

static void tally_init(struct tally *t, const char *prefix, int n)
{
    *t = (struct tally){.prefix = prefix, .n = n, .seen = calloc((size_t)n, 1)};
    ck_assert_ptr_nonnull(t->seen);
}

static void count_key(const char *key, size_t len, void *arg)
{
    struct tally *t = arg;
    size_t pl = strlen(t->prefix);
    t->total++;
    char *end;
    long i = len > pl && memcmp(key, t->prefix, pl) == 0 ? strtol(key + pl, &end, 10) : -1;
    if (i < 0 || i >= t->n || end != key + len) {
        t->others++;
        return;
    }
    if (t->seen[i] < 255)
        t->seen[i]++;
}

/* A full scan with the given options; returns the number of calls. */
static long full_scan(redisContext *c, const char *const *opts, struct tally *t, long max_calls)
{
    uint64_t cursor = 0;
    long calls = 0;
    do {
        cursor = scan_page(c, cursor, opts, count_key, t, NULL);
        calls++;
    } while (cursor != 0 && calls < max_calls);
    ck_assert_msg(cursor == 0, "scan did not end within %ld calls", max_calls);
    return calls;
}

static uint64_t info_field(redisContext *c, const char *field)
{
    redisReply *r = redisCommand(c, "INFO stats");
    ck_assert_ptr_nonnull(r);
    char *p = strstr(r->str, field);
    ck_assert_msg(p != NULL, "INFO lacks %s", field);
    uint64_t v = strtoull(p + strlen(field) + 1, NULL, 10);
    freeReplyObject(r);
    return v;
}

START_TEST(every_key_once)
{
    fill_keys(ctx, "key:", 0, 5000);
    const char *counts[] = {"1", "7", "10", "1000", "100000"};
    for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
        const char *opts[] = {"COUNT", counts[k], NULL};
        struct tally t;
        tally_init(&t, "key:", 5000);
        long calls = full_scan(ctx, k == 2 ? NULL : opts, &t, 10000);
        for (int i = 0; i < 5000; i++)
            ck_assert_msg(t.seen[i] == 1, "COUNT %s: key:%d seen %d times", counts[k], i,
                          t.seen[i]);
        ck_assert_int_eq(t.others, 0);
        long per = atol(counts[k]);
        ck_assert_int_eq(calls, (5000 + per - 1) / per); /* the last page says 0 itself */
        free(t.seen);
    }
    ck_assert_uint_eq(info_field(ctx, "scan_cursors_unknown"), 0);
}
END_TEST

/* COUNT bounds the keys examined, so a page without MATCH has exactly COUNT keys. */
START_TEST(count_bounds_pages)
{
    fill_keys(ctx, "k", 0, 95);
    size_t n;
    struct tally t;
    tally_init(&t, "k", 95);
    const char *opts[] = {"COUNT", "10", NULL};
    uint64_t cursor = 0;
    int pages = 0;
    do {
        cursor = scan_page(ctx, cursor, opts, count_key, &t, &n);
        pages++;
        ck_assert_uint_eq(n, cursor ? 10 : 5);
    } while (cursor && pages < 100);
    ck_assert_int_eq(pages, 10);
    uint64_t before = info_field(ctx, "keys_examined");
    scan_page(ctx, 0, NULL, count_key, &t, &n); /* default COUNT: 10 */
    ck_assert_uint_eq(n, 10);
    ck_assert_uint_eq(info_field(ctx, "keys_examined") - before, 10);
    free(t.seen);
}
END_TEST

START_TEST(empty_store_and_end)
{
    size_t n = 99;
    ck_assert_uint_eq(scan_page(ctx, 0, NULL, count_key, NULL, &n), 0);
    ck_assert_uint_eq(n, 0);
    redisReply *r = run("KEYS", "*", NULL);
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_uint_eq(r->elements, 0);
    freeReplyObject(r);
    /* a page that reaches the last key ends the scan: no empty extra call */
    fill_keys(ctx, "k", 0, 10);
    const char *opts[] = {"COUNT", "10", NULL};
    struct tally t;
    tally_init(&t, "k", 10);
    ck_assert_uint_eq(scan_page(ctx, 0, opts, count_key, &t, &n), 0);
    ck_assert_uint_eq(n, 10);
    free(t.seen);
}
END_TEST

/* MATCH with a literal prefix walks only the keys under it; others filter what they walk. */
START_TEST(match)
{
    fill_keys(ctx, "other:", 0, 20000);
    fill_keys(ctx, "user:", 0, 300);
    struct tally t;
    tally_init(&t, "user:", 300);
    const char *opts[] = {"MATCH", "user:*", "COUNT", "1000", NULL};
    uint64_t before = info_field(ctx, "keys_examined");
    ck_assert_int_eq(full_scan(ctx, opts, &t, 10), 1);
    ck_assert_uint_eq(info_field(ctx, "keys_examined") - before, 300);
    for (int i = 0; i < 300; i++)
        ck_assert_int_eq(t.seen[i], 1);
    ck_assert_int_eq(t.others, 0);
    free(t.seen);

    tally_init(&t, "user:", 300);
    const char *q[] = {"MATCH", "user:1?", NULL};
    full_scan(ctx, q, &t, 1000);
    ck_assert_int_eq(t.total, 10);
    for (int i = 10; i < 20; i++)
        ck_assert_int_eq(t.seen[i], 1);
    free(t.seen);

    /* no literal prefix: walks everything, in pages of COUNT examined keys */
    tally_init(&t, "user:", 300);
    const char *star[] = {"MATCH", "*:2[0-4]", "COUNT", "500", NULL};
    long calls = full_scan(ctx, star, &t, 1000);
    ck_assert_int_eq(calls, 41); /* 20300 keys / 500 */
    ck_assert_int_eq(t.total, 10);
    ck_assert_int_eq(t.others, 5);  /* other:20 .. other:24 */
    for (int i = 20; i < 25; i++)
        ck_assert_int_eq(t.seen[i], 1);
    free(t.seen);

    tally_init(&t, "user:", 300);
    const char *none[] = {"MATCH", "nothing*", NULL};
    ck_assert_int_eq(full_scan(ctx, none, &t, 10), 1);
    ck_assert_int_eq(t.total, 0);
    free(t.seen);
}
END_TEST

START_TEST(type_option)
{
    fill_keys(ctx, "k", 0, 30);
    struct tally t;
    tally_init(&t, "k", 30);
    const char *str[] = {"TYPE", "STRING", NULL};
    full_scan(ctx, str, &t, 100);
    ck_assert_int_eq(t.total, 30);
    free(t.seen);
    tally_init(&t, "k", 30);
    const char *list[] = {"TYPE", "list", "COUNT", "10", NULL};
    ck_assert_int_eq(full_scan(ctx, list, &t, 100), 3); /* walks, returns nothing */
    ck_assert_int_eq(t.total, 0);
    free(t.seen);
}
END_TEST

START_TEST(errors)
{
    expect_error(run("SCAN", NULL), "ERR wrong number of arguments for 'scan' command");
    expect_error(run("SCAN", "abc", NULL), "ERR invalid cursor");
    expect_error(run("SCAN", " 1", NULL), "ERR invalid cursor");
    expect_error(run("SCAN", "1x", NULL), "ERR invalid cursor");
    expect_error(run("SCAN", "", NULL), "ERR invalid cursor");
    expect_error(run("SCAN", "18446744073709551616", NULL), "ERR invalid cursor");
    expect_error(run("SCAN", "0", "COUNT", "0", NULL), "ERR syntax error");
    expect_error(run("SCAN", "0", "COUNT", "-5", NULL), "ERR syntax error");
    expect_error(run("SCAN", "0", "COUNT", "x", NULL),
                 "ERR value is not an integer or out of range");
    expect_error(run("SCAN", "0", "COUNT", NULL), "ERR syntax error");
    expect_error(run("SCAN", "0", "MATCH", NULL), "ERR syntax error");
    expect_error(run("SCAN", "0", "FOO", "bar", NULL), "ERR syntax error");
    expect_error(run("KEYS", NULL), "ERR wrong number of arguments for 'keys' command");
    expect_error(run("KEYS", "a", "b", NULL), "ERR wrong number of arguments for 'keys' command");
}
END_TEST

/* An unknown cursor (forgotten, forged, from before a restart) starts again from the first key. */
START_TEST(unknown_cursor_restarts)
{
    fill_keys(ctx, "k", 0, 25);
    const char *opts[] = {"COUNT", "10", NULL};
    struct tally t;
    tally_init(&t, "k", 25);
    uint64_t c1 = scan_page(ctx, 0, opts, count_key, &t, NULL);
    ck_assert_uint_ne(c1, 0);
    /* the server restarts: its cursors are gone */
    char dir[sizeof(srv.dir)];
    memcpy(dir, srv.dir, sizeof(dir));
    ck_assert_int_eq(server_stop(&srv, SIGTERM, 10000), 0);
    redisFree(ctx);
    ck_assert_int_eq(server_start(&srv, dir, NULL), 0);
    ctx = connect_server();
    uint64_t cursor = c1;
    int calls = 0;
    do {
        cursor = scan_page(ctx, cursor, opts, count_key, &t, NULL);
    } while (cursor && ++calls < 100);
    for (int i = 0; i < 25; i++)
        ck_assert_int_ge(t.seen[i], 1); /* nothing missed; the first page came twice */
    ck_assert_int_eq(t.total, 35);
    ck_assert_uint_eq(info_field(ctx, "scan_cursors_unknown"), 1);
    free(t.seen);
    tally_init(&t, "k", 25);
    full_scan(ctx, (const char *[]){"COUNT", "10", NULL}, &t, 100);
    ck_assert_int_eq(t.total, 25);
    free(t.seen);
}
END_TEST

/* The key a cursor stands on is removed, keys appear behind and ahead of it. */
START_TEST(resume_key_removed)
{
    fill_keys(ctx, "k", 0, 10);
    const char *opts[] = {"COUNT", "3", NULL};
    struct tally t;
    tally_init(&t, "k", 100);
    uint64_t c = scan_page(ctx, 0, opts, count_key, &t, NULL); /* k0 k1 k2 */
    ck_assert_int_eq(t.total, 3);
    redisReply *r = run("DEL", "k3", "k4", NULL);
    freeReplyObject(r);
    ok(run("SET", "k20", "v", NULL)); /* behind the cursor: not returned */
    ok(run("SET", "k35", "v", NULL)); /* ahead: returned */
    while (c)
        c = scan_page(ctx, c, opts, count_key, &t, NULL);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(t.seen[i], i == 3 || i == 4 ? 0 : 1);
    ck_assert_int_eq(t.seen[20], 0);
    ck_assert_int_eq(t.seen[35], 1);
    ck_assert_int_eq(t.total, 9);
    free(t.seen);
}
END_TEST

START_TEST(keys_command)
{
    fill_keys(ctx, "user:", 0, 50);
    fill_keys(ctx, "order:", 0, 50);
    ok(run("SET", "a*b", "v", NULL));
    redisReply *r = run("KEYS", "user:*", NULL);
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_uint_eq(r->elements, 50);
    for (size_t i = 1; i < r->elements; i++) /* in key order */
        ck_assert_int_lt(strcmp(r->element[i - 1]->str, r->element[i]->str), 0);
    freeReplyObject(r);
    uint64_t before = info_field(ctx, "keys_examined");
    r = run("KEYS", "order:4?", NULL);
    ck_assert_uint_eq(r->elements, 10);
    freeReplyObject(r);
    ck_assert_uint_eq(info_field(ctx, "keys_examined") - before, 11); /* order:4, order:40..49 */
    r = run("KEYS", "*", NULL);
    ck_assert_uint_eq(r->elements, 101);
    freeReplyObject(r);
    r = run("KEYS", "a\\*b", NULL);
    ck_assert_uint_eq(r->elements, 1);
    ck_assert_str_eq(r->element[0]->str, "a*b");
    freeReplyObject(r);
    r = run("KEYS", "*[!]*", NULL);
    ck_assert_uint_eq(r->elements, 0);
    freeReplyObject(r);
    /* binary keys and patterns */
    const char *set[] = {"SET", "bin\0key", "v"};
    size_t lens[] = {3, 7, 1};
    ok(redisCommandArgv(ctx, 3, set, lens));
    const char *keys[] = {"KEYS", "bin\0*"};
    size_t klens[] = {4, 5};
    r = redisCommandArgv(ctx, 2, keys, klens);
    ck_assert_uint_eq(r->elements, 1);
    ck_assert_uint_eq(r->element[0]->len, 7);
    ck_assert(memcmp(r->element[0]->str, "bin\0key", 7) == 0);
    freeReplyObject(r);
    /* a pattern longer than any key: nothing, without walking */
    char *big = malloc(70000);
    memset(big, '?', 69999);
    big[69999] = '\0';
    before = info_field(ctx, "keys_examined");
    r = run("KEYS", big, NULL);
    ck_assert_uint_eq(r->elements, 0);
    freeReplyObject(r);
    ck_assert_uint_eq(info_field(ctx, "keys_examined"), before);
    free(big);
}
END_TEST

/* ---- the promise under concurrent writes ---- */

#define BIG_N 100000

struct writer {
    uint16_t port;
    atomic_bool stop;
    atomic_bool scanning; /* set by the scanner after its first page */
    atomic_long sets, removes; /* read by the scanner while the writer runs */
    char error[256];
};

/* Remove k:i for every i = 3 (mod 7) in a scattered order, and add keys that sort
 * between the old ones; pipelined in batches; until told to stop or all are done. */
static void *writer_main(void *p)
{
    struct writer *w = p;
    struct timeval tv = {.tv_sec = 20};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", w->port, tv);
    if (!c || c->err) {
        snprintf(w->error, sizeof(w->error), "connect failed");
        return NULL;
    }
    redisSetTimeout(c, tv);
    for (long long end = now_ms() + 20000; !atomic_load(&w->scanning) && now_ms() < end;)
        sched_yield();
    int victims = 0;
    for (int i = 3; i < BIG_N; i += 7)
        victims++;
    for (int done = 0; done < victims && !atomic_load(&w->stop);) {
        int batch = 0;
        for (; batch < 50 && done < victims; batch++, done++) {
            int i = 3 + 7 * (int)(((long)done * 7919) % victims); /* a permutation */
            redisAppendCommand(c, "DEL k:%06d", i);
            redisAppendCommand(c, "SET k:%06d:new%d v", (i * 31) % BIG_N, done);
        }
        for (int j = 0; j < 2 * batch; j++) {
            redisReply *r;
            if (redisGetReply(c, (void **)&r) != REDIS_OK) {
                snprintf(w->error, sizeof(w->error), "reply: %s", c->errstr);
                redisFree(c);
                return NULL;
            }
            if (r->type == REDIS_REPLY_INTEGER)
                w->removes += r->integer;
            else
                w->sets++;
            freeReplyObject(r);
        }
    }
    redisFree(c);
    return NULL;
}

struct big_tally {
    unsigned char seen[BIG_N];
    long new_keys, total, bad;
};

static void big_count(const char *key, size_t len, void *arg)
{
    struct big_tally *t = arg;
    t->total++;
    if (len == 8 && memcmp(key, "k:", 2) == 0) {
        int i = atoi(key + 2);
        if (t->seen[i] < 255)
            t->seen[i]++;
    } else if (len > 12 && memcmp(key, "k:", 2) == 0 && strstr(key, ":new")) {
        t->new_keys++;
    } else {
        t->bad++;
    }
}

START_TEST(concurrent_writes)
{
    fill_keys(ctx, "k:", 6, BIG_N);
    struct writer w = {.port = srv.port};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, writer_main, &w), 0);
    struct big_tally *t = calloc(1, sizeof(*t));
    ck_assert_ptr_nonnull(t);
    const char *opts[] = {"COUNT", "20", NULL};
    uint64_t cursor = 0;
    long calls = 0;
    do {
        cursor = scan_page(ctx, cursor, opts, big_count, t, NULL);
        /* every write comes after the scan began; on a busy machine the scan
         * could end before the writer ran at all, so let it start first */
        if (!atomic_exchange(&w.scanning, true))
            for (long long end = now_ms() + 10000; atomic_load(&w.removes) < 150 && now_ms() < end;)
                usleep(1000);
    } while (cursor != 0 && ++calls < 100000);
    long removes_during = atomic_load(&w.removes);
    atomic_store(&w.stop, true);
    pthread_join(th, NULL);
    ck_assert_msg(w.error[0] == '\0', "writer: %s", w.error);
    ck_assert_uint_eq(cursor, 0);
    /* the writes really overlapped the scan */
    ck_assert_msg(removes_during > 100, "only %ld removes during the scan", removes_during);
    fprintf(stderr, "scan: %ld calls, %ld keys (%ld new) while %ld removes and %ld sets\n",
            calls + 1, t->total, t->new_keys, atomic_load(&w.removes), atomic_load(&w.sets));
    ck_assert_int_eq(t->bad, 0);
    for (int i = 0; i < BIG_N; i++) {
        if (i % 7 == 3)
            ck_assert_int_le(t->seen[i], 1); /* removed meanwhile: maybe, at most once */
        else
            ck_assert_msg(t->seen[i] == 1, "k:%06d seen %d times", i, t->seen[i]);
    }
    ck_assert_uint_eq(info_field(ctx, "scan_cursors_unknown"), 0);
    free(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scan");
    TCase *tc = tcase_create("scan");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, every_key_once);
    tcase_add_test(tc, count_bounds_pages);
    tcase_add_test(tc, empty_store_and_end);
    tcase_add_test(tc, match);
    tcase_add_test(tc, type_option);
    tcase_add_test(tc, errors);
    tcase_add_test(tc, unknown_cursor_restarts);
    tcase_add_test(tc, resume_key_removed);
    tcase_add_test(tc, keys_command);
    tcase_add_test(tc, concurrent_writes);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
