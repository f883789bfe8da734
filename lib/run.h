/*
 * Sorted runs: the ordered half of the index.
 *
 * The hash index answers point lookups; key order comes from runs. A run is
 * an immutable array of record references sorted by key, one per key, each
 * the record that was the key's latest at some moment, or a tombstone
 * saying the key was removed. Keys are not copied: a comparison reads both
 * keys from the segment mappings. A run references (pins) every segment its
 * entries point into, so that compaction cannot unmap a record a run still
 * names; the run is shared, read-only, by every view that holds it.
 *
 * A view (order.h) is a list of runs, oldest first; for a key in several
 * runs the newest run's entry counts. Runs are built from the writes since
 * the last flush (kvs__run_from_batch) and merged (kvs__run_merge). A merge
 * asked to (at compaction) replaces an entry whose segment compaction
 * copied (flag `moved`) with the key's current location from the hash
 * index, or drops it when the key is gone. The index may hold writes newer
 * than the last flush: order.h says why that is safe (and when it is not).
 */
#ifndef KVS_RUN_H
#define KVS_RUN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kvs;
struct kvs_segment;

/* A record reference: bits 0-31 the record's offset, 32-47 its segment
 * slot, bit 48 set for a tombstone (the record is a DEL). */
typedef uint64_t kvs_ref;
#define KVS_REF_TOMB (UINT64_C(1) << 48)

static inline kvs_ref kvs__ref(uint32_t slot, uint32_t off, bool tomb)
{
    return ((uint64_t)(slot & 0xffffu) << 32) | off | (tomb ? KVS_REF_TOMB : 0);
}
static inline uint32_t kvs__ref_slot(kvs_ref r)
{
    return (uint32_t)(r >> 32) & 0xffffu;
}
static inline uint32_t kvs__ref_off(kvs_ref r)
{
    return (uint32_t)r;
}
static inline bool kvs__ref_is_tomb(kvs_ref r)
{
    return (r & KVS_REF_TOMB) != 0;
}

/*
 * The key of the record r points at. A record whose header does not fit
 * inside its segment (damage in a sealed segment) reads as the empty key,
 * which sorts first: order may then be wrong for it, memory access never.
 */
void kvs__ref_key(struct kvs *db, kvs_ref r, const uint8_t **key, size_t *klen);

struct kvs_rec;
/* Decode and verify the whole record r points at: KVS_OK (a PUT or a DEL,
 * checksum verified) or KVS_ECORRUPT. */
int kvs__ref_record(struct kvs *db, kvs_ref r, struct kvs_rec *out);

/* The expiry of the value r points at (0: none), and the value's length
 * as its header says (unchecked). */
uint64_t kvs__ref_expire(struct kvs *db, kvs_ref r, uint64_t *vlen);

/* Start fetching the record r points at into the cache. */
void kvs__ref_prefetch(struct kvs *db, kvs_ref r);
/* Only its first cache line: the header and (a short) key, to compare. */
void kvs__ref_prefetch_key(struct kvs *db, kvs_ref r);

/* memcmp order, a shorter key first when one is a prefix of the other. */
int kvs__key_cmp(const void *a, size_t alen, const void *b, size_t blen);
int kvs__ref_cmp_key(struct kvs *db, kvs_ref r, const void *key, size_t klen);
/* The keys of two references, in that order. */
int kvs__ref_cmp(struct kvs *db, kvs_ref a, kvs_ref b);

/* A loop reading the keys of many references fetches this many ahead. */
#define KVS_REF_READ_AHEAD 16u

/* The first bytes of every FENCE_EVERY-th key of a run, kept in the run:
 * a search bisects these (contiguous memory) before it reads any record,
 * then reads the few records of one stretch. */
#define KVS_FENCE_EVERY 64u
#define KVS_FENCE_PREFIX 14u
struct kvs_fence {
    uint16_t len;                      /* the key's whole length */
    uint8_t prefix[KVS_FENCE_PREFIX];  /* its first bytes */
};

