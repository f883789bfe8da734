/*
 * The kvs admin tool end to end: the program built in examples/admin (its
 * path in $KVS_ADMIN) run on stores this test makes and inspects through
 * the library. Dump and load round trip random binary data with expiries;
 * load refuses each kind of malformed line with its line number; check
 * finds a flipped byte; stats, backup, compact, get/set/rm/scan; a store
 * held by another handle gives the EBUSY message. Every run is bounded.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "run.h"
#include "../common/testutil.h"

#define RUN_TIMEOUT_MS 60000

static const char *tool;

/* ---- running the tool ---- */

/* kvs with the arguments (NULL-terminated), stdin from in (len bytes). */
static void kvs_run(struct run *r, const void *in, size_t len, ...)
{
    const char *argv[32] = {tool};
    int n = 1;
    va_list ap;
    va_start(ap, len);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL && n < 31;)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    ck_assert_int_eq(run_prog(argv, in, len, RUN_TIMEOUT_MS, r), 0);
    ck_assert_msg(r->status >= 0, "%s %s timed out", argv[1], argv[2] ? argv[2] : "");
}

#define KVS(r, ...) kvs_run((r), NULL, 0, __VA_ARGS__, (const char *)NULL)
#define KVS_IN(r, in, len, ...) kvs_run((r), (in), (len), __VA_ARGS__, (const char *)NULL)

static void expect_status(const struct run *r, int status)
{
    ck_assert_msg(r->status == status, "exit status %d, expected %d; stderr: %s", r->status,
                  status, r->err);
}

static void expect_err(const struct run *r, const char *text)
{
    ck_assert_msg(strstr(r->err, text), "stderr lacks '%s': %s", text, r->err);
}

static char *subdir(const char *name)
{
    return tu_path(tu_dir, name);
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- random stores ---- */

struct entry {
    unsigned char *key, *val;
    size_t klen, vlen;
    uint64_t expire;
};

/* Keys made unique by a counter in their first bytes; the rest random, rich
 * in the bytes the encoding must take care of. */
static void make_entries(struct entry *e, size_t n, uint64_t *st)
{
    static const unsigned char special[] = {0, '\n', '\\', '"', 0xff, ' ', '\r', 0x7f};
    uint64_t future = wall_ms() + 3600u * 1000u;
    for (size_t i = 0; i < n; i++) {
        e[i].klen = i == 0 ? KVS_KEY_MAX : 4 + tu_rand(st) % 40;
        e[i].vlen = i == 1 ? (1u << 20) : i % 5 == 0 ? 0 : tu_rand(st) % 1500;
        e[i].key = malloc(e[i].klen);
        e[i].val = malloc(e[i].vlen + 1);
        ck_assert(e[i].key && e[i].val);
        tu_fill(st, e[i].key, e[i].klen);
        tu_fill(st, e[i].val, e[i].vlen);
        for (size_t j = 4; j < e[i].klen; j += 2)
            e[i].key[j] = special[tu_rand(st) % sizeof(special)];
        for (size_t j = 0; j < e[i].vlen && j < 64; j += 3)
            e[i].val[j] = special[tu_rand(st) % sizeof(special)];
        memcpy(e[i].key, &(uint32_t){(uint32_t)i}, 4);
        e[i].expire = i % 4 == 1 ? future + tu_rand(st) % 100000 : 0;
    }
}

static void free_entries(struct entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(e[i].key);
        free(e[i].val);
    }
}

static void store_entries(const char *dir, const struct entry *e, size_t n)
{
    kvs_t *db = tu_open(dir, KVS_SYNC_NONE, 0);
    for (size_t i = 0; i < n; i++)
        ck_assert_kvs(
            kvs_set_expire(db, e[i].key, e[i].klen, e[i].val, e[i].vlen, e[i].expire, 0),
            KVS_OK);
    ck_assert_kvs(kvs_close(db), KVS_OK);
}

