/*
 * The sharded hash index on its own. Locations stand for keys: a test key is
 * a number stored in loc.off, and the hash is chosen by the test, so that
 * collisions of tags, home buckets and shards can be forced.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/testutil.h"
#include "index.h"

static struct kvs_index *ix;

static void setup(void)
{
    ix = malloc(sizeof(*ix));
    ck_assert_int_eq(kvs__index_init(ix), KVS_OK);
}

static void teardown(void)
{
    kvs__index_destroy(ix);
    free(ix);
}

static int eq(void *ctx, const struct kvs_loc *loc, const void *key, size_t klen)
{
    (void)ctx;
    (void)klen;
    return loc->off == *(const uint32_t *)key;
}

static int put(uint64_t hash, uint32_t key, uint32_t size)
{
    struct kvs_index_shard *s = kvs__index_shard(ix, hash);
    struct kvs_loc loc = {.slot = 1, .off = key, .size = size}, old;
    ck_assert_int_eq(kvs__index_prepare_insert(ix, s), KVS_OK);
    return kvs__index_put(s, hash, &key, sizeof(key), eq, NULL, &loc, &old);
}

static struct kvs_index_entry *find(uint64_t hash, uint32_t key)
{
    return kvs__index_find(kvs__index_shard(ix, hash), hash, &key, sizeof(key), eq, NULL);
}

static int erase(uint64_t hash, uint32_t key)
{
    struct kvs_index_entry *e = find(hash, key);
    if (!e)
        return 0;
    kvs__index_erase(kvs__index_shard(ix, hash), e);
    return 1;
}

START_TEST(insert_replace_remove)
{
    ck_assert_int_eq(put(42, 7, 100), 0);
    ck_assert_int_eq(put(42, 7, 200), 1);
    struct kvs_index_entry *e = find(42, 7);
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq(kvs__entry_loc(e).size, 200);
    ck_assert_ptr_null(find(42, 8)); /* same hash, other key */
    ck_assert_int_eq(erase(42, 7), 1);
    ck_assert_ptr_null(find(42, 7));
    ck_assert_int_eq(erase(42, 7), 0);
}
END_TEST

/* Many keys sharing one hash: all live in one probe run. */
START_TEST(full_hash_collisions)
{
    for (uint32_t k = 1; k <= 200; k++)
        ck_assert_int_eq(put(0xABCDEF0012345678ull, k, k), 0);
    for (uint32_t k = 1; k <= 200; k += 2)
        ck_assert_int_eq(erase(0xABCDEF0012345678ull, k), 1);
    for (uint32_t k = 1; k <= 200; k++)
        ck_assert((find(0xABCDEF0012345678ull, k) != NULL) == (k % 2 == 0));
}
END_TEST

/* Random operations against a model, with hashes drawn from a small range
 * so that probe runs wrap around and deletions shift entries back. */
START_TEST(random_ops_match_model)
{
    enum { KEYS = 5000 };
    static uint64_t hash_of[KEYS];
    static int present[KEYS];
    uint64_t st = tu_seed();
    for (int i = 0; i < KEYS; i++) {
        /* few distinct shard bits and homes: lots of clustering */
        hash_of[i] = (tu_rand(&st) & 0x0300000F00000000ull) | (uint64_t)i;
        present[i] = 0;
    }
    for (int op = 0; op < 200000; op++) {
        uint32_t k = (uint32_t)(tu_rand(&st) % KEYS);
        if (tu_rand(&st) % 3) {
            ck_assert_int_eq(put(hash_of[k], k + 1, 1), present[k]);
            present[k] = 1;
        } else {
            ck_assert_int_eq(erase(hash_of[k], k + 1), present[k]);
            present[k] = 0;
        }
    }
    uint64_t keys = 0, bytes = 0, expect = 0;
    for (int i = 0; i < KEYS; i++) {
        ck_assert((find(hash_of[i], (uint32_t)i + 1) != NULL) == present[i]);
        expect += (uint64_t)present[i];
    }
    kvs__index_usage(ix, &keys, &bytes);
    ck_assert_uint_eq(keys, expect);
}
END_TEST

