/*
 * Point reads: kvs_get, kvs_get_into, kvs_multi_get, kvs_exists,
 * kvs_get_expire. All but the multi gets look the key up without the
 * shard's lock, in a read section (readers.h), and copy the value out of the
 * segment mapping there; when a change of the shard overlaps, they read
 * again under its read lock, as the multi gets do (see store.h). A reader
 * never waits for a writer for longer than one index update.
 */
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "readers.h"
#include "run.h"
#include "snapshot.h"
#include "store.h"

/* Values bigger than this are checked and copied outside the shard lock,
 * holding a reference on their segment instead, so that reading a large
 * value never holds up a writer (who needs that lock to update the index). */
#define GET_UNLOCKED_BYTES (64u * 1024u)

struct found {
    struct kvs_rec rec;          /* the record, when checked under the lock */
    struct kvs_segment *pinned;  /* or: its segment, referenced */
    struct kvs_loc loc;          /* and where in it */
};

/* Decode the record at loc into r: intact, of the size the index says, a
 * value (PUT or PUTX). */
static bool record_intact(const uint8_t *rec, const struct kvs_loc *loc, struct kvs_rec *r)
{
    return kvs__rec_decode(rec, loc->size, r) == KVS_REC_OK && r->size == loc->size &&
           kvs__rec_is_put(r->type);
}

/* An expired value reads as absent. */
static bool expired(const struct kvs_rec *r)
{
    return r->expire != 0 && kvs__rec_expired(r, kvs__now_ms());
}

/* What one candidate location holds for the key asked for. */
enum candidate {
    CAND_OTHER,   /* another key */
    CAND_DAMAGED, /* a record that fails its checks */
    CAND_FOUND,   /* the key: out->rec is its record, or out->pinned its segment */
    CAND_EXPIRED  /* the key, expired */
};

/* A large record whose key matches is only pinned, to be checked after the
 * lock is released (or the read section closed). */
static enum candidate check_candidate(struct kvs *db, struct kvs_loc loc, const void *key,
                                      size_t klen, struct found *out)
{
    if (loc.size > GET_UNLOCKED_BYTES) {
        if (!kvs__key_eq(db, &loc, key, klen))
            return CAND_OTHER;
        kvs__loc_exact(db, &loc); /* while the segment cannot go */
        out->pinned = kvs__slot_get(db, loc.slot);
        out->loc = loc;
        kvs__seg_ref(out->pinned);
        return CAND_FOUND;
    }
    struct kvs_rec *r = &out->rec;
    if (!record_intact(kvs__loc_record(db, &loc), &loc, r))
        return CAND_DAMAGED;
    if (r->klen != klen || memcmp(r->key, key, klen) != 0)
        return CAND_OTHER;
    return expired(r) ? CAND_EXPIRED : CAND_FOUND;
}

/* The first intact record holding the key wins; damaged candidates are
 * remembered so that, if nothing intact matches, the caller hears
 * KVS_ECORRUPT rather than KVS_NOT_FOUND. */
static int lookup_status(enum candidate c, bool *damaged)
{
    *damaged |= c == CAND_DAMAGED;
    return c == CAND_FOUND ? KVS_OK : c == CAND_EXPIRED ? KVS_NOT_FOUND : -1;
}

/* Look at every entry whose tag matches. Caller holds the shard's read lock. */
static int lookup_record(struct kvs *db, struct kvs_index_shard *sh, uint64_t h,
                         const void *key, size_t klen, struct found *out)
{
    bool damaged = false;
    uint32_t pos = kvs__index_home(sh, h);
    struct kvs_index_entry *e;
    while ((e = kvs__index_next_tag(sh, h, &pos)) != NULL) {
        int rc = lookup_status(check_candidate(db, kvs__entry_loc(e), key, klen, out), &damaged);
        if (rc >= 0)
            return rc;
    }
    return damaged ? KVS_ECORRUPT : KVS_NOT_FOUND;
}

/* Entries with the same tag are rare (24 bits in a shard): more than this
 * many, and the read is made under the lock. */
#define UNLOCKED_CANDIDATES 4

/*
 * lookup_record without the shard's lock, inside a read section: the
 * candidates are read as they all were at one moment, then checked (their
 * records never change, and their segments stay until the section closes).
 * False, touching nothing, if a change of the shard overlapped.
 */
