/* Views, pending writes, flushes, merges and the order thread (see order.h). */
#include "order.h"

#include <errno.h>
#include <stdlib.h>

#include "compact.h"
#include "order_file.h"
#include "store.h"

/* References per pending block (64 KiB). */
#define PENDING_BLOCK 8192u
/* Pending writes that wake the order thread for a flush. Bounds what an
 * iterator created during a write burst has to sort itself. */
#define FLUSH_AT 16384u
/* Pending writes at which a writer flushes them itself: the thread is
 * behind (bounds the memory they hold, 8 bytes each). */
#define STALL_AT (8u * FLUSH_AT)
/* More runs than this are merged whatever their sizes. */
#define MAX_RUNS 6u
/* The thread looks this often while there is work it may do once writes
 * pause (a flush of the last writes, merging down to one run). */
#define LOOK_US 100000u
#define IDLE_US 1000000u

struct kvs_pending_block {
    struct kvs_pending_block *next;
    uint32_t n;
    kvs_ref refs[PENDING_BLOCK];
};

/* ---- views ---- */

static struct kvs_view *view_alloc(uint32_t nruns)
{
    struct kvs_view *v = malloc(sizeof(*v) + nruns * sizeof(v->runs[0]));
    if (v) {
        atomic_init(&v->refcount, 1);
        v->nruns = nruns;
    }
    return v;
}

/* A copy of old (may be NULL) with runs [from, to) replaced by mid and add
 * appended (either may be NULL). */
static struct kvs_view *view_edit(const struct kvs_view *old, uint32_t from, uint32_t to,
                                  struct kvs_run *mid, struct kvs_run *add)
{
    uint32_t n = old ? old->nruns : 0;
    struct kvs_view *v = view_alloc(n - (to - from) + (mid != NULL) + (add != NULL));
    if (!v)
        return NULL;
    uint32_t k = 0;
    for (uint32_t i = 0; i < from; i++)
        v->runs[k++] = old->runs[i];
    if (mid)
        v->runs[k++] = mid;
    for (uint32_t i = to; i < n; i++)
        v->runs[k++] = old->runs[i];
    if (add)
        v->runs[k++] = add;
    for (uint32_t i = 0; i < k; i++)
        kvs__run_ref(v->runs[i]);
    return v;
}

void kvs__view_unref(struct kvs_view *v)
{
    if (!v || atomic_fetch_sub_explicit(&v->refcount, 1, memory_order_acq_rel) != 1)
        return;
    for (uint32_t i = 0; i < v->nruns; i++)
        kvs__run_unref(v->runs[i]);
    free(v);
}

int kvs__view_find(struct kvs *db, const struct kvs_view *v, const void *key, size_t klen,
                   kvs_ref *ref)
{
    for (uint32_t i = v->nruns; i-- > 0;) {
        const struct kvs_run *r = v->runs[i];
        uint64_t pos = kvs__run_lower_bound(db, r, key, klen);
        if (pos < r->n && kvs__ref_cmp_key(db, r->refs[pos], key, klen) == 0) {
            if (kvs__ref_is_tomb(r->refs[pos]))
                return KVS_NOT_FOUND;
            *ref = r->refs[pos];
            return KVS_OK;
        }
    }
    return KVS_NOT_FOUND;
}

/* The current view, referenced (NULL before the first one). */
static struct kvs_view *view_get(struct kvs_order *o)
{
    pthread_mutex_lock(&o->view_mutex);
    struct kvs_view *v = o->view;
    if (v)
        atomic_fetch_add_explicit(&v->refcount, 1, memory_order_relaxed);
    pthread_mutex_unlock(&o->view_mutex);
    return v;
}

/* Replace runs [from, to) of the current view by mid, or (from == to ==
 * APPEND) append add. Runs only move when this thread merges them, so a
 * merge's inputs are still where it found them. */
