/* Hint files: writing from a sealed segment, loading with full validation. */
#include "hint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hash.h"
#include "internal.h"
#include "io.h"

static const uint8_t hint_magic[8] = {0x89, 'K', 'V', 'S', 'H', 'N', 'T', '\n'};

/*
 * Walk the entries a hint lists, up to the seal: every record, and for a
 * batch its header then each record inside. emit (may be NULL) gets each
 * with its offset. Checks that everything decodes.
 */
typedef void (*hint_emit_fn)(void *ctx, const struct kvs_rec *r, uint64_t off);

static int hint_walk(const struct kvs_segment *s, hint_emit_fn emit, void *ctx,
                     uint64_t *count, uint64_t *data_end)
{
    uint64_t off = KVS_SEG_HEADER_SIZE, n = 0;
    for (;;) {
        struct kvs_rec r;
        if (kvs__rec_peek(s->base + off, s->tail - off, &r) != KVS_REC_OK)
            return KVS_ECORRUPT;
        if (r.type == KVS_REC_SEAL)
            break;
        if (emit)
            emit(ctx, &r, off);
        n++;
        if (r.type == KVS_REC_BATCH) {
            uint64_t pos = 0;
            struct kvs_rec in;
            enum kvs_rec_status st;
            while ((st = kvs__rec_batch_next(&r, &pos, false, &in)) == KVS_REC_OK) {
                if (emit)
                    emit(ctx, &in, (uint64_t)(in.key - s->base) -
                                       kvs__rec_header_size(in.type));
                n++;
            }
            if (st != KVS_REC_AT_END)
                return KVS_ECORRUPT;
        }
        off += r.size;
    }
    if (off > KVS_HINT_OFFSET_MASK)
        return KVS_ECORRUPT; /* cannot happen below the batch limit (record.h) */
    *count = n;
    *data_end = off;
    return KVS_OK;
}

struct hint_out {
    uint8_t *p;
    uint64_t seed;
};

static void hint_put_entry(void *ctx, const struct kvs_rec *r, uint64_t off)
{
    struct hint_out *o = ctx;
    uint32_t word = (uint32_t)off;
    uint32_t tag = 0;
    if (r->type == KVS_REC_BATCH) {
        word |= KVS_HINT_BATCH;
    } else {
        word |= r->type == KVS_REC_DEL ? KVS_HINT_TOMBSTONE
                : r->type == KVS_REC_PUTX ? KVS_HINT_EXPIRING
                                          : 0;
        /* only the upper half: all the index uses (see index.h) */
        tag = (uint32_t)(kvs__hash(o->seed, r->key, r->klen) >> 32);
    }
    kvs__store32(o->p, tag);
    kvs__store32(o->p + 4, word);
    o->p += KVS_HINT_ENTRY_SIZE;
}

static uint8_t *hint_encode(const struct kvs_segment *s, uint64_t seed, uint64_t count,
                            uint64_t data_end, size_t *len)
{
    *len = KVS_HINT_HEADER_SIZE + count * KVS_HINT_ENTRY_SIZE + KVS_HINT_TRAILER_SIZE;
    uint8_t *buf = kvs__big_alloc(*len);
    if (!buf)
        return NULL;
    memcpy(buf, hint_magic, sizeof(hint_magic));
    kvs__store32(buf + 8, KVS_HINT_VERSION);
    kvs__store32(buf + 12, s->id);
    kvs__store64(buf + 16, s->tail);
    kvs__store64(buf + 24, data_end);
    kvs__store64(buf + 32, count);
    kvs__store64(buf + 40, seed);
    struct hint_out o = {buf + KVS_HINT_HEADER_SIZE, seed};
    hint_walk(s, hint_put_entry, &o, &count, &data_end); /* counted: cannot fail */
    kvs__store64(o.p, kvs__hash_sum(buf, (size_t)(o.p - buf)));
    return buf;
}

