/* The sharded hash index: growth, insertion and deletion (see index.h). */
#include "index.h"

#include <stdlib.h>
#include <sys/mman.h>

#include "internal.h"

#define INDEX_MIN_CAPACITY 16u
/* Tables this big come straight from mmap, populated in one call: cheaper
 * than one page fault per 4 KiB, which costs a lot under virtualization. */
#define INDEX_MMAP_BYTES (64u * 1024u)

struct kvs_index_entry *kvs__index_table_alloc(uint32_t capacity)
{
    size_t bytes = (size_t)capacity * sizeof(struct kvs_index_entry);
    if (bytes < INDEX_MMAP_BYTES)
        return calloc(capacity, sizeof(struct kvs_index_entry));
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void kvs__index_table_free(struct kvs_index_entry *t, uint32_t capacity)
{
    size_t bytes = (size_t)capacity * sizeof(struct kvs_index_entry);
    if (!t)
        return;
    if (bytes < INDEX_MMAP_BYTES)
        free(t);
    else
        munmap(t, bytes);
}

/* Grow when more than 3/4 full: linear probing stays short below that. */
static int index_too_full(uint64_t count, uint64_t capacity)
{
    return count * 4 > capacity * 3;
}


static int shard_alloc(struct kvs_index_shard *s, uint32_t capacity)
{
    struct kvs_index_entry *t = kvs__index_table_alloc(capacity);
    if (!t)
        return KVS_ENOMEM;
    s->table = t;
    s->mask = capacity - 1;
    s->count = 0;
    return KVS_OK;
}

int kvs__index_init(struct kvs_index *ix)
{
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    /* A stream of readers must not starve a writer of the same shard. */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    for (unsigned i = 0; i < KVS_INDEX_SHARDS; i++) {
        struct kvs_index_shard *s = &ix->shards[i];
        pthread_rwlock_init(&s->lock, &attr);
        if (shard_alloc(s, INDEX_MIN_CAPACITY) != KVS_OK) {
            pthread_rwlockattr_destroy(&attr);
            for (unsigned j = 0; j <= i; j++) {
                kvs__index_table_free(ix->shards[j].table, ix->shards[j].mask + 1);
                pthread_rwlock_destroy(&ix->shards[j].lock);
            }
            return KVS_ENOMEM;
        }
    }
    pthread_rwlockattr_destroy(&attr);
    return KVS_OK;
}

void kvs__index_destroy(struct kvs_index *ix)
{
    for (unsigned i = 0; i < KVS_INDEX_SHARDS; i++) {
        kvs__index_table_free(ix->shards[i].table, ix->shards[i].mask + 1);
        ix->shards[i].table = NULL;
        pthread_rwlock_destroy(&ix->shards[i].lock);
    }
}

static void shard_place(struct kvs_index_entry *table, uint32_t mask,
                        const struct kvs_index_entry *e)
{
    uint32_t i = e->tag & mask;
    while (table[i].loc.slot != 0)
        i = (i + 1) & mask;
    table[i] = *e;
}

/* Rebuild a shard's table at new_capacity; entries are placed by their tag. */
static int shard_grow(struct kvs_index_shard *s, uint32_t new_capacity)
{
    struct kvs_index_entry *t = kvs__index_table_alloc(new_capacity);
    if (!t)
        return KVS_ENOMEM;
    for (uint32_t i = 0; i <= s->mask; i++)
        if (s->table[i].loc.slot != 0)
            shard_place(t, new_capacity - 1, &s->table[i]);
    kvs__index_table_free(s->table, s->mask + 1);
    s->table = t;
    s->mask = new_capacity - 1;
    return KVS_OK;
}

static uint64_t capacity_for(uint64_t n)
{
    uint64_t capacity = INDEX_MIN_CAPACITY;
    while (index_too_full(n, capacity) && capacity < (1u << KVS_INDEX_BUCKET_BITS_MAX))
        capacity *= 2;
    return capacity;
}

int kvs__index_reserve(struct kvs_index *ix, uint64_t n)
{
    uint64_t capacity = capacity_for(n / KVS_INDEX_SHARDS + 1);
    for (unsigned i = 0; i < KVS_INDEX_SHARDS; i++) {
        struct kvs_index_shard *s = &ix->shards[i];
        pthread_rwlock_wrlock(&s->lock);
        int rc = KVS_OK;
        if (s->mask + 1 < capacity)
            rc = shard_grow(s, (uint32_t)capacity);
        pthread_rwlock_unlock(&s->lock);
        if (rc != KVS_OK)
            return rc;
    }
    return KVS_OK;
}

int kvs__index_prepare_insert(struct kvs_index_shard *s)
{
    if (!index_too_full((uint64_t)s->count + 1, (uint64_t)s->mask + 1))
        return KVS_OK;
    if (s->mask + 1 >= (1u << KVS_INDEX_BUCKET_BITS_MAX))
        return (uint64_t)(s->count + 1) * 16 > (uint64_t)(s->mask + 1) * 15 ? KVS_ENOMEM : KVS_OK;
    pthread_rwlock_wrlock(&s->lock);
    int rc = shard_grow(s, (s->mask + 1) * 2);
    pthread_rwlock_unlock(&s->lock);
    return rc;
}

struct kvs_index_entry *kvs__index_find_loc(struct kvs_index_shard *s, uint64_t hash,
                                            const struct kvs_loc *loc)
{
    uint32_t tag = kvs__index_tag(hash);
    for (uint32_t i = kvs__index_home(s, hash);; i = (i + 1) & s->mask) {
        struct kvs_index_entry *e = &s->table[i];
        if (e->loc.slot == 0)
            return NULL;
        if (e->tag == tag && e->loc.slot == loc->slot && e->loc.off == loc->off)
            return e;
    }
}

int kvs__index_put(struct kvs_index_shard *s, uint64_t hash, const void *key, size_t klen,
                   kvs_key_eq_fn eq, void *ctx, const struct kvs_loc *loc, struct kvs_loc *old)
{
    KVS_ASSERT(loc->slot != 0);
    struct kvs_index_entry *e = kvs__index_find(s, hash, key, klen, eq, ctx);
    if (e) {
        *old = e->loc;
        e->loc = *loc;
        return 1;
    }
    if (index_too_full((uint64_t)s->count + 1, (uint64_t)s->mask + 1)) {
        if (s->mask + 1 >= (1u << KVS_INDEX_BUCKET_BITS_MAX)) {
            /* At the largest size the table may fill up to 15/16. */
            if ((uint64_t)(s->count + 1) * 16 > (uint64_t)(s->mask + 1) * 15)
                return KVS_ENOMEM;
        } else if (shard_grow(s, (s->mask + 1) * 2) != KVS_OK) {
            return KVS_ENOMEM;
        }
    }
    struct kvs_index_entry ne = {.tag = kvs__index_tag(hash), .loc = *loc};
    shard_place(s->table, s->mask, &ne);
    s->count++;
    return 0;
}

/* Backward-shift deletion: pull later entries of the cluster into the hole
 * when their home bucket allows it, so no "deleted" markers are needed. */
void kvs__index_erase(struct kvs_index_shard *s, struct kvs_index_entry *e)
{
    uint32_t mask = s->mask;
    uint32_t hole = (uint32_t)(e - s->table);
    uint32_t i = hole;
    for (;;) {
        i = (i + 1) & mask;
        struct kvs_index_entry *next = &s->table[i];
        if (next->loc.slot == 0)
            break;
        uint32_t home = next->tag & mask;
        /* next may move to the hole if its home is not in (hole, i]. */
        int home_between = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
        if (!home_between) {
            s->table[hole] = *next;
            hole = i;
        }
    }
    s->table[hole] = (struct kvs_index_entry){0};
    s->count--;
}

void kvs__index_adopt(struct kvs_index *ix, unsigned i, struct kvs_index_entry *table,
                      uint32_t capacity, uint32_t count)
{
    struct kvs_index_shard *s = &ix->shards[i];
    KVS_ASSERT(capacity >= INDEX_MIN_CAPACITY && (capacity & (capacity - 1)) == 0);
    kvs__index_table_free(s->table, s->mask + 1);
    s->table = table;
    s->mask = capacity - 1;
    s->count = count;
}

void kvs__index_usage(struct kvs_index *ix, uint64_t *keys, uint64_t *bytes)
{
    uint64_t k = 0, b = sizeof(*ix);
    for (unsigned i = 0; i < KVS_INDEX_SHARDS; i++) {
        struct kvs_index_shard *s = &ix->shards[i];
        pthread_rwlock_rdlock(&s->lock);
        k += s->count;
        b += ((uint64_t)s->mask + 1) * sizeof(struct kvs_index_entry);
        pthread_rwlock_unlock(&s->lock);
    }
    *keys = k;
    *bytes = b;
}
