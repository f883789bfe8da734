/* Segment files: naming, header, creation, growth, sealing (see segment.h). */
#include "segment.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/uio.h>

#include "crc32c.h"
#include "internal.h"
#include "io.h"

static const uint8_t seg_magic[8] = {0x89, 'K', 'V', 'S', 'L', 'O', 'G', '\n'};

void kvs__seg_name(char out[KVS_SEG_NAME_MAX], uint32_t id, const char *ext)
{
    snprintf(out, KVS_SEG_NAME_MAX, "%010u.%s", id, ext);
}

int kvs__seg_parse_name(const char *name, const char *ext, uint32_t *id)
{
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (name[i] < '0' || name[i] > '9')
            return 0;
        v = v * 10 + (uint64_t)(name[i] - '0');
    }
    if (name[10] != '.' || strcmp(name + 11, ext) != 0 || v > UINT32_MAX)
        return 0;
    *id = (uint32_t)v;
    return 1;
}

void kvs__seg_header_encode(uint8_t out[KVS_SEG_HEADER_SIZE], uint32_t id, uint64_t epoch,
                            uint32_t flags, uint64_t seed)
{
    memset(out, 0, KVS_SEG_HEADER_SIZE);
    memcpy(out, seg_magic, sizeof(seg_magic));
    kvs__store32(out + 8, KVS_FORMAT_VERSION);
    kvs__store32(out + 12, KVS_SEG_HEADER_SIZE);
    kvs__store32(out + 16, id);
    kvs__store32(out + 20, flags);
    kvs__store64(out + 24, epoch);
    kvs__store64(out + 32, seed);
    kvs__store32(out + 60, kvs__crc32c(0, out, 60));
}

static struct kvs_segment *seg_alloc(uint32_t id, int fd)
{
    struct kvs_segment *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->id = id;
    s->fd = fd;
    pthread_mutex_init(&s->grow_mutex, NULL);
    pthread_mutex_init(&s->fd_mutex, NULL);
    atomic_init(&s->refs, 1);
    return s;
}

static void seg_free(struct kvs_segment *s)
{
    if (s->slot_cell) {
        struct kvs_segment *self = s;
        atomic_compare_exchange_strong(s->slot_cell, &self, NULL);
    }
    pthread_mutex_destroy(&s->grow_mutex);
    pthread_mutex_destroy(&s->fd_mutex);
    kvs__io_unmap(s->base, s->map_bytes);
    if (s->fd >= 0)
        kvs__io_close(s->fd);
    free(s);
}

int kvs__seg_create(int dirfd, uint32_t id, uint64_t epoch, uint32_t flags, uint64_t seed,
                    uint64_t capacity, enum kvs_seg_writes writes, struct kvs_segment **out)
{
    char name[KVS_SEG_NAME_MAX];
    kvs__seg_name(name, id, "log");
    *out = NULL;
    capacity = KVS_MAX(capacity, (uint64_t)KVS_SEG_HEADER_SIZE + KVS_REC_HEADER_SIZE);
    int fd = kvs__io_openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL, 0644);
    if (fd < 0)
        return KVS_EIO;
    struct kvs_segment *s = seg_alloc(id, fd);
    if (!s) {
        kvs__io_close(fd);
        kvs__io_unlinkat(dirfd, name);
        return KVS_ENOMEM;
    }
    s->epoch = epoch;
    s->flags = flags;
    s->map_bytes = capacity;
    s->tail = KVS_SEG_HEADER_SIZE;
    int rc = KVS_EIO;
    bool write_through = writes == KVS_SEG_WRITE_THROUGH;
    s->write_through = write_through;
    s->small_pages = writes == KVS_SEG_MAPPED_SMALL;
    s->base = kvs__io_map(fd, capacity, !write_through,
                          s->small_pages ? KVS_PAGES_SMALL : KVS_PAGES_HUGE);
    if (s->base && kvs__seg_reserve(s, 0) == KVS_OK) {
        uint8_t h[KVS_SEG_HEADER_SIZE];
        kvs__seg_header_encode(h, id, epoch, flags, seed);
        if (!write_through)
            memcpy(s->base, h, sizeof(h));
        if (!write_through || kvs__io_pwrite_all(fd, h, sizeof(h), 0) == 0) {
            *out = s;
            return KVS_OK;
        }
    }
    int saved = errno;
    seg_free(s);
    kvs__io_unlinkat(dirfd, name);
    errno = saved;
    return rc;
}