#define APPEND UINT32_MAX
static int view_publish(struct kvs_order *o, uint32_t from, uint32_t to, struct kvs_run *mid,
                        struct kvs_run *add)
{
    pthread_mutex_lock(&o->view_mutex);
    struct kvs_view *old = o->view;
    if (from == APPEND)
        from = to = old ? old->nruns : 0;
    struct kvs_view *v = view_edit(old, from, to, mid, add);
    if (v)
        o->view = v;
    pthread_mutex_unlock(&o->view_mutex);
    if (!v)
        return KVS_ENOMEM;
    kvs__view_unref(old);
    return KVS_OK;
}

/* ---- pending writes ---- */

static void kick(struct kvs_order *o)
{
    pthread_mutex_lock(&o->mutex);
    o->kicked = true;
    pthread_cond_signal(&o->cond);
    pthread_mutex_unlock(&o->mutex);
}

static void blocks_free(struct kvs_pending_block *b)
{
    while (b) {
        struct kvs_pending_block *next = b->next;
        kvs__big_free(b, sizeof(*b));
        b = next;
    }
}

/*
 * The pending writes need no reference on their segments: only compaction
 * retires segments, and it flushes the pending writes (kvs__order_refresh)
 * before it retires any; writes made after that flush went to the active
 * segment, which is no compaction's input.
 */
int kvs__order_prepare(struct kvs *db, uint64_t n)
{
    struct kvs_order *o = &db->order;
    if (o->off || o->dormant)
        return KVS_OK;
    /* room left in the tail block, then whole new blocks */
    uint64_t room = o->tail ? PENDING_BLOCK - o->tail->n : 0;
    for (struct kvs_pending_block *b = o->spare; b; b = b->next)
        room += PENDING_BLOCK;
    while (room < n) {
        struct kvs_pending_block *b = kvs__big_alloc(sizeof(*b));
        if (!b)
            return KVS_ENOMEM;
        b->next = o->spare;
        o->spare = b;
        room += PENDING_BLOCK;
    }
    return KVS_OK;
}

/* The block the next pending write goes to (room was prepared). */
static struct kvs_pending_block *tail_with_room(struct kvs_order *o)
{
    struct kvs_pending_block *t = o->tail;
    if (t && t->n < PENDING_BLOCK)
        return t;
    struct kvs_pending_block *b = o->spare;
    o->spare = b->next;
    b->next = NULL;
    b->n = 0;
    if (t)
        t->next = b;
    else
        o->head = b;
    o->tail = b;
    return b;
}

void kvs__order_note(struct kvs *db, kvs_ref ref)
{
    struct kvs_order *o = &db->order;
    if (o->off || o->dormant)
        return;
    struct kvs_pending_block *t = tail_with_room(o);
    t->refs[t->n++] = ref;
    uint64_t n = atomic_load_explicit(&o->pending, memory_order_relaxed) + 1;
    atomic_store_explicit(&o->pending, n, memory_order_relaxed);
    if (n == FLUSH_AT)
        kick(o);
}

/* Take the pending writes (the caller owns the blocks). */
static struct kvs_pending_block *pending_take(struct kvs *db, uint64_t *n)
{
    struct kvs_order *o = &db->order;
    pthread_mutex_lock(&db->write_mutex);
    struct kvs_pending_block *b = o->head;
    *n = atomic_load_explicit(&o->pending, memory_order_relaxed);
    o->head = o->tail = NULL;
    atomic_store_explicit(&o->pending, 0, memory_order_relaxed);
    pthread_mutex_unlock(&db->write_mutex);
    return b;
}

/* Put blocks taken by a flush that failed back in front of the newer ones. */
static void pending_give_back(struct kvs *db, struct kvs_pending_block *b, uint64_t n)
{
    struct kvs_order *o = &db->order;
    struct kvs_pending_block *last = b;
    while (last->next)
        last = last->next;
    pthread_mutex_lock(&db->write_mutex);
    last->next = o->head;
    o->head = b;
    if (!o->tail)
        o->tail = last;
    atomic_fetch_add_explicit(&o->pending, n, memory_order_relaxed);
    pthread_mutex_unlock(&db->write_mutex);
}

