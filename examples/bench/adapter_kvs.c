/* libkvs, through its public header only. */
#include "adapter.h"
#include "sysinfo.h"

#include <kvs.h>
#include <stdio.h>
#include <string.h>

static int report(const char *what, int rc)
{
    fprintf(stderr, "kvs-bench: libkvs %s: %s\n", what, kvs_strerror(rc));
    return BENCH_ERR;
}

static const char *kvs_ver(void)
{
    return kvs_version();
}

static int kvs_a_open(const char *dir, const bench_open_opts_t *o, void **db)
{
    kvs_options_t *opts = kvs_options_create();
    if (!opts)
        return report("options", KVS_ENOMEM);
    kvs_options_set_sync(opts, o->sync ? KVS_SYNC_ALWAYS : KVS_SYNC_NONE);
    kvs_t *h;
    int rc = kvs_open(dir, opts, &h);
    kvs_options_destroy(opts);
    if (rc != KVS_OK)
        return report("open", rc);
    *db = h;
    return 0;
}

static int kvs_a_close(void *db)
{
    int rc = kvs_close(db);
    return rc == KVS_OK ? 0 : report("close", rc);
}

static int kvs_a_put(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    int rc = kvs_set(ctx, k, kl, v, vl);
    return rc == KVS_OK ? 0 : report("set", rc);
}

static int kvs_a_get(void *ctx, const char *k, size_t kl, char *buf, size_t cap, size_t *vl)
{
    void *val;
    int rc = kvs_get(ctx, k, kl, &val, vl);
    if (rc == KVS_NOT_FOUND)
        return BENCH_MISSING;
    if (rc != KVS_OK)
        return report("get", rc);
    memcpy(buf, val, *vl < cap ? *vl : cap);
    kvs_free(val);
    return BENCH_FOUND;
}

static int kvs_a_del(void *ctx, const char *k, size_t kl)
{
    int rc = kvs_remove(ctx, k, kl);
    if (rc == KVS_NOT_FOUND)
        return BENCH_MISSING;
    return rc == KVS_OK ? BENCH_FOUND : report("remove", rc);
}

static uint64_t stat_of(kvs_t *db, kvs_stat_t which)
{
    uint64_t v = 0;
    kvs_stat(db, which, &v);
    return v;
}

/* Compaction runs in the background: wait until the compaction counter, the
 * bytes on disk and the dead bytes have not moved for 2 s (bounded), so the
 * space figure is the steady state rather than a moment mid-merge. */
static int kvs_a_settle(void *db, double max_s, char *note, size_t note_len)
{
    const long step_ms = 100, quiet_ms = 2000;
    uint64_t last[3] = {0, 0, 0};
    long quiet = 0, waited = 0;
    uint64_t c0 = stat_of(db, KVS_STAT_COMPACTIONS);
    while (waited < (long)(max_s * 1000) && quiet < quiet_ms) {
        uint64_t now[3] = {stat_of(db, KVS_STAT_COMPACTIONS), stat_of(db, KVS_STAT_DISK_BYTES),
                           stat_of(db, KVS_STAT_DEAD_BYTES)};
        quiet = memcmp(now, last, sizeof now) == 0 ? quiet + step_ms : 0;
        memcpy(last, now, sizeof now);
        bench_sleep_ms(step_ms);
        waited += step_ms;
    }
    snprintf(note, note_len, "%s after %.1f s, %llu compactions meanwhile",
             quiet >= quiet_ms ? "kvs_stat quiet" : "still compacting", waited / 1000.0,
             (unsigned long long)(stat_of(db, KVS_STAT_COMPACTIONS) - c0));
    return quiet >= quiet_ms ? 0 : 1;
}

static void kvs_a_open_note(void *db, char *note, size_t len)
{
    snprintf(note, len, "index from hint files for %llu of %llu segments; kvs_open %.1f ms",
             (unsigned long long)stat_of(db, KVS_STAT_HINT_SEGMENTS),
             (unsigned long long)stat_of(db, KVS_STAT_SEGMENTS),
             stat_of(db, KVS_STAT_OPEN_MICROS) / 1000.0);
}

static int kvs_a_index_bytes(void *db, uint64_t *bytes, uint64_t *keys)
{
    *bytes = stat_of(db, KVS_STAT_INDEX_BYTES);
    *keys = stat_of(db, KVS_STAT_KEYS);
    return 0;
}

const bench_adapter_t bench_adapter_kvs = {
    .name = "kvs",
    .title = "libkvs",
    .version = kvs_ver,
    .nosync_desc = "KVS_SYNC_NONE (each write handed to the OS)",
    .sync_desc = "KVS_SYNC_ALWAYS (fdatasync before a write returns; group commit)",
    .common_desc = "default options (64 MiB segments, compaction trigger 20%)",
    .open = kvs_a_open,
    .close = kvs_a_close,
    /* The handle is thread-safe: every thread uses it directly. */
    .attach = bench_attach_shared,
    .detach = bench_detach_shared,
    .put = kvs_a_put,
    .get = kvs_a_get,
    .del = kvs_a_del,
    .settle = kvs_a_settle,
    .open_note = kvs_a_open_note,
    .index_bytes = kvs_a_index_bytes,
};
