/* The INDEX file (see index_file.h); layout in doc/FORMAT.md. */
#include "index_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>

#include "hash.h"
#include "io.h"
#include "store.h"

#define SNAP_HEADER_SIZE 64u
#define SNAP_SEGMENT_SIZE 48u
#define SNAP_SHARD_SIZE 8u
#define SNAP_TMP_NAME "INDEX.tmp"
/* The INDEX file's own version: 2 added the narrow entries, 3 the home
 * slots scaled to any capacity (tables grow by half). */
#define SNAP_VERSION 3u
/* Saved entries: wide ones are the in-memory entry; narrow ones pack the
 * segment slot (< 256) and the record size (< 16 MiB) into one word, a
 * quarter less on disk for the usual store. */
#define SNAP_WIDE_ENTRY 16u
#define SNAP_NARROW_ENTRY 12u
#define SNAP_NARROW_SLOTS 256u
#define SNAP_NARROW_SIZE (1u << 24)
#define SNAP_FLAG_HINTED 1u
#define SNAP_FLAG_DAMAGED 2u
#define SNAP_FLAG_EXPIRING 4u /* holds values with an expiry (when: unknown) */
/* Tables are saved as a bitmap of used slots, then the used entries only
 * (half the size of the tables at their usual fill), staged through a
 * buffer of this many entries. */
#define SNAP_CHUNK_ENTRIES 65536u

static _Atomic unsigned min_keys = KVS_INDEX_FILE_MIN_KEYS;

void kvs__index_file_set_min_keys(unsigned keys)
{
    atomic_store(&min_keys, keys);
}

static const uint8_t snap_magic[8] = {0x89, 'K', 'V', 'S', 'I', 'D', 'X', '\n'};

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "INDEX files are written from memory: add a byte swap for big-endian hosts"
#endif

/* ---- writing ---- */

/* Append len bytes at *off, extending the running checksum. */
static int put_bytes(int fd, uint64_t *off, struct kvs_digest *sum, const void *buf, size_t len)
{
    if (kvs__io_pwrite_all(fd, buf, len, *off) < 0)
        return KVS_EIO;
    if (sum)
        kvs__digest_update(sum, buf, len);
    *off += len;
    return KVS_OK;
}

static int write_head(struct kvs *db, int fd, uint64_t *off, struct kvs_digest *sum,
                      uint32_t entry_bytes)
{
    uint8_t h[SNAP_HEADER_SIZE] = {0};
    uint64_t keys, bytes;
    kvs__index_usage(&db->index, &keys, &bytes);
    memcpy(h, snap_magic, sizeof(snap_magic));
    kvs__store32(h + 8, SNAP_VERSION);
    kvs__store32(h + 12, KVS_INDEX_SHARDS);
    kvs__store32(h + 16, (uint32_t)db->nsegs);
    kvs__store32(h + 20, entry_bytes);
    kvs__store64(h + 24, db->seed);
    kvs__store64(h + 32, keys);
    int rc = put_bytes(fd, off, sum, h, sizeof(h));
    for (size_t i = 0; i < db->nsegs && rc == KVS_OK; i++) {
        const struct kvs_segment *s = db->segs[i];
        uint8_t e[SNAP_SEGMENT_SIZE] = {0};
        kvs__store32(e, s->id);
        kvs__store32(e + 4, s->slot);
        kvs__store64(e + 8, s->epoch);
        kvs__store64(e + 16, s->tail);
        kvs__store64(e + 24, atomic_load(&s->live_bytes));
        kvs__store64(e + 32, atomic_load(&s->dead_bytes));
        kvs__store32(e + 40, (atomic_load(&s->hinted) ? SNAP_FLAG_HINTED : 0) |
                                 (s->damaged ? SNAP_FLAG_DAMAGED : 0) |
                                 (atomic_load(&s->min_expire) ? SNAP_FLAG_EXPIRING : 0));
        rc = put_bytes(fd, off, sum, e, sizeof(e));
    }
    for (unsigned i = 0; i < KVS_INDEX_SHARDS && rc == KVS_OK; i++) {
        uint8_t e[SNAP_SHARD_SIZE];
        kvs__store32(e, db->index.shards[i].capacity);
        kvs__store32(e + 4, db->index.shards[i].count);
        rc = put_bytes(fd, off, sum, e, sizeof(e));
    }
    return rc;
}

/* The bitmap of used slots over all shards (slot i of shard s is bit
 * s * capacity + i), as little-endian 64-bit words. */
