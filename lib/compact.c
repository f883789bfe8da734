/*
 * Background work: hint files for freshly sealed segments, and compaction.
 *
 * Compaction copies the live records of some sealed segments (the inputs)
 * into new segments (the outputs), then deletes the inputs. The steps, each
 * safe to interrupt with kill -9 (doc/DESIGN.md has the argument):
 *   1. copy live records into an output; remember each move;
 *   2. seal and fdatasync the output, write its hint, fsync the directory;
 *   3. point the index at the copies whose originals are still current;
 *   4. when every input holds no live record: sync every record written so
 *      far (what superseded the inputs' records), write OBSOLETE (durably),
 *      unlink the inputs, fsync the directory, remove OBSOLETE.
 * Outputs get epochs just above every sealed segment and below the active
 * one, so replay puts the copies after their originals and before any newer
 * write. Readers are never blocked for more than one index update.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "compact.h"
#include "hash.h"
#include "hint.h"
#include "index_file.h"
#include "io.h"
#include "obsolete.h"
#include "readers.h"
#include "store.h"
#include "sync.h"

/* ---- hint files ---- */

/* The next sealed segment without a hint (referenced), or NULL. */
static struct kvs_segment *next_unhinted(struct kvs *db)
{
    struct kvs_segment *found = NULL;
    pthread_mutex_lock(&db->seg_mutex);
    for (size_t i = 0; i < db->nsegs && !found; i++) {
        struct kvs_segment *s = db->segs[i];
        if (atomic_load(&s->sealed) && !atomic_load(&s->hinted) && !s->hint_failed) {
            kvs__seg_ref(s);
            found = s;
        }
    }
    pthread_mutex_unlock(&db->seg_mutex);
    return found;
}

/* A hint may only describe synced data: after a power cut, a hint that
 * outlived its segment's pages would point at zeros. */
static void write_hint(struct kvs *db, struct kvs_segment *s)
{
    /* Sealing dropped the segment's page table entries (see kvs__seg_seal);
     * map them back in, read-only, here rather than one fault at a time in
     * the threads that read the segment next. */
    kvs__io_prefault_read(s->base, s->tail);
    if (!atomic_load(&s->synced)) {
        kvs__stat_add(db, KVS_STAT_SYNCS, 1);
        if (kvs__seg_datasync(s) < 0) {
            /* as in group commit: the kernel may have dropped the pages,
             * and a later fdatasync of the file would succeed without them */
            kvs__log(db, KVS_LOG_ERROR, "fdatasync of segment %u failed: %s", s->id,
                     strerror(errno));
            kvs__fail(db, errno);
            s->hint_failed = true;
            return;
        }
        atomic_store(&s->synced, true);
    }
    kvs__seg_close_fd(s); /* synced: nothing writes or syncs it any more */
    int rc = kvs__hint_write(db->dirfd, s, db->seed);
    if (rc == KVS_OK) {
        atomic_store(&s->hinted, true);
    } else {
        s->hint_failed = true;
        kvs__log(db, KVS_LOG_WARN, "cannot write the hint of segment %u: %s", s->id,
                 kvs_strerror(rc));
    }
}

bool kvs__write_pending_hints(struct kvs *db, size_t max)
{
    struct kvs_segment *s;
    for (size_t n = 0; (s = next_unhinted(db)) != NULL; n++) {
        if (n == max) {
            kvs__seg_unref(s);
            return true;
        }
        write_hint(db, s);
        kvs__seg_unref(s);
    }
    return false;
}

/* ---- choosing what to compact ---- */

/* What happened to one input while its records were copied. */
struct input_state {
    bool done;              /* every record was looked at */
    bool dropped_tombstone; /* a tombstone was left out because older inputs go too */
};

struct compaction {
    struct kvs_segment **in; /* referenced, in epoch order */
    struct input_state *state;
    size_t n;
    uint64_t base_epoch;      /* outputs get base_epoch + 1, + 2, ... */
    uint64_t min_other_epoch; /* oldest segment that is not an input */
    struct kvs_segment *out;  /* current output, or NULL */
    struct move *moves;       /* records copied into out */
    size_t nmoves, moves_cap;
    unsigned outputs;
    uint64_t now_ms; /* values expired by then are dropped */
};

/* A record copied into the current output: where it was and where its
 * copy is. Twelve bytes, since an output can take half a million of them:
 * the hash comes back from the copy's key and the sizes from the headers
 * when the move is applied. A DEL copy stands for an expired value. */
struct move {
    uint32_t from_slot, from_off, to_off;
};

/* An output is finished after this many moves even if it has room: its
 * moves and its hint are held in memory until then, and a full 64 MiB
 * output of small records held 12 bytes per record of moves (the array
 * doubling past half a million) plus its hint, about 10 bytes per key of a
 * million-key store at the moment compaction ran. 128 Ki moves are 1.5 MiB
 * (a 16 MiB output of 127-byte records). */
#define OUTPUT_MOVES_MAX 131072u

/* Garbage per byte; a damaged segment (2) or one holding expired values
 * (1.5) comes before any other: rewriting it reclaims what the counts do
 * not show. */