static int seg_header_check(const uint8_t *h, uint32_t id, struct kvs_segment *s, uint64_t *seed)
{
    static const uint8_t zeros[KVS_SEG_HEADER_SIZE];
    if (memcmp(h, zeros, sizeof(zeros)) == 0)
        return KVS_NOT_FOUND;
    if (memcmp(h, seg_magic, sizeof(seg_magic)) != 0)
        return KVS_ECORRUPT;
    if (kvs__crc32c(0, h, 60) != kvs__load32(h + 60))
        return KVS_ECORRUPT;
    uint32_t version = kvs__load32(h + 8);
    if (version < 1 || version > KVS_FORMAT_VERSION)
        return KVS_EVERSION;
    if (kvs__load32(h + 12) != KVS_SEG_HEADER_SIZE || kvs__load32(h + 16) != id)
        return KVS_ECORRUPT;
    s->flags = kvs__load32(h + 20);
    s->epoch = kvs__load64(h + 24);
    *seed = kvs__load64(h + 32);
    return KVS_OK;
}

int kvs__seg_open(int dirfd, uint32_t id, bool writable, struct kvs_segment **out,
                  uint64_t *seed)
{
    char name[KVS_SEG_NAME_MAX];
    kvs__seg_name(name, id, "log");
    *out = NULL;
    int fd = kvs__io_openat(dirfd, name, writable ? O_RDWR : O_RDONLY, 0);
    if (fd < 0)
        return KVS_EIO;
    struct kvs_segment *s = seg_alloc(id, fd);
    if (!s) {
        kvs__io_close(fd);
        return KVS_ENOMEM;
    }
    uint64_t size;
    if (kvs__io_file_size(fd, &size) < 0) {
        seg_free(s);
        return KVS_EIO;
    }
    if (size < KVS_SEG_HEADER_SIZE) {
        /* Shorter than a header: only a crash during creation leaves this,
         * and then the bytes that are there are zeros. */
        uint8_t h[KVS_SEG_HEADER_SIZE] = {0};
        int rc = size && kvs__io_pread_all(fd, h, size, 0) < 0 ? KVS_EIO : KVS_NOT_FOUND;
        static const uint8_t zeros[KVS_SEG_HEADER_SIZE];
        if (rc == KVS_NOT_FOUND && memcmp(h, zeros, sizeof(h)) != 0)
            rc = KVS_ECORRUPT;
        seg_free(s);
        return rc;
    }
    if (size > SIZE_MAX / 2) {
        seg_free(s);
        return KVS_ECORRUPT;
    }
    /* A writable mapping leaves room to seal a segment a crash left open. */
    s->map_bytes = size + (writable ? KVS_REC_HEADER_SIZE : 0);
    s->file_bytes = size;
    s->grown_bytes = size;
    s->tail = size;
    /* read from disk: no 2 MiB reads per fault, but huge pages for the
     * huge folios a writer of this file left in the page cache */
    s->base = kvs__io_map(fd, s->map_bytes, writable, KVS_PAGES_ALIGNED);
    if (!s->base) {
        seg_free(s);
        return KVS_EIO;
    }
    int rc = seg_header_check(s->base, id, s, seed);
    if (rc != KVS_OK) {
        seg_free(s);
        return rc;
    }
    kvs__io_close(s->fd); /* the mapping stays */
    s->fd = -1;
    *out = s;
    return KVS_OK;
}

int kvs__seg_open_fd(int dirfd, struct kvs_segment *s)
{
    if (s->fd >= 0)
        return KVS_OK;
    char name[KVS_SEG_NAME_MAX];
    kvs__seg_name(name, s->id, "log");
    s->fd = kvs__io_openat(dirfd, name, O_RDWR, 0);
    return s->fd >= 0 ? KVS_OK : KVS_EIO;
}

int kvs__seg_datasync_at(KVS_IO_SITE, struct kvs_segment *s)
{
    pthread_mutex_lock(&s->fd_mutex);
    int rc = s->fd >= 0 ? kvs__io_datasync_at(func_, line_, s->fd) : 0;
    int err = errno;
    pthread_mutex_unlock(&s->fd_mutex);
    errno = err;
    return rc;
}

void kvs__seg_close_fd(struct kvs_segment *s)
{
    pthread_mutex_lock(&s->fd_mutex);
    if (s->fd >= 0 && atomic_load(&s->sealed) && atomic_load(&s->synced)) {
        kvs__io_close(s->fd);
        s->fd = -1;
    }
    pthread_mutex_unlock(&s->fd_mutex);
}

/*
 * Grow to len; *have receives the file length reached. Only the allocation
 * is made under grow_mutex. The new pages are faulted in after it is
 * released, so that the writer, needing room the grow-ahead thread has
 * already allocated, never waits for that thread to zero a whole step:
 * with both CPUs busy (a writer and a compaction), the thread could be
 * preempted holding the mutex for a scheduler slice while the writer
 * stood still (a quarter of an overwrite run's wall time, perf sched).
 * A page the writer reaches before the prefault does is faulted in by the
 * writer, as without the thread.
 */
