/*
 * The in-memory index ("keydir"): key hash -> location of the key's latest
 * record. A hash table split into shards, each an open-addressing table with
 * linear probing under its own reader/writer lock, so gets on different keys
 * never contend and a write blocks only the readers of one shard, briefly.
 * Point gets read a shard without its lock, as seqlock readers of its change
 * count (kvs__index_candidates), so that they write no shared cache line.
 *
 * Keys are not kept in memory: an entry holds 24 bits of the hash (the tag)
 * and the record's location; a tag match is confirmed by comparing the key
 * stored in the record (the caller's key_eq). So an entry costs 12 bytes, and
 * with the table between 1/2 and 3/4 full, 16 to 24 bytes per key.
 *
 * The tag is the hash's upper 32 bits: its top 8 bits pick the shard and its
 * low 24 bits the home bucket, scaled to the table's capacity (which need not
 * be a power of two: tables grow by half, not double, so that a table just
 * past a growth is not half empty), so a table can grow without the keys. An
 * entry keeps only those low 24 bits: the top 8 are the same for every entry
 * of a shard. The lower 32 bits of the hash are never used (hint files do not
 * even store them). Everything that touches the layout of the hash lives here
 * and in index.c, so the index can be swapped for an ordered one without
 * touching the rest.
 */
#ifndef KVS_INDEX_H
#define KVS_INDEX_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

#define KVS_INDEX_SHARD_BITS 8
#define KVS_INDEX_SHARDS (1u << KVS_INDEX_SHARD_BITS)
#define KVS_INDEX_BUCKET_BITS_MAX 24

/* Where a record lives: slot 0 means "empty entry". */
struct kvs_loc {
    uint32_t slot; /* segment slot (see segment.h), below 65,536 */
    uint32_t off;  /* byte offset of the record in its segment */
    uint32_t size; /* record size in bytes, header included */
};

/* A record of KVS_LOC_SIZE_LONG bytes or more: its entry holds this
 * instead of the size, which is then read from the record's header
 * (kvs__loc_exact in store.h). Only values of about 16 MiB and more. */
#define KVS_LOC_SIZE_LONG 0xFFFFFFu

/*
 * An entry, packed into 12 bytes (16 unpacked: a quarter of the index's
 * memory). The 24-bit size is split over two words:
 *   hi:   tag's low 24 bits | size bits 16..23 << 24
 *   off:  byte offset of the record in its segment
 *   lo:   segment slot << 16 | size bits 0..15
 * All zero (slot 0) is an empty entry.
 */
struct kvs_index_entry {
    uint32_t hi;
    uint32_t off;
    uint32_t lo;
};

#define KVS_INDEX_TAG_MASK 0xFFFFFFu

static inline bool kvs__entry_used(const struct kvs_index_entry *e)
{
    return (e->lo >> 16) != 0;
}

/* The tag bits an entry keeps (the low 24). */
static inline uint32_t kvs__entry_tag(const struct kvs_index_entry *e)
{
    return e->hi & KVS_INDEX_TAG_MASK;
}

static inline bool kvs__entry_tag_is(const struct kvs_index_entry *e, uint32_t tag)
{
    return ((e->hi ^ tag) & KVS_INDEX_TAG_MASK) == 0;
}

static inline uint32_t kvs__entry_slot(const struct kvs_index_entry *e)
{
    return e->lo >> 16;
}

/* The location; its size is KVS_LOC_SIZE_LONG for a long record. */
static inline struct kvs_loc kvs__entry_loc(const struct kvs_index_entry *e)
{
    return (struct kvs_loc){.slot = e->lo >> 16,
                            .off = e->off,
                            .size = (e->hi >> 24) << 16 | (e->lo & 0xFFFFu)};
}

/*
 * Entries in a table change under the shard's write lock, word by word with
 * release stores, so that a reader without the lock (kvs__index_candidates)
 * that loads a word with acquire and sees it new also sees the shard's change
 * count odd (stored before), and retries.
 */
