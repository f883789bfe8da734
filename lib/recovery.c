/*
 * Open-time recovery: find the segments, replay them in epoch order into the
 * index (from hint files where they are intact, else by scanning records),
 * cut off a torn tail, and seal what a crash left open. The rules are written
 * out in doc/FORMAT.md, "Recovery".
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hash.h"
#include "hint.h"
#include "index_file.h"
#include "io.h"
#include "obsolete.h"
#include "recovery.h"
#include "store.h"

/* ---- replaying records into the index ---- */

/* Key equality for replay: the candidate is given by its location, so that
 * hint replay never reads a key unless two hashes collide. */
static int loc_key_eq(void *ctx, const struct kvs_loc *loc, const void *key, size_t klen)
{
    (void)klen;
    struct kvs *db = ctx;
    const struct kvs_loc *other = key;
    const uint8_t *a = kvs__slot_get(db, loc->slot)->base + loc->off;
    const uint8_t *b = kvs__slot_get(db, other->slot)->base + other->off;
    uint32_t ka = kvs__rec_klen_at(a), kb = kvs__rec_klen_at(b);
    if (ka != kb || kvs__rec_header_size(kvs__rec_type_at(a)) + ka > loc->size ||
        kvs__rec_header_size(kvs__rec_type_at(b)) + kb > other->size)
        return 0;
    return memcmp(kvs__rec_key_at(a), kvs__rec_key_at(b), ka) == 0;
}

static int replay_put(struct kvs *db, struct kvs_segment *s, uint64_t hash,
                      const struct kvs_loc *loc)
{
    struct kvs_index_shard *sh = kvs__index_shard(&db->index, hash);
    struct kvs_loc old;
    int r = kvs__index_prepare_insert(&db->index, sh);
    if (r == KVS_OK)
        r = kvs__index_put(sh, hash, loc, 0, loc_key_eq, db, loc, &old);
    if (r < 0)
        return r;
    if (r == 1)
        kvs__db_retire_loc(db, &old);
    atomic_fetch_add_explicit(&s->live_bytes, loc->size, memory_order_relaxed);
    return KVS_OK;
}

static void replay_del(struct kvs *db, struct kvs_segment *s, uint64_t hash,
                       const struct kvs_loc *loc)
{
    struct kvs_index_shard *sh = kvs__index_shard(&db->index, hash);
    struct kvs_index_entry *e = kvs__index_find(sh, hash, loc, 0, loc_key_eq, db);
    if (e) {
        struct kvs_loc old = kvs__entry_loc(e);
        kvs__index_erase(sh, e);
        kvs__db_retire_loc(db, &old);
    }
    atomic_fetch_add_explicit(&s->dead_bytes, loc->size, memory_order_relaxed);
}

/* ---- hint replay ---- */

/* How many hint entries ahead replay fetches the index slots it will touch. */
#define REPLAY_PREFETCH_AHEAD 16

/* Start the cache miss of the home slot of the i-th entry: replay inserts in
 * random slot order, one miss per entry, and overlapping them is most of
 * what a hint replay can gain. */
static void prefetch_home_slot(struct kvs *db, const struct kvs_hint *h, uint64_t i)
{
    if (i >= h->count)
        return;
    struct kvs_hint_rec r;
    kvs__hint_get(h, i, &r);
    struct kvs_index_shard *sh = kvs__index_shard(&db->index, r.hash);
    __builtin_prefetch(&sh->table[kvs__index_home(sh, r.hash)], 1);
}

/* A value with an expiry, listed by a hint: its time is in its header. */
static void note_expiry_at(struct kvs_segment *s, const struct kvs_loc *loc)
{
    if ((uint64_t)loc->off + KVS_REC_HEADER_MAX <= s->tail)
        kvs__seg_note_expire(s, kvs__load64(s->base + loc->off + KVS_REC_HEADER_SIZE));
    else
        atomic_store(&s->min_expire, 1);
}

