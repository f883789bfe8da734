/* The timed loops. Every store runs the same loop: pick a key number, format
 * the key, call the adapter, check the outcome. Threads (also a lone one)
 * attach to the store before a common start barrier, so connection set-up is
 * not timed, and stamp their start and end times themselves. The batch,
 * cursor and multi-get workloads run their own loops (loops.h) in the same
 * threads. */
#include "workloads.h"

#include "loops.h"
#include "sysinfo.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct worker {
    const bench_job_t *job;
    pthread_barrier_t *start;
    bench_tally_t t;
    uint64_t start_ns, end_ns;
};

/* One operation; returns the adapter's code, counts a wrong outcome. */
static int do_op(const bench_job_t *j, void *ctx, const char *key, bench_rng_t *r, char *buf,
                 uint64_t *unexpected)
{
    size_t vl = 0, vs = j->values->size;
    int rc;
    switch (j->op) {
    case OP_PUT:
        return j->ad->put(ctx, key, j->key_size, bench_value(j->values, r), vs);
    case OP_GET:
        rc = j->ad->get(ctx, key, j->key_size, buf, vs, &vl);
        if (rc == BENCH_FOUND && vl != vs)
            ++*unexpected;
        break;
    default:
        rc = j->ad->del(ctx, key, j->key_size);
        break;
    }
    if ((rc == BENCH_MISSING && j->expect == EXPECT_FOUND) ||
        (rc == BENCH_FOUND && j->expect == EXPECT_MISSING))
        ++*unexpected;
    return rc;
}

static void run_loop(const bench_job_t *j, void *ctx, bench_rng_t *r, char *key, char *buf,
                     bench_tally_t *t)
{
    for (uint64_t i = 0; i < t->count; i++) {
        bench_key(key, j->key_size, bench_job_key_number(j, t->first + i, r));
        int sample = j->sample_latency && i % BENCH_SAMPLE_EVERY == 0;
        uint64_t t0 = sample ? bench_now_ns() : 0;
        int rc = do_op(j, ctx, key, r, buf, &t->unexpected);
        if (sample)
            bench_tally_latency(t, t0);
        if (rc < 0) {
            t->failed = 1;
            break;
        }
        t->done++;
    }
}