/* The store holds exactly the entries, values and expiries alike. */
static void expect_entries(const char *dir, const struct entry *e, size_t n)
{
    kvs_t *db = tu_open(dir, KVS_SYNC_NONE, 0);
    uint64_t keys;
    ck_assert_kvs(kvs_stat(db, KVS_STAT_KEYS, &keys), KVS_OK);
    ck_assert_uint_eq(keys, n);
    for (size_t i = 0; i < n; i++) {
        void *v;
        size_t vlen;
        uint64_t exp;
        ck_assert_kvs(kvs_get(db, e[i].key, e[i].klen, &v, &vlen), KVS_OK);
        ck_assert_uint_eq(vlen, e[i].vlen);
        ck_assert_msg(vlen == 0 || memcmp(v, e[i].val, vlen) == 0, "value %zu differs", i);
        kvs_free(v);
        ck_assert_kvs(kvs_get_expire(db, e[i].key, e[i].klen, &exp), KVS_OK);
        ck_assert_uint_eq(exp, e[i].expire);
    }
    ck_assert_kvs(kvs_close(db), KVS_OK);
}

/* A store of plain text keys. */
static void store_text(const char *dir, const char *const *kv)
{
    kvs_t *db = tu_open(dir, KVS_SYNC_NONE, 0);
    for (; *kv; kv += 2)
        ck_assert_kvs(kvs_set(db, kv[0], strlen(kv[0]), kv[1], strlen(kv[1])), KVS_OK);
    ck_assert_kvs(kvs_close(db), KVS_OK);
}

/* ---- dump and load ---- */

START_TEST(dump_load_round_trip_of_random_binary_data)
{
    uint64_t st = tu_seed();
    enum { N = 400 };
    struct entry e[N];
    make_entries(e, N, &st);
    char *src = subdir("src"), *dst = subdir("dst");
    store_entries(src, e, N);

    struct run dump, load, again;
    KVS(&dump, "dump", src);
    expect_status(&dump, 0);
    ck_assert(strncmp(dump.out, "KVS-DUMP 1\n", 11) == 0);
    ck_assert_ptr_nonnull(strstr(dump.out, "\nEND 400\n"));
    KVS_IN(&load, dump.out, dump.out_len, "load", "--batch", "7", dst);
    expect_status(&load, 0);
    expect_entries(dst, e, N);
    KVS(&again, "dump", dst);
    expect_status(&again, 0);
    ck_assert_uint_eq(again.out_len, dump.out_len);
    ck_assert(memcmp(again.out, dump.out, dump.out_len) == 0);

    run_free(&dump);
    run_free(&load);
    run_free(&again);
    free_entries(e, N);
    free(src);
    free(dst);
}
END_TEST

START_TEST(dump_of_an_empty_store_and_of_ranges)
{
    char *dir = subdir("db");
    store_text(dir, (const char *const[]){NULL});
    struct run r;
    KVS(&r, "dump", dir);
    expect_status(&r, 0);
    ck_assert_str_eq(r.out, "KVS-DUMP 1\nEND 0\n");
    run_free(&r);

    store_text(dir, (const char *const[]){"a1", "x", "a2", "y", "b1", "z", "b2", "w", "c", "v",
                                          NULL});
    KVS(&r, "dump", dir, "--prefix", "a");
    ck_assert_str_eq(r.out, "KVS-DUMP 1\n\"a1\" \"x\"\n\"a2\" \"y\"\nEND 2\n");
    run_free(&r);
    KVS(&r, "dump", "--start", "a2", "--end", "c", dir);
    ck_assert_str_eq(r.out, "KVS-DUMP 1\n\"a2\" \"y\"\n\"b1\" \"z\"\n\"b2\" \"w\"\nEND 3\n");
    run_free(&r);
    KVS(&r, "dump", "-x", "--start", "\"\\x62\"", dir);
    ck_assert_str_eq(r.out, "KVS-DUMP 1\n\"b1\" \"z\"\n\"b2\" \"w\"\n\"c\" \"v\"\nEND 3\n");
    run_free(&r);
    KVS(&r, "dump", "--prefix", "a", "--end", "b", dir);
    expect_status(&r, 2);
    ck_assert_str_eq(r.out, "");
    run_free(&r);
    free(dir);
}
END_TEST

