/*
 * The index saved at close (INDEX): loaded by the next open, dropped once
 * the store changes, never trusted when stale or damaged (see doc/FORMAT.md).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/testutil.h"

enum { SNAP_KEYS = 60000 };

static void write_index_file_store(const char *dir, int from, int to, int version)
{
    kvs_t *db = tu_open(dir, KVS_SYNC_NONE, 0);
    for (int i = from; i < to; i++) {
        char k[16], v[16];
        int kl = snprintf(k, sizeof(k), "s%d", i);
        int vl = snprintf(v, sizeof(v), "v%d.%d", i, version);
        ck_assert_kvs(kvs_set(db, k, (size_t)kl, v, (size_t)vl), KVS_OK);
    }
    ck_assert_kvs(kvs_close(db), KVS_OK);
}

static void check_index_file_store(kvs_t *db, int n, int version_from, int version)
{
    for (int i = 0; i < n; i++) {
        char k[16], v[16];
        int kl = snprintf(k, sizeof(k), "s%d", i);
        snprintf(v, sizeof(v), "v%d.%d", i, i >= version_from ? version : 0);
        void *got;
        size_t len;
        ck_assert_kvs(kvs_get(db, k, (size_t)kl, &got, &len), KVS_OK);
        ck_assert_str_eq(got, v);
        kvs_free(got);
    }
}

static uint64_t stat_of(kvs_t *db, kvs_stat_t which)
{
    uint64_t v;
    ck_assert_kvs(kvs_stat(db, which, &v), KVS_OK);
    return v;
}

START_TEST(saved_index_is_loaded_then_dropped)
{
    write_index_file_store(tu_dir, 0, SNAP_KEYS, 0);
    char *snap = tu_path(tu_dir, "INDEX");
    ck_assert_int_eq(access(snap, F_OK), 0);
    kvs_t *db = tu_open(tu_dir, KVS_SYNC_NONE, 0);
    ck_assert_uint_eq(stat_of(db, KVS_STAT_INDEX_SNAPSHOT_LOADED), 1);
    ck_assert_uint_eq(stat_of(db, KVS_STAT_KEYS), SNAP_KEYS);
    /* removed by the background thread soon after open (bounded wait) */
    for (int i = 0; i < 500 && access(snap, F_OK) == 0; i++)
        usleep(10000);
    ck_assert_int_eq(access(snap, F_OK), -1);
    check_index_file_store(db, SNAP_KEYS, 0, 0);
    /* the loaded index takes writes and removals like a replayed one */
    tu_set_str(db, "s7", "v7.0");
    ck_assert_kvs(kvs_remove(db, "s8", 2), KVS_OK);
    ck_assert_kvs(kvs_set(db, "s8", 2, "v8.0", 4), KVS_OK);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    db = tu_open(tu_dir, KVS_SYNC_NONE, 0);
    check_index_file_store(db, SNAP_KEYS, 0, 0);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    free(snap);
}
END_TEST

/* A record of 16 MiB or more does not fit the narrow saved entry: the INDEX
 * is saved with wide entries, and still loads. */
START_TEST(saved_index_with_a_huge_record)
{
    write_index_file_store(tu_dir, 0, SNAP_KEYS, 0);
    size_t big_len = (16u << 20) + 100;
    char *big = malloc(big_len);
    ck_assert_ptr_nonnull(big);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (char)(i * 7);
    kvs_t *db = tu_open(tu_dir, KVS_SYNC_NONE, 0);
    ck_assert_kvs(kvs_set(db, "big", 3, big, big_len), KVS_OK);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    db = tu_open(tu_dir, KVS_SYNC_NONE, 0);
    ck_assert_uint_eq(stat_of(db, KVS_STAT_INDEX_SNAPSHOT_LOADED), 1);
    check_index_file_store(db, SNAP_KEYS, 0, 0);
    void *got;
    size_t len;
    ck_assert_kvs(kvs_get(db, "big", 3, &got, &len), KVS_OK);
    ck_assert_uint_eq(len, big_len);
    ck_assert_int_eq(memcmp(got, big, big_len), 0);
    kvs_free(got);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    free(big);
}
END_TEST

/* An INDEX from an earlier close describes other segments: ignored. */
START_TEST(stale_saved_index_is_ignored)
{
    write_index_file_store(tu_dir, 0, SNAP_KEYS, 0);
    char *snap = tu_path(tu_dir, "INDEX"), *old = tu_path(tu_dir, "old-index");
    tu_copy_file(snap, old);
    write_index_file_store(tu_dir, SNAP_KEYS / 2, SNAP_KEYS, 1);
    rename(old, snap);
    kvs_t *db = tu_open(tu_dir, KVS_SYNC_NONE, 0);
    ck_assert_uint_eq(stat_of(db, KVS_STAT_INDEX_SNAPSHOT_LOADED), 0);
    check_index_file_store(db, SNAP_KEYS, SNAP_KEYS / 2, 1);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    free(snap);
    free(old);
}
END_TEST

START_TEST(damaged_saved_index_is_ignored)
{
    write_index_file_store(tu_dir, 0, SNAP_KEYS, 0);
    char *snap = tu_path(tu_dir, "INDEX");
    long size = tu_file_size(snap);
    char *keep = tu_path(tu_dir, "keep");
    tu_copy_file(snap, keep);
    const long offsets[] = {3, 70, size / 2, size - 3};
    for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
        tu_copy_file(keep, snap);
        tu_flip_byte(snap, offsets[i]);
        kvs_t *db = tu_open_opts(tu_dir, 0, 1, 1); /* read-only: leaves INDEX alone */
        ck_assert_uint_eq(stat_of(db, KVS_STAT_INDEX_SNAPSHOT_LOADED), 0);
        check_index_file_store(db, SNAP_KEYS, 0, 0);
        ck_assert_kvs(kvs_close(db), KVS_OK);
    }
    tu_copy_file(keep, snap);
    tu_truncate(snap, size - 100);
    kvs_t *db = tu_open(tu_dir, KVS_SYNC_NONE, 0);
    ck_assert_uint_eq(stat_of(db, KVS_STAT_INDEX_SNAPSHOT_LOADED), 0);
    check_index_file_store(db, SNAP_KEYS, 0, 0);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    free(snap);
    free(keep);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("saved-index");
    TCase *tc = tcase_create("saved-index");
    tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, saved_index_is_loaded_then_dropped);
    tcase_add_test(tc, saved_index_with_a_huge_record);
    tcase_add_test(tc, stale_saved_index_is_ignored);
    tcase_add_test(tc, damaged_saved_index_is_ignored);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