int kvs__hint_write(int dirfd, const struct kvs_segment *s, uint64_t seed)
{
    KVS_ASSERT(s->sealed);
    char log[KVS_SEG_NAME_MAX];
    kvs__seg_name(log, s->id, "log");
    struct stat st;
    if (kvs__io_stat(dirfd, log, &st) < 0)
        return KVS_EIO;
    uint64_t file_size = (uint64_t)st.st_size;
    /* A hint certifies the exact file: none if trimming after the seal failed. */
    if (file_size != s->tail)
        return KVS_ECORRUPT;
    uint64_t count, data_end;
    int rc = hint_walk(s, NULL, NULL, &count, &data_end);
    if (rc != KVS_OK)
        return rc;
    size_t len;
    uint8_t *buf = hint_encode(s, seed, count, data_end, &len);
    if (!buf)
        return KVS_ENOMEM;
    char tmp[KVS_SEG_NAME_MAX], name[KVS_SEG_NAME_MAX];
    kvs__seg_name(tmp, s->id, "hint.tmp");
    kvs__seg_name(name, s->id, "hint");
    rc = KVS_EIO;
    int fd = kvs__io_openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        if (kvs__io_pwrite_all(fd, buf, len, 0) == 0 && kvs__io_renameat(dirfd, tmp, name) == 0)
            rc = KVS_OK;
        kvs__io_close(fd);
        if (rc != KVS_OK) {
            int saved = errno;
            kvs__io_unlinkat(dirfd, tmp);
            errno = saved;
        }
    }
    kvs__big_free(buf, len);
    return rc;
}

/* Offsets strictly increase, start after the header, and end before
 * data_end: by at least a smallest record, or a batch header's size. A
 * format 1 hint has no batch headers. */
static bool hint_entries_valid(const uint8_t *buf, uint64_t count, uint64_t data_end,
                               uint32_t version)
{
    uint64_t expect = KVS_SEG_HEADER_SIZE;
    for (uint64_t i = 0; i < count; i++) {
        uint32_t word = kvs__load32(buf + KVS_HINT_HEADER_SIZE + i * KVS_HINT_ENTRY_SIZE + 4);
        uint32_t off = word & KVS_HINT_OFFSET_MASK;
        bool batch = (word & KVS_HINT_EXPIRING) == KVS_HINT_BATCH;
        if (((word & KVS_HINT_BATCH) && version < 2) ||
            (i == 0 && off != expect) || off < expect ||
            off + (uint64_t)KVS_REC_HEADER_SIZE + 1 > data_end)
            return false;
        expect = (uint64_t)off + KVS_REC_HEADER_SIZE + (batch ? 0 : 1);
    }
    return count > 0 || data_end == KVS_SEG_HEADER_SIZE;
}

/*
 * A hint that is itself damaged (magic, checksum) is just unusable:
 * KVS_NOT_FOUND. An intact hint that disagrees with its segment is a
 * certificate that the segment changed after it was sealed and synced:
 * KVS_ECORRUPT. Everything must agree before any entry is used.
 */
static int hint_validate(const uint8_t *buf, size_t len, const struct kvs_segment *s,
                         uint64_t seed, struct kvs_hint *out)
{
    const size_t trailer = KVS_HINT_TRAILER_SIZE;
    if (len < KVS_HINT_HEADER_SIZE + trailer || memcmp(buf, hint_magic, sizeof(hint_magic)) != 0 ||
        (len - KVS_HINT_HEADER_SIZE - trailer) % KVS_HINT_ENTRY_SIZE != 0 ||
        kvs__hash_sum(buf, len - trailer) != kvs__load64(buf + len - trailer) ||
        kvs__load32(buf + 8) < 1 || kvs__load32(buf + 8) > KVS_HINT_VERSION)
        return KVS_NOT_FOUND;
    uint64_t count = kvs__load64(buf + 32);
    uint64_t data_end = kvs__load64(buf + 24);
    if (kvs__load32(buf + 12) != s->id || kvs__load64(buf + 16) != s->tail ||
        kvs__load64(buf + 40) != seed ||
        count != (len - KVS_HINT_HEADER_SIZE - trailer) / KVS_HINT_ENTRY_SIZE ||
        data_end + KVS_REC_HEADER_SIZE > s->tail || data_end < KVS_SEG_HEADER_SIZE ||
        !hint_entries_valid(buf, count, data_end, kvs__load32(buf + 8)))
        return KVS_ECORRUPT;
    out->count = count;
    out->data_end = data_end;
    return KVS_OK;
}

