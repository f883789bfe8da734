/* LevelDB through its C API (leveldb/c.h). Non-sync: WriteOptions.sync =
 * false (the log record is written to the OS per write); sync: sync = true.
 * Defaults otherwise, except two choices any user of this workload makes:
 * no compression (the values are random bytes, incompressible) and a
 * 10-bit-per-key Bloom filter (point lookups are the whole workload). */
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
};
