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
