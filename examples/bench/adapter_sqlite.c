/* SQLite as a key/value store: one WITHOUT ROWID table, WAL journal, one
 * prepared statement executed per operation in autocommit mode.
 * Non-sync: synchronous=OFF (the WAL frame is written to the OS at commit,
 * no fsync). Sync: synchronous=FULL (the WAL is fsynced at every commit).
 * Non-sync runs give each thread its own connection (SQLite's model for
 * concurrent readers); a writer waiting for the WAL write lock retries with
 * short sleeps instead of busy_timeout's millisecond back-off. Sync runs
 * share one connection behind a mutex: SQLite commits one writer at a time
 * anyway, and on the development machine 8 durable writers on 8 connections
 * managed half the single-writer rate (lock retries), while the shared
 * connection keeps it.
 * A cursor is a SELECT stepped row by row (in WAL mode the statement reads
 * one snapshot): ORDER BY k for forward walks and seeks (k >= ?), ORDER BY
 * k DESC backward, all walking the primary key's B-tree without a sort. A
 * statement goes one way: turning a cursor around is not supported (no
 * workload does). A batch is one BEGIN IMMEDIATE ... COMMIT transaction. */
#include "adapter.h"

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sq_conn {
    sqlite3 *db;
    sqlite3_stmt *put, *get, *del;
    sqlite3_stmt *scan_fwd, *scan_back, *seek; /* cursors */
    sqlite3_stmt *begin, *commit, *rollback;   /* batches */
    sqlite3_stmt *cur; /* the open cursor's statement */
    int batch_failed;  /* a put of the open batch failed: roll it back */
    pthread_mutex_t *lock; /* set on the shared connection of sync runs */
};

struct sq_db {
    char path[PATH_MAX];
    int sync;
    struct sq_conn *main; /* the opening connection: keeps the schema and WAL alive */
    pthread_mutex_t lock;
};

static int report(sqlite3 *db, const char *what)
{
    fprintf(stderr, "kvs-bench: sqlite %s: %s\n", what, db ? sqlite3_errmsg(db) : "out of memory");
    return BENCH_ERR;
}

static const char *sq_ver(void)
{
    return sqlite3_libversion();
}

/* Retries for up to ~10 s: yield first, then sleep 20 µs per attempt. */
static int busy_retry(void *arg, int count)
{
    (void)arg;
    if (count < 64) {
        sched_yield();
        return 1;
    }
    struct timespec ts = {0, 20000};
    nanosleep(&ts, NULL);
    return count < 500000;
}

static int exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : report(db, sql);
}

/* Every statement a connection runs, prepared once. */
static int prepare(struct sq_conn *c)
{
    const struct {
        sqlite3_stmt **st;
        const char *sql;
    } all[] = {
        {&c->put, "INSERT OR REPLACE INTO kv(k, v) VALUES(?1, ?2)"},
        {&c->get, "SELECT v FROM kv WHERE k = ?1"},
        {&c->del, "DELETE FROM kv WHERE k = ?1"},
        {&c->scan_fwd, "SELECT k, v FROM kv ORDER BY k"},
        {&c->scan_back, "SELECT k, v FROM kv ORDER BY k DESC"},
        {&c->seek, "SELECT k, v FROM kv WHERE k >= ?1 ORDER BY k"},
        {&c->begin, "BEGIN IMMEDIATE"},
        {&c->commit, "COMMIT"},
        {&c->rollback, "ROLLBACK"},
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (sqlite3_prepare_v2(c->db, all[i].sql, -1, all[i].st, NULL) != SQLITE_OK)
            return report(c->db, all[i].sql);
    return 0;
}

static void conn_close(struct sq_conn *c)
{
    if (!c)
        return;
    sqlite3_stmt *all[] = {c->put,  c->get,    c->del,    c->scan_fwd, c->scan_back,
                           c->seek, c->begin, c->commit, c->rollback};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        sqlite3_finalize(all[i]);
    sqlite3_close(c->db);
    free(c);
}

/* One connection with the benchmark's pragmas and statements. mmap_size lets
 * reads come from a mapping of the database file instead of read(2) into
 * SQLite's 2 MB page cache, SQLite's own fast path for read-heavy use. */
static struct sq_conn *conn_open(const struct sq_db *d, int create)
{
    struct sq_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(d->path, &c->db, flags, NULL) != SQLITE_OK) {
        report(c->db, "open");
        conn_close(c);
        return NULL;
    }
    sqlite3_busy_handler(c->db, busy_retry, NULL);
    int rc = exec(c->db, "PRAGMA journal_mode=WAL");
    if (!rc)
        rc = exec(c->db, d->sync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=OFF");
    if (!rc)
        rc = exec(c->db, "PRAGMA mmap_size=4294967296");
    if (!rc && create)
        rc = exec(c->db, "CREATE TABLE IF NOT EXISTS kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID");
    if (!rc)
        rc = prepare(c);
    if (rc) {
        conn_close(c);
        return NULL;
    }
    return c;
}

static int sq_open(const char *dir, const bench_open_opts_t *o, void **out)
{
    struct sq_db *d = calloc(1, sizeof *d);
    if (!d)
        return BENCH_ERR;
    snprintf(d->path, sizeof d->path, "%s/kv.sqlite", dir);
    d->sync = o->sync;
    d->main = conn_open(d, 1);
    if (!d->main) {
        free(d);
        return BENCH_ERR;
    }
    pthread_mutex_init(&d->lock, NULL);
    if (d->sync)
        d->main->lock = &d->lock;
    *out = d;
    return 0;
}

static int sq_close(void *db)
{
    struct sq_db *d = db;
    conn_close(d->main); /* the last connection checkpoints the WAL into the file */
    pthread_mutex_destroy(&d->lock);
    free(d);
    return 0;
}

static void *sq_attach(void *db)
{
    struct sq_db *d = db;
    return d->sync ? d->main : conn_open(d, 0);
}

static void sq_detach(void *ctx)
{
    struct sq_conn *c = ctx;
    if (!c->lock)
        conn_close(c);
}

static void enter(struct sq_conn *c)
{
    if (c->lock)
        pthread_mutex_lock(c->lock);
}

static void leave(struct sq_conn *c)
{
    if (c->lock)
        pthread_mutex_unlock(c->lock);
}

/* Steps a statement to completion; SQLITE_ROW is left to the caller. */
static int step(struct sq_conn *c, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        report(c->db, what);
        sqlite3_reset(st);
        return BENCH_ERR;
    }
    return rc;
}

