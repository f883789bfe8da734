/*
 * Every system call that touches the store's files goes through here, so
 * that tests can make any of them fail (kvs__io_set_fault, kvs__io_set_hooks)
 * or watch them (the power-cut recorder of tests/faults), and so that the
 * rest of the library never deals with EINTR or short transfers.
 *
 * All functions return 0 on success and -1 with errno set on failure
 * (kvs__io_map returns NULL instead, kvs__io_openat the descriptor).
 *
 * Most of them are macros that pass the calling function and line along
 * (KVS_IO_HERE), so that a test hook knows the call site; the functions
 * themselves are the *_at names.
 */
#ifndef KVS_IO_H
#define KVS_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
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
    KVS_IO_UNLINK,   /* unlink, and rmdir (backup) */
    KVS_IO_MAP,
    KVS_IO_LINK,     /* a hard link (backup) */
    KVS_IO_STAT,     /* fstat / fstatat / fstatvfs */
    KVS_IO_LIST,     /* opendir, and each readdir */
    KVS_IO_LOCK,     /* flock of the LOCK file */
    KVS_IO_MKDIR,    /* mkdir, mkdtemp */
    KVS_IO_OP_COUNT_
};

/*
 * Test hook: called before each operation; a non-zero return is used as
 * errno and the operation fails without being attempted. NULL (the default)
 * disables injection. Not exported from the shared library.
 */
typedef int (*kvs_io_fault_fn)(enum kvs_io_op op, void *ctx);
void kvs__io_set_fault(kvs_io_fault_fn fn, void *ctx);

/* One call, as the hooks of kvs__io_set_hooks see it. */
struct kvs_io_call {
    enum kvs_io_op op;
    const char *func;  /* the library function that made the call */
    int line;          /* and where in it */
    int fd;            /* the file or directory operated on; -1 if by name only */
    const char *name;  /* open, unlink, rename (source), mkdir, stat by name */
    const char *name2; /* rename (destination), link (destination) */
    int flags;         /* open flags */
    uint64_t off;      /* read, write, allocate */
    uint64_t len;      /* read, write, allocate; truncate: the new length */
};

/* Or'ed with an errno by an inject hook: a write (or an allocation) does the
 * first half of its bytes, then fails with that errno, as a write that the
 * disk cut short and whose retry found no space. Other calls just fail. */
#define KVS_IO_FAULT_SHORT 0x10000

enum kvs_io_phase {
    KVS_IO_BEFORE, /* the call is about to be made (after injection let it) */
    KVS_IO_AFTER   /* it was made: result is its return value, err its errno */
};

/*
 * Test hooks, richer than kvs__io_set_fault: inject (may be NULL) decides a
 * call's fate (0, an errno, or KVS_IO_FAULT_SHORT | errno); observe (may be
 * NULL) sees every call before and after it is made, failed ones included
 * (an injected failure is seen AFTER only). Both are called from whatever
 * thread makes the call, possibly from several at once. NULL turns them
 * off; the hooks struct must outlive its use. Not exported from the shared
 * library; costs one predicted branch per call when off.
 */
typedef int (*kvs_io_inject_fn)(const struct kvs_io_call *call, void *ctx);
typedef void (*kvs_io_observe_fn)(const struct kvs_io_call *call, enum kvs_io_phase phase,
                                  int result, int err, void *ctx);
struct kvs_io_hooks {
    kvs_io_inject_fn inject;
    kvs_io_observe_fn observe;
    void *ctx;
};
void kvs__io_set_hooks(const struct kvs_io_hooks *hooks);

#define KVS_IO_HERE __func__, __LINE__
#define KVS_IO_SITE const char *func_, int line_

