/*
 * Single writes: kvs_set and its conditional and expiring forms, kvs_remove,
 * kvs_expire, and kvs_update (read-modify-write). The path they share is
 * described in write.h; batch.c uses it too.
 */
#include "write.h"

#include <errno.h>

#include "ahead.h"
#include "hash.h"
#include "sync.h"

/* ---- the shared path ---- */

int kvs__write_lock(struct kvs *db)
{
    pthread_mutex_lock(&db->write_mutex);
    if (atomic_load(&db->write_failed)) {
        pthread_mutex_unlock(&db->write_mutex);
        return kvs__refused(db);
    }
    return KVS_OK;
}

int kvs__write_unlock(struct kvs *db, int rc)
{
    uint64_t seq = db->write_seq;
    int saved = errno;
    pthread_mutex_unlock(&db->write_mutex);
    kvs__order_after_write(db);
    errno = saved;
    if (rc == KVS_EIO)
        kvs__log(db, KVS_LOG_ERROR, "write failed: %s", strerror(errno));
    if (rc != KVS_OK)
        return rc;
    return db->opts.sync == KVS_SYNC_ALWAYS ? kvs__sync_upto(db, seq) : KVS_OK;
}

int kvs__write_current(struct kvs *db, const void *key, size_t klen, uint64_t hash,
                       uint64_t now_ms, struct kvs_rec *out)
{
    struct kvs_index_shard *sh = kvs__index_shard(&db->index, hash);
    pthread_rwlock_rdlock(&sh->lock);
    struct kvs_index_entry *e = kvs__index_find(sh, hash, key, klen, kvs__key_eq, db);
    struct kvs_loc loc = e ? kvs__entry_loc(e) : (struct kvs_loc){0};
    if (e)
        kvs__loc_exact(db, &loc);
    pthread_rwlock_unlock(&sh->lock);
    if (loc.slot == 0)
        return KVS_NOT_FOUND;
    if (kvs__rec_decode(kvs__loc_record(db, &loc), loc.size, out) != KVS_REC_OK ||
        out->size != loc.size || !kvs__rec_is_put(out->type))
        return KVS_ECORRUPT;
    return kvs__rec_expired(out, now_ms) ? KVS_NOT_FOUND : KVS_OK;
}

/* Count an index change for kvs_multi_get, after making it. Only writers
 * store the count, under write_mutex: a load and a store, no locked add. */
static void count_index_change(struct kvs *db)
{
    uint64_t n = atomic_load_explicit(&db->index_changes, memory_order_relaxed);
    atomic_store_explicit(&db->index_changes, n + 1, memory_order_release);
}

void kvs__write_index(struct kvs *db, struct kvs_index_shard *sh, uint64_t h,
                      const struct kvs_rec *r, const struct kvs_loc *loc)
{
    struct kvs_segment *seg = kvs__slot_get(db, loc->slot);
    struct kvs_loc old;
    if (kvs__rec_is_put(r->type)) {
        atomic_fetch_add_explicit(&seg->live_bytes, loc->size, memory_order_relaxed);
        if (kvs__index_put(sh, h, r->key, r->klen, kvs__key_eq, db, loc, &old) == 1)
            kvs__db_retire_loc(db, &old);
        db->write_counts[0]++;
        count_index_change(db);
        return;
    }
    atomic_fetch_add_explicit(&seg->dead_bytes, loc->size, memory_order_relaxed);
    struct kvs_index_entry *e = kvs__index_find(sh, h, r->key, r->klen, kvs__key_eq, db);
    if (e) {
        old = kvs__entry_loc(e);
        kvs__index_erase(sh, e);
        kvs__db_retire_loc(db, &old);
        count_index_change(db);
    }
    db->write_counts[1]++;
}

