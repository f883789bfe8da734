/* The directory lock: a flock on LOCK, so that a second open, from this or
 * another process, gets KVS_EBUSY. */
#ifndef KVS_LOCK_H
#define KVS_LOCK_H

#include <stdbool.h>

int kvs__lock_dir(int dirfd, bool read_only, int *lock_fd);
void kvs__unlock_dir(int lock_fd);

#endif
