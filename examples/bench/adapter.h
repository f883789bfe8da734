/* The one interface every store is driven through.
 *
 * A workload never calls a store's API directly: it calls these hooks, so
 * every store pays the same indirect call and the same harness work (key
 * formatting, value selection, copying the value out) per operation. */
#ifndef KVS_BENCH_ADAPTER_H
#define KVS_BENCH_ADAPTER_H

#include <stddef.h>
#include <stdint.h>

/* Results of get and del. Errors are negative; the adapter has already
 * printed the store's own message on stderr. */
enum { BENCH_FOUND = 0, BENCH_MISSING = 1, BENCH_ERR = -1 };

/* Keys per multi_get call (the multiget workload reads in batches of this
 * size). A call never passes more, so an adapter may keep its per-call
 * arrays on the stack. */
enum { BENCH_MULTI_GET_KEYS = 32 };

typedef struct bench_open_opts {
    int sync;               /* 0: the store's "handed to the OS" mode; 1: durable per op */
    uint64_t expected_keys; /* for stores that size a table or a map up front */
    size_t key_size, value_size;
} bench_open_opts_t;

/* Optional: a cursor in key order (readseq, readreverse, seekrandom).
 *
 * A cursor sees the store as it was when it was opened, where the store can
 * do that. Positioning calls return BENCH_FOUND (on an entry), BENCH_MISSING
 * (moved past either end, or no key >= the sought one) or BENCH_ERR. The
 * harness copies the key and the value out of the pointers entry() gives,
 * for every store alike, as a get copies its value. */
typedef struct bench_iter_ops {
    /* A new cursor for the attached context; NULL on error. One open cursor
     * per context at a time. */
    void *(*open)(void *ctx);
    void (*close)(void *it);
    int (*first)(void *it);
    int (*next)(void *it);
    int (*last)(void *it);                              /* NULL: no backward walk */
    int (*prev)(void *it);                              /* NULL with last */
    int (*seek)(void *it, const char *k, size_t kl);    /* first key >= k; NULL: none */
    /* The entry the cursor is on; the pointers stay valid until it moves. */
    int (*entry)(void *it, const char **k, size_t *kl, const char **v, size_t *vl);
    int unordered; /* the walk visits every key, but not in key order (hash order) */
} bench_iter_ops_t;

/* Optional: atomic write batches (fillbatch). */
typedef struct bench_batch_ops {
    /* An empty batch for the attached context; NULL on error. */
    void *(*begin)(void *ctx);
    /* Adds one put. Copies key and value (the harness reuses its buffers). */
    int (*put)(void *batch, const char *k, size_t kl, const char *v, size_t vl);
    /* Applies every put of the batch at once and frees it. Called exactly
     * once per begin, also after a failed put (to release the batch). */
    int (*commit)(void *ctx, void *batch);
} bench_batch_ops_t;

typedef struct bench_adapter {
    const char *name;  /* as given to --stores, e.g. "lmdb" */
    const char *title; /* column header, e.g. "LMDB" */
    const char *(*version)(void);
    const char *nosync_desc; /* configuration for the non-sync workloads */
    const char *sync_desc;   /* configuration for fillsync */
    const char *common_desc; /* settings shared by both */

    /* dir exists and is empty on a fresh store. */
    int (*open)(const char *dir, const bench_open_opts_t *o, void **db);
    int (*close)(void *db);

    /* Per-thread context (a connection, a read transaction); every thread
     * that does operations attaches first, including a single-threaded run. */
    void *(*attach)(void *db);
    void (*detach)(void *ctx);

    int (*put)(void *ctx, const char *k, size_t kl, const char *v, size_t vl);
    /* Copies the value into buf (cap bytes) and stores its length in *vl. */
    int (*get)(void *ctx, const char *k, size_t kl, char *buf, size_t cap, size_t *vl);
    int (*del)(void *ctx, const char *k, size_t kl);
    /* Optional: reads n keys (n <= BENCH_MULTI_GET_KEYS) in one call of the
     * store's batched read. Each value is copied into bufs[i] (cap bytes)
     * with its length in vlens[i], as get copies, and results[i] is
     * BENCH_FOUND, BENCH_MISSING or BENCH_ERR. Returns 0, or BENCH_ERR when
     * the call itself failed. NULL: the harness calls get for each key of
     * the batch, as a user of a store without a batched read would. */
    int (*multi_get)(void *ctx, size_t n, const char *const *keys, const size_t *klens,
                     char *const *bufs, size_t cap, size_t *vlens, int *results);

    /* Optional: wait until background work (compaction) has settled, at most
     * max_s seconds. NULL: the harness polls the directory size instead. */
    int (*settle)(void *db, double max_s, char *note, size_t note_len);
    /* Optional: how the store rebuilt its state at open (e.g. from hint files). */
    void (*open_note)(void *db, char *note, size_t len);
    /* Optional: bytes of the in-memory index and live keys, if the store counts them. */
    int (*index_bytes)(void *db, uint64_t *bytes, uint64_t *keys);
    /* Optional: bytes of an in-memory key order kept beside the index (libkvs). */
    int (*order_bytes)(void *db, uint64_t *bytes);

    /* Optional hooks; NULL makes the rows that need them n/a. */
    const bench_iter_ops_t *iter;
    const bench_batch_ops_t *batch;
    /* How the store does them, or why it cannot: the report's table. */
    const char *iter_desc;
    const char *batch_desc;
    const char *multi_get_desc; /* also when multi_get is NULL: say so */
} bench_adapter_t;

/* The adapters compiled in, in column order (libkvs first). */
/* attach and detach for a store whose handle is thread-safe: every thread
 * uses the handle itself, nothing to set up or tear down. */
void *bench_attach_shared(void *db);
void bench_detach_shared(void *ctx);

const bench_adapter_t *const *bench_adapters(size_t *count);
int bench_adapter_find(const char *name);

/* Defined by each adapter file built with its library. */
extern const bench_adapter_t bench_adapter_kvs;
extern const bench_adapter_t bench_adapter_lmdb;
extern const bench_adapter_t bench_adapter_leveldb;
extern const bench_adapter_t bench_adapter_rocksdb;
extern const bench_adapter_t bench_adapter_sqlite;
extern const bench_adapter_t bench_adapter_tkrzw;

#endif
