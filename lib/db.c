/*
 * The public calls: argument checks, the read path, the write path, open and
 * close. Recovery, syncing and compaction live in their own files.
 */
#include "db.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hash.h"
#include "hint.h"
#include "io.h"
#include "index_file.h"
#include "snapshot.h"

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

static const uint8_t *loc_record(struct kvs *db, const struct kvs_loc *loc)
{
    return kvs__slot_get(db, loc->slot)->base + loc->off;
}

int kvs__key_eq(void *ctx, const struct kvs_loc *loc, const void *key, size_t klen)
{
    const uint8_t *rec = loc_record(ctx, loc);
    if (loc->size < KVS_REC_HEADER_SIZE + klen || kvs__rec_klen_at(rec) != klen)
        return 0;
    return memcmp(kvs__rec_key_at(rec), key, klen) == 0;
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
    atomic_fetch_sub_explicit(&s->live_bytes, loc->size, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->dead_bytes, loc->size, memory_order_relaxed);
}

/* ---- argument checks ---- */

static int check_key(const kvs_t *db, const void *key, size_t klen)
{
    if (!db || !key || klen == 0)
        return KVS_EINVAL;
    if (klen > KVS_KEY_MAX)
        return KVS_ETOOBIG;
    return KVS_OK;
}

static int check_write(const kvs_t *db, const void *key, size_t klen, const void *val,
                       size_t vlen)
{
    int rc = check_key(db, key, klen);
    if (rc != KVS_OK)
        return rc;
    if (!val && vlen > 0)
        return KVS_EINVAL;
    if (vlen > KVS_VALUE_MAX)
        return KVS_ETOOBIG;
    if (db->opts.read_only)
        return KVS_EREADONLY;
    return KVS_OK;
}

/* ---- read path ---- */

/* Values bigger than this are checked and copied outside the shard lock,
 * holding a reference on their segment instead, so that reading a large
 * value never holds up a writer (who needs that lock to update the index). */
#define GET_UNLOCKED_BYTES (64u * 1024u)

struct found {
    struct kvs_rec rec;          /* the record, when checked under the lock */
    struct kvs_segment *pinned;  /* or: its segment, referenced */
    struct kvs_loc loc;          /* and where in it */
};

/* Decode the record at loc into r: intact, of the size the index says, a PUT. */
static bool record_intact(const uint8_t *rec, const struct kvs_loc *loc, struct kvs_rec *r)
{
    return kvs__rec_decode(rec, loc->size, r) == KVS_REC_OK && r->size == loc->size &&
           r->type == KVS_REC_PUT;
}

/*
 * Look at every entry whose tag matches: the first intact record holding the
 * key wins; damaged candidates are remembered so that, if nothing intact
 * matches, the caller hears KVS_ECORRUPT rather than KVS_NOT_FOUND. A large
 * record whose key matches is only pinned, to be checked after the lock is
 * released. Caller holds the shard's read lock.
 */
static int lookup_record(struct kvs *db, struct kvs_index_shard *sh, uint64_t h,
                         const void *key, size_t klen, struct found *out)
{
    bool damaged = false;
    uint32_t pos = kvs__index_home(sh, h);
    struct kvs_index_entry *e;
    while ((e = kvs__index_next_tag(sh, h, &pos)) != NULL) {
        if (e->loc.size > GET_UNLOCKED_BYTES) {
            if (!kvs__key_eq(db, &e->loc, key, klen))
                continue;
            out->pinned = kvs__slot_get(db, e->loc.slot);
            out->loc = e->loc;
            kvs__seg_ref(out->pinned);
            return KVS_OK;
        }
        struct kvs_rec *r = &out->rec;
        if (!record_intact(loc_record(db, &e->loc), &e->loc, r)) {
            damaged = true;
            continue;
        }
        if (r->klen == klen && memcmp(r->key, key, klen) == 0)
            return KVS_OK;
    }
    return damaged ? KVS_ECORRUPT : KVS_NOT_FOUND;
}