struct kvs_run {
    _Atomic int refcount;
    uint64_t n;                /* entries */
    uint64_t tombs;            /* of which tombstones */
    kvs_ref *refs;             /* sorted by key, one per key */
    uint64_t cap;              /* entries refs has room for (kvs__big_alloc) */
    struct kvs_segment **pins; /* the segments refs point into, referenced */
    uint32_t npins;
    struct kvs_fence *fences;  /* of entries 0, KVS_FENCE_EVERY, ...; NULL for small runs */
    uint64_t nfences;
};

/*
 * Build a run from refs in write order (a later entry of a key replaces an
 * earlier one). The caller keeps every segment they point into alive during
 * the call. *out is NULL when the batch leaves no entry.
 */
int kvs__run_from_batch(struct kvs *db, const kvs_ref *refs, size_t n, struct kvs_run **out);

/*
 * Merge runs[0..k) (oldest first) into one: for a key in several, the newest
 * entry wins. drop_tombs: runs[0] is the oldest run of its view, so
 * tombstones have nothing left to hide and are left out. remap: entries in
 * segments compaction copied are looked up again (see above). *out is NULL
 * when nothing is left.
 */
int kvs__run_merge(struct kvs *db, struct kvs_run *const *runs, size_t k, bool drop_tombs,
                   bool remap, struct kvs_run **out);

/* A run from entries already sorted and unique (refs has room for cap >=
 * n, from kvs__big_alloc, and is taken over): the saved order of a store. */
int kvs__run_from_sorted(struct kvs *db, kvs_ref *refs, uint64_t n, uint64_t cap,
                         struct kvs_run **out);

/* A reference and 8 bytes of its key, big-endian, to sort it by. */
struct kvs_keyed_ref {
    uint64_t prefix;
    kvs_ref ref;
};

/*
 * A run from the references (ref only; prefix is filled here) of n
 * distinct keys (run_sort.c), such as the hash index's entries. items has
 * room for cap and comes from kvs__big_alloc; it is taken over whatever
 * happens and sorted in place, then becomes the run's array, so the peak is
 * the items' 16 bytes per key. *out is NULL when n is 0.
 */
int kvs__run_from_distinct(struct kvs *db, struct kvs_keyed_ref *items, uint64_t n, uint64_t cap,
                           struct kvs_run **out);

/* How many leading bytes the keys of n references share: the references
 * are stride bytes apart from refs (each a kvs_ref at its start). The sort
 * prefixes start after them, so that keys sharing a long prefix (numbered
 * keys) still sort by prefix. */
size_t kvs__shared_key_prefix(struct kvs *db, const void *refs, size_t stride, uint64_t n);

/* The 8 bytes of key after its first `from`, big-endian, zeros past its
 * end: comparing these orders keys that share their first `from` bytes,
 * except those that also share these 8. */
static inline uint64_t kvs__key_prefix(const uint8_t *key, size_t klen, size_t from)
{
    uint64_t p = 0;
    for (size_t i = 0; i < 8; i++)
        p = (p << 8) | (from + i < klen ? key[from + i] : 0);
    return p;
}

/* Index of the first entry whose key is >= key (r->n if none). */
uint64_t kvs__run_lower_bound(struct kvs *db, const struct kvs_run *r, const void *key,
                              size_t klen);
/* Index of the first entry whose key is > key (r->n if none). */
uint64_t kvs__run_upper_bound(struct kvs *db, const struct kvs_run *r, const void *key,
                              size_t klen);

/* Bytes of memory a run holds. */
uint64_t kvs__run_bytes(const struct kvs_run *r);

void kvs__run_ref(struct kvs_run *r);
/* Drop a reference; the last one unpins the segments and frees the run. */
void kvs__run_unref(struct kvs_run *r);

#endif
