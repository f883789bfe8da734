/*
 * Durability: group commit (concurrent writers share one fdatasync), the
 * interval thread of KVS_SYNC_INTERVAL, directory syncs.
 */
#ifndef KVS_SYNC_H
#define KVS_SYNC_H

#include <stdint.h>

struct kvs;

/* Return once every record up to write sequence seq is on stable storage. */
int kvs__sync_upto(struct kvs *db, uint64_t seq);
/* Start and stop the interval thread (KVS_SYNC_INTERVAL only). */
int kvs__sync_start(struct kvs *db);
void kvs__sync_stop(struct kvs *db);
/* fsync the directory if a file was created or removed since the last one. */
int kvs__sync_dir_if_dirty(struct kvs *db);

#endif
