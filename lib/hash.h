/*
 * The key hash. Its values are stored in hint files, so it is part of the
 * on-disk format: XXH3-64 (stable since xxHash 0.8.0) with the store's seed.
 * The seed is random per store and kept in every segment header, so keys
 * chosen by an attacker cannot be aimed at one bucket without reading it.
 */
#ifndef KVS_HASH_H
#define KVS_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t kvs__hash(uint64_t seed, const void *key, size_t klen);

/* A fresh random seed (getrandom, falling back to time and address bits). */
uint64_t kvs__hash_new_seed(void);

/* A streaming 64-bit checksum of large files (XXH3-64, seed 0), where
 * CRC32C would cost too much time per byte. */
struct kvs_digest;
struct kvs_digest *kvs__digest_new(void);
void kvs__digest_update(struct kvs_digest *d, const void *buf, size_t len);
uint64_t kvs__digest_final(struct kvs_digest *d);
void kvs__digest_free(struct kvs_digest *d);
/* The same checksum of one buffer. */
uint64_t kvs__hash_sum(const void *buf, size_t len);


#endif
