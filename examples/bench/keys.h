/* Keys, values and random numbers of the workloads.
 *
 * Key i of the store is the decimal number 2*i, zero-padded to the key size;
 * the keys of readmissing are the odd numbers 2*i+1, so they fall between
 * existing keys (an ordered store cannot dismiss them by key range alone). */
#ifndef KVS_BENCH_KEYS_H
#define KVS_BENCH_KEYS_H

#include <stddef.h>
#include <stdint.h>

/* xorshift64*: a fast, good-enough generator for picking keys and values. */
typedef struct bench_rng {
    uint64_t s;
} bench_rng_t;

void bench_rng_seed(bench_rng_t *r, uint64_t seed);

static inline uint64_t bench_rng_next(bench_rng_t *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [0, n) without modulo bias worth caring about (n < 2^32). */
static inline uint64_t bench_rng_below(bench_rng_t *r, uint64_t n)
{
    return ((bench_rng_next(r) >> 32) * n) >> 32;
}

/* A shuffled permutation of 0..n-1 (malloc'ed), NULL on ENOMEM. */
uint32_t *bench_permutation(uint64_t n, uint64_t seed);

/* Writes the key of number `no` into buf (exactly `size` bytes, no NUL). */
static inline void bench_key(char *buf, size_t size, uint64_t no)
{
    for (size_t i = size; i-- > 0;) {
        buf[i] = (char)('0' + no % 10);
        no /= 10;
    }
}

/* Smallest key size that holds the numbers of n present and n missing keys. */
size_t bench_key_digits(uint64_t n);

/* Values are slices of one buffer of random bytes (incompressible), taken
 * at a random offset per write, so no two consecutive writes share a value. */
typedef struct bench_values {
    char *buf;
    size_t span; /* number of possible start offsets (a power of two) */
    size_t size; /* value size */
} bench_values_t;

int bench_values_init(bench_values_t *v, size_t value_size, uint64_t seed);
void bench_values_free(bench_values_t *v);

static inline const char *bench_value(const bench_values_t *v, bench_rng_t *r)
{
    return v->buf + (bench_rng_next(r) & (v->span - 1));
}

#endif
