/* The timed loops of the workloads that are not one call per op: write
 * batches (batch.c), cursors (iterate.c) and multi-key reads (multiget.c).
 * workloads.c runs them in its worker threads, between the same start
 * barrier and time stamps as the point operations. */
#ifndef KVS_BENCH_LOOPS_H
#define KVS_BENCH_LOOPS_H

#include "keys.h"
#include "sysinfo.h"
#include "workloads.h"

#include <stdint.h>

/* One thread's share of a job and what it counted. */
typedef struct bench_tally {
    uint64_t first, count; /* this thread's slice of the op numbers */
    uint32_t *lat;         /* sampled latencies in ns (when the job samples) */
    size_t nlat;
    uint64_t done, unexpected;
    int failed;
} bench_tally_t;

/* Records the latency of an op that started at t0 (ns). */
static inline void bench_tally_latency(bench_tally_t *t, uint64_t t0)
{
    uint64_t dt = bench_now_ns() - t0;
    t->lat[t->nlat++] = dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt;
}

/* key: a buffer of the job's key size. */
void bench_loop_batch(const bench_job_t *j, void *ctx, bench_rng_t *r, char *key,
                      bench_tally_t *t);
void bench_loop_scan(const bench_job_t *j, void *ctx, bench_tally_t *t);
void bench_loop_seek(const bench_job_t *j, void *ctx, bench_rng_t *r, char *key,
                     bench_tally_t *t);
void bench_loop_multiget(const bench_job_t *j, void *ctx, bench_rng_t *r, bench_tally_t *t);

#endif
