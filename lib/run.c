/* Sorted runs: building, merging, searching (see run.h). */
#include "run.h"

#include <stdlib.h>

#include "hash.h"
#include "store.h"

/* ---- keys through references ---- */

/* The record r points at and the bytes readable from it (0 if none). A
 * sealed segment may hold damaged bytes (read at open from a hint,
 * unchecked): bound by its data. Records of an unsealed one were written by
 * this process. */
static const uint8_t *ref_rec(struct kvs *db, kvs_ref r, uint64_t *avail)
{
    *avail = 0;
    struct kvs_segment *s = kvs__slot_get(db, kvs__ref_slot(r));
    if (!s)
        return NULL;
    uint64_t end = atomic_load_explicit(&s->sealed, memory_order_acquire) ? s->tail : s->map_bytes;
    uint64_t off = kvs__ref_off(r);
    if (off + KVS_REC_HEADER_SIZE > end)
        return NULL;
    *avail = end - off;
    return s->base + off;
}

/* Cache lines fetched ahead from a record's start: a small record (the
 * usual 16-byte key and 100-byte value) spans two or three, and every one
 * of them is read, to verify the checksum and to copy the value out. */
#define PREFETCH_LINES 3u

static void prefetch_lines(struct kvs *db, kvs_ref r, unsigned lines)
{
    struct kvs_segment *s = kvs__slot_get(db, kvs__ref_slot(r));
    if (!s)
        return;
    for (uint64_t i = 0, off = kvs__ref_off(r); i < lines && off < s->map_bytes; i++, off += 64)
        __builtin_prefetch(s->base + off);
}

void kvs__ref_prefetch(struct kvs *db, kvs_ref r)
{
    prefetch_lines(db, r, PREFETCH_LINES);
}

void kvs__ref_prefetch_key(struct kvs *db, kvs_ref r)
{
    prefetch_lines(db, r, 1);
}

void kvs__ref_key(struct kvs *db, kvs_ref r, const uint8_t **key, size_t *klen)
{
    *key = (const uint8_t *)"";
    *klen = 0;
    uint64_t avail;
    const uint8_t *rec = ref_rec(db, r, &avail);
    if (!rec)
        return;
    uint32_t len = kvs__rec_klen_at(rec);
    if ((uint64_t)kvs__rec_header_size(kvs__rec_type_at(rec)) + len > avail)
        return;
    *key = kvs__rec_key_at(rec);
    *klen = len;
}

uint64_t kvs__ref_expire(struct kvs *db, kvs_ref r, uint64_t *vlen)
{
    uint64_t avail;
    const uint8_t *rec = ref_rec(db, r, &avail);
    *vlen = rec ? kvs__rec_vlen_at(rec) : 0;
    if (!rec || kvs__rec_type_at(rec) != KVS_REC_PUTX || avail < KVS_REC_HEADER_MAX)
        return 0;
    return kvs__load64(rec + KVS_REC_HEADER_SIZE);
}

int kvs__ref_record(struct kvs *db, kvs_ref r, struct kvs_rec *out)
{
    uint64_t avail;
    const uint8_t *rec = ref_rec(db, r, &avail);
    if (!rec || kvs__rec_decode(rec, avail, out) != KVS_REC_OK)
        return KVS_ECORRUPT;
    bool ok = kvs__ref_is_tomb(r) ? out->type == KVS_REC_DEL : kvs__rec_is_put(out->type);
    return ok ? KVS_OK : KVS_ECORRUPT;
}

int kvs__key_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
    int c = memcmp(a, b, KVS_MIN(alen, blen));
    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen;
}

int kvs__ref_cmp_key(struct kvs *db, kvs_ref r, const void *key, size_t klen)
{
    const uint8_t *k;
    size_t n;
    kvs__ref_key(db, r, &k, &n);
    return kvs__key_cmp(k, n, key, klen);
}

int kvs__ref_cmp(struct kvs *db, kvs_ref a, kvs_ref b)
{
    const uint8_t *k;
    size_t n;
    kvs__ref_key(db, b, &k, &n);
    return kvs__ref_cmp_key(db, a, k, n);
}

/* ---- pinned segments ---- */

/* The segments a run under construction points into, each referenced once. */
struct pinset {
    uint64_t *bits; /* one per slot */
    struct kvs_segment **segs;
    uint32_t n, cap;
};