START_TEST(load_merges_into_a_store_and_writes_expired_entries_as_gone)
{
    char *dir = subdir("db");
    store_text(dir, (const char *const[]){"keep", "1", "replace", "old", "expire", "soon", NULL});
    static const char dump[] = "KVS-DUMP 1\n"
                               "\"replace\" \"new\" 99999999999999\n"
                               "\"expire\" \"gone\" 1\n"
                               "\"added\" \"\"\n"
                               "END 3\n";
    struct run r;
    KVS_IN(&r, dump, sizeof(dump) - 1, "load", dir);
    expect_status(&r, 0);
    run_free(&r);
    KVS(&r, "scan", dir);
    expect_status(&r, 0);
    ck_assert_str_eq(r.out, "\"added\" \"\"\n\"keep\" \"1\"\n\"replace\" \"new\" 99999999999999\n");
    run_free(&r);
    free(dir);
}
END_TEST

/* One malformed line, and what the tool must say about it. */
static const struct {
    const char *input;
    const char *says;
} bad_loads[] = {
    {"", "line 1: the input is empty"},
    {"KVS-DUMP 9\n", "line 1, byte 11: dump format version 9 is not supported"},
    {"\"a\" \"b\"\nEND 1\n", "line 1, byte 8: not a kvs dump"},
    {"KVS-DUMP 1\n\"a\" \"b\"\n", "line 3: the input ends without the END line"},
    {"KVS-DUMP 1\n\"a\" \"b\"\r\nEND 1\n", "line 2, byte 8: expected the end of the line"},
    {"KVS-DUMP 1\n\"ok\" \"1\"\n\"a\tb\" \"v\"\nEND 2\n", "line 3, byte 3: byte 0x09"},
    {"KVS-DUMP 1\n\"a\" \"\\u0041\"\nEND 1\n", "line 2, byte 7: unknown escape"},
    {"KVS-DUMP 1\n\"a\" \"\\x4\"\nEND 1\n", "line 2, byte 9: \\x in the value"},
    {"KVS-DUMP 1\n\"\" \"b\"\nEND 1\n", "line 2, byte 2: the key is empty"},
    {"KVS-DUMP 1\n\"a\"  \"b\"\nEND 1\n", "line 2, byte 5: expected one space"},
    {"KVS-DUMP 1\n\"a\" \"b\" soon\nEND 1\n", "line 2, byte 9: the expiry must be decimal"},
    {"KVS-DUMP 1\n\"a\" \"b\" 99999999999999999999\nEND 1\n", "line 2, byte 28: the expiry is larger"},
    {"KVS-DUMP 1\n\"a\" \"b\"\n\nEND 1\n", "line 3, byte 1: empty line"},
    {"KVS-DUMP 1\n\"a\" \"b\"\nEND 5\n", "line 3: the END line counts 5 entries, but 1"},
    {"KVS-DUMP 1\nEND 0\nmore\n", "line 3, byte 1: data after the END line"},
    {"KVS-DUMP 1\n\"a\n\" \"b\"\nEND 1\n", "line 2, byte 3: the line ends inside the key"},
};

START_TEST(load_rejects_each_kind_of_bad_line_with_its_number)
{
    char *dir = subdir("db");
    store_text(dir, (const char *const[]){"existing", "1", NULL});
    struct run r;
    KVS_IN(&r, bad_loads[_i].input, strlen(bad_loads[_i].input), "load", dir);
    expect_status(&r, 2);
    expect_err(&r, bad_loads[_i].says);
    expect_err(&r, "nothing was written");
    run_free(&r);
    KVS(&r, "scan", "-k", dir); /* nothing was */
    ck_assert_str_eq(r.out, "\"existing\"\n");
    run_free(&r);
    free(dir);
}
END_TEST