START_TEST(growth_keeps_every_entry)
{
    uint64_t st = tu_seed() + 1;
    enum { N = 100000 };
    uint64_t *h = malloc(N * sizeof(*h));
    for (uint32_t k = 0; k < N; k++) {
        h[k] = tu_rand(&st);
        ck_assert_int_eq(put(h[k], k + 1, k), 0);
    }
    uint64_t keys, bytes;
    kvs__index_usage(ix, &keys, &bytes);
    ck_assert_uint_eq(keys, N);
    /* 12-byte entries; growth happens when the fullest shard is 3/4 full,
     * so on average well over 3/8 full. */
    ck_assert_uint_eq(sizeof(struct kvs_index_entry), 12);
    ck_assert_uint_le(bytes, (uint64_t)N * 12 * 8 / 3 + sizeof(struct kvs_index));
    ck_assert_uint_eq(bytes, sizeof(struct kvs_index) + (uint64_t)KVS_INDEX_SHARDS * ix->capacity * 12);
    for (uint32_t k = 0; k < N; k++) {
        struct kvs_index_entry *e = find(h[k], k + 1);
        ck_assert_ptr_nonnull(e);
        ck_assert_uint_eq(kvs__entry_loc(e).size, k);
    }
    free(h);
}
END_TEST

/* Tables grow by half (not double) once past 64 entries a shard, so a
 * table that just grew is still half full; each capacity is whole 64-bit
 * words of the INDEX bitmap, and homes stay inside the table. */
START_TEST(growth_is_by_half)
{
    uint32_t prev = ix->capacity;
    ck_assert(kvs__index_capacity_valid(prev));
    uint64_t st = tu_seed() + 3;
    for (uint32_t k = 0; k < 300000; k++) {
        put(tu_rand(&st), k + 1, 0);
        if (ix->capacity == prev)
            continue;
        ck_assert(kvs__index_capacity_valid(ix->capacity));
        if (prev >= 64) {
            ck_assert_uint_eq(ix->capacity % 64, 0);
            ck_assert_uint_le(ix->capacity, prev + prev / 2 + 63);
        }
        prev = ix->capacity;
    }
    ck_assert_uint_gt(prev, 64);
    ck_assert(!kvs__index_capacity_valid(prev + 64));
    ck_assert(!kvs__index_capacity_valid(100));
    ck_assert_uint_eq(kvs__index_home_at(0xffffffffu, prev), prev - 1);
    ck_assert_uint_eq(kvs__index_home_at(0xff000000u, prev), 0);
}
END_TEST

START_TEST(reserve_then_fill_does_not_grow)
{
    ck_assert_int_eq(kvs__index_reserve(ix, 50000), KVS_OK);
    uint64_t keys, before, after;
    kvs__index_usage(ix, &keys, &before);
    uint64_t st = tu_seed() + 2;
    for (uint32_t k = 0; k < 50000; k++)
        put(tu_rand(&st), k + 1, 0);
    kvs__index_usage(ix, &keys, &after);
    ck_assert_uint_eq(keys, 50000);
    ck_assert_uint_eq(before, after);
}
END_TEST

/* Without prepare_insert a shard that is 15/16 full refuses insertions
 * instead of losing its last empty slot. */
START_TEST(full_shard_refuses_insertion)
{
    struct kvs_index_shard *s = &ix->shards[0];
    uint32_t n = 0;
    int rc;
    do {
        uint64_t hash = (uint64_t)n << 32; /* shard 0, distinct tags */
        struct kvs_loc loc = {.slot = 1, .off = n + 1, .size = 1}, old;
        uint32_t key = n + 1;
        rc = kvs__index_put(s, hash, &key, sizeof(key), eq, NULL, &loc, &old);
        n++;
    } while (rc == 0 && n < 100);
    ck_assert_int_eq(rc, KVS_ENOMEM);
    ck_assert_uint_lt(s->count, s->capacity);
}
END_TEST

START_TEST(find_by_location)
{
    put(99, 5, 10);
    struct kvs_index_shard *s = kvs__index_shard(ix, 99);
    struct kvs_loc loc = {.slot = 1, .off = 5, .size = 10};
    ck_assert_ptr_nonnull(kvs__index_find_loc(s, 99, &loc));
    loc.off = 6;
    ck_assert_ptr_null(kvs__index_find_loc(s, 99, &loc));
    loc.off = 5;
    loc.slot = 2;
    ck_assert_ptr_null(kvs__index_find_loc(s, 99, &loc));
}
END_TEST

/* The packed entry gives back what was put in it: every slot and offset,
 * sizes below KVS_LOC_SIZE_LONG exactly, larger ones as KVS_LOC_SIZE_LONG,
 * and its tag bits whatever the location. */
