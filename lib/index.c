/* The sharded hash index: the region, growth, insertion, deletion (see index.h). */
#include "index.h"

#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "internal.h"
#include "readers.h"

#define INDEX_MIN_CAPACITY 16u
#define INDEX_MAX_CAPACITY (1u << KVS_INDEX_BUCKET_BITS_MAX)
#define HUGE_PAGE_BYTES ((size_t)2 << 20)

/* Grow when more than 3/4 full: linear probing stays short below that. */
static int index_too_full(uint64_t count, uint64_t capacity)
{
    return count * 4 > capacity * 3;
}

/* The capacity after capacity: doubled while small, then half as large
 * again, in whole 64-entry words of the INDEX file's bitmap. Growing by
 * half keeps a table at least half full right after it grew (doubling left
 * it 3/8 full: 32 bytes per key instead of 24). */
static uint64_t next_capacity(uint64_t capacity)
{
    if (capacity < 64)
        return capacity * 2;
    uint64_t next = (capacity + capacity / 2 + 63) & ~(uint64_t)63;
    return next < INDEX_MAX_CAPACITY ? next : INDEX_MAX_CAPACITY;
}

bool kvs__index_capacity_valid(uint64_t capacity)
{
    uint64_t c = INDEX_MIN_CAPACITY;
    while (c < capacity)
        c = next_capacity(c);
    return c == capacity && capacity <= INDEX_MAX_CAPACITY;
}

/* ---- the region ---- */

struct region {
    void *base, *map;
    size_t bytes, map_bytes;
};

/* Zeroed memory for every shard's table, aligned to a huge page and marked
 * for transparent huge pages when it is big enough to use them. */
