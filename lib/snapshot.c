/* The INDEX file (see snapshot.h); layout in doc/FORMAT.md. */
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>

#include "db.h"
#include "hash.h"
#include "io.h"

#define SNAP_HEADER_SIZE 64u
#define SNAP_SEGMENT_SIZE 48u
#define SNAP_SHARD_SIZE 8u
#define SNAP_TMP_NAME "INDEX.tmp"
#define SNAP_FLAG_HINTED 1u
#define SNAP_FLAG_DAMAGED 2u

static const uint8_t snap_magic[8] = {0x89, 'K', 'V', 'S', 'I', 'D', 'X', '\n'};

_Static_assert(sizeof(struct kvs_index_entry) == 16, "index entries are saved as 16 bytes");
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

static int write_head(struct kvs *db, int fd, uint64_t *off, struct kvs_digest *sum)
{
    uint8_t h[SNAP_HEADER_SIZE] = {0};
    uint64_t keys, bytes;
    kvs__index_usage(&db->index, &keys, &bytes);
    memcpy(h, snap_magic, sizeof(snap_magic));
    kvs__store32(h + 8, KVS_FORMAT_VERSION);
    kvs__store32(h + 12, KVS_INDEX_SHARDS);
    kvs__store32(h + 16, (uint32_t)db->nsegs);
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
                                 (s->damaged ? SNAP_FLAG_DAMAGED : 0));
        rc = put_bytes(fd, off, sum, e, sizeof(e));
    }
    for (unsigned i = 0; i < KVS_INDEX_SHARDS && rc == KVS_OK; i++) {
        uint8_t e[SNAP_SHARD_SIZE];
        kvs__store32(e, db->index.shards[i].mask + 1);
        kvs__store32(e + 4, db->index.shards[i].count);
        rc = put_bytes(fd, off, sum, e, sizeof(e));
    }
    return rc;
}

