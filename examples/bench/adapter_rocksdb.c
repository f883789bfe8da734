/* RocksDB through its C API (rocksdb/c.h). Same choices as for LevelDB:
 * sync=false/true per write, defaults otherwise except no compression
 * (random values) and a 10-bit Bloom filter. Plus allow_mmap_reads: every
 * other store here reads its files through a memory mapping (LevelDB does
 * by default), and RocksDB's pread path was about 1.7x slower on readrandom
 * on the development machine. Gets use the pinned-slice API, RocksDB's
 * copy-free read path, then copy the value out like every store.
 * Cursors are rocksdb_create_iterator with default ReadOptions (as db_bench);
 * batches are a WriteBatch per batch, written with the same options.
 * multiget is rocksdb_batched_multi_get_cf, the C binding of the batched
 * DB::MultiGet (keys sorted, then looked up level by level together, filter
 * and index probes and block reads shared), returning pinned slices like the
 * gets. rocksdb_multi_get is not used: it binds the vector MultiGet, which
 * in RocksDB 7 looks the keys up one by one. The batched call wants a column
 * family handle, and the C API of RocksDB 7 only hands out the default one's
 * from rocksdb_open_column_families, so the store is opened with that call
 * naming only "default", which is what rocksdb_open (DB::Open) does. */
#include "adapter.h"

#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef ROCKSDB_VERSION_STR
#define ROCKSDB_VERSION_STR "unknown"
#endif

struct rdb {
    rocksdb_t *db;
    rocksdb_column_family_handle_t *cf; /* "default", the only one */
    rocksdb_options_t *opts;
    rocksdb_block_based_table_options_t *table;
    rocksdb_writeoptions_t *wo;
    rocksdb_readoptions_t *ro;
};

static int report(const char *what, char *err)
{
    fprintf(stderr, "kvs-bench: rocksdb %s: %s\n", what, err ? err : "?");
    rocksdb_free(err);
    return BENCH_ERR;
}

static const char *rdb_ver(void)
{
    return ROCKSDB_VERSION_STR;
}

static void rdb_free_all(struct rdb *d)
{
    if (d->cf)
        rocksdb_column_family_handle_destroy(d->cf);
    if (d->db)
        rocksdb_close(d->db);
    rocksdb_options_destroy(d->opts);
    rocksdb_block_based_options_destroy(d->table);
    rocksdb_writeoptions_destroy(d->wo);
    rocksdb_readoptions_destroy(d->ro);
    free(d);
}

static int rdb_open(const char *dir, const bench_open_opts_t *o, void **out)
{
    struct rdb *d = calloc(1, sizeof *d);
    if (!d)
        return BENCH_ERR;
    d->opts = rocksdb_options_create();
    d->table = rocksdb_block_based_options_create();
    d->wo = rocksdb_writeoptions_create();
    d->ro = rocksdb_readoptions_create();
    /* The table options take ownership of the filter policy. */
    rocksdb_block_based_options_set_filter_policy(d->table, rocksdb_filterpolicy_create_bloom(10));
    rocksdb_options_set_block_based_table_factory(d->opts, d->table);
    rocksdb_options_set_create_if_missing(d->opts, 1);
    rocksdb_options_set_compression(d->opts, rocksdb_no_compression);
    rocksdb_options_set_allow_mmap_reads(d->opts, 1);
    rocksdb_writeoptions_set_sync(d->wo, (unsigned char)(o->sync != 0));
    char *err = NULL;
    const char *names[1] = {"default"};
    const rocksdb_options_t *cf_opts[1] = {d->opts};
    d->db = rocksdb_open_column_families(d->opts, dir, 1, names, cf_opts, &d->cf, &err);
    if (err) {
        d->db = NULL;
        d->cf = NULL;
        rdb_free_all(d);
        return report("open", err);
    }
    *out = d;
    return 0;
}

static int rdb_close(void *db)
{
    rdb_free_all(db);
    return 0;
}

static int rdb_put(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    struct rdb *d = ctx;
    char *err = NULL;
    rocksdb_put(d->db, d->wo, k, kl, v, vl, &err);
    return err ? report("put", err) : 0;
}

/* Copies a found value out of its pinned slice and releases the slice. */
static int copy_pinned(rocksdb_pinnableslice_t *p, char *buf, size_t cap, size_t *vl)
{
    const char *v = rocksdb_pinnableslice_value(p, vl);
    memcpy(buf, v, *vl < cap ? *vl : cap);
    rocksdb_pinnableslice_destroy(p);
    return BENCH_FOUND;
}

static int rdb_get(void *ctx, const char *k, size_t kl, char *buf, size_t cap, size_t *vl)
{
    struct rdb *d = ctx;
    char *err = NULL;
    rocksdb_pinnableslice_t *p = rocksdb_get_pinned(d->db, d->ro, k, kl, &err);
    if (err)
        return report("get", err);
    return p ? copy_pinned(p, buf, cap, vl) : BENCH_MISSING;
}

/* One batched MultiGet; keys in the harness's (random) order, which the
 * call sorts itself (sorted_input false). */