/* Check and copy a large record pinned by lookup_record, then unpin it. */
static int copy_pinned(struct found *f, void **val, size_t *vlen)
{
    struct kvs_rec r;
    int rc = KVS_ECORRUPT;
    if (record_intact(f->pinned->base + f->loc.off, &f->loc, &r))
        rc = kvs__value_copy(&r, val, vlen);
    kvs__seg_unref(f->pinned);
    return rc;
}

int kvs_get(kvs_t *db, const void *key, size_t klen, void **val, size_t *vlen)
{
    if (val)
        *val = NULL;
    if (vlen)
        *vlen = 0;
    int rc = check_key(db, key, klen);
    if (rc != KVS_OK || !val || !vlen)
        return rc != KVS_OK ? rc : KVS_EINVAL;
    uint64_t h = kvs__hash(db->seed, key, klen);
    struct kvs_index_shard *sh = kvs__index_shard(&db->index, h);
    struct found f = {.pinned = NULL};

    pthread_rwlock_rdlock(&sh->lock);
    rc = lookup_record(db, sh, h, key, klen, &f);
    if (rc == KVS_OK && !f.pinned)
        rc = kvs__value_copy(&f.rec, val, vlen);
    /* counted per shard: a counter shared by all readers would bounce
     * between their CPUs on every get */
    atomic_fetch_add_explicit(&sh->gets, 1, memory_order_relaxed);
    pthread_rwlock_unlock(&sh->lock);
    if (rc == KVS_OK && f.pinned)
        rc = copy_pinned(&f, val, vlen);
    if (rc == KVS_ECORRUPT)
        kvs__log(db, KVS_LOG_ERROR, "a record of the key asked for fails its checksum");
    return rc;
}

int kvs_exists(kvs_t *db, const void *key, size_t klen)
{
    int rc = check_key(db, key, klen);
    if (rc != KVS_OK)
        return rc;
    uint64_t h = kvs__hash(db->seed, key, klen);
    struct kvs_index_shard *sh = kvs__index_shard(&db->index, h);
    pthread_rwlock_rdlock(&sh->lock);
    struct kvs_index_entry *e = kvs__index_find(sh, h, key, klen, kvs__key_eq, db);
    pthread_rwlock_unlock(&sh->lock);
    return e ? KVS_OK : KVS_NOT_FOUND;
}

/* ---- write path ---- */

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

/* Conditions of kvs_set_ex and kvs_remove, checked under write_mutex. */
static int write_precheck(struct kvs *db, struct kvs_index_shard *sh, uint64_t h,
                          const void *key, size_t klen, enum kvs_rec_type type, unsigned flags)
{
    if (type == KVS_REC_PUT && flags == 0)
        return KVS_OK;
    pthread_rwlock_rdlock(&sh->lock);
    bool exists = kvs__index_find(sh, h, key, klen, kvs__key_eq, db) != NULL;
    pthread_rwlock_unlock(&sh->lock);
    if (type == KVS_REC_DEL)
        return exists ? KVS_OK : KVS_NOT_FOUND;
    if ((flags & KVS_SET_IF_ABSENT) && exists)
        return KVS_EXISTS;
    if ((flags & KVS_SET_IF_PRESENT) && !exists)
        return KVS_NOT_FOUND;
    return KVS_OK;
}

/* Point the index at the record just appended. Caller holds write_mutex. */
static void index_apply(struct kvs *db, struct kvs_index_shard *sh, uint64_t h, const void *key,
                        size_t klen, enum kvs_rec_type type, const struct kvs_loc *loc)
{
    struct kvs_segment *seg = db->active;
    struct kvs_loc old;
    pthread_rwlock_wrlock(&sh->lock);
    if (type == KVS_REC_PUT) {
        atomic_fetch_add_explicit(&seg->live_bytes, loc->size, memory_order_relaxed);
        if (kvs__index_put(sh, h, key, klen, kvs__key_eq, db, loc, &old) == 1)
            kvs__db_retire_loc(db, &old);
    } else {
        atomic_fetch_add_explicit(&seg->dead_bytes, loc->size, memory_order_relaxed);
        struct kvs_index_entry *e = kvs__index_find(sh, h, key, klen, kvs__key_eq, db);
        if (e) {
            old = e->loc;
            kvs__index_erase(sh, e);
            kvs__db_retire_loc(db, &old);
        }
    }
    pthread_rwlock_unlock(&sh->lock);
}