static int write_bitmap(const struct kvs_index *ix, int fd, uint64_t *off, struct kvs_digest *sum,
                        uint8_t *buf)
{
    const struct kvs_index_entry *t = ix->region;
    uint64_t slots = (uint64_t)KVS_INDEX_SHARDS * ix->capacity; /* a multiple of 64 */
    size_t fill = 0;
    for (uint64_t w = 0; w < slots / 64; w++) {
        uint64_t word = 0;
        for (unsigned b = 0; b < 64; b++)
            word |= (uint64_t)kvs__entry_used(&t[w * 64 + b]) << b;
        kvs__store64(buf + fill, word);
        fill += 8;
        if (fill == SNAP_CHUNK_ENTRIES * SNAP_WIDE_ENTRY || w + 1 == slots / 64) {
            if (put_bytes(fd, off, sum, buf, fill) != KVS_OK)
                return KVS_EIO;
            fill = 0;
        }
    }
    return KVS_OK;
}

/* Narrow entries fit every entry of the index? (A long record's entry,
 * KVS_LOC_SIZE_LONG, needs a wide one for its size.) */
static bool narrow_fits(const struct kvs_index *ix)
{
    const struct kvs_index_entry *t = ix->region;
    uint64_t slots = (uint64_t)KVS_INDEX_SHARDS * ix->capacity;
    for (uint64_t i = 0; i < slots; i++) {
        struct kvs_loc loc = kvs__entry_loc(&t[i]);
        if (loc.slot >= SNAP_NARROW_SLOTS || loc.size >= KVS_LOC_SIZE_LONG)
            return false;
    }
    return true;
}

/* The saved tag is the whole 32 bits: the shard's 8 above the entry's 24. */
static void encode_entry(struct kvs *db, uint8_t *out, const struct kvs_index_entry *e,
                         unsigned shard, uint32_t entry_bytes)
{
    struct kvs_loc loc = kvs__entry_loc(e);
    kvs__loc_exact(db, &loc);
    kvs__store32(out, (uint32_t)shard << 24 | kvs__entry_tag(e));
    kvs__store32(out + 4, loc.off);
    if (entry_bytes == SNAP_NARROW_ENTRY) {
        kvs__store32(out + 8, loc.slot << 24 | loc.size);
    } else {
        kvs__store32(out + 8, loc.slot);
        kvs__store32(out + 12, loc.size);
    }
}

/* A saved entry of shard `shard`: its tag's top 8 bits must name it. */
static bool decode_entry(const uint8_t *in, unsigned shard, uint32_t entry_bytes,
                         uint32_t *tag, struct kvs_loc *loc)
{
    *tag = kvs__load32(in);
    loc->off = kvs__load32(in + 4);
    if (entry_bytes == SNAP_NARROW_ENTRY) {
        uint32_t w = kvs__load32(in + 8);
        loc->slot = w >> 24;
        loc->size = w & (SNAP_NARROW_SIZE - 1);
    } else {
        loc->slot = kvs__load32(in + 8);
        loc->size = kvs__load32(in + 12);
    }
    return *tag >> 24 == shard;
}

/* Then the used entries, in slot order. */
static int write_entries(struct kvs *db, int fd, uint64_t *off, struct kvs_digest *sum,
                         uint8_t *buf, uint32_t entry_bytes)
{
    const struct kvs_index *ix = &db->index;
    const struct kvs_index_entry *t = ix->region;
    uint64_t slots = (uint64_t)KVS_INDEX_SHARDS * ix->capacity;
    size_t n = 0;
    for (uint64_t i = 0; i < slots; i++) {
        if (kvs__entry_used(&t[i]))
            encode_entry(db, buf + n++ * entry_bytes, &t[i], (unsigned)(i / ix->capacity),
                         entry_bytes);
        if (n == SNAP_CHUNK_ENTRIES || (i + 1 == slots && n > 0)) {
            if (put_bytes(fd, off, sum, buf, n * entry_bytes) != KVS_OK)
                return KVS_EIO;
            n = 0;
        }
    }
    return KVS_OK;
}

static int write_tables(struct kvs *db, int fd, uint64_t *off, struct kvs_digest *sum,
                        uint32_t entry_bytes)
{
    uint8_t *buf = kvs__big_alloc(SNAP_CHUNK_ENTRIES * SNAP_WIDE_ENTRY);
    if (!buf)
        return KVS_ENOMEM;
    int rc = write_bitmap(&db->index, fd, off, sum, buf);
    if (rc == KVS_OK)
        rc = write_entries(db, fd, off, sum, buf, entry_bytes);
    kvs__big_free(buf, SNAP_CHUNK_ENTRIES * SNAP_WIDE_ENTRY);
    return rc;
}

