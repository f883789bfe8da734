/* The public API: one test per documented return of every kvs_* call. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/testutil.h"

static kvs_t *open_default(void)
{
    return tu_open(tu_dir, KVS_SYNC_NONE, 0);
}

/* ---- open / close ---- */

START_TEST(open_rejects_null_arguments)
{
    kvs_t *db = (kvs_t *)0x1;
    ck_assert_kvs(kvs_open(NULL, NULL, &db), KVS_EINVAL);
    ck_assert_ptr_null(db);
    ck_assert_kvs(kvs_open(tu_dir, NULL, NULL), KVS_EINVAL);
    db = (kvs_t *)0x1;
    ck_assert_kvs(kvs_open("", NULL, &db), KVS_EINVAL);
    ck_assert_ptr_null(db);
}
END_TEST

START_TEST(open_with_defaults_creates_directory)
{
    char *sub = tu_path(tu_dir, "a/b/c");
    kvs_t *db = NULL;
    ck_assert_kvs(kvs_open(sub, NULL, &db), KVS_OK);
    ck_assert_ptr_nonnull(db);
    struct stat st;
    ck_assert_int_eq(stat(sub, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_kvs(kvs_close(db), KVS_OK);
    free(sub);
}
END_TEST

START_TEST(open_rejects_bad_sync_mode)
{
    kvs_options_t *o = kvs_options_create();
    kvs_options_set_sync(o, (kvs_sync_t)42);
    kvs_t *db = (kvs_t *)0x1;
    ck_assert_kvs(kvs_open(tu_dir, o, &db), KVS_EINVAL);
    ck_assert_ptr_null(db);
    kvs_options_destroy(o);
}
END_TEST

START_TEST(open_without_create_is_enoent)
{
    kvs_options_t *o = kvs_options_create();
    kvs_options_set_create_if_missing(o, 0);
    kvs_t *db = (kvs_t *)0x1;
    char *missing = tu_path(tu_dir, "missing");
    ck_assert_kvs(kvs_open(missing, o, &db), KVS_ENOENT);
    ck_assert_ptr_null(db);
    ck_assert_kvs(kvs_open(tu_dir, o, &db), KVS_ENOENT); /* exists, holds no store */
    kvs_options_destroy(o);
    free(missing);
}
END_TEST

START_TEST(open_on_a_file_is_eio)
{
    char *file = tu_path(tu_dir, "plain");
    FILE *f = fopen(file, "w");
    fclose(f);
    kvs_t *db = (kvs_t *)0x1;
    ck_assert_kvs(kvs_open(file, NULL, &db), KVS_EIO);
    ck_assert_ptr_null(db);
    free(file);
}
END_TEST

START_TEST(second_open_is_busy)
{
    kvs_t *db = open_default();
    kvs_t *db2 = (kvs_t *)0x1;
    ck_assert_kvs(kvs_open(tu_dir, NULL, &db2), KVS_EBUSY);
    ck_assert_ptr_null(db2);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    ck_assert_kvs(kvs_open(tu_dir, NULL, &db2), KVS_OK);
    ck_assert_kvs(kvs_close(db2), KVS_OK);
}
END_TEST

START_TEST(close_null_is_ok)
{
    ck_assert_kvs(kvs_close(NULL), KVS_OK);
    kvs_free(NULL);
    kvs_options_destroy(NULL);
}
END_TEST

/* ---- set / get / remove / exists ---- */

START_TEST(set_get_roundtrip)
{
    kvs_t *db = open_default();
    ck_assert_kvs(kvs_set(db, "k", 1, "value", 5), KVS_OK);
    void *v;
    size_t n;
    ck_assert_kvs(kvs_get(db, "k", 1, &v, &n), KVS_OK);
    ck_assert_uint_eq(n, 5);
    ck_assert_str_eq(v, "value"); /* NUL-terminated */
    kvs_free(v);
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

START_TEST(set_overwrites)
{
    kvs_t *db = open_default();
    ck_assert_kvs(kvs_set(db, "k", 1, "one", 3), KVS_OK);
    ck_assert_kvs(kvs_set(db, "k", 1, "three", 5), KVS_OK);
    void *v;
    size_t n;
    ck_assert_kvs(kvs_get(db, "k", 1, &v, &n), KVS_OK);
    ck_assert_uint_eq(n, 5);
    ck_assert_mem_eq(v, "three", 5);
    kvs_free(v);
    uint64_t keys;
    ck_assert_kvs(kvs_stat(db, KVS_STAT_KEYS, &keys), KVS_OK);
    ck_assert_uint_eq(keys, 1);
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

START_TEST(binary_keys_and_values_with_nul)
{
    kvs_t *db = open_default();
    const char k1[] = {'a', 0, 'b'}, k2[] = {'a', 0, 'c'}, k3[] = {'a'};
    const char v1[] = {0, 1, 0, 2, 0};
    ck_assert_kvs(kvs_set(db, k1, 3, v1, 5), KVS_OK);
    ck_assert_kvs(kvs_set(db, k2, 3, "x", 1), KVS_OK);
    void *v;
    size_t n;
    ck_assert_kvs(kvs_get(db, k1, 3, &v, &n), KVS_OK);
    ck_assert_uint_eq(n, 5);
    ck_assert_mem_eq(v, v1, 5);
    kvs_free(v);
    ck_assert_kvs(kvs_get(db, k3, 1, &v, &n), KVS_NOT_FOUND);
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

START_TEST(empty_value)
{
    kvs_t *db = open_default();
    ck_assert_kvs(kvs_set(db, "e", 1, NULL, 0), KVS_OK);
    void *v = NULL;
    size_t n = 99;
    ck_assert_kvs(kvs_get(db, "e", 1, &v, &n), KVS_OK);
    ck_assert_ptr_nonnull(v); /* documented: never NULL on success */
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(((char *)v)[0], 0);
    kvs_free(v);
    ck_assert_kvs(kvs_exists(db, "e", 1), KVS_OK);
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

START_TEST(empty_key_is_einval)
{
    kvs_t *db = open_default();
    void *v = (void *)0x1;
    size_t n = 7;
    ck_assert_kvs(kvs_set(db, "", 0, "v", 1), KVS_EINVAL);
    ck_assert_kvs(kvs_get(db, "", 0, &v, &n), KVS_EINVAL);
    ck_assert_ptr_null(v);
    ck_assert_uint_eq(n, 0);
    ck_assert_kvs(kvs_remove(db, "", 0), KVS_EINVAL);
    ck_assert_kvs(kvs_exists(db, "", 0), KVS_EINVAL);
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

START_TEST(null_arguments_are_einval)
{
    kvs_t *db = open_default();
    void *v;
    size_t n;
    ck_assert_kvs(kvs_set(NULL, "k", 1, "v", 1), KVS_EINVAL);
    ck_assert_kvs(kvs_set(db, NULL, 1, "v", 1), KVS_EINVAL);
    ck_assert_kvs(kvs_set(db, "k", 1, NULL, 1), KVS_EINVAL);
    ck_assert_kvs(kvs_get(NULL, "k", 1, &v, &n), KVS_EINVAL);
    ck_assert_kvs(kvs_get(db, "k", 1, NULL, &n), KVS_EINVAL);
    ck_assert_kvs(kvs_get(db, "k", 1, &v, NULL), KVS_EINVAL);
    ck_assert_kvs(kvs_remove(NULL, "k", 1), KVS_EINVAL);
    ck_assert_kvs(kvs_remove(db, NULL, 1), KVS_EINVAL);
    ck_assert_kvs(kvs_exists(NULL, "k", 1), KVS_EINVAL);
    ck_assert_kvs(kvs_sync(NULL), KVS_EINVAL);
    ck_assert_kvs(kvs_compact(NULL), KVS_EINVAL);
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

START_TEST(get_missing_is_not_found)
{
    kvs_t *db = open_default();
    void *v = (void *)0x1;
    size_t n = 7;
    ck_assert_kvs(kvs_get(db, "nope", 4, &v, &n), KVS_NOT_FOUND);
    ck_assert_ptr_null(v);
    ck_assert_uint_eq(n, 0);
    ck_assert_kvs(kvs_exists(db, "nope", 4), KVS_NOT_FOUND);
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

/* kvs_get_into reads what kvs_get reads, into the caller's buffer: values
 * of every length (one past the unlocked-read threshold of 64 KiB), an
 * exact fit, one byte short (KVS_ETOOBIG with the length, the buffer left
 * alone), empty values with no buffer, and the errors. */
START_TEST(get_into_matches_get)
{
    kvs_t *db = open_default();
    const size_t sizes[] = {0, 1, 100, 4096, 64 * 1024 + 1};
    size_t big = 64 * 1024 + 1;
    char *val = malloc(big), *buf = malloc(big + 1);
    for (size_t i = 0; i < big; i++)
        val[i] = (char)(i * 7 + 3);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%zu", sizes[i]);
        ck_assert_kvs(kvs_set(db, key, strlen(key), val, sizes[i]), KVS_OK);
        size_t n = 12345;
        memset(buf, 'x', big + 1);
        ck_assert_kvs(kvs_get_into(db, key, strlen(key), buf, sizes[i], &n), KVS_OK);
        ck_assert_uint_eq(n, sizes[i]);
        ck_assert_mem_eq(buf, val, sizes[i]);
        ck_assert_int_eq(buf[sizes[i]], 'x'); /* no NUL added, nothing past the value */
        if (sizes[i] == 0) {
            ck_assert_kvs(kvs_get_into(db, key, strlen(key), NULL, 0, &n), KVS_OK);
            ck_assert_uint_eq(n, 0);
            continue;
        }
        memset(buf, 'x', big + 1);
        ck_assert_kvs(kvs_get_into(db, key, strlen(key), buf, sizes[i] - 1, &n), KVS_ETOOBIG);
        ck_assert_uint_eq(n, sizes[i]);
        ck_assert_int_eq(buf[0], 'x');
    }
    size_t n = 9;
    ck_assert_kvs(kvs_get_into(db, "nope", 4, buf, big, &n), KVS_NOT_FOUND);
    ck_assert_uint_eq(n, 0);
    char long_key[KVS_KEY_MAX + 1];
    memset(long_key, 'a', sizeof(long_key));
    n = 9;
    ck_assert_kvs(kvs_get_into(db, long_key, sizeof(long_key), buf, big, &n), KVS_ETOOBIG);
    ck_assert_uint_eq(n, 0);
    ck_assert_kvs(kvs_get_into(NULL, "k1", 2, buf, big, &n), KVS_EINVAL);
    ck_assert_kvs(kvs_get_into(db, NULL, 2, buf, big, &n), KVS_EINVAL);
    ck_assert_kvs(kvs_get_into(db, "k1", 0, buf, big, &n), KVS_EINVAL);
    ck_assert_kvs(kvs_get_into(db, "k1", 2, NULL, 1, &n), KVS_EINVAL);
    ck_assert_kvs(kvs_get_into(db, "k1", 2, buf, big, NULL), KVS_EINVAL);
    ck_assert_kvs(kvs_set_expire(db, "gone", 4, "v", 1, 1, 0), KVS_OK); /* expired long ago */
    ck_assert_kvs(kvs_get_into(db, "gone", 4, buf, big, &n), KVS_NOT_FOUND);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    free(val);
    free(buf);
}
END_TEST

START_TEST(remove_then_get)
{
    kvs_t *db = open_default();
    ck_assert_kvs(kvs_set(db, "k", 1, "v", 1), KVS_OK);
    ck_assert_kvs(kvs_remove(db, "k", 1), KVS_OK);
    void *v;
    size_t n;
    ck_assert_kvs(kvs_get(db, "k", 1, &v, &n), KVS_NOT_FOUND);
    ck_assert_kvs(kvs_remove(db, "k", 1), KVS_NOT_FOUND);
    ck_assert_kvs(kvs_remove(db, "never", 5), KVS_NOT_FOUND);
    uint64_t removes;
    ck_assert_kvs(kvs_stat(db, KVS_STAT_REMOVES, &removes), KVS_OK);
    ck_assert_uint_eq(removes, 1); /* a remove of an absent key writes nothing */
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

START_TEST(key_and_value_limits)
{
    kvs_t *db = open_default();
    size_t big = KVS_KEY_MAX + 1;
    char *key = calloc(1, big);
    memset(key, 'k', big);
    ck_assert_kvs(kvs_set(db, key, KVS_KEY_MAX, "v", 1), KVS_OK);
    void *v;
    size_t n;
    ck_assert_kvs(kvs_get(db, key, KVS_KEY_MAX, &v, &n), KVS_OK);
    kvs_free(v);
    ck_assert_kvs(kvs_set(db, key, big, "v", 1), KVS_ETOOBIG);
    ck_assert_kvs(kvs_get(db, key, big, &v, &n), KVS_ETOOBIG);
    ck_assert_kvs(kvs_remove(db, key, big), KVS_ETOOBIG);
    /* The value check happens before any byte is read, so a short buffer is fine. */
    ck_assert_kvs(kvs_set(db, "k", 1, "v", (size_t)KVS_VALUE_MAX + 1), KVS_ETOOBIG);
    ck_assert_kvs(kvs_set(db, "k", 1, "v", SIZE_MAX), KVS_ETOOBIG);
    ck_assert_kvs(kvs_get(db, "k", 1, &v, &n), KVS_NOT_FOUND);
    free(key);
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

START_TEST(large_value_16mib)
{
    kvs_t *db = tu_open(tu_dir, KVS_SYNC_NONE, 1 << 20); /* bigger than a segment */
    size_t len = 16u << 20;
    uint8_t *val = malloc(len);
    uint64_t st = 7;
    tu_fill(&st, val, len);
    ck_assert_kvs(kvs_set(db, "big", 3, val, len), KVS_OK);
    ck_assert_kvs(kvs_set(db, "small", 5, "s", 1), KVS_OK);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    db = tu_open(tu_dir, KVS_SYNC_NONE, 1 << 20);
    void *v;
    size_t n;
    ck_assert_kvs(kvs_get(db, "big", 3, &v, &n), KVS_OK);
    ck_assert_uint_eq(n, len);
    ck_assert(memcmp(v, val, len) == 0);
    kvs_free(v);
    ck_assert_kvs(kvs_get(db, "small", 5, &v, &n), KVS_OK);
    kvs_free(v);
    free(val);
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

static uint64_t stat_value(kvs_t *db, kvs_stat_t which)
{
    uint64_t v;
    ck_assert_kvs(kvs_stat(db, which, &v), KVS_OK);
    return v;
}

static void check_value(kvs_t *db, const char *key, const uint8_t *want, size_t len)
{
    void *v;
    size_t n;
    ck_assert_kvs(kvs_get(db, key, strlen(key), &v, &n), KVS_OK);
    ck_assert_uint_eq(n, len);
    ck_assert(memcmp(v, want, len) == 0);
    kvs_free(v);
}

/* Records of 16 MiB and more keep their size in their header only (the
 * index entry has 24 bits for it): the byte counts, kvs_verify, compaction
 * moving one, and the saved index still see their exact sizes. */
START_TEST(long_records_keep_exact_sizes)
{
    kvs_t *db = tu_open_trigger(tu_dir, KVS_SYNC_NONE, 0, 100);
    size_t len1 = (20u << 20) + 3, len2 = (17u << 20) + 5;
    uint8_t *v1 = malloc(len1), *v2 = malloc(len2);
    uint64_t st = 11;
    tu_fill(&st, v1, len1);
    tu_fill(&st, v2, len2);
    uint64_t rec1 = 11 + 4 + len1, rec2 = 11 + 4 + len2;
    ck_assert_kvs(kvs_set(db, "long", 4, v1, len1), KVS_OK);
    ck_assert_uint_eq(stat_value(db, KVS_STAT_LIVE_BYTES), rec1);
    ck_assert_kvs(kvs_set(db, "long", 4, v2, len2), KVS_OK);
    ck_assert_uint_eq(stat_value(db, KVS_STAT_LIVE_BYTES), rec2);
    ck_assert_uint_eq(stat_value(db, KVS_STAT_DEAD_BYTES), rec1);
    ck_assert_kvs(kvs_verify(db, NULL, NULL), KVS_OK);
    ck_assert_kvs(kvs_compact(db), KVS_OK); /* moves the live long record */
    ck_assert_uint_eq(stat_value(db, KVS_STAT_DEAD_BYTES), 0);
    ck_assert_uint_eq(stat_value(db, KVS_STAT_LIVE_BYTES), rec2);
    check_value(db, "long", v2, len2);
    ck_assert_kvs(kvs_verify(db, NULL, NULL), KVS_OK);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    db = tu_open_trigger(tu_dir, KVS_SYNC_NONE, 0, 100);
    ck_assert_uint_eq(stat_value(db, KVS_STAT_LIVE_BYTES), rec2);
    check_value(db, "long", v2, len2);
    ck_assert_kvs(kvs_remove(db, "long", 4), KVS_OK);
    ck_assert_uint_eq(stat_value(db, KVS_STAT_LIVE_BYTES), 0);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    free(v1);
    free(v2);
}
END_TEST

/* Each item holds what kvs_get gives for its key (status, length, value and
 * the NUL after it); the items' values are freed. */
static void expect_items_as_get(kvs_t *db, kvs_get_item_t *items, int n_items)
{
    for (int j = 0; j < n_items; j++) {
        void *v;
        size_t n;
        int rc = kvs_get(db, items[j].key, items[j].klen, &v, &n);
        ck_assert_msg(items[j].status == rc, "item %d: %s, kvs_get says %s", j,
                      kvs_status_name(items[j].status), kvs_status_name(rc));
        ck_assert_uint_eq(items[j].vlen, n);
        if (rc == KVS_OK) {
            ck_assert_ptr_nonnull(items[j].val);
            ck_assert_mem_eq(items[j].val, v, n);
            ck_assert_int_eq(((char *)items[j].val)[n], 0); /* NUL after it, as kvs_get */
        } else {
            ck_assert_ptr_null(items[j].val);
        }
        kvs_free(v);
        kvs_free(items[j].val);
    }
}

/* kvs_multi_get gives each item what kvs_get gives for its key: present,
 * absent, repeated, empty, large (copied outside the lock) and invalid keys,
 * over more items than one group. */
START_TEST(multi_get_matches_get)
{
    kvs_t *db = open_default();
    enum { KEYS = 200, ITEMS = 53 };
    char keys[ITEMS][24];
    kvs_get_item_t items[ITEMS];
    for (int i = 0; i < KEYS; i++) {
        char k[24], v[40];
        int kl = snprintf(k, sizeof(k), "mk%d", i), vl = snprintf(v, sizeof(v), "value of %d", i);
        ck_assert_kvs(kvs_set(db, k, (size_t)kl, v, (size_t)(i % 7 ? vl : 0)), KVS_OK);
    }
    size_t big_len = 300 * 1024;
    uint8_t *big = malloc(big_len);
    uint64_t st = 5;
    tu_fill(&st, big, big_len);
    ck_assert_kvs(kvs_set(db, "big", 3, big, big_len), KVS_OK);
    for (int j = 0; j < ITEMS; j++) {
        /* present, absent (odd numbers past KEYS), and some repeated */
        int no = j % 3 == 2 ? KEYS + j : (j * 37) % KEYS;
        items[j].klen = (size_t)snprintf(keys[j], sizeof(keys[j]), "mk%d", no);
        items[j].key = keys[j];
    }
    items[7].key = items[3].key; /* the same key twice */
    items[7].klen = items[3].klen;
    items[11].key = "big";
    items[11].klen = 3;
    items[13].klen = 0; /* invalid */
    items[17].klen = KVS_KEY_MAX + 1;
    static const unsigned flags[] = {0, KVS_MULTI_GET_EACH};
    for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++) {
        ck_assert_kvs(kvs_multi_get_ex(db, items, ITEMS, 0, flags[f]), KVS_OK);
        ck_assert_kvs(items[11].status, KVS_OK);
        ck_assert_uint_eq(items[11].vlen, big_len);
        ck_assert_kvs(items[2].status, KVS_NOT_FOUND);
        ck_assert_kvs(items[13].status, KVS_EINVAL);
        ck_assert_kvs(items[17].status, KVS_ETOOBIG);
        expect_items_as_get(db, items, ITEMS); /* and frees their values */
    }
    free(big);
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

/* With a byte limit, a value that would take the total past it is not
 * copied (KVS_ETOOBIG, its length given); smaller ones after it still are. */
START_TEST(multi_get_byte_limit)
{
    kvs_t *db = open_default();
    size_t big_len = 300 * 1024;
    char *big = calloc(1, big_len);
    ck_assert_kvs(kvs_set(db, "s1", 2, "0123456789", 10), KVS_OK);
    ck_assert_kvs(kvs_set(db, "big", 3, big, big_len), KVS_OK);
    ck_assert_kvs(kvs_set(db, "s2", 2, "abcde", 5), KVS_OK);
    kvs_get_item_t it[4] = {{.key = "s1", .klen = 2}, {.key = "big", .klen = 3},
                            {.key = "s2", .klen = 2}, {.key = "none", .klen = 4}};
    ck_assert_kvs(kvs_multi_get(db, it, 4, 20), KVS_OK);
    ck_assert_kvs(it[0].status, KVS_OK);
    ck_assert_kvs(it[1].status, KVS_ETOOBIG);
    ck_assert_uint_eq(it[1].vlen, big_len);
    ck_assert_ptr_null(it[1].val);
    ck_assert_kvs(it[2].status, KVS_OK);
    ck_assert_mem_eq(it[2].val, "abcde", 5);
    ck_assert_kvs(it[3].status, KVS_NOT_FOUND);
    kvs_free(it[0].val);
    kvs_free(it[2].val);
    /* exactly enough: everything is copied */
    ck_assert_kvs(kvs_multi_get(db, it, 4, 10 + big_len + 5), KVS_OK);
    for (int i = 0; i < 3; i++) {
        ck_assert_kvs(it[i].status, KVS_OK);
        kvs_free(it[i].val);
    }
    /* one byte short: the last value found no longer fits */
    ck_assert_kvs(kvs_multi_get(db, it, 3, 10 + big_len + 4), KVS_OK);
    ck_assert_kvs(it[1].status, KVS_OK);
    ck_assert_kvs(it[2].status, KVS_ETOOBIG);
    kvs_free(it[0].val);
    kvs_free(it[1].val);
    free(big);
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

START_TEST(multi_get_arguments)
{
    kvs_get_item_t item = {.key = "k", .klen = 1, .status = 12345};
    ck_assert_kvs(kvs_multi_get(NULL, &item, 1, 0), KVS_EINVAL);
    ck_assert_int_eq(item.status, 12345); /* untouched */
    kvs_t *db = open_default();
    ck_assert_kvs(kvs_multi_get(db, NULL, 1, 0), KVS_EINVAL);
    ck_assert_kvs(kvs_multi_get(db, NULL, 0, 0), KVS_OK);
    ck_assert_kvs(kvs_multi_get(db, &item, 0, 0), KVS_OK);
    ck_assert_int_eq(item.status, 12345);
    ck_assert_kvs(kvs_multi_get_ex(db, &item, 1, 0, 2), KVS_EINVAL); /* unknown flag */
    ck_assert_kvs(kvs_multi_get_ex(db, &item, 1, 0, ~0u), KVS_EINVAL);
    ck_assert_int_eq(item.status, 12345);
    ck_assert_kvs(kvs_multi_get(db, &item, 1, 0), KVS_OK);
    ck_assert_kvs(item.status, KVS_NOT_FOUND);
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

START_TEST(set_ex_conditions)
{
    kvs_t *db = open_default();
    ck_assert_kvs(kvs_set_ex(db, "k", 1, "a", 1, KVS_SET_IF_PRESENT), KVS_NOT_FOUND);
    ck_assert_kvs(kvs_exists(db, "k", 1), KVS_NOT_FOUND);
    ck_assert_kvs(kvs_set_ex(db, "k", 1, "a", 1, KVS_SET_IF_ABSENT), KVS_OK);
    ck_assert_kvs(kvs_set_ex(db, "k", 1, "b", 1, KVS_SET_IF_ABSENT), KVS_EXISTS);
    ck_assert_kvs(kvs_set_ex(db, "k", 1, "c", 1, KVS_SET_IF_PRESENT), KVS_OK);
    ck_assert_kvs(kvs_set_ex(db, "k", 1, "d", 1, 0), KVS_OK);
    ck_assert_kvs(kvs_set_ex(db, "k", 1, "e", 1, KVS_SET_IF_ABSENT | KVS_SET_IF_PRESENT),
                  KVS_EINVAL);
    ck_assert_kvs(kvs_set_ex(db, "k", 1, "e", 1, 1u << 7), KVS_EINVAL);
    void *v;
    size_t n;
    ck_assert_kvs(kvs_get(db, "k", 1, &v, &n), KVS_OK);
    ck_assert_mem_eq(v, "d", 1);
    kvs_free(v);
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

/* ---- read-only ---- */

/* Write k = "v" into a store and close it; options to open it read-only. */
static kvs_options_t *closed_store_read_only(void)
{
    kvs_t *db = open_default();
    ck_assert_kvs(kvs_set(db, "k", 1, "v", 1), KVS_OK);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    kvs_options_t *o = kvs_options_create();
    ck_assert_ptr_nonnull(o);
    kvs_options_set_read_only(o, 1);
    return o;
}

START_TEST(read_only_refuses_writes)
{
    kvs_options_t *o = closed_store_read_only();
    kvs_t *db;
    ck_assert_kvs(kvs_open(tu_dir, o, &db), KVS_OK);
    kvs_options_destroy(o);
    ck_assert_kvs(kvs_set(db, "k", 1, "w", 1), KVS_EREADONLY);
    ck_assert_kvs(kvs_set_ex(db, "k", 1, "w", 1, 0), KVS_EREADONLY);
    ck_assert_kvs(kvs_remove(db, "k", 1), KVS_EREADONLY);
    ck_assert_kvs(kvs_compact(db), KVS_EREADONLY);
    ck_assert_kvs(kvs_sync(db), KVS_OK);
    tu_expect_value(db, "k", "v");
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

/*
 * A copy of a store without its LOCK file (a backup made with cp, a store
 * on a read-only medium): a read-only handle opens it without creating the
 * file, since it never changes the directory (and may not be allowed to),
 * and still excludes a writer and a second handle, through the lock it
 * takes on the directory itself.
 */
START_TEST(read_only_open_without_a_lock_file)
{
    kvs_options_t *ro = closed_store_read_only();
    char *lock = tu_path(tu_dir, "LOCK");
    ck_assert_int_eq(unlink(lock), 0);
    kvs_t *db;
    ck_assert_kvs(kvs_open(tu_dir, ro, &db), KVS_OK);
    ck_assert_int_eq(access(lock, F_OK), -1); /* not created */
    kvs_t *other = NULL;
    ck_assert_kvs(kvs_open(tu_dir, NULL, &other), KVS_EBUSY);
    ck_assert_ptr_null(other);
    ck_assert_kvs(kvs_open(tu_dir, ro, &other), KVS_EBUSY);
    tu_expect_value(db, "k", "v");
    ck_assert_kvs(kvs_close(db), KVS_OK);
    /* a writer then opens it, and makes the file again */
    ck_assert_kvs(kvs_open(tu_dir, NULL, &db), KVS_OK);
    ck_assert_int_eq(access(lock, F_OK), 0);
    ck_assert_kvs(kvs_open(tu_dir, ro, &other), KVS_EBUSY);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    kvs_options_destroy(ro);
    free(lock);
}
END_TEST

/* ---- sync, compact, stats ---- */

START_TEST(sync_in_every_mode)
{
    for (int mode = KVS_SYNC_NONE; mode <= KVS_SYNC_ALWAYS; mode++) {
        kvs_t *db = tu_open(tu_dir, (kvs_sync_t)mode, 0);
        ck_assert_kvs(kvs_set(db, "k", 1, "v", 1), KVS_OK);
        ck_assert_kvs(kvs_sync(db), KVS_OK);
        uint64_t syncs;
        ck_assert_kvs(kvs_stat(db, KVS_STAT_SYNCS, &syncs), KVS_OK);
        ck_assert_uint_ge(syncs, 1);
        ck_assert_kvs(kvs_close(db), KVS_OK);
    }
}
END_TEST

/* Bytes this process has dirtied for the storage layer, or -1 if unknown. */
static long long io_write_bytes(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    if (!f)
        return -1;
    char line[128];
    long long v = -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "write_bytes:", 12) == 0)
            v = atoll(line + 12);
    fclose(f);
    return v;
}

/*
 * A store that syncs after every small write must write about a page per
 * sync, not a huge page: 200 records of ~130 bytes, each synced, may dirty
 * a few MB (a one-time switch away from huge pages included), never the
 * ~400 MB that 2 MiB folios written back whole would cost.
 */
START_TEST(frequent_syncs_write_pages_not_huge_pages)
{
    for (int mode = KVS_SYNC_NONE; mode <= KVS_SYNC_INTERVAL; mode++) {
        kvs_t *db = tu_open(tu_dir, (kvs_sync_t)mode, 0);
        char val[100];
        memset(val, 'v', sizeof(val));
        long long before = io_write_bytes();
        for (int i = 0; i < 200; i++) {
            char k[16];
            int kl = snprintf(k, sizeof(k), "k%d", i);
            ck_assert_kvs(kvs_set(db, k, (size_t)kl, val, sizeof(val)), KVS_OK);
            ck_assert_kvs(kvs_sync(db), KVS_OK);
        }
        long long after = io_write_bytes();
        if (before >= 0 && after >= 0)
            ck_assert_msg(after - before < 64ll << 20, "mode %d: %lld bytes written for 200 records",
                          mode, after - before);
        ck_assert_kvs(kvs_close(db), KVS_OK);
    }
}
END_TEST

/* Small segments, no background compaction: only kvs_compact() reclaims. */
static kvs_t *open_manual_compaction(void)
{
    kvs_options_t *o = kvs_options_create();
    kvs_options_set_sync(o, KVS_SYNC_NONE);
    ck_assert_kvs(kvs_options_set_segment_size(o, 64 * 1024), KVS_OK);
    ck_assert_kvs(kvs_options_set_compaction_trigger(o, 100), KVS_OK);
    kvs_t *db;
    ck_assert_kvs(kvs_open(tu_dir, o, &db), KVS_OK);
    kvs_options_destroy(o);
    return db;
}

START_TEST(compact_reclaims_overwritten_values)
{
    kvs_t *db = open_manual_compaction();
    char val[100] = {0};
    for (int round = 0; round < 5; round++)
        for (int i = 0; i < 500; i++) {
            char key[16];
            int kl = snprintf(key, sizeof(key), "key%d", i);
            val[0] = (char)round;
            ck_assert_kvs(kvs_set(db, key, (size_t)kl, val, sizeof(val)), KVS_OK);
        }
    ck_assert_kvs(kvs_close(db), KVS_OK);
    long before = tu_dir_bytes(tu_dir);
    db = open_manual_compaction();
    uint64_t dead;
    ck_assert_kvs(kvs_compact(db), KVS_OK);
    ck_assert_kvs(kvs_stat(db, KVS_STAT_DEAD_BYTES, &dead), KVS_OK);
    ck_assert_uint_eq(dead, 0);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    long after = tu_dir_bytes(tu_dir);
    ck_assert_int_lt(after * 3, before); /* 4/5 of the records were stale */
    db = tu_open(tu_dir, KVS_SYNC_NONE, 64 * 1024);
    for (int i = 0; i < 500; i++) {
        char key[16];
        int kl = snprintf(key, sizeof(key), "key%d", i);
        void *v;
        size_t n;
        ck_assert_kvs(kvs_get(db, key, (size_t)kl, &v, &n), KVS_OK);
        ck_assert_int_eq(((char *)v)[0], 4);
        kvs_free(v);
    }
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

/* The same results whether records go through the mapping or pwritev. */
START_TEST(write_through_in_any_sync_mode)
{
    for (int mode = 0; mode <= 1; mode++) {
        char *dir = tu_tmpdir();
        kvs_options_t *o = kvs_options_create();
        kvs_options_set_sync(o, KVS_SYNC_NONE);
        kvs_options_set_write_through(o, mode);
        ck_assert_kvs(kvs_options_set_segment_size(o, 4096), KVS_OK);
        kvs_t *db;
        ck_assert_kvs(kvs_open(dir, o, &db), KVS_OK);
        for (int i = 0; i < 300; i++) {
            char k[16], v[64];
            int kl = snprintf(k, sizeof(k), "k%d", i % 100);
            int vl = snprintf(v, sizeof(v), "value %d", i);
            ck_assert_kvs(kvs_set(db, k, (size_t)kl, v, (size_t)vl), KVS_OK);
        }
        ck_assert_kvs(kvs_remove(db, "k7", 2), KVS_OK);
        ck_assert_kvs(kvs_close(db), KVS_OK);
        ck_assert_kvs(kvs_open(dir, o, &db), KVS_OK);
        kvs_options_destroy(o);
        void *v;
        size_t n;
        ck_assert_kvs(kvs_get(db, "k42", 3, &v, &n), KVS_OK);
        ck_assert_str_eq(v, "value 242");
        kvs_free(v);
        ck_assert_kvs(kvs_get(db, "k7", 2, &v, &n), KVS_NOT_FOUND);
        ck_assert_kvs(kvs_close(db), KVS_OK);
        tu_rmdir(dir);
    }
}
END_TEST

START_TEST(stat_arguments)
{
    kvs_t *db = open_default();
    uint64_t v = 5;
    ck_assert_kvs(kvs_stat(NULL, KVS_STAT_KEYS, &v), KVS_EINVAL);
    ck_assert_uint_eq(v, 0);
    ck_assert_kvs(kvs_stat(db, KVS_STAT_KEYS, NULL), KVS_EINVAL);
    ck_assert_kvs(kvs_stat(db, KVS_STAT_COUNT_, &v), KVS_EINVAL);
    ck_assert_kvs(kvs_stat(db, (kvs_stat_t)-1, &v), KVS_EINVAL);
    for (int i = 0; i < KVS_STAT_COUNT_; i++) {
        ck_assert_ptr_nonnull(kvs_stat_name((kvs_stat_t)i));
        ck_assert_kvs(kvs_stat(db, (kvs_stat_t)i, &v), KVS_OK);
    }
    ck_assert_ptr_null(kvs_stat_name(KVS_STAT_COUNT_));
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

static int log_warnings;

static void count_warnings(void *ctx, kvs_log_level_t level, const char *msg)
{
    ck_assert_ptr_eq(ctx, &log_warnings);
    ck_assert_ptr_nonnull(msg);
    if (level == KVS_LOG_WARN)
        log_warnings++;
}

START_TEST(logger_hears_about_a_torn_tail)
{
    kvs_t *db = open_default();
    ck_assert_kvs(kvs_set(db, "k", 1, "value", 5), KVS_OK);
    ck_assert_kvs(kvs_set(db, "k2", 2, "value", 5), KVS_OK);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    char *seg = tu_last_file(tu_dir, ".log");
    tu_truncate(seg, tu_file_size(seg) - 14); /* the seal and part of "k2" */
    tu_remove_files(tu_dir, ".hint");
    free(seg);
    kvs_options_t *o = kvs_options_create();
    kvs_options_set_logger(o, count_warnings, &log_warnings);
    ck_assert_kvs(kvs_open(tu_dir, o, &db), KVS_OK);
    kvs_options_destroy(o);
    ck_assert_int_ge(log_warnings, 1);
    uint64_t torn;
    ck_assert_kvs(kvs_stat(db, KVS_STAT_RECOVERY_TORN_BYTES, &torn), KVS_OK);
    ck_assert_uint_gt(torn, 0);
    ck_assert_kvs(kvs_exists(db, "k", 1), KVS_OK);
    ck_assert_kvs(kvs_exists(db, "k2", 2), KVS_NOT_FOUND);
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

static Suite *api_suite(void)
{
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("open-close");
    tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
    tcase_add_test(tc, open_rejects_null_arguments);
    tcase_add_test(tc, open_with_defaults_creates_directory);
    tcase_add_test(tc, open_rejects_bad_sync_mode);
    tcase_add_test(tc, open_without_create_is_enoent);
    tcase_add_test(tc, open_on_a_file_is_eio);
    tcase_add_test(tc, second_open_is_busy);
    tcase_add_test(tc, close_null_is_ok);
    suite_add_tcase(s, tc);

    tc = tcase_create("read-write");
    tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, set_get_roundtrip);
    tcase_add_test(tc, set_overwrites);
    tcase_add_test(tc, binary_keys_and_values_with_nul);
    tcase_add_test(tc, empty_value);
    tcase_add_test(tc, empty_key_is_einval);
    tcase_add_test(tc, null_arguments_are_einval);
    tcase_add_test(tc, get_missing_is_not_found);
    tcase_add_test(tc, get_into_matches_get);
    tcase_add_test(tc, remove_then_get);
    tcase_add_test(tc, key_and_value_limits);
    tcase_add_test(tc, large_value_16mib);
    tcase_add_test(tc, long_records_keep_exact_sizes);
    tcase_add_test(tc, multi_get_matches_get);
    tcase_add_test(tc, multi_get_arguments);
    tcase_add_test(tc, multi_get_byte_limit);
    tcase_add_test(tc, set_ex_conditions);
    tcase_add_test(tc, read_only_refuses_writes);
    tcase_add_test(tc, read_only_open_without_a_lock_file);
    suite_add_tcase(s, tc);

    tc = tcase_create("maintenance");
    tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, sync_in_every_mode);
    tcase_add_test(tc, frequent_syncs_write_pages_not_huge_pages);
    tcase_add_test(tc, compact_reclaims_overwritten_values);
    tcase_add_test(tc, stat_arguments);
    tcase_add_test(tc, write_through_in_any_sync_mode);
    tcase_add_test(tc, logger_hears_about_a_torn_tail);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(api_suite());
}
