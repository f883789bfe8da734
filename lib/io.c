/* The file I/O layer (see io.h): retries, test hooks, nothing else. */
#include "io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "internal.h"

static _Atomic(kvs_io_fault_fn) io_fault_fn;
static void *_Atomic io_fault_ctx;
static const struct kvs_io_hooks *_Atomic io_hooks;
/* Either hook is set: the one flag the fast path reads. */
static atomic_bool io_hooked;

static void update_hooked(void)
{
    atomic_store(&io_hooked, atomic_load(&io_fault_fn) != NULL || atomic_load(&io_hooks) != NULL);
}

void kvs__io_set_fault(kvs_io_fault_fn fn, void *ctx)
{
    atomic_store(&io_fault_ctx, ctx);
    atomic_store(&io_fault_fn, fn);
    update_hooked();
}

void kvs__io_set_hooks(const struct kvs_io_hooks *hooks)
{
    atomic_store(&io_hooks, hooks);
    update_hooked();
}

/* What the hooks decided for a call: 0 go ahead, else an errno (possibly
 * with KVS_IO_FAULT_SHORT). Reports the injected failure to the observer. */
static KVS_COLD int hooks_before(const struct kvs_io_call *c)
{
    int err = 0;
    kvs_io_fault_fn fn = atomic_load_explicit(&io_fault_fn, memory_order_acquire);
    if (fn)
        err = fn(c->op, atomic_load(&io_fault_ctx));
    const struct kvs_io_hooks *h = atomic_load_explicit(&io_hooks, memory_order_acquire);
    if (err == 0 && h && h->inject)
        err = h->inject(c, h->ctx);
    if (h && h->observe) {
        if (err != 0 && !(err & KVS_IO_FAULT_SHORT))
            h->observe(c, KVS_IO_AFTER, -1, err, h->ctx);
        else
            h->observe(c, KVS_IO_BEFORE, 0, 0, h->ctx);
    }
    return err;
}

static KVS_COLD void hooks_after(const struct kvs_io_call *c, int result, int err)
{
    const struct kvs_io_hooks *h = atomic_load_explicit(&io_hooks, memory_order_acquire);
    if (h && h->observe)
        h->observe(c, KVS_IO_AFTER, result, err, h->ctx);
}

/* Before a call: 0 to make it (*fault receives what was injected: 0, or a
 * short write's errno | KVS_IO_FAULT_SHORT), or -1 with errno set to fail it. */
static inline int io_begin(const struct kvs_io_call *c, int *fault)
{
    *fault = 0;
    if (KVS_LIKELY(!atomic_load_explicit(&io_hooked, memory_order_relaxed)))
        return 0;
    int err = hooks_before(c);
    if (err == 0)
        return 0;
    if ((err & KVS_IO_FAULT_SHORT) &&
        (c->op == KVS_IO_WRITE || c->op == KVS_IO_ALLOCATE)) {
        *fault = err;
        return 0;
    }
    errno = err & ~KVS_IO_FAULT_SHORT;
    return -1;
}

/* After a call: tell the observer, keep errno. Returns rc. */
static inline int io_end(const struct kvs_io_call *c, int rc)
{
    if (KVS_LIKELY(!atomic_load_explicit(&io_hooked, memory_order_relaxed)))
        return rc;
    int saved = errno;
    hooks_after(c, rc, rc < 0 ? saved : 0);
    errno = saved;
    return rc;
}

#define CALL(...) struct kvs_io_call c_ = {.func = func_, .line = line_, __VA_ARGS__}

int kvs__io_openat_at(KVS_IO_SITE, int dirfd, const char *name, int flags, mode_t mode)
{
    CALL(.op = KVS_IO_OPEN, .fd = dirfd, .name = name, .flags = flags);
    int fault;
    if (io_begin(&c_, &fault) < 0)
        return -1;
    int fd;
    do
        fd = openat(dirfd, name, flags | O_CLOEXEC, mode);
    while (fd < 0 && errno == EINTR);
    return io_end(&c_, fd);
}

int kvs__io_open_dir_at(KVS_IO_SITE, const char *path)
{
    return kvs__io_openat_at(func_, line_, AT_FDCWD, path, O_RDONLY | O_DIRECTORY, 0);
}