int kvs__index_file_write(struct kvs *db)
{
    uint64_t keys, bytes;
    kvs__index_usage(&db->index, &keys, &bytes);
    if (keys < atomic_load(&min_keys))
        return KVS_OK;
    for (size_t i = 0; i < db->nsegs; i++)
        if (!atomic_load(&db->segs[i]->sealed))
            return KVS_EINVAL;
    int fd = kvs__io_openat(db->dirfd, SNAP_TMP_NAME, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return KVS_EIO;
    uint64_t off = 0;
    struct kvs_digest *sum = kvs__digest_new();
    uint32_t entry_bytes = narrow_fits(&db->index) ? SNAP_NARROW_ENTRY : SNAP_WIDE_ENTRY;
    int rc = sum ? write_head(db, fd, &off, sum, entry_bytes) : KVS_ENOMEM;
    if (rc == KVS_OK)
        rc = write_tables(db, fd, &off, sum, entry_bytes);
    uint8_t trailer[8];
    if (rc == KVS_OK) {
        kvs__store64(trailer, kvs__digest_final(sum));
        rc = put_bytes(fd, &off, NULL, trailer, sizeof(trailer));
    }
    kvs__digest_free(sum);
    kvs__io_close(fd);
    if (rc == KVS_OK && kvs__io_renameat(db->dirfd, SNAP_TMP_NAME, KVS_INDEX_FILE_NAME) < 0)
        rc = KVS_EIO;
    if (rc != KVS_OK) {
        kvs__io_unlinkat(db->dirfd, SNAP_TMP_NAME);
        kvs__log(db, KVS_LOG_WARN, "cannot save the index: %s", strerror(errno));
    }
    return rc;
}

int kvs__index_file_remove(struct kvs *db)
{
    if (kvs__io_unlinkat(db->dirfd, KVS_INDEX_FILE_NAME) < 0 && errno != ENOENT)
        return KVS_EIO;
    return KVS_OK;
}

/* ---- loading ---- */

struct snap_load {
    int fd;
    uint64_t off, size;
    struct kvs_digest *sum;
    struct kvs_segment *by_slot[KVS_SLOT_COUNT]; /* saved slot -> segment */
    uint32_t capacity, count[KVS_INDEX_SHARDS];
    uint32_t entry_bytes; /* SNAP_NARROW_ENTRY or SNAP_WIDE_ENTRY */
};

static int get_bytes(struct snap_load *l, void *buf, size_t len)
{
    if (len > l->size - l->off || kvs__io_pread_all(l->fd, buf, len, l->off) < 0)
        return KVS_NOT_FOUND;
    kvs__digest_update(l->sum, buf, len);
    l->off += len;
    return KVS_OK;
}

static struct kvs_segment *find_segment(struct kvs *db, uint32_t id)
{
    for (size_t i = 0; i < db->nsegs; i++)
        if (db->segs[i]->id == id)
            return db->segs[i];
    return NULL;
}

/* A saved segment must be the very file we have: same id, epoch and size,
 * and sealed (its last record is a SEAL). */
static bool segment_matches(const struct kvs_segment *s, uint64_t epoch, uint64_t size)
{
    struct kvs_rec r;
    if (!s || s->epoch != epoch || s->tail != size ||
        size < KVS_SEG_HEADER_SIZE + KVS_REC_HEADER_SIZE)
        return false;
    uint64_t at = size - KVS_REC_HEADER_SIZE;
    return kvs__rec_decode(s->base + at, KVS_REC_HEADER_SIZE, &r) == KVS_REC_OK &&
           r.type == KVS_REC_SEAL;
}

static int read_segments(struct kvs *db, struct snap_load *l, uint8_t *saved, uint32_t n)
{
    if (n != db->nsegs)
        return KVS_NOT_FOUND;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *e = saved + (size_t)i * SNAP_SEGMENT_SIZE;
        if (get_bytes(l, e, SNAP_SEGMENT_SIZE) != KVS_OK)
            return KVS_NOT_FOUND;
        struct kvs_segment *s = find_segment(db, kvs__load32(e));
        uint32_t slot = kvs__load32(e + 4);
        if (!segment_matches(s, kvs__load64(e + 8), kvs__load64(e + 16)) || slot == 0 ||
            slot >= KVS_SLOT_COUNT || l->by_slot[slot])
            return KVS_NOT_FOUND;
        l->by_slot[slot] = s;
    }
    return KVS_OK;
}

