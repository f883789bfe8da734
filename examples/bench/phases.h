/* The per-store phases. Each runs in a child process of its own (fresh
 * memory, fresh library state) and sends its results through a pipe. */
#ifndef KVS_BENCH_PHASES_H
#define KVS_BENCH_PHASES_H

#include "adapter.h"
#include "bench.h"

typedef struct bench_sink {
    int fd;
    int store;
} bench_sink_t;

typedef int (*bench_phase_fn)(const bench_config_t *cfg, const bench_adapter_t *ad,
                              bench_sink_t *sink);

/* fillseq, then deleterandom over the same keys. */
int bench_phase_seq(const bench_config_t *cfg, const bench_adapter_t *ad, bench_sink_t *sink);
/* fillbatch: fillrandom's puts in write batches, on a fresh store. */
int bench_phase_batch(const bench_config_t *cfg, const bench_adapter_t *ad, bench_sink_t *sink);
/* fillrandom, overwrite, bytes on disk, reads (point, multi-key and
 * cursor), two more overwrites, settled bytes on disk, peak memory of the
 * fill and of the reads. Leaves the store for the open phases. */
int bench_phase_random(const bench_config_t *cfg, const bench_adapter_t *ad, bench_sink_t *sink);
/* Open of the store left by bench_phase_random, page cache warm / dropped. */
int bench_phase_open_warm(const bench_config_t *cfg, const bench_adapter_t *ad, bench_sink_t *sink);
int bench_phase_open_cold(const bench_config_t *cfg, const bench_adapter_t *ad, bench_sink_t *sink);
/* Durable writes: one writer, then cfg->sync_threads writers. */
int bench_phase_sync1(const bench_config_t *cfg, const bench_adapter_t *ad, bench_sink_t *sink);
int bench_phase_syncn(const bench_config_t *cfg, const bench_adapter_t *ad, bench_sink_t *sink);

/* Which metrics a phase produces, so the runner can skip phases nobody asked for. */
uint32_t bench_phase_metrics(bench_phase_fn fn);

/* The directory of one store's data set ("random", "seq", "sync1", ...). */
void bench_store_dir(const bench_config_t *cfg, const bench_adapter_t *ad, const char *set,
                     char *out, size_t len);

#endif