int kvs__io_openat_at(KVS_IO_SITE, int dirfd, const char *name, int flags, mode_t mode);
#define kvs__io_openat(...) kvs__io_openat_at(KVS_IO_HERE, __VA_ARGS__)
/* A directory, by path, for reading (O_DIRECTORY). */
int kvs__io_open_dir_at(KVS_IO_SITE, const char *path);
#define kvs__io_open_dir(...) kvs__io_open_dir_at(KVS_IO_HERE, __VA_ARGS__)
int kvs__io_close(int fd);
int kvs__io_pread_all_at(KVS_IO_SITE, int fd, void *buf, size_t len, uint64_t off);
#define kvs__io_pread_all(...) kvs__io_pread_all_at(KVS_IO_HERE, __VA_ARGS__)
int kvs__io_pwrite_all_at(KVS_IO_SITE, int fd, const void *buf, size_t len, uint64_t off);
#define kvs__io_pwrite_all(...) kvs__io_pwrite_all_at(KVS_IO_HERE, __VA_ARGS__)
struct iovec;
/* Write n buffers one after the other at off, all of them. */
int kvs__io_pwritev_all_at(KVS_IO_SITE, int fd, const struct iovec *iov, int n, uint64_t off);
#define kvs__io_pwritev_all(...) kvs__io_pwritev_all_at(KVS_IO_HERE, __VA_ARGS__)
/* Reserve blocks for [off, off + len) and grow the file to cover it. */
int kvs__io_allocate_at(KVS_IO_SITE, int fd, uint64_t off, uint64_t len);
#define kvs__io_allocate(...) kvs__io_allocate_at(KVS_IO_HERE, __VA_ARGS__)
int kvs__io_truncate_at(KVS_IO_SITE, int fd, uint64_t len);
#define kvs__io_truncate(...) kvs__io_truncate_at(KVS_IO_HERE, __VA_ARGS__)
int kvs__io_datasync_at(KVS_IO_SITE, int fd);
#define kvs__io_datasync(...) kvs__io_datasync_at(KVS_IO_HERE, __VA_ARGS__)
int kvs__io_sync_dir_at(KVS_IO_SITE, int dirfd);
#define kvs__io_sync_dir(...) kvs__io_sync_dir_at(KVS_IO_HERE, __VA_ARGS__)
/* Both names relative to dirfd (AT_FDCWD: paths). */
int kvs__io_renameat_at(KVS_IO_SITE, int dirfd, const char *from, const char *to);
#define kvs__io_renameat(...) kvs__io_renameat_at(KVS_IO_HERE, __VA_ARGS__)
int kvs__io_unlinkat_at(KVS_IO_SITE, int dirfd, const char *name);
#define kvs__io_unlinkat(...) kvs__io_unlinkat_at(KVS_IO_HERE, __VA_ARGS__)
/* Remove an empty directory (a path). */
int kvs__io_rmdir_at(KVS_IO_SITE, const char *path);
#define kvs__io_rmdir(...) kvs__io_rmdir_at(KVS_IO_HERE, __VA_ARGS__)
/* mkdir(path, 0755); EEXIST is the caller's to judge. */
int kvs__io_mkdir_at(KVS_IO_SITE, const char *path);
#define kvs__io_mkdir(...) kvs__io_mkdir_at(KVS_IO_HERE, __VA_ARGS__)
/* mkdtemp(tmpl) */
int kvs__io_mkdtemp_at(KVS_IO_SITE, char *tmpl);
#define kvs__io_mkdtemp(...) kvs__io_mkdtemp_at(KVS_IO_HERE, __VA_ARGS__)
/* A hard link to from (in from_dir) named to (in to_dir). */
int kvs__io_linkat_at(KVS_IO_SITE, int from_dir, const char *from, int to_dir, const char *to);
#define kvs__io_linkat(...) kvs__io_linkat_at(KVS_IO_HERE, __VA_ARGS__)
int kvs__io_file_size_at(KVS_IO_SITE, int fd, uint64_t *size);
#define kvs__io_file_size(...) kvs__io_file_size_at(KVS_IO_HERE, __VA_ARGS__)
/* fstatat(dirfd, name) (dirfd AT_FDCWD: a path), following links. */
int kvs__io_stat_at(KVS_IO_SITE, int dirfd, const char *name, struct stat *st);
#define kvs__io_stat(...) kvs__io_stat_at(KVS_IO_HERE, __VA_ARGS__)
/* Bytes free for an unprivileged user on the file system holding fd. */
int kvs__io_fs_avail_at(KVS_IO_SITE, int fd, uint64_t *bytes);
#define kvs__io_fs_avail(...) kvs__io_fs_avail_at(KVS_IO_HERE, __VA_ARGS__)
/* flock(fd, LOCK_EX | LOCK_NB): EWOULDBLOCK when another holds it. */
int kvs__io_lock_at(KVS_IO_SITE, int fd);
#define kvs__io_lock(...) kvs__io_lock_at(KVS_IO_HERE, __VA_ARGS__)
void kvs__io_unlock(int fd);
/* Read a whole file of at most max_len bytes into a buffer from
 * kvs__big_alloc (free it with kvs__big_free(buf, len)). Returns 0, or -1
 * with errno (ENOENT if absent, EFBIG if over max_len). */
