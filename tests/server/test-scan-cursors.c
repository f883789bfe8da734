/*
 * The SCAN cursor table (examples/server/scan_cursors.c): round trips, the
 * ring and byte-budget eviction, unknown cursors, the number range, and
 * concurrent use.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "scan_cursors.h"

/* The key stored under cursor c, as a C string; NULL if unknown. */
static char *get(struct scan_cursors *t, uint64_t c)
{
    void *key;
    size_t len;
    int rc = scan_cursors_get(t, c, &key, &len);
    ck_assert_int_ge(rc, 0);
    if (rc == 0)
        return NULL;
    char *s = malloc(len + 1);
    ck_assert_ptr_nonnull(s);
    memcpy(s, key, len);
    s[len] = '\0';
    free(key);
    return s;
}

static void expect_key(struct scan_cursors *t, uint64_t c, const char *want)
{
    char *got = get(t, c);
    ck_assert_msg(got != NULL, "cursor %llu unknown", (unsigned long long)c);
    ck_assert_str_eq(got, want);
    free(got);
}

static uint64_t put(struct scan_cursors *t, const char *key)
{
    uint64_t c = scan_cursors_put(t, key, strlen(key));
    ck_assert_uint_ne(c, 0);
    ck_assert_uint_le(c, SCAN_CURSOR_MAX);
    return c;
}

START_TEST(round_trip)
{
    struct scan_cursors *t = scan_cursors_create(16, 1 << 20, 1000);
    ck_assert_ptr_nonnull(t);
    uint64_t a = put(t, "alpha"), b = put(t, "beta");
    ck_assert_uint_eq(a, 1000);
    ck_assert_uint_eq(b, 1001);
    expect_key(t, a, "alpha");
    expect_key(t, b, "beta");
    expect_key(t, a, "alpha"); /* a cursor may be used again (a client's retry) */
    uint64_t bin = scan_cursors_put(t, "k\0y", 3);
    void *key;
    size_t len;
    ck_assert_int_eq(scan_cursors_get(t, bin, &key, &len), 1);
    ck_assert_uint_eq(len, 3);
    ck_assert(memcmp(key, "k\0y", 3) == 0);
    free(key);
    struct scan_cursors_stats st;
    scan_cursors_stats(t, &st);
    ck_assert_uint_eq(st.live, 3);
    ck_assert_uint_eq(st.bytes, 5 + 4 + 3);
    ck_assert_uint_eq(st.issued, 3);
    ck_assert_uint_eq(st.unknown, 0);
    scan_cursors_destroy(t);
}
END_TEST

START_TEST(unknown_cursors)
{
    struct scan_cursors *t = scan_cursors_create(16, 1 << 20, 5);
    put(t, "x");
    ck_assert_ptr_null(get(t, 0));
    ck_assert_ptr_null(get(t, 4));
    ck_assert_ptr_null(get(t, 6)); /* not issued yet */
    ck_assert_ptr_null(get(t, 5 + 16)); /* same slot, another number */
    ck_assert_ptr_null(get(t, SCAN_CURSOR_MAX + 1));
    ck_assert_ptr_null(get(t, UINT64_MAX));
    struct scan_cursors_stats st;
    scan_cursors_stats(t, &st);
    ck_assert_uint_eq(st.unknown, 6);
    scan_cursors_destroy(t);
}
END_TEST

/* A cursor is forgotten exactly when the slot count of newer ones were issued. */
START_TEST(ring_eviction)
{
    struct scan_cursors *t = scan_cursors_create(8, 1 << 20, 1);
    uint64_t c[20];
    char key[16];
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof(key), "key%d", i);
        c[i] = put(t, key);
    }
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof(key), "key%d", i);
        if (i < 12)
            ck_assert_ptr_null(get(t, c[i]));
        else
            expect_key(t, c[i], key);
    }
    struct scan_cursors_stats st;
    scan_cursors_stats(t, &st);
    ck_assert_uint_eq(st.live, 8);
    scan_cursors_destroy(t);
}
END_TEST