#define RATIO_EXPIRED 1.5
static double dead_ratio(struct kvs_segment *s)
{
    uint64_t size = s->tail > KVS_SEG_HEADER_SIZE ? s->tail : 1;
    if (s->damaged)
        return 2.0;
    if (kvs__seg_expiry_due(s, kvs__now_ms()))
        return RATIO_EXPIRED;
    return (double)atomic_load(&s->dead_bytes) / (double)size;
}

static int cmp_dead_ratio_desc(const void *a, const void *b)
{
    double x = dead_ratio(*(struct kvs_segment **)a);
    double y = dead_ratio(*(struct kvs_segment **)b);
    return x < y ? 1 : x > y ? -1 : 0;
}

static int cmp_epoch(const void *a, const void *b)
{
    const struct kvs_segment *x = *(struct kvs_segment *const *)a;
    const struct kvs_segment *y = *(struct kvs_segment *const *)b;
    return x->epoch < y->epoch ? -1 : x->epoch > y->epoch;
}

/* How hard compaction tries (see pick_inputs). */
enum compact_mode {
    COMPACT_BUSY, /* writes are going on: bound the garbage, not the work */
    COMPACT_IDLE, /* no write (nor many reads) for a second: a tenth of the trigger */
    COMPACT_ALL,  /* kvs_compact(): every segment holding garbage */
    COMPACT_CLOSE /* kvs_close(): as idle, in rounds of bounded copying */
};

/* kvs_close() compacts in rounds of at most this many live bytes copied,
 * until the garbage is under the idle trigger or this much time has passed:
 * what the background thread would do once the store is idle, done before
 * the store goes (so that a write burst's garbage is not what is left on
 * disk, until the next open, whatever that is). */
#define CLOSE_ROUND_COPY_BYTES ((uint64_t)32 << 20)
#define CLOSE_MAX_US 1000000u

/*
 * The background policy: act once dead bytes reach the trigger fraction of
 * the sealed bytes (a tenth of it when the store is idle), then take the
 * segments with the most garbage until what remains is under half that.
 * Caller holds seg_mutex; candidates are sealed.
 */
static size_t pick_inputs(struct kvs *db, struct kvs_segment **cand, size_t n,
                          enum compact_mode mode)
{
    uint64_t total = 0, dead = 0;
    for (size_t i = 0; i < n; i++) {
        total += cand[i]->tail;
        dead += atomic_load(&cand[i]->dead_bytes);
    }
    if (n > 1)
        qsort(cand, n, sizeof(*cand), cmp_dead_ratio_desc);
    size_t picked = 0;
    if (mode == COMPACT_ALL) {
        while (picked < n && dead_ratio(cand[picked]) > 0)
            picked++;
        return picked;
    }
    unsigned trigger = db->opts.compaction_trigger_percent;
    if (trigger >= 100)
        return 0;
    if (mode == COMPACT_IDLE || mode == COMPACT_CLOSE)
        trigger = KVS_MAX(trigger / 10, 1u);
    uint64_t floor_bytes = KVS_MIN(db->opts.segment_bytes, (uint64_t)1 << 20);
    if (dead < floor_bytes || dead * 100 < total * trigger) {
        /* Below the trigger, an idle store still rewrites the segments
         * holding expired values or damage (sorted first). */
        while (mode == COMPACT_IDLE && picked < n && dead_ratio(cand[picked]) >= RATIO_EXPIRED)
            picked++;
        return picked;
    }
    uint64_t copy = 0;
    while (picked < n && dead * 200 > total * trigger) {
        /* After the rewrite s shrinks to its live bytes. */
        struct kvs_segment *s = cand[picked];
        uint64_t live = KVS_MIN(atomic_load(&s->live_bytes), s->tail);
        if (mode == COMPACT_CLOSE && picked > 0 && copy + live > CLOSE_ROUND_COPY_BYTES)
            break; /* the next round's */
        copy += live;
        picked++;
        total = total - s->tail + live;
        dead -= KVS_MIN(dead, atomic_load(&s->dead_bytes));
    }
    return picked;
}

/*
 * Outputs are written before any input is deleted, so a compaction needs
 * free space for the copies of its inputs' live records. Keep, of the picked
 * inputs (the most garbage first), those whose copies fit in avail bytes,
 * with room for the outputs' last growth step; an input holding nothing live
 * always fits. Their deletion frees space for the next round (kvs_compact
 * runs rounds until every input was taken). Returns how many are kept, at
 * the front of cand; *left receives how many did not fit.
 */
static size_t fit_free_space(struct kvs *db, struct kvs_segment **cand, size_t picked,
                             uint64_t avail, size_t *left)
{
    uint64_t reserve = KVS_MIN((uint64_t)KVS_SEG_GROW_BYTES, db->opts.segment_bytes) +
                       KVS_SEG_HEADER_SIZE + KVS_REC_HEADER_SIZE;
    uint64_t need = 0;
    size_t kept = 0;
    for (size_t i = 0; i < picked; i++) {
        uint64_t live = KVS_MIN(atomic_load(&cand[i]->live_bytes), cand[i]->tail);
        if (live > 0 && need + live + reserve > avail) {
            (*left)++;
            continue;
        }
        need += live;
        cand[kept++] = cand[i];
    }
    return kept;
}