START_TEST(load_of_a_non_dump_creates_no_store)
{
    char *dir = subdir("new");
    struct run r;
    KVS_IN(&r, "hello\n", 6, "load", dir);
    expect_status(&r, 2);
    run_free(&r);
    struct stat st;
    ck_assert_int_ne(stat(dir, &st), 0);
    free(dir);
}
END_TEST

START_TEST(load_stops_at_a_bad_line_keeping_whole_batches)
{
    char *dir = subdir("db");
    size_t cap = 4096, len = 0;
    char *in = malloc(cap);
    ck_assert_ptr_nonnull(in);
    len += (size_t)sprintf(in + len, "KVS-DUMP 1\n");
    for (int i = 0; i < 25; i++)
        len += (size_t)sprintf(in + len, "\"k%02d\" \"v\"\n", i);
    len += (size_t)sprintf(in + len, "\"bad\" \"\\z\"\nEND 26\n");
    struct run r;
    KVS_IN(&r, in, len, "load", "--batch", "10", dir);
    expect_status(&r, 2);
    expect_err(&r, "line 27, byte 9: unknown escape");
    expect_err(&r, "20 entries were written, through line 21; nothing from line 22 on");
    run_free(&r);
    KVS(&r, "scan", "--keys-only", dir);
    expect_status(&r, 0);
    size_t lines = 0;
    for (const char *p = r.out; *p; p++)
        lines += *p == '\n';
    ck_assert_uint_eq(lines, 20);
    ck_assert(strncmp(r.out, "\"k00\"\n", 6) == 0);
    ck_assert_ptr_nonnull(strstr(r.out, "\"k19\"\n"));
    ck_assert_ptr_null(strstr(r.out, "\"k20\""));
    run_free(&r);
    free(in);
    free(dir);
}
END_TEST

START_TEST(load_refuses_keys_over_the_limit_without_crashing)
{
    char *dir = subdir("db");
    size_t len = 11 + 1 + (KVS_KEY_MAX + 1) + 16;
    char *in = malloc(len + 1);
    ck_assert_ptr_nonnull(in);
    size_t n = (size_t)sprintf(in, "KVS-DUMP 1\n\"");
    memset(in + n, 'k', KVS_KEY_MAX + 1);
    n += KVS_KEY_MAX + 1;
    n += (size_t)sprintf(in + n, "\" \"v\"\nEND 1\n");
    struct run r;
    KVS_IN(&r, in, n, "load", dir);
    expect_status(&r, 2);
    expect_err(&r, "line 2, byte 65537: the key is longer than 65535 bytes");
    run_free(&r);
    free(in);
    free(dir);
}
END_TEST

START_TEST(dump_to_a_full_disk_fails)
{
    char *dir = subdir("db");
    store_text(dir, (const char *const[]){"a", "b", NULL});
    char *cmd;
    ck_assert_int_ge(asprintf(&cmd, "exec '%s' dump '%s' > /dev/full", tool, dir), 0);
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    struct run r;
    ck_assert_int_eq(run_prog(argv, NULL, 0, RUN_TIMEOUT_MS, &r), 0);
    expect_status(&r, 2);
    expect_err(&r, "writing the output");
    run_free(&r);
    free(cmd);
    free(dir);
}
END_TEST

/* ---- check ---- */

START_TEST(check_of_a_clean_store_prints_nothing)
{
    uint64_t st = tu_seed();
    struct entry e[50];
    make_entries(e, 50, &st);
    char *dir = subdir("db");
    store_entries(dir, e, 50);
    struct run r;
    KVS(&r, "check", dir);
    expect_status(&r, 0);
    ck_assert_str_eq(r.out, "");
    run_free(&r);
    free_entries(e, 50);
    free(dir);
}
END_TEST

