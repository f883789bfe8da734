/* RocksDB through its C API (rocksdb/c.h). Same choices as for LevelDB:
 * sync=false/true per write, defaults otherwise except no compression
 * (random values) and a 10-bit Bloom filter. Plus allow_mmap_reads: every
 * other store here reads its files through a memory mapping (LevelDB does
 * by default), and RocksDB's pread path was about 1.7x slower on readrandom
 * on the development machine. Gets use the pinned-slice API, RocksDB's
 * copy-free read path, then copy the value out like every store. */
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
    d->db = rocksdb_open(d->opts, dir, &err);
    if (err) {
        d->db = NULL;
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

static int rdb_get(void *ctx, const char *k, size_t kl, char *buf, size_t cap, size_t *vl)
{
    struct rdb *d = ctx;
    char *err = NULL;
    rocksdb_pinnableslice_t *p = rocksdb_get_pinned(d->db, d->ro, k, kl, &err);
    if (err)
        return report("get", err);
    if (!p)
        return BENCH_MISSING;
    const char *v = rocksdb_pinnableslice_value(p, vl);
    memcpy(buf, v, *vl < cap ? *vl : cap);
    rocksdb_pinnableslice_destroy(p);
    return BENCH_FOUND;
}

/* Like LevelDB, a blind tombstone. */
static int rdb_del(void *ctx, const char *k, size_t kl)
{
    struct rdb *d = ctx;
    char *err = NULL;
    rocksdb_delete(d->db, d->wo, k, kl, &err);
    return err ? report("delete", err) : BENCH_FOUND;
}

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
    .del = rdb_del,
};