/* Fill c with the inputs (referenced) and the epoch bounds; 0 if nothing to
 * do. *left receives how many inputs were left for lack of free space. */
static size_t select_inputs(struct kvs *db, struct compaction *c, enum compact_mode mode,
                            size_t *left)
{
    uint64_t avail;
    bool space_known = kvs__io_fs_avail(db->dirfd, &avail) == 0;
    *left = 0;
    pthread_mutex_lock(&db->seg_mutex);
    struct kvs_segment **cand = malloc((db->nsegs ? db->nsegs : 1) * sizeof(*cand));
    size_t n = 0;
    c->base_epoch = 0;
    for (size_t i = 0; cand && i < db->nsegs; i++) {
        struct kvs_segment *s = db->segs[i];
        if (atomic_load(&s->sealed)) {
            cand[n++] = s;
            c->base_epoch = KVS_MAX(c->base_epoch, s->epoch);
        }
    }
    size_t picked = cand ? pick_inputs(db, cand, n, mode) : 0;
    if (space_known)
        picked = fit_free_space(db, cand, picked, avail, left);
    if (picked > 1)
        qsort(cand, picked, sizeof(*cand), cmp_epoch);
    c->min_other_epoch = UINT64_MAX;
    for (size_t i = 0; i < db->nsegs; i++) {
        bool input = false;
        for (size_t j = 0; j < picked && !input; j++)
            input = cand[j] == db->segs[i];
        if (!input)
            c->min_other_epoch = KVS_MIN(c->min_other_epoch, db->segs[i]->epoch);
    }
    for (size_t i = 0; i < picked; i++)
        kvs__seg_ref(cand[i]);
    pthread_mutex_unlock(&db->seg_mutex);
    c->in = cand;
    c->n = picked;
    return picked;
}

/* ---- copying ---- */

/*
 * How many records ahead of the one being checked the index slots are
 * fetched. The liveness check then finds its slot in the cache and holds
 * the shard's lock for a few instructions rather than a cache miss: the
 * writer waits on that lock whenever this thread is preempted holding it
 * (with two CPUs, a writer, a compaction and the grow-ahead thread, that
 * was most of the writer's waiting in an overwrite run, perf sched). The
 * misses of several records also overlap, so compaction runs faster.
 */
#define SLOTS_AHEAD 8

static void output_discard(struct kvs *db, struct kvs_segment *out)
{
    char name[KVS_SEG_NAME_MAX];
    kvs__db_remove_segment(db, out);
    kvs__seg_name(name, out->id, "log");
    kvs__io_unlinkat(db->dirfd, name);
    pthread_mutex_lock(&db->seg_mutex);
    db->dir_dirty = true;
    pthread_mutex_unlock(&db->seg_mutex);
    kvs__seg_unref(out);
}

/* Start loading the index slot that a move will update (see SLOTS_AHEAD). */
static void prefetch_move_slot(struct kvs *db, const struct kvs_segment *out,
                               const struct move *m)
{
    const uint8_t *copy = out->base + m->to_off;
    uint64_t hash = kvs__hash(db->seed, kvs__rec_key_at(copy), kvs__rec_klen_at(copy));
    kvs__index_prefetch(kvs__index_shard(&db->index, hash), hash);
}

/* Point the index at the copies whose originals are still the current
 * records; a copy whose original was overwritten meanwhile is dead. A move
 * to slot 0 is an expired value, replaced in the output by a tombstone:
 * its key leaves the index. */
static void apply_moves(struct kvs *db, struct compaction *c)
{
    struct kvs_segment *out = c->out;
    for (size_t i = 0; i < c->nmoves; i++) {
        if (i + SLOTS_AHEAD < c->nmoves)
            prefetch_move_slot(db, out, &c->moves[i + SLOTS_AHEAD]);
        const struct move *m = &c->moves[i];
        const uint8_t *copy = out->base + m->to_off;
        const uint8_t *orig = kvs__slot_get(db, m->from_slot)->base + m->from_off;
        uint32_t klen = kvs__rec_klen_at(copy);
        uint64_t hash = kvs__hash(db->seed, kvs__rec_key_at(copy), klen);
        struct kvs_loc from = {m->from_slot, m->from_off,
                               (uint32_t)kvs__rec_size_of(kvs__rec_type_at(orig), klen,
                                                          kvs__rec_vlen_at(orig))};
        struct kvs_loc to = {out->slot, m->to_off,
                             (uint32_t)kvs__rec_size_of(kvs__rec_type_at(copy), klen,
                                                        kvs__rec_vlen_at(copy))};
        bool expired = kvs__rec_type_at(copy) == KVS_REC_DEL;
        struct kvs_index_shard *sh = kvs__index_shard(&db->index, hash);
        kvs__shard_change_lock(sh);
        struct kvs_index_entry *e = kvs__index_find_loc(sh, hash, &from);
        if (e && expired) {
            kvs__index_erase(sh, e);
            kvs__db_retire_loc(db, &from);
        } else if (e) {
            kvs__entry_set_loc(e, &to);
            kvs__db_retire_loc(db, &from);
            atomic_fetch_add_explicit(&out->live_bytes, to.size, memory_order_relaxed);
        } else if (!expired) { /* the tombstone of an expired value counts as dead already */
            atomic_fetch_add_explicit(&out->dead_bytes, to.size, memory_order_relaxed);
        }
        kvs__shard_change_unlock(sh);
    }
    c->nmoves = 0;
}