static inline void kvs__entry_store(struct kvs_index_entry *e, uint32_t hi, uint32_t off,
                                    uint32_t lo)
{
    __atomic_store_n(&e->hi, hi, __ATOMIC_RELEASE);
    __atomic_store_n(&e->off, off, __ATOMIC_RELEASE);
    __atomic_store_n(&e->lo, lo, __ATOMIC_RELEASE);
}

/* The words of a table's entry, read without the shard's lock: acquire loads,
 * the counterpart of kvs__entry_store (see kvs__index_candidates). */
static inline struct kvs_index_entry kvs__entry_load(const struct kvs_index_entry *e)
{
    return (struct kvs_index_entry){.hi = __atomic_load_n(&e->hi, __ATOMIC_ACQUIRE),
                                    .off = __atomic_load_n(&e->off, __ATOMIC_ACQUIRE),
                                    .lo = __atomic_load_n(&e->lo, __ATOMIC_ACQUIRE)};
}

static inline void kvs__entry_copy(struct kvs_index_entry *to, const struct kvs_index_entry *from)
{
    kvs__entry_store(to, from->hi, from->off, from->lo);
}

/* An entry for tag and loc, built in registers (a table's entry is changed
 * with kvs__entry_set_loc or kvs__entry_copy). */
static inline struct kvs_index_entry kvs__entry_make(uint32_t tag, const struct kvs_loc *loc)
{
    uint32_t size = loc->size < KVS_LOC_SIZE_LONG ? loc->size : KVS_LOC_SIZE_LONG;
    return (struct kvs_index_entry){.hi = (tag & KVS_INDEX_TAG_MASK) | (size >> 16) << 24,
                                    .off = loc->off,
                                    .lo = loc->slot << 16 | (size & 0xFFFFu)};
}

static inline void kvs__entry_set_loc(struct kvs_index_entry *e, const struct kvs_loc *loc)
{
    struct kvs_index_entry n = kvs__entry_make(e->hi, loc);
    kvs__entry_copy(e, &n);
}

struct kvs_index_shard {
    /* What readers without the lock read, on a line of its own: the lock's
     * line changes with every reader that takes it. table and capacity
     * change under the write lock, with release stores (kvs__index_prefetch
     * and kvs__index_candidates read them without the lock). */
    struct kvs_index_entry *table; /* its slice of the region; capacity entries */
    uint32_t capacity;
    /* Entries in use: changed under the write lock (a load and a store, not
     * a locked add), read without it by the writer's growth check, which
     * compaction's erasures may overlap (they only lower it). */
    _Atomic uint32_t count;
    _Atomic uint32_t changes; /* odd while the entries or the table change */
    pthread_rwlock_t lock __attribute__((aligned(64)));
} __attribute__((aligned(64)));

/*
 * kvs_get calls made (statistics, and the background thread's idle check),
 * counted in stripes of a cache line each, a thread always adding to the
 * same one: a counter that every reader adds to (or one in the shard's lock
 * line, which readers read) would move between their CPUs' caches on every
 * get, and cost two concurrent readers 7-10 % of their gets.
 */
#define KVS_GET_STRIPES 16u
struct kvs_get_stripe {
    _Atomic uint64_t n;
} __attribute__((aligned(64)));

/*
 * All shards have the same capacity and their tables are consecutive slices
 * of one region, so that a large index sits in huge pages (few page table
 * entries: each new 4 KiB mapping is expensive, above all in a virtual
 * machine) and is saved and loaded with one system call. When any shard
 * reaches 3/4 full, every shard moves to a region half as large again, one
 * shard at a time under its own write lock.
 */