int kvs__io_close(int fd)
{
    int saved = errno;
    int rc = close(fd);
    errno = saved;
    return rc;
}

int kvs__io_pread_all_at(KVS_IO_SITE, int fd, void *buf, size_t len, uint64_t off)
{
    CALL(.op = KVS_IO_READ, .fd = fd, .off = off, .len = len);
    int fault;
    if (io_begin(&c_, &fault) < 0)
        return -1;
    char *p = buf;
    int rc = 0;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -1;
            break;
        }
        if (n == 0) {
            errno = EIO; /* the file is shorter than it should be */
            rc = -1;
            break;
        }
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return io_end(&c_, rc);
}

/* How many bytes of len a short write makes before it fails. */
static size_t short_part(size_t len)
{
    return len / 2;
}

int kvs__io_pwrite_all_at(KVS_IO_SITE, int fd, const void *buf, size_t len, uint64_t off)
{
    CALL(.op = KVS_IO_WRITE, .fd = fd, .off = off, .len = len);
    int fault;
    if (io_begin(&c_, &fault) < 0)
        return -1;
    size_t want = fault ? short_part(len) : len;
    const char *p = buf;
    int rc = 0;
    while (want > 0) {
        ssize_t n = pwrite(fd, p, want, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -1;
            break;
        }
        p += n;
        want -= (size_t)n;
        off += (uint64_t)n;
    }
    if (rc == 0 && fault) {
        errno = fault & ~KVS_IO_FAULT_SHORT;
        rc = -1;
    }
    return io_end(&c_, rc);
}