/* A hint is used only for a sealed segment whose seal sits where it says. */
static int replay_hint(struct kvs *db, struct kvs_segment *s, const struct kvs_hint *h)
{
    struct kvs_rec seal;
    if (kvs__rec_decode(s->base + h->data_end, s->tail - h->data_end, &seal) != KVS_REC_OK ||
        seal.type != KVS_REC_SEAL || h->data_end + seal.size != s->tail)
        return KVS_ECORRUPT;
    for (uint64_t i = 0; i < REPLAY_PREFETCH_AHEAD; i++)
        prefetch_home_slot(db, h, i);
    for (uint64_t i = 0; i < h->count; i++) {
        prefetch_home_slot(db, h, i + REPLAY_PREFETCH_AHEAD);
        struct kvs_hint_rec r;
        kvs__hint_get(h, i, &r);
        struct kvs_loc loc = {.slot = s->slot, .off = r.off, .size = r.size};
        if (r.batch)
            continue;
        if (r.expiring)
            note_expiry_at(s, &loc);
        if (r.tombstone) {
            replay_del(db, s, r.hash, &loc);
        } else {
            int rc = replay_put(db, s, r.hash, &loc);
            if (rc != KVS_OK)
                return rc;
        }
    }
    atomic_store(&s->sealed, true);
    return KVS_OK;
}

/* ---- scanning a segment ---- */

