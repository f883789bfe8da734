/*
 * Expiry: values vanish for gets, exists, conditional writes and iterators
 * at their time; snapshots judge by their own moment; kvs_expire sets and
 * clears; expiries survive reopening; compaction reclaims expired values
 * and they stay gone after reopening. Time is moved with a fake clock.
 */
#include <stdlib.h>
#include <string.h>

#include "common/testutil.h"
#include "internal.h"

static _Atomic uint64_t fake_now; /* read by the background thread too */
static uint64_t fake_clock(void)
{
    return fake_now;
}

static void setup(void)
{
    tu_dir_setup();
    fake_now = 1700000000000ull;
    kvs__set_clock_ms(fake_clock);
}

static int get_rc(kvs_t *db, const char *key)
{
    void *v;
    size_t vl;
    int rc = kvs_get(db, key, strlen(key), &v, &vl);
    kvs_free(v);
    return rc;
}

static int count_keys(kvs_t *db, kvs_snapshot_t *snap)
{
    kvs_iter_t *it;
    ck_assert_kvs(kvs_iter_create(db, snap, &it), KVS_OK);
    int n = 0, rc;
    for (rc = kvs_iter_first(it); rc == KVS_OK; rc = kvs_iter_next(it))
        n++;
    ck_assert_kvs(rc, KVS_NOT_FOUND);
    kvs_iter_destroy(it);
    return n;
}

