/*
 * The OBSOLETE file: the list of segments a finished compaction replaced.
 * It makes the deletion of several files atomic: once it is durable, the old
 * segments are dead even if the process dies before unlinking all of them
 * (kvs_open finishes the job). Without it, a crash half-way through the
 * deletions could resurrect a value whose tombstone compaction dropped.
 */
#ifndef KVS_OBSOLETE_H
#define KVS_OBSOLETE_H

#include <stddef.h>
#include <stdint.h>

#define KVS_OBSOLETE_NAME "OBSOLETE"

/* Write the list durably (tmp file, fdatasync, rename, directory fsync).
 * The ids an existing OBSOLETE lists stay listed (their files could not all
 * be deleted yet). */
int kvs__obsolete_write(int dirfd, const uint32_t *ids, size_t n);
/* The same; *listed receives every id written (malloc'ed, *nlisted of them). */
int kvs__obsolete_write_listed(int dirfd, const uint32_t *ids, size_t n, uint32_t **listed,
                               size_t *nlisted);

/* Read the list: KVS_OK (*ids malloc'ed), KVS_NOT_FOUND, KVS_ECORRUPT, KVS_EIO. */
int kvs__obsolete_read(int dirfd, uint32_t **ids, size_t *n);

/* Remove the list once every file it names is gone. */
int kvs__obsolete_remove(int dirfd);

#endif
