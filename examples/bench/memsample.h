/* Peak anonymous memory of this process while a phase runs.
 *
 * VmHWM cannot be used: it counts file pages mapped into the process, and
 * libkvs (like LMDB and tkrzw) reads its files through mappings, so its
 * high-water mark grows with the data read, not with the memory it holds.
 * RssAnon is what the process holds of its own (heap, anonymous mappings);
 * nothing records its peak, so a thread samples it. */
#ifndef KVS_BENCH_MEMSAMPLE_H
#define KVS_BENCH_MEMSAMPLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

enum { BENCH_MEM_SAMPLE_MS = 10 };

typedef struct bench_mem_sampler {
    pthread_t thread;
    int fd;                  /* /proc/self/status, kept open */
    atomic_int stop;
    atomic_uint_fast64_t peak; /* bytes */
    atomic_uint_fast64_t samples;
    int running;
} bench_mem_sampler_t;

/* Starts sampling RssAnon every BENCH_MEM_SAMPLE_MS; takes the first sample
 * before it returns. -1 if the thread cannot start (the peak is then the
 * two samples of start and stop). */
int bench_mem_sampler_start(bench_mem_sampler_t *s);
/* Takes a last sample, stops the thread; returns the peak in bytes. */
uint64_t bench_mem_sampler_stop(bench_mem_sampler_t *s);

#endif
