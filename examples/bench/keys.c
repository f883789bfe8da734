/* Key permutations, key sizing and the value buffer. */
#include "keys.h"

#include <stdlib.h>

void bench_rng_seed(bench_rng_t *r, uint64_t seed)
{
    /* splitmix64 step: spreads small seeds, and the state must not be 0. */
    uint64_t z = seed + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    r->s = (z ^ (z >> 31)) | 1;
}

uint32_t *bench_permutation(uint64_t n, uint64_t seed)
{
    uint32_t *p = malloc((n ? n : 1) * sizeof *p);
    if (!p)
        return NULL;
    for (uint64_t i = 0; i < n; i++)
        p[i] = (uint32_t)i;
    bench_rng_t r;
    bench_rng_seed(&r, seed);
    for (uint64_t i = n; i > 1; i--) { /* Fisher-Yates */
        uint64_t j = bench_rng_below(&r, i);
        uint32_t t = p[i - 1];
        p[i - 1] = p[j];
        p[j] = t;
    }
    return p;
}

size_t bench_key_digits(uint64_t n)
{
    size_t d = 1;
    for (uint64_t max = 2 * n + 1; max >= 10; max /= 10)
        d++;
    return d;
}

enum { VALUE_SPAN = 1 << 20 };

int bench_values_init(bench_values_t *v, size_t value_size, uint64_t seed)
{
    v->span = VALUE_SPAN;
    v->size = value_size;
    v->buf = malloc(VALUE_SPAN + value_size);
    if (!v->buf)
        return -1;
    bench_rng_t r;
    bench_rng_seed(&r, seed);
    for (size_t i = 0; i < VALUE_SPAN + value_size; i++)
        v->buf[i] = (char)(bench_rng_next(&r) >> 56);
    return 0;
}

void bench_values_free(bench_values_t *v)
{
    free(v->buf);
    v->buf = NULL;
}