/* Records written one by one: the third starts at 64 + 2 * (11 + 2 + 100). */
static char *store_three_records(const char *dir, long *third)
{
    char val[101];
    memset(val, 'v', 100);
    kvs_t *db = tu_open(dir, KVS_SYNC_NONE, 0);
    for (int i = 0; i < 3; i++)
        ck_assert_kvs(kvs_set(db, (char[]){'k', (char)('0' + i)}, 2, val, 100), KVS_OK);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    *third = 64 + 2 * (11 + 2 + 100);
    char *seg = tu_last_file(dir, ".log");
    ck_assert_ptr_nonnull(seg);
    return seg;
}

START_TEST(check_names_the_file_and_offset_of_a_flipped_byte)
{
    char *dir = subdir("db");
    long third;
    char *seg = store_three_records(dir, &third);
    tu_flip_byte(seg, third + 11 + 2 + 50); /* in the third value */
    const char *name = strrchr(seg, '/') + 1;
    char want[64];
    snprintf(want, sizeof(want), "%s %ld record fails its checksum", name, third);
    struct run r;
    KVS(&r, "check", dir);
    expect_status(&r, 1);
    ck_assert_msg(strncmp(r.out, want, strlen(want)) == 0, "'%s' does not start with '%s'", r.out,
                  want);
    for (const char *line = r.out; *line; line = strchr(line, '\n') + 1) {
        char file[64];
        unsigned long long off;
        ck_assert_msg(sscanf(line, "%63s %llu ", file, &off) == 2, "line '%s'", line);
        ck_assert_msg(strcmp(file, name) == 0 || strcmp(file, "index") == 0, "line '%s'", line);
    }
    expect_err(&r, "found");
    run_free(&r);
    free(seg);
    free(dir);
}
END_TEST

START_TEST(check_reports_a_damaged_segment_header)
{
    char *dir = subdir("db");
    long third;
    char *seg = store_three_records(dir, &third);
    tu_flip_byte(seg, 20); /* the flags word of the header */
    struct run r;
    KVS(&r, "check", dir);
    expect_status(&r, 1);
    ck_assert_msg(strncmp(r.out, "- 0 segment ", 12) == 0, "%s", r.out);
    ck_assert_ptr_nonnull(strstr(r.out, "header"));
    run_free(&r);
    free(seg);
    free(dir);
}
END_TEST

START_TEST(dump_leaves_out_damaged_records_and_says_so)
{
    char *dir = subdir("db");
    long third;
    char *seg = store_three_records(dir, &third);
    tu_flip_byte(seg, third + 11 + 2 + 50);
    struct run r;
    KVS(&r, "dump", dir);
    expect_status(&r, 1);
    ck_assert_ptr_nonnull(strstr(r.out, "\nEND 2\n"));
    expect_err(&r, "after key \"k1\"");
    expect_err(&r, "1 damaged record left out");
    run_free(&r);
    free(seg);
    free(dir);
}
END_TEST

/* ---- stats, backup, compact ---- */

START_TEST(stats_prints_every_statistic_by_name)
{
    char *dir = subdir("db");
    store_text(dir, (const char *const[]){"a", "1", "b", "2", "c", "3", NULL});
    struct run r;
    KVS(&r, "stats", dir);
    expect_status(&r, 0);
    const char *line = r.out;
    for (int i = 0; i < KVS_STAT_COUNT_; i++) {
        const char *name = kvs_stat_name((kvs_stat_t)i);
        size_t n = strlen(name);
        ck_assert_msg(strncmp(line, name, n) == 0 && line[n] == ' ', "line %d: '%.40s'", i, line);
        char *end;
        unsigned long long v = strtoull(line + n + 1, &end, 10);
        ck_assert_msg(*end == '\n' && end > line + n + 1, "line %d: '%.40s'", i, line);
        if (i == KVS_STAT_KEYS)
            ck_assert_uint_eq(v, 3);
        line = end + 1;
    }
    ck_assert_str_eq(line, "");
    run_free(&r);

    KVS(&r, "stats", "--json", dir);
    expect_status(&r, 0);
    ck_assert(strncmp(r.out, "{\n  \"keys\": 3,\n", 15) == 0);
    ck_assert_ptr_nonnull(strstr(r.out, "\"order_runs\": "));
    ck_assert(r.out_len >= 2 && strcmp(r.out + r.out_len - 2, "}\n") == 0);
    run_free(&r);
    free(dir);
}
END_TEST

