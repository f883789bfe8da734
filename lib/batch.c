/*
 * kvs_batch_*: many puts and removes applied as one unit.
 *
 * A batch is kept already encoded: its records, each with its own checksum,
 * one after the other, exactly the value of the BATCH record that applying
 * it appends (record.h). So applying costs one copy into the log and one
 * checksum over the whole, and a crash leaves all of it or none of it.
 * Readers see none of it or all of it: while its index entries change, the
 * store's batch sequence is odd, and a point read that overlaps that is
 * made again (read.c); iterators and snapshots take their view between
 * writes anyway (order.h).
 */
#include <errno.h>
#include <stdlib.h>

#include "ahead.h"
#include "hash.h"
#include "run.h"
#include "write.h"

struct kvs_batch {
    uint8_t *buf;  /* the encoded records */
    size_t len, cap;
    size_t count;
    int error;     /* sticky: an entry was refused, the batch cannot be applied */
};

int kvs_batch_create(kvs_batch_t **out)
{
    if (!out)
        return KVS_EINVAL;
    *out = calloc(1, sizeof(**out));
    return *out ? KVS_OK : KVS_ENOMEM;
}

void kvs_batch_destroy(kvs_batch_t *b)
{
    if (!b)
        return;
    free(b->buf);
    free(b);
}

void kvs_batch_clear(kvs_batch_t *b)
{
    if (!b)
        return;
    b->len = 0;
    b->count = 0;
    b->error = KVS_OK;
}

size_t kvs_batch_count(const kvs_batch_t *b)
{
    return b ? b->count : 0;
}

size_t kvs_batch_bytes(const kvs_batch_t *b)
{
    return b ? b->len : 0;
}

/* Room for size more bytes, within the batch limit. */
static int batch_reserve(kvs_batch_t *b, uint64_t size)
{
    if (b->len + size > KVS_BATCH_MAX_BYTES)
        return KVS_ETOOBIG;
    if (b->len + size <= b->cap)
        return KVS_OK;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + size)
        cap = cap > KVS_BATCH_MAX_BYTES / 2 ? KVS_BATCH_MAX_BYTES : cap * 2;
    uint8_t *n = realloc(b->buf, cap);
    if (!n)
        return KVS_ENOMEM;
    b->buf = n;
    b->cap = cap;
    return KVS_OK;
}

static int batch_add(kvs_batch_t *b, enum kvs_rec_type type, uint64_t expire, const void *key,
                     size_t klen, const void *val, size_t vlen)
{
    if (!b)
        return KVS_EINVAL;
    int rc = kvs__check_entry(key, klen, val, vlen);
    if (rc == KVS_OK)
        rc = batch_reserve(b, kvs__rec_size_of(type, klen, vlen));
    if (rc != KVS_OK) {
        /* applying what is left would not be what was asked */
        if (b->error == KVS_OK)
            b->error = rc;
        return rc;
    }
    kvs__rec_encode(b->buf + b->len, type, expire, key, klen, val, vlen);
    b->len += kvs__rec_size_of(type, klen, vlen);
    b->count++;
    return KVS_OK;
}

int kvs_batch_set(kvs_batch_t *b, const void *key, size_t klen, const void *val, size_t vlen)
{
    return batch_add(b, KVS_REC_PUT, 0, key, klen, val, vlen);
}

int kvs_batch_set_expire(kvs_batch_t *b, const void *key, size_t klen, const void *val,
                         size_t vlen, uint64_t expire_at_ms)
{
    return batch_add(b, expire_at_ms ? KVS_REC_PUTX : KVS_REC_PUT, expire_at_ms, key, klen, val,
                     vlen);
}

int kvs_batch_remove(kvs_batch_t *b, const void *key, size_t klen)
{
    return batch_add(b, KVS_REC_DEL, 0, key, klen, NULL, 0);
}

/* ---- applying ---- */

/* The records of an encoded batch at buf, one by one. */
static bool next_entry(const uint8_t *buf, size_t len, size_t *pos, struct kvs_rec *r)
{
    if (*pos >= len || kvs__rec_peek(buf + *pos, len - *pos, r) != KVS_REC_OK)
        return false;
    *pos += r->size;
    return true;
}

/* What applying a batch works out before it writes: per shard, the new keys
 * it may have to take; per entry, its key's hash (in batch order). */
struct batch_plan {
    uint32_t puts[KVS_INDEX_SHARDS];
    uint64_t hash[];
};

static struct batch_plan *plan_create(const kvs_batch_t *b)
{
    if (b->count > (SIZE_MAX - sizeof(struct batch_plan)) / sizeof(uint64_t))
        return NULL;
    return malloc(sizeof(struct batch_plan) + b->count * sizeof(uint64_t));
}

static void plan_fill(struct kvs *db, const kvs_batch_t *b, struct batch_plan *p)
{
    memset(p->puts, 0, sizeof(p->puts));
    struct kvs_rec r;
    size_t i = 0;
    for (size_t pos = 0; next_entry(b->buf, b->len, &pos, &r); i++) {
        uint64_t h = kvs__hash(db->seed, r.key, r.klen);
        unsigned s = (unsigned)(kvs__index_shard(&db->index, h) - db->index.shards);
        p->puts[s] += kvs__rec_is_put(r.type);
        p->hash[i] = h;
    }
}

/* Everything that could fail once the batch is in the log, done first:
 * index room for every key, pending-write room, file space. */
