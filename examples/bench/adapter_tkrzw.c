/* tkrzw HashDBM through its C API (tkrzw_langc.h), with its default file
 * class (a shared memory mapping, MemoryMapParallelFile): a set writes into
 * the mapped file, i.e. hands the data to the OS like KVS_SYNC_NONE.
 * tkrzw has no per-write durability flag; for fillsync the closest honest
 * equivalent is Synchronize(hard=true) after every write, which on this
 * file class is msync(MS_SYNC), a real flush to stable storage.
 * Not PositionalParallelFile, although it syncs about 4x faster: strace
 * shows its "hard" sync is sync_file_range(2), which neither flushes the
 * drive's write cache nor the file's metadata, so it promises less than an
 * fdatasync and would not be the same durability as KVS_SYNC_ALWAYS.
 * The bucket array is sized to twice the expected keys, as tkrzw's
 * documentation advises (buckets >= records).
 * HashDBM is unordered: its iterator walks the records in hash order and
 * has no Last/Previous, and its Jump goes to one exact key (then on in hash
 * order), so only readseq runs, as an unordered walk, and the harness does
 * not check its order. The iterator is not a snapshot. tkrzw_dbm_iter_get
 * returns malloc'ed copies of key and value, freed at the next move.
 * A batch is tkrzw_dbm_process_multi with one processor per record: HashDBM
 * locks every record's bucket, then sets them all, atomically. (The C API's
 * tkrzw_dbm_set_multi is DBM::SetMulti, a plain loop of Set calls, not
 * atomic, so it would not be a batch.)
 * No multi_get: tkrzw_dbm_get_multi is DBM::GetMulti, which neither HashDBM
 * nor PolyDBM overrides: a loop of Get calls copying each hit into a
 * std::map, no batching, so multiget calls get per key instead. */
#include "adapter.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tkrzw_langc.h>

struct tk_db {
    TkrzwDBM *dbm;
    int sync;
};

/* A cursor: the iterator and the copies of its current entry. */
struct tk_iter {
    TkrzwDBMIter *it;
    char *k, *v;
    int32_t kl, vl;
};

/* A batch: copies of its records (offsets into data), applied at commit. */
struct tk_rec {
    size_t koff, voff;
    int32_t kl, vl;
};

struct tk_batch {
    struct tk_rec *recs;
    size_t n, cap;
    char *data;
    size_t used, data_cap;
    int failed;
};

static int report(const char *what)
{
    fprintf(stderr, "kvs-bench: tkrzw %s: %s\n", what, tkrzw_get_last_status_message());
    return BENCH_ERR;
}

static const char *tk_ver(void)
{
    return TKRZW_PACKAGE_VERSION;
}

static int tk_open(const char *dir, const bench_open_opts_t *o, void **out)
{
    struct tk_db *d = calloc(1, sizeof *d);
    if (!d)
        return BENCH_ERR;
    char path[PATH_MAX], params[128];
    snprintf(path, sizeof path, "%s/casket.tkh", dir);
    unsigned long long buckets = 2 * (unsigned long long)o->expected_keys + 1;
    snprintf(params, sizeof params, "dbm=HashDBM,num_buckets=%llu", buckets);
    d->dbm = tkrzw_dbm_open(path, true, params);
    if (!d->dbm) {
        free(d);
        return report("open");
    }
    d->sync = o->sync;
    *out = d;
    return 0;
}

static int tk_close(void *db)
{
    struct tk_db *d = db;
    int ok = tkrzw_dbm_close(d->dbm);
    free(d);
    return ok ? 0 : report("close");
}

static int durable(struct tk_db *d)
{
    if (d->sync && !tkrzw_dbm_synchronize(d->dbm, true, NULL, NULL, ""))
        return report("synchronize");
    return 0;
}

static int tk_put(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    struct tk_db *d = ctx;
    if (!tkrzw_dbm_set(d->dbm, k, (int32_t)kl, v, (int32_t)vl, true))
        return report("set");
    return durable(d);
}