/* Make the current output durable, then switch the index over to it. */
static int output_finish(struct kvs *db, struct compaction *c)
{
    struct kvs_segment *out = c->out;
    if (!out)
        return KVS_OK;
    int rc = kvs__seg_seal(out);
    kvs__stat_add(db, KVS_STAT_SYNCS, 1);
    if (rc == KVS_OK && kvs__seg_datasync(out) < 0)
        rc = KVS_EIO;
    if (rc == KVS_OK)
        rc = kvs__sync_dir_if_dirty(db);
    if (rc != KVS_OK) {
        kvs__log(db, KVS_LOG_ERROR, "compaction: cannot sync segment %u: %s", out->id,
                 strerror(errno));
        c->out = NULL;
        c->nmoves = 0;
        output_discard(db, out);
        return rc;
    }
    atomic_store(&out->synced, true);
    write_hint(db, out);
    apply_moves(db, c);
    c->out = NULL;
    return KVS_OK;
}

static int output_room(struct kvs *db, struct compaction *c, uint64_t size)
{
    if (c->out && (!kvs__seg_has_room(c->out, size) || c->nmoves >= OUTPUT_MOVES_MAX)) {
        int rc = output_finish(db, c);
        if (rc != KVS_OK)
            return rc;
    }
    if (!c->out) {
        uint64_t cap = KVS_MAX(db->opts.segment_bytes,
                               KVS_SEG_HEADER_SIZE + size + KVS_REC_HEADER_SIZE);
        int rc = kvs__db_new_segment(db, c->base_epoch + ++c->outputs, KVS_SEG_FLAG_COMPACTED,
                                     cap, &c->out);
        if (rc != KVS_OK)
            return rc;
    }
    return kvs__seg_reserve(c->out, size);
}

static int remember_move(struct compaction *c, const struct kvs_loc *from, uint64_t to_off)
{
    if (c->nmoves == c->moves_cap) {
        size_t cap = c->moves_cap ? c->moves_cap * 2 : 1024;
        struct move *m = realloc(c->moves, cap * sizeof(*m));
        if (!m)
            return KVS_ENOMEM;
        c->moves = m;
        c->moves_cap = cap;
    }
    c->moves[c->nmoves++] =
        (struct move){.from_slot = from->slot, .from_off = from->off, .to_off = (uint32_t)to_off};
    return KVS_OK;
}

/* Is this record the one the index points at? */
static bool record_is_live(struct kvs *db, uint64_t hash, const struct kvs_loc *loc)
{
    struct kvs_index_shard *sh = kvs__index_shard(&db->index, hash);
    kvs__shard_rdlock(sh);
    bool live = kvs__index_find_loc(sh, hash, loc) != NULL;
    pthread_rwlock_unlock(&sh->lock);
    return live;
}

/*
 * A tombstone can go once no older record of its key can be replayed: the
 * key was written again since (that record wins on replay), or every other
 * segment is newer and every older input is deleted with this one (which
 * delete_inputs() enforces through dropped_tombstone).
 */
static bool tombstone_needed(struct kvs *db, struct compaction *c, size_t input,
                             uint64_t hash, const struct kvs_rec *r)
{
    struct kvs_index_shard *sh = kvs__index_shard(&db->index, hash);
    kvs__shard_rdlock(sh);
    bool rewritten = kvs__index_find(sh, hash, r->key, r->klen, kvs__key_eq, db) != NULL;
    pthread_rwlock_unlock(&sh->lock);
    if (rewritten)
        return false;
    if (c->in[input]->epoch > c->min_other_epoch)
        return true;
    c->state[input].dropped_tombstone = true;
    return false;
}

/* An expired value is not copied: a tombstone takes its place (an older
 * record of the key, in a segment that stays, must not come back at the
 * next open), and the key leaves the index once the output is durable. */
static int expire_record(struct kvs *db, struct compaction *c, const struct kvs_rec *r,
                         const struct kvs_loc *from)
{
    uint64_t size = kvs__rec_size_of(KVS_REC_DEL, r->klen, 0);
    int rc = output_room(db, c, size);
    uint64_t to_off;
    if (rc == KVS_OK)
        rc = kvs__seg_append(c->out, KVS_REC_DEL, r->key, r->klen, NULL, 0, &to_off);
    if (rc != KVS_OK)
        return rc;
    atomic_fetch_add_explicit(&c->out->dead_bytes, size, memory_order_relaxed);
    return remember_move(c, from, to_off);
}