/* Every shard has the same capacity; the counts must leave room. */
static int read_shards(struct snap_load *l)
{
    /* one read for all of them (2 KiB), not one per shard */
    uint8_t all[KVS_INDEX_SHARDS * SNAP_SHARD_SIZE];
    if (get_bytes(l, all, sizeof(all)) != KVS_OK)
        return KVS_NOT_FOUND;
    for (unsigned i = 0; i < KVS_INDEX_SHARDS; i++) {
        const uint8_t *e = all + (size_t)i * SNAP_SHARD_SIZE;
        uint32_t c = kvs__load32(e);
        l->count[i] = kvs__load32(e + 4);
        if ((i > 0 && c != l->capacity) || (uint64_t)l->count[i] * 16 > (uint64_t)c * 15)
            return KVS_NOT_FOUND;
        l->capacity = c;
    }
    return KVS_OK;
}

/* An entry must point inside a listed segment. */
static bool entry_valid(const struct snap_load *l, const struct kvs_loc *loc)
{
    const struct kvs_segment *s = loc->slot < KVS_SLOT_COUNT ? l->by_slot[loc->slot] : NULL;
    return s && loc->size > KVS_REC_HEADER_SIZE && loc->off >= KVS_SEG_HEADER_SIZE &&
           (uint64_t)loc->off + loc->size <= s->tail;
}

/* Place each saved entry at the next used slot of a fresh (zeroed) index
 * region, reading the entries a chunk at a time, and check each one while it
 * is at hand. The per-shard counts were checked against the bitmap, which
 * gets exactly one entry per set bit. */
static int read_entries(struct snap_load *l, struct kvs_index_entry *t, const uint64_t *bitmap,
                        uint64_t slots, uint8_t *chunk)
{
    size_t have = 0, used = 0, width = l->entry_bytes;
    for (uint64_t w = 0; w < slots / 64; w++) {
        for (uint64_t bits = bitmap[w]; bits; bits &= bits - 1) {
            if (used == have) {
                uint64_t left = (l->size - l->off) / width;
                have = (size_t)KVS_MIN(left, (uint64_t)SNAP_CHUNK_ENTRIES);
                if (have == 0 || get_bytes(l, chunk, have * width) != KVS_OK)
                    return KVS_NOT_FOUND;
                used = 0;
            }
            uint64_t at = w * 64 + (uint64_t)__builtin_ctzll(bits);
            uint32_t tag;
            struct kvs_loc loc;
            if (!decode_entry(chunk + used++ * width, (unsigned)(at / l->capacity),
                              l->entry_bytes, &tag, &loc) ||
                !entry_valid(l, &loc))
                return KVS_NOT_FOUND;
            t[at] = kvs__entry_make(tag, &loc);
        }
    }
    return used == have ? KVS_OK : KVS_NOT_FOUND; /* no entry left over */
}

/* Bits set in the bitmap, per shard, must be the saved key counts. */
static bool bitmap_counts_match(const struct snap_load *l, const uint64_t *bitmap)
{
    uint64_t words_per_shard = l->capacity / 64;
    for (unsigned i = 0; i < KVS_INDEX_SHARDS; i++) {
        uint64_t bits = 0;
        for (uint64_t w = 0; w < words_per_shard; w++)
            bits += (uint64_t)__builtin_popcountll(bitmap[i * words_per_shard + w]);
        if (bits != l->count[i])
            return false;
    }
    return true;
}