int kvs__io_pwritev_all_at(KVS_IO_SITE, int fd, const struct iovec *iov, int n, uint64_t off)
{
    struct iovec v[4];
    if (n < 1 || n > 4) {
        errno = EINVAL;
        return -1;
    }
    memcpy(v, iov, (size_t)n * sizeof(*v));
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += v[i].iov_len;
    CALL(.op = KVS_IO_WRITE, .fd = fd, .off = off, .len = total);
    int fault;
    if (io_begin(&c_, &fault) < 0)
        return -1;
    if (fault) {
        /* keep the first half of the bytes: cut the buffers there */
        size_t keep = short_part(total);
        int k = 0;
        while (k < n && keep >= v[k].iov_len)
            keep -= v[k++].iov_len;
        if (k < n && keep > 0)
            v[k++].iov_len = keep;
        n = k;
    }
    struct iovec *cur = v;
    int rc = 0;
    while (n > 0) {
        ssize_t done = pwritev(fd, cur, n, (off_t)off);
        if (done < 0 && errno == EINTR)
            continue;
        if (done < 0) {
            rc = -1;
            break;
        }
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
    if (rc == 0 && fault) {
        errno = fault & ~KVS_IO_FAULT_SHORT;
        rc = -1;
    }
    return io_end(&c_, rc);
}

int kvs__io_allocate_at(KVS_IO_SITE, int fd, uint64_t off, uint64_t len)
{
    CALL(.op = KVS_IO_ALLOCATE, .fd = fd, .off = off, .len = len);
    int fault;
    if (io_begin(&c_, &fault) < 0)
        return -1;
    uint64_t want = fault ? short_part(len) : len;
    int err = 0;
    if (want > 0) {
        do
            err = posix_fallocate(fd, (off_t)off, (off_t)want);
        while (err == EINTR);
    }
    if (err == 0 && fault)
        err = fault & ~KVS_IO_FAULT_SHORT;
    if (err != 0)
        errno = err;
    return io_end(&c_, err != 0 ? -1 : 0);
}

int kvs__io_truncate_at(KVS_IO_SITE, int fd, uint64_t len)
{
    CALL(.op = KVS_IO_TRUNCATE, .fd = fd, .len = len);
    int fault;
    if (io_begin(&c_, &fault) < 0)
        return -1;
    int rc;
    do
        rc = ftruncate(fd, (off_t)len);
    while (rc < 0 && errno == EINTR);
    return io_end(&c_, rc);
}

int kvs__io_datasync_at(KVS_IO_SITE, int fd)
{
    CALL(.op = KVS_IO_SYNC, .fd = fd);
    int fault;
    if (io_begin(&c_, &fault) < 0)
        return -1;
    int rc;
    do
        rc = fdatasync(fd);
    while (rc < 0 && errno == EINTR);
    return io_end(&c_, rc);
}

int kvs__io_sync_dir_at(KVS_IO_SITE, int dirfd)
{
    CALL(.op = KVS_IO_SYNC_DIR, .fd = dirfd);
    int fault;
    if (io_begin(&c_, &fault) < 0)
        return -1;
    int rc;
    do
        rc = fsync(dirfd);
    while (rc < 0 && errno == EINTR);
    return io_end(&c_, rc);
}

int kvs__io_renameat_at(KVS_IO_SITE, int dirfd, const char *from, const char *to)
{
    CALL(.op = KVS_IO_RENAME, .fd = dirfd, .name = from, .name2 = to);
    int fault;
    if (io_begin(&c_, &fault) < 0)
        return -1;
    return io_end(&c_, renameat(dirfd, from, dirfd, to));
}

int kvs__io_unlinkat_at(KVS_IO_SITE, int dirfd, const char *name)
{
    CALL(.op = KVS_IO_UNLINK, .fd = dirfd, .name = name);
    int fault;
    if (io_begin(&c_, &fault) < 0)
        return -1;
    return io_end(&c_, unlinkat(dirfd, name, 0));
}

int kvs__io_rmdir_at(KVS_IO_SITE, const char *path)
{
    CALL(.op = KVS_IO_UNLINK, .fd = AT_FDCWD, .name = path);
    int fault;
    if (io_begin(&c_, &fault) < 0)
        return -1;
    return io_end(&c_, rmdir(path));
}

int kvs__io_mkdir_at(KVS_IO_SITE, const char *path)
{
    CALL(.op = KVS_IO_MKDIR, .fd = AT_FDCWD, .name = path);
    int fault;
    if (io_begin(&c_, &fault) < 0)
        return -1;
    return io_end(&c_, mkdir(path, 0755));
}

int kvs__io_mkdtemp_at(KVS_IO_SITE, char *tmpl)
{
    CALL(.op = KVS_IO_MKDIR, .fd = AT_FDCWD, .name = tmpl);
    int fault;
    if (io_begin(&c_, &fault) < 0)
        return -1;
    return io_end(&c_, mkdtemp(tmpl) ? 0 : -1);
}

int kvs__io_linkat_at(KVS_IO_SITE, int from_dir, const char *from, int to_dir, const char *to)
{
    CALL(.op = KVS_IO_LINK, .fd = from_dir, .name = from, .name2 = to);
    int fault;
    if (io_begin(&c_, &fault) < 0)
        return -1;
    return io_end(&c_, linkat(from_dir, from, to_dir, to, 0));
}

int kvs__io_file_size_at(KVS_IO_SITE, int fd, uint64_t *size)
{
    CALL(.op = KVS_IO_STAT, .fd = fd);
    int fault;
    if (io_begin(&c_, &fault) < 0)
        return -1;
    struct stat st;
    int rc = fstat(fd, &st);
    if (rc == 0)
        *size = (uint64_t)st.st_size;
    return io_end(&c_, rc);
}

int kvs__io_stat_at(KVS_IO_SITE, int dirfd, const char *name, struct stat *st)
{
    CALL(.op = KVS_IO_STAT, .fd = dirfd, .name = name);
    int fault;
    if (io_begin(&c_, &fault) < 0)
        return -1;
    return io_end(&c_, fstatat(dirfd, name, st, 0));
}

int kvs__io_fs_avail_at(KVS_IO_SITE, int fd, uint64_t *bytes)
{
    CALL(.op = KVS_IO_STAT, .fd = fd);
    int fault;
    if (io_begin(&c_, &fault) < 0)
        return -1;
    struct statvfs sv;
    int rc = fstatvfs(fd, &sv);
    if (rc == 0)
        *bytes = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
    return io_end(&c_, rc);
}

int kvs__io_lock_at(KVS_IO_SITE, int fd)
{
    CALL(.op = KVS_IO_LOCK, .fd = fd);
    int fault;
    if (io_begin(&c_, &fault) < 0)
        return -1;
    int rc;
    do
        rc = flock(fd, LOCK_EX | LOCK_NB);
    while (rc < 0 && errno == EINTR);
    return io_end(&c_, rc);
}

void kvs__io_unlock(int fd)
{
    int saved = errno;
    flock(fd, LOCK_UN);
    errno = saved;
}

int kvs__io_read_file_at(KVS_IO_SITE, int dirfd, const char *name, uint64_t max_len,
                         uint8_t **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    int fd = kvs__io_openat_at(func_, line_, dirfd, name, O_RDONLY, 0);
    if (fd < 0)
        return -1;
    uint64_t size;
    int rc = kvs__io_file_size_at(func_, line_, fd, &size);
    if (rc == 0 && size > max_len) {
        errno = EFBIG;
        rc = -1;
    }
    uint8_t *p = rc == 0 ? kvs__big_alloc((size_t)size) : NULL;
    if (rc == 0 && !p) {
        errno = ENOMEM;
        rc = -1;
    }
    if (rc == 0)
        rc = kvs__io_pread_all_at(func_, line_, fd, p, size, 0);
    kvs__io_close(fd);
    if (rc < 0) {
        int saved = errno;
        kvs__big_free(p, (size_t)size);
        errno = saved;
        return -1;
    }
    *buf = p;
    *len = size;
    return 0;
}

struct kvs_io_dir {
    DIR *d;
    int fd;
};

struct kvs_io_dir *kvs__io_dir_open_at(KVS_IO_SITE, int dirfd)
{
    CALL(.op = KVS_IO_LIST, .fd = dirfd);
    int fault;
    if (io_begin(&c_, &fault) < 0)
        return NULL;
    struct kvs_io_dir *d = malloc(sizeof(*d));
    int fd = d ? fcntl(dirfd, F_DUPFD_CLOEXEC, 0) : -1;
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    if (!dir) {
        int saved = d ? errno : ENOMEM;
        if (fd >= 0)
            close(fd);
        free(d);
        errno = saved;
        io_end(&c_, -1);
        return NULL;
    }
    rewinddir(dir); /* the duplicate shares the offset of dirfd */
    d->d = dir;
    d->fd = dirfd;
    io_end(&c_, 0);
    return d;
}

const char *kvs__io_dir_next_at(KVS_IO_SITE, struct kvs_io_dir *d)
{
    CALL(.op = KVS_IO_LIST, .fd = d->fd);
    int fault;
    if (io_begin(&c_, &fault) < 0)
        return NULL;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d->d);
        if (!de) {
            io_end(&c_, errno ? -1 : 0);
            return NULL;
        }
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            io_end(&c_, 0);
            return de->d_name;
        }
    }
}