static int tk_get(void *ctx, const char *k, size_t kl, char *buf, size_t cap, size_t *vl)
{
    struct tk_db *d = ctx;
    int32_t n;
    char *v = tkrzw_dbm_get(d->dbm, k, (int32_t)kl, &n);
    if (!v) {
        if (tkrzw_get_last_status_code() == TKRZW_STATUS_NOT_FOUND_ERROR)
            return BENCH_MISSING;
        return report("get");
    }
    *vl = (size_t)n;
    memcpy(buf, v, *vl < cap ? *vl : cap);
    free(v);
    return BENCH_FOUND;
}

static int tk_del(void *ctx, const char *k, size_t kl)
{
    struct tk_db *d = ctx;
    if (!tkrzw_dbm_remove(d->dbm, k, (int32_t)kl)) {
        if (tkrzw_get_last_status_code() == TKRZW_STATUS_NOT_FOUND_ERROR)
            return BENCH_MISSING;
        return report("remove");
    }
    return durable(d) ? BENCH_ERR : BENCH_FOUND;
}

/* ---- cursors: an unordered walk ---- */

static void *tk_iter_open(void *ctx)
{
    struct tk_db *d = ctx;
    struct tk_iter *ti = calloc(1, sizeof *ti);
    if (ti && !(ti->it = tkrzw_dbm_make_iterator(d->dbm))) {
        free(ti);
        ti = NULL;
    }
    if (!ti)
        report("make_iterator");
    return ti;
}

static void drop_entry(struct tk_iter *ti)
{
    free(ti->k);
    free(ti->v);
    ti->k = ti->v = NULL;
}

static void tk_iter_close(void *it)
{
    struct tk_iter *ti = it;
    drop_entry(ti);
    tkrzw_dbm_iter_free(ti->it);
    free(ti);
}

/* Fetches the record the iterator is on, if any (past the end: NOT_FOUND). */
static int fetch(struct tk_iter *ti, bool moved)
{
    drop_entry(ti);
    if (!moved)
        return report("iterator move");
    if (tkrzw_dbm_iter_get(ti->it, &ti->k, &ti->kl, &ti->v, &ti->vl))
        return BENCH_FOUND;
    ti->k = ti->v = NULL;
    if (tkrzw_get_last_status_code() == TKRZW_STATUS_NOT_FOUND_ERROR)
        return BENCH_MISSING;
    return report("iterator get");
}

static int tk_iter_first(void *it)
{
    struct tk_iter *ti = it;
    return fetch(ti, tkrzw_dbm_iter_first(ti->it));
}

static int tk_iter_next(void *it)
{
    struct tk_iter *ti = it;
    return fetch(ti, tkrzw_dbm_iter_next(ti->it));
}

static int tk_iter_entry(void *it, const char **k, size_t *kl, const char **v, size_t *vl)
{
    struct tk_iter *ti = it;
    *k = ti->k;
    *kl = (size_t)ti->kl;
    *v = ti->v;
    *vl = (size_t)ti->vl;
    return BENCH_FOUND;
}

static const bench_iter_ops_t tk_iter_ops = {
    .open = tk_iter_open,
    .close = tk_iter_close,
    .first = tk_iter_first,
    .next = tk_iter_next,
    .entry = tk_iter_entry,
    .unordered = 1,
};

/* ---- batches: tkrzw_dbm_process_multi ---- */

static void *tk_batch_begin(void *ctx)
{
    (void)ctx;
    struct tk_batch *b = calloc(1, sizeof *b);
    if (!b)
        fprintf(stderr, "kvs-bench: tkrzw batch: out of memory\n");
    return b;
}

/* Room for one more record of `bytes` bytes; 0 or -1 (ENOMEM). */
static int batch_reserve(struct tk_batch *b, size_t bytes)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 64;
        struct tk_rec *r = realloc(b->recs, cap * sizeof *r);
        if (!r)
            return -1;
        b->recs = r;
        b->cap = cap;
    }
    if (b->used + bytes > b->data_cap) {
        size_t cap = 2 * (b->used + bytes);
        char *d = realloc(b->data, cap);
        if (!d)
            return -1;
        b->data = d;
        b->data_cap = cap;
    }
    return 0;
}

