/* The file I/O layer (see io.h): retries, fault injection, nothing else. */
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <unistd.h>

static _Atomic(kvs_io_fault_fn) io_fault_fn;
static void *_Atomic io_fault_ctx;

void kvs__io_set_fault(kvs_io_fault_fn fn, void *ctx)
{
    atomic_store(&io_fault_ctx, ctx);
    atomic_store(&io_fault_fn, fn);
}

/* Returns 1 (errno set) if the test hook wants this operation to fail. */
static int io_fault(enum kvs_io_op op)
{
    kvs_io_fault_fn fn = atomic_load_explicit(&io_fault_fn, memory_order_acquire);
    if (__builtin_expect(fn == NULL, 1))
        return 0;
    int err = fn(op, atomic_load(&io_fault_ctx));
    if (err == 0)
        return 0;
    errno = err;
    return 1;
}

int kvs__io_openat(int dirfd, const char *name, int flags, mode_t mode)
{
    if (io_fault(KVS_IO_OPEN))
        return -1;
    int fd;
    do
        fd = openat(dirfd, name, flags | O_CLOEXEC, mode);
    while (fd < 0 && errno == EINTR);
    return fd;
}

int kvs__io_close(int fd)
{
    int saved = errno;
    int rc = close(fd);
    errno = saved;
    return rc;
}

int kvs__io_pread_all(int fd, void *buf, size_t len, uint64_t off)
{
    if (io_fault(KVS_IO_READ))
        return -1;
    char *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0) {
            errno = EIO; /* the file is shorter than it should be */
            return -1;
        }
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

int kvs__io_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
    if (io_fault(KVS_IO_WRITE))
        return -1;
    const char *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

int kvs__io_pwritev_all(int fd, const struct iovec *iov, int n, uint64_t off)
{
    if (io_fault(KVS_IO_WRITE))
        return -1;
    struct iovec v[4];
    if (n < 1 || n > 4) {
        errno = EINVAL;
        return -1;
    }
    memcpy(v, iov, (size_t)n * sizeof(*v));
    struct iovec *cur = v;
    while (n > 0) {
        ssize_t done = pwritev(fd, cur, n, (off_t)off);
        if (done < 0 && errno == EINTR)
            continue;
        if (done < 0)
            return -1;
        off += (uint64_t)done;
        /* skip what was written: whole buffers, then part of one */
        while (n > 0 && (size_t)done >= cur->iov_len) {
            done -= (ssize_t)cur->iov_len;
            cur++;
            n--;
        }
        if (n > 0) {
            cur->iov_base = (char *)cur->iov_base + done;
            cur->iov_len -= (size_t)done;
        }
    }
    return 0;
}

int kvs__io_allocate(int fd, uint64_t off, uint64_t len)
{
    if (io_fault(KVS_IO_ALLOCATE))
        return -1;
    int err;
    do
        err = posix_fallocate(fd, (off_t)off, (off_t)len);
    while (err == EINTR);
    if (err != 0) {
        errno = err;
        return -1;
    }
    return 0;
}

int kvs__io_truncate(int fd, uint64_t len)
{
    if (io_fault(KVS_IO_TRUNCATE))
        return -1;
    int rc;
    do
        rc = ftruncate(fd, (off_t)len);
    while (rc < 0 && errno == EINTR);
    return rc;
}

int kvs__io_datasync(int fd)
{
    if (io_fault(KVS_IO_SYNC))
        return -1;
    int rc;
    do
        rc = fdatasync(fd);
    while (rc < 0 && errno == EINTR);
    return rc;
}

int kvs__io_sync_dir(int dirfd)
{
    if (io_fault(KVS_IO_SYNC_DIR))
        return -1;
    int rc;
    do
        rc = fsync(dirfd);
    while (rc < 0 && errno == EINTR);
    return rc;
}

int kvs__io_renameat(int dirfd, const char *from, const char *to)
{
    if (io_fault(KVS_IO_RENAME))
        return -1;
    return renameat(dirfd, from, dirfd, to);
}

int kvs__io_unlinkat(int dirfd, const char *name)
{
    if (io_fault(KVS_IO_UNLINK))
        return -1;
    return unlinkat(dirfd, name, 0);
}

int kvs__io_linkat(int from_dir, const char *from, int to_dir, const char *to)
{
    if (io_fault(KVS_IO_LINK))
        return -1;
    return linkat(from_dir, from, to_dir, to, 0);
}