static int db_write(struct kvs *db, enum kvs_rec_type type, const void *key, size_t klen,
                    const void *val, size_t vlen, unsigned flags)
{
    uint64_t h = kvs__hash(db->seed, key, klen);
    struct kvs_index_shard *sh = kvs__index_shard(&db->index, h);
    uint64_t size = kvs__rec_size(klen, vlen);
    uint64_t seq = 0;
    int rc;

    pthread_mutex_lock(&db->write_mutex);
    if (atomic_load(&db->write_failed)) {
        errno = EIO;
        rc = KVS_EIO;
        goto out;
    }
    rc = write_precheck(db, sh, h, key, klen, type, flags);
    if (rc == KVS_OK && type == KVS_REC_PUT)
        rc = kvs__index_prepare_insert(&db->index, sh);
    if (rc == KVS_OK && !kvs__seg_has_room(db->active, size))
        rc = kvs__db_roll(db, size);
    if (rc == KVS_OK)
        rc = kvs__seg_reserve(db->active, size);
    if (rc == KVS_OK)
        rc = kvs__order_prepare(db);
    uint64_t off;
    if (rc == KVS_OK)
        rc = kvs__seg_append(db->active, type, key, klen, val, vlen, &off);
    if (rc != KVS_OK)
        goto out;
    uint64_t ahead_to = kvs__seg_ahead_due(db->active);
    if (ahead_to)
        kvs__ahead_ask(db, db->active, ahead_to);
    struct kvs_loc loc = {.slot = db->active->slot, .off = (uint32_t)off, .size = (uint32_t)size};
    index_apply(db, sh, h, key, klen, type, &loc);
    kvs__order_note(db, kvs__ref(loc.slot, loc.off, type == KVS_REC_DEL));
    seq = ++db->write_seq;
    db->write_counts[type == KVS_REC_PUT ? 0 : 1]++;
out:
    pthread_mutex_unlock(&db->write_mutex);
    kvs__order_after_write(db);
    if (rc == KVS_EIO)
        kvs__log(db, KVS_LOG_ERROR, "write failed: %s", strerror(errno));
    if (rc != KVS_OK)
        return rc;
    if (db->opts.sync == KVS_SYNC_ALWAYS)
        return kvs__sync_upto(db, seq);
    return KVS_OK;
}

int kvs_set(kvs_t *db, const void *key, size_t klen, const void *val, size_t vlen)
{
    int rc = check_write(db, key, klen, val, vlen);
    if (rc != KVS_OK)
        return rc;
    return db_write(db, KVS_REC_PUT, key, klen, val, vlen, 0);
}

int kvs_set_ex(kvs_t *db, const void *key, size_t klen, const void *val, size_t vlen,
               unsigned flags)
{
    int rc = check_write(db, key, klen, val, vlen);
    if (rc != KVS_OK)
        return rc;
    if ((flags & ~(unsigned)(KVS_SET_IF_ABSENT | KVS_SET_IF_PRESENT)) != 0 ||
        flags == (KVS_SET_IF_ABSENT | KVS_SET_IF_PRESENT))
        return KVS_EINVAL;
    return db_write(db, KVS_REC_PUT, key, klen, val, vlen, flags);
}

int kvs_remove(kvs_t *db, const void *key, size_t klen)
{
    int rc = check_write(db, key, klen, NULL, 0);
    if (rc != KVS_OK)
        return rc;
    return db_write(db, KVS_REC_DEL, key, klen, NULL, 0, 0);
}

/*
 * A KVS_SYNC_NONE store that syncs on its own schedule: from now on keep each
 * sync to the pages written since the last one (see segment_writes). The
 * active segment's huge folios cannot be split, so it is sealed (written back
 * once) and the next one uses small pages. Caller holds write_mutex.
 */
static void small_pages_from_now(struct kvs *db)
{
    if (atomic_load(&db->small_pages))
        return;
    atomic_store(&db->small_pages, true);
    if (!db->active || db->active->small_pages || db->active->write_through)
        return;
    int rc = kvs__db_roll(db, 0);
    if (rc != KVS_OK) /* still correct: syncs of this segment write more */
        kvs__log(db, KVS_LOG_WARN, "cannot start a segment with small pages: %s",
                 kvs_strerror(rc));
}