START_TEST(values_vanish_at_their_time)
{
    kvs_t *db = tu_open(tu_dir, KVS_SYNC_NONE, 64 * 1024);
    ck_assert_kvs(kvs_set_expire(db, "t", 1, "v", 1, fake_now + 100, 0), KVS_OK);
    ck_assert_kvs(kvs_set(db, "p", 1, "v", 1), KVS_OK);
    uint64_t exp;
    ck_assert_kvs(kvs_get_expire(db, "t", 1, &exp), KVS_OK);
    ck_assert_uint_eq(exp, fake_now + 100);
    ck_assert_kvs(kvs_get_expire(db, "p", 1, &exp), KVS_OK);
    ck_assert_uint_eq(exp, 0);
    kvs_snapshot_t *snap;
    ck_assert_kvs(kvs_snapshot_create(db, &snap), KVS_OK);
    fake_now += 99;
    ck_assert_kvs(get_rc(db, "t"), KVS_OK);
    ck_assert_int_eq(count_keys(db, NULL), 2);
    fake_now += 1; /* the expiry time itself is past */
    ck_assert_kvs(get_rc(db, "t"), KVS_NOT_FOUND);
    ck_assert_kvs(kvs_exists(db, "t", 1), KVS_NOT_FOUND);
    ck_assert_kvs(kvs_get_expire(db, "t", 1, &exp), KVS_NOT_FOUND);
    ck_assert_uint_eq(exp, 0);
    ck_assert_int_eq(count_keys(db, NULL), 1);
    /* the snapshot was taken before: it still sees the value */
    ck_assert_int_eq(count_keys(db, snap), 2);
    void *v;
    size_t vl;
    ck_assert_kvs(kvs_snapshot_get(snap, "t", 1, &v, &vl), KVS_OK);
    kvs_free(v);
    kvs_snapshot_release(snap);
    /* an expired key is absent for writes too */
    ck_assert_kvs(kvs_remove(db, "t", 1), KVS_NOT_FOUND);
    ck_assert_kvs(kvs_expire(db, "t", 1, 0), KVS_NOT_FOUND);
    ck_assert_kvs(kvs_set_ex(db, "t", 1, "again", 5, KVS_SET_IF_PRESENT), KVS_NOT_FOUND);
    ck_assert_kvs(kvs_set_ex(db, "t", 1, "again", 5, KVS_SET_IF_ABSENT), KVS_OK);
    ck_assert_kvs(get_rc(db, "t"), KVS_OK);
    /* a time already past writes a value that is already gone */
    ck_assert_kvs(kvs_set_expire(db, "past", 4, "v", 1, fake_now - 1, 0), KVS_OK);
    ck_assert_kvs(get_rc(db, "past"), KVS_NOT_FOUND);
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

START_TEST(expire_sets_clears_and_keep_keeps)
{
    kvs_t *db = tu_open(tu_dir, KVS_SYNC_NONE, 64 * 1024);
    uint64_t exp;
    ck_assert_kvs(kvs_expire(db, "nope", 4, fake_now + 5), KVS_NOT_FOUND);
    ck_assert_kvs(kvs_set(db, "k", 1, "value", 5), KVS_OK);
    ck_assert_kvs(kvs_expire(db, "k", 1, fake_now + 50), KVS_OK);
    ck_assert_kvs(kvs_get_expire(db, "k", 1, &exp), KVS_OK);
    ck_assert_uint_eq(exp, fake_now + 50);
    /* KEEPTTL keeps it; a plain set drops it */
    ck_assert_kvs(kvs_set_expire(db, "k", 1, "kept", 4, 0, KVS_SET_KEEP_EXPIRY), KVS_OK);
    ck_assert_kvs(kvs_get_expire(db, "k", 1, &exp), KVS_OK);
    ck_assert_uint_eq(exp, fake_now + 50);
    ck_assert_kvs(kvs_set_expire(db, "k", 1, "x", 1, 5, KVS_SET_KEEP_EXPIRY), KVS_EINVAL);
    ck_assert_kvs(kvs_set(db, "k", 1, "plain", 5), KVS_OK);
    ck_assert_kvs(kvs_get_expire(db, "k", 1, &exp), KVS_OK);
    ck_assert_uint_eq(exp, 0);
    /* persist (clear) */
    ck_assert_kvs(kvs_expire(db, "k", 1, fake_now + 10), KVS_OK);
    ck_assert_kvs(kvs_expire(db, "k", 1, 0), KVS_OK);
    fake_now += 1000;
    void *v;
    size_t vl;
    ck_assert_kvs(kvs_get(db, "k", 1, &v, &vl), KVS_OK);
    ck_assert(vl == 5 && memcmp(v, "plain", 5) == 0);
    kvs_free(v);
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

START_TEST(expiries_survive_reopening)
{
    kvs_t *db = tu_open(tu_dir, KVS_SYNC_NONE, 4096);
    char k[16];
    for (int i = 0; i < 300; i++) {
        snprintf(k, sizeof(k), "k%03d", i);
        ck_assert_kvs(kvs_set_expire(db, k, strlen(k), "v", 1, i % 2 ? fake_now + 1000 : 0, 0),
                      KVS_OK);
    }
    ck_assert_kvs(kvs_close(db), KVS_OK);
    for (int pass = 0; pass < 2; pass++) { /* hints, then a scan */
        if (pass == 1)
            tu_remove_files(tu_dir, ".hint");
        db = tu_open(tu_dir, KVS_SYNC_NONE, 4096);
        uint64_t exp;
        ck_assert_kvs(kvs_get_expire(db, "k001", 4, &exp), KVS_OK);
        ck_assert_uint_eq(exp, fake_now + 1000);
        ck_assert_int_eq(count_keys(db, NULL), 300);
        kvs_iter_t *it;
        ck_assert_kvs(kvs_iter_create(db, NULL, &it), KVS_OK);
        ck_assert_kvs(kvs_iter_seek(it, "k001", 4), KVS_OK);
        ck_assert_kvs(kvs_iter_expire(it, &exp), KVS_OK);
        ck_assert_uint_eq(exp, fake_now + 1000);
        ck_assert_kvs(kvs_iter_next(it), KVS_OK); /* k002: no expiry */
        ck_assert_kvs(kvs_iter_expire(it, &exp), KVS_OK);
        ck_assert_uint_eq(exp, 0);
        kvs_iter_destroy(it);
        fake_now += 1000;
        ck_assert_int_eq(count_keys(db, NULL), 150);
        fake_now -= 1000;
        ck_assert_kvs(kvs_close(db), KVS_OK);
    }
}
END_TEST

START_TEST(compaction_reclaims_expired_values)
{
    kvs_t *db = tu_open(tu_dir, KVS_SYNC_NONE, 64 * 1024);
    char k[16], v[200];
    memset(v, 'x', sizeof(v));
    for (int i = 0; i < 2000; i++) {
        snprintf(k, sizeof(k), "k%04d", i);
        ck_assert_kvs(kvs_set_expire(db, k, strlen(k), v, sizeof(v), i < 1500 ? fake_now + 10 : 0,
                                     0),
                      KVS_OK);
    }
    ck_assert_kvs(kvs_compact(db), KVS_OK);
    long before = tu_dir_bytes(tu_dir);
    fake_now += 10;
    ck_assert_kvs(kvs_compact(db), KVS_OK);
    long after = tu_dir_bytes(tu_dir);
    ck_assert_msg(after < before / 2, "%ld bytes before, %ld after", before, after);
    uint64_t keys;
    ck_assert_kvs(kvs_stat(db, KVS_STAT_KEYS, &keys), KVS_OK);
    ck_assert_uint_eq(keys, 500);
    ck_assert_int_eq(count_keys(db, NULL), 500);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    /* even with time set back, what compaction removed stays removed */
    fake_now -= 10;
    db = tu_open(tu_dir, KVS_SYNC_NONE, 64 * 1024);
    ck_assert_kvs(get_rc(db, "k0000"), KVS_NOT_FOUND);
    ck_assert_kvs(get_rc(db, "k1999"), KVS_OK);
    ck_assert_int_eq(count_keys(db, NULL), 500);
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

static Suite *expiry_suite(void)
{
    Suite *s = suite_create("expiry");
    TCase *tc = tcase_create("expiry");
    tcase_add_checked_fixture(tc, setup, tu_dir_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, values_vanish_at_their_time);
    tcase_add_test(tc, expire_sets_clears_and_keep_keeps);
    tcase_add_test(tc, expiries_survive_reopening);
    tcase_add_test(tc, compaction_reclaims_expired_values);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(expiry_suite());
}
