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
 * documentation advises (buckets >= records). */
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
};