/* Sort the pending writes into a run at the end of the view. Caller holds
 * flush_mutex. */
static int flush(struct kvs *db)
{
    struct kvs_order *o = &db->order;
    uint64_t n;
    struct kvs_pending_block *blocks = pending_take(db, &n);
    if (!blocks)
        return KVS_OK;
    kvs_ref *refs = kvs__big_alloc((n ? n : 1) * sizeof(*refs));
    int rc = refs ? KVS_OK : KVS_ENOMEM;
    struct kvs_run *run = NULL;
    if (rc == KVS_OK) {
        uint64_t k = 0;
        for (struct kvs_pending_block *b = blocks; b; b = b->next) {
            memcpy(refs + k, b->refs, b->n * sizeof(*refs));
            k += b->n;
        }
        rc = kvs__run_from_batch(db, refs, k, &run);
        kvs__big_free(refs, (n ? n : 1) * sizeof(*refs));
    }
    if (rc == KVS_OK && run) {
        rc = view_publish(o, APPEND, APPEND, NULL, run);
        kvs__run_unref(run);
    }
    if (rc != KVS_OK) {
        pending_give_back(db, blocks, n);
        return rc;
    }
    blocks_free(blocks);
    atomic_fetch_add_explicit(&o->flushes, 1, memory_order_relaxed);
    return KVS_OK;
}

void kvs__order_after_write(struct kvs *db)
{
    struct kvs_order *o = &db->order;
    if (atomic_load_explicit(&o->pending, memory_order_relaxed) < STALL_AT)
        return;
    pthread_mutex_lock(&o->flush_mutex);
    if (atomic_load_explicit(&o->pending, memory_order_relaxed) >= STALL_AT)
        flush(db);
    pthread_mutex_unlock(&o->flush_mutex);
}

/* ---- the first view ---- */

/* The references of every key in the index, gathered shard by shard into
 * *items (room for *cap, from kvs__big_alloc, grown if keys were added
 * since the count): *n of them. */
static int gather_index(struct kvs *db, struct kvs_keyed_ref **items, uint64_t *n,
                        uint64_t *cap)
{
    struct kvs_order *o = &db->order;
    int rc = KVS_OK;
    for (unsigned i = 0; i < KVS_INDEX_SHARDS && rc == KVS_OK && !o->stop; i++) {
        struct kvs_index_shard *sh = &db->index.shards[i];
        pthread_rwlock_rdlock(&sh->lock);
        if (*n + sh->count > *cap) {
            uint64_t more = *n + sh->count + *cap / 4;
            struct kvs_keyed_ref *grown =
                kvs__big_realloc(*items, *cap * sizeof(**items), more * sizeof(**items));
            if (grown) {
                *items = grown;
                *cap = more;
            } else {
                rc = KVS_ENOMEM;
            }
        }
        for (uint32_t j = 0; j < sh->capacity && rc == KVS_OK; j++) {
            const struct kvs_index_entry *e = &sh->table[j];
            if (kvs__entry_used(e))
                (*items)[(*n)++].ref = kvs__ref(kvs__entry_slot(e), e->off, false);
        }
        pthread_rwlock_unlock(&sh->lock);
    }
    return rc;
}

/* The first run, from the index: every key, sorted. *out is NULL for an
 * empty store. */
static int run_from_index(struct kvs *db, struct kvs_run **out)
{
    *out = NULL;
    uint64_t keys = 0, bytes, n = 0;
    kvs__index_usage(&db->index, &keys, &bytes);
    uint64_t cap = keys + keys / 64 + 64; /* room for a few keys added meanwhile */
    struct kvs_keyed_ref *items = kvs__big_alloc(cap * sizeof(*items));
    if (!items)
        return KVS_ENOMEM;
    int rc = gather_index(db, &items, &n, &cap);
    if (rc != KVS_OK) {
        kvs__big_free(items, cap * sizeof(*items));
        return rc;
    }
    return kvs__run_from_distinct(db, items, n, cap, out);
}