struct kvs_index {
    struct kvs_index_shard shards[KVS_INDEX_SHARDS];
    struct kvs_get_stripe gets[KVS_GET_STRIPES];
    void *region;        /* the tables */
    size_t region_bytes; /* KVS_INDEX_SHARDS * capacity * 12 */
    void *region_map;    /* what to unmap (the region, aligned inside it) */
    size_t region_map_bytes;
    uint32_t capacity;   /* entries per shard */
};

/*
 * Take a shard's lock, spinning a little before sleeping on it. A shard
 * lock is held briefly, about one cache miss at most (the slot's miss is
 * taken before, see kvs__index_prefetch; the writer's key check may miss
 * once on the old record), while going to sleep on the lock and being woken
 * costs two system calls and a wake-up: between the writer and a compaction
 * that was thousands of sleeps a second. The spin lasts a few microseconds.
 */
#define KVS_SHARD_SPINS 100

static inline void kvs__shard_lock_spinning(struct kvs_index_shard *s,
                                            int (*try_lock)(pthread_rwlock_t *),
                                            int (*lock)(pthread_rwlock_t *))
{
    for (int i = 0; i < KVS_SHARD_SPINS; i++) {
        if (try_lock(&s->lock) == 0)
            return;
        kvs__cpu_relax();
    }
    lock(&s->lock);
}

static inline void kvs__shard_wrlock(struct kvs_index_shard *s)
{
    kvs__shard_lock_spinning(s, pthread_rwlock_trywrlock, pthread_rwlock_wrlock);
}

static inline void kvs__shard_rdlock(struct kvs_index_shard *s)
{
    kvs__shard_lock_spinning(s, pthread_rwlock_tryrdlock, pthread_rwlock_rdlock);
}

/*
 * Take a shard's write lock to change its entries or table, and release it:
 * the change count is odd in between. The odd store needs no barrier of its
 * own: the entry stores after it are release stores (kvs__entry_store).
 */
static inline void kvs__shard_change_lock(struct kvs_index_shard *s)
{
    kvs__shard_wrlock(s);
    uint32_t c = atomic_load_explicit(&s->changes, memory_order_relaxed);
    atomic_store_explicit(&s->changes, c + 1, memory_order_relaxed);
}

static inline void kvs__shard_change_unlock(struct kvs_index_shard *s)
{
    uint32_t c = atomic_load_explicit(&s->changes, memory_order_relaxed);
    atomic_store_explicit(&s->changes, c + 1, memory_order_release);
    pthread_rwlock_unlock(&s->lock);
}

/* Does the record at e->loc hold this key? */
typedef int (*kvs_key_eq_fn)(void *ctx, const struct kvs_loc *loc, const void *key,
                             size_t klen);

int kvs__index_init(struct kvs_index *ix);
void kvs__index_destroy(struct kvs_index *ix);

/* Size every shard for about n keys in total, so a bulk load never resizes. */
int kvs__index_reserve(struct kvs_index *ix, uint64_t n);

/* Gets made so far (the stripes summed): KVS_STAT_GETS, and what the
 * background thread watches to tell a store being read from an idle one. */
static inline uint64_t kvs__index_gets(struct kvs_index *ix)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < KVS_GET_STRIPES; i++)
        n += atomic_load_explicit(&ix->gets[i].n, memory_order_relaxed);
    return n;
}

/* The calling thread's stripe, the same for its whole life (index.c). */
unsigned kvs__thread_stripe(void);

/* Count one get, in the calling thread's stripe. */
static inline void kvs__index_count_get(struct kvs_index *ix)
{
    atomic_fetch_add_explicit(&ix->gets[kvs__thread_stripe()].n, 1, memory_order_relaxed);
}

static inline struct kvs_index_shard *kvs__index_shard(struct kvs_index *ix, uint64_t hash)
{
    return &ix->shards[hash >> (64 - KVS_INDEX_SHARD_BITS)];
}

static inline uint32_t kvs__index_tag(uint64_t hash)
{
    return (uint32_t)(hash >> 32);
}

