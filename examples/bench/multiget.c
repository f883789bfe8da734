/* multiget: the job's gets, BENCH_MULTI_GET_KEYS keys to a call of the
 * store's batched read (the adapter's multi_get), or, for a store without
 * one, a get per key of the batch: what a user of that store would write.
 * An op is one key read, not one call, so the rate compares directly with
 * readrandom. The harness work per key is readrandom's: format the key, have
 * the value copied into a harness buffer, check it. Every key read exists. */
#include "loops.h"

#include <stdlib.h>

/* The harness's side of one call: its keys and where the values go. */
struct mg_bufs {
    char *block; /* the keys, then the values */
    const char *keys[BENCH_MULTI_GET_KEYS];
    size_t klens[BENCH_MULTI_GET_KEYS];
    char *vals[BENCH_MULTI_GET_KEYS];
    size_t vlens[BENCH_MULTI_GET_KEYS];
    int results[BENCH_MULTI_GET_KEYS];
};

static int bufs_init(struct mg_bufs *b, size_t ks, size_t vs)
{
    b->block = malloc(BENCH_MULTI_GET_KEYS * (ks + vs));
    for (size_t i = 0; b->block && i < BENCH_MULTI_GET_KEYS; i++) {
        b->keys[i] = b->block + i * ks;
        b->klens[i] = ks;
        b->vals[i] = b->block + BENCH_MULTI_GET_KEYS * ks + i * vs;
    }
    return b->block ? 0 : -1;
}

/* The store's batched read, or its get for each key. */
static int read_keys(const bench_adapter_t *ad, void *ctx, struct mg_bufs *b, size_t n,
                     size_t vs)
{
    if (ad->multi_get)
        return ad->multi_get(ctx, n, b->keys, b->klens, b->vals, vs, b->vlens, b->results);
    for (size_t i = 0; i < n; i++)
        b->results[i] = ad->get(ctx, b->keys[i], b->klens[i], b->vals[i], vs, &b->vlens[i]);
    return 0;
}

/* One call for the n keys of op numbers first..first+n-1; BENCH_ERR on a
 * store error. A key missing or a value of the wrong length is counted. */
static int one_call(const bench_job_t *j, void *ctx, bench_rng_t *r, struct mg_bufs *b,
                    uint64_t first, size_t n, uint64_t *unexpected)
{
    size_t ks = j->key_size, vs = j->values->size;
    for (size_t i = 0; i < n; i++)
        bench_key(b->block + i * ks, ks, bench_job_key_number(j, first + i, r));
    if (read_keys(j->ad, ctx, b, n, vs) != 0)
        return BENCH_ERR;
    int rc = BENCH_FOUND;
    for (size_t i = 0; i < n; i++) {
        if (b->results[i] < 0)
            rc = BENCH_ERR;
        else if (b->results[i] != BENCH_FOUND || b->vlens[i] != vs)
            ++*unexpected;
    }
    return rc;
}

void bench_loop_multiget(const bench_job_t *j, void *ctx, bench_rng_t *r, bench_tally_t *t)
{
    struct mg_bufs b;
    if (bufs_init(&b, j->key_size, j->values->size) != 0) {
        t->failed = 1;
        return;
    }
    while (t->done < t->count) {
        uint64_t n = t->count - t->done;
        n = n < BENCH_MULTI_GET_KEYS ? n : BENCH_MULTI_GET_KEYS;
        if (one_call(j, ctx, r, &b, t->first + t->done, (size_t)n, &t->unexpected) != 0) {
            t->failed = 1;
            break;
        }
        t->done += n;
    }
    free(b.block);
}
