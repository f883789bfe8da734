/* LMDB: one transaction per operation, as libkvs does one call per operation.
 * Non-sync: MDB_NOSYNC (commit writes the pages with pwrite, no fsync: the
 * data is with the OS, like KVS_SYNC_NONE). Sync: default flags, every
 * commit fsyncs. Readers renew a per-thread read transaction per get,
 * LMDB's cheapest way to take a fresh snapshot for each read. A cursor is
 * the same: a renewed read transaction and a renewed read-only cursor
 * (mdb_cursor_renew, LMDB's way to reuse one). A batch is one write
 * transaction holding all its puts. */
#include "adapter.h"

#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lmdb_db {
    MDB_env *env;
    MDB_dbi dbi;
};

struct lmdb_ctx {
    struct lmdb_db *db;
    MDB_txn *rtxn;   /* reset between gets and cursors, renewed for each */
    MDB_cursor *cur; /* the read cursor, renewed with rtxn */
    MDB_val k, v;    /* the cursor's entry */
    MDB_txn *wtxn;   /* the open batch */
};

static int report(const char *what, int rc)
{
    fprintf(stderr, "kvs-bench: lmdb %s: %s\n", what, mdb_strerror(rc));
    return BENCH_ERR;
}

static const char *lmdb_ver(void)
{
    return mdb_version(NULL, NULL, NULL);
}

/* The map is only address space (the file grows as pages are used), so size
 * it generously: B-tree pages are part empty after random inserts and
 * copy-on-write keeps old pages until they are reused. */
static size_t map_size(const bench_open_opts_t *o)
{
    size_t rec = o->key_size + o->value_size + 64;
    return ((size_t)1 << 30) + 8 * (size_t)o->expected_keys * rec;
}

static int open_dbi(struct lmdb_db *d)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(d->env, NULL, 0, &txn);
    if (rc)
        return report("txn_begin", rc);
    rc = mdb_dbi_open(txn, NULL, 0, &d->dbi);
    if (rc) {
        mdb_txn_abort(txn);
        return report("dbi_open", rc);
    }
    rc = mdb_txn_commit(txn);
    return rc ? report("commit", rc) : 0;
}

static int lmdb_open(const char *dir, const bench_open_opts_t *o, void **out)
{
    struct lmdb_db *d = calloc(1, sizeof *d);
    if (!d)
        return BENCH_ERR;
    int rc = mdb_env_create(&d->env);
    if (rc) {
        free(d);
        return report("env_create", rc);
    }
    unsigned flags = o->sync ? 0 : MDB_NOSYNC;
    if ((rc = mdb_env_set_mapsize(d->env, map_size(o))) != 0 ||
        (rc = mdb_env_set_maxreaders(d->env, 256)) != 0 ||
        (rc = mdb_env_open(d->env, dir, flags, 0644)) != 0) {
        mdb_env_close(d->env);
        free(d);
        return report("env_open", rc);
    }
    if (open_dbi(d) != 0) {
        mdb_env_close(d->env);
        free(d);
        return BENCH_ERR;
    }
    *out = d;
    return 0;
}

static int lmdb_close(void *db)
{
    struct lmdb_db *d = db;
    mdb_env_close(d->env); /* with MDB_NOSYNC, close does not sync: neither does kvs NONE */
    free(d);
    return 0;
}

static void *lmdb_attach(void *db)
{
    struct lmdb_ctx *c = calloc(1, sizeof *c);
    if (c)
        c->db = db;
    return c;
}

static void lmdb_detach(void *ctx)
{
    struct lmdb_ctx *c = ctx;
    if (c->cur)
        mdb_cursor_close(c->cur);
    if (c->rtxn)
        mdb_txn_abort(c->rtxn);
    free(c);
}

/* Runs one write (put or del) in its own transaction. */
static int write_txn(struct lmdb_ctx *c, const char *k, size_t kl, const char *v, size_t vl,
                     int is_del)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(c->db->env, NULL, 0, &txn);
    if (rc)
        return report("txn_begin", rc);
    MDB_val key = {kl, (void *)k}, val = {vl, (void *)v};
    rc = is_del ? mdb_del(txn, c->db->dbi, &key, NULL) : mdb_put(txn, c->db->dbi, &key, &val, 0);
    if (rc == MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return BENCH_MISSING;
    }
    if (rc) {
        mdb_txn_abort(txn);
        return report(is_del ? "del" : "put", rc);
    }
    rc = mdb_txn_commit(txn);
    return rc ? report("commit", rc) : BENCH_FOUND;
}

static int lmdb_put(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    return write_txn(ctx, k, kl, v, vl, 0) < 0 ? BENCH_ERR : 0;
}

static int lmdb_del(void *ctx, const char *k, size_t kl)
{
    return write_txn(ctx, k, kl, NULL, 0, 1);
}

static int begin_read(struct lmdb_ctx *c)
{
    int rc = c->rtxn ? mdb_txn_renew(c->rtxn)
                     : mdb_txn_begin(c->db->env, NULL, MDB_RDONLY, &c->rtxn);
    return rc ? report("read txn", rc) : 0;
}