int kvs__io_file_size(int fd, uint64_t *size)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -1;
    *size = (uint64_t)st.st_size;
    return 0;
}

int kvs__io_read_file(int dirfd, const char *name, uint64_t max_len, uint8_t **buf,
                      size_t *len)
{
    *buf = NULL;
    *len = 0;
    int fd = kvs__io_openat(dirfd, name, O_RDONLY, 0);
    if (fd < 0)
        return -1;
    uint64_t size;
    int rc = kvs__io_file_size(fd, &size);
    if (rc == 0 && size > max_len) {
        errno = EFBIG;
        rc = -1;
    }
    uint8_t *p = rc == 0 ? malloc(size ? size : 1) : NULL;
    if (rc == 0 && !p) {
        errno = ENOMEM;
        rc = -1;
    }
    if (rc == 0)
        rc = kvs__io_pread_all(fd, p, size, 0);
    kvs__io_close(fd);
    if (rc < 0) {
        int saved = errno;
        free(p);
        errno = saved;
        return -1;
    }
    *buf = p;
    *len = size;
    return 0;
}

/* madvise() for advice whose failure costs only speed (an older kernel, a
 * file system without large folios): never the caller's error, so errno is
 * left as it was. */
static void advise(void *addr, size_t len, int advice)
{
    int saved = errno;
    madvise(addr, len, advice);
    errno = saved;
}

/* Boundary the segment mappings are placed on: the size of a huge page. */
#define MAP_ALIGN ((size_t)2 << 20)

/*
 * Map fd on a 2 MiB boundary. Linux (6.16+ on ext4) keeps file pages in
 * large folios, and a folio of 2 MiB placed at an aligned address is mapped
 * by one page-table entry: a random read in a segment then costs one TLB
 * entry per 2 MiB instead of per 4 KiB, which on the benchmark machine halves
 * the cost of touching a cold record. With huge, MADV_HUGEPAGE also makes the
 * folios that faults create 2 MiB ones: right for a segment being written,
 * wrong for one read from disk, where each fault would read 2 MiB. Older
 * kernels and other file systems ignore both.
 */
static void *map_aligned(int fd, size_t len, int prot, bool huge)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t mapped = (len + page - 1) / page * page;
    size_t span = mapped + MAP_ALIGN;
    uint8_t *res = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (res == MAP_FAILED)
        return NULL;
    uint8_t *at = (uint8_t *)(((uintptr_t)res + MAP_ALIGN - 1) & ~(uintptr_t)(MAP_ALIGN - 1));
    void *p = mmap(at, len, prot, MAP_SHARED | MAP_FIXED, fd, 0);
    if (p == MAP_FAILED) {
        int saved = errno;
        munmap(res, span);
        errno = saved;
        return NULL;
    }
    if (at > res)
        munmap(res, (size_t)(at - res));
    if (res + span > at + mapped)
        munmap(at + mapped, (size_t)(res + span - (at + mapped)));
    if (huge)
        advise(p, len, MADV_HUGEPAGE);
    return p;
}

void *kvs__io_map(int fd, size_t len, int writable, enum kvs_io_pages pages)
{
    if (io_fault(KVS_IO_MAP))
        return NULL;
    int prot = PROT_READ | (writable ? PROT_WRITE : 0);
    if (pages != KVS_PAGES_SMALL && len >= MAP_ALIGN)
        return map_aligned(fd, len, prot, pages == KVS_PAGES_HUGE);
    void *p = mmap(NULL, len, prot, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (pages == KVS_PAGES_SMALL) {
        /* no read-ahead on faults: pages are then cached one by one, not in
         * large folios that a sync would write back whole */
        advise(p, len, MADV_RANDOM);
    }
    return p;
}

void kvs__io_unmap(void *addr, size_t len)
{
    if (addr)
        munmap(addr, len);
}

void kvs__io_drop_page_tables(void *addr, size_t len)
{
    advise(addr, len, MADV_DONTNEED);
}

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

void kvs__io_prefault_read(void *addr, size_t len)
{
    advise(addr, len, MADV_POPULATE_READ);
}

void kvs__io_want_huge_pages(void *addr, size_t len)
{
    advise(addr, len, MADV_HUGEPAGE);
}

void kvs__io_prefault_write(void *addr, size_t len)
{
    /* Linux 5.14+; older kernels say EINVAL and the writer faults page by
     * page instead, which is only slower. */
    advise(addr, len, MADV_POPULATE_WRITE);
}
