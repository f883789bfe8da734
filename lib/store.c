/*
 * The store core shared by the public calls and the background threads:
 * logging, key comparison against records, the segment list and the slot
 * table, new segments, rolling the active segment, argument checks.
 */
#include "store.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "compact.h"
#include "io.h"

void kvs__log(struct kvs *db, kvs_log_level_t level, const char *fmt, ...)
{
    if (!db->opts.log_fn)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    db->opts.log_fn(db->opts.log_ctx, level, msg);
}

/* ---- key comparison against records in segment mappings ---- */

const uint8_t *kvs__loc_record(struct kvs *db, const struct kvs_loc *loc)
{
    return kvs__slot_get(db, loc->slot)->base + loc->off;
}

int kvs__key_eq(void *ctx, const struct kvs_loc *loc, const void *key, size_t klen)
{
    const uint8_t *rec = kvs__loc_record(ctx, loc);
    if (loc->size < kvs__rec_header_size(kvs__rec_type_at(rec)) + klen ||
        kvs__rec_klen_at(rec) != klen)
        return 0;
    return memcmp(kvs__rec_key_at(rec), key, klen) == 0;
}

uint64_t kvs__loc_expire(struct kvs *db, const struct kvs_loc *loc)
{
    const uint8_t *rec = kvs__loc_record(db, loc);
    if (kvs__rec_type_at(rec) != KVS_REC_PUTX || loc->size < KVS_REC_HEADER_MAX)
        return 0;
    return kvs__load64(rec + KVS_REC_HEADER_SIZE);
}

uint32_t kvs__loc_long_size(struct kvs *db, const struct kvs_loc *loc)
{
    const struct kvs_segment *s = kvs__slot_get(db, loc->slot);
    const uint8_t *rec = s->base + loc->off; /* a long record: its header is there */
    uint64_t size = kvs__rec_size_of(kvs__rec_type_at(rec), kvs__rec_klen_at(rec),
                                      kvs__rec_vlen_at(rec));
    /* A sealed segment's tail is final (set before sealed); an open one
     * was written by this process, which wrote the header too. */
    bool past_end = atomic_load_explicit(&s->sealed, memory_order_acquire) &&
                    loc->off + size > s->tail;
    if (size < KVS_LOC_SIZE_LONG || size > UINT32_MAX || past_end)
        return 0;
    return (uint32_t)size;
}

/* ---- segment list and slot table ---- */

void kvs__db_set_slot(struct kvs *db, struct kvs_segment *s, uint32_t slot)
{
    s->slot = slot;
    s->slot_cell = &db->slots[slot];
    atomic_store_explicit(&db->slots[slot], s, memory_order_release);
}

static int slot_alloc(struct kvs *db, struct kvs_segment *s)
{
    for (uint32_t n = 0; n < KVS_SLOT_COUNT; n++) {
        uint32_t slot = (db->slot_next + n) % KVS_SLOT_COUNT;
        if (slot != 0 && kvs__slot_get(db, slot) == NULL) {
            kvs__db_set_slot(db, s, slot);
            db->slot_next = slot + 1;
            return KVS_OK;
        }
    }
    kvs__log(db, KVS_LOG_ERROR, "too many segments (%u)", KVS_SLOT_COUNT - 1);
    return KVS_ENOMEM;
}

/* Insert keeping db->segs in epoch order. Caller holds seg_mutex. */
static int segs_insert(struct kvs *db, struct kvs_segment *s)
{
    if (db->nsegs == db->segs_cap) {
        size_t cap = db->segs_cap ? db->segs_cap * 2 : 16;
        struct kvs_segment **n = realloc(db->segs, cap * sizeof(*n));
        if (!n)
            return KVS_ENOMEM;
        db->segs = n;
        db->segs_cap = cap;
    }
    size_t i = db->nsegs;
    while (i > 0 && db->segs[i - 1]->epoch > s->epoch) {
        db->segs[i] = db->segs[i - 1];
        i--;
    }
    db->segs[i] = s;
    db->nsegs++;
    return KVS_OK;
}

int kvs__db_add_segment(struct kvs *db, struct kvs_segment *s)
{
    pthread_mutex_lock(&db->seg_mutex);
    int rc = segs_insert(db, s);
    if (rc == KVS_OK) {
        rc = slot_alloc(db, s);
        if (rc != KVS_OK) {
            for (size_t i = 0; i < db->nsegs; i++)
                if (db->segs[i] == s) {
                    memmove(&db->segs[i], &db->segs[i + 1],
                            (db->nsegs - i - 1) * sizeof(db->segs[0]));
                    db->nsegs--;
                    break;
                }
        }
    }
    pthread_mutex_unlock(&db->seg_mutex);
    return rc;
}

void kvs__db_remove_segment(struct kvs *db, struct kvs_segment *s)
{
    pthread_mutex_lock(&db->seg_mutex);
    for (size_t i = 0; i < db->nsegs; i++) {
        if (db->segs[i] == s) {
            memmove(&db->segs[i], &db->segs[i + 1], (db->nsegs - i - 1) * sizeof(db->segs[0]));
            db->nsegs--;
            break;
        }
    }
    /* Its slot stays taken until the segment is freed (seg_free): a run
     * (run.h) may still name it by slot. */
    atomic_store_explicit(&s->moved, true, memory_order_release);
    pthread_mutex_unlock(&db->seg_mutex);
}