static int pinset_init(struct pinset *p)
{
    *p = (struct pinset){0};
    p->bits = calloc(KVS_SLOT_COUNT / 64, sizeof(uint64_t));
    return p->bits ? KVS_OK : KVS_ENOMEM;
}

static void pinset_free(struct pinset *p)
{
    for (uint32_t i = 0; i < p->n; i++)
        kvs__seg_unref(p->segs[i]);
    free(p->segs);
    free(p->bits);
}

/* Reference the segment in slot, once. The caller keeps it alive meanwhile. */
static int pinset_add(struct pinset *p, struct kvs *db, uint32_t slot)
{
    uint64_t bit = UINT64_C(1) << (slot % 64);
    if (p->bits[slot / 64] & bit)
        return KVS_OK;
    struct kvs_segment *s = kvs__slot_get(db, slot);
    if (!s)
        return KVS_OK;
    if (p->n == p->cap) {
        uint32_t cap = p->cap ? p->cap * 2 : 8;
        struct kvs_segment **n = realloc(p->segs, cap * sizeof(*n));
        if (!n)
            return KVS_ENOMEM;
        p->segs = n;
        p->cap = cap;
    }
    p->bits[slot / 64] |= bit;
    kvs__seg_ref(s);
    p->segs[p->n++] = s;
    return KVS_OK;
}

/* ---- segments compaction copied ---- */

static bool ref_moved(struct kvs *db, kvs_ref r)
{
    struct kvs_segment *s = kvs__slot_get(db, kvs__ref_slot(r));
    return s && atomic_load_explicit(&s->moved, memory_order_acquire);
}

/*
 * r points into a segment compaction copied. A value entry takes the key's
 * current location from the hash index (pinning its segment under the
 * shard lock, which keeps it alive), or goes when the key is gone. A
 * tombstone stays as it is, pinning its old segment, until a merge into the
 * oldest run drops it: dropping it earlier could let an older run's entry
 * of the key show again.
 */
static int remap(struct kvs *db, struct pinset *ps, kvs_ref *r, bool *keep)
{
    *keep = true;
    if (kvs__ref_is_tomb(*r))
        return KVS_OK;
    const uint8_t *key;
    size_t klen;
    kvs__ref_key(db, *r, &key, &klen);
    uint64_t h = kvs__hash(db->seed, key, klen);
    struct kvs_index_shard *sh = kvs__index_shard(&db->index, h);
    int rc = KVS_OK;
    pthread_rwlock_rdlock(&sh->lock);
    struct kvs_index_entry *e = klen ? kvs__index_find(sh, h, key, klen, kvs__key_eq, db) : NULL;
    if (e) {
        *r = kvs__ref(kvs__entry_slot(e), e->off, false);
        rc = pinset_add(ps, db, kvs__entry_slot(e));
    } else {
        *keep = false;
    }
    pthread_rwlock_unlock(&sh->lock);
    return rc;
}

/* ---- making a run ---- */

static void run_free(struct kvs_run *r)
{
    for (uint32_t i = 0; i < r->npins; i++)
        kvs__seg_unref(r->pins[i]);
    free(r->pins);
    kvs__big_free(r->refs, r->cap * sizeof(kvs_ref));
    kvs__big_free(r->fences, r->nfences * sizeof(*r->fences));
    free(r);
}

/* ---- fences ---- */

static void build_fences(struct kvs *db, struct kvs_run *r)
{
    uint64_t nf = r->n >= 2 * KVS_FENCE_EVERY ? (r->n + KVS_FENCE_EVERY - 1) / KVS_FENCE_EVERY : 0;
    if (nf == 0 || !(r->fences = kvs__big_alloc(nf * sizeof(*r->fences))))
        return;
    for (uint64_t i = 0; i < nf; i++) {
        const uint8_t *key;
        size_t klen;
        kvs__ref_key(db, r->refs[i * KVS_FENCE_EVERY], &key, &klen);
        struct kvs_fence *f = &r->fences[i];
        f->len = (uint16_t)klen;
        memset(f->prefix, 0, sizeof(f->prefix));
        memcpy(f->prefix, key, KVS_MIN(klen, (size_t)KVS_FENCE_PREFIX));
    }
    r->nfences = nf;
}