static bool all_zero(const uint8_t *p, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* Bytes from off up to the last non-zero byte before end. */
static uint64_t nonzero_extent(const struct kvs_segment *s, uint64_t off, uint64_t end)
{
    while (end > off && s->base[end - 1] == 0)
        end--;
    return end - off;
}

/*
 * An unreadable record at off with an intact one at next is either a hole
 * that a power cut left in data that was never synced, or damage. A power
 * cut loses whole 512-byte sectors, which read back as zeros (the file was
 * grown with zeros ahead of the writer), and pages are written back in any
 * order: so it is a hole if the bytes from off to the end of its sector are
 * all zero (the record's start was lost) or any whole sector between off and
 * next is (a sector lost from the middle of the record, or of the records
 * after it, while a later one made it).
 */
static bool looks_unsynced(const struct kvs_segment *s, uint64_t off, uint64_t next)
{
    uint64_t sector_end = (off | 511u) + 1;
    if (s->base[off + 4 < sector_end ? off + 4 : off] == 0 &&
        all_zero(s->base + off, sector_end - off))
        return true;
    for (uint64_t p = sector_end; p + 512 <= next; p += 512)
        if (all_zero(s->base + p, 512))
            return true;
    return false;
}

/*
 * An unreadable record at off that is a batch a crash caught being written.
 * A batch's payload is records that verify on their own. The writer puts
 * the header first (segment.c), so a write cut short leaves the header and
 * part of the records; stores written by 1.1.0 development builds copied
 * the payload first through the file mapping, so a process killed between
 * the two left a header of zeros followed by intact PUT, PUTX and DEL
 * records (or some of them). Writes are serialised, so
 * nothing is written after it: no record but those a batch holds may
 * follow, within the batch's length (as its header says, or the most a
 * batch may be when the header is zeros). Anything else after it (a SEAL,
 * another batch, a record further away) is damage.
 */
static bool unwritten_batch(const struct kvs_segment *s, uint64_t off, uint64_t next,
                            uint64_t end)
{
    if (end - off < KVS_REC_HEADER_SIZE)
        return false;
    const uint8_t *h = s->base + off;
    uint64_t limit;
    if (all_zero(h, KVS_REC_HEADER_SIZE))
        limit = off + KVS_REC_HEADER_SIZE + KVS_REC_BATCH_MAX;
    else if (kvs__rec_type_at(h) == KVS_REC_BATCH && kvs__rec_klen_at(h) == 0 &&
             kvs__rec_vlen_at(h) <= KVS_REC_BATCH_MAX)
        limit = off + KVS_REC_HEADER_SIZE + kvs__rec_vlen_at(h);
    else
        return false;
    for (uint64_t p = next; p < end;) {
        struct kvs_rec r;
        if (kvs__rec_decode(s->base + p, end - p, &r) != KVS_REC_OK) {
            p = kvs__seg_next_intact(s, p + 1, end);
            continue;
        }
        if (!(kvs__rec_is_put(r.type) || r.type == KVS_REC_DEL) || p + r.size > limit)
            return false;
        p += r.size;
    }
    return true;
}

struct scan_result {
    uint64_t valid_end; /* end of the last intact record */
    bool sealed;        /* ended with a SEAL record */
};

/* Deal with an unreadable record at *off: returns KVS_OK and moves *off to go
 * on scanning, KVS_NOT_FOUND to stop there (tail), or KVS_ECORRUPT. */
static int scan_bad_record(struct kvs *db, struct kvs_segment *s, uint64_t *off, uint64_t end)
{
    uint64_t next = kvs__seg_skip_bad(s, *off, end);
    bool batch = next != end && unwritten_batch(s, *off, next, end);
    uint64_t torn = nonzero_extent(s, *off, next == end || batch ? end : next);
    if (next == end || batch || looks_unsynced(s, *off, next)) {
        if (torn) {
            kvs__stat_add(db, KVS_STAT_RECOVERY_TORN_BYTES, torn);
            kvs__log(db, KVS_LOG_WARN,
                     "segment %u: dropping %llu bytes of torn or unsynced tail at offset %llu",
                     s->id, (unsigned long long)torn, (unsigned long long)*off);
        }
        return KVS_NOT_FOUND;
    }
    if (!db->opts.repair) {
        kvs__log(db, KVS_LOG_ERROR,
                 "segment %u: damaged record at offset %llu (%llu bytes before the next intact "
                 "one); open with repair to skip it",
                 s->id, (unsigned long long)*off, (unsigned long long)(next - *off));
        return KVS_ECORRUPT;
    }
    kvs__stat_add(db, KVS_STAT_RECOVERY_SKIPPED_BYTES, next - *off);
    kvs__log(db, KVS_LOG_WARN, "segment %u: skipping %llu damaged bytes at offset %llu", s->id,
             (unsigned long long)(next - *off), (unsigned long long)*off);
    s->damaged = true;
    atomic_fetch_add_explicit(&s->dead_bytes, next - *off, memory_order_relaxed);
    *off = next;
    return KVS_OK;
}

static int scan_apply_one(struct kvs *db, struct kvs_segment *s, const struct kvs_rec *r,
                          uint64_t off)
{
    struct kvs_loc loc = {.slot = s->slot, .off = (uint32_t)off, .size = (uint32_t)r->size};
    uint64_t hash = kvs__hash(db->seed, r->key, r->klen);
    if (r->type == KVS_REC_DEL) {
        replay_del(db, s, hash, &loc);
        return KVS_OK;
    }
    if (r->type == KVS_REC_PUTX)
        kvs__seg_note_expire(s, r->expire);
    return replay_put(db, s, hash, &loc);
}

/* Apply a verified record; a batch's records are applied one by one (its
 * own checksum proved that all of them made it to disk), once all of them
 * verified: a batch is applied whole or not at all. */
static int scan_apply(struct kvs *db, struct kvs_segment *s, const struct kvs_rec *r, uint64_t off)
{
    if (r->type != KVS_REC_BATCH)
        return scan_apply_one(db, s, r, off);
    uint64_t pos = 0;
    struct kvs_rec in;
    enum kvs_rec_status st;
    while ((st = kvs__rec_batch_next(r, &pos, true, &in)) == KVS_REC_OK)
        ;
    if (st != KVS_REC_AT_END) {
        /* the batch verified whole, its parts did not: not a torn write */
        kvs__log(db, KVS_LOG_ERROR, "segment %u: a batch at offset %llu holds damaged records",
                 s->id, (unsigned long long)off);
        return KVS_ECORRUPT;
    }
    for (pos = 0; kvs__rec_batch_next(r, &pos, false, &in) == KVS_REC_OK;) {
        uint64_t in_off = (uint64_t)(in.key - s->base) - kvs__rec_header_size(in.type);
        int rc = scan_apply_one(db, s, &in, in_off);
        if (rc != KVS_OK)
            return rc;
    }
    return KVS_OK;
}

static int scan_segment(struct kvs *db, struct kvs_segment *s, struct scan_result *res)
{
    uint64_t off = KVS_SEG_HEADER_SIZE, end = s->tail;
    res->sealed = false;
    while (off < end) {
        struct kvs_rec r;
        if (kvs__rec_decode(s->base + off, end - off, &r) == KVS_REC_OK) {
            if (r.type == KVS_REC_SEAL) {
                off += r.size;
                res->sealed = true;
                break;
            }
            int rc = scan_apply(db, s, &r, off);
            if (rc != KVS_OK)
                return rc;
            off += r.size;
            continue;
        }
        int rc = scan_bad_record(db, s, &off, end);
        if (rc == KVS_NOT_FOUND)
            break;
        if (rc != KVS_OK)
            return rc;
    }
    if (res->sealed && off < end && !all_zero(s->base + off, end - off))
        kvs__log(db, KVS_LOG_WARN, "segment %u: ignoring %llu bytes after its seal", s->id,
                 (unsigned long long)(end - off));
    res->valid_end = off;
    return KVS_OK;
}

/* ---- directory listing and the OBSOLETE file ---- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Segment ids in the directory; also removes leftover temporary files. A
 * listing that fails part way is KVS_EIO: opening without some segments
 * would lose their records and let older ones come back. */
static int list_segments(struct kvs *db, uint32_t **ids_out, size_t *n_out)
{
    struct kvs_io_dir *d = kvs__io_dir_open(db->dirfd);
    if (!d)
        return KVS_EIO;
    uint32_t *ids = NULL;
    size_t n = 0, cap = 0;
    int rc = KVS_OK;
    for (;;) {
        const char *name = kvs__io_dir_next(d);
        if (!name) {
            if (errno != 0) {
                kvs__log(db, KVS_LOG_ERROR, "cannot list the directory: %s", strerror(errno));
                rc = KVS_EIO;
            }
            break;
        }
        uint32_t id;
        size_t len = strlen(name);
        if (!db->opts.read_only && len > 4 && strcmp(name + len - 4, ".tmp") == 0) {
            kvs__io_unlinkat(db->dirfd, name);
            continue;
        }
        if (!kvs__seg_parse_name(name, "log", &id))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            uint32_t *grown = realloc(ids, cap * sizeof(*ids));
            if (!grown) {
                rc = KVS_ENOMEM;
                break;
            }
            ids = grown;
        }
        ids[n++] = id;
    }
    kvs__io_dir_close(d);
    if (rc != KVS_OK) {
        free(ids);
        return rc;
    }
    if (n > 1)
        qsort(ids, n, sizeof(*ids), cmp_u32);
    *ids_out = ids;
    *n_out = n;
    return KVS_OK;
}