/* The home slot of tag in a table of capacity entries (at most 2^24): the
 * tag's low 24 bits scaled to the capacity (a multiply and a shift, and the
 * slots stay in the order of those bits whatever the capacity). */
static inline uint32_t kvs__index_home_at(uint32_t tag, uint32_t capacity)
{
    return (uint32_t)(((uint64_t)(tag & ((1u << KVS_INDEX_BUCKET_BITS_MAX) - 1)) * capacity) >>
                      KVS_INDEX_BUCKET_BITS_MAX);
}

static inline uint32_t kvs__index_home(const struct kvs_index_shard *s, uint64_t hash)
{
    return kvs__index_home_at(kvs__index_tag(hash), s->capacity);
}

/*
 * Start loading hash's home slot (and its shard's lock) into the cache,
 * without the lock, and with next_line the table's line after the home
 * slot's too: with 12-byte entries, five to a line, a probe sequence in a
 * table 1/2 to 3/4 full often runs into it (batches of overwrites measured
 * ~10 % faster with it). The table and its capacity are read atomically
 * (growth stores them so); a stale pair only prefetches a wrong address, and
 * a prefetch never faults.
 */
static inline void kvs__index_prefetch_lines(struct kvs_index_shard *s, uint64_t hash,
                                             bool next_line)
{
    struct kvs_index_entry *t = __atomic_load_n(&s->table, __ATOMIC_RELAXED);
    uint32_t capacity = __atomic_load_n(&s->capacity, __ATOMIC_RELAXED);
    uint32_t home = kvs__index_home_at(kvs__index_tag(hash), capacity);
    __builtin_prefetch(&s->lock);
    __builtin_prefetch(t + home);
    if (next_line && home + 6 < capacity) /* the next line is inside the table */
        __builtin_prefetch((const char *)(t + home) + 64);
}

/* The home slot's line: for readers that look many keys up at once. */
static inline void kvs__index_prefetch(struct kvs_index_shard *s, uint64_t hash)
{
    kvs__index_prefetch_lines(s, hash, false);
}

/* The slot after i, wrapping around (linear probing). */
static inline uint32_t kvs__index_next_slot(uint32_t i, uint32_t capacity)
{
    return i + 1 == capacity ? 0 : i + 1;
}

/*
 * Find the entry holding key. The caller holds the shard's lock (read or
 * write) and gets a pointer valid until it releases it.
 */
static inline struct kvs_index_entry *kvs__index_find(struct kvs_index_shard *s, uint64_t hash,
                                                      const void *key, size_t klen,
                                                      kvs_key_eq_fn eq, void *ctx)
{
    uint32_t tag = kvs__index_tag(hash);
    for (uint32_t i = kvs__index_home(s, hash);; i = kvs__index_next_slot(i, s->capacity)) {
        struct kvs_index_entry *e = &s->table[i];
        if (!kvs__entry_used(e))
            return NULL;
        if (kvs__entry_tag_is(e, tag)) {
            struct kvs_loc loc = kvs__entry_loc(e);
            if (eq(ctx, &loc, key, klen))
                return e;
        }
    }
}

/*
 * Walk the entries whose tag matches hash, starting at *pos (initialise it
 * with kvs__index_home()); returns NULL at the end of the probe sequence.
 * For callers that must look at every candidate (kvs_get skips damaged ones).
 */
static inline struct kvs_index_entry *kvs__index_next_tag(struct kvs_index_shard *s,
                                                          uint64_t hash, uint32_t *pos)
{
    uint32_t tag = kvs__index_tag(hash);
    for (uint32_t i = *pos;; i = kvs__index_next_slot(i, s->capacity)) {
        struct kvs_index_entry *e = &s->table[i];
        if (!kvs__entry_used(e))
            return NULL;
        if (kvs__entry_tag_is(e, tag)) {
            *pos = kvs__index_next_slot(i, s->capacity);
            return e;
        }
    }
}