int kvs_sync(kvs_t *db)
{
    if (!db)
        return KVS_EINVAL;
    if (db->opts.read_only)
        return KVS_OK;
    pthread_mutex_lock(&db->write_mutex);
    small_pages_from_now(db);
    uint64_t seq = db->write_seq;
    pthread_mutex_unlock(&db->write_mutex);
    return kvs__sync_upto(db, seq);
}

int kvs_compact(kvs_t *db)
{
    if (!db)
        return KVS_EINVAL;
    if (db->opts.read_only)
        return KVS_EREADONLY;
    return kvs__compact_now(db);
}

/* ---- open and close ---- */

/* mkdir -p: create each missing component of path. */
static int make_dirs(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return KVS_ENOMEM;
    int rc = KVS_OK;
    for (char *p = copy + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(copy, 0755) < 0 && errno != EEXIST) {
                rc = errno == ENOENT ? KVS_ENOENT : KVS_EIO;
                break;
            }
            *p = saved;
            if (saved == '\0')
                break;
        }
    }
    int saved_errno = errno;
    free(copy);
    errno = saved_errno;
    return rc;
}

static struct kvs *db_alloc(const struct kvs_options *opts)
{
    struct kvs *db = calloc(1, sizeof(*db));
    if (!db)
        return NULL;
    db->slots = calloc(KVS_SLOT_COUNT, sizeof(*db->slots));
    if (!db->slots || kvs__index_init(&db->index) != KVS_OK) {
        free(db->slots);
        free(db);
        return NULL;
    }
    kvs__order_init(&db->order);
    db->opts = *opts;
    db->dirfd = -1;
    db->lock_fd = -1;
    db->slot_next = 1;
    db->next_writer_epoch = KVS_EPOCH_WRITER_STEP;
    pthread_mutex_init(&db->seg_mutex, NULL);
    pthread_mutex_init(&db->write_mutex, NULL);
    pthread_mutex_init(&db->sync_mutex, NULL);
    pthread_mutex_init(&db->bg_mutex, NULL);
    pthread_mutex_init(&db->compact_mutex, NULL);
    pthread_mutex_init(&db->ahead_mutex, NULL);
    pthread_cond_init(&db->ahead_cond, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&db->sync_cond, &ca);
    pthread_cond_init(&db->bg_cond, &ca);
    pthread_cond_init(&db->gather_cond, &ca);
    pthread_condattr_destroy(&ca);
    return db;
}

/* Free everything; segments are dropped without touching their files. */
static void db_free(struct kvs *db)
{
    kvs__order_stop(db); /* its runs pin segments */
    kvs__order_destroy(&db->order);
    for (size_t i = 0; i < db->nsegs; i++)
        kvs__seg_unref(db->segs[i]);
    free(db->segs);
    free(db->slots);
    kvs__index_destroy(&db->index);
    if (db->lock_fd >= 0)
        kvs__unlock_dir(db->lock_fd);
    if (db->dirfd >= 0)
        kvs__io_close(db->dirfd);
    pthread_mutex_destroy(&db->seg_mutex);
    pthread_mutex_destroy(&db->write_mutex);
    pthread_mutex_destroy(&db->sync_mutex);
    pthread_mutex_destroy(&db->bg_mutex);
    pthread_mutex_destroy(&db->compact_mutex);
    pthread_mutex_destroy(&db->ahead_mutex);
    pthread_cond_destroy(&db->ahead_cond);
    pthread_cond_destroy(&db->sync_cond);
    pthread_cond_destroy(&db->bg_cond);
    pthread_cond_destroy(&db->gather_cond);
    free(db->dir);
    free(db);
}

static int open_dir(struct kvs *db, const char *dir)
{
    if (db->opts.create_if_missing && !db->opts.read_only) {
        int rc = make_dirs(dir);
        if (rc != KVS_OK)
            return rc;
    }
    db->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (db->dirfd < 0)
        return errno == ENOENT ? KVS_ENOENT : KVS_EIO;
    return kvs__lock_dir(db->dirfd, db->opts.read_only, &db->lock_fd);
}

