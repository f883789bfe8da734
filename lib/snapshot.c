/* kvs_snapshot_*: point-in-time handles over a view (see order.h). */
#include <stdlib.h>

#include "order.h"
#include "snapshot.h"
#include "store.h"

int kvs__handle_open(struct kvs *db, const kvs_snapshot_t *snap, struct kvs_view **view,
                     uint64_t *now_ms)
{
    if (snap) {
        if (snap->db != db)
            return KVS_EINVAL;
        atomic_fetch_add_explicit(&snap->view->refcount, 1, memory_order_relaxed);
        *view = snap->view;
        *now_ms = snap->now_ms;
    } else {
        *now_ms = kvs__now_ms();
        int rc = kvs__order_acquire(db, view);
        if (rc != KVS_OK)
            return rc;
    }
    atomic_fetch_add_explicit(&db->order.handles, 1, memory_order_relaxed);
    return KVS_OK;
}

void kvs__handle_close(struct kvs *db, struct kvs_view *view)
{
    kvs__view_unref(view);
    atomic_fetch_sub_explicit(&db->order.handles, 1, memory_order_release);
}

int kvs_snapshot_create(kvs_t *db, kvs_snapshot_t **out)
{
    if (out)
        *out = NULL;
    if (!db || !out)
        return KVS_EINVAL;
    struct kvs_snapshot *s = malloc(sizeof(*s));
    if (!s)
        return KVS_ENOMEM;
    s->db = db;
    int rc = kvs__handle_open(db, NULL, &s->view, &s->now_ms);
    if (rc != KVS_OK) {
        free(s);
        return rc;
    }
    *out = s;
    return KVS_OK;
}

void kvs_snapshot_release(kvs_snapshot_t *snap)
{
    if (!snap)
        return;
    kvs__handle_close(snap->db, snap->view);
    free(snap);
}

int kvs__value_copy(const struct kvs_rec *r, void **val, size_t *vlen)
{
    uint8_t *copy = malloc((size_t)r->vlen + 1);
    if (!copy)
        return KVS_ENOMEM;
    memcpy(copy, r->val, r->vlen);
    copy[r->vlen] = 0;
    *val = copy;
    *vlen = r->vlen;
    return KVS_OK;
}

int kvs_snapshot_get(kvs_snapshot_t *snap, const void *key, size_t klen, void **val,
                     size_t *vlen)
{
    if (val)
        *val = NULL;
    if (vlen)
        *vlen = 0;
    if (!snap || !key || klen == 0 || !val || !vlen)
        return KVS_EINVAL;
    if (klen > KVS_KEY_MAX)
        return KVS_ETOOBIG;
    kvs_ref ref;
    int rc = kvs__view_find(snap->db, snap->view, key, klen, &ref);
    if (rc != KVS_OK)
        return rc;
    struct kvs_rec r;
    rc = kvs__ref_record(snap->db, ref, &r);
    if (rc == KVS_OK && kvs__rec_expired(&r, snap->now_ms))
        rc = KVS_NOT_FOUND;
    if (rc == KVS_OK)
        rc = kvs__value_copy(&r, val, vlen);
    return rc;
}

int kvs_snapshot_exists(kvs_snapshot_t *snap, const void *key, size_t klen)
{
    if (!snap || !key || klen == 0)
        return KVS_EINVAL;
    if (klen > KVS_KEY_MAX)
        return KVS_ETOOBIG;
    kvs_ref ref;
    int rc = kvs__view_find(snap->db, snap->view, key, klen, &ref);
    uint64_t vlen, expire = rc == KVS_OK ? kvs__ref_expire(snap->db, ref, &vlen) : 0;
    return expire != 0 && expire <= snap->now_ms ? KVS_NOT_FOUND : rc;
}
