/*
 * A run from distinct keys' references: the first view of the key order,
 * built from the hash index (order.c), where each key appears once.
 *
 * Sorting references by comparing keys in the segment mappings costs a
 * cache miss per comparison: sorting 64 Ki chunks and merging them took
 * about a second for a million keys. Here each key is read at most twice,
 * in sequence with prefetching: once for the prefix all keys share, once to
 * copy the 8 bytes after it beside the reference. An in-place MSD radix
 * sort (American flag sort) then orders the 16-byte items by those bytes;
 * only keys sharing all 8 are compared whole. The items become the run's
 * array in place, so the peak is 16 bytes per key, 8 once the run is made.
 */
#include <stdlib.h>

#include "internal.h"
#include "run.h"

/* Buckets smaller than this are sorted by insertion. */
#define SMALL_BUCKET 32u

/* Key order: the 8 bytes first, the whole keys when those are equal. */
static int item_cmp(struct kvs *db, const struct kvs_keyed_ref *a, const struct kvs_keyed_ref *b)
{
    if (a->prefix != b->prefix)
        return a->prefix < b->prefix ? -1 : 1;
    return kvs__ref_cmp(db, a->ref, b->ref);
}

static int item_cmp_r(const void *a, const void *b, void *db)
{
    return item_cmp(db, a, b);
}

static void insertion_sort(struct kvs *db, struct kvs_keyed_ref *a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct kvs_keyed_ref x = a[i];
        size_t j = i;
        for (; j > 0 && item_cmp(db, &x, &a[j - 1]) < 0; j--)
            a[j] = a[j - 1];
        a[j] = x;
    }
}

static unsigned digit(const struct kvs_keyed_ref *e, unsigned byte)
{
    return (unsigned)(e->prefix >> (56 - 8 * byte)) & 0xffu;
}

/* Sort a[0..n) whose prefixes agree on their first `byte` bytes. */
static void radix_sort(struct kvs *db, struct kvs_keyed_ref *a, size_t n, unsigned byte)
{
    if (n < SMALL_BUCKET) {
        insertion_sort(db, a, n);
        return;
    }
    if (byte == 8) { /* all 8 bytes shared: only whole keys tell them apart */
        qsort_r(a, n, sizeof(*a), item_cmp_r, db);
        return;
    }
    size_t count[256] = {0}, next[256], end[256];
    for (size_t i = 0; i < n; i++)
        count[digit(&a[i], byte)]++;
    for (size_t b = 0, sum = 0; b < 256; b++) {
        next[b] = sum;
        sum += count[b];
        end[b] = sum;
    }
    /* Bucket by bucket, swap each item into the bucket its digit names
     * until the one in hand belongs where it stands. */
    for (unsigned b = 0; b < 256; b++) {
        while (next[b] < end[b]) {
            struct kvs_keyed_ref x = a[next[b]];
            for (unsigned d = digit(&x, byte); d != b; d = digit(&x, byte)) {
                struct kvs_keyed_ref y = a[next[d]];
                a[next[d]++] = x;
                x = y;
            }
            a[next[b]++] = x;
        }
    }
    for (unsigned b = 0; b < 256; b++)
        if (count[b] > 1)
            radix_sort(db, a + end[b] - count[b], count[b], byte + 1);
}

int kvs__run_from_distinct(struct kvs *db, struct kvs_keyed_ref *items, uint64_t n, uint64_t cap,
                           struct kvs_run **out)
{
    *out = NULL;
    if (n == 0) {
        kvs__big_free(items, cap * sizeof(*items));
        return KVS_OK;
    }
    size_t cp = kvs__shared_key_prefix(db, &items[0].ref, sizeof(*items), n);
    for (uint64_t i = 0; i < n; i++) {
        if (i + KVS_REF_READ_AHEAD < n)
            kvs__ref_prefetch(db, items[i + KVS_REF_READ_AHEAD].ref);
        const uint8_t *k;
        size_t klen;
        kvs__ref_key(db, items[i].ref, &k, &klen);
        items[i].prefix = kvs__key_prefix(k, klen, cp);
    }
    radix_sort(db, items, n, 0);
    /* The references, packed to the front: reference i goes to bytes
     * [8i, 8i + 8), which held item i / 2 or earlier, already read. */
    kvs_ref *refs = (kvs_ref *)(void *)items;
    for (uint64_t i = 0; i < n; i++) {
        kvs_ref r = items[i].ref;
        memcpy(&refs[i], &r, sizeof(r));
    }
    /* The run takes the buffer, shrunk to its references. */
    return kvs__run_from_sorted(db, refs, n, cap * 2, out);
}