/* Fence i's key against key: from the prefix alone when it decides. */
static int fence_cmp(struct kvs *db, const struct kvs_run *r, uint64_t i, const uint8_t *key,
                     size_t klen)
{
    const struct kvs_fence *f = &r->fences[i];
    size_t flen = f->len, have = KVS_MIN(flen, (size_t)KVS_FENCE_PREFIX);
    int c = memcmp(f->prefix, key, KVS_MIN(have, klen));
    if (c != 0)
        return c;
    if (klen <= have || flen <= KVS_FENCE_PREFIX) /* one key is a prefix of the other */
        return flen < klen ? -1 : flen > klen;
    return kvs__ref_cmp_key(db, r->refs[i * KVS_FENCE_EVERY], key, klen);
}

/*
 * Turn a sorted array of n entries (room for cap; taken over, from
 * kvs__big_alloc) into a run: if asked, look entries in segments compaction
 * copied up again, then pin every segment left referenced. The segments of
 * refs are kept alive by the caller.
 */
static int run_finish(struct kvs *db, kvs_ref *refs, uint64_t n, uint64_t cap, bool remapping,
                      struct kvs_run **out)
{
    *out = NULL;
    struct pinset ps;
    if (pinset_init(&ps) != KVS_OK) {
        kvs__big_free(refs, cap * sizeof(*refs));
        return KVS_ENOMEM;
    }
    int rc = KVS_OK;
    uint64_t kept = 0, tombs = 0;
    for (uint64_t i = 0; i < n && rc == KVS_OK; i++) {
        kvs_ref r = refs[i];
        bool keep = true;
        if (remapping && ref_moved(db, r))
            rc = remap(db, &ps, &r, &keep);
        if (rc == KVS_OK && keep)
            rc = pinset_add(&ps, db, kvs__ref_slot(r));
        if (rc == KVS_OK && keep) {
            refs[kept++] = r;
            tombs += kvs__ref_is_tomb(r);
        }
    }
    struct kvs_run *run = NULL;
    if (rc == KVS_OK && kept > 0 && (run = calloc(1, sizeof(*run))) == NULL)
        rc = KVS_ENOMEM;
    if (rc != KVS_OK || kept == 0) {
        pinset_free(&ps);
        kvs__big_free(refs, cap * sizeof(*refs));
        return rc;
    }
    if (kept < cap - cap / 4) { /* give back a large unused tail */
        kvs_ref *shrunk = kvs__big_realloc(refs, cap * sizeof(*refs), kept * sizeof(*refs));
        if (shrunk) {
            refs = shrunk;
            cap = kept;
        }
    }
    atomic_init(&run->refcount, 1);
    run->n = kept;
    run->tombs = tombs;
    run->refs = refs;
    run->cap = cap;
    run->pins = ps.segs;
    run->npins = ps.n;
    free(ps.bits);
    build_fences(db, run); /* without them searches just read more records */
    *out = run;
    return KVS_OK;
}

/* ---- from a batch of writes ---- */


struct batch_item {
    uint64_t prefix; /* 8 key bytes after the batch's common prefix, big-endian */
    kvs_ref ref;
    uint32_t seq;    /* position in the batch: a later write wins */
};

struct sort_ctx {
    struct kvs *db;
};

/* Key order, then the newest write first. */
static int cmp_batch_item(const void *pa, const void *pb, void *ctx)
{
    const struct batch_item *a = pa, *b = pb;
    if (a->prefix != b->prefix)
        return a->prefix < b->prefix ? -1 : 1;
    int c = kvs__ref_cmp(((struct sort_ctx *)ctx)->db, a->ref, b->ref);
    if (c != 0)
        return c;
    return a->seq > b->seq ? -1 : a->seq < b->seq;
}

size_t kvs__shared_key_prefix(struct kvs *db, const void *refs, size_t stride, uint64_t n)
{
    const uint8_t *base = refs;
    kvs_ref r;
    const uint8_t *first;
    size_t cp;
    memcpy(&r, base, sizeof(r));
    kvs__ref_key(db, r, &first, &cp);
    for (uint64_t i = 1; i < n && cp > 0; i++) {
        if (i + KVS_REF_READ_AHEAD < n) {
            memcpy(&r, base + (i + KVS_REF_READ_AHEAD) * stride, sizeof(r));
            kvs__ref_prefetch(db, r);
        }
        memcpy(&r, base + i * stride, sizeof(r));
        const uint8_t *k;
        size_t klen;
        kvs__ref_key(db, r, &k, &klen);
        size_t j = 0, max = KVS_MIN(cp, klen);
        while (j < max && k[j] == first[j])
            j++;
        cp = j;
    }
    return cp;
}