START_TEST(backup_dumps_as_the_source)
{
    uint64_t st = tu_seed();
    struct entry e[100];
    make_entries(e, 100, &st);
    char *src = subdir("src"), *dst = subdir("backup");
    store_entries(src, e, 100);
    struct run r, a, b;
    KVS(&r, "backup", src, dst);
    expect_status(&r, 0);
    run_free(&r);
    KVS(&a, "dump", src);
    KVS(&b, "dump", dst);
    expect_status(&a, 0);
    expect_status(&b, 0);
    ck_assert_uint_eq(a.out_len, b.out_len);
    ck_assert(memcmp(a.out, b.out, a.out_len) == 0);
    run_free(&a);
    run_free(&b);
    KVS(&r, "backup", src, dst);
    expect_status(&r, 2);
    expect_err(&r, "exists and is not an empty directory");
    run_free(&r);
    free_entries(e, 100);
    free(src);
    free(dst);
}
END_TEST

START_TEST(compact_keeps_the_data_and_frees_space)
{
    char *dir = subdir("db");
    char val[1000];
    memset(val, 'x', sizeof(val));
    for (int round = 0; round < 4; round++) {
        kvs_t *db = tu_open(dir, KVS_SYNC_NONE, 0);
        for (int i = 0; i < 200; i++) {
            char key[16];
            snprintf(key, sizeof(key), "key%03d", i);
            val[0] = (char)('a' + round);
            ck_assert_kvs(kvs_set(db, key, strlen(key), val, sizeof(val)), KVS_OK);
        }
        ck_assert_kvs(kvs_close(db), KVS_OK);
    }
    struct run before, r, after;
    KVS(&before, "dump", dir);
    KVS(&r, "compact", dir);
    expect_status(&r, 0);
    unsigned long long s0, s1, b0, b1;
    ck_assert_msg(sscanf(r.out, "segments %llu -> %llu, bytes %llu -> %llu", &s0, &s1, &b0, &b1) ==
                      4,
                  "%s", r.out);
    ck_assert_uint_lt(b1, b0);
    KVS(&after, "dump", dir);
    ck_assert_str_eq(after.out, before.out);
    run_free(&before);
    run_free(&r);
    run_free(&after);
    free(dir);
}
END_TEST

/* ---- get, set, rm, scan ---- */