/* Delete a segment's files, the hint first (a hint must not outlive its
 * segment: a later segment of the same number would not match it). Returns
 * 0, or -1 if a file that exists could not be deleted. */
static int unlink_segment_files(int dirfd, uint32_t id)
{
    char name[KVS_SEG_NAME_MAX];
    int rc = 0;
    kvs__seg_name(name, id, "hint");
    if (kvs__io_unlinkat(dirfd, name) < 0 && errno != ENOENT)
        rc = -1;
    kvs__seg_name(name, id, "log");
    if (kvs__io_unlinkat(dirfd, name) < 0 && errno != ENOENT)
        rc = -1;
    return rc;
}

/*
 * Finish the deletions a compaction recorded in OBSOLETE before it died.
 * OBSOLETE is removed only once every file it lists is gone: if one cannot be
 * deleted now, the next open tries again (and the store opens without it
 * meanwhile). *max_id is raised to the highest id listed, so that no new
 * segment takes the number of one still to be deleted. Read-only handles
 * instead drop those ids from the list they open.
 */
static int apply_obsolete(struct kvs *db, uint32_t *ids, size_t *n, uint32_t *max_id)
{
    uint32_t *dead;
    size_t ndead;
    int rc = kvs__obsolete_read(db->dirfd, &dead, &ndead);
    if (rc == KVS_NOT_FOUND)
        return KVS_OK;
    if (rc == KVS_ECORRUPT) {
        kvs__log(db, KVS_LOG_ERROR, "the OBSOLETE file is damaged");
        return db->opts.repair ? KVS_OK : KVS_ECORRUPT;
    }
    if (rc != KVS_OK)
        return rc;
    if (ndead > 1)
        qsort(dead, ndead, sizeof(*dead), cmp_u32);
    size_t kept = 0;
    for (size_t i = 0; i < *n; i++)
        if (!bsearch(&ids[i], dead, ndead, sizeof(*dead), cmp_u32))
            ids[kept++] = ids[i];
    *n = kept;
    bool all_gone = true;
    for (size_t i = 0; i < ndead && !db->opts.read_only; i++) {
        if (unlink_segment_files(db->dirfd, dead[i]) < 0) {
            kvs__log(db, KVS_LOG_WARN, "cannot delete segment %u, replaced by a compaction: %s",
                     dead[i], strerror(errno));
            all_gone = false;
        }
    }
    if (ndead > 0)
        *max_id = KVS_MAX(*max_id, dead[ndead - 1]);
    free(dead);
    if (db->opts.read_only)
        return KVS_OK;
    if (kvs__io_sync_dir(db->dirfd) < 0)
        return KVS_EIO;
    return all_gone ? kvs__obsolete_remove(db->dirfd) : KVS_OK;
}