static int grow_locked(struct kvs_segment *s, uint64_t len, uint64_t *have)
{
    int rc = KVS_OK;
    uint64_t from = 0, to = 0;
    pthread_mutex_lock(&s->grow_mutex);
    len = KVS_MIN(len, s->map_bytes);
    if (!s->grow_closed && len > s->grown_bytes) {
        if (kvs__io_allocate(s->fd, s->grown_bytes, len - s->grown_bytes) < 0) {
            rc = KVS_EIO;
        } else {
            from = s->grown_bytes & ~(uint64_t)4095;
            to = len;
            s->grown_bytes = len;
        }
    }
    *have = s->grown_bytes;
    pthread_mutex_unlock(&s->grow_mutex);
    /* One call faults in the new pages for writing, instead of one page
     * fault (and one file system callback) per 4 KiB later. Only a hint:
     * past a seal's truncation it fails harmlessly. */
    if (to > from && !s->write_through)
        kvs__io_prefault_write(s->base + from, to - from);
    return rc;
}

int kvs__seg_grow(struct kvs_segment *s, uint64_t len)
{
    uint64_t have;
    return grow_locked(s, len, &have);
}

int kvs__seg_reserve(struct kvs_segment *s, uint64_t need)
{
    uint64_t want = s->tail + need + KVS_REC_HEADER_SIZE; /* always room for the seal */
    if (want > s->map_bytes)
        return KVS_ETOOBIG;
    if (want <= s->file_bytes)
        return KVS_OK;
    uint64_t step = KVS_SEG_GROW_BYTES;
    uint64_t have;
    int rc = grow_locked(s, (want + step - 1) / step * step, &have);
    /* also what the grow-ahead thread reached, if it got further */
    s->file_bytes = KVS_MAX(s->file_bytes, have);
    return rc == KVS_OK && want <= s->file_bytes ? KVS_OK : KVS_EIO;
}

uint64_t kvs__seg_ahead_due(struct kvs_segment *s)
{
    uint64_t frontier = KVS_MAX(s->ahead_asked, s->file_bytes);
    if (s->write_through || frontier >= s->map_bytes || s->tail + KVS_SEG_AHEAD_LEAD < frontier)
        return 0;
    s->ahead_asked = KVS_MIN(frontier + KVS_SEG_GROW_BYTES, s->map_bytes);
    return s->ahead_asked;
}

static int append_through(struct kvs_segment *s, enum kvs_rec_type type, uint64_t expire,
                          const void *key, size_t klen, const void *val, size_t vlen)
{
    uint8_t hdr[KVS_REC_HEADER_MAX];
    kvs__rec_header(hdr, type, expire, key, klen, val, vlen);
    struct iovec iov[3] = {
        {.iov_base = hdr, .iov_len = kvs__rec_header_size((uint8_t)type)},
        {.iov_base = (void *)key, .iov_len = klen},
        {.iov_base = (void *)val, .iov_len = vlen},
    };
    int n = vlen ? 3 : klen ? 2 : 1;
    return kvs__io_pwritev_all(s->fd, iov, n, s->tail) == 0 ? KVS_OK : KVS_EIO;
}

int kvs__seg_append(struct kvs_segment *s, enum kvs_rec_type type, const void *key, size_t klen,
                    const void *val, size_t vlen, uint64_t *off)
{
    return kvs__seg_append_x(s, type, 0, key, klen, val, vlen, off);
}

int kvs__seg_append_x(struct kvs_segment *s, enum kvs_rec_type type, uint64_t expire,
                      const void *key, size_t klen, const void *val, size_t vlen, uint64_t *off)
{
    uint64_t size = kvs__rec_size_of(type, klen, vlen);
    KVS_ASSERT(s->tail + size <= s->file_bytes);
    *off = s->tail;
    if (s->write_through) {
        int rc = append_through(s, type, expire, key, klen, val, vlen);
        if (rc != KVS_OK)
            return rc;
        s->tail += size;
        return KVS_OK;
    }
    if (type == KVS_REC_BATCH) {
        /* The header first: a batch cut short by a crash then still says
         * where it ends, so that recovery does not take the intact records
         * inside it for records of their own (kvs__seg_skip_bad). Its
         * checksum covers the whole batch, so it fails until the last byte
         * is in place. */
        kvs__rec_header(s->base + s->tail, type, expire, key, klen, val, vlen);
        memcpy(s->base + s->tail + KVS_REC_HEADER_SIZE, val, vlen);
    } else {
        kvs__rec_encode(s->base + s->tail, type, expire, key, klen, val, vlen);
    }
    s->tail += size;
    /* The next record goes right here: fetch its lines for writing now. */
    __builtin_prefetch(s->base + s->tail, 1);
    __builtin_prefetch(s->base + s->tail + 64, 1);
    __builtin_prefetch(s->base + s->tail + 128, 1);
    return KVS_OK;
}