int kvs__io_read_file_at(KVS_IO_SITE, int dirfd, const char *name, uint64_t max_len,
                         uint8_t **buf, size_t *len);
#define kvs__io_read_file(...) kvs__io_read_file_at(KVS_IO_HERE, __VA_ARGS__)

/*
 * Listing a directory: the names in it but "." and "..". kvs__io_dir_next
 * returns NULL at the end with errno 0, or NULL with errno set when reading
 * the directory failed (a listing cut short must not pass for a whole one).
 */
struct kvs_io_dir;
struct kvs_io_dir *kvs__io_dir_open_at(KVS_IO_SITE, int dirfd);
#define kvs__io_dir_open(...) kvs__io_dir_open_at(KVS_IO_HERE, __VA_ARGS__)
const char *kvs__io_dir_next_at(KVS_IO_SITE, struct kvs_io_dir *d);
#define kvs__io_dir_next(...) kvs__io_dir_next_at(KVS_IO_HERE, __VA_ARGS__)
void kvs__io_dir_close(struct kvs_io_dir *d);

/* What page sizes a mapping should get (see kvs__io_map). */
enum kvs_io_pages {
    KVS_PAGES_SMALL,   /* small pages only, no read-ahead on faults */
    KVS_PAGES_ALIGNED, /* on a 2 MiB boundary: huge folios already cached map as huge pages */
    KVS_PAGES_HUGE,    /* aligned, and new page cache folios are made huge */
};

/* Shared mapping of [0, len) of fd, read-only or read-write. */
void *kvs__io_map_at(KVS_IO_SITE, int fd, size_t len, int writable, enum kvs_io_pages pages);
#define kvs__io_map(...) kvs__io_map_at(KVS_IO_HERE, __VA_ARGS__)
void kvs__io_unmap(void *addr, size_t len);
/* Drop the page table entries of part of a shared file mapping; the data
 * stays in the page cache and is faulted back in on the next access. */
void kvs__io_drop_page_tables(void *addr, size_t len);
/* Map in the page table entries of [addr, addr + len) for reading, in one
 * call rather than one page fault at a time (best effort). */
void kvs__io_prefault_read(void *addr, size_t len);
/*
 * Start reading the file's first head and last tail bytes (both 0: the whole
 * file) into the page cache, without waiting for them: reads made next then
 * find them there or in flight, all at once on the disk instead of one after
 * the other. Advice only: never fails and is not a fault-injection site.
 * Returns whether the file exists.
 */
bool kvs__io_read_ahead(int dirfd, const char *name, uint64_t head, uint64_t tail);
/* Fault in [addr, addr + len) for writing ahead of use (best effort). */
void kvs__io_prefault_write(void *addr, size_t len);
/* From now on, faults in [addr, addr + len) create huge folios (a hint). */
void kvs__io_want_huge_pages(void *addr, size_t len);

#endif