/*
 * The first view, from the hash index: every entry, sorted. The writer
 * notes its writes meanwhile, and they stay pending until the view exists
 * (flush_mutex), so each wins over what the index showed (order.h).
 * Compaction waits (compact_mutex), so no segment the index points into is
 * retired before a run pins it.
 */
static int build_first_view(struct kvs *db)
{
    struct kvs_order *o = &db->order;
    int rc = KVS_OK;
    kvs__compact_lock(db);
    /* From here on the writer notes its writes; no compaction retires a
     * segment they point into before the view exists (compact_mutex). */
    pthread_mutex_lock(&db->write_mutex);
    o->dormant = false;
    pthread_mutex_unlock(&db->write_mutex);
    pthread_mutex_lock(&o->mutex);
    o->building = true; /* kvs__order_start waits for this */
    pthread_cond_broadcast(&o->cond);
    pthread_mutex_unlock(&o->mutex);
    pthread_mutex_lock(&o->flush_mutex);
    struct kvs_run *base = NULL;
    int loaded = kvs__order_file_load(db, &base);
    if (!db->opts.read_only)
        kvs__order_file_remove(db); /* the store changes from now on */
    if (loaded == KVS_OK)
        kvs__stat_add(db, KVS_STAT_ORDER_LOADED, 1);
    else
        rc = run_from_index(db, &base);
    if (rc == KVS_OK) {
        struct kvs_view *v = view_edit(NULL, 0, 0, NULL, base);
        if (v) {
            pthread_mutex_lock(&o->view_mutex);
            o->view = v;
            pthread_mutex_unlock(&o->view_mutex);
        } else {
            rc = KVS_ENOMEM;
        }
    }
    kvs__run_unref(base);
    if (rc == KVS_OK && o->stop)
        rc = KVS_EBUSY; /* closing: the view may be partial */
    if (rc != KVS_OK) {
        /* before compact_mutex goes: kvs__order_refresh reads it */
        pthread_mutex_lock(&db->write_mutex);
        o->off = true;
        pthread_mutex_unlock(&db->write_mutex);
        blocks_free(pending_take(db, &(uint64_t){0}));
    }
    pthread_mutex_unlock(&o->flush_mutex);
    pthread_mutex_unlock(&db->compact_mutex);
    return rc;
}

/* ---- merging ---- */

/* Which runs to merge next: [from, to); false when none. */
static bool pick_merge(const struct kvs_view *v, bool all, bool idle, uint32_t *from,
                       uint32_t *to)
{
    uint32_t n = v->nruns;
    if (n == 0)
        return false;
    if (all || (idle && n > 1)) {
        *from = 0;
        *to = n;
        return true;
    }
    if (n < 2)
        return false;
    if (n > MAX_RUNS || v->runs[n - 1]->n * 4 >= v->runs[n - 2]->n) {
        *from = n - 2;
        *to = n;
        return true;
    }
    return false;
}

/* One merge step (all: every run into one, looking up again what
 * compaction copied); KVS_NOT_FOUND when there was nothing to merge. */
static int merge_step(struct kvs *db, bool all, bool idle)
{
    struct kvs_order *o = &db->order;
    pthread_mutex_lock(&o->merge_mutex);
    struct kvs_view *v = view_get(o);
    uint32_t from, to;
    if (!v || !pick_merge(v, all, idle, &from, &to)) {
        pthread_mutex_unlock(&o->merge_mutex);
        kvs__view_unref(v);
        return KVS_NOT_FOUND;
    }
    struct kvs_run *merged;
    int rc = kvs__run_merge(db, v->runs + from, to - from, from == 0, all, &merged);
    if (rc == KVS_OK) {
        /* Flushes only append, and merges take merge_mutex: the runs are
         * still where they were. Published under flush_mutex (see order.h). */
        pthread_mutex_lock(&o->flush_mutex);
        rc = view_publish(o, from, to, merged, NULL);
        pthread_mutex_unlock(&o->flush_mutex);
        kvs__run_unref(merged);
    }
    pthread_mutex_unlock(&o->merge_mutex);
    kvs__view_unref(v);
    if (rc == KVS_OK)
        atomic_fetch_add_explicit(&o->merges, 1, memory_order_relaxed);
    return rc;
}