int kvs__seg_seal(struct kvs_segment *s)
{
    KVS_ASSERT(!s->sealed);
    KVS_ASSERT(s->tail + KVS_REC_HEADER_SIZE <= s->file_bytes);
    uint64_t at;
    int rc = kvs__seg_append(s, KVS_REC_SEAL, NULL, 0, NULL, 0, &at);
    if (rc != KVS_OK)
        return rc;
    /* No growing from here on; the trim below also covers what the
     * grow-ahead thread added past the owner's file_bytes. */
    pthread_mutex_lock(&s->grow_mutex);
    s->grow_closed = true;
    s->file_bytes = KVS_MAX(s->file_bytes, s->grown_bytes);
    pthread_mutex_unlock(&s->grow_mutex);
    /* Trimming only gives back the reserved blocks; a failure leaves zeros
     * after the seal, which recovery accepts. */
    if (s->file_bytes > s->tail && kvs__io_truncate(s->fd, s->tail) == 0)
        s->file_bytes = s->tail;
    /* Drop the writable page table entries (the pages stay in the page
     * cache, dirty): otherwise writing back each dirty page (fdatasync, or
     * the kernel's flusher) must write-protect it and interrupt every CPU
     * running this process to flush its TLB. Readers fault the pages back
     * in, read-only, and see the same bytes throughout. */
    if (!s->write_through)
        kvs__io_drop_page_tables(s->base, s->tail);
    atomic_store_explicit(&s->sealed, true, memory_order_release);
    return KVS_OK;
}

int kvs__seg_cut(struct kvs_segment *s, uint64_t len)
{
    KVS_ASSERT(len >= KVS_SEG_HEADER_SIZE && len <= s->file_bytes);
    if (kvs__io_truncate(s->fd, len) < 0)
        return KVS_EIO;
    pthread_mutex_lock(&s->grow_mutex);
    s->grown_bytes = len;
    pthread_mutex_unlock(&s->grow_mutex);
    s->file_bytes = len;
    s->tail = len;
    return KVS_OK;
}

void kvs__seg_ref(struct kvs_segment *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void kvs__seg_unref(struct kvs_segment *s)
{
    if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
        seg_free(s);
}

/* Where the records of a batch that does not verify as a whole stop: the
 * end it claims, if the data reaches it (the records in it belong to it,
 * damaged or not), else past those of its records that made it (a batch cut
 * short by the end of the data). off + 1 if there is no batch header at off. */
static uint64_t past_bad_batch(const struct kvs_segment *s, uint64_t off, uint64_t end)
{
    const uint8_t *h = s->base + off;
    if (off + KVS_REC_HEADER_SIZE > end || h[4] != KVS_REC_BATCH || kvs__load16(h + 5) != 0)
        return off + 1;
    uint64_t vlen = kvs__load32(h + 7);
    if (vlen < KVS_REC_HEADER_SIZE + 1 || vlen > KVS_REC_BATCH_MAX)
        return off + 1;
    uint64_t batch_end = off + KVS_REC_HEADER_SIZE + vlen;
    if (batch_end <= end)
        return batch_end;
    uint64_t p = off + KVS_REC_HEADER_SIZE;
    struct kvs_rec in;
    while (p < end && kvs__rec_decode(s->base + p, end - p, &in) == KVS_REC_OK &&
           (kvs__rec_is_put(in.type) || in.type == KVS_REC_DEL))
        p += in.size;
    return KVS_MAX(p, off + 1);
}

uint64_t kvs__seg_skip_bad(const struct kvs_segment *s, uint64_t off, uint64_t end)
{
    return kvs__seg_next_intact(s, past_bad_batch(s, off, end), end);
}

uint64_t kvs__seg_next_intact(const struct kvs_segment *s, uint64_t from, uint64_t end)
{
    for (uint64_t p = from; p + KVS_REC_HEADER_SIZE <= end; p++) {
        uint8_t t = kvs__rec_type_at(s->base + p);
        if (t != KVS_REC_PUT && t != KVS_REC_DEL && t != KVS_REC_SEAL && t != KVS_REC_PUTX &&
            t != KVS_REC_BATCH)
            continue;
        struct kvs_rec r;
        if (kvs__rec_decode(s->base + p, end - p, &r) == KVS_REC_OK)
            return p;
    }
    return end;
}
