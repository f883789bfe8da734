/* What a timed loop counts in one worker thread (workloads.c), so that
 * loops of other kinds of workloads can live in files of their own. */
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

#endif