int kvs__write_append(struct kvs *db, const struct kvs_write_op *op)
{
    uint64_t h = op->hash;
    struct kvs_index_shard *sh = kvs__index_shard(&db->index, h);
    uint64_t size = kvs__rec_size_of(op->type, op->klen, op->vlen);
    int rc = KVS_OK;
    if (kvs__rec_is_put((uint8_t)op->type))
        rc = kvs__index_prepare_insert(&db->index, sh);
    if (rc == KVS_OK && !kvs__seg_has_room(db->active, size))
        rc = kvs__db_roll(db, size);
    if (rc == KVS_OK)
        rc = kvs__seg_reserve(db->active, size);
    if (rc == KVS_OK)
        rc = kvs__order_prepare(db, 1);
    uint64_t off;
    if (rc == KVS_OK)
        rc = kvs__seg_append_x(db->active, op->type, op->expire, op->key, op->klen, op->val,
                               op->vlen, &off);
    if (rc != KVS_OK)
        return rc;
    uint64_t ahead_to = kvs__seg_ahead_due(db->active);
    if (ahead_to)
        kvs__ahead_ask(db, db->active, ahead_to);
    if (op->type == KVS_REC_PUTX)
        kvs__seg_note_expire(db->active, op->expire);
    struct kvs_loc loc = {.slot = db->active->slot, .off = (uint32_t)off, .size = (uint32_t)size};
    struct kvs_rec r = {.type = (uint8_t)op->type, .klen = (uint32_t)op->klen, .key = op->key};
    kvs__shard_change_lock(sh);
    kvs__write_index(db, sh, h, &r, &loc);
    kvs__shard_change_unlock(sh);
    kvs__order_note(db, kvs__ref(loc.slot, loc.off, op->type == KVS_REC_DEL));
    db->write_seq++;
    return KVS_OK;
}

static struct kvs_write_op put_op(uint64_t hash, const void *key, size_t klen, const void *val,
                                  size_t vlen, uint64_t expire)
{
    return (struct kvs_write_op){.hash = hash,
                                 .type = expire ? KVS_REC_PUTX : KVS_REC_PUT,
                                 .expire = expire,
                                 .key = key,
                                 .klen = klen,
                                 .val = val,
                                 .vlen = vlen};
}

static struct kvs_write_op del_op(uint64_t hash, const void *key, size_t klen)
{
    return (struct kvs_write_op){.hash = hash, .type = KVS_REC_DEL, .key = key, .klen = klen};
}

/* ---- sets ---- */

#define SET_FLAGS (KVS_SET_IF_ABSENT | KVS_SET_IF_PRESENT | KVS_SET_KEEP_EXPIRY)

/* The conditions of flags against the key's current value, and the expiry
 * to keep. Caller holds write_mutex. */
static int set_conditions(struct kvs *db, const void *key, size_t klen, uint64_t hash,
                          unsigned flags, uint64_t *expire)
{
    if (flags == 0)
        return KVS_OK;
    struct kvs_rec cur;
    int rc = kvs__write_current(db, key, klen, hash, kvs__now_ms(), &cur);
    if (rc == KVS_ECORRUPT)
        return rc;
    bool exists = rc == KVS_OK;
    if ((flags & KVS_SET_IF_ABSENT) && exists)
        return KVS_EXISTS;
    if ((flags & KVS_SET_IF_PRESENT) && !exists)
        return KVS_NOT_FOUND;
    if ((flags & KVS_SET_KEEP_EXPIRY) && exists)
        *expire = cur.expire;
    return KVS_OK;
}

int kvs_set_expire(kvs_t *db, const void *key, size_t klen, const void *val, size_t vlen,
                   uint64_t expire_at_ms, unsigned flags)
{
    int rc = kvs__check_write(db, key, klen, val, vlen);
    if (rc != KVS_OK)
        return rc;
    if ((flags & ~(unsigned)SET_FLAGS) != 0 ||
        (flags & (KVS_SET_IF_ABSENT | KVS_SET_IF_PRESENT)) ==
            (KVS_SET_IF_ABSENT | KVS_SET_IF_PRESENT) ||
        ((flags & KVS_SET_KEEP_EXPIRY) && expire_at_ms != 0))
        return KVS_EINVAL;
    /* The key's index slot starts loading before write_mutex is taken, so
     * that its cache miss overlaps the end of the previous write (or the
     * wait for the mutex) rather than this write's append. */
    uint64_t h = kvs__hash(db->seed, key, klen);
    kvs__index_prefetch(kvs__index_shard(&db->index, h), h);
    if ((rc = kvs__write_lock(db)) != KVS_OK)
        return rc;
    rc = set_conditions(db, key, klen, h, flags, &expire_at_ms);
    if (rc == KVS_OK) {
        struct kvs_write_op op = put_op(h, key, klen, val, vlen, expire_at_ms);
        rc = kvs__write_append(db, &op);
    }
    return kvs__write_unlock(db, rc);
}

