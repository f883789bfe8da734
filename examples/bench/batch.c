/* fillbatch: the job's puts, BENCH_BATCH_SIZE at a time into one write batch
 * (db_bench's fillbatch writes 1,000 entries per WriteBatch). An op is one
 * put, as db_bench counts it, so the rate compares directly with fillrandom.
 * The harness work per put is the same as fillrandom's: format the key, pick
 * a value, one indirect call. */
#include "loops.h"

/* One batch of n puts, starting at op number first; 0 on success. */
static int one_batch(const bench_job_t *j, void *ctx, bench_rng_t *r, char *key, uint64_t first,
                     uint64_t n)
{
    const bench_batch_ops_t *b = j->ad->batch;
    void *batch = b->begin(ctx);
    if (!batch)
        return -1;
    int rc = 0;
    for (uint64_t i = 0; i < n && rc == 0; i++) {
        bench_key(key, j->key_size, bench_job_key_number(j, first + i, r));
        rc = b->put(batch, key, j->key_size, bench_value(j->values, r), j->values->size);
    }
    /* Also after a failed put: commit is what releases the batch. */
    int crc = b->commit(ctx, batch);
    return rc == 0 && crc == 0 ? 0 : -1;
}

void bench_loop_batch(const bench_job_t *j, void *ctx, bench_rng_t *r, char *key,
                      bench_tally_t *t)
{
    while (t->done < t->count) {
        uint64_t n = t->count - t->done;
        n = n < BENCH_BATCH_SIZE ? n : BENCH_BATCH_SIZE;
        if (one_batch(j, ctx, r, key, t->first + t->done, n) != 0) {
            t->failed = 1;
            return;
        }
        t->done += n;
    }
}
