/* Runs the phases of every selected store in child processes and gathers
 * their results into one table. */
#ifndef KVS_BENCH_RUNNER_H
#define KVS_BENCH_RUNNER_H

#include "bench.h"

typedef struct bench_table {
    bench_result_t r[BENCH_MAX_STORES][M_COUNT];
    /* 1-minute load average when each store's run began, and at the end:
     * other processes on the machine show up here (this program adds ~1). */
    double load[BENCH_MAX_STORES];
    double load_end;
} bench_table_t;

/* Returns the number of stores whose runs had a failure (0 = all fine). */
int bench_run_all(const bench_config_t *cfg, bench_table_t *t);

#endif