static bool lookup_unlocked(struct kvs *db, struct kvs_index_shard *sh, uint64_t h,
                            const void *key, size_t klen, struct found *out, int *rc)
{
    struct kvs_loc locs[UNLOCKED_CANDIDATES];
    size_t n;
    if (!kvs__index_candidates(sh, h, locs, UNLOCKED_CANDIDATES, &n))
        return false;
    bool damaged = false;
    for (size_t i = 0; i < n; i++) {
        *rc = lookup_status(check_candidate(db, locs[i], key, klen, out), &damaged);
        if (*rc >= 0)
            return true;
    }
    *rc = damaged ? KVS_ECORRUPT : KVS_NOT_FOUND;
    return true;
}

/*
 * Where a read puts the value it found: a malloc'ed copy in *val (kvs_get
 * and the multi gets, whose budget, when not NULL, is the bytes of values
 * they may still copy), or the caller's buffer of cap bytes (kvs_get_into:
 * val NULL). *vlen receives the value's length.
 */
struct value_out {
    void **val;
    void *buf;
    size_t cap;
    size_t *budget;
    size_t *vlen;
};

/* Copy r's value out, unless it is longer than the buffer, or would take
 * the reads past their budget: then KVS_ETOOBIG, *vlen its length. */
static int copy_value(const struct kvs_rec *r, struct value_out *o)
{
    size_t room = o->val ? (o->budget ? *o->budget : SIZE_MAX) : o->cap;
    if (r->vlen > room) {
        *o->vlen = r->vlen;
        return KVS_ETOOBIG;
    }
    if (!o->val) {
        if (r->vlen > 0)
            memcpy(o->buf, r->val, r->vlen);
        *o->vlen = r->vlen;
        return KVS_OK;
    }
    if (o->budget)
        *o->budget -= r->vlen;
    return kvs__value_copy(r, o->val, o->vlen);
}

/* Forget what a read that must be made again copied out. */
static void value_out_reset(struct value_out *o, size_t budget_before)
{
    if (o->val) {
        kvs_free(*o->val);
        *o->val = NULL;
    }
    *o->vlen = 0;
    if (o->budget)
        *o->budget = budget_before;
}

/* Check and copy a large record pinned by lookup_record, then unpin it. */
static int copy_pinned(struct found *f, struct value_out *o)
{
    struct kvs_rec r;
    int rc = KVS_ECORRUPT;
    if (record_intact(f->pinned->base + f->loc.off, &f->loc, &r))
        rc = expired(&r) ? KVS_NOT_FOUND : copy_value(&r, o);
    kvs__seg_unref(f->pinned);
    return rc;
}

/* ---- reads beside batches ---- */

/* The batch sequence once no batch is being applied (see batch.c). Waiting
 * here is rare and short: 0.1 µs per entry of a batch. */
static uint64_t batch_seq_settled(struct kvs *db)
{
    uint64_t s;
    while ((s = atomic_load(&db->batch_seq)) & 1)
        sched_yield();
    return s;
}

/* Did a batch start applying since seq was read? Then read again. */
static bool batch_seq_moved(struct kvs *db, uint64_t seq)
{
    return atomic_load(&db->batch_seq) != seq;
}

/* Look up and copy out in a read section; false if the read is to be made
 * under the lock (a change overlapped, or no section could be opened). */
static bool get_unlocked(struct kvs *db, struct kvs_index_shard *sh, uint64_t h, const void *key,
                         size_t klen, struct found *f, struct value_out *o, int *rc)
{
    if (!kvs__read_begin())
        return false;
    bool done = lookup_unlocked(db, sh, h, key, klen, f, rc);
    if (done && *rc == KVS_OK && !f->pinned)
        *rc = copy_value(&f->rec, o);
    kvs__read_end();
    return done;
}

/* kvs_get once the key is checked and hashed: without the shard lock first
 * when try_unlocked, else (or when a change overlapped) under it. */
static int get_hashed(struct kvs *db, const void *key, size_t klen, uint64_t h,
                      struct value_out *o, bool try_unlocked)
{
    struct kvs_index_shard *sh = kvs__index_shard(&db->index, h);
    struct found f = {.pinned = NULL};
    size_t budget_before = o->budget ? *o->budget : 0;
    int rc;
    for (;;) {
        uint64_t seq = batch_seq_settled(db); /* never inside a read section */
        if (!try_unlocked || !get_unlocked(db, sh, h, key, klen, &f, o, &rc)) {
            pthread_rwlock_rdlock(&sh->lock);
            rc = lookup_record(db, sh, h, key, klen, &f);
            if (rc == KVS_OK && !f.pinned)
                rc = copy_value(&f.rec, o);
            pthread_rwlock_unlock(&sh->lock);
        }
        if (KVS_LIKELY(!batch_seq_moved(db, seq)))
            break;
        value_out_reset(o, budget_before); /* overlapped a batch: this may be half of it */
        if (f.pinned)
            kvs__seg_unref(f.pinned);
        f.pinned = NULL;
    }
    kvs__index_count_get(&db->index);
    if (rc == KVS_OK && f.pinned)
        rc = copy_pinned(&f, o);
    if (rc == KVS_ECORRUPT)
        kvs__log(db, KVS_LOG_ERROR, "a record of the key asked for fails its checksum");
    return rc;
}