/* ---- opening the segments ---- */

static int cmp_epoch(const void *a, const void *b)
{
    const struct kvs_segment *x = *(struct kvs_segment *const *)a;
    const struct kvs_segment *y = *(struct kvs_segment *const *)b;
    return x->epoch < y->epoch ? -1 : x->epoch > y->epoch;
}

/*
 * Start at once every read the open makes next: each segment's header and
 * its end (where a sealed one's SEAL is), and the saved index, or without
 * one the hint files. On a cold cache they then overlap on the disk: one
 * after the other, each a few milliseconds on a virtual disk, they were most
 * of a 40 ms open of a million keys.
 */
static void read_ahead_open(struct kvs *db, const uint32_t *ids, size_t n)
{
    const uint64_t page = 4096;
    char name[KVS_SEG_NAME_MAX];
    for (size_t i = 0; i < n; i++) {
        kvs__seg_name(name, ids[i], "log");
        kvs__io_read_ahead(db->dirfd, name, page, 2 * page);
    }
    if (!db->opts.use_hints || kvs__io_read_ahead(db->dirfd, KVS_INDEX_FILE_NAME, 0, 0))
        return;
    for (size_t i = 0; i < n; i++) {
        kvs__seg_name(name, ids[i], "hint");
        kvs__io_read_ahead(db->dirfd, name, 0, 0);
    }
}

/* Open every listed segment; empty ones (a crash right after creation) are
 * deleted. All must carry the same hash seed and distinct epochs. */
static int open_segments(struct kvs *db, const uint32_t *ids, size_t n,
                         struct kvs_segment ***out, size_t *nout)
{
    struct kvs_segment **segs = calloc(n ? n : 1, sizeof(*segs));
    if (!segs)
        return KVS_ENOMEM;
    size_t k = 0;
    bool have_seed = false;
    int rc = KVS_OK;
    for (size_t i = 0; i < n && rc == KVS_OK; i++) {
        uint64_t seed;
        struct kvs_segment *s;
        rc = kvs__seg_open(db->dirfd, ids[i], !db->opts.read_only, &s, &seed);
        if (rc == KVS_NOT_FOUND && kvs__hint_present(db->dirfd, ids[i])) {
            kvs__log(db, KVS_LOG_ERROR,
                     "segment %u is empty or its header zeroed, but its hint shows it was "
                     "synced: damaged",
                     ids[i]);
            rc = KVS_ECORRUPT;
        }
        if (rc == KVS_NOT_FOUND) {
            kvs__log(db, KVS_LOG_WARN, "segment %u is empty (crash at creation): removed", ids[i]);
            if (!db->opts.read_only)
                unlink_segment_files(db->dirfd, ids[i]);
            rc = KVS_OK;
            continue;
        }
        if (rc == KVS_ECORRUPT && db->opts.repair) {
            /* leave the file alone: only its data is given up */
            char name[KVS_SEG_NAME_MAX];
            struct stat st;
            kvs__seg_name(name, ids[i], "log");
            kvs__log(db, KVS_LOG_ERROR, "segment %u: damaged header, skipped", ids[i]);
            if (kvs__io_stat(db->dirfd, name, &st) == 0)
                kvs__stat_add(db, KVS_STAT_RECOVERY_SKIPPED_BYTES, (uint64_t)st.st_size);
            rc = KVS_OK;
            continue;
        }
        if (rc != KVS_OK) {
            kvs__log(db, KVS_LOG_ERROR, "segment %u: unreadable header (%s)", ids[i],
                     kvs_strerror(rc));
            break;
        }
        segs[k++] = s;
        if (have_seed && seed != db->seed) {
            kvs__log(db, KVS_LOG_ERROR, "segment %u belongs to another store", ids[i]);
            rc = KVS_ECORRUPT;
        }
        db->seed = seed;
        have_seed = true;
    }
    if (k > 1)
        qsort(segs, k, sizeof(*segs), cmp_epoch);
    for (size_t i = 1; i < k && rc == KVS_OK; i++)
        if (segs[i]->epoch == segs[i - 1]->epoch) {
            kvs__log(db, KVS_LOG_ERROR, "segments %u and %u share an epoch", segs[i - 1]->id,
                     segs[i]->id);
            rc = KVS_ECORRUPT;
        }
    if (rc != KVS_OK) {
        for (size_t i = 0; i < k; i++)
            kvs__seg_unref(segs[i]);
        free(segs);
        return rc;
    }
    if (!have_seed)
        db->seed = kvs__hash_new_seed();
    *out = segs;
    *nout = k;
    return KVS_OK;
}