int kvs__snapshot_write(struct kvs *db)
{
    uint64_t keys, bytes;
    kvs__index_usage(&db->index, &keys, &bytes);
    if (keys < KVS_SNAPSHOT_MIN_KEYS)
        return KVS_OK;
    for (size_t i = 0; i < db->nsegs; i++)
        if (!atomic_load(&db->segs[i]->sealed))
            return KVS_EINVAL;
    int fd = kvs__io_openat(db->dirfd, SNAP_TMP_NAME, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return KVS_EIO;
    uint64_t off = 0;
    struct kvs_digest *sum = kvs__digest_new();
    int rc = sum ? write_head(db, fd, &off, sum) : KVS_ENOMEM;
    for (unsigned i = 0; i < KVS_INDEX_SHARDS && rc == KVS_OK; i++) {
        const struct kvs_index_shard *s = &db->index.shards[i];
        rc = put_bytes(fd, &off, sum, s->table, ((size_t)s->mask + 1) * sizeof(*s->table));
    }
    uint8_t trailer[8];
    if (rc == KVS_OK) {
        kvs__store64(trailer, kvs__digest_final(sum));
        rc = put_bytes(fd, &off, NULL, trailer, sizeof(trailer));
    }
    kvs__digest_free(sum);
    kvs__io_close(fd);
    if (rc == KVS_OK && kvs__io_renameat(db->dirfd, SNAP_TMP_NAME, KVS_SNAPSHOT_NAME) < 0)
        rc = KVS_EIO;
    if (rc != KVS_OK) {
        kvs__io_unlinkat(db->dirfd, SNAP_TMP_NAME);
        kvs__log(db, KVS_LOG_WARN, "cannot save the index: %s", strerror(errno));
    }
    return rc;
}

int kvs__snapshot_remove(struct kvs *db)
{
    if (kvs__io_unlinkat(db->dirfd, KVS_SNAPSHOT_NAME) < 0 && errno != ENOENT)
        return KVS_EIO;
    return KVS_OK;
}

/* ---- loading ---- */

struct snap_load {
    int fd;
    uint64_t off, size;
    struct kvs_digest *sum;
    uint32_t slot_map[KVS_SLOT_COUNT]; /* slot at close -> slot now; 0 = none */
    struct kvs_segment *by_slot[KVS_SLOT_COUNT];
    struct kvs_index_entry *tables[KVS_INDEX_SHARDS];
    uint32_t capacity[KVS_INDEX_SHARDS], count[KVS_INDEX_SHARDS];
};

static int get_bytes(struct snap_load *l, void *buf, size_t len)
{
    if (l->off + len > l->size || kvs__io_pread_all(l->fd, buf, len, l->off) < 0)
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

static int load_segments(struct kvs *db, struct snap_load *l, uint32_t n)
{
    if (n != db->nsegs)
        return KVS_NOT_FOUND;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t e[SNAP_SEGMENT_SIZE];
        if (get_bytes(l, e, sizeof(e)) != KVS_OK)
            return KVS_NOT_FOUND;
        struct kvs_segment *s = find_segment(db, kvs__load32(e));
        uint32_t old_slot = kvs__load32(e + 4);
        if (!segment_matches(s, kvs__load64(e + 8), kvs__load64(e + 16)) || old_slot == 0 ||
            old_slot >= KVS_SLOT_COUNT || l->slot_map[old_slot] != 0)
            return KVS_NOT_FOUND;
        l->slot_map[old_slot] = s->slot;
        l->by_slot[old_slot] = s;
        atomic_store(&s->live_bytes, kvs__load64(e + 24));
        atomic_store(&s->dead_bytes, kvs__load64(e + 32));
        atomic_store(&s->hinted, (kvs__load32(e + 40) & SNAP_FLAG_HINTED) != 0);
        s->damaged = (kvs__load32(e + 40) & SNAP_FLAG_DAMAGED) != 0;
    }
    return KVS_OK;
}

/* Check every entry against the segments and translate its slot. */
static int fix_entries(struct snap_load *l, struct kvs_index_entry *t, uint32_t capacity,
                       uint32_t count)
{
    uint32_t seen = 0;
    for (uint32_t i = 0; i < capacity; i++) {
        struct kvs_loc *loc = &t[i].loc;
        if (loc->slot == 0)
            continue;
        if (loc->slot >= KVS_SLOT_COUNT || !l->by_slot[loc->slot])
            return KVS_NOT_FOUND;
        const struct kvs_segment *s = l->by_slot[loc->slot];
        if (loc->size <= KVS_REC_HEADER_SIZE || loc->off < KVS_SEG_HEADER_SIZE ||
            (uint64_t)loc->off + loc->size > s->tail)
            return KVS_NOT_FOUND;
        loc->slot = l->slot_map[loc->slot];
        seen++;
    }
    return seen == count ? KVS_OK : KVS_NOT_FOUND;
}

static int load_tables(struct snap_load *l)
{
    for (unsigned i = 0; i < KVS_INDEX_SHARDS; i++) {
        uint8_t e[SNAP_SHARD_SIZE];
        if (get_bytes(l, e, sizeof(e)) != KVS_OK)
            return KVS_NOT_FOUND;
        l->capacity[i] = kvs__load32(e);
        l->count[i] = kvs__load32(e + 4);
        uint32_t c = l->capacity[i];
        if (c < 16 || c > (1u << KVS_INDEX_BUCKET_BITS_MAX) || (c & (c - 1)) != 0 ||
            l->count[i] >= c)
            return KVS_NOT_FOUND;
    }
    for (unsigned i = 0; i < KVS_INDEX_SHARDS; i++) {
        size_t bytes = (size_t)l->capacity[i] * sizeof(struct kvs_index_entry);
        l->tables[i] = kvs__index_table_alloc(l->capacity[i]);
        if (!l->tables[i])
            return KVS_ENOMEM;
        if (get_bytes(l, l->tables[i], bytes) != KVS_OK)
            return KVS_NOT_FOUND;
    }
    uint8_t trailer[8];
    uint64_t sum = kvs__digest_final(l->sum);
    if (get_bytes(l, trailer, sizeof(trailer)) != KVS_OK || kvs__load64(trailer) != sum ||
        l->off != l->size)
        return KVS_NOT_FOUND;
    for (unsigned i = 0; i < KVS_INDEX_SHARDS; i++)
        if (fix_entries(l, l->tables[i], l->capacity[i], l->count[i]) != KVS_OK)
            return KVS_NOT_FOUND;
    return KVS_OK;
}

static int load(struct kvs *db, struct snap_load *l)
{
    uint8_t h[SNAP_HEADER_SIZE];
    if (kvs__io_file_size(l->fd, &l->size) < 0 || get_bytes(l, h, sizeof(h)) != KVS_OK)
        return KVS_NOT_FOUND;
    if (memcmp(h, snap_magic, sizeof(snap_magic)) != 0 ||
        kvs__load32(h + 8) != KVS_FORMAT_VERSION || kvs__load32(h + 12) != KVS_INDEX_SHARDS ||
        kvs__load64(h + 24) != db->seed)
        return KVS_NOT_FOUND;
    int rc = load_segments(db, l, kvs__load32(h + 16));
    return rc == KVS_OK ? load_tables(l) : rc;
}

int kvs__snapshot_load(struct kvs *db)
{
    struct snap_load *l = calloc(1, sizeof(*l));
    if (!l)
        return KVS_ENOMEM;
    l->fd = kvs__io_openat(db->dirfd, KVS_SNAPSHOT_NAME, O_RDONLY, 0);
    l->sum = kvs__digest_new();
    int rc = l->fd < 0 ? KVS_NOT_FOUND : !l->sum ? KVS_ENOMEM : load(db, l);
    kvs__digest_free(l->sum);
    if (l->fd >= 0)
        kvs__io_close(l->fd);
    if (rc == KVS_OK) {
        for (unsigned i = 0; i < KVS_INDEX_SHARDS; i++)
            kvs__index_adopt(&db->index, i, l->tables[i], l->capacity[i], l->count[i]);
        for (size_t i = 0; i < db->nsegs; i++) {
            atomic_store(&db->segs[i]->sealed, true);
            atomic_store(&db->segs[i]->synced, true);
        }
    } else {
        for (unsigned i = 0; i < KVS_INDEX_SHARDS; i++)
            kvs__index_table_free(l->tables[i], l->capacity[i]);
        /* Per-segment counters may be half loaded: replay starts from zero. */
        for (size_t i = 0; i < db->nsegs; i++) {
            atomic_store(&db->segs[i]->live_bytes, 0);
            atomic_store(&db->segs[i]->dead_bytes, 0);
            atomic_store(&db->segs[i]->hinted, false);
            db->segs[i]->damaged = false;
        }
    }
    free(l);
    return rc;
}