/*
 * How a new segment is written (see enum kvs_seg_writes). Compaction output
 * is written once and synced once: huge pages. Writer segments of stores
 * that sync every write (or asked for it) use pwritev. Other writer segments
 * are written through the mapping; huge pages only in KVS_SYNC_NONE, since
 * a sync writes back each dirty folio whole: with 2 MiB folios, the
 * once-a-second sync of KVS_SYNC_INTERVAL would write 2 MiB for a trickle of
 * small records (measured: 10.5 MB for 50 KB of records over 5 s).
 */
static enum kvs_seg_writes segment_writes(const struct kvs *db, uint32_t flags)
{
    if (flags & KVS_SEG_FLAG_COMPACTED)
        return KVS_SEG_MAPPED;
    bool always = db->opts.sync == KVS_SYNC_ALWAYS;
    if (db->opts.write_through == 1 || (db->opts.write_through == -1 && always))
        return KVS_SEG_WRITE_THROUGH;
    bool huge = db->opts.sync == KVS_SYNC_NONE && !atomic_load(&db->small_pages);
    return huge ? KVS_SEG_MAPPED : KVS_SEG_MAPPED_SMALL;
}

int kvs__db_new_segment(struct kvs *db, uint64_t epoch, uint32_t flags, uint64_t capacity,
                        struct kvs_segment **out)
{
    pthread_mutex_lock(&db->seg_mutex);
    uint32_t id = db->next_id;
    if (id == UINT32_MAX) {
        pthread_mutex_unlock(&db->seg_mutex);
        kvs__log(db, KVS_LOG_ERROR, "segment numbers exhausted");
        return KVS_ENOMEM;
    }
    db->next_id++;
    db->dir_dirty = true;
    pthread_mutex_unlock(&db->seg_mutex);

    int rc = kvs__seg_create(db->dirfd, id, epoch, flags, db->seed, capacity,
                             segment_writes(db, flags), out);
    if (rc != KVS_OK) {
        kvs__log(db, KVS_LOG_ERROR, "cannot create segment %u: %s", id, strerror(errno));
        return rc;
    }
    rc = kvs__db_add_segment(db, *out);
    if (rc != KVS_OK) {
        char name[KVS_SEG_NAME_MAX];
        kvs__seg_name(name, id, "log");
        kvs__io_unlinkat(db->dirfd, name);
        kvs__seg_unref(*out);
        *out = NULL;
    }
    return rc;
}

void kvs__db_retire_loc(struct kvs *db, const struct kvs_loc *loc)
{
    struct kvs_segment *s = kvs__slot_get(db, loc->slot);
    struct kvs_loc exact = *loc;
    kvs__loc_exact(db, &exact);
    atomic_fetch_sub_explicit(&s->live_bytes, exact.size, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->dead_bytes, exact.size, memory_order_relaxed);
}

/* ---- rolling the active segment ---- */

/* On failure the old segment stays active. */
int kvs__db_roll(struct kvs *db, uint64_t need)
{
    uint64_t capacity = KVS_MAX(db->opts.segment_bytes,
                                KVS_SEG_HEADER_SIZE + need + KVS_REC_HEADER_SIZE);
    struct kvs_segment *next;
    uint64_t epoch;
    pthread_mutex_lock(&db->seg_mutex);
    epoch = db->next_writer_epoch;
    db->next_writer_epoch += KVS_EPOCH_WRITER_STEP;
    pthread_mutex_unlock(&db->seg_mutex);
    int rc = kvs__db_new_segment(db, epoch, 0, capacity, &next);
    if (rc != KVS_OK)
        return rc;
    struct kvs_segment *old = db->active;
    rc = kvs__seg_seal(old);
    if (rc != KVS_OK) {
        /* the seal could not be written: keep appending to the old one */
        kvs__db_remove_segment(db, next);
        char name[KVS_SEG_NAME_MAX];
        kvs__seg_name(name, next->id, "log");
        kvs__io_unlinkat(db->dirfd, name);
        kvs__seg_unref(next);
        return rc;
    }
    db->active = next;
    kvs__bg_kick(db); /* the sealed segment wants a hint file */
    return KVS_OK;
}

/* ---- argument checks ---- */

int kvs__check_key(const kvs_t *db, const void *key, size_t klen)
{
    if (!db || !key || klen == 0)
        return KVS_EINVAL;
    if (klen > KVS_KEY_MAX)
        return KVS_ETOOBIG;
    return KVS_OK;
}

int kvs__check_entry(const void *key, size_t klen, const void *val, size_t vlen)
{
    if (!key || klen == 0 || (!val && vlen > 0))
        return KVS_EINVAL;
    if (klen > KVS_KEY_MAX || vlen > KVS_VALUE_MAX)
        return KVS_ETOOBIG;
    return KVS_OK;
}

int kvs__check_write(const kvs_t *db, const void *key, size_t klen, const void *val,
                     size_t vlen)
{
    if (!db)
        return KVS_EINVAL;
    int rc = kvs__check_entry(key, klen, val, vlen);
    if (rc == KVS_OK && db->opts.read_only)
        rc = KVS_EREADONLY;
    return rc;
}