/* ---- per-segment replay ---- */

/* A segment a crash left unsealed: cut its torn tail, seal it, sync it. */
static int finish_unsealed(struct kvs *db, struct kvs_segment *s, uint64_t valid_end)
{
    if (db->opts.read_only) {
        s->tail = valid_end;
        return KVS_OK;
    }
    int rc = kvs__seg_open_fd(db->dirfd, s);
    if (rc == KVS_OK)
        rc = kvs__seg_cut(s, valid_end);
    if (rc == KVS_OK)
        rc = kvs__seg_reserve(s, 0);
    if (rc == KVS_OK)
        rc = kvs__seg_seal(s);
    if (rc == KVS_OK && kvs__seg_datasync(s) < 0)
        rc = KVS_EIO;
    if (rc != KVS_OK)
        kvs__log(db, KVS_LOG_ERROR, "segment %u: cannot seal after recovery: %s", s->id,
                 strerror(errno));
    return rc;
}

/* An intact hint that does not match its segment: the segment changed after
 * it was sealed and synced, so whatever is missing is damage, not a torn
 * write. Fatal unless repairing (then the segment is scanned). */
static int hint_mismatch(struct kvs *db, struct kvs_segment *s)
{
    kvs__log(db, KVS_LOG_ERROR, "segment %u does not match its hint: changed after sealing%s",
             s->id, db->opts.repair ? "; scanning it" : "");
    if (!db->opts.repair)
        return KVS_ECORRUPT;
    s->damaged = true;
    return KVS_NOT_FOUND;
}

/* Replay one segment: from its hint if one was loaded, else by scanning. */
static int load_segment(struct kvs *db, struct kvs_segment *s, struct kvs_hint *h)
{
    if (h->buf) {
        int rc = replay_hint(db, s, h);
        kvs__hint_free(h);
        if (rc == KVS_OK) {
            atomic_store(&s->hinted, true);
            atomic_store(&s->synced, true);
            kvs__stat_add(db, KVS_STAT_HINT_SEGMENTS, 1);
            return KVS_OK;
        }
        if (rc != KVS_ECORRUPT)
            return rc;
        /* no seal where the hint says (nothing was replayed yet) */
        rc = hint_mismatch(db, s);
        if (rc != KVS_NOT_FOUND)
            return rc;
    }
    struct scan_result res;
    int rc = scan_segment(db, s, &res);
    if (rc != KVS_OK)
        return rc;
    if (res.sealed) {
        s->tail = res.valid_end;
        atomic_store(&s->sealed, true);
        atomic_store(&s->synced, true);
        return KVS_OK;
    }
    rc = finish_unsealed(db, s, res.valid_end);
    atomic_store(&s->synced, rc == KVS_OK);
    kvs__seg_close_fd(s);
    return rc;
}