/* ---- the thread ---- */

/* Wait for a kick, a stop or wait_us; false on stop. */
static bool order_wait(struct kvs_order *o, uint64_t wait_us)
{
    struct timespec deadline = kvs__deadline_in_us(wait_us);
    pthread_mutex_lock(&o->mutex);
    int rc = 0;
    while (!o->stop && !o->kicked && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&o->cond, &o->mutex, &deadline);
    o->kicked = false;
    bool go = !o->stop;
    pthread_mutex_unlock(&o->mutex);
    return go;
}

static void set_ready(struct kvs_order *o, int rc)
{
    pthread_mutex_lock(&o->mutex);
    o->ready = true;
    o->build_rc = rc;
    pthread_cond_broadcast(&o->cond);
    pthread_mutex_unlock(&o->mutex);
}

/* Dormant: wait until the first view is wanted; false on stop. */
static bool wait_until_wanted(struct kvs_order *o)
{
    pthread_mutex_lock(&o->mutex);
    while (!o->wanted && !atomic_load(&o->stop))
        pthread_cond_wait(&o->cond, &o->mutex);
    bool go = !atomic_load(&o->stop);
    pthread_mutex_unlock(&o->mutex);
    return go;
}

static void *order_main(void *arg)
{
    struct kvs *db = arg;
    struct kvs_order *o = &db->order;
    if (o->dormant && !wait_until_wanted(o))
        return NULL;
    int rc = build_first_view(db);
    if (rc != KVS_OK && !o->stop)
        kvs__log(db, KVS_LOG_ERROR, "cannot build the key order: %s", kvs_strerror(rc));
    set_ready(o, rc); /* iterators and snapshots report a failure */
    if (rc != KVS_OK)
        return NULL;
    uint64_t last_pending = 0, last_change_us = kvs__now_us();
    for (uint64_t wait = LOOK_US; order_wait(o, wait);) {
        uint64_t pending = atomic_load_explicit(&o->pending, memory_order_relaxed);
        uint64_t now = kvs__now_us();
        if (pending != last_pending) {
            last_pending = pending;
            last_change_us = now;
        }
        bool quiet = now - last_change_us >= LOOK_US;
        if (pending >= FLUSH_AT || (pending > 0 && quiet)) {
            pthread_mutex_lock(&o->flush_mutex);
            flush(db);
            pthread_mutex_unlock(&o->flush_mutex);
            last_pending = 0;
        }
        bool idle = now - last_change_us >= IDLE_US;
        while (!o->stop && merge_step(db, false, idle) == KVS_OK)
            ;
        /* Look again soon while something may be left to do once writes
         * pause; otherwise wait for a kick. */
        wait = pending > 0 || !idle ? LOOK_US : IDLE_US;
    }
    return NULL;
}

void kvs__order_init(struct kvs_order *o)
{
    *o = (struct kvs_order){0};
    pthread_mutex_init(&o->flush_mutex, NULL);
    pthread_mutex_init(&o->view_mutex, NULL);
    pthread_mutex_init(&o->merge_mutex, NULL);
    pthread_mutex_init(&o->mutex, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&o->cond, &ca);
    pthread_condattr_destroy(&ca);
}

int kvs__order_start(struct kvs *db)
{
    struct kvs_order *o = &db->order;
    /* no writer or reader exists yet: no lock needed before the thread */
    bool dormant = !kvs__order_file_exists(db);
    o->dormant = dormant;
    if (pthread_create(&o->thread, NULL, order_main, db) != 0)
        return KVS_ENOMEM;
    o->running = true;
    if (dormant)
        return KVS_OK;
    /* Wait until the thread holds compact_mutex for the first view: no
     * compaction may retire a segment the pending writes point into before
     * there is a view to flush them into (kvs__order_refresh). */
    pthread_mutex_lock(&o->mutex);
    while (!o->building && !o->ready)
        pthread_cond_wait(&o->cond, &o->mutex);
    pthread_mutex_unlock(&o->mutex);
    return KVS_OK;
}