void kvs__io_dir_close(struct kvs_io_dir *d)
{
    if (!d)
        return;
    int saved = errno;
    closedir(d->d);
    free(d);
    errno = saved;
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

static void *map(int fd, size_t len, int writable, enum kvs_io_pages pages)
{
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

void *kvs__io_map_at(KVS_IO_SITE, int fd, size_t len, int writable, enum kvs_io_pages pages)
{
    CALL(.op = KVS_IO_MAP, .fd = fd, .len = len);
    int fault;
    if (io_begin(&c_, &fault) < 0)
        return NULL;
    void *p = map(fd, len, writable, pages);
    io_end(&c_, p ? 0 : -1);
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

bool kvs__io_read_ahead(int dirfd, const char *name, uint64_t head, uint64_t tail)
{
    int saved = errno;
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        errno = saved;
        return false;
    }
    struct stat st;
    if (head == 0 && tail == 0) {
        posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
    } else if (fstat(fd, &st) == 0) {
        uint64_t size = (uint64_t)st.st_size;
        posix_fadvise(fd, 0, (off_t)KVS_MIN(head, size), POSIX_FADV_WILLNEED);
        uint64_t from = size > tail ? size - tail : 0;
        posix_fadvise(fd, (off_t)from, (off_t)(size - from), POSIX_FADV_WILLNEED);
    }
    close(fd);
    errno = saved;
    return true;
}

void kvs__io_prefault_write(void *addr, size_t len)
{
    /* Linux 5.14+; older kernels say EINVAL and the writer faults page by
     * page instead, which is only slower. */
    advise(addr, len, MADV_POPULATE_WRITE);
}