START_TEST(get_set_rm_and_scan_for_scripts)
{
    char *dir = subdir("db");
    struct run r;
    KVS(&r, "set", dir, "greeting", "hello world");
    expect_status(&r, 0);
    run_free(&r);
    KVS(&r, "get", dir, "greeting");
    expect_status(&r, 0);
    ck_assert_str_eq(r.out, "hello world");
    run_free(&r);
    KVS(&r, "get", dir, "nothing");
    expect_status(&r, 1);
    expect_err(&r, "key not found");
    ck_assert_str_eq(r.out, "");
    run_free(&r);

    /* binary value from stdin, under a key with a NUL byte */
    KVS_IN(&r, "a\0b\n", 4, "set", "--stdin", "-x", dir, "\"bin\\x00key\"");
    expect_status(&r, 0);
    run_free(&r);
    KVS(&r, "get", "--escaped", dir, "\"bin\\x00key\"");
    expect_status(&r, 0);
    ck_assert_uint_eq(r.out_len, 4);
    ck_assert(memcmp(r.out, "a\0b\n", 4) == 0);
    run_free(&r);

    KVS(&r, "set", dir, "-t", "x"); /* an option it does not know */
    expect_status(&r, 2);
    run_free(&r);
    KVS(&r, "set", dir, "--", "-dash", "-1");
    expect_status(&r, 0);
    run_free(&r);

    uint64_t t0 = wall_ms();
    KVS(&r, "set", dir, "temp", "v", "--ttl", "600000");
    expect_status(&r, 0);
    run_free(&r);
    KVS(&r, "scan", dir);
    expect_status(&r, 0);
    const char *line = strstr(r.out, "\"temp\" \"v\" ");
    ck_assert_ptr_nonnull(line);
    unsigned long long exp = strtoull(line + 11, NULL, 10);
    ck_assert_uint_ge(exp, t0 + 600000);
    ck_assert_uint_le(exp, wall_ms() + 600000);
    static const char first[] = "\"-dash\" \"-1\"\n\"bin\\x00key\" \"a\\x00b\\x0a\"\n";
    ck_assert_msg(strncmp(r.out, first, strlen(first)) == 0, "%s", r.out);
    run_free(&r);

    KVS(&r, "set", dir, "old", "v", "--expire-at", "1000");
    expect_status(&r, 0);
    run_free(&r);
    KVS(&r, "get", dir, "old");
    expect_status(&r, 1);
    run_free(&r);

    KVS(&r, "scan", "-k", "-n", "2", dir);
    expect_status(&r, 0);
    ck_assert_str_eq(r.out, "\"-dash\"\n\"bin\\x00key\"\n");
    run_free(&r);
    KVS(&r, "scan", "--keys-only", "--prefix", "gr", dir);
    ck_assert_str_eq(r.out, "\"greeting\"\n");
    run_free(&r);

    KVS(&r, "rm", dir, "greeting");
    expect_status(&r, 0);
    run_free(&r);
    KVS(&r, "rm", dir, "greeting");
    expect_status(&r, 1);
    expect_err(&r, "key not found");
    run_free(&r);
    free(dir);
}
END_TEST

START_TEST(read_commands_never_change_the_store)
{
    char *dir = subdir("db");
    store_text(dir, (const char *const[]){"a", "1", NULL});
    char *seg = tu_last_file(dir, ".log");
    long size = tu_file_size(seg);
    int files = tu_count_files(dir, "");
    struct run r;
    static const char *const cmds[][2] = {{"stats", NULL}, {"check", NULL}, {"dump", NULL},
                                          {"get", "a"},    {"scan", NULL}};
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        KVS(&r, cmds[i][0], dir, cmds[i][1]);
        expect_status(&r, 0);
        run_free(&r);
    }
    ck_assert_int_eq(tu_file_size(seg), size);
    ck_assert_int_eq(tu_count_files(dir, ""), files);
    free(seg);
    free(dir);
}
END_TEST

/* ---- errors ---- */

START_TEST(a_store_open_elsewhere_is_refused_clearly)
{
    char *dir = subdir("db");
    store_text(dir, (const char *const[]){"a", "1", NULL});
    kvs_t *db = tu_open(dir, KVS_SYNC_NONE, 0); /* as a kvs-server would hold it */
    static const char *const cmds[][3] = {
        {"stats", NULL, NULL}, {"check", NULL, NULL}, {"dump", NULL, NULL},
        {"get", "a", NULL},    {"set", "a", "2"},     {"compact", NULL, NULL}};
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        struct run r;
        KVS(&r, cmds[i][0], dir, cmds[i][1], cmds[i][2]);
        expect_status(&r, 2);
        expect_err(&r, "the store is open in another process (is a kvs-server running on it?)");
        ck_assert_str_eq(r.out, "");
        run_free(&r);
    }
    ck_assert_kvs(kvs_close(db), KVS_OK);
    free(dir);
}
END_TEST