static int prepare(struct kvs *db, const kvs_batch_t *b, const struct batch_plan *plan,
                   uint64_t size)
{
    int rc = KVS_OK;
    for (unsigned s = 0; s < KVS_INDEX_SHARDS && rc == KVS_OK; s++)
        if (plan->puts[s])
            rc = kvs__index_prepare_inserts(&db->index, &db->index.shards[s], plan->puts[s]);
    if (rc == KVS_OK)
        rc = kvs__order_prepare(db, b->count);
    if (rc == KVS_OK && !kvs__seg_has_room(db->active, size))
        rc = kvs__db_roll(db, size);
    if (rc == KVS_OK)
        rc = kvs__seg_reserve(db->active, size);
    return rc;
}

/*
 * The index changes of a batch are independent of one another, so their
 * cache misses can overlap, as a multi-get's do: while entry i is indexed,
 * the index slot of entry i + SLOTS_AHEAD is being fetched, and the record
 * that entry i + RECORDS_AHEAD replaces (the key check reads it) too; its
 * slot arrived meanwhile. One entry at a time, each costs the two misses
 * one after the other.
 */
#define SLOTS_AHEAD 16u
#define RECORDS_AHEAD 8u

/* Start fetching the records the index lists under hash h (all their first
 * lines: the key a replacement checks may straddle two). The entries are
 * read without the shard's lock: the caller holds write_mutex, so the table
 * cannot be replaced (only the writer grows it) nor a segment they point at
 * be deleted (compaction waits for write_mutex first); when compaction is
 * moving entries of the shard, nothing is fetched. */
static void prefetch_replaced(struct kvs *db, uint64_t h)
{
    struct kvs_loc locs[2];
    size_t n = 0;
    if (kvs__index_candidates(kvs__index_shard(&db->index, h), h, locs, 2, &n))
        for (size_t i = 0; i < n; i++)
            kvs__ref_prefetch(db, kvs__ref(locs[i].slot, locs[i].off, false));
}

static void prefetch_ahead(struct kvs *db, const struct batch_plan *p, size_t count, size_t i)
{
    if (i + SLOTS_AHEAD < count) {
        uint64_t h = p->hash[i + SLOTS_AHEAD];
        kvs__index_prefetch_lines(kvs__index_shard(&db->index, h), h, true);
    }
    if (i + RECORDS_AHEAD < count)
        prefetch_replaced(db, p->hash[i + RECORDS_AHEAD]);
}

/* Point the index at the batch's records, all at once for readers: the
 * batch sequence is odd meanwhile (see the top of this file). */
static void index_batch(struct kvs *db, const struct batch_plan *p, size_t count, uint32_t slot,
                        uint64_t payload_off, size_t len)
{
    const uint8_t *payload = db->active->base + payload_off;
    for (size_t i = 0; i < SLOTS_AHEAD && i < count; i++)
        kvs__index_prefetch_lines(kvs__index_shard(&db->index, p->hash[i]), p->hash[i], true);
    atomic_fetch_add(&db->batch_seq, 1);
    struct kvs_rec r;
    size_t pos = 0, at = 0;
    for (size_t i = 0; i < count && next_entry(payload, len, &pos, &r); i++) {
        prefetch_ahead(db, p, count, i);
        uint64_t h = p->hash[i];
        struct kvs_index_shard *sh = kvs__index_shard(&db->index, h);
        struct kvs_loc loc = {.slot = slot, .off = (uint32_t)(payload_off + at),
                              .size = (uint32_t)r.size};
        kvs__shard_change_lock(sh);
        kvs__write_index(db, sh, h, &r, &loc);
        kvs__shard_change_unlock(sh);
        if (r.type == KVS_REC_PUTX)
            kvs__seg_note_expire(db->active, r.expire);
        kvs__order_note(db, kvs__ref(slot, loc.off, r.type == KVS_REC_DEL));
        at = pos;
    }
    atomic_fetch_add(&db->batch_seq, 1);
}

int kvs_batch_apply(kvs_t *db, kvs_batch_t *b)
{
    if (!db || !b)
        return KVS_EINVAL;
    if (b->error != KVS_OK)
        return b->error;
    if (db->opts.read_only)
        return KVS_EREADONLY;
    if (b->count == 0)
        return KVS_OK;
    struct batch_plan *plan = plan_create(b);
    if (!plan)
        return KVS_ENOMEM;
    int rc = kvs__write_lock(db);
    if (rc != KVS_OK) {
        free(plan);
        return rc;
    }
    plan_fill(db, b, plan);
    uint64_t size = KVS_REC_HEADER_SIZE + (uint64_t)b->len;
    rc = prepare(db, b, plan, size);
    uint64_t off;
    if (rc == KVS_OK)
        rc = kvs__seg_append_x(db->active, KVS_REC_BATCH, 0, NULL, 0, b->buf, b->len, &off);
    if (rc == KVS_OK) {
        /* the batch header holds no value: count it as garbage */
        atomic_fetch_add_explicit(&db->active->dead_bytes, KVS_REC_HEADER_SIZE,
                                  memory_order_relaxed);
        index_batch(db, plan, b->count, db->active->slot, off + KVS_REC_HEADER_SIZE, b->len);
        uint64_t ahead_to = kvs__seg_ahead_due(db->active);
        if (ahead_to)
            kvs__ahead_ask(db, db->active, ahead_to);
        db->write_seq++;
    }
    free(plan);
    return kvs__write_unlock(db, rc);
}