int kvs_get(kvs_t *db, const void *key, size_t klen, void **val, size_t *vlen)
{
    if (val)
        *val = NULL;
    if (vlen)
        *vlen = 0;
    int rc = kvs__check_key(db, key, klen);
    if (rc != KVS_OK || !val || !vlen)
        return rc != KVS_OK ? rc : KVS_EINVAL;
    struct value_out o = {.val = val, .vlen = vlen};
    return get_hashed(db, key, klen, kvs__hash(db->seed, key, klen), &o, true);
}

int kvs_get_into(kvs_t *db, const void *key, size_t klen, void *buf, size_t cap, size_t *vlen)
{
    if (vlen)
        *vlen = 0;
    int rc = kvs__check_key(db, key, klen);
    if (rc != KVS_OK || !vlen || (!buf && cap > 0))
        return rc != KVS_OK ? rc : KVS_EINVAL;
    struct value_out o = {.buf = buf, .cap = cap, .vlen = vlen};
    return get_hashed(db, key, klen, kvs__hash(db->seed, key, klen), &o, true);
}

/* ---- many keys at once ---- */

/* Keys looked up together: each step runs over the whole group, so that
 * the cache misses of different keys (the index slot, then the record)
 * overlap instead of following one another. */
#define MULTI_GROUP 16

/* Start loading the records of the entries whose tag matches h (the
 * lines a get reads, as an iterator fetches them); the slots were
 * prefetched a step before. */
static void prefetch_records(struct kvs *db, struct kvs_index_shard *sh, uint64_t h)
{
    pthread_rwlock_rdlock(&sh->lock);
    uint32_t pos = kvs__index_home(sh, h);
    struct kvs_index_entry *e;
    while ((e = kvs__index_next_tag(sh, h, &pos)) != NULL)
        kvs__ref_prefetch(db, kvs__ref(kvs__entry_slot(e), e->off, false));
    pthread_rwlock_unlock(&sh->lock);
}

static void multi_get_group(struct kvs *db, kvs_get_item_t *g, size_t n, size_t *budget)
{
    uint64_t h[MULTI_GROUP];
    for (size_t i = 0; i < n; i++) {
        g[i].val = NULL;
        g[i].vlen = 0;
        g[i].status = kvs__check_key(db, g[i].key, g[i].klen);
        if (g[i].status == KVS_OK) {
            h[i] = kvs__hash(db->seed, g[i].key, g[i].klen);
            kvs__index_prefetch(kvs__index_shard(&db->index, h[i]), h[i]);
        }
    }
    for (size_t i = 0; i < n; i++)
        if (g[i].status == KVS_OK)
            prefetch_records(db, kvs__index_shard(&db->index, h[i]), h[i]);
    /* Under the lock: prefetch_records took each shard's lock just before,
     * so its line is in this CPU's cache, and the unlocked path measured 8 %
     * slower here (the overlapped misses leave little else to save). */
    for (size_t i = 0; i < n; i++)
        if (g[i].status == KVS_OK)
            g[i].status = get_hashed(
                db, g[i].key, g[i].klen, h[i],
                &(struct value_out){.val = &g[i].val, .budget = budget, .vlen = &g[i].vlen},
                false);
}

/* Reads that a write may have come between, before they are made with
 * writes held off. */
#define MULTI_TRIES 2

static void multi_get_all(struct kvs *db, kvs_get_item_t *items, size_t n, size_t max_bytes)
{
    size_t budget = max_bytes;
    for (size_t at = 0; at < n; at += MULTI_GROUP)
        multi_get_group(db, items + at, KVS_MIN(n - at, (size_t)MULTI_GROUP),
                        max_bytes ? &budget : NULL);
}

static void release_values(kvs_get_item_t *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        kvs_free(items[i].val);
}

/*
 * All keys as of one moment, as a seqlock reader: the reads stand if no
 * write changed the index and no batch was applied while they were made.
 * A write that the count misses (made before the last count was read, but
 * counted after it) is the only one the reads can have seen part of, and
 * one write changes one key: the reads are then those of the moment just
 * before or just after it. A batch changes many, so the batch sequence must
 * not have moved at all.
 */