int kvs_set(kvs_t *db, const void *key, size_t klen, const void *val, size_t vlen)
{
    return kvs_set_expire(db, key, klen, val, vlen, 0, 0);
}

int kvs_set_ex(kvs_t *db, const void *key, size_t klen, const void *val, size_t vlen,
               unsigned flags)
{
    return kvs_set_expire(db, key, klen, val, vlen, 0, flags);
}

/* ---- removal and expiry ---- */

/* The start of a write that depends on the key's current value: check the
 * arguments, hash the key (*hash), take write_mutex (held when KVS_OK is
 * returned), read the value (kvs__write_current's status in *cur_rc). */
static int lock_key(struct kvs *db, const void *key, size_t klen, uint64_t *hash,
                    struct kvs_rec *cur, int *cur_rc)
{
    int rc = kvs__check_write(db, key, klen, NULL, 0);
    if (rc != KVS_OK)
        return rc;
    *hash = kvs__hash(db->seed, key, klen);
    if ((rc = kvs__write_lock(db)) == KVS_OK)
        *cur_rc = kvs__write_current(db, key, klen, *hash, kvs__now_ms(), cur);
    return rc;
}

int kvs_remove(kvs_t *db, const void *key, size_t klen)
{
    struct kvs_rec cur;
    uint64_t h;
    int rc;
    int lrc = lock_key(db, key, klen, &h, &cur, &rc);
    if (lrc != KVS_OK)
        return lrc;
    if (rc == KVS_OK || rc == KVS_ECORRUPT) { /* a damaged value can be removed */
        struct kvs_write_op op = del_op(h, key, klen);
        rc = kvs__write_append(db, &op);
    }
    return kvs__write_unlock(db, rc);
}

int kvs_expire(kvs_t *db, const void *key, size_t klen, uint64_t expire_at_ms)
{
    struct kvs_rec cur;
    uint64_t h;
    int rc;
    int lrc = lock_key(db, key, klen, &h, &cur, &rc);
    if (lrc != KVS_OK)
        return lrc;
    /* The value is written again with the new expiry (records never
     * change); its bytes stay mapped while write_mutex is held. */
    if (rc == KVS_OK && cur.expire != expire_at_ms) {
        struct kvs_write_op op = put_op(h, key, klen, cur.val, cur.vlen, expire_at_ms);
        rc = kvs__write_append(db, &op);
    }
    return kvs__write_unlock(db, rc);
}

/* ---- read-modify-write ---- */

/* Carry out what the callback asked for. Caller holds write_mutex. */
static int update_apply(struct kvs *db, const void *key, size_t klen, uint64_t hash, int action,
                        bool found, const kvs_update_value_t *out)
{
    switch (action) {
    case KVS_UPDATE_KEEP:
        return KVS_OK;
    case KVS_UPDATE_REMOVE: {
        if (!found)
            return KVS_NOT_FOUND;
        struct kvs_write_op op = del_op(hash, key, klen);
        return kvs__write_append(db, &op);
    }
    case KVS_UPDATE_SET: {
        if (!out->val && out->vlen > 0)
            return KVS_EINVAL;
        if (out->vlen > KVS_VALUE_MAX)
            return KVS_ETOOBIG;
        struct kvs_write_op op = put_op(hash, key, klen, out->val, out->vlen, out->expire_at_ms);
        return kvs__write_append(db, &op);
    }
    default:
        return action < 0 ? action : KVS_EINVAL;
    }
}

int kvs_update(kvs_t *db, const void *key, size_t klen, kvs_update_fn fn, void *ctx)
{
    if (!fn)
        return KVS_EINVAL;
    struct kvs_rec cur;
    uint64_t h;
    int rc;
    int lrc = lock_key(db, key, klen, &h, &cur, &rc);
    if (lrc != KVS_OK)
        return lrc;
    if (rc == KVS_OK || rc == KVS_NOT_FOUND) {
        bool found = rc == KVS_OK;
        kvs_update_value_t out = {.expire_at_ms = found ? cur.expire : 0};
        int action = fn(ctx, found ? cur.val : NULL, found ? cur.vlen : 0, found, &out);
        rc = update_apply(db, key, klen, h, action, found, &out);
    }
    return kvs__write_unlock(db, rc);
}
