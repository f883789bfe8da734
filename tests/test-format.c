/*
 * Stores written by older libraries open and read correctly: a fixture
 * written by libkvs 1.0.0 (on-disk format version 1, see
 * tests/fixtures/format-v1-writer.c) is opened, read, iterated, written to
 * and reopened.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/testutil.h"

#ifndef KVS_FIXTURES
#error "KVS_FIXTURES must name tests/fixtures"
#endif

/* Copy the fixture into the test's directory: opening a store writes. */
static void copy_fixture(const char *name)
{
    char cmd[4096];
    snprintf(cmd, sizeof(cmd), "cp '%s/%s'/* '%s'/", KVS_FIXTURES, name, tu_dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* What format-v1-writer.c left: fixture-NNN for N < 120, "second-NNN" for
 * N % 3 == 0, "first-NNN" otherwise, removed for N % 7 == 0; plus "empty"
 * (empty value) and "bin\0key" = "\0\xff\x01". */
static int expected(int i, char *val, size_t cap)
{
    if (i % 7 == 0)
        return 0;
    snprintf(val, cap, "%s-%03d", i % 3 == 0 ? "second" : "first", i);
    return 1;
}

static void check_v1_contents(kvs_t *db)
{
    for (int i = 0; i < 120; i++) {
        char k[32], want[32];
        snprintf(k, sizeof(k), "fixture-%03d", i);
        void *v;
        size_t vl;
        int rc = kvs_get(db, k, strlen(k), &v, &vl);
        if (!expected(i, want, sizeof(want))) {
            ck_assert_kvs(rc, KVS_NOT_FOUND);
            continue;
        }
        ck_assert_kvs(rc, KVS_OK);
        ck_assert_uint_eq(vl, strlen(want));
        ck_assert(memcmp(v, want, vl) == 0);
        kvs_free(v);
    }
    void *v;
    size_t vl;
    ck_assert_kvs(kvs_get(db, "empty", 5, &v, &vl), KVS_OK);
    ck_assert_uint_eq(vl, 0);
    kvs_free(v);
    ck_assert_kvs(kvs_get(db, "bin\0key", 7, &v, &vl), KVS_OK);
    ck_assert(vl == 3 && memcmp(v, "\0\xff\x01", 3) == 0);
    kvs_free(v);
}

/* In key order: "bin\0key", "empty", then the fixture keys left. */
static void check_v1_order(kvs_t *db)
{
    kvs_iter_t *it;
    ck_assert_kvs(kvs_iter_create(db, NULL, &it), KVS_OK);
    int n = 0, rc, next_fixture = 0;
    for (rc = kvs_iter_first(it); rc == KVS_OK; rc = kvs_iter_next(it), n++) {
        const void *k;
        size_t kl;
        ck_assert_kvs(kvs_iter_key(it, &k, &kl), KVS_OK);
        if (n == 0) {
            ck_assert(kl == 7 && memcmp(k, "bin\0key", 7) == 0);
            continue;
        }
        if (n == 1) {
            ck_assert(kl == 5 && memcmp(k, "empty", 5) == 0);
            continue;
        }
        char want[32];
        while (next_fixture % 7 == 0)
            next_fixture++;
        snprintf(want, sizeof(want), "fixture-%03d", next_fixture++);
        ck_assert(kl == strlen(want) && memcmp(k, want, kl) == 0);
    }
    ck_assert_kvs(rc, KVS_NOT_FOUND);
    ck_assert_int_eq(n, 2 + 120 - 18);
    kvs_iter_destroy(it);
}

START_TEST(format_v1_store_opens_and_reads)
{
    copy_fixture("format-v1");
    kvs_t *db;
    kvs_options_t *o = kvs_options_create();
    kvs_options_set_create_if_missing(o, 0);
    ck_assert_kvs(kvs_open(tu_dir, o, &db), KVS_OK);
    check_v1_contents(db);
    check_v1_order(db);
    ck_assert_kvs(kvs_set(db, "after", 5, "upgrade", 7), KVS_OK);
    ck_assert_kvs(kvs_compact(db), KVS_OK); /* rewrites the old segments */
    ck_assert_kvs(kvs_close(db), KVS_OK);
    ck_assert_kvs(kvs_open(tu_dir, o, &db), KVS_OK);
    kvs_options_destroy(o);
    check_v1_contents(db);
    void *v;
    size_t vl;
    ck_assert_kvs(kvs_get(db, "after", 5, &v, &vl), KVS_OK);
    ck_assert(vl == 7 && memcmp(v, "upgrade", 7) == 0);
    kvs_free(v);
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

/* Read-only: nothing in the directory changes. */
START_TEST(format_v1_store_opens_read_only)
{
    copy_fixture("format-v1");
    long before = tu_dir_bytes(tu_dir);
    kvs_options_t *o = kvs_options_create();
    kvs_options_set_read_only(o, 1);
    kvs_t *db;
    ck_assert_kvs(kvs_open(tu_dir, o, &db), KVS_OK);
    kvs_options_destroy(o);
    check_v1_contents(db);
    check_v1_order(db);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    ck_assert_int_eq(tu_dir_bytes(tu_dir), before);
}
END_TEST

static Suite *format_suite(void)
{
    Suite *s = suite_create("format");
    TCase *tc = tcase_create("older formats");
    tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
    tcase_add_test(tc, format_v1_store_opens_and_reads);
    tcase_add_test(tc, format_v1_store_opens_read_only);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(format_suite());
}
