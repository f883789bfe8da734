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

/* The outcome of one key read by kvs_get or kvs_multi_get: its value, a
 * library copy, is copied into buf and released. */
static int copy_out(const char *what, int rc, void *val, size_t vl, char *buf, size_t cap)
{
    if (rc == KVS_NOT_FOUND)
        return BENCH_MISSING;
    if (rc != KVS_OK)
        return report(what, rc);
    memcpy(buf, val, vl < cap ? vl : cap);
    kvs_free(val);
    return BENCH_FOUND;
}

static int kvs_a_get(void *ctx, const char *k, size_t kl, char *buf, size_t cap, size_t *vl)
{
    void *val = NULL;
    size_t n = 0;
    int rc = kvs_get(ctx, k, kl, &val, &n);
    *vl = n;
    return copy_out("get", rc, val, n, buf, cap);
}

/* One kvs_multi_get for the whole batch, without a byte limit (the values
 * are the harness's fixed size). */
static int kvs_a_multi_get(void *ctx, size_t n, const char *const *keys, const size_t *klens,
                           char *const *bufs, size_t cap, size_t *vlens, int *results)
{
    kvs_get_item_t items[BENCH_MULTI_GET_KEYS];
    if (n > BENCH_MULTI_GET_KEYS)
        return report("multi_get", KVS_EINVAL);
    for (size_t i = 0; i < n; i++)
        items[i] = (kvs_get_item_t){.key = keys[i], .klen = klens[i]};
    int rc = kvs_multi_get(ctx, items, n, 0);
    if (rc != KVS_OK)
        return report("multi_get", rc);
    for (size_t i = 0; i < n; i++) {
        vlens[i] = items[i].vlen;
        results[i] = copy_out("multi_get item", items[i].status, items[i].val, items[i].vlen,
                              bufs[i], cap);
    }
    return 0;
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

/* The first iterator after an open waits until the key order, built in the
 * background from the index, is ready; waiting here keeps that one-time
 * build out of the timed cursor workloads, as compaction is kept out. */
static void wait_for_order(kvs_t *db)
{
    kvs_iter_t *it;
    if (kvs_iter_create(db, NULL, &it) == KVS_OK)
        kvs_iter_destroy(it);
}

/* Compaction and the merging of the key order's sorted runs run in the
 * background: wait until the compaction counter, the bytes on disk, the dead
 * bytes and the order's runs and bytes have not moved for 2 s (bounded), so
 * the space figure is the steady state rather than a moment mid-merge and
 * reads do not compete with background work. */
static int kvs_a_settle(void *db, double max_s, char *note, size_t note_len)
{
    const long step_ms = 100, quiet_ms = 2000;
    uint64_t last[5] = {0, 0, 0, 0, 0};
    long quiet = 0, waited = 0;
    uint64_t c0 = stat_of(db, KVS_STAT_COMPACTIONS), t0 = bench_now_ns();
    wait_for_order(db);
    while (waited < (long)(max_s * 1000) && quiet < quiet_ms) {
        uint64_t now[5] = {stat_of(db, KVS_STAT_COMPACTIONS), stat_of(db, KVS_STAT_DISK_BYTES),
                           stat_of(db, KVS_STAT_DEAD_BYTES), stat_of(db, KVS_STAT_ORDER_RUNS),
                           stat_of(db, KVS_STAT_ORDER_BYTES)};
        quiet = memcmp(now, last, sizeof now) == 0 ? quiet + step_ms : 0;
        memcpy(last, now, sizeof now);
        bench_sleep_ms(step_ms);
        waited += step_ms;
    }
    snprintf(note, note_len, "%s after %.1f s, %llu compactions meanwhile, order in %llu run(s)",
             quiet >= quiet_ms ? "kvs_stat quiet" : "still compacting",
             (double)(bench_now_ns() - t0) / 1e9,
             (unsigned long long)(stat_of(db, KVS_STAT_COMPACTIONS) - c0),
             (unsigned long long)stat_of(db, KVS_STAT_ORDER_RUNS));
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

/* The sorted runs of record references iterators walk, kept beside the index. */
static int kvs_a_order_bytes(void *db, uint64_t *bytes)
{
    *bytes = stat_of(db, KVS_STAT_ORDER_BYTES);
    return 0;
}

/* ---- cursors: kvs_iter_* over the store as it is at kvs_iter_create ---- */

static int positioned(int rc)
{
    if (rc == KVS_OK)
        return BENCH_FOUND;
    return rc == KVS_NOT_FOUND ? BENCH_MISSING : report("iterator", rc);
}

static void *kvs_it_open(void *ctx)
{
    kvs_iter_t *it;
    int rc = kvs_iter_create(ctx, NULL, &it);
    if (rc != KVS_OK) {
        report("iter_create", rc);
        return NULL;
    }
    return it;
}

static void kvs_it_close(void *it)
{
    kvs_iter_destroy(it);
}

static int kvs_it_first(void *it)
{
    return positioned(kvs_iter_first(it));
}

static int kvs_it_next(void *it)
{
    return positioned(kvs_iter_next(it));
}

static int kvs_it_last(void *it)
{
    return positioned(kvs_iter_last(it));
}

static int kvs_it_prev(void *it)
{
    return positioned(kvs_iter_prev(it));
}

static int kvs_it_seek(void *it, const char *k, size_t kl)
{
    return positioned(kvs_iter_seek(it, k, kl));
}

/* Zero-copy: the key and value point into the mapped segment. */
static int kvs_it_entry(void *it, const char **k, size_t *kl, const char **v, size_t *vl)
{
    const void *kp, *vp;
    int rc = kvs_iter_key(it, &kp, kl);
    if (rc == KVS_OK)
        rc = kvs_iter_value(it, &vp, vl);
    if (rc != KVS_OK)
        return report("iterator entry", rc);
    *k = kp;
    *v = vp;
    return BENCH_FOUND;
}

static const bench_iter_ops_t kvs_iter_ops = {
    .open = kvs_it_open,
    .close = kvs_it_close,
    .first = kvs_it_first,
    .next = kvs_it_next,
    .last = kvs_it_last,
    .prev = kvs_it_prev,
    .seek = kvs_it_seek,
    .entry = kvs_it_entry,
};

/* ---- write batches ---- */

/* A new batch per begin (db_bench reuses one; each store here pays for a
 * fresh one); kvs_batch_set copies key and value. */
static void *kvs_b_begin(void *ctx)
{
    (void)ctx;
    kvs_batch_t *b;
    int rc = kvs_batch_create(&b);
    if (rc != KVS_OK) {
        report("batch_create", rc);
        return NULL;
    }
    return b;
}

static int kvs_b_put(void *b, const char *k, size_t kl, const char *v, size_t vl)
{
    int rc = kvs_batch_set(b, k, kl, v, vl);
    return rc == KVS_OK ? 0 : report("batch_set", rc);
}

static int kvs_b_commit(void *ctx, void *b)
{
    int rc = kvs_batch_apply(ctx, b);
    kvs_batch_destroy(b);
    return rc == KVS_OK ? 0 : report("batch_apply", rc);
}

static const bench_batch_ops_t kvs_batch_ops = {kvs_b_begin, kvs_b_put, kvs_b_commit};

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
    .multi_get = kvs_a_multi_get,
    .del = kvs_a_del,
    .settle = kvs_a_settle,
    .open_note = kvs_a_open_note,
    .index_bytes = kvs_a_index_bytes,
    .order_bytes = kvs_a_order_bytes,
    .iter = &kvs_iter_ops,
    .iter_desc = "kvs_iter_create (a point-in-time view), kvs_iter_first/last/seek/next/prev, "
                 "kvs_iter_key + kvs_iter_value (zero-copy; the record's CRC32C is verified)",
    .batch = &kvs_batch_ops,
    .batch_desc = "kvs_batch_apply per 1,000 entries (one BATCH record, all or nothing)",
    .multi_get_desc = "one kvs_multi_get per call, no byte limit (the keys' index and record "
                      "loads overlap; values of one moment); each value a library copy, copied "
                      "out and kvs_free'd as in kvs_get",
};