static int read_tables(struct kvs *db, struct snap_load *l)
{
    if (l->capacity < 64) /* the bitmap is whole words per shard */
        return KVS_NOT_FOUND;
    uint64_t slots = (uint64_t)KVS_INDEX_SHARDS * l->capacity;
    uint64_t *bitmap = kvs__big_alloc(slots / 8);
    uint8_t *chunk = kvs__big_alloc(SNAP_CHUNK_ENTRIES * SNAP_WIDE_ENTRY);
    int rc = bitmap && chunk ? KVS_OK : KVS_ENOMEM;
    if (rc == KVS_OK && get_bytes(l, bitmap, slots / 8) != KVS_OK)
        rc = KVS_NOT_FOUND;
    if (rc == KVS_OK && !bitmap_counts_match(l, bitmap))
        rc = KVS_NOT_FOUND;
    void *region = rc == KVS_OK ? kvs__index_load_begin(&db->index, l->capacity) : NULL;
    if (rc == KVS_OK && !region)
        rc = KVS_NOT_FOUND;
    if (rc == KVS_OK)
        rc = read_entries(l, region, bitmap, slots, chunk);
    kvs__big_free(bitmap, slots / 8);
    kvs__big_free(chunk, SNAP_CHUNK_ENTRIES * SNAP_WIDE_ENTRY);
    uint8_t trailer[8];
    if (rc == KVS_OK && (l->size - l->off != sizeof(trailer) ||
                         kvs__io_pread_all(l->fd, trailer, sizeof(trailer), l->off) < 0 ||
                         kvs__load64(trailer) != kvs__digest_final(l->sum)))
        rc = KVS_NOT_FOUND;
    if (rc == KVS_OK)
        kvs__index_load_end(&db->index, l->count);
    return rc;
}

/* Give every segment the slot it had at close, and its saved counters. */
static void restore_segments(struct kvs *db, const struct snap_load *l, const uint8_t *saved)
{
    pthread_mutex_lock(&db->seg_mutex);
    for (size_t i = 0; i < db->nsegs; i++)
        atomic_store(&db->slots[db->segs[i]->slot], NULL);
    for (size_t i = 0; i < db->nsegs; i++) {
        const uint8_t *e = saved + i * SNAP_SEGMENT_SIZE;
        uint32_t slot = kvs__load32(e + 4);
        struct kvs_segment *s = l->by_slot[slot];
        kvs__db_set_slot(db, s, slot);
        atomic_store(&s->live_bytes, kvs__load64(e + 24));
        atomic_store(&s->dead_bytes, kvs__load64(e + 32));
        atomic_store(&s->hinted, (kvs__load32(e + 40) & SNAP_FLAG_HINTED) != 0);
        s->damaged = (kvs__load32(e + 40) & SNAP_FLAG_DAMAGED) != 0;
        if (kvs__load32(e + 40) & SNAP_FLAG_EXPIRING)
            atomic_store(&s->min_expire, 1); /* some time: look at the next chance */
        atomic_store(&s->sealed, true);
        atomic_store(&s->synced, true);
    }
    pthread_mutex_unlock(&db->seg_mutex);
}

static int load(struct kvs *db, struct snap_load *l, uint8_t **saved)
{
    uint8_t h[SNAP_HEADER_SIZE];
    if (kvs__io_file_size(l->fd, &l->size) < 0 || get_bytes(l, h, sizeof(h)) != KVS_OK)
        return KVS_NOT_FOUND;
    if (memcmp(h, snap_magic, sizeof(snap_magic)) != 0 ||
        kvs__load32(h + 8) != SNAP_VERSION || kvs__load32(h + 12) != KVS_INDEX_SHARDS ||
        kvs__load64(h + 24) != db->seed || kvs__load32(h + 16) != db->nsegs)
        return KVS_NOT_FOUND;
    l->entry_bytes = kvs__load32(h + 20);
    if (l->entry_bytes != SNAP_NARROW_ENTRY && l->entry_bytes != SNAP_WIDE_ENTRY)
        return KVS_NOT_FOUND;
    *saved = malloc(db->nsegs * SNAP_SEGMENT_SIZE + 1);
    if (!*saved)
        return KVS_ENOMEM;
    int rc = read_segments(db, l, *saved, (uint32_t)db->nsegs);
    if (rc == KVS_OK)
        rc = read_shards(l);
    if (rc == KVS_OK)
        rc = read_tables(db, l);
    return rc;
}

int kvs__index_file_load(struct kvs *db)
{
    struct snap_load *l = calloc(1, sizeof(*l));
    if (!l)
        return KVS_ENOMEM;
    uint8_t *saved = NULL;
    l->fd = kvs__io_openat(db->dirfd, KVS_INDEX_FILE_NAME, O_RDONLY, 0);
    l->sum = kvs__digest_new();
    int rc = l->fd < 0 ? KVS_NOT_FOUND : !l->sum ? KVS_ENOMEM : load(db, l, &saved);
    if (l->fd >= 0)
        kvs__io_close(l->fd);
    kvs__digest_free(l->sum);
    if (rc == KVS_OK)
        restore_segments(db, l, saved);
    else if (kvs__index_clear(&db->index) != KVS_OK)
        rc = KVS_ENOMEM;
    free(saved);
    free(l);
    return rc;
}
