/*
 * The write path shared by single writes (write.c) and batches (batch.c).
 *
 * Every write happens under write_mutex, in log order: check conditions,
 * make sure nothing can fail after the append (index room, pending-write
 * room, file space), append, point the index at the new record, note it for
 * the key order. Then, outside the mutex, wait for durability as the sync
 * mode asks.
 */
#ifndef KVS_WRITE_H
#define KVS_WRITE_H

#include <stdint.h>

#include "store.h"

/* One record to write: a PUT, a PUTX (with expire) or a DEL. */
struct kvs_write_op {
    uint64_t hash; /* of key, with the store's seed (kvs__hash) */
    enum kvs_rec_type type;
    uint64_t expire;
    const void *key;
    size_t klen;
    const void *val;
    size_t vlen;
};

/* Take write_mutex; KVS_EIO (mutex released) once a sync failed. */
int kvs__write_lock(struct kvs *db);

/*
 * The key's current value under write_mutex (hash: the key's, kvs__hash):
 * KVS_OK with its record (verified), KVS_NOT_FOUND (absent or expired at
 * now_ms), KVS_ECORRUPT. The record's bytes stay valid while write_mutex is
 * held: compaction unmaps a segment only after taking it once.
 */
int kvs__write_current(struct kvs *db, const void *key, size_t klen, uint64_t hash,
                       uint64_t now_ms, struct kvs_rec *out);

/* Append op and apply it to the index and the key order. Caller holds
 * write_mutex; on failure nothing changed. */
int kvs__write_append(struct kvs *db, const struct kvs_write_op *op);

/* Point the index at the record just written at loc (caller holds
 * write_mutex and the key's shard lock for writing). */
void kvs__write_index(struct kvs *db, struct kvs_index_shard *sh, uint64_t h,
                      const struct kvs_rec *r, const struct kvs_loc *loc);

/* Release write_mutex; then, if rc is KVS_OK and the sync mode asks for it,
 * wait until the writes so far are durable. Returns the final status. */
int kvs__write_unlock(struct kvs *db, int rc);

#endif
