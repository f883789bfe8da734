/*
 * kvs_iter_*: ordered iteration over one view (order.h).
 *
 * A view is a few sorted runs; an iterator keeps a cursor in each and
 * merges them, as LevelDB's merging iterator does: going forward the
 * current entry is the smallest key under the cursors, taken from the
 * newest run that has it; a tombstone there hides the key. On a change of
 * direction every cursor is placed again around the current key. Keys are
 * compared in the segment mappings, which the view keeps mapped.
 */
#include <stdlib.h>

#include "order.h"
#include "snapshot.h"
#include "store.h"

/* Records up to this size are verified when their key is first read: the
 * value is on the same pages, so the check is cheap. Larger ones are
 * verified by kvs_iter_value(), so that a keys-only walk does not read
 * their values. */
#define VERIFY_WITH_KEY_BYTES 4096u

struct cursor {
    const struct kvs_run *run;
    int64_t pos; /* valid while 0 <= pos < run->n */
};

struct bound {
    uint8_t *key; /* NULL: none */
    size_t len;
};

struct kvs_iter {
    struct kvs *db;
    struct kvs_view *view;
    struct bound lo, hi; /* [lo, hi) */
    int dir;             /* 1 forward, -1 backward, 0 not positioned */
    uint64_t now_ms;     /* values expired by then are not seen */
    kvs_ref ref;         /* the current entry */
    const uint8_t *key;
    size_t klen;
    int checked;         /* 0 not yet, else the verification's status + 1 */
    struct kvs_rec rec;  /* the current record, once verified */
    uint32_t n;
    struct cursor cur[];
};

/* ---- cursors ---- */

static bool cur_valid(const struct cursor *c)
{
    return c->pos >= 0 && (uint64_t)c->pos < c->run->n;
}

static kvs_ref cur_ref(const struct cursor *c)
{
    return c->run->refs[c->pos];
}

static void cur_key(struct kvs_iter *it, const struct cursor *c, const uint8_t **k, size_t *n)
{
    kvs__ref_key(it->db, cur_ref(c), k, n);
}

static int cur_cmp(struct kvs_iter *it, const struct cursor *c, const uint8_t *key, size_t klen)
{
    return kvs__ref_cmp_key(it->db, cur_ref(c), key, klen);
}

/* Every cursor at the first entry >= key (strict: > key). */
static void place_forward(struct kvs_iter *it, const uint8_t *key, size_t klen, bool strict)
{
    for (uint32_t i = 0; i < it->n; i++) {
        struct cursor *c = &it->cur[i];
        c->pos = (int64_t)(strict ? kvs__run_upper_bound(it->db, c->run, key, klen)
                                  : kvs__run_lower_bound(it->db, c->run, key, klen));
    }
}

/* Every cursor at the last entry < key (inclusive: <= key). */
static void place_backward(struct kvs_iter *it, const uint8_t *key, size_t klen, bool inclusive)
{
    for (uint32_t i = 0; i < it->n; i++) {
        struct cursor *c = &it->cur[i];
        c->pos = (int64_t)(inclusive ? kvs__run_upper_bound(it->db, c->run, key, klen)
                                     : kvs__run_lower_bound(it->db, c->run, key, klen)) -
                 1;
    }
}

/* ---- the merged position ---- */

static int set_invalid(struct kvs_iter *it)
{
    it->dir = 0;
    it->key = NULL;
    it->klen = 0;
    return KVS_NOT_FOUND;
}

static bool beyond(struct kvs_iter *it, int dir, const uint8_t *key, size_t klen)
{
    if (dir > 0)
        return it->hi.key && kvs__key_cmp(key, klen, it->hi.key, it->hi.len) >= 0;
    return it->lo.key && kvs__key_cmp(key, klen, it->lo.key, it->lo.len) < 0;
}

/* Move every cursor standing on key one step in dir. */
static void step_equal(struct kvs_iter *it, int dir, const uint8_t *key, size_t klen)
{
    if (it->n == 1) { /* the only cursor is the one on key */
        it->cur[0].pos += dir;
        return;
    }
    for (uint32_t i = 0; i < it->n; i++) {
        struct cursor *c = &it->cur[i];
        if (cur_valid(c) && cur_cmp(it, c, key, klen) == 0)
            c->pos += dir;
    }
}

/* Records are in write order, keys in key order: a walk reads records all
 * over the segments. Start the cache miss of an entry some steps ahead, so
 * that the misses of a walk overlap. */
#define PREFETCH_AHEAD 16

static void prefetch_ahead(struct kvs_iter *it, const struct cursor *c, int dir)
{
    int64_t p = c->pos + dir * PREFETCH_AHEAD;
    if (p >= 0 && (uint64_t)p < c->run->n)
        kvs__ref_prefetch(it->db, c->run->refs[p]);
}

