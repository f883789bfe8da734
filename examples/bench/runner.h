/* Runs the phases of every selected store in child processes and gathers
 * their results into one table. */
#ifndef KVS_BENCH_RUNNER_H
#define KVS_BENCH_RUNNER_H

#include "bench.h"

enum { BENCH_PHASES = 7 };

/* What each round runs, for progress and the report. */
extern const char *const bench_phase_names[BENCH_PHASES];

typedef struct bench_table {
    bench_result_t r[BENCH_MAX_STORES][M_COUNT];
    /* 1-minute load average as each round began (-1: round not run), and at
     * the end: other processes on the machine show up here (this program
     * adds about 1). */
    double load[BENCH_PHASES];
    double load_end;
} bench_table_t;

/* Returns the number of stores whose runs had a failure (0 = all fine).
 * With cfg->repeat > 1 every cell is the median of the repetitions. */
int bench_run_all(const bench_config_t *cfg, bench_table_t *t);

/* Folds n complete runs into one table: per cell the median run (by ops/s,
 * or by value for time, space and memory); a cell that failed or was
 * skipped in any run keeps that status. Load averages: the highest seen. */
void bench_median(const bench_config_t *cfg, const bench_table_t *runs, unsigned n,
                  bench_table_t *out);

#endif