static int region_alloc(uint32_t capacity, struct region *r)
{
    r->bytes = (size_t)KVS_INDEX_SHARDS * capacity * sizeof(struct kvs_index_entry);
    bool huge = r->bytes >= HUGE_PAGE_BYTES;
    r->map_bytes = r->bytes + (huge ? HUGE_PAGE_BYTES : 0);
    r->map = mmap(NULL, r->map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (r->map == MAP_FAILED)
        return KVS_ENOMEM;
    uintptr_t at = (uintptr_t)r->map;
    if (huge) {
        at = (at + HUGE_PAGE_BYTES - 1) & ~(uintptr_t)(HUGE_PAGE_BYTES - 1);
        madvise((void *)at, r->bytes, MADV_HUGEPAGE); /* a hint; may be refused */
    }
    r->base = (void *)at;
    return KVS_OK;
}

static void region_install(struct kvs_index *ix, const struct region *r, uint32_t capacity)
{
    ix->region = r->base;
    ix->region_bytes = r->bytes;
    ix->region_map = r->map;
    ix->region_map_bytes = r->map_bytes;
    ix->capacity = capacity;
}

static void region_unmap(void *map, size_t bytes)
{
    if (map)
        munmap(map, bytes);
}

static struct kvs_index_entry *slice(void *base, unsigned shard, uint32_t capacity)
{
    return (struct kvs_index_entry *)base + (size_t)shard * capacity;
}

/* ---- setup ---- */

/* Stores that readers without the lock may read at the same time: the
 * table first, so that one that reads the capacity and then the table never
 * gets a table smaller than the capacity (see kvs__index_candidates). */
static void set_table(struct kvs_index_shard *s, struct kvs_index_entry *t, uint32_t capacity)
{
    __atomic_store_n(&s->table, t, __ATOMIC_RELEASE);
    __atomic_store_n(&s->capacity, capacity, __ATOMIC_RELEASE);
}

static void shards_point_at_region(struct kvs_index *ix)
{
    for (unsigned i = 0; i < KVS_INDEX_SHARDS; i++) {
        set_table(&ix->shards[i], slice(ix->region, i, ix->capacity), ix->capacity);
        ix->shards[i].count = 0;
    }
}

unsigned kvs__thread_stripe(void)
{
    /* initial-exec: a plain load from the thread's block, not a call to
     * __tls_get_addr on every get (a few bytes of static TLS) */
    static __thread unsigned mine __attribute__((tls_model("initial-exec")));
    static _Atomic unsigned next;
    if (KVS_UNLIKELY(mine == 0))
        mine = atomic_fetch_add_explicit(&next, 1, memory_order_relaxed) % KVS_GET_STRIPES + 1;
    return mine - 1;
}

int kvs__index_init(struct kvs_index *ix)
{
    struct region r;
    if (region_alloc(INDEX_MIN_CAPACITY, &r) != KVS_OK)
        return KVS_ENOMEM;
    region_install(ix, &r, INDEX_MIN_CAPACITY);
    shards_point_at_region(ix);
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    /* A stream of readers must not starve a writer of the same shard. */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    for (unsigned i = 0; i < KVS_INDEX_SHARDS; i++)
        pthread_rwlock_init(&ix->shards[i].lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    return KVS_OK;
}

void kvs__index_destroy(struct kvs_index *ix)
{
    for (unsigned i = 0; i < KVS_INDEX_SHARDS; i++)
        pthread_rwlock_destroy(&ix->shards[i].lock);
    region_unmap(ix->region_map, ix->region_map_bytes);
    ix->region = ix->region_map = NULL;
}

int kvs__index_clear(struct kvs_index *ix)
{
    struct region r;
    if (region_alloc(INDEX_MIN_CAPACITY, &r) != KVS_OK)
        return KVS_ENOMEM;
    region_unmap(ix->region_map, ix->region_map_bytes);
    region_install(ix, &r, INDEX_MIN_CAPACITY);
    shards_point_at_region(ix);
    return KVS_OK;
}

/* ---- growth ---- */

static void place(struct kvs_index_entry *table, uint32_t capacity,
                  const struct kvs_index_entry *e)
{
    uint32_t i = kvs__index_home_at(kvs__entry_tag(e), capacity);
    while (kvs__entry_used(&table[i]))
        i = kvs__index_next_slot(i, capacity);
    kvs__entry_copy(&table[i], e);
}

/* Give the pages of a moved shard's old table back now rather than when
 * the whole old region goes: the process then never holds both regions
 * whole (the peak stays near the new region's size, not 1.5 times it). */
static void release_slice(struct kvs_index_entry *t, uint32_t capacity)
{
    const uintptr_t page = 4096;
    uintptr_t from = ((uintptr_t)t + page - 1) & ~(page - 1);
    uintptr_t to = ((uintptr_t)(t + capacity)) & ~(page - 1);
    if (to > from)
        madvise((void *)from, to - from, MADV_DONTNEED);
}

/* Move every shard into a region of new_capacity entries per shard. Each
 * shard moves under its write lock, so readers of the others go on; no
 * reader under the lock is left in its old table once it is released, and
 * the old region goes once readers without the lock are out of it too. */
static int grow_all(struct kvs_index *ix, uint32_t new_capacity)
{
    struct region r;
    if (region_alloc(new_capacity, &r) != KVS_OK)
        return KVS_ENOMEM;
    void *old_map = ix->region_map;
    size_t old_map_bytes = ix->region_map_bytes;
    uint32_t old_capacity = ix->capacity;
    for (unsigned i = 0; i < KVS_INDEX_SHARDS; i++) {
        struct kvs_index_shard *s = &ix->shards[i];
        struct kvs_index_entry *t = slice(r.base, i, new_capacity);
        struct kvs_index_entry *old = s->table;
        kvs__shard_change_lock(s);
        for (uint32_t j = 0; j < s->capacity; j++)
            if (kvs__entry_used(&s->table[j]))
                place(t, new_capacity, &s->table[j]);
        set_table(s, t, new_capacity);
        kvs__shard_change_unlock(s);
        release_slice(old, old_capacity); /* its pages read as zeros from now on */
    }
    region_install(ix, &r, new_capacity);
    kvs__readers_wait();
    region_unmap(old_map, old_map_bytes);
    return KVS_OK;
}

static uint64_t capacity_for(uint64_t n)
{
    uint64_t capacity = INDEX_MIN_CAPACITY;
    while (index_too_full(n, capacity) && capacity < INDEX_MAX_CAPACITY)
        capacity = next_capacity(capacity);
    return capacity;
}

static uint64_t isqrt(uint64_t n)
{
    uint64_t r = 0;
    while ((r + 1) * (r + 1) <= n)
        r++;
    return r;
}

int kvs__index_reserve(struct kvs_index *ix, uint64_t n)
{
    /* Shards fill unevenly: a shard's count is about Poisson, so room for
     * five standard deviations above the average makes a growth during the
     * load unlikely (about one load in ten thousand). */
    uint64_t avg = n / KVS_INDEX_SHARDS;
    uint64_t capacity = capacity_for(avg + 5 * isqrt(avg) + 8);
    return capacity > ix->capacity ? grow_all(ix, (uint32_t)capacity) : KVS_OK;
}

int kvs__index_prepare_insert(struct kvs_index *ix, struct kvs_index_shard *s)
{
    return kvs__index_prepare_inserts(ix, s, 1);
}

int kvs__index_prepare_inserts(struct kvs_index *ix, struct kvs_index_shard *s, uint64_t k)
{
    uint64_t capacity = ix->capacity;
    uint64_t count = atomic_load_explicit(&s->count, memory_order_relaxed);
    while (index_too_full(count + k, capacity) && capacity < INDEX_MAX_CAPACITY)
        capacity = next_capacity(capacity);
    if (capacity > ix->capacity) {
        int rc = grow_all(ix, (uint32_t)capacity);
        if (rc != KVS_OK)
            return rc;
    }
    /* At the largest size a shard may fill up to 15/16. */
    count = atomic_load_explicit(&s->count, memory_order_relaxed);
    return (count + k) * 16 > (uint64_t)ix->capacity * 15 ? KVS_ENOMEM : KVS_OK;
}

/* ---- loading a saved index ---- */

void *kvs__index_load_begin(struct kvs_index *ix, uint32_t capacity)
{
    struct region r;
    if (!kvs__index_capacity_valid(capacity) || region_alloc(capacity, &r) != KVS_OK)
        return NULL;
    region_unmap(ix->region_map, ix->region_map_bytes);
    region_install(ix, &r, capacity);
    shards_point_at_region(ix);
    return ix->region;
}

void kvs__index_load_end(struct kvs_index *ix, const uint32_t *counts)
{
    for (unsigned i = 0; i < KVS_INDEX_SHARDS; i++)
        ix->shards[i].count = counts[i];
}

/* ---- lookups and updates ---- */

struct kvs_index_entry *kvs__index_find_loc(struct kvs_index_shard *s, uint64_t hash,
                                            const struct kvs_loc *loc)
{
    uint32_t tag = kvs__index_tag(hash);
    for (uint32_t i = kvs__index_home(s, hash);; i = kvs__index_next_slot(i, s->capacity)) {
        struct kvs_index_entry *e = &s->table[i];
        if (!kvs__entry_used(e))
            return NULL;
        if (kvs__entry_tag_is(e, tag) && kvs__entry_slot(e) == loc->slot && e->off == loc->off)
            return e;
    }
}

/* Under the shard's write lock: only one thread changes the count. */
static void shard_count_add(struct kvs_index_shard *s, uint32_t delta)
{
    uint32_t n = atomic_load_explicit(&s->count, memory_order_relaxed);
    atomic_store_explicit(&s->count, n + delta, memory_order_relaxed);
}

int kvs__index_put(struct kvs_index_shard *s, uint64_t hash, const void *key, size_t klen,
                   kvs_key_eq_fn eq, void *ctx, const struct kvs_loc *loc, struct kvs_loc *old)
{
    KVS_ASSERT(loc->slot != 0);
    struct kvs_index_entry *e = kvs__index_find(s, hash, key, klen, eq, ctx);
    if (e) {
        *old = kvs__entry_loc(e);
        kvs__entry_set_loc(e, loc);
        return 1;
    }
    if ((uint64_t)(s->count + 2) * 16 > (uint64_t)s->capacity * 15)
        return KVS_ENOMEM; /* never leave the table without an empty slot */
    struct kvs_index_entry ne = kvs__entry_make(kvs__index_tag(hash), loc);
    place(s->table, s->capacity, &ne);
    shard_count_add(s, 1);
    return 0;
}

/* Backward-shift deletion: pull later entries of the cluster into the hole
 * when their home bucket allows it, so no "deleted" markers are needed. */
void kvs__index_erase(struct kvs_index_shard *s, struct kvs_index_entry *e)
{
    uint32_t capacity = s->capacity;
    uint32_t hole = (uint32_t)(e - s->table);
    uint32_t i = hole;
    for (;;) {
        i = kvs__index_next_slot(i, capacity);
        struct kvs_index_entry *next = &s->table[i];
        if (!kvs__entry_used(next))
            break;
        uint32_t home = kvs__index_home_at(kvs__entry_tag(next), capacity);
        /* next may move to the hole if its home is not in (hole, i]. */
        int home_between = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
        if (!home_between) {
            kvs__entry_copy(&s->table[hole], next);
            hole = i;
        }
    }
    kvs__entry_store(&s->table[hole], 0, 0, 0);
    shard_count_add(s, (uint32_t)-1);
}

void kvs__index_usage(struct kvs_index *ix, uint64_t *keys, uint64_t *bytes)
{
    uint64_t k = 0, b = sizeof(*ix);
    for (unsigned i = 0; i < KVS_INDEX_SHARDS; i++) {
        struct kvs_index_shard *s = &ix->shards[i];
        pthread_rwlock_rdlock(&s->lock);
        k += s->count;
        b += (uint64_t)s->capacity * sizeof(struct kvs_index_entry);
        pthread_rwlock_unlock(&s->lock);
    }
    *keys = k;
    *bytes = b;
}