static int rdb_multi_get(void *ctx, size_t n, const char *const *keys, const size_t *klens,
                         char *const *bufs, size_t cap, size_t *vlens, int *results)
{
    struct rdb *d = ctx;
    rocksdb_pinnableslice_t *vals[BENCH_MULTI_GET_KEYS];
    char *errs[BENCH_MULTI_GET_KEYS];
    if (n > BENCH_MULTI_GET_KEYS) {
        fprintf(stderr, "kvs-bench: rocksdb multi_get: %zu keys, at most %d\n", n,
                BENCH_MULTI_GET_KEYS);
        return BENCH_ERR;
    }
    rocksdb_batched_multi_get_cf(d->db, d->ro, d->cf, n, keys, klens, vals, errs, 0);
    for (size_t i = 0; i < n; i++)
        results[i] = errs[i]  ? report("multi_get", errs[i])
                     : vals[i] ? copy_pinned(vals[i], bufs[i], cap, &vlens[i])
                               : BENCH_MISSING;
    return 0;
}

/* Like LevelDB, a blind tombstone. */
static int rdb_del(void *ctx, const char *k, size_t kl)
{
    struct rdb *d = ctx;
    char *err = NULL;
    rocksdb_delete(d->db, d->wo, k, kl, &err);
    return err ? report("delete", err) : BENCH_FOUND;
}

/* ---- cursors ---- */

static void *rdb_iter_open(void *ctx)
{
    struct rdb *d = ctx;
    return rocksdb_create_iterator(d->db, d->ro);
}

static void rdb_iter_close(void *it)
{
    rocksdb_iter_destroy(it);
}

/* After a move: on an entry, past the end, or stopped by an error. */
static int rdb_iter_state(rocksdb_iterator_t *it)
{
    if (rocksdb_iter_valid(it))
        return BENCH_FOUND;
    char *err = NULL;
    rocksdb_iter_get_error(it, &err);
    return err ? report("iterator", err) : BENCH_MISSING;
}

static int rdb_iter_first(void *it)
{
    rocksdb_iter_seek_to_first(it);
    return rdb_iter_state(it);
}

static int rdb_iter_next(void *it)
{
    rocksdb_iter_next(it);
    return rdb_iter_state(it);
}

static int rdb_iter_last(void *it)
{
    rocksdb_iter_seek_to_last(it);
    return rdb_iter_state(it);
}

static int rdb_iter_prev(void *it)
{
    rocksdb_iter_prev(it);
    return rdb_iter_state(it);
}

static int rdb_iter_seek(void *it, const char *k, size_t kl)
{
    rocksdb_iter_seek(it, k, kl);
    return rdb_iter_state(it);
}

static int rdb_iter_entry(void *it, const char **k, size_t *kl, const char **v, size_t *vl)
{
    *k = rocksdb_iter_key(it, kl);
    *v = rocksdb_iter_value(it, vl);
    return BENCH_FOUND;
}

static const bench_iter_ops_t rdb_iter_ops = {
    .open = rdb_iter_open,
    .close = rdb_iter_close,
    .first = rdb_iter_first,
    .next = rdb_iter_next,
    .last = rdb_iter_last,
    .prev = rdb_iter_prev,
    .seek = rdb_iter_seek,
    .entry = rdb_iter_entry,
};

/* ---- write batches ---- */

static void *rdb_batch_begin(void *ctx)
{
    (void)ctx;
    return rocksdb_writebatch_create();
}

static int rdb_batch_put(void *b, const char *k, size_t kl, const char *v, size_t vl)
{
    rocksdb_writebatch_put(b, k, kl, v, vl);
    return 0;
}

static int rdb_batch_commit(void *ctx, void *b)
{
    struct rdb *d = ctx;
    char *err = NULL;
    rocksdb_write(d->db, d->wo, b, &err);
    rocksdb_writebatch_destroy(b);
    return err ? report("write batch", err) : 0;
}

static const bench_batch_ops_t rdb_batch_ops = {
    .begin = rdb_batch_begin,
    .put = rdb_batch_put,
    .commit = rdb_batch_commit,
};

const bench_adapter_t bench_adapter_rocksdb = {
    .name = "rocksdb",
    .title = "RocksDB",
    .version = rdb_ver,
    .nosync_desc = "WriteOptions.sync=false (WAL on)",
    .sync_desc = "WriteOptions.sync=true",
    .common_desc = "defaults (64 MB memtable, 8 MB block cache, 2 background jobs), "
                   "no compression, 10-bit Bloom filter, allow_mmap_reads, pinned-slice gets",
    .open = rdb_open,
    .close = rdb_close,
    .attach = bench_attach_shared,
    .detach = bench_detach_shared,
    .put = rdb_put,
    .get = rdb_get,
    .multi_get = rdb_multi_get,
    .del = rdb_del,
    .iter = &rdb_iter_ops,
    .iter_desc = "rocksdb_create_iterator (implicit snapshot; default ReadOptions: block "
                 "checksums verified), seek_to_first/last, seek, next/prev",
    .batch = &rdb_batch_ops,
    .batch_desc = "rocksdb_writebatch_create + put per batch, rocksdb_write (sync=false, WAL on)",
    .multi_get_desc = "one rocksdb_batched_multi_get_cf per call (batched DB::MultiGet on the "
                      "default column family, unsorted input; pinned slices, copied out)",
};