static int copy_record(struct kvs *db, struct compaction *c, size_t input,
                       const struct kvs_rec *r, uint64_t off)
{
    struct kvs_segment *s = c->in[input];
    uint64_t hash = kvs__hash(db->seed, r->key, r->klen);
    struct kvs_loc from = {.slot = s->slot, .off = (uint32_t)off, .size = (uint32_t)r->size};
    bool put = kvs__rec_is_put(r->type);
    if (put ? !record_is_live(db, hash, &from) : !tombstone_needed(db, c, input, hash, r))
        return KVS_OK;
    if (put && kvs__rec_expired(r, c->now_ms))
        return expire_record(db, c, r, &from);
    int rc = output_room(db, c, r->size);
    if (rc != KVS_OK)
        return rc;
    uint64_t to_off;
    rc = kvs__seg_append_x(c->out, r->type, r->expire, r->key, r->klen, r->val, r->vlen, &to_off);
    if (rc != KVS_OK)
        return rc;
    if (r->type == KVS_REC_PUTX)
        kvs__seg_note_expire(c->out, r->expire);
    return put ? remember_move(c, &from, to_off) : KVS_OK;
}

/* A batch's records are copied one by one: all of them are applied, so
 * they need not stay together. */
static int copy_batch(struct kvs *db, struct compaction *c, size_t input,
                      const struct kvs_rec *batch)
{
    const uint8_t *base = c->in[input]->base;
    uint64_t pos = 0;
    struct kvs_rec in;
    while (kvs__rec_batch_next(batch, &pos, false, &in) == KVS_REC_OK) {
        uint64_t off = (uint64_t)(in.key - base) - kvs__rec_header_size(in.type);
        int rc = copy_record(db, c, input, &in, off);
        if (rc != KVS_OK)
            return rc;
    }
    return KVS_OK;
}

/* Start loading the index slot of the record at *pf and step past it; on a
 * record that cannot be read, go to the end (the copy loop deals with it). */
static void prefetch_slot(struct kvs *db, const struct kvs_segment *s, uint64_t *pf)
{
    struct kvs_rec r;
    if (*pf >= s->tail || kvs__rec_peek(s->base + *pf, s->tail - *pf, &r) != KVS_REC_OK ||
        r.type == KVS_REC_SEAL) {
        *pf = s->tail;
        return;
    }
    if (r.type != KVS_REC_BATCH) {
        uint64_t hash = kvs__hash(db->seed, r.key, r.klen);
        kvs__index_prefetch(kvs__index_shard(&db->index, hash), hash);
    }
    *pf += r.size;
}

/* Copy the live records of one input. Damaged bytes (kept by a repair-mode
 * open) are skipped; a live record inside them keeps the input alive. */
static int copy_segment(struct kvs *db, struct compaction *c, size_t input)
{
    struct kvs_segment *s = c->in[input];
    uint64_t off = KVS_SEG_HEADER_SIZE;
    uint64_t pf = off;
    for (int i = 0; i < SLOTS_AHEAD; i++)
        prefetch_slot(db, s, &pf);
    while (off < s->tail) {
        if (atomic_load(&db->compact_abort))
            return KVS_OK;
        pf = KVS_MAX(pf, off);
        prefetch_slot(db, s, &pf);
        struct kvs_rec r;
        if (kvs__rec_decode(s->base + off, s->tail - off, &r) != KVS_REC_OK) {
            off = kvs__seg_skip_bad(s, off, s->tail);
            continue;
        }
        if (r.type == KVS_REC_SEAL)
            break;
        int rc = r.type == KVS_REC_BATCH ? copy_batch(db, c, input, &r)
                                         : copy_record(db, c, input, &r, off);
        if (rc != KVS_OK)
            return rc;
        off += r.size;
    }
    c->state[input].done = true;
    return KVS_OK;
}

/* ---- deleting the inputs ---- */

/* Wait until no thread can still be reading through an old location: point
 * reads run in read sections (readers.h), other readers hold a shard lock,
 * the writer holds write_mutex while it accounts for the record it replaced. */
static void quiesce_readers(struct kvs *db)
{
    pthread_mutex_lock(&db->write_mutex);
    pthread_mutex_unlock(&db->write_mutex);
    for (unsigned i = 0; i < KVS_INDEX_SHARDS; i++) {
        pthread_rwlock_wrlock(&db->index.shards[i].lock);
        pthread_rwlock_unlock(&db->index.shards[i].lock);
    }
    kvs__readers_wait();
}

/*
 * Which inputs can go: those fully copied that hold no live record any more.
 * An input that stays keeps its records on disk, so a tombstone dropped from
 * a newer input could let one of them reappear: such inputs stay too.
 */
static void decide_deletions(struct compaction *c, bool *gone)
{
    uint64_t oldest_kept = UINT64_MAX;
    for (size_t i = 0; i < c->n; i++) {
        gone[i] = c->state[i].done && atomic_load(&c->in[i]->live_bytes) == 0;
        if (!gone[i])
            oldest_kept = KVS_MIN(oldest_kept, c->in[i]->epoch);
    }
    for (size_t i = 0; i < c->n; i++)
        if (gone[i] && c->state[i].dropped_tombstone && c->in[i]->epoch > oldest_kept)
            gone[i] = false;
}