/* Past the byte budget the oldest entries go; the newest always stays. */
START_TEST(byte_budget)
{
    struct scan_cursors *t = scan_cursors_create(64, 100, 1);
    char big[41];
    memset(big, 'x', 40);
    big[40] = '\0';
    uint64_t c[6];
    for (int i = 0; i < 6; i++) {
        big[0] = (char)('a' + i);
        c[i] = put(t, big);
        struct scan_cursors_stats st;
        scan_cursors_stats(t, &st);
        ck_assert_uint_le(st.bytes, 100);
    }
    for (int i = 0; i < 4; i++)
        ck_assert_ptr_null(get(t, c[i]));
    big[0] = 'e';
    expect_key(t, c[4], big);
    big[0] = 'f';
    expect_key(t, c[5], big);
    char huge[101];
    memset(huge, 'h', sizeof(huge));
    ck_assert_uint_eq(scan_cursors_put(t, huge, sizeof(huge)), 0); /* over the whole budget */
    scan_cursors_destroy(t);
}
END_TEST

START_TEST(number_range)
{
    struct scan_cursors *t = scan_cursors_create(4, 1 << 20, SCAN_CURSOR_MAX - 1);
    ck_assert_uint_eq(put(t, "a"), SCAN_CURSOR_MAX - 1);
    ck_assert_uint_eq(put(t, "b"), SCAN_CURSOR_MAX);
    ck_assert_uint_eq(put(t, "c"), 1); /* wraps past 2^53 - 1, never 0 */
    expect_key(t, SCAN_CURSOR_MAX, "b");
    expect_key(t, 1, "c");
    scan_cursors_destroy(t);
    ck_assert_ptr_null(scan_cursors_create(3, 100, 1)); /* not a power of two */
    ck_assert_ptr_null(scan_cursors_create(4, 100, SCAN_CURSOR_MAX + 1));
    /* a random start: in range, and (almost surely) different per table */
    struct scan_cursors *x = scan_cursors_create(4, 100, 0), *y = scan_cursors_create(4, 100, 0);
    uint64_t cx = put(x, "k"), cy = put(y, "k");
    ck_assert_uint_ne(cx, cy);
    ck_assert_uint_le(cx, SCAN_CURSOR_MAX / 2 + 1);
    scan_cursors_destroy(x);
    scan_cursors_destroy(y);
    scan_cursors_destroy(NULL);
}
END_TEST

struct worker_arg {
    struct scan_cursors *t;
    int id;
    int failures;
};

/* Each thread stores its own keys and reads them back at once: never another's. */
static void *hammer(void *p)
{
    struct worker_arg *a = p;
    char key[32];
    for (int i = 0; i < 20000; i++) {
        int n = snprintf(key, sizeof(key), "t%d-%d", a->id, i);
        uint64_t c = scan_cursors_put(a->t, key, (size_t)n);
        void *got;
        size_t len;
        int rc = scan_cursors_get(a->t, c, &got, &len);
        if (rc == 1) {
            a->failures += len != (size_t)n || memcmp(got, key, len) != 0;
            free(got);
        }
        /* rc 0: evicted by the other threads meanwhile, which is allowed */
    }
    return NULL;
}

START_TEST(concurrent_use)
{
    struct scan_cursors *t = scan_cursors_create(256, 4096, 0);
    pthread_t th[4];
    struct worker_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct worker_arg){.t = t, .id = i};
        ck_assert_int_eq(pthread_create(&th[i], NULL, hammer, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(args[i].failures, 0);
    }
    struct scan_cursors_stats st;
    scan_cursors_stats(t, &st);
    ck_assert_uint_eq(st.issued, 80000);
    ck_assert_uint_le(st.live, 256);
    ck_assert_uint_le(st.bytes, 4096);
    scan_cursors_destroy(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scan-cursors");
    TCase *tc = tcase_create("scan-cursors");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, unknown_cursors);
    tcase_add_test(tc, ring_eviction);
    tcase_add_test(tc, byte_budget);
    tcase_add_test(tc, number_range);
    tcase_add_test(tc, concurrent_use);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