static void run_job_loop(struct worker *w, void *ctx, bench_rng_t *r, char *key, char *buf)
{
    const bench_job_t *j = w->job;
    switch (j->op) {
    case OP_BATCH_PUT:
        bench_loop_batch(j, ctx, r, key, &w->t);
        break;
    case OP_SCAN:
    case OP_SCAN_BACK:
        bench_loop_scan(j, ctx, &w->t);
        break;
    case OP_SEEK:
        bench_loop_seek(j, ctx, r, key, &w->t);
        break;
    case OP_MULTI_GET:
        bench_loop_multiget(j, ctx, r, &w->t);
        break;
    default:
        run_loop(j, ctx, r, key, buf, &w->t);
        break;
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    const bench_job_t *j = w->job;
    bench_rng_t r;
    bench_rng_seed(&r, j->seed ^ (w->t.first * 0x9E3779B97F4A7C15ULL));
    char *key = malloc(j->key_size), *buf = malloc(j->values->size + 1);
    void *ctx = key && buf ? j->ad->attach(j->db) : NULL;
    w->t.failed = ctx == NULL;
    pthread_barrier_wait(w->start);
    w->start_ns = bench_now_ns();
    if (!w->t.failed)
        run_job_loop(w, ctx, &r, key, buf);
    w->end_ns = bench_now_ns();
    if (ctx)
        j->ad->detach(ctx);
    free(key);
    free(buf);
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Closes the gaps between the threads' samples (their slices lie in one
 * block, in thread order), sorts them, reads p50 and p99 off the list. */
static void percentiles(struct worker *w, unsigned n, bench_job_result_t *res)
{
    uint32_t *all = w[0].t.lat;
    size_t total = 0;
    for (unsigned t = 0; t < n; t++) {
        memmove(all + total, w[t].t.lat, w[t].t.nlat * sizeof *all);
        total += w[t].t.nlat;
    }
    res->p50_us = res->p99_us = -1;
    if (!total)
        return;
    qsort(all, total, sizeof *all, cmp_u32);
    res->p50_us = all[total / 2] / 1000.0;
    res->p99_us = all[(size_t)((double)(total - 1) * 0.99)] / 1000.0;
}

/* One block for every thread's latency samples: the job's arena when it has
 * room (allocated and touched before a phase's memory baseline, so the
 * samples do not count as the store's memory), else the heap. Returns the
 * block to free, NULL when it is the arena or on ENOMEM (*err set). */
static uint32_t *lat_alloc(const bench_job_t *job, struct worker *w, unsigned n, int *err)
{
    size_t need = 0;
    for (unsigned t = 0; t < n; t++)
        need += w[t].t.count / BENCH_SAMPLE_EVERY + 1;
    int arena = job->lat_arena && need <= job->lat_arena_len;
    uint32_t *base = arena ? job->lat_arena : malloc(need * sizeof *base);
    *err = base == NULL;
    for (unsigned t = 0; t < n && base; t++)
        w[t].t.lat = t ? w[t - 1].t.lat + w[t - 1].t.count / BENCH_SAMPLE_EVERY + 1 : base;
    return arena ? NULL : base;
}

/* Splits the ops over the threads and starts them; *lat_block: what to free. */
static int start_workers(const bench_job_t *job, struct worker *w, pthread_t *tid,
                         pthread_barrier_t *start, uint32_t **lat_block)
{
    unsigned n = job->threads;
    for (unsigned t = 0; t < n; t++) {
        bench_tally_t *tl = &w[t].t;
        w[t].job = job;
        w[t].start = start;
        tl->count = job->ops / n + (t < job->ops % n);
        tl->first = t ? w[t - 1].t.first + w[t - 1].t.count : 0;
    }
    int err = 0;
    if (job->sample_latency && (*lat_block = lat_alloc(job, w, n, &err), err))
        return -1;
    for (unsigned t = 0; t < n; t++) {
        if (pthread_create(&tid[t], NULL, worker_main, &w[t]) != 0) {
            fprintf(stderr, "kvs-bench: cannot start thread %u\n", t);
            abort(); /* the barrier would wait forever */
        }
    }
    return 0;
}

/* Wall time runs from the first thread's start to the last thread's end:
 * each thread stamps both itself, so a short run that finishes before the
 * parent thread is scheduled again is still timed right. */
static void collect(struct worker *w, unsigned n, bench_job_result_t *res)
{
    uint64_t start = UINT64_MAX, end = 0;
    for (unsigned t = 0; t < n; t++) {
        res->ops += w[t].t.done;
        res->unexpected += w[t].t.unexpected;
        res->failed |= w[t].t.failed;
        if (w[t].start_ns < start)
            start = w[t].start_ns;
        if (w[t].end_ns > end)
            end = w[t].end_ns;
    }
    res->seconds = end > start ? (double)(end - start) / 1e9 : 0;
}

int bench_job_run(const bench_job_t *job, bench_job_result_t *res)
{
    unsigned n = job->threads ? job->threads : 1;
    bench_job_t j = *job;
    j.threads = n;
    memset(res, 0, sizeof *res);
    res->p50_us = res->p99_us = -1;
    struct worker *w = calloc(n, sizeof *w);
    pthread_t *tid = calloc(n, sizeof *tid);
    pthread_barrier_t start;
    if (!w || !tid || pthread_barrier_init(&start, NULL, n + 1) != 0) {
        free(w);
        free(tid);
        return -1;
    }
    uint32_t *lat_block = NULL;
    int rc = start_workers(&j, w, tid, &start, &lat_block);
    if (rc == 0) {
        pthread_barrier_wait(&start);
        for (unsigned t = 0; t < n; t++)
            pthread_join(tid[t], NULL);
        collect(w, n, res);
        if (j.sample_latency)
            percentiles(w, n, res);
    }
    pthread_barrier_destroy(&start);
    free(lat_block);
    free(w);
    free(tid);
    return rc == 0 && !res->failed ? 0 : -1;
}
