/* Key hashing: xxHash's XXH3, compiled in from its header (no run-time dependency). */
#include "hash.h"

#include <sys/random.h>
#include <time.h>

#define XXH_INLINE_ALL
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

uint64_t kvs__hash(uint64_t seed, const void *key, size_t klen)
{
    return XXH3_64bits_withSeed(key, klen, seed);
}

uint64_t kvs__hash_new_seed(void)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == (ssize_t)sizeof(seed))
        return seed;
    /* No entropy yet (very early boot): mix the clock and an address. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t mix[3] = {(uint64_t)ts.tv_sec, (uint64_t)ts.tv_nsec, (uint64_t)(uintptr_t)&ts};
    return XXH3_64bits(mix, sizeof(mix));
}

/* struct kvs_digest is never defined: it is an XXH3_state_t seen opaquely. */
struct kvs_digest *kvs__digest_new(void)
{
    XXH3_state_t *st = XXH3_createState();
    if (!st)
        return NULL;
    XXH3_64bits_reset(st);
    return (struct kvs_digest *)st;
}

void kvs__digest_update(struct kvs_digest *d, const void *buf, size_t len)
{
    XXH3_64bits_update((XXH3_state_t *)d, buf, len);
}

uint64_t kvs__digest_final(struct kvs_digest *d)
{
    return XXH3_64bits_digest((XXH3_state_t *)d);
}

void kvs__digest_free(struct kvs_digest *d)
{
    if (d)
        XXH3_freeState((XXH3_state_t *)d);
}

uint64_t kvs__hash_sum(const void *buf, size_t len)
{
    return XXH3_64bits(buf, len);
}
