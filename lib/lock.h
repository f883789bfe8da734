/* The directory lock (see lock.c), so that a second open, from this or
 * another process, gets KVS_EBUSY. *lock_fd is -1 when a read-only handle
 * found no LOCK file and holds only the directory's lock; that one lasts as
 * long as dirfd stays open. */
#ifndef KVS_LOCK_H
#define KVS_LOCK_H

#include <stdbool.h>

/* The lock file's name; every store directory has one (kvs_backup makes one
 * too, so that a backup opens read-only where it cannot be written). */
#define KVS_LOCK_FILE_NAME "LOCK"

int kvs__lock_dir(int dirfd, bool read_only, int *lock_fd);
void kvs__unlock_dir(int lock_fd);

#endif
