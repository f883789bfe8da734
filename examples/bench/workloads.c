/* The timed loops. Every store runs the same loop: pick a key number, format
 * the key, call the adapter, check the outcome. Threads (also a lone one)
 * attach to the store before a common start barrier, so connection set-up is
 * not timed, and stamp their start and end times themselves. */
#include "workloads.h"

#include "sysinfo.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct worker {
    const bench_job_t *job;
    uint64_t first, count; /* this thread's slice of the op numbers */
    pthread_barrier_t *start;
    uint32_t *lat;         /* sampled latencies in ns */
    size_t nlat;
    uint64_t done, unexpected, start_ns, end_ns;
    int failed;
};

static uint64_t key_number(const bench_job_t *j, uint64_t i, bench_rng_t *r)
{
    uint64_t idx = j->keys == KEYS_SEQ     ? i
                   : j->keys == KEYS_ORDER ? j->order[i]
                                           : bench_rng_below(r, j->universe);
    return 2 * idx + (j->expect == EXPECT_MISSING);
}

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

static void run_loop(struct worker *w, void *ctx, bench_rng_t *r, char *key, char *buf)
{
    const bench_job_t *j = w->job;
    for (uint64_t i = 0; i < w->count; i++) {
        bench_key(key, j->key_size, key_number(j, w->first + i, r));
        int sample = j->sample_latency && i % BENCH_SAMPLE_EVERY == 0;
        uint64_t t0 = sample ? bench_now_ns() : 0;
        int rc = do_op(j, ctx, key, r, buf, &w->unexpected);
        if (sample) {
            uint64_t dt = bench_now_ns() - t0;
            w->lat[w->nlat++] = dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt;
        }
        if (rc < 0) {
            w->failed = 1;
            break;
        }
        w->done++;
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    const bench_job_t *j = w->job;
    bench_rng_t r;
    bench_rng_seed(&r, j->seed ^ (w->first * 0x9E3779B97F4A7C15ULL));
    char *key = malloc(j->key_size), *buf = malloc(j->values->size + 1);
    void *ctx = key && buf ? j->ad->attach(j->db) : NULL;
    w->failed = ctx == NULL;
    pthread_barrier_wait(w->start);
    w->start_ns = bench_now_ns();
    if (!w->failed)
        run_loop(w, ctx, &r, key, buf);
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

/* Merges the threads' samples and reads p50 and p99 off the sorted list. */
static void percentiles(struct worker *w, unsigned n, bench_job_result_t *res)
{
    size_t total = 0;
    for (unsigned t = 0; t < n; t++)
        total += w[t].nlat;
    res->p50_us = res->p99_us = -1;
    uint32_t *all = total ? malloc(total * sizeof *all) : NULL;
    if (!all)
        return;
    size_t k = 0;
    for (unsigned t = 0; t < n; t++) {
        memcpy(all + k, w[t].lat, w[t].nlat * sizeof *all);
        k += w[t].nlat;
    }
    qsort(all, total, sizeof *all, cmp_u32);
    res->p50_us = all[total / 2] / 1000.0;
    res->p99_us = all[(size_t)((double)(total - 1) * 0.99)] / 1000.0;
    free(all);
}

static int start_workers(const bench_job_t *job, struct worker *w, pthread_t *tid,
                         pthread_barrier_t *start)
{
    unsigned n = job->threads;
    for (unsigned t = 0; t < n; t++) {
        w[t].job = job;
        w[t].count = job->ops / n + (t < job->ops % n);
        w[t].first = t ? w[t - 1].first + w[t - 1].count : 0;
        w[t].start = start;
        if (job->sample_latency) {
            w[t].lat = malloc((w[t].count / BENCH_SAMPLE_EVERY + 1) * sizeof *w[t].lat);
            if (!w[t].lat)
                return -1;
        }
    }
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
        res->ops += w[t].done;
        res->unexpected += w[t].unexpected;
        res->failed |= w[t].failed;
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
    int rc = start_workers(&j, w, tid, &start);
    if (rc == 0) {
        pthread_barrier_wait(&start);
        for (unsigned t = 0; t < n; t++)
            pthread_join(tid[t], NULL);
        collect(w, n, res);
        if (j.sample_latency)
            percentiles(w, n, res);
    }
    pthread_barrier_destroy(&start);
    for (unsigned t = 0; t < n; t++)
        free(w[t].lat);
    free(w);
    free(tid);
    return rc == 0 && !res->failed ? 0 : -1;
}
