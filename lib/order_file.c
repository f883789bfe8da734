/*
 * The ORDER file: the key order saved by a clean close (one sorted run), so
 * that the next open does not sort every key again before the first
 * iterator. Like INDEX it is an accelerator only, used if and only if it
 * describes exactly the segments in the directory; layout in
 * doc/FORMAT.md.
 */
#include "order_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "hash.h"
#include "index_file.h"
#include "io.h"
#include "store.h"

#define ORDER_NAME "ORDER"
#define ORDER_TMP_NAME "ORDER.tmp"
#define ORDER_VERSION 1u
#define ORDER_HEADER_SIZE 48u
#define ORDER_SEGMENT_SIZE 24u
#define ORDER_ENTRY_SIZE 8u
#define ORDER_CHUNK 65536u /* entries staged per write */

static const uint8_t order_magic[8] = {0x89, 'K', 'V', 'S', 'O', 'R', 'D', '\n'};

/* ---- writing ---- */

static int put(int fd, uint64_t *off, struct kvs_digest *sum, const void *buf, size_t len)
{
    if (kvs__io_pwrite_all(fd, buf, len, *off) < 0)
        return KVS_EIO;
    kvs__digest_update(sum, buf, len);
    *off += len;
    return KVS_OK;
}

static int write_head(struct kvs *db, int fd, uint64_t *off, struct kvs_digest *sum,
                      uint64_t n)
{
    uint8_t h[ORDER_HEADER_SIZE] = {0};
    memcpy(h, order_magic, sizeof(order_magic));
    kvs__store32(h + 8, ORDER_VERSION);
    kvs__store32(h + 12, (uint32_t)db->nsegs);
    kvs__store64(h + 16, n);
    kvs__store64(h + 24, db->seed);
    int rc = put(fd, off, sum, h, sizeof(h));
    for (size_t i = 0; i < db->nsegs && rc == KVS_OK; i++) {
        uint8_t e[ORDER_SEGMENT_SIZE] = {0};
        kvs__store32(e, db->segs[i]->id);
        kvs__store64(e + 8, db->segs[i]->epoch);
        kvs__store64(e + 16, db->segs[i]->tail);
        rc = put(fd, off, sum, e, sizeof(e));
    }
    return rc;
}

/* The entries, each as (index in the segment table, offset). */
static int write_entries(struct kvs *db, const struct kvs_run *run, const uint32_t *seg_of_slot,
                         int fd, uint64_t *off, struct kvs_digest *sum)
{
    uint8_t *buf = kvs__big_alloc(ORDER_CHUNK * ORDER_ENTRY_SIZE);
    if (!buf)
        return KVS_ENOMEM;
    int rc = KVS_OK;
    for (uint64_t i = 0; i < run->n && rc == KVS_OK;) {
        uint64_t k = 0;
        for (; k < ORDER_CHUNK && i < run->n; k++, i++) {
            uint32_t seg = seg_of_slot[kvs__ref_slot(run->refs[i])];
            if (seg == 0 || kvs__ref_is_tomb(run->refs[i])) {
                rc = KVS_NOT_FOUND; /* a segment no longer in the store, or a tombstone */
                break;
            }
            kvs__store32(buf + k * ORDER_ENTRY_SIZE, seg - 1);
            kvs__store32(buf + k * ORDER_ENTRY_SIZE + 4, kvs__ref_off(run->refs[i]));
        }
        if (rc == KVS_OK)
            rc = put(fd, off, sum, buf, k * ORDER_ENTRY_SIZE);
    }
    kvs__big_free(buf, ORDER_CHUNK * ORDER_ENTRY_SIZE);
    return rc;
}