/* Load the hint files up front: their record counts size the index once. */
static int load_hints(struct kvs *db, struct kvs_segment **segs, size_t n, struct kvs_hint *hints)
{
    uint64_t records = 0;
    for (size_t i = 0; i < n && db->opts.use_hints; i++) {
        int rc = kvs__hint_load(db->dirfd, segs[i], db->seed, &hints[i]);
        if (rc == KVS_ECORRUPT)
            rc = hint_mismatch(db, segs[i]);
        if (rc == KVS_OK)
            records += hints[i].count;
        else if (rc != KVS_NOT_FOUND)
            return rc;
    }
    return kvs__index_reserve(&db->index, records);
}

static void drop_empty_segment(struct kvs *db, struct kvs_segment *s)
{
    kvs__db_remove_segment(db, s);
    pthread_mutex_lock(&db->seg_mutex);
    db->dir_dirty = true;
    pthread_mutex_unlock(&db->seg_mutex);
    if (!db->opts.read_only)
        unlink_segment_files(db->dirfd, s->id);
    kvs__seg_unref(s);
}

/* New segments get numbers above every file seen, and the next writer epoch. */
static void set_next_numbers(struct kvs *db, uint32_t max_id)
{
    uint64_t max_epoch = 0;
    for (size_t i = 0; i < db->nsegs; i++)
        max_epoch = KVS_MAX(max_epoch, db->segs[i]->epoch);
    db->next_writer_epoch = (max_epoch / KVS_EPOCH_WRITER_STEP + 1) * KVS_EPOCH_WRITER_STEP;
    db->next_id = max_id + 1;
}

static int replay_all(struct kvs *db, struct kvs_segment **segs, size_t n)
{
    struct kvs_hint *hints = calloc(n ? n : 1, sizeof(*hints));
    if (!hints)
        return KVS_ENOMEM;
    int rc = load_hints(db, segs, n, hints);
    for (size_t i = 0; i < n && rc == KVS_OK; i++) {
        rc = load_segment(db, segs[i], &hints[i]);
        if (rc == KVS_OK && segs[i]->tail <= KVS_SEG_HEADER_SIZE + KVS_REC_HEADER_SIZE)
            drop_empty_segment(db, segs[i]);
    }
    for (size_t i = 0; i < n; i++)
        kvs__hint_free(&hints[i]);
    free(hints);
    return rc;
}

/* The index saved at the last clean close, if it still describes the
 * segments exactly; else replay them. A store opened for writing has the
 * saved file removed by the background thread: unlinking a file whose pages
 * are still being written back waits for the disk, and open must not. A
 * stale file is harmless meanwhile: it stops matching once anything changes
 * (every write lands in a segment created after the file was saved). */
static int rebuild_index(struct kvs *db, struct kvs_segment **segs, size_t n)
{
    int rc = db->opts.use_hints ? kvs__index_file_load(db) : KVS_NOT_FOUND;
    if (rc == KVS_OK)
        atomic_store(&db->stats[KVS_STAT_INDEX_SNAPSHOT_LOADED], 1);
    else if (rc == KVS_NOT_FOUND)
        rc = replay_all(db, segs, n);
    db->index_file_stale = !db->opts.read_only;
    db->prefault_pending = true;
    return rc;
}

int kvs__recover(struct kvs *db)
{
    uint32_t *ids;
    size_t nids;
    int rc = list_segments(db, &ids, &nids);
    if (rc != KVS_OK)
        return rc;
    uint32_t max_id = nids ? ids[nids - 1] : 0;
    uint32_t max_listed = max_id; /* also the ids OBSOLETE names */
    rc = apply_obsolete(db, ids, &nids, &max_listed);
    struct kvs_segment **segs = NULL;
    size_t nsegs = 0;
    if (rc == KVS_OK)
        read_ahead_open(db, ids, nids);
    if (rc == KVS_OK)
        rc = open_segments(db, ids, nids, &segs, &nsegs);
    free(ids);
    if (rc != KVS_OK)
        return rc;
    /* Segments join the store (slots, list) before replay, which reads keys
     * through their slots; on failure db_free releases them. */
    for (size_t i = 0; i < nsegs; i++) {
        if (rc == KVS_OK)
            rc = kvs__db_add_segment(db, segs[i]);
        else
            kvs__seg_unref(segs[i]);
    }
    if (rc == KVS_OK)
        rc = rebuild_index(db, segs, nsegs);
    if (rc == KVS_OK)
        set_next_numbers(db, max_listed);
    free(segs);
    return rc;
}