START_TEST(usage_errors_exit_2)
{
    char *dir = subdir("db");
    store_text(dir, (const char *const[]){"a", "1", NULL});
    char *none = subdir("none");
    static const char *const cases[][6] = {
        {NULL},
        {"frob", "x", NULL},
        {"get", NULL},
        {"get", "DIR", NULL},
        {"get", "DIR", "a", "b", NULL},
        {"get", "DIR", "a", "--json", NULL},
        {"scan", "DIR", "--prefix", "a", "--start", NULL},
        {"scan", "DIR", "--limit", "-3", NULL},
        {"load", "DIR", "--batch", "0", NULL},
        {"set", "DIR", "k", "v", "--ttl", NULL},
        {"set", "DIR", "k", NULL},
        {"set", "DIR", "", "v", NULL},
        {"get", "-x", "DIR", "unquoted", NULL},
        {"stats", "NONE", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *argv[8] = {tool};
        int n = 1;
        for (int j = 0; j < 6 && cases[i][j]; j++)
            argv[n++] = strcmp(cases[i][j], "DIR") == 0    ? dir
                        : strcmp(cases[i][j], "NONE") == 0 ? none
                                                           : cases[i][j];
        argv[n] = NULL;
        struct run r;
        ck_assert_int_eq(run_prog(argv, NULL, 0, RUN_TIMEOUT_MS, &r), 0);
        ck_assert_msg(r.status == 2, "case %zu: status %d, stderr %s", i, r.status, r.err);
        ck_assert_msg(strncmp(r.err, "kvs: ", 5) == 0, "case %zu: %s", i, r.err);
        run_free(&r);
    }
    struct stat st;
    ck_assert_int_ne(stat(none, &st), 0); /* no store created on the way */
    free(none);
    free(dir);
}
END_TEST

START_TEST(help_and_version)
{
    struct run r;
    KVS(&r, "--help");
    expect_status(&r, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "Usage: kvs"));
    ck_assert_ptr_nonnull(strstr(r.out, "Exit status"));
    run_free(&r);
    KVS(&r, "-V");
    expect_status(&r, 0);
    ck_assert(strncmp(r.out, "kvs " KVS_VERSION_STRING, 4 + strlen(KVS_VERSION_STRING)) == 0);
    run_free(&r);
}
END_TEST

int main(void)
{
    tool = getenv("KVS_ADMIN");
    if (!tool || !*tool) {
        fprintf(stderr, "KVS_ADMIN (the path of kvs) is not set\n");
        return 77;
    }
    Suite *s = suite_create("admin");
    TCase *tc = tcase_create("dump-load");
    tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, dump_load_round_trip_of_random_binary_data);
    tcase_add_test(tc, dump_of_an_empty_store_and_of_ranges);
    tcase_add_test(tc, load_merges_into_a_store_and_writes_expired_entries_as_gone);
    tcase_add_loop_test(tc, load_rejects_each_kind_of_bad_line_with_its_number, 0,
                        (int)(sizeof(bad_loads) / sizeof(bad_loads[0])));
    tcase_add_test(tc, load_of_a_non_dump_creates_no_store);
    tcase_add_test(tc, load_stops_at_a_bad_line_keeping_whole_batches);
    tcase_add_test(tc, load_refuses_keys_over_the_limit_without_crashing);
    tcase_add_test(tc, dump_to_a_full_disk_fails);
    suite_add_tcase(s, tc);

    tc = tcase_create("maintenance");
    tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, check_of_a_clean_store_prints_nothing);
    tcase_add_test(tc, check_names_the_file_and_offset_of_a_flipped_byte);
    tcase_add_test(tc, check_reports_a_damaged_segment_header);
    tcase_add_test(tc, dump_leaves_out_damaged_records_and_says_so);
    tcase_add_test(tc, stats_prints_every_statistic_by_name);
    tcase_add_test(tc, backup_dumps_as_the_source);
    tcase_add_test(tc, compact_keeps_the_data_and_frees_space);
    suite_add_tcase(s, tc);

    tc = tcase_create("commands");
    tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, get_set_rm_and_scan_for_scripts);
    tcase_add_test(tc, read_commands_never_change_the_store);
    tcase_add_test(tc, a_store_open_elsewhere_is_refused_clearly);
    tcase_add_test(tc, usage_errors_exit_2);
    tcase_add_test(tc, help_and_version);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