int kvs__run_from_batch(struct kvs *db, const kvs_ref *refs, size_t n, struct kvs_run **out)
{
    *out = NULL;
    if (n == 0)
        return KVS_OK;
    if (n > UINT32_MAX)
        return KVS_EINVAL;
    struct batch_item *items = kvs__big_alloc(n * sizeof(*items));
    kvs_ref *sorted = kvs__big_alloc(n * sizeof(*sorted));
    if (!items || !sorted) {
        kvs__big_free(items, n * sizeof(*items));
        kvs__big_free(sorted, n * sizeof(*sorted));
        return KVS_ENOMEM;
    }
    size_t cp = kvs__shared_key_prefix(db, refs, sizeof(*refs), n);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *k;
        size_t klen;
        kvs__ref_key(db, refs[i], &k, &klen);
        items[i] = (struct batch_item){kvs__key_prefix(k, klen, cp), refs[i], (uint32_t)i};
    }
    struct sort_ctx ctx = {db};
    qsort_r(items, n, sizeof(*items), cmp_batch_item, &ctx);
    /* Keep the first (newest) entry of each key. */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m > 0 && items[i].prefix == items[i - 1].prefix &&
            kvs__ref_cmp(db, items[i].ref, sorted[m - 1]) == 0)
            continue;
        sorted[m++] = items[i].ref;
    }
    kvs__big_free(items, n * sizeof(*items));
    return run_finish(db, sorted, m, n, false, out);
}

int kvs__run_from_sorted(struct kvs *db, kvs_ref *refs, uint64_t n, uint64_t cap,
                         struct kvs_run **out)
{
    return run_finish(db, refs, n, cap, false, out);
}

/* ---- merging ---- */

/*
 * First index j in [from, a->n) whose key is >= key: gallop from `from`
 * (1, 2, 4, ... ahead), then bisect. Merging a small run into a large one
 * then costs about 2 log(n/m) comparisons per entry of the small one.
 */
static uint64_t gallop(struct kvs *db, const struct kvs_run *a, uint64_t from, const void *key,
                       size_t klen)
{
    if (from >= a->n || kvs__ref_cmp_key(db, a->refs[from], key, klen) >= 0)
        return from;
    uint64_t lo = from, step = 1, hi; /* a[lo] < key */
    for (;;) {
        hi = from + step;
        if (hi >= a->n) {
            hi = a->n;
            break;
        }
        if (kvs__ref_cmp_key(db, a->refs[hi], key, klen) >= 0)
            break;
        lo = hi;
        step *= 2;
    }
    while (hi - lo > 1) { /* a[lo] < key <= a[hi] (or hi == n) */
        uint64_t mid = lo + (hi - lo) / 2;
        if (kvs__ref_cmp_key(db, a->refs[mid], key, klen) < 0)
            lo = mid;
        else
            hi = mid;
    }
    return hi;
}

static uint64_t copy_entries(kvs_ref *dst, const kvs_ref *src, uint64_t n, bool drop_tombs)
{
    if (!drop_tombs) {
        memcpy(dst, src, n * sizeof(*src));
        return n;
    }
    uint64_t m = 0;
    for (uint64_t i = 0; i < n; i++)
        if (!kvs__ref_is_tomb(src[i]))
            dst[m++] = src[i];
    return m;
}

/* Merge older a and newer b (either may be NULL) into a new sorted array
 * (room for *cap entries, from kvs__big_alloc). */
