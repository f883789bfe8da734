/* Options: defaults, range checks, NULL tolerance, copied at open. */
#include "common/testutil.h"
#include "options.h"

START_TEST(defaults)
{
    kvs_options_t *o = kvs_options_create();
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(o->sync, KVS_SYNC_INTERVAL);
    ck_assert_uint_eq(o->sync_interval_ms, 1000);
    ck_assert_uint_eq(o->segment_bytes, 64u << 20);
    ck_assert_uint_eq(o->compaction_trigger_percent, 20);
    ck_assert_int_eq(o->create_if_missing, 1);
    ck_assert_int_eq(o->read_only, 0);
    ck_assert_int_eq(o->repair, 0);
    ck_assert_int_eq(o->use_hints, 1);
    ck_assert_int_eq(o->write_through, -1);
    ck_assert_int_eq(kvs__options_validate(o), KVS_OK);
    kvs_options_destroy(o);
}
END_TEST

START_TEST(range_checks)
{
    kvs_options_t *o = kvs_options_create();
    ck_assert_kvs(kvs_options_set_segment_size(o, 4095), KVS_EINVAL);
    ck_assert_kvs(kvs_options_set_segment_size(o, (1u << 30) + 1), KVS_EINVAL);
    ck_assert_kvs(kvs_options_set_segment_size(o, 4096), KVS_OK);
    ck_assert_kvs(kvs_options_set_segment_size(o, 1u << 30), KVS_OK);
    ck_assert_kvs(kvs_options_set_sync_interval_ms(o, 0), KVS_EINVAL);
    ck_assert_kvs(kvs_options_set_sync_interval_ms(o, 60001), KVS_EINVAL);
    ck_assert_kvs(kvs_options_set_sync_interval_ms(o, 5), KVS_OK);
    ck_assert_kvs(kvs_options_set_compaction_trigger(o, 0), KVS_EINVAL);
    ck_assert_kvs(kvs_options_set_compaction_trigger(o, 101), KVS_EINVAL);
    ck_assert_kvs(kvs_options_set_compaction_trigger(o, 100), KVS_OK);
    ck_assert_uint_eq(o->segment_bytes, 1u << 30);
    ck_assert_uint_eq(o->sync_interval_ms, 5);
    ck_assert_uint_eq(o->compaction_trigger_percent, 100);
    kvs_options_destroy(o);
}
END_TEST

START_TEST(null_options_are_tolerated)
{
    kvs_options_set_sync(NULL, KVS_SYNC_ALWAYS);
    kvs_options_set_create_if_missing(NULL, 1);
    kvs_options_set_read_only(NULL, 1);
    kvs_options_set_repair(NULL, 1);
    kvs_options_set_use_hints(NULL, 1);
    kvs_options_set_logger(NULL, NULL, NULL);
    kvs_options_set_write_through(NULL, 1);
    ck_assert_kvs(kvs_options_set_segment_size(NULL, 4096), KVS_EINVAL);
    ck_assert_kvs(kvs_options_set_sync_interval_ms(NULL, 5), KVS_EINVAL);
    ck_assert_kvs(kvs_options_set_compaction_trigger(NULL, 5), KVS_EINVAL);
}
END_TEST

START_TEST(write_through_values)
{
    kvs_options_t *o = kvs_options_create();
    kvs_options_set_write_through(o, 1);
    ck_assert_int_eq(o->write_through, 1);
    kvs_options_set_write_through(o, 0);
    ck_assert_int_eq(o->write_through, 0);
    kvs_options_set_write_through(o, 7);
    ck_assert_int_eq(o->write_through, -1);
    kvs_options_destroy(o);
}
END_TEST

START_TEST(options_are_copied_at_open)
{
    kvs_options_t *o = kvs_options_create();
    kvs_options_set_sync(o, KVS_SYNC_NONE);
    kvs_t *db;
    ck_assert_kvs(kvs_open(tu_dir, o, &db), KVS_OK);
    kvs_options_destroy(o); /* the handle must not depend on it */
    ck_assert_kvs(kvs_set(db, "k", 1, "v", 1), KVS_OK);
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("options");
    TCase *tc = tcase_create("options");
    tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, range_checks);
    tcase_add_test(tc, null_options_are_tolerated);
    tcase_add_test(tc, options_are_copied_at_open);
    tcase_add_test(tc, write_through_values);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