/* One INSERT OR REPLACE; the caller holds the connection. */
static int put_locked(struct sq_conn *c, const char *k, size_t kl, const char *v, size_t vl)
{
    sqlite3_bind_blob(c->put, 1, k, (int)kl, SQLITE_STATIC);
    sqlite3_bind_blob(c->put, 2, v, (int)vl, SQLITE_STATIC);
    int rc = step(c, c->put, "put");
    sqlite3_reset(c->put);
    return rc < 0 ? BENCH_ERR : 0;
}

static int sq_put(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    struct sq_conn *c = ctx;
    enter(c);
    int rc = put_locked(c, k, kl, v, vl);
    leave(c);
    return rc;
}

static int sq_get(void *ctx, const char *k, size_t kl, char *buf, size_t cap, size_t *vl)
{
    struct sq_conn *c = ctx;
    enter(c);
    sqlite3_bind_blob(c->get, 1, k, (int)kl, SQLITE_STATIC);
    int rc = step(c, c->get, "get");
    if (rc == SQLITE_ROW) {
        *vl = (size_t)sqlite3_column_bytes(c->get, 0);
        memcpy(buf, sqlite3_column_blob(c->get, 0), *vl < cap ? *vl : cap);
    }
    sqlite3_reset(c->get);
    leave(c);
    if (rc < 0)
        return BENCH_ERR;
    return rc == SQLITE_ROW ? BENCH_FOUND : BENCH_MISSING;
}

static int sq_del(void *ctx, const char *k, size_t kl)
{
    struct sq_conn *c = ctx;
    enter(c);
    sqlite3_bind_blob(c->del, 1, k, (int)kl, SQLITE_STATIC);
    int rc = step(c, c->del, "delete");
    sqlite3_reset(c->del);
    int changed = sqlite3_changes(c->db);
    leave(c);
    if (rc < 0)
        return BENCH_ERR;
    return changed ? BENCH_FOUND : BENCH_MISSING;
}

/* ---- cursors: one per connection at a time, holding it (shared: its lock) ---- */

static void *sq_iter_open(void *ctx)
{
    struct sq_conn *c = ctx;
    enter(c);
    c->cur = NULL;
    return c;
}

static void sq_iter_close(void *it)
{
    struct sq_conn *c = it;
    if (c->cur)
        sqlite3_reset(c->cur); /* ends the statement's read transaction */
    c->cur = NULL;
    leave(c);
}

/* Steps the cursor's statement to its next row. */
static int sq_iter_step(struct sq_conn *c)
{
    int rc = step(c, c->cur, "cursor");
    if (rc < 0)
        return BENCH_ERR;
    return rc == SQLITE_ROW ? BENCH_FOUND : BENCH_MISSING;
}

/* Starts the cursor on a statement (its parameters bound). */
static int sq_iter_start(struct sq_conn *c, sqlite3_stmt *st)
{
    if (c->cur && c->cur != st)
        sqlite3_reset(c->cur);
    sqlite3_reset(st);
    c->cur = st;
    return sq_iter_step(c);
}