static int merge2(struct kvs *db, const struct kvs_run *a, const struct kvs_run *b,
                  bool drop_tombs, kvs_ref **out, uint64_t *nout, uint64_t *cap)
{
    uint64_t na = a ? a->n : 0, nb = b ? b->n : 0;
    *cap = na + nb ? na + nb : 1;
    kvs_ref *dst = kvs__big_alloc(*cap * sizeof(*dst));
    if (!dst)
        return KVS_ENOMEM;
    uint64_t m = 0, i = 0;
    for (uint64_t k = 0; k < nb; k++) {
        kvs_ref e = b->refs[k];
        const uint8_t *key;
        size_t klen;
        kvs__ref_key(db, e, &key, &klen);
        uint64_t j = a ? gallop(db, a, i, key, klen) : 0;
        m += copy_entries(dst + m, a ? a->refs + i : NULL, j - i, drop_tombs);
        if (j < na && kvs__ref_cmp_key(db, a->refs[j], key, klen) == 0)
            j++; /* shadowed by e */
        if (!(drop_tombs && kvs__ref_is_tomb(e)))
            dst[m++] = e;
        i = j;
    }
    m += copy_entries(dst + m, a ? a->refs + i : NULL, na - i, drop_tombs);
    *out = dst;
    *nout = m;
    return KVS_OK;
}

int kvs__run_merge(struct kvs *db, struct kvs_run *const *runs, size_t k, bool drop_tombs,
                   bool remap, struct kvs_run **out)
{
    /* Fold from the newest end: each step merges the next older run under
     * what the newer ones made, so the large oldest run is walked once,
     * last. (The newest is copied once on its own first: it is the small
     * one, or the only one, which must be copied anyway.) */
    struct kvs_run *acc = NULL;
    for (size_t i = k; i-- > 0;) {
        kvs_ref *refs;
        uint64_t n, cap;
        int rc = merge2(db, runs[i], acc, drop_tombs && i == 0, &refs, &n, &cap);
        struct kvs_run *next = NULL;
        if (rc == KVS_OK) /* looking up once, at the last step, is enough */
            rc = run_finish(db, refs, n, cap, i == 0 && remap, &next);
        kvs__run_unref(acc);
        if (rc != KVS_OK) {
            *out = NULL;
            return rc;
        }
        acc = next;
    }
    *out = acc;
    return KVS_OK;
}

/* ---- searching ---- */

/* The first entry for which "before key" (strict: "at or before key") no
 * longer holds; r->n if none. The fences narrow it to one stretch first. */
static uint64_t bound(struct kvs *db, const struct kvs_run *r, const void *key, size_t klen,
                      bool strict)
{
    uint64_t lo = 0, hi = r->n;
    if (r->nfences) {
        uint64_t flo = 0, fhi = r->nfences;
        while (flo < fhi) {
            uint64_t mid = flo + (fhi - flo) / 2;
            int c = fence_cmp(db, r, mid, key, klen);
            if (c < 0 || (strict && c == 0))
                flo = mid + 1;
            else
                fhi = mid;
        }
        /* fence flo - 1 is before, fence flo is not: the answer is between */
        lo = flo ? (flo - 1) * KVS_FENCE_EVERY + 1 : 0;
        hi = flo < r->nfences ? flo * KVS_FENCE_EVERY : r->n;
    }
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        /* The next step's middle either way starts its cache miss while
         * this one is compared: the bisection's dependent record reads
         * overlap by pairs. */
        if (hi - lo > 2) {
            kvs__ref_prefetch_key(db, r->refs[lo + (mid - lo) / 2]);
            kvs__ref_prefetch_key(db, r->refs[mid + 1 + (hi - mid - 1) / 2]);
        }
        int c = kvs__ref_cmp_key(db, r->refs[mid], key, klen);
        if (c < 0 || (strict && c == 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

uint64_t kvs__run_lower_bound(struct kvs *db, const struct kvs_run *r, const void *key,
                              size_t klen)
{
    return bound(db, r, key, klen, false);
}

uint64_t kvs__run_upper_bound(struct kvs *db, const struct kvs_run *r, const void *key,
                              size_t klen)
{
    return bound(db, r, key, klen, true);
}

uint64_t kvs__run_bytes(const struct kvs_run *r)
{
    return sizeof(*r) + r->n * sizeof(kvs_ref) + r->npins * sizeof(r->pins[0]) +
           r->nfences * sizeof(*r->fences);
}

void kvs__run_ref(struct kvs_run *r)
{
    atomic_fetch_add_explicit(&r->refcount, 1, memory_order_relaxed);
}

void kvs__run_unref(struct kvs_run *r)
{
    if (r && atomic_fetch_sub_explicit(&r->refcount, 1, memory_order_acq_rel) == 1)
        run_free(r);
}