int kvs_multi_get_ex(kvs_t *db, kvs_get_item_t *items, size_t n, size_t max_bytes,
                     unsigned flags)
{
    if (!db || (!items && n > 0) || (flags & ~KVS_MULTI_GET_EACH) != 0)
        return KVS_EINVAL;
    /* One key, or keys each read at its own moment: each get_hashed is
     * such a read, and they are made in the items' order. */
    if (n <= 1 || (flags & KVS_MULTI_GET_EACH)) {
        multi_get_all(db, items, n, max_bytes);
        return KVS_OK;
    }
    for (int tries = 0; tries < MULTI_TRIES; tries++) {
        uint64_t batches = batch_seq_settled(db);
        uint64_t changes = atomic_load_explicit(&db->index_changes, memory_order_acquire);
        multi_get_all(db, items, n, max_bytes);
        atomic_thread_fence(memory_order_acquire); /* the reads before the counts */
        if (atomic_load_explicit(&db->index_changes, memory_order_relaxed) == changes &&
            !batch_seq_moved(db, batches))
            return KVS_OK;
        release_values(items, n);
    }
    /* Writes keep coming: read with them held off (about 0.15 µs a key). */
    pthread_mutex_lock(&db->write_mutex);
    multi_get_all(db, items, n, max_bytes);
    pthread_mutex_unlock(&db->write_mutex);
    return KVS_OK;
}

int kvs_multi_get(kvs_t *db, kvs_get_item_t *items, size_t n, size_t max_bytes)
{
    return kvs_multi_get_ex(db, items, n, max_bytes, 0);
}

/* Where the key's value lies, if the index holds the key: its records are
 * only matched by key (kvs__key_eq), not checksummed, as neither caller
 * returns the value. True and *loc when found. */
static bool find_key_loc(struct kvs *db, const struct kvs_loc *locs, size_t n, const void *key,
                         size_t klen, struct kvs_loc *loc)
{
    for (size_t i = 0; i < n; i++) {
        if (kvs__key_eq(db, &locs[i], key, klen)) {
            *loc = locs[i];
            return true;
        }
    }
    return false;
}

/* The key's presence and expiry as the index holds them now: without the
 * shard lock, in a read section (as get_unlocked), else under the lock. */
static bool index_expiry(struct kvs *db, struct kvs_index_shard *sh, uint64_t h, const void *key,
                         size_t klen, uint64_t *expire)
{
    struct kvs_loc locs[UNLOCKED_CANDIDATES], loc;
    size_t n;
    bool found = false;
    if (kvs__read_begin()) {
        bool done = kvs__index_candidates(sh, h, locs, UNLOCKED_CANDIDATES, &n);
        if (done && (found = find_key_loc(db, locs, n, key, klen, &loc)))
            *expire = kvs__loc_expire(db, &loc);
        kvs__read_end();
        if (done)
            return found;
    }
    pthread_rwlock_rdlock(&sh->lock);
    struct kvs_index_entry *e = kvs__index_find(sh, h, key, klen, kvs__key_eq, db);
    if ((found = e != NULL)) {
        loc = kvs__entry_loc(e);
        *expire = kvs__loc_expire(db, &loc);
    }
    pthread_rwlock_unlock(&sh->lock);
    return found;
}

/* The key's expiry if it holds a value now: KVS_OK, or KVS_NOT_FOUND. */
static int current_expiry(struct kvs *db, const void *key, size_t klen, uint64_t *expire)
{
    uint64_t h = kvs__hash(db->seed, key, klen);
    struct kvs_index_shard *sh = kvs__index_shard(&db->index, h);
    bool found;
    for (;;) {
        uint64_t seq = batch_seq_settled(db);
        *expire = 0;
        found = index_expiry(db, sh, h, key, klen, expire);
        if (KVS_LIKELY(!batch_seq_moved(db, seq)))
            break;
    }
    if (!found || (*expire != 0 && *expire <= kvs__now_ms())) {
        *expire = 0;
        return KVS_NOT_FOUND;
    }
    return KVS_OK;
}

int kvs_exists(kvs_t *db, const void *key, size_t klen)
{
    int rc = kvs__check_key(db, key, klen);
    uint64_t expire;
    return rc != KVS_OK ? rc : current_expiry(db, key, klen, &expire);
}

int kvs_get_expire(kvs_t *db, const void *key, size_t klen, uint64_t *expire_at_ms)
{
    if (expire_at_ms)
        *expire_at_ms = 0;
    int rc = kvs__check_key(db, key, klen);
    if (rc != KVS_OK || !expire_at_ms)
        return rc != KVS_OK ? rc : KVS_EINVAL;
    return current_expiry(db, key, klen, expire_at_ms);
}