/* Moves on along the statement, which must run in direction `along`. */
static int sq_iter_move(struct sq_conn *c, sqlite3_stmt *along)
{
    if (c->cur != along && !(along == c->scan_fwd && c->cur == c->seek)) {
        fprintf(stderr, "kvs-bench: sqlite cursor: turning around is not supported\n");
        return BENCH_ERR;
    }
    return sq_iter_step(c);
}

static int sq_iter_first(void *it)
{
    struct sq_conn *c = it;
    return sq_iter_start(c, c->scan_fwd);
}

static int sq_iter_next(void *it)
{
    struct sq_conn *c = it;
    return sq_iter_move(c, c->scan_fwd);
}

static int sq_iter_last(void *it)
{
    struct sq_conn *c = it;
    return sq_iter_start(c, c->scan_back);
}

static int sq_iter_prev(void *it)
{
    struct sq_conn *c = it;
    return sq_iter_move(c, c->scan_back);
}

static int sq_iter_seek(void *it, const char *k, size_t kl)
{
    struct sq_conn *c = it;
    if (c->cur)
        sqlite3_reset(c->cur);
    sqlite3_reset(c->seek);
    sqlite3_bind_blob(c->seek, 1, k, (int)kl, SQLITE_STATIC);
    c->cur = c->seek;
    return sq_iter_step(c);
}

/* The row's blobs, valid until the next step or reset (column_blob first:
 * SQLite's documented order for blob and bytes). */
static int sq_iter_entry(void *it, const char **k, size_t *kl, const char **v, size_t *vl)
{
    struct sq_conn *c = it;
    *k = sqlite3_column_blob(c->cur, 0);
    *kl = (size_t)sqlite3_column_bytes(c->cur, 0);
    *v = sqlite3_column_blob(c->cur, 1);
    *vl = (size_t)sqlite3_column_bytes(c->cur, 1);
    return BENCH_FOUND;
}

static const bench_iter_ops_t sq_iter_ops = {
    .open = sq_iter_open,
    .close = sq_iter_close,
    .first = sq_iter_first,
    .next = sq_iter_next,
    .last = sq_iter_last,
    .prev = sq_iter_prev,
    .seek = sq_iter_seek,
    .entry = sq_iter_entry,
};

/* ---- batches: one transaction, the connection held from begin to commit ---- */

static int run_stmt(struct sq_conn *c, sqlite3_stmt *st, const char *what)
{
    int rc = step(c, st, what);
    sqlite3_reset(st);
    return rc < 0 ? BENCH_ERR : 0;
}

static void *sq_batch_begin(void *ctx)
{
    struct sq_conn *c = ctx;
    enter(c);
    if (run_stmt(c, c->begin, "begin") != 0) {
        leave(c);
        return NULL;
    }
    c->batch_failed = 0;
    return c;
}

static int sq_batch_put(void *b, const char *k, size_t kl, const char *v, size_t vl)
{
    struct sq_conn *c = b;
    int rc = put_locked(c, k, kl, v, vl);
    c->batch_failed |= rc != 0;
    return rc;
}

/* Commits, or rolls back a batch with a failed put (all or nothing); a
 * failed COMMIT is rolled back too, so the connection stays usable. */
static int sq_batch_commit(void *ctx, void *b)
{
    (void)ctx;
    struct sq_conn *c = b;
    int rc = c->batch_failed ? BENCH_ERR : run_stmt(c, c->commit, "commit");
    if (!sqlite3_get_autocommit(c->db))
        run_stmt(c, c->rollback, "rollback");
    leave(c);
    return rc;
}

static const bench_batch_ops_t sq_batch_ops = {
    .begin = sq_batch_begin,
    .put = sq_batch_put,
    .commit = sq_batch_commit,
};

const bench_adapter_t bench_adapter_sqlite = {
    .name = "sqlite",
    .title = "SQLite",
    .version = sq_ver,
    .nosync_desc = "WAL, synchronous=OFF, one autocommit statement per op",
    .sync_desc = "WAL, synchronous=FULL, one autocommit statement per op",
    .common_desc = "WITHOUT ROWID table, prepared statements, mmap_size=4 GiB; "
                   "non-sync: one connection per thread; sync: one shared connection",
    .open = sq_open,
    .close = sq_close,
    .attach = sq_attach,
    .detach = sq_detach,
    .put = sq_put,
    .get = sq_get,
    .del = sq_del,
    .iter = &sq_iter_ops,
    .iter_desc = "a prepared SELECT k, v stepped row by row: ORDER BY k (first, next), "
                 "ORDER BY k DESC (last, prev), WHERE k >= ?1 ORDER BY k (seek)",
    .batch = &sq_batch_ops,
    .batch_desc = "one transaction per batch: BEGIN IMMEDIATE, 1,000 INSERT OR REPLACE, "
                  "COMMIT (synchronous=OFF)",
    .multi_get_desc = "no batched read in SQLite's API: the harness calls get per key (the "
                      "prepared SELECT, as readrandom); a SELECT ... WHERE k IN (...) is not "
                      "tried",
};
