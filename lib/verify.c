/*
 * kvs_verify: read every record of every segment, check every checksum,
 * and check the index against the segments, reporting each problem with
 * the file and offset where it is.
 */
#include <stdio.h>
#include <stdlib.h>

#include "compact.h"
#include "hash.h"
#include "store.h"

struct verify {
    struct kvs *db;
    kvs_verify_fn fn;
    void *ctx;
    uint64_t problems;
};

static void report(struct verify *v, uint32_t seg_id, uint64_t off, const char *what)
{
    v->problems++;
    if (!v->fn)
        return;
    char name[KVS_SEG_NAME_MAX];
    kvs__seg_name(name, seg_id, "log");
    v->fn(v->ctx, name, off, what);
}

/* A batch verified as a whole; its records are checked one by one too. */
static void check_batch(struct verify *v, const struct kvs_segment *s, const struct kvs_rec *b,
                        uint64_t off)
{
    uint64_t pos = 0;
    struct kvs_rec in;
    enum kvs_rec_status st;
    while ((st = kvs__rec_batch_next(b, &pos, true, &in)) == KVS_REC_OK)
        ;
    if (st != KVS_REC_AT_END)
        report(v, s->id, off + KVS_REC_HEADER_SIZE + pos, "damaged record inside a batch");
}

/* Every record of s up to len: each damaged stretch reported once. */
static void check_segment(struct verify *v, const struct kvs_segment *s, uint64_t len,
                          bool sealed)
{
    uint64_t off = KVS_SEG_HEADER_SIZE;
    bool seal_seen = false;
    while (off < len) {
        struct kvs_rec r;
        enum kvs_rec_status st = kvs__rec_decode(s->base + off, len - off, &r);
        if (st == KVS_REC_OK) {
            if (r.type == KVS_REC_SEAL) {
                seal_seen = true;
                break;
            }
            if (r.type == KVS_REC_BATCH)
                check_batch(v, s, &r, off);
            off += r.size;
            continue;
        }
        if (st == KVS_REC_AT_END && !sealed)
            return; /* the end of what the writer wrote so far */
        report(v, s->id, off,
               st == KVS_REC_TRUNCATED ? "record cut short by the end of the data"
               : st == KVS_REC_AT_END  ? "zero bytes before the segment's SEAL"
                                       : "record fails its checksum or format check");
        off = kvs__seg_skip_bad(s, off, len);
    }
    if (sealed && !seal_seen)
        report(v, s->id, len, "sealed segment without its SEAL record");
}

/* The index entry e of shard sh points at an intact value of a key whose
 * hash names that shard and the entry's tag. */
static void check_entry(struct verify *v, const struct kvs_index_shard *sh,
                        const struct kvs_index_entry *e)
{
    struct kvs *db = v->db;
    struct kvs_loc loc = kvs__entry_loc(e);
    struct kvs_segment *s = kvs__slot_get(db, loc.slot);
    if (!s) {
        v->problems++;
        if (v->fn)
            v->fn(v->ctx, "index", loc.off, "index entry names no segment");
        return;
    }
    struct kvs_rec r;
    if (loc.off < s->map_bytes && s->map_bytes - loc.off >= KVS_REC_HEADER_SIZE)
        kvs__loc_exact(db, &loc);
    uint64_t end = (uint64_t)loc.off + loc.size;
    if (end > s->map_bytes || kvs__rec_decode(s->base + loc.off, loc.size, &r) != KVS_REC_OK ||
        r.size != loc.size || !kvs__rec_is_put(r.type)) {
        report(v, s->id, loc.off, "the index points at a damaged or wrong record");
        return;
    }
    uint64_t h = kvs__hash(db->seed, r.key, r.klen);
    if (!kvs__entry_tag_is(e, kvs__index_tag(h)) || kvs__index_shard(&db->index, h) != sh)
        report(v, s->id, loc.off, "the index entry's hash does not match the record's key");
}

/* Every index entry, a shard at a time (readers of that shard wait). */
static void check_index(struct verify *v)
{
    struct kvs_index *ix = &v->db->index;
    for (unsigned i = 0; i < KVS_INDEX_SHARDS; i++) {
        struct kvs_index_shard *sh = &ix->shards[i];
        pthread_rwlock_rdlock(&sh->lock);
        for (uint32_t j = 0; j < sh->capacity; j++)
            if (kvs__entry_used(&sh->table[j]))
                check_entry(v, sh, &sh->table[j]);
        pthread_rwlock_unlock(&sh->lock);
    }
}

int kvs_verify(kvs_t *db, kvs_verify_fn fn, void *ctx)
{
    if (!db)
        return KVS_EINVAL;
    struct verify v = {.db = db, .fn = fn, .ctx = ctx};
    /* Compaction waits, so that the segments and the index agree. */
    kvs__compact_lock(db);
    pthread_mutex_lock(&db->write_mutex);
    pthread_mutex_lock(&db->seg_mutex);
    size_t n = db->nsegs;
    struct kvs_segment **segs = malloc((n ? n : 1) * sizeof(*segs));
    uint64_t *lens = malloc((n ? n : 1) * sizeof(*lens));
    for (size_t i = 0; segs && lens && i < n; i++) {
        segs[i] = db->segs[i];
        kvs__seg_ref(segs[i]);
        lens[i] = segs[i]->tail; /* the writer is stopped */
    }
    pthread_mutex_unlock(&db->seg_mutex);
    pthread_mutex_unlock(&db->write_mutex);
    int rc = segs && lens ? KVS_OK : KVS_ENOMEM;
    for (size_t i = 0; rc == KVS_OK && i < n; i++)
        check_segment(&v, segs[i], lens[i], atomic_load(&segs[i]->sealed));
    if (rc == KVS_OK)
        check_index(&v);
    pthread_mutex_unlock(&db->compact_mutex);
    for (size_t i = 0; segs && lens && i < n; i++)
        kvs__seg_unref(segs[i]);
    free(segs);
    free(lens);
    if (rc == KVS_OK && v.problems)
        rc = KVS_ECORRUPT;
    return rc;
}
