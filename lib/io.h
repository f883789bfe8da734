/*
 * Every system call that touches the store's files goes through here, so
 * that tests can make any of them fail (kvs__io_set_fault) and so that the
 * rest of the library never deals with EINTR or short transfers.
 *
 * All functions return 0 on success and -1 with errno set on failure
 * (kvs__io_map returns NULL instead).
 */
#ifndef KVS_IO_H
#define KVS_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum kvs_io_op {
    KVS_IO_OPEN,
    KVS_IO_READ,
    KVS_IO_WRITE,
    KVS_IO_ALLOCATE, /* growing a file: where a full disk shows up */
    KVS_IO_TRUNCATE,
    KVS_IO_SYNC,     /* fdatasync of a data file */
    KVS_IO_SYNC_DIR, /* fsync of the directory */
    KVS_IO_RENAME,
    KVS_IO_UNLINK,
    KVS_IO_MAP,
    KVS_IO_LINK,     /* a hard link (backup) */
    KVS_IO_OP_COUNT_
};

/*
 * Test hook: called before each operation; a non-zero return is used as
 * errno and the operation fails without being attempted. NULL (the default)
 * disables injection. Not exported from the shared library.
 */
typedef int (*kvs_io_fault_fn)(enum kvs_io_op op, void *ctx);
void kvs__io_set_fault(kvs_io_fault_fn fn, void *ctx);

int kvs__io_openat(int dirfd, const char *name, int flags, mode_t mode);
int kvs__io_close(int fd);
int kvs__io_pread_all(int fd, void *buf, size_t len, uint64_t off);
int kvs__io_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);
struct iovec;
/* Write n buffers one after the other at off, all of them. */
int kvs__io_pwritev_all(int fd, const struct iovec *iov, int n, uint64_t off);
/* Reserve blocks for [off, off + len) and grow the file to cover it. */
int kvs__io_allocate(int fd, uint64_t off, uint64_t len);
int kvs__io_truncate(int fd, uint64_t len);
int kvs__io_datasync(int fd);
int kvs__io_sync_dir(int dirfd);
int kvs__io_renameat(int dirfd, const char *from, const char *to);
int kvs__io_unlinkat(int dirfd, const char *name);
/* A hard link to from (in from_dir) named to (in to_dir). */
int kvs__io_linkat(int from_dir, const char *from, int to_dir, const char *to);
int kvs__io_file_size(int fd, uint64_t *size);
/* Read a whole file of at most max_len bytes into a malloc'ed buffer.
 * Returns 0, or -1 with errno (ENOENT if absent, EFBIG if over max_len). */
int kvs__io_read_file(int dirfd, const char *name, uint64_t max_len, uint8_t **buf,
                      size_t *len);
/* What page sizes a mapping should get (see kvs__io_map). */
enum kvs_io_pages {
    KVS_PAGES_SMALL,   /* small pages only, no read-ahead on faults */
    KVS_PAGES_ALIGNED, /* on a 2 MiB boundary: huge folios already cached map as huge pages */
    KVS_PAGES_HUGE,    /* aligned, and new page cache folios are made huge */
};

/* Shared mapping of [0, len) of fd, read-only or read-write. */
void *kvs__io_map(int fd, size_t len, int writable, enum kvs_io_pages pages);
void kvs__io_unmap(void *addr, size_t len);
/* Drop the page table entries of part of a shared file mapping; the data
 * stays in the page cache and is faulted back in on the next access. */
void kvs__io_drop_page_tables(void *addr, size_t len);
/* Map in the page table entries of [addr, addr + len) for reading, in one
 * call rather than one page fault at a time (best effort). */
void kvs__io_prefault_read(void *addr, size_t len);
/* Fault in [addr, addr + len) for writing ahead of use (best effort). */
void kvs__io_prefault_write(void *addr, size_t len);
/* From now on, faults in [addr, addr + len) create huge folios (a hint). */
void kvs__io_want_huge_pages(void *addr, size_t len);

#endif
