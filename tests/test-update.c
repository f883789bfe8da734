/*
 * kvs_update (read-modify-write): what the callback sees and what each
 * action does; 8 threads incrementing one counter lose no increment; the
 * expiry is kept unless the callback changes it.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/testutil.h"
#include "internal.h"

/* Add ctx's amount to a decimal counter (absent counts as 0). */
static int increment(void *ctx, const void *old, size_t oldlen, int found, kvs_update_value_t *out)
{
    static _Thread_local char buf[32];
    long long n = 0;
    if (found) {
        char tmp[32];
        if (oldlen >= sizeof(tmp))
            return KVS_EINVAL;
        memcpy(tmp, old, oldlen);
        tmp[oldlen] = 0;
        char *end;
        n = strtoll(tmp, &end, 10);
        if (*end != 0)
            return KVS_EINVAL; /* not a number: abort, nothing written */
    }
    n += *(const long long *)ctx;
    out->vlen = (size_t)snprintf(buf, sizeof(buf), "%lld", n);
    out->val = buf;
    return KVS_UPDATE_SET;
}

static long long counter(kvs_t *db, const char *key)
{
    void *v;
    size_t vl;
    ck_assert_kvs(kvs_get(db, key, strlen(key), &v, &vl), KVS_OK);
    long long n = strtoll(v, NULL, 10);
    kvs_free(v);
    return n;
}

struct seen {
    int calls, found;
    char old[32];
    size_t oldlen;
    int action;
};

static int record_and_act(void *ctx, const void *old, size_t oldlen, int found,
                          kvs_update_value_t *out)
{
    struct seen *s = ctx;
    s->calls++;
    s->found = found;
    s->oldlen = oldlen;
    if (old)
        memcpy(s->old, old, oldlen < sizeof(s->old) ? oldlen : sizeof(s->old));
    out->val = "new";
    out->vlen = 3;
    return s->action;
}

START_TEST(actions_and_what_the_callback_sees)
{
    kvs_t *db = tu_open(tu_dir, KVS_SYNC_NONE, 1u << 20);
    struct seen s = {.action = KVS_UPDATE_SET};
    ck_assert_kvs(kvs_update(db, "k", 1, record_and_act, &s), KVS_OK);
    ck_assert_int_eq(s.found, 0);
    ck_assert_uint_eq(s.oldlen, 0);
    s.action = KVS_UPDATE_KEEP;
    ck_assert_kvs(kvs_update(db, "k", 1, record_and_act, &s), KVS_OK);
    ck_assert_int_eq(s.found, 1);
    ck_assert(s.oldlen == 3 && memcmp(s.old, "new", 3) == 0);
    s.action = KVS_EINVAL; /* abort with a status of the callback's choice */
    ck_assert_kvs(kvs_update(db, "k", 1, record_and_act, &s), KVS_EINVAL);
    s.action = 77; /* not an action */
    ck_assert_kvs(kvs_update(db, "k", 1, record_and_act, &s), KVS_EINVAL);
    uint64_t sets;
    ck_assert_kvs(kvs_stat(db, KVS_STAT_SETS, &sets), KVS_OK);
    ck_assert_uint_eq(sets, 1); /* only the first call wrote */
    s.action = KVS_UPDATE_REMOVE;
    ck_assert_kvs(kvs_update(db, "k", 1, record_and_act, &s), KVS_OK);
    ck_assert_kvs(kvs_exists(db, "k", 1), KVS_NOT_FOUND);
    ck_assert_kvs(kvs_update(db, "k", 1, record_and_act, &s), KVS_NOT_FOUND);
    ck_assert_int_eq(s.calls, 6);
    ck_assert_kvs(kvs_update(db, "k", 1, NULL, NULL), KVS_EINVAL);
    ck_assert_kvs(kvs_update(db, "", 0, record_and_act, &s), KVS_EINVAL);
    long long one = 1;
    ck_assert_kvs(kvs_set(db, "text", 4, "abc", 3), KVS_OK);
    ck_assert_kvs(kvs_update(db, "text", 4, increment, &one), KVS_EINVAL);
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

struct adder {
    kvs_t *db;
    int rounds;
};

static void *add_many(void *arg)
{
    struct adder *a = arg;
    long long one = 1;
    for (int i = 0; i < a->rounds; i++)
        if (kvs_update(a->db, "counter", 7, increment, &one) != KVS_OK)
            return (void *)1;
    return NULL;
}

START_TEST(eight_threads_lose_no_increment)
{
    kvs_t *db = tu_open(tu_dir, KVS_SYNC_NONE, 64 * 1024);
    struct adder a = {db, 2000};
    pthread_t t[8];
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, add_many, &a), 0);
    for (int i = 0; i < 8; i++) {
        void *ret;
        ck_assert_int_eq(pthread_join(t[i], &ret), 0);
        ck_assert_ptr_null(ret);
    }
    ck_assert_int_eq(counter(db, "counter"), 8 * 2000);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    db = tu_open(tu_dir, KVS_SYNC_NONE, 64 * 1024);
    ck_assert_int_eq(counter(db, "counter"), 8 * 2000);
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

static uint64_t fake_now = 1000000;
static uint64_t fake_clock(void)
{
    return fake_now;
}

START_TEST(the_expiry_is_kept_unless_changed)
{
    kvs__set_clock_ms(fake_clock);
    kvs_t *db = tu_open(tu_dir, KVS_SYNC_NONE, 64 * 1024);
    ck_assert_kvs(kvs_set_expire(db, "c", 1, "5", 1, fake_now + 1000, 0), KVS_OK);
    long long two = 2;
    ck_assert_kvs(kvs_update(db, "c", 1, increment, &two), KVS_OK);
    ck_assert_int_eq(counter(db, "c"), 7);
    uint64_t exp;
    ck_assert_kvs(kvs_get_expire(db, "c", 1, &exp), KVS_OK);
    ck_assert_uint_eq(exp, fake_now + 1000);
    fake_now += 1000; /* expired: the callback sees no value */
    ck_assert_kvs(kvs_update(db, "c", 1, increment, &two), KVS_OK);
    ck_assert_int_eq(counter(db, "c"), 2);
    ck_assert_kvs(kvs_get_expire(db, "c", 1, &exp), KVS_OK);
    ck_assert_uint_eq(exp, 0);
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

static Suite *update_suite(void)
{
    Suite *s = suite_create("update");
    TCase *tc = tcase_create("read-modify-write");
    tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, actions_and_what_the_callback_sees);
    tcase_add_test(tc, eight_threads_lose_no_increment);
    tcase_add_test(tc, the_expiry_is_kept_unless_changed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(update_suite());
}