static int lmdb_get(void *ctx, const char *k, size_t kl, char *buf, size_t cap, size_t *vl)
{
    struct lmdb_ctx *c = ctx;
    if (begin_read(c) != 0)
        return BENCH_ERR;
    MDB_val key = {kl, (void *)k}, val;
    int rc = mdb_get(c->rtxn, c->db->dbi, &key, &val);
    if (rc == 0) {
        *vl = val.mv_size;
        memcpy(buf, val.mv_data, val.mv_size < cap ? val.mv_size : cap);
    }
    mdb_txn_reset(c->rtxn);
    if (rc == MDB_NOTFOUND)
        return BENCH_MISSING;
    return rc ? report("get", rc) : BENCH_FOUND;
}

/* ---- cursors: one per context at a time, so the context is the cursor ---- */

static void *lmdb_iter_open(void *ctx)
{
    struct lmdb_ctx *c = ctx;
    if (begin_read(c) != 0)
        return NULL;
    int rc = c->cur ? mdb_cursor_renew(c->rtxn, c->cur)
                    : mdb_cursor_open(c->rtxn, c->db->dbi, &c->cur);
    if (rc) {
        mdb_txn_reset(c->rtxn);
        report("cursor", rc);
        return NULL;
    }
    return c;
}

static void lmdb_iter_close(void *it)
{
    struct lmdb_ctx *c = it;
    mdb_txn_reset(c->rtxn); /* the cursor stays allocated for the next renew */
}

static int cursor_move(struct lmdb_ctx *c, MDB_cursor_op op)
{
    int rc = mdb_cursor_get(c->cur, &c->k, &c->v, op);
    if (rc == MDB_NOTFOUND)
        return BENCH_MISSING;
    return rc ? report("cursor_get", rc) : BENCH_FOUND;
}

static int lmdb_iter_first(void *it)
{
    return cursor_move(it, MDB_FIRST);
}

static int lmdb_iter_next(void *it)
{
    return cursor_move(it, MDB_NEXT);
}

static int lmdb_iter_last(void *it)
{
    return cursor_move(it, MDB_LAST);
}

static int lmdb_iter_prev(void *it)
{
    return cursor_move(it, MDB_PREV);
}

static int lmdb_iter_seek(void *it, const char *k, size_t kl)
{
    struct lmdb_ctx *c = it;
    c->k = (MDB_val){kl, (void *)k};
    return cursor_move(c, MDB_SET_RANGE);
}

static int lmdb_iter_entry(void *it, const char **k, size_t *kl, const char **v, size_t *vl)
{
    struct lmdb_ctx *c = it;
    *k = c->k.mv_data;
    *kl = c->k.mv_size;
    *v = c->v.mv_data;
    *vl = c->v.mv_size;
    return BENCH_FOUND;
}

static const bench_iter_ops_t lmdb_iter_ops = {
    .open = lmdb_iter_open,
    .close = lmdb_iter_close,
    .first = lmdb_iter_first,
    .next = lmdb_iter_next,
    .last = lmdb_iter_last,
    .prev = lmdb_iter_prev,
    .seek = lmdb_iter_seek,
    .entry = lmdb_iter_entry,
};

/* ---- batches: one write transaction per batch ---- */

static void *lmdb_batch_begin(void *ctx)
{
    struct lmdb_ctx *c = ctx;
    int rc = mdb_txn_begin(c->db->env, NULL, 0, &c->wtxn);
    if (rc) {
        c->wtxn = NULL;
        report("txn_begin", rc);
        return NULL;
    }
    return c;
}

static int lmdb_batch_put(void *b, const char *k, size_t kl, const char *v, size_t vl)
{
    struct lmdb_ctx *c = b;
    MDB_val key = {kl, (void *)k}, val = {vl, (void *)v};
    int rc = mdb_put(c->wtxn, c->db->dbi, &key, &val, 0);
    return rc ? report("put", rc) : 0;
}

/* Commits (a transaction that had a failed put refuses to commit, and is freed). */
static int lmdb_batch_commit(void *ctx, void *b)
{
    (void)ctx;
    struct lmdb_ctx *c = b;
    int rc = mdb_txn_commit(c->wtxn);
    c->wtxn = NULL;
    return rc ? report("commit", rc) : 0;
}

static const bench_batch_ops_t lmdb_batch_ops = {
    .begin = lmdb_batch_begin,
    .put = lmdb_batch_put,
    .commit = lmdb_batch_commit,
};

const bench_adapter_t bench_adapter_lmdb = {
    .name = "lmdb",
    .title = "LMDB",
    .version = lmdb_ver,
    .nosync_desc = "one write txn per op, MDB_NOSYNC",
    .sync_desc = "one write txn per op, default flags (fdatasync at every commit)",
    .common_desc = "reads: per-thread read txn, mdb_txn_renew/reset per get; no MDB_WRITEMAP",
    .open = lmdb_open,
    .close = lmdb_close,
    .attach = lmdb_attach,
    .detach = lmdb_detach,
    .put = lmdb_put,
    .get = lmdb_get,
    .del = lmdb_del,
    .iter = &lmdb_iter_ops,
    .iter_desc = "a read txn (mdb_txn_renew) + read-only cursor (mdb_cursor_renew) per "
                 "iterator; MDB_FIRST/LAST/SET_RANGE/NEXT/PREV",
    .batch = &lmdb_batch_ops,
    .batch_desc = "one write txn per batch (mdb_txn_begin, 1,000 mdb_put, mdb_txn_commit; "
                  "MDB_NOSYNC)",
    .multi_get_desc = "no batched read in LMDB: the harness calls get per key (mdb_get in a "
                      "renewed read txn, as readrandom)",
};