/*
 * Before the inputs go, make every record written so far durable. Each
 * record an input loses was superseded, by a newer value or a removal (or, for
 * a tombstone left out, by the key's newer record); that newer record may
 * still be only in the page cache, and a power cut after the inputs are gone
 * would lose both: the key would vanish, or an older value come back. Records
 * written from here on can only supersede the copies, which stay.
 */
static int sync_superseding(struct kvs *db)
{
    pthread_mutex_lock(&db->write_mutex);
    uint64_t seq = db->write_seq;
    pthread_mutex_unlock(&db->write_mutex);
    return kvs__sync_upto(db, seq);
}

/* Delete a dead segment's files, the hint first (a hint must not outlive its
 * segment). False if a file that exists could not be deleted. */
static bool unlink_dead(struct kvs *db, uint32_t id)
{
    char name[KVS_SEG_NAME_MAX];
    bool gone = true;
    kvs__seg_name(name, id, "hint");
    if (kvs__io_unlinkat(db->dirfd, name) < 0 && errno != ENOENT)
        gone = false;
    kvs__seg_name(name, id, "log");
    if (kvs__io_unlinkat(db->dirfd, name) < 0 && errno != ENOENT)
        gone = false;
    return gone;
}

/* Delete the inputs that can go. The decision is taken once, so that the
 * OBSOLETE list and the files removed always agree. */
static int delete_inputs(struct kvs *db, struct compaction *c, size_t *deleted)
{
    uint32_t *ids = malloc((c->n ? c->n : 1) * sizeof(*ids));
    bool *gone = calloc(c->n ? c->n : 1, sizeof(*gone));
    if (!ids || !gone) {
        free(ids);
        free(gone);
        return KVS_ENOMEM;
    }
    decide_deletions(c, gone);
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++)
        if (gone[i])
            ids[n++] = c->in[i]->id;
    *deleted = n;
    uint32_t *listed = NULL;
    size_t nlisted = 0;
    int rc = n ? sync_superseding(db) : KVS_OK;
    if (rc == KVS_OK && n)
        rc = kvs__obsolete_write_listed(db->dirfd, ids, n, &listed, &nlisted);
    free(ids);
    if (rc != KVS_OK) {
        kvs__log(db, KVS_LOG_ERROR, "compaction: cannot commit: %s", strerror(errno));
        free(gone);
        return rc;
    }
    for (size_t i = 0; i < c->n; i++)
        if (gone[i])
            kvs__db_remove_segment(db, c->in[i]);
    quiesce_readers(db);
    /* every segment OBSOLETE lists: these inputs, and any an earlier
     * compaction could not delete */
    bool all_gone = true;
    for (size_t i = 0; i < nlisted; i++)
        all_gone &= unlink_dead(db, listed[i]);
    free(listed);
    for (size_t i = 0; i < c->n; i++) {
        if (!gone[i])
            continue;
        kvs__stat_add(db, KVS_STAT_COMPACTED_BYTES, c->in[i]->tail);
        kvs__seg_unref(c->in[i]); /* the list's reference; ours goes in compaction_end */
    }
    free(gone);
    /* OBSOLETE goes once every file it lists is gone; else the next open
     * deletes the rest (and later compactions keep them listed) */
    if (!all_gone)
        kvs__log(db, KVS_LOG_WARN, "compaction: cannot delete a replaced segment (%s); the "
                 "next open will", strerror(errno));
    else if (n && kvs__io_sync_dir(db->dirfd) == 0)
        kvs__obsolete_remove(db->dirfd);
    return KVS_OK;
}

static void compaction_end(struct compaction *c)
{
    for (size_t i = 0; i < c->n; i++)
        kvs__seg_unref(c->in[i]);
    free(c->in);
    free(c->state);
    free(c->moves);
}

/* Run one compaction; caller holds compact_mutex. *left receives how many
 * inputs it left for lack of free space, *deleted how many it deleted. */
static int compact(struct kvs *db, enum compact_mode mode, size_t *left, size_t *deleted)
{
    struct compaction c = {0};
    *deleted = 0;
    if (select_inputs(db, &c, mode, left) == 0) {
        compaction_end(&c);
        return KVS_OK;
    }
    c.state = calloc(c.n, sizeof(*c.state));
    if (!c.state) {
        compaction_end(&c);
        return KVS_ENOMEM;
    }
    uint64_t t0 = kvs__now_us();
    c.now_ms = kvs__now_ms();
    int rc = KVS_OK;
    for (size_t i = 0; i < c.n && rc == KVS_OK; i++)
        rc = copy_segment(db, &c, i);
    if (rc == KVS_OK)
        rc = output_finish(db, &c);
    else if (c.out)
        output_discard(db, c.out); /* no index entry points into it yet */
    /* The key order must let go of the inputs first (order.h); if it
     * cannot, they stay, empty, for the next compaction to delete. */
    if (rc == KVS_OK) {
        for (size_t i = 0; i < c.n; i++)
            atomic_store_explicit(&c.in[i]->moved, true, memory_order_release);
        rc = kvs__order_refresh(db);
    }
    if (rc == KVS_OK)
        rc = delete_inputs(db, &c, deleted);
    if (rc == KVS_OK) {
        kvs__stat_add(db, KVS_STAT_COMPACTIONS, 1);
        kvs__log(db, KVS_LOG_INFO, "compaction of %zu segments into %u took %llu ms", c.n,
                 c.outputs, (unsigned long long)((kvs__now_us() - t0) / 1000));
    }
    compaction_end(&c);
    return rc;
}