/*
 * From cursors placed for direction dir, make the merged entry current: the
 * smallest (forward) or largest key under the cursors, from the newest run
 * holding it, skipping keys whose newest entry is a tombstone.
 */
static int settle(struct kvs_iter *it, int dir)
{
    for (;;) {
        int best = -1;
        const uint8_t *bk = NULL;
        size_t bklen = 0;
        for (uint32_t i = 0; i < it->n; i++) {
            struct cursor *c = &it->cur[i];
            if (!cur_valid(c))
                continue;
            const uint8_t *k;
            size_t klen;
            cur_key(it, c, &k, &klen);
            /* runs go oldest to newest: on equal keys the later one wins */
            if (best < 0 || kvs__key_cmp(k, klen, bk, bklen) * dir <= 0) {
                best = (int)i;
                bk = k;
                bklen = klen;
            }
        }
        if (best < 0 || beyond(it, dir, bk, bklen))
            return set_invalid(it);
        kvs_ref ref = cur_ref(&it->cur[best]);
        uint64_t vlen;
        uint64_t expire = kvs__ref_is_tomb(ref) ? 0 : kvs__ref_expire(it->db, ref, &vlen);
        if (kvs__ref_is_tomb(ref) || (expire != 0 && expire <= it->now_ms)) {
            step_equal(it, dir, bk, bklen);
            continue;
        }
        it->dir = dir;
        it->ref = ref;
        it->key = bk;
        it->klen = bklen;
        it->checked = 0;
        prefetch_ahead(it, &it->cur[best], dir);
        return KVS_OK;
    }
}

/* A walk keeps the entry PREFETCH_AHEAD steps ahead in flight; after a
 * seek, start the ones in between too, so that the first steps after it do
 * not each wait for a cache miss of their own (seekrandom: a seek, then 10
 * steps). */
static void prefetch_window(struct kvs_iter *it, int dir)
{
    for (uint32_t i = 0; i < it->n; i++) {
        const struct cursor *c = &it->cur[i];
        for (int64_t k = 1; k < PREFETCH_AHEAD; k++) {
            int64_t p = c->pos + dir * k;
            if (p < 0 || (uint64_t)p >= c->run->n)
                break;
            kvs__ref_prefetch(it->db, c->run->refs[p]);
        }
    }
}

/* settle() after the cursors were placed anew (a seek, a turn). */
static int settle_placed(struct kvs_iter *it, int dir)
{
    int rc = settle(it, dir);
    if (rc == KVS_OK)
        prefetch_window(it, dir);
    return rc;
}

/* ---- public calls ---- */

int kvs_iter_create(kvs_t *db, kvs_snapshot_t *snap, kvs_iter_t **out)
{
    if (out)
        *out = NULL;
    if (!db || !out)
        return KVS_EINVAL;
    struct kvs_view *view;
    uint64_t now_ms;
    int rc = kvs__handle_open(db, snap, &view, &now_ms);
    if (rc != KVS_OK)
        return rc;
    struct kvs_iter *it = calloc(1, sizeof(*it) + view->nruns * sizeof(it->cur[0]));
    if (!it) {
        kvs__handle_close(db, view);
        return KVS_ENOMEM;
    }
    it->db = db;
    it->view = view;
    it->now_ms = now_ms;
    it->n = view->nruns;
    for (uint32_t i = 0; i < it->n; i++)
        it->cur[i].run = view->runs[i];
    *out = it;
    return KVS_OK;
}

void kvs_iter_destroy(kvs_iter_t *it)
{
    if (!it)
        return;
    kvs__handle_close(it->db, it->view);
    free(it->lo.key);
    free(it->hi.key);
    free(it);
}

static int bound_set(struct bound *b, const void *key, size_t len)
{
    free(b->key);
    b->key = NULL;
    b->len = 0;
    if (!key)
        return KVS_OK;
    b->key = malloc(len ? len : 1);
    if (!b->key)
        return KVS_ENOMEM;
    memcpy(b->key, key, len);
    b->len = len;
    return KVS_OK;
}

int kvs_iter_set_range(kvs_iter_t *it, const void *start, size_t start_len, const void *end,
                       size_t end_len)
{
    if (!it || (start_len > KVS_KEY_MAX) || (end_len > KVS_KEY_MAX))
        return KVS_EINVAL;
    set_invalid(it);
    int rc = bound_set(&it->lo, start, start_len);
    if (rc == KVS_OK)
        rc = bound_set(&it->hi, end, end_len);
    return rc;
}

