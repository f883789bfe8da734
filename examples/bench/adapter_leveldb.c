/* LevelDB through its C API (leveldb/c.h). Non-sync: WriteOptions.sync =
 * false (the log record is written to the OS per write); sync: sync = true.
 * Defaults otherwise, except two choices any user of this workload makes:
 * no compression (the values are random bytes, incompressible) and a
 * 10-bit-per-key Bloom filter (point lookups are the whole workload).
 * Cursors are leveldb_create_iterator with default ReadOptions, as db_bench
 * uses; batches are a WriteBatch per batch, written with the same options. */
#include "adapter.h"

#include <leveldb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ldb {
    leveldb_t *db;
    leveldb_options_t *opts;
    leveldb_filterpolicy_t *bloom;
    leveldb_writeoptions_t *wo;
    leveldb_readoptions_t *ro;
};

static int report(const char *what, char *err)
{
    fprintf(stderr, "kvs-bench: leveldb %s: %s\n", what, err ? err : "?");
    leveldb_free(err);
    return BENCH_ERR;
}

static const char *ldb_ver(void)
{
    static char buf[32];
    snprintf(buf, sizeof buf, "%d.%d", leveldb_major_version(), leveldb_minor_version());
    return buf;
}

static void ldb_free_all(struct ldb *d)
{
    if (d->db)
        leveldb_close(d->db);
    leveldb_options_destroy(d->opts);
    leveldb_filterpolicy_destroy(d->bloom);
    leveldb_writeoptions_destroy(d->wo);
    leveldb_readoptions_destroy(d->ro);
    free(d);
}

static int ldb_open(const char *dir, const bench_open_opts_t *o, void **out)
{
    struct ldb *d = calloc(1, sizeof *d);
    if (!d)
        return BENCH_ERR;
    d->opts = leveldb_options_create();
    d->bloom = leveldb_filterpolicy_create_bloom(10);
    d->wo = leveldb_writeoptions_create();
    d->ro = leveldb_readoptions_create();
    leveldb_options_set_create_if_missing(d->opts, 1);
    leveldb_options_set_compression(d->opts, leveldb_no_compression);
    leveldb_options_set_filter_policy(d->opts, d->bloom);
    leveldb_writeoptions_set_sync(d->wo, (unsigned char)(o->sync != 0));
    char *err = NULL;
    d->db = leveldb_open(d->opts, dir, &err);
    if (err) {
        d->db = NULL;
        ldb_free_all(d);
        return report("open", err);
    }
    *out = d;
    return 0;
}

static int ldb_close(void *db)
{
    ldb_free_all(db);
    return 0;
}

static int ldb_put(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    struct ldb *d = ctx;
    char *err = NULL;
    leveldb_put(d->db, d->wo, k, kl, v, vl, &err);
    return err ? report("put", err) : 0;
}

static int ldb_get(void *ctx, const char *k, size_t kl, char *buf, size_t cap, size_t *vl)
{
    struct ldb *d = ctx;
    char *err = NULL;
    char *v = leveldb_get(d->db, d->ro, k, kl, vl, &err);
    if (err)
        return report("get", err);
    if (!v)
        return BENCH_MISSING;
    memcpy(buf, v, *vl < cap ? *vl : cap);
    leveldb_free(v);
    return BENCH_FOUND;
}

/* LevelDB deletes blindly (a tombstone whether or not the key exists). */
static int ldb_del(void *ctx, const char *k, size_t kl)
{
    struct ldb *d = ctx;
    char *err = NULL;
    leveldb_delete(d->db, d->wo, k, kl, &err);
    return err ? report("delete", err) : BENCH_FOUND;
}

/* ---- cursors ---- */

static void *ldb_iter_open(void *ctx)
{
    struct ldb *d = ctx;
    return leveldb_create_iterator(d->db, d->ro);
}

static void ldb_iter_close(void *it)
{
    leveldb_iter_destroy(it);
}

/* After a move: on an entry, past the end, or stopped by an error. */
static int ldb_iter_state(leveldb_iterator_t *it)
{
    if (leveldb_iter_valid(it))
        return BENCH_FOUND;
    char *err = NULL;
    leveldb_iter_get_error(it, &err);
    return err ? report("iterator", err) : BENCH_MISSING;
}

static int ldb_iter_first(void *it)
{
    leveldb_iter_seek_to_first(it);
    return ldb_iter_state(it);
}

static int ldb_iter_next(void *it)
{
    leveldb_iter_next(it);
    return ldb_iter_state(it);
}

static int ldb_iter_last(void *it)
{
    leveldb_iter_seek_to_last(it);
    return ldb_iter_state(it);
}

static int ldb_iter_prev(void *it)
{
    leveldb_iter_prev(it);
    return ldb_iter_state(it);
}

static int ldb_iter_seek(void *it, const char *k, size_t kl)
{
    leveldb_iter_seek(it, k, kl);
    return ldb_iter_state(it);
}

static int ldb_iter_entry(void *it, const char **k, size_t *kl, const char **v, size_t *vl)
{
    *k = leveldb_iter_key(it, kl);
    *v = leveldb_iter_value(it, vl);
    return BENCH_FOUND;
}

static const bench_iter_ops_t ldb_iter_ops = {
    .open = ldb_iter_open,
    .close = ldb_iter_close,
    .first = ldb_iter_first,
    .next = ldb_iter_next,
    .last = ldb_iter_last,
    .prev = ldb_iter_prev,
    .seek = ldb_iter_seek,
    .entry = ldb_iter_entry,
};

/* ---- write batches ---- */

static void *ldb_batch_begin(void *ctx)
{
    (void)ctx;
    return leveldb_writebatch_create();
}

static int ldb_batch_put(void *b, const char *k, size_t kl, const char *v, size_t vl)
{
    leveldb_writebatch_put(b, k, kl, v, vl);
    return 0;
}

static int ldb_batch_commit(void *ctx, void *b)
{
    struct ldb *d = ctx;
    char *err = NULL;
    leveldb_write(d->db, d->wo, b, &err);
    leveldb_writebatch_destroy(b);
    return err ? report("write batch", err) : 0;
}

static const bench_batch_ops_t ldb_batch_ops = {
    .begin = ldb_batch_begin,
    .put = ldb_batch_put,
    .commit = ldb_batch_commit,
};

const bench_adapter_t bench_adapter_leveldb = {
    .name = "leveldb",
    .title = "LevelDB",
    .version = ldb_ver,
    .nosync_desc = "WriteOptions.sync=false",
    .sync_desc = "WriteOptions.sync=true",
    .common_desc = "defaults (4 MB write buffer, 8 MB block cache), no compression, "
                   "10-bit Bloom filter",
    .open = ldb_open,
    .close = ldb_close,
    .attach = bench_attach_shared,
    .detach = bench_detach_shared,
    .put = ldb_put,
    .get = ldb_get,
    .del = ldb_del,
    .iter = &ldb_iter_ops,
    .iter_desc = "leveldb_create_iterator (implicit snapshot; default ReadOptions: "
                 "checksums not verified, fill_cache), seek_to_first/last, seek, next/prev",
    .batch = &ldb_batch_ops,
    .batch_desc = "leveldb_writebatch_create + put per batch, leveldb_write (sync=false)",
    .multi_get_desc = "no batched read in LevelDB's API: the harness calls get per key "
                      "(leveldb_get, as readrandom)",
};