void kvs__compact_lock(struct kvs *db)
{
    atomic_fetch_add(&db->compact_waiters, 1);
    pthread_mutex_lock(&db->compact_mutex);
    atomic_fetch_sub(&db->compact_waiters, 1);
}

int kvs__compact_now(struct kvs *db)
{
    kvs__compact_lock(db);
    pthread_mutex_lock(&db->write_mutex);
    int rc = KVS_OK;
    if (atomic_load(&db->write_failed))
        rc = kvs__refused(db);
    else if (db->active->tail > KVS_SEG_HEADER_SIZE)
        rc = kvs__db_roll(db, 0);
    pthread_mutex_unlock(&db->write_mutex);
    if (rc == KVS_OK) {
        /* Rounds, when the free space cannot hold every copy at once: each
         * deletes inputs and so frees space for the next. Bounded: every
         * round deletes at least one segment or is the last. The hints
         * first, bounded too, or a writer sealing segments faster than they
         * are synced would keep this call from ever returning. */
        pthread_mutex_lock(&db->seg_mutex);
        size_t nsegs = db->nsegs;
        size_t rounds = 2 * nsegs + 1, left = 0, deleted = 1;
        pthread_mutex_unlock(&db->seg_mutex);
        kvs__write_pending_hints(db, nsegs);
        for (size_t r = 0; r < rounds && rc == KVS_OK && deleted > 0; r++) {
            rc = compact(db, COMPACT_ALL, &left, &deleted);
            if (left == 0)
                break;
        }
        if (rc == KVS_OK && left > 0) {
            kvs__log(db, KVS_LOG_WARN, "compaction: not enough free space to rewrite %zu segments",
                     left);
            errno = ENOSPC;
            rc = KVS_EIO;
        }
    }
    pthread_mutex_unlock(&db->compact_mutex);
    return rc;
}

int kvs__compact_at_close(struct kvs *db)
{
    kvs__compact_lock(db);
    uint64_t deadline = kvs__now_us() + CLOSE_MAX_US;
    size_t left, deleted = 1;
    int rc = KVS_OK;
    while (rc == KVS_OK && deleted > 0 && kvs__now_us() < deadline &&
           !atomic_load(&db->write_failed))
        rc = compact(db, COMPACT_CLOSE, &left, &deleted);
    pthread_mutex_unlock(&db->compact_mutex);
    return rc;
}

/* ---- the background thread ---- */

void kvs__bg_kick(struct kvs *db)
{
    pthread_mutex_lock(&db->bg_mutex);
    db->bg_kicked = true;
    pthread_cond_signal(&db->bg_cond);
    pthread_mutex_unlock(&db->bg_mutex);
}

/* Wait for a kick, a stop, or wait_us (to re-check the compaction trigger
 * when writes stopped). Returns false on stop. */
static bool bg_wait(struct kvs *db, uint64_t wait_us)
{
    struct timespec deadline = kvs__deadline_in_us(wait_us);
    pthread_mutex_lock(&db->bg_mutex);
    int rc = 0;
    while (!db->bg_stop && !db->bg_kicked && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&db->bg_cond, &db->bg_mutex, &deadline);
    db->bg_kicked = false;
    bool go = !db->bg_stop;
    pthread_mutex_unlock(&db->bg_mutex);
    return go;
}

/* The i-th segment (referenced), or NULL past the end. */
static struct kvs_segment *segment_at(struct kvs *db, size_t i)
{
    struct kvs_segment *s = NULL;
    pthread_mutex_lock(&db->seg_mutex);
    if (i < db->nsegs) {
        s = db->segs[i];
        kvs__seg_ref(s);
    }
    pthread_mutex_unlock(&db->seg_mutex);
    return s;
}

/* Reading every sealed segment in pays only for a store that fits in half
 * of the machine's memory; a larger one would evict itself while loading. */
static bool worth_prefaulting(struct kvs *db)
{
    long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page_size <= 0)
        return false;
    uint64_t total = 0;
    struct kvs_segment *s;
    for (size_t i = 0; (s = segment_at(db, i)) != NULL; i++) {
        if (atomic_load(&s->sealed)) /* the active one's tail is the writer's */
            total += s->tail;
        kvs__seg_unref(s);
    }
    return total <= (uint64_t)pages * (uint64_t)page_size / 2;
}

/*
 * A freshly opened store's mappings have no page table entries yet, so the
 * first read of every page faults, which is costly (above all in a virtual
 * machine) and shows as a long tail of slow gets. Map them in once, in bulk,
 * as huge pages: read sequentially, 2 MiB folios cost no extra I/O, and then
 * each maps with one page-table entry (see kvs__io_map).
 */