START_TEST(entries_pack_locations)
{
    static const uint32_t sizes[] = {12, 0xFFFF, 0x10000, 0x123456, KVS_LOC_SIZE_LONG - 1};
    static const uint32_t slots[] = {1, 255, 256, 0xFFFF};
    static const uint32_t offs[] = {64, 0x10000, UINT32_MAX};
    for (size_t a = 0; a < sizeof(sizes) / sizeof(*sizes); a++)
        for (size_t b = 0; b < sizeof(slots) / sizeof(*slots); b++)
            for (size_t c = 0; c < sizeof(offs) / sizeof(*offs); c++) {
                struct kvs_loc in = {.slot = slots[b], .off = offs[c], .size = sizes[a]};
                struct kvs_index_entry e = kvs__entry_make(0xABCDEF12u, &in);
                struct kvs_loc out = kvs__entry_loc(&e);
                ck_assert(kvs__entry_used(&e));
                ck_assert_uint_eq(kvs__entry_tag(&e), 0xCDEF12u);
                ck_assert(kvs__entry_tag_is(&e, 0x00CDEF12u));
                ck_assert(!kvs__entry_tag_is(&e, 0xABCDEF13u));
                ck_assert_uint_eq(kvs__entry_slot(&e), slots[b]);
                ck_assert_uint_eq(out.slot, slots[b]);
                ck_assert_uint_eq(out.off, offs[c]);
                ck_assert_uint_eq(out.size, sizes[a]);
            }
    struct kvs_loc big = {.slot = 3, .off = 64, .size = 600u << 20};
    struct kvs_index_entry e = kvs__entry_make(7, &big);
    ck_assert_uint_eq(kvs__entry_loc(&e).size, KVS_LOC_SIZE_LONG);
    big.size = 40;
    kvs__entry_set_loc(&e, &big);
    ck_assert_uint_eq(kvs__entry_loc(&e).size, 40);
    ck_assert_uint_eq(kvs__entry_tag(&e), 7);
    struct kvs_index_entry empty = {0};
    ck_assert(!kvs__entry_used(&empty));
}
END_TEST

START_TEST(hash_bits_pick_shards)
{
    ck_assert_ptr_eq(kvs__index_shard(ix, 0), &ix->shards[0]);
    ck_assert_ptr_eq(kvs__index_shard(ix, UINT64_MAX), &ix->shards[KVS_INDEX_SHARDS - 1]);
    ck_assert_uint_eq(kvs__index_tag(0x1234567800000000ull), 0x12345678u);
}
END_TEST

/* A thread that takes a shard's lock (write or read), notes it, lets go. */
struct lock_probe {
    struct kvs_index_shard *s;
    bool write;
    atomic_int got;
};

static void *take_lock(void *arg)
{
    struct lock_probe *p = arg;
    if (p->write)
        kvs__shard_wrlock(p->s);
    else
        kvs__shard_rdlock(p->s);
    atomic_store(&p->got, 1);
    pthread_rwlock_unlock(&p->s->lock);
    return NULL;
}

/* Whether the probe got its lock within ms milliseconds (it must not). */
static bool got_within(struct lock_probe *p, int ms)
{
    for (int i = 0; i < ms && !atomic_load(&p->got); i++)
        usleep(1000);
    return atomic_load(&p->got);
}

/* kvs__shard_wrlock/rdlock spin a little, then sleep on the lock: either
 * way they exclude what the lock excludes, for as long as it is held. */
START_TEST(shard_locks_wait_past_their_spin)
{
    struct kvs_index_shard *s = &ix->shards[3];
    kvs__shard_rdlock(s);
    kvs__shard_rdlock(s); /* readers share the lock */
    struct lock_probe w = {.s = s, .write = true};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, take_lock, &w), 0);
    ck_assert(!got_within(&w, 50)); /* far longer than the spin */
    pthread_rwlock_unlock(&s->lock);
    ck_assert(!got_within(&w, 20)); /* one reader left */
    pthread_rwlock_unlock(&s->lock);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_int_eq(atomic_load(&w.got), 1);

    kvs__shard_wrlock(s);
    struct lock_probe r = {.s = s, .write = false};
    ck_assert_int_eq(pthread_create(&t, NULL, take_lock, &r), 0);
    ck_assert(!got_within(&r, 50));
    pthread_rwlock_unlock(&s->lock);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_int_eq(atomic_load(&r.got), 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("index");
    TCase *tc = tcase_create("index");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, insert_replace_remove);
    tcase_add_test(tc, full_hash_collisions);
    tcase_add_test(tc, random_ops_match_model);
    tcase_add_test(tc, growth_keeps_every_entry);
    tcase_add_test(tc, reserve_then_fill_does_not_grow);
    tcase_add_test(tc, growth_is_by_half);
    tcase_add_test(tc, find_by_location);
    tcase_add_test(tc, full_shard_refuses_insertion);
    tcase_add_test(tc, hash_bits_pick_shards);
    tcase_add_test(tc, entries_pack_locations);
    tcase_add_test(tc, shard_locks_wait_past_their_spin);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