int kvs_iter_set_prefix(kvs_iter_t *it, const void *prefix, size_t plen)
{
    if (!it || (!prefix && plen) || plen > KVS_KEY_MAX)
        return KVS_EINVAL;
    if (plen == 0)
        return kvs_iter_set_range(it, NULL, 0, NULL, 0);
    /* The keys with this prefix are [prefix, successor): drop trailing 0xff
     * bytes and add one to the last byte left; no upper bound if none is. */
    uint8_t *succ = malloc(plen);
    if (!succ)
        return KVS_ENOMEM;
    memcpy(succ, prefix, plen);
    size_t slen = plen;
    while (slen > 0 && succ[slen - 1] == 0xff)
        slen--;
    if (slen > 0)
        succ[slen - 1]++;
    int rc = kvs_iter_set_range(it, prefix, plen, slen ? succ : NULL, slen);
    free(succ);
    return rc;
}

int kvs_iter_seek(kvs_iter_t *it, const void *key, size_t klen)
{
    if (!it || (!key && klen))
        return KVS_EINVAL;
    if (!key)
        key = "";
    if (it->lo.key && kvs__key_cmp(key, klen, it->lo.key, it->lo.len) < 0) {
        key = it->lo.key;
        klen = it->lo.len;
    }
    place_forward(it, key, klen, false);
    return settle_placed(it, 1);
}

int kvs_iter_seek_prev(kvs_iter_t *it, const void *key, size_t klen)
{
    if (!it || (!key && klen))
        return KVS_EINVAL;
    if (!key)
        key = "";
    if (it->hi.key && kvs__key_cmp(key, klen, it->hi.key, it->hi.len) >= 0)
        place_backward(it, it->hi.key, it->hi.len, false);
    else
        place_backward(it, key, klen, true);
    return settle_placed(it, -1);
}

int kvs_iter_first(kvs_iter_t *it)
{
    if (!it)
        return KVS_EINVAL;
    return kvs_iter_seek(it, it->lo.key ? it->lo.key : (const uint8_t *)"", it->lo.len);
}

int kvs_iter_last(kvs_iter_t *it)
{
    if (!it)
        return KVS_EINVAL;
    if (it->hi.key)
        return kvs_iter_seek_prev(it, it->hi.key, it->hi.len);
    for (uint32_t i = 0; i < it->n; i++)
        it->cur[i].pos = (int64_t)it->cur[i].run->n - 1;
    return settle_placed(it, -1);
}

int kvs_iter_next(kvs_iter_t *it)
{
    if (!it)
        return KVS_EINVAL;
    if (it->dir == 0)
        return KVS_NOT_FOUND;
    if (it->dir > 0) {
        step_equal(it, 1, it->key, it->klen);
        return settle(it, 1);
    }
    place_forward(it, it->key, it->klen, true);
    return settle_placed(it, 1);
}

int kvs_iter_prev(kvs_iter_t *it)
{
    if (!it)
        return KVS_EINVAL;
    if (it->dir == 0)
        return KVS_NOT_FOUND;
    if (it->dir < 0) {
        step_equal(it, -1, it->key, it->klen);
        return settle(it, -1);
    }
    place_backward(it, it->key, it->klen, false);
    return settle_placed(it, -1);
}

int kvs_iter_valid(const kvs_iter_t *it)
{
    return it && it->dir != 0;
}

/* Verify the current record once; its status. */
static int check_current(kvs_iter_t *it)
{
    if (!it->checked)
        it->checked = kvs__ref_record(it->db, it->ref, &it->rec) + 1;
    return it->checked - 1;
}

int kvs_iter_key(kvs_iter_t *it, const void **key, size_t *klen)
{
    if (key)
        *key = NULL;
    if (klen)
        *klen = 0;
    if (!it || !key || !klen || it->dir == 0)
        return KVS_EINVAL;
    if (it->klen == 0)
        return KVS_ECORRUPT; /* the record's header did not fit (run.h) */
    uint64_t vlen;
    kvs__ref_expire(it->db, it->ref, &vlen);
    if (it->klen + vlen + KVS_REC_HEADER_MAX <= VERIFY_WITH_KEY_BYTES) {
        int rc = check_current(it);
        if (rc != KVS_OK)
            return rc;
    }
    *key = it->key;
    *klen = it->klen;
    return KVS_OK;
}

int kvs_iter_expire(kvs_iter_t *it, uint64_t *expire_at_ms)
{
    if (expire_at_ms)
        *expire_at_ms = 0;
    if (!it || !expire_at_ms || it->dir == 0)
        return KVS_EINVAL;
    uint64_t vlen;
    *expire_at_ms = kvs__ref_expire(it->db, it->ref, &vlen);
    return KVS_OK;
}

int kvs_iter_value(kvs_iter_t *it, const void **val, size_t *vlen)
{
    if (val)
        *val = NULL;
    if (vlen)
        *vlen = 0;
    if (!it || !val || !vlen || it->dir == 0)
        return KVS_EINVAL;
    int rc = check_current(it);
    if (rc != KVS_OK)
        return rc;
    *val = it->rec.val;
    *vlen = it->rec.vlen;
    return KVS_OK;
}