void kvs__order_stop(struct kvs *db)
{
    struct kvs_order *o = &db->order;
    if (o->running) {
        pthread_mutex_lock(&o->mutex);
        atomic_store(&o->stop, true);
        pthread_cond_broadcast(&o->cond);
        pthread_mutex_unlock(&o->mutex);
        pthread_join(o->thread, NULL);
        o->running = false;
    }
}

int kvs__order_save(struct kvs *db)
{
    struct kvs_order *o = &db->order;
    if (o->off || !o->view) /* never built: the file (if any) is stale */
        return kvs__order_file_write(db, NULL);
    int rc = flush(db);
    struct kvs_run *all = NULL;
    if (rc == KVS_OK)
        rc = kvs__run_merge(db, o->view->runs, o->view->nruns, true, false, &all);
    if (rc == KVS_OK)
        rc = kvs__order_file_write(db, all);
    else
        kvs__order_file_write(db, NULL);
    kvs__run_unref(all);
    return rc;
}

void kvs__order_release(struct kvs *db)
{
    struct kvs_order *o = &db->order;
    kvs__order_stop(db);
    blocks_free(o->head);
    blocks_free(o->spare);
    o->head = o->tail = o->spare = NULL;
    kvs__view_unref(o->view);
    o->view = NULL;
}

void kvs__order_destroy(struct kvs_order *o)
{
    pthread_mutex_destroy(&o->flush_mutex);
    pthread_mutex_destroy(&o->view_mutex);
    pthread_mutex_destroy(&o->merge_mutex);
    pthread_mutex_destroy(&o->mutex);
    pthread_cond_destroy(&o->cond);
}

int kvs__order_acquire(struct kvs *db, struct kvs_view **out)
{
    struct kvs_order *o = &db->order;
    *out = NULL;
    pthread_mutex_lock(&o->mutex);
    if (!o->wanted) {
        o->wanted = true; /* a dormant thread builds the first view now */
        pthread_cond_broadcast(&o->cond);
    }
    while (!o->ready)
        pthread_cond_wait(&o->cond, &o->mutex);
    int rc = o->build_rc;
    pthread_mutex_unlock(&o->mutex);
    if (rc != KVS_OK)
        return rc;
    pthread_mutex_lock(&o->flush_mutex);
    uint64_t flushes = atomic_load_explicit(&o->flushes, memory_order_relaxed);
    /* Nothing pending (read-mostly use): no need to stop the writer. A
     * write acknowledged before this call was counted in pending before
     * its writer released write_mutex, which the caller synchronized with. */
    if (atomic_load(&o->pending) != 0)
        rc = flush(db);
    if (rc == KVS_OK)
        *out = view_get(o);
    pthread_mutex_unlock(&o->flush_mutex);
    if (atomic_load_explicit(&o->flushes, memory_order_relaxed) != flushes)
        kick(o); /* a run was added: the thread may want to merge */
    return rc;
}

int kvs__order_refresh(struct kvs *db)
{
    struct kvs_order *o = &db->order;
    if (o->off || o->dormant) /* both change only under compact_mutex: no race */
        return KVS_OK;
    /* Flushed first, so that every record's entry is in a run merged. */
    pthread_mutex_lock(&o->flush_mutex);
    int rc = flush(db);
    pthread_mutex_unlock(&o->flush_mutex);
    if (rc == KVS_OK) {
        rc = merge_step(db, true, false);
        rc = rc == KVS_NOT_FOUND ? KVS_OK : rc;
    }
    return rc;
}

void kvs__order_usage(struct kvs *db, uint64_t *bytes, uint64_t *runs)
{
    struct kvs_view *v = view_get(&db->order);
    *bytes = 0;
    *runs = v ? v->nruns : 0;
    for (uint32_t i = 0; v && i < v->nruns; i++)
        *bytes += kvs__run_bytes(v->runs[i]);
    kvs__view_unref(v);
}