static int write_file(struct kvs *db, const struct kvs_run *run, const uint32_t *seg_of_slot)
{
    int fd = kvs__io_openat(db->dirfd, ORDER_TMP_NAME, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return KVS_EIO;
    struct kvs_digest *sum = kvs__digest_new();
    uint64_t off = 0;
    int rc = sum ? write_head(db, fd, &off, sum, run->n) : KVS_ENOMEM;
    if (rc == KVS_OK)
        rc = write_entries(db, run, seg_of_slot, fd, &off, sum);
    if (rc == KVS_OK) {
        uint8_t t[8];
        kvs__store64(t, kvs__digest_final(sum));
        rc = kvs__io_pwrite_all(fd, t, sizeof(t), off) == 0 ? KVS_OK : KVS_EIO;
    }
    kvs__digest_free(sum);
    kvs__io_close(fd);
    if (rc == KVS_OK && kvs__io_renameat(db->dirfd, ORDER_TMP_NAME, ORDER_NAME) < 0)
        rc = KVS_EIO;
    if (rc != KVS_OK)
        kvs__io_unlinkat(db->dirfd, ORDER_TMP_NAME);
    return rc;
}

int kvs__order_file_write(struct kvs *db, const struct kvs_run *run)
{
    kvs__io_unlinkat(db->dirfd, ORDER_NAME); /* whatever it said is over */
    if (!run || run->n < KVS_INDEX_FILE_MIN_KEYS)
        return KVS_OK; /* small: sorting at open is about as fast */
    uint32_t *seg_of_slot = calloc(KVS_SLOT_COUNT, sizeof(*seg_of_slot));
    if (!seg_of_slot)
        return KVS_ENOMEM;
    for (size_t i = 0; i < db->nsegs; i++)
        seg_of_slot[db->segs[i]->slot] = (uint32_t)i + 1;
    int rc = write_file(db, run, seg_of_slot);
    free(seg_of_slot);
    return rc;
}

/* ---- loading ---- */

/* The file, whole, in a buffer from kvs__big_alloc; KVS_NOT_FOUND if absent. */
static int read_whole(struct kvs *db, uint8_t **buf, uint64_t *len)
{
    int fd = kvs__io_openat(db->dirfd, ORDER_NAME, O_RDONLY, 0);
    if (fd < 0)
        return errno == ENOENT ? KVS_NOT_FOUND : KVS_EIO;
    int rc = kvs__io_file_size(fd, len) == 0 ? KVS_OK : KVS_EIO;
    if (rc == KVS_OK && (*len < ORDER_HEADER_SIZE + 8 || *len > SIZE_MAX / 2))
        rc = KVS_NOT_FOUND;
    *buf = rc == KVS_OK ? kvs__big_alloc(*len) : NULL;
    if (rc == KVS_OK && !*buf)
        rc = KVS_ENOMEM;
    if (rc == KVS_OK && kvs__io_pread_all(fd, *buf, *len, 0) < 0)
        rc = KVS_EIO;
    kvs__io_close(fd);
    if (rc != KVS_OK && *buf) {
        kvs__big_free(*buf, *len);
        *buf = NULL;
    }
    return rc;
}

/*
 * The store's sealed segments, in epoch order (the segments found at open:
 * the writer's new segment, created meanwhile, is not sealed and its
 * writes are pending, order.h). Caller holds compact_mutex: nothing else
 * seals or removes a segment meanwhile but a roll, and a roll makes the
 * list differ from the file's. Also counts the segments not sealed: besides
 * the writer's new one, there can be one a crash left, which a read-only
 * open keeps as it is; its records were replayed into the index but are in
 * no file, so the file does not describe the store then.
 */
struct sealed {
    struct kvs_segment **segs;
    size_t n;
    size_t unsealed;
};

static int sealed_segments(struct kvs *db, struct sealed *out)
{
    pthread_mutex_lock(&db->seg_mutex);
    out->segs = malloc((db->nsegs ? db->nsegs : 1) * sizeof(*out->segs));
    out->n = 0;
    out->unsealed = 0;
    for (size_t i = 0; out->segs && i < db->nsegs; i++) {
        if (atomic_load(&db->segs[i]->sealed))
            out->segs[out->n++] = db->segs[i];
        else
            out->unsealed++;
    }
    pthread_mutex_unlock(&db->seg_mutex);
    return out->segs ? KVS_OK : KVS_ENOMEM;
}

/* The header, the checksum and the segment table agree with the store. */
static bool file_matches(struct kvs *db, const struct sealed *ss, const uint8_t *buf,
                         uint64_t len, uint64_t *n)
{
    if (memcmp(buf, order_magic, sizeof(order_magic)) != 0 ||
        kvs__load32(buf + 8) != ORDER_VERSION || kvs__load32(buf + 12) != ss->n ||
        kvs__load64(buf + 24) != db->seed)
        return false;
    *n = kvs__load64(buf + 16);
    uint64_t table = (uint64_t)ss->n * ORDER_SEGMENT_SIZE;
    if (len < ORDER_HEADER_SIZE + 8 + table ||
        *n > (len - ORDER_HEADER_SIZE - 8 - table) / ORDER_ENTRY_SIZE ||
        len != ORDER_HEADER_SIZE + table + *n * ORDER_ENTRY_SIZE + 8 ||
        kvs__hash_sum(buf, len - 8) != kvs__load64(buf + len - 8))
        return false;
    for (size_t i = 0; i < ss->n; i++) {
        const uint8_t *e = buf + ORDER_HEADER_SIZE + i * ORDER_SEGMENT_SIZE;
        const struct kvs_segment *s = ss->segs[i];
        if (kvs__load32(e) != s->id || kvs__load64(e + 8) != s->epoch ||
            kvs__load64(e + 16) != s->tail)
            return false;
    }
    return true;
}

/* The entries as references; false if one points outside its segment. */
static bool decode_entries(const struct sealed *ss, const uint8_t *p, uint64_t n, kvs_ref *refs)
{
    for (uint64_t i = 0; i < n; i++, p += ORDER_ENTRY_SIZE) {
        uint32_t seg = kvs__load32(p), off = kvs__load32(p + 4);
        if (seg >= ss->n || off < KVS_SEG_HEADER_SIZE ||
            (uint64_t)off + KVS_REC_HEADER_SIZE > ss->segs[seg]->tail)
            return false;
        refs[i] = kvs__ref(ss->segs[seg]->slot, off, false);
    }
    return true;
}

int kvs__order_file_load(struct kvs *db, struct kvs_run **out)
{
    *out = NULL;
    uint8_t *buf;
    uint64_t len, n = 0, keys, bytes;
    int rc = read_whole(db, &buf, &len);
    if (rc != KVS_OK)
        return rc;
    kvs__index_usage(&db->index, &keys, &bytes);
    struct sealed ss;
    kvs_ref *refs = NULL;
    rc = sealed_segments(db, &ss);
    /* unsealed: none but the writer's (a read-only handle has none) */
    if (rc == KVS_OK && (ss.unsealed > (db->opts.read_only ? 0u : 1u) ||
                         !file_matches(db, &ss, buf, len, &n) || n != keys || n == 0))
        rc = KVS_NOT_FOUND;
    if (rc == KVS_OK && !(refs = kvs__big_alloc(n * sizeof(*refs))))
        rc = KVS_ENOMEM;
    const uint8_t *entries = buf + ORDER_HEADER_SIZE + (uint64_t)ss.n * ORDER_SEGMENT_SIZE;
    if (rc == KVS_OK && !decode_entries(&ss, entries, n, refs))
        rc = KVS_NOT_FOUND;
    free(ss.segs);
    kvs__big_free(buf, len);
    if (rc != KVS_OK) {
        kvs__big_free(refs, n * sizeof(*refs));
        return rc;
    }
    return kvs__run_from_sorted(db, refs, n, n, out);
}

void kvs__order_file_remove(struct kvs *db)
{
    kvs__io_unlinkat(db->dirfd, ORDER_NAME);
}

bool kvs__order_file_exists(struct kvs *db)
{
    struct stat st;
    return kvs__io_stat(db->dirfd, ORDER_NAME, &st) == 0;
}
