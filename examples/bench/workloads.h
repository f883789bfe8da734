/* Timed operation loops: one job = one workload run against one open store. */
#ifndef KVS_BENCH_WORKLOADS_H
#define KVS_BENCH_WORKLOADS_H

#include "adapter.h"
#include "keys.h"

#include <stdint.h>

typedef enum {
    OP_PUT,
    OP_GET,
    OP_DEL,
    OP_BATCH_PUT, /* puts, BENCH_BATCH_SIZE to a write batch (batch.c) */
    OP_SCAN,      /* one cursor over every key, forward (iterate.c) */
    OP_SCAN_BACK, /* the same, backward */
    OP_SEEK,      /* per op: a new cursor, seek an existing key, read BENCH_SEEK_NEXTS entries */
    OP_MULTI_GET  /* gets, BENCH_MULTI_GET_KEYS to a call (multiget.c); an op is one key */
} bench_op_t;

/* db_bench's fillbatch writes 1,000 entries per batch; RocksDB's db_bench
 * seekrandom reads --seek_nexts entries after each seek (10 here). */
enum { BENCH_BATCH_SIZE = 1000, BENCH_SEEK_NEXTS = 10 };

typedef enum {
    KEYS_SEQ,    /* key numbers 0, 1, 2, ... in order */
    KEYS_ORDER,  /* order[i]: each thread takes a contiguous slice */
    KEYS_RANDOM  /* uniform random in [0, universe), with repetition */
} bench_keys_t;

typedef enum {
    EXPECT_ANY,     /* puts */
    EXPECT_FOUND,   /* every get or delete must hit */
    EXPECT_MISSING  /* every get must miss */
} bench_expect_t;

typedef struct bench_job {
    const bench_adapter_t *ad;
    void *db;
    bench_op_t op;
    bench_keys_t keys;
    const uint32_t *order;    /* KEYS_ORDER */
    uint64_t universe;        /* KEYS_RANDOM */
    uint64_t ops;             /* total over all threads; scans: the keys expected */
    unsigned threads;
    bench_expect_t expect;
    int sample_latency;       /* time every BENCH_SAMPLE_EVERY-th op */
    uint32_t *lat_arena;      /* optional room for the samples (bench_lat_arena_len) */
    size_t lat_arena_len;
    uint64_t seed;
    const bench_values_t *values;
    size_t key_size;
} bench_job_t;

typedef struct bench_job_result {
    uint64_t ops;        /* operations done */
    uint64_t unexpected; /* a get/delete/seek that missed, a missing key found, a walk
                          * out of order or of the wrong length */
    int failed;          /* a store call returned an error */
    double seconds;      /* wall time from the common start to the last thread's end */
    double p50_us, p99_us;
    uint32_t flags;      /* BENCH_RES_F_* for the report; set by the caller */
} bench_job_result_t;

enum { BENCH_SAMPLE_EVERY = 4 };

/* Samples a job of `ops` ops over `threads` threads needs at most. */
static inline size_t bench_lat_arena_len(uint64_t ops, unsigned threads)
{
    return (size_t)(ops / BENCH_SAMPLE_EVERY) + threads;
}

int bench_job_run(const bench_job_t *job, bench_job_result_t *res);

/* The number of the key of op i (KEYS_ORDER, KEYS_SEQ) or a random one. */
static inline uint64_t bench_job_key_number(const bench_job_t *j, uint64_t i, bench_rng_t *r)
{
    uint64_t idx = j->keys == KEYS_SEQ     ? i
                   : j->keys == KEYS_ORDER ? j->order[i]
                                           : bench_rng_below(r, j->universe);
    return 2 * idx + (j->expect == EXPECT_MISSING);
}

#endif