static int start_writer(struct kvs *db)
{
    uint64_t epoch = db->next_writer_epoch;
    db->next_writer_epoch += KVS_EPOCH_WRITER_STEP;
    return kvs__db_new_segment(db, epoch, 0, db->opts.segment_bytes, &db->active);
}

int kvs_open(const char *dir, const kvs_options_t *opts, kvs_t **out)
{
    uint64_t t0 = kvs__now_us();
    if (out)
        *out = NULL;
    if (!dir || !*dir || !out)
        return KVS_EINVAL;
    struct kvs_options o;
    if (opts)
        o = *opts;
    else
        kvs__options_defaults(&o);
    if (kvs__options_validate(&o) != KVS_OK)
        return KVS_EINVAL;

    struct kvs *db = db_alloc(&o);
    if (!db)
        return KVS_ENOMEM;
    db->dir = strdup(dir);
    int rc = db->dir ? open_dir(db, dir) : KVS_ENOMEM;
    if (rc == KVS_OK)
        rc = kvs__recover(db);
    if (rc == KVS_OK)
        rc = kvs__order_start(db);
    if (rc == KVS_OK && !o.read_only)
        rc = start_writer(db);
    if (rc == KVS_OK && !o.read_only)
        rc = kvs__sync_dir_if_dirty(db);
    if (rc == KVS_OK && !o.read_only)
        rc = kvs__sync_start(db);
    if (rc == KVS_OK && !o.read_only)
        rc = kvs__bg_start(db);
    if (rc != KVS_OK) {
        int saved = errno;
        kvs__sync_stop(db);
        kvs__bg_stop(db);
        kvs__ahead_stop(db);
        kvs__order_stop(db); /* after compaction, which refreshes the order */
        if (db->active && db->active->tail == KVS_SEG_HEADER_SIZE) {
            char name[KVS_SEG_NAME_MAX];
            kvs__seg_name(name, db->active->id, "log");
            kvs__io_unlinkat(db->dirfd, name);
        }
        db_free(db);
        errno = saved;
        return rc;
    }
    atomic_store(&db->stats[KVS_STAT_OPEN_MICROS], kvs__now_us() - t0);
    *out = db;
    return KVS_OK;
}

/* Seal the active segment at close, or delete it if nothing was written. */
static int close_active(struct kvs *db)
{
    struct kvs_segment *s = db->active;
    db->active = NULL;
    if (s->tail == KVS_SEG_HEADER_SIZE) {
        char name[KVS_SEG_NAME_MAX];
        kvs__seg_name(name, s->id, "log");
        kvs__db_remove_segment(db, s);
        kvs__io_unlinkat(db->dirfd, name);
        pthread_mutex_lock(&db->seg_mutex);
        db->dir_dirty = true;
        pthread_mutex_unlock(&db->seg_mutex);
        kvs__seg_unref(s);
        return KVS_OK;
    }
    return kvs__seg_seal(s);
}


int kvs_close(kvs_t *db)
{
    if (!db)
        return KVS_OK;
    if (atomic_load_explicit(&db->order.handles, memory_order_acquire) > 0) {
        kvs__log(db, KVS_LOG_ERROR, "kvs_close: iterators or snapshots are still open");
        return KVS_EBUSY;
    }
    atomic_store(&db->compact_abort, true);
    atomic_store(&db->order.stop, true); /* an unfinished first view is dropped */
    kvs__bg_stop(db);
    kvs__sync_stop(db);
    kvs__ahead_stop(db);
    kvs__order_stop(db); /* after compaction, which refreshes the order */
    int rc = KVS_OK;
    if (!db->opts.read_only) {
        pthread_mutex_lock(&db->write_mutex);
        uint64_t seq = ++db->write_seq; /* the seal, so that the sync below covers it */
        close_active(db);
        pthread_mutex_unlock(&db->write_mutex);
        if (!atomic_load(&db->write_failed))
            rc = kvs__sync_upto(db, seq);
        else
            rc = KVS_EIO;
        if (rc == KVS_OK) {
            kvs__write_pending_hints(db);
            kvs__index_file_write(db);
        }
    }
    int saved = errno;
    db_free(db);
    errno = saved;
    return rc;
}