/*
 * The locations of the entries whose tag matches hash, read without the
 * shard's lock, as they all were at one moment: into locs (room for max),
 * *n receives how many. False if a change of the shard overlapped the
 * reads, or more than max entries match: the caller then reads under the
 * lock. Call inside a read section (readers.h): the table may be an old
 * one, about to be freed.
 */
static inline bool kvs__index_candidates(struct kvs_index_shard *s, uint64_t hash,
                                         struct kvs_loc *locs, size_t max, size_t *n)
{
    uint32_t before = atomic_load_explicit(&s->changes, memory_order_acquire);
    if (before & 1)
        return false;
    /* The capacity first: the table read after it is that one's or a later,
     * larger one (tables only grow while readers run), never too small. */
    uint32_t capacity = __atomic_load_n(&s->capacity, __ATOMIC_ACQUIRE);
    const struct kvs_index_entry *t = __atomic_load_n(&s->table, __ATOMIC_ACQUIRE);
    uint32_t tag = kvs__index_tag(hash);
    uint32_t i = kvs__index_home_at(tag, capacity);
    *n = 0;
    /* bounded: a table seen mid-change may look full */
    for (uint32_t probes = 0; probes < capacity; probes++) {
        struct kvs_index_entry e = kvs__entry_load(&t[i]);
        if (!kvs__entry_used(&e)) /* the end of the probe sequence */
            return atomic_load_explicit(&s->changes, memory_order_relaxed) == before;
        if (kvs__entry_tag_is(&e, tag)) {
            if (*n == max)
                return false;
            locs[(*n)++] = kvs__entry_loc(&e);
        }
        i = kvs__index_next_slot(i, capacity);
    }
    return false;
}

/*
 * Make sure one more key fits in shard s without growing, so that an
 * insertion after a record was appended cannot fail. Only the writing thread
 * inserts, so it may check the fill level without the lock; growth takes
 * each shard's write lock in turn.
 */
int kvs__index_prepare_insert(struct kvs_index *ix, struct kvs_index_shard *s);
/* The same for k more keys (an atomic batch). */
int kvs__index_prepare_inserts(struct kvs_index *ix, struct kvs_index_shard *s, uint64_t k);

/* Find the entry pointing at exactly loc (no key comparison needed). */
struct kvs_index_entry *kvs__index_find_loc(struct kvs_index_shard *s, uint64_t hash,
                                            const struct kvs_loc *loc);

/*
 * Insert or replace, under the shard's write lock. If the key was present,
 * *old receives its previous location and 1 is returned; 0 if it is new;
 * KVS_ENOMEM if the table is full (call kvs__index_prepare_insert first).
 */
int kvs__index_put(struct kvs_index_shard *s, uint64_t hash, const void *key, size_t klen,
                   kvs_key_eq_fn eq, void *ctx, const struct kvs_loc *loc, struct kvs_loc *old);

/* Remove the entry e (found under the same write lock). */
void kvs__index_erase(struct kvs_index_shard *s, struct kvs_index_entry *e);

/*
 * Loading a saved index: kvs__index_load_begin() makes an empty region for
 * capacity entries per shard and returns it, the caller fills it with the
 * saved tables, then kvs__index_load_end() sets each shard's key count. On a
 * failure in between, kvs__index_clear() empties the index again.
 */
void *kvs__index_load_begin(struct kvs_index *ix, uint32_t capacity);
/* Whether capacity is one a table can have (a saved one must be). */
bool kvs__index_capacity_valid(uint64_t capacity);
void kvs__index_load_end(struct kvs_index *ix, const uint32_t *counts);
int kvs__index_clear(struct kvs_index *ix);

/* Entries and bytes of table memory, summed over shards (takes each lock). */
void kvs__index_usage(struct kvs_index *ix, uint64_t *keys, uint64_t *bytes);

#endif