static int tk_batch_put(void *batch, const char *k, size_t kl, const char *v, size_t vl)
{
    struct tk_batch *b = batch;
    if (batch_reserve(b, kl + vl) != 0) {
        b->failed = 1;
        fprintf(stderr, "kvs-bench: tkrzw batch: out of memory\n");
        return BENCH_ERR;
    }
    struct tk_rec *r = &b->recs[b->n++];
    *r = (struct tk_rec){b->used, b->used + kl, (int32_t)kl, (int32_t)vl};
    memcpy(b->data + r->koff, k, kl);
    memcpy(b->data + r->voff, v, vl);
    b->used += kl + vl;
    return 0;
}

/* The processor of one record: replaces (or creates) it with the value in arg. */
static const char *set_value(void *arg, const char *k, int32_t kl, const char *v, int32_t vl,
                             int32_t *new_vl)
{
    (void)k, (void)kl, (void)v, (void)vl;
    const TkrzwStr *val = arg;
    *new_vl = val->size;
    return val->ptr;
}

/* Sets every record of the batch in one process_multi call. */
static int apply(struct tk_db *d, struct tk_batch *b)
{
    /* + 1: never malloc(0), which may return NULL */
    TkrzwKeyProcPair *pairs = malloc(b->n * sizeof *pairs + 1);
    TkrzwStr *vals = malloc(b->n * sizeof *vals + 1);
    int ok = pairs && vals;
    for (size_t i = 0; ok && i < b->n; i++) {
        vals[i] = (TkrzwStr){b->data + b->recs[i].voff, b->recs[i].vl};
        pairs[i] = (TkrzwKeyProcPair){b->data + b->recs[i].koff, b->recs[i].kl, set_value,
                                      &vals[i]};
    }
    if (ok)
        ok = tkrzw_dbm_process_multi(d->dbm, pairs, (int32_t)b->n, true);
    free(pairs);
    free(vals);
    return ok ? durable(d) : report("process_multi");
}

static int tk_batch_commit(void *ctx, void *batch)
{
    struct tk_batch *b = batch;
    int rc = b->failed ? BENCH_ERR : apply(ctx, b);
    free(b->recs);
    free(b->data);
    free(b);
    return rc;
}

static const bench_batch_ops_t tk_batch_ops = {
    .begin = tk_batch_begin,
    .put = tk_batch_put,
    .commit = tk_batch_commit,
};

const bench_adapter_t bench_adapter_tkrzw = {
    .name = "tkrzw",
    .title = "tkrzw HashDBM",
    .version = tk_ver,
    .nosync_desc = "no sync (writes go into the shared file mapping)",
    .sync_desc = "Synchronize(hard=true) after every write (msync MS_SYNC)",
    .common_desc = "HashDBM, default file class (memory map), num_buckets = 2 x keys, "
                   "update in place",
    .open = tk_open,
    .close = tk_close,
    /* HashDBM is thread-safe (bucket-level locks): threads share the handle. */
    .attach = bench_attach_shared,
    .detach = bench_detach_shared,
    .put = tk_put,
    .get = tk_get,
    .del = tk_del,
    .iter = &tk_iter_ops,
    .iter_desc = "readseq only, as an unordered walk: tkrzw_dbm_make_iterator, iter_first, "
                 "iter_next, iter_get (malloc'ed copies); HashDBM iterates in hash order, "
                 "has no Last/Previous, and its Jump finds one exact key, so readreverse "
                 "and seekrandom are n/a; not a snapshot",
    .batch = &tk_batch_ops,
    .batch_desc = "tkrzw_dbm_process_multi, one processor per record setting its value "
                  "(atomic: HashDBM locks every record's bucket first); set_multi is a plain "
                  "loop of Set, not a batch",
    .multi_get_desc = "no batched read: the harness calls get per key (tkrzw_dbm_get, as "
                      "readrandom); tkrzw_dbm_get_multi is DBM::GetMulti, a loop of Get "
                      "filling a std::map, not a batch",
};
