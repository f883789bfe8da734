/* The cursor workloads, as LevelDB's and RocksDB's db_bench run them:
 *
 * - readseq / readreverse: one cursor, from the first (last) key through all
 *   of them; an op is one entry read. The walk must return exactly the keys
 *   of the job (every one, each once, in strictly ascending or descending
 *   order unless the store says it walks unordered), so a store cannot win
 *   by skipping or by returning stale entries.
 * - seekrandom: per op a new cursor (both db_benches create one per seek),
 *   a seek to a uniformly random existing key, which must be found, then
 *   BENCH_SEEK_NEXTS times: read the entry, move to the next (RocksDB's
 *   db_bench --seek_nexts loop).
 *
 * Every entry read is copied out, key and value, into harness buffers (a get
 * copies its value the same way), so every store pays the same harness work
 * per entry. */
#include "loops.h"

#include <stdlib.h>
#include <string.h>

/* The harness's side of one cursor: where entries are copied to. */
struct scan_bufs {
    char *key[2]; /* the current key and the one before, alternately */
    char *val;
    size_t ks, vs;
};

static int bufs_init(struct scan_bufs *b, const bench_job_t *j)
{
    b->ks = j->key_size;
    b->vs = j->values->size;
    b->key[0] = malloc(2 * b->ks);
    b->key[1] = b->key[0] ? b->key[0] + b->ks : NULL;
    b->val = malloc(b->vs);
    return b->key[0] && b->val ? 0 : -1;
}

static void bufs_free(struct scan_bufs *b)
{
    free(b->key[0]);
    free(b->val);
}

/* Copies the cursor's entry into key[slot] and val; counts a wrong length. */
static int copy_entry(const bench_iter_ops_t *io, void *it, struct scan_bufs *b, int slot,
                      uint64_t *unexpected)
{
    const char *k, *v;
    size_t kl, vl;
    if (io->entry(it, &k, &kl, &v, &vl) != BENCH_FOUND)
        return BENCH_ERR;
    memcpy(b->key[slot], k, kl < b->ks ? kl : b->ks);
    memcpy(b->val, v, vl < b->vs ? vl : b->vs);
    if (kl != b->ks || vl != b->vs)
        ++*unexpected;
    return BENCH_FOUND;
}

/* Whether key[slot] comes strictly after (back: before) key[slot ^ 1]. */
static int in_order(const struct scan_bufs *b, int slot, int back)
{
    int c = memcmp(b->key[slot ^ 1], b->key[slot], b->ks);
    return back ? c > 0 : c < 0;
}

/* Walks the cursor; returns the code of the move that ended the walk. */
static int walk(const bench_iter_ops_t *io, void *it, int back, struct scan_bufs *b,
                bench_tally_t *t)
{
    int rc = back ? io->last(it) : io->first(it);
    for (; rc == BENCH_FOUND && t->done < t->count; rc = back ? io->prev(it) : io->next(it)) {
        int slot = (int)(t->done & 1);
        if (copy_entry(io, it, b, slot, &t->unexpected) != BENCH_FOUND)
            return BENCH_ERR;
        if (t->done > 0 && !io->unordered && !in_order(b, slot, back))
            t->unexpected++;
        t->done++;
    }
    return rc;
}

void bench_loop_scan(const bench_job_t *j, void *ctx, bench_tally_t *t)
{
    const bench_iter_ops_t *io = j->ad->iter;
    struct scan_bufs b;
    void *it = bufs_init(&b, j) == 0 ? io->open(ctx) : NULL;
    int rc = it ? walk(io, it, j->op == OP_SCAN_BACK, &b, t) : BENCH_ERR;
    if (it)
        io->close(it);
    bufs_free(&b);
    if (rc == BENCH_ERR) {
        t->failed = 1;
        return;
    }
    /* Ended early (keys missing) or went on past the count (keys too many). */
    if (t->done < t->count)
        t->unexpected += t->count - t->done;
    else if (rc == BENCH_FOUND)
        t->unexpected++;
}

/* One seekrandom op on the key in key; BENCH_ERR on a store error. The
 * sought key must be found, the entries after it must ascend. */
static int one_seek(const bench_iter_ops_t *io, void *ctx, const char *key, struct scan_bufs *b,
                    uint64_t *unexpected)
{
    void *it = io->open(ctx);
    if (!it)
        return BENCH_ERR;
    int rc = io->seek(it, key, b->ks);
    if (rc == BENCH_MISSING)
        ++*unexpected; /* every key sought exists */
    for (int n = 0; rc == BENCH_FOUND && n < BENCH_SEEK_NEXTS; n++) {
        if (copy_entry(io, it, b, n & 1, unexpected) != BENCH_FOUND) {
            rc = BENCH_ERR;
            break;
        }
        if (n == 0 ? memcmp(b->key[0], key, b->ks) != 0 : !in_order(b, n & 1, 0))
            ++*unexpected; /* landed past the key, or went out of order */
        rc = io->next(it);
    }
    io->close(it);
    return rc == BENCH_ERR ? BENCH_ERR : BENCH_FOUND;
}

void bench_loop_seek(const bench_job_t *j, void *ctx, bench_rng_t *r, char *key,
                     bench_tally_t *t)
{
    struct scan_bufs b;
    if (bufs_init(&b, j) != 0) {
        t->failed = 1;
        bufs_free(&b);
        return;
    }
    for (uint64_t i = 0; i < t->count; i++) {
        bench_key(key, j->key_size, bench_job_key_number(j, t->first + i, r));
        int sample = j->sample_latency && i % BENCH_SAMPLE_EVERY == 0;
        uint64_t t0 = sample ? bench_now_ns() : 0;
        int rc = one_seek(j->ad->iter, ctx, key, &b, &t->unexpected);
        if (sample)
            bench_tally_latency(t, t0);
        if (rc == BENCH_ERR) {
            t->failed = 1;
            break;
        }
        t->done++;
    }
    bufs_free(&b);
}
