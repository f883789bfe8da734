/*
 * The directory lock: an flock() on DIR/LOCK. flock locks belong to the open
 * file description, so a second kvs_open in the same process conflicts too
 * (fcntl locks would not), and the kernel drops the lock when the process
 * dies, so a crash never leaves a stale lock behind.
 */
#include <errno.h>
#include <fcntl.h>

#include "io.h"
#include "lock.h"
#include "store.h"

int kvs__lock_dir(int dirfd, bool read_only, int *lock_fd)
{
    *lock_fd = -1;
    int fd = kvs__io_openat(dirfd, KVS_LOCK_FILE_NAME, O_RDWR | O_CREAT, 0644);
    if (fd < 0 && read_only)
        fd = kvs__io_openat(dirfd, KVS_LOCK_FILE_NAME, O_RDONLY, 0);
    if (fd < 0)
        return KVS_EIO;
    if (kvs__io_lock(fd) < 0) {
        int busy = errno == EWOULDBLOCK;
        kvs__io_close(fd);
        return busy ? KVS_EBUSY : KVS_EIO;
    }
    *lock_fd = fd;
    return KVS_OK;
}

void kvs__unlock_dir(int lock_fd)
{
    kvs__io_unlock(lock_fd);
    kvs__io_close(lock_fd);
}
