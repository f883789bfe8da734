/*
 * The directory lock: an flock() on DIR/LOCK and on the directory itself.
 * flock locks belong to the open file description, so a second kvs_open in
 * the same process conflicts too (fcntl locks would not), and the kernel
 * drops the lock when the process dies, so a crash never leaves a stale
 * lock behind.
 *
 * LOCK is the lock every version of libkvs takes. The directory's own lock
 * (on the handle's directory descriptor, released when it is closed) is for
 * a read-only handle of a directory without a LOCK file, a copy or a backup
 * of a store, which it may not create: "a read-only handle never changes the
 * directory", and it may not be able to (another user's files, a read-only
 * medium). Writers take both, so such a reader and a writer still exclude
 * each other.
 */
#include <errno.h>
#include <fcntl.h>

#include "io.h"
#include "lock.h"
#include "store.h"

int kvs__lock_dir(int dirfd, bool read_only, int *lock_fd)
{
    *lock_fd = -1;
    if (kvs__io_lock(dirfd) < 0)
        return errno == EWOULDBLOCK ? KVS_EBUSY : KVS_EIO;
    int fd = read_only ? kvs__io_openat(dirfd, KVS_LOCK_FILE_NAME, O_RDONLY, 0)
                       : kvs__io_openat(dirfd, KVS_LOCK_FILE_NAME, O_RDWR | O_CREAT, 0644);
    if (fd < 0 && read_only && errno == ENOENT)
        return KVS_OK; /* a copy without one: the directory's lock is the lock */
    int rc = fd < 0 ? KVS_EIO : KVS_OK;
    if (rc == KVS_OK && kvs__io_lock(fd) < 0) {
        rc = errno == EWOULDBLOCK ? KVS_EBUSY : KVS_EIO;
        kvs__io_close(fd);
    }
    if (rc != KVS_OK) {
        kvs__io_unlock(dirfd);
        return rc;
    }
    *lock_fd = fd;
    return KVS_OK;
}

void kvs__unlock_dir(int lock_fd)
{
    kvs__io_unlock(lock_fd);
    kvs__io_close(lock_fd);
}