static void prefault_segments(struct kvs *db)
{
    if (!worth_prefaulting(db))
        return;
    struct kvs_segment *s;
    for (size_t i = 0; !atomic_load(&db->compact_abort) && (s = segment_at(db, i)) != NULL; i++) {
        if (atomic_load(&s->sealed)) {
            kvs__io_want_huge_pages(s->base, s->tail);
            kvs__io_prefault_read(s->base, s->tail);
        }
        kvs__seg_unref(s);
    }
}

/* A store is idle once nothing was written, and next to nothing read, for
 * IDLE_US. */
#define IDLE_US 1000000u

/* Gets a second at which a store without writes is still busy: compacting
 * to the idle level only saves space, and would take CPU time and cache from
 * those reads (on two CPUs, a third of a server's pipelined GETs). A trickle
 * of reads (monitoring, a few clients) does not hold it off. */
#define BUSY_GETS_PER_S 10000u

/* Reads put the idle compaction off for this long after the last write at
 * most: a store read without pause still settles, a burst of reads (a
 * batch job, a benchmark) is left alone. */
#define READS_DEFER_US 10000000u

/* What the background thread saw at its last look. */
struct activity {
    uint64_t write_seq; /* db->write_seq */
    uint64_t gets;      /* KVS_STAT_GETS */
    uint64_t look_us;   /* when */
    uint64_t busy_us;   /* the last look that saw a write or many reads */
    uint64_t write_us;  /* the last look that saw a write */
};

/* Idle: no write, and gets at under BUSY_GETS_PER_S, since a look IDLE_US
 * or more ago; or no write since a look READS_DEFER_US ago, whatever the
 * reads. */
static bool store_idle(struct kvs *db, struct activity *a)
{
    pthread_mutex_lock(&db->write_mutex);
    uint64_t seq = db->write_seq;
    pthread_mutex_unlock(&db->write_mutex);
    uint64_t gets = kvs__index_gets(&db->index), now = kvs__now_us();
    bool writing = seq != a->write_seq;
    bool reading = (gets - a->gets) * 1000000u > (uint64_t)BUSY_GETS_PER_S * (now - a->look_us);
    *a = (struct activity){.write_seq = seq, .gets = gets, .look_us = now,
                           .busy_us = writing || reading ? now : a->busy_us,
                           .write_us = writing ? now : a->write_us};
    if (writing)
        return false;
    return now - a->busy_us >= IDLE_US || now - a->write_us >= READS_DEFER_US;
}

/*
 * How long to sleep before the next look: a second, and a quarter of one
 * while the store may be about to turn idle, so that its idle compaction
 * starts 1 to 1.25 s after the last write rather than anywhere up to 3 s
 * (with looks a second apart, "a second since the look that saw the last
 * write" is often found just short on the next look).
 */
static uint64_t next_look_us(uint64_t last_us)
{
    return kvs__now_us() - last_us < 2 * IDLE_US ? IDLE_US / 4 : IDLE_US;
}

/*
 * Hint files written per round. Each costs an fdatasync of its segment: a
 * writer that seals segments faster than that kept the thread writing hints
 * for as long as the writes went on, and compaction never got its turn
 * (garbage without bound; test compaction_runs_while_hints_lag_behind).
 */
#define HINTS_PER_ROUND 8

static void *bg_main(void *arg)
{
    struct kvs *db = arg;
    uint64_t start = kvs__now_us();
    struct activity seen = {
        .gets = kvs__index_gets(&db->index), .look_us = start, .busy_us = start, .write_us = start};
    while (bg_wait(db, next_look_us(seen.busy_us))) {
        pthread_mutex_lock(&db->compact_mutex);
        if (db->index_file_stale && kvs__index_file_remove(db) == KVS_OK)
            db->index_file_stale = false;
        if (db->prefault_pending) {
            prefault_segments(db);
            db->prefault_pending = false;
        }
        bool more_hints = kvs__write_pending_hints(db, HINTS_PER_ROUND);
        size_t left, deleted;
        if (!atomic_load(&db->write_failed))
            compact(db, store_idle(db, &seen) ? COMPACT_IDLE : COMPACT_BUSY, &left, &deleted);
        pthread_mutex_unlock(&db->compact_mutex);
        if (more_hints && atomic_load(&db->compact_waiters) == 0)
            kvs__bg_kick(db); /* the next round at once, unless someone waits */
    }
    return NULL;
}

int kvs__bg_start(struct kvs *db)
{
    if (pthread_create(&db->bg_thread, NULL, bg_main, db) != 0)
        return KVS_ENOMEM;
    db->bg_running = true;
    kvs__bg_kick(db); /* segments recovered without hints get them now */
    return KVS_OK;
}

void kvs__bg_stop(struct kvs *db)
{
    if (!db->bg_running)
        return;
    pthread_mutex_lock(&db->bg_mutex);
    db->bg_stop = true;
    pthread_cond_signal(&db->bg_cond);
    pthread_mutex_unlock(&db->bg_mutex);
    pthread_join(db->bg_thread, NULL);
    db->bg_running = false;
}