bool kvs__hint_present(int dirfd, uint32_t id)
{
    char name[KVS_SEG_NAME_MAX];
    kvs__seg_name(name, id, "hint");
    struct stat st;
    return kvs__io_stat(dirfd, name, &st) == 0 && S_ISREG(st.st_mode) &&
           st.st_size >= KVS_HINT_HEADER_SIZE + KVS_HINT_TRAILER_SIZE;
}

/* The segment size a hint's header records, if it looks like a hint of
 * segment id (not yet verified: its checksum covers the whole file); else
 * 0. Offsets are 32-bit, so no segment is larger than 4 GiB. */
static uint64_t hint_claimed_size(int dirfd, const char *name, uint32_t id)
{
    uint8_t h[KVS_HINT_HEADER_SIZE];
    int fd = kvs__io_openat(dirfd, name, O_RDONLY, 0);
    if (fd < 0)
        return 0;
    bool ok = kvs__io_pread_all(fd, h, sizeof(h), 0) == 0;
    kvs__io_close(fd);
    if (!ok || memcmp(h, hint_magic, sizeof(hint_magic)) != 0 || kvs__load32(h + 12) != id)
        return 0;
    return KVS_MIN(kvs__load64(h + 16), (uint64_t)UINT32_MAX);
}

/* A hint is never bigger than one entry per smallest record of the
 * segment it describes. */
static uint64_t hint_max_len(uint64_t seg_bytes)
{
    return KVS_HINT_HEADER_SIZE + KVS_HINT_TRAILER_SIZE +
           (seg_bytes / KVS_REC_HEADER_SIZE) * KVS_HINT_ENTRY_SIZE;
}

int kvs__hint_load(int dirfd, const struct kvs_segment *s, uint64_t seed, struct kvs_hint *out)
{
    char name[KVS_SEG_NAME_MAX];
    kvs__seg_name(name, s->id, "hint");
    *out = (struct kvs_hint){0};
    uint8_t *buf;
    size_t len;
    int got = kvs__io_read_file(dirfd, name, hint_max_len(s->tail), &buf, &len);
    int err = errno;
    if (got < 0 && err == EFBIG) {
        /* Too big for this segment: if it is the hint of a longer one, the
         * segment was cut short, and the hint, read whole, proves the
         * damage (hint_validate) instead of being ignored. */
        uint64_t claimed = hint_claimed_size(dirfd, name, s->id);
        if (claimed > s->tail) {
            got = kvs__io_read_file(dirfd, name, hint_max_len(claimed), &buf, &len);
            err = errno;
        }
    }
    if (got < 0) {
        if (err == ENOMEM)
            return KVS_ENOMEM;
        return err == ENOENT || err == EFBIG ? KVS_NOT_FOUND : KVS_EIO;
    }
    int rc = hint_validate(buf, len, s, seed, out);
    if (rc != KVS_OK) {
        kvs__big_free(buf, len);
        return rc;
    }
    out->buf = buf;
    out->len = len;
    return KVS_OK;
}

void kvs__hint_get(const struct kvs_hint *h, uint64_t i, struct kvs_hint_rec *out)
{
    const uint8_t *p = h->buf + KVS_HINT_HEADER_SIZE + i * KVS_HINT_ENTRY_SIZE;
    uint32_t word = kvs__load32(p + 4);
    out->hash = (uint64_t)kvs__load32(p) << 32;
    out->off = word & KVS_HINT_OFFSET_MASK;
    uint32_t kind = word & KVS_HINT_EXPIRING;
    out->tombstone = kind == KVS_HINT_TOMBSTONE;
    out->batch = kind == KVS_HINT_BATCH;
    out->expiring = kind == KVS_HINT_EXPIRING;
    uint64_t next = i + 1 < h->count
                        ? kvs__load32(p + KVS_HINT_ENTRY_SIZE + 4) & KVS_HINT_OFFSET_MASK
                        : h->data_end;
    out->size = (uint32_t)(next - out->off);
}

void kvs__hint_free(struct kvs_hint *h)
{
    kvs__big_free(h->buf, h->len);
    h->buf = NULL;
}
