/*
 * Hint files: NNNNNNNNNN.hint beside each sealed segment, listing every
 * record's key hash and offset, so that open rebuilds the index without
 * reading keys or values. A hint is only an accelerator: a missing, stale or
 * damaged hint is ignored and its segment scanned instead.
 */
#ifndef KVS_HINT_H
#define KVS_HINT_H

#include <stdbool.h>
#include <stdint.h>

#include "segment.h"

#define KVS_HINT_HEADER_SIZE 48u
#define KVS_HINT_ENTRY_SIZE 8u
#define KVS_HINT_TRAILER_SIZE 8u
#define KVS_HINT_TOMBSTONE 0x80000000u
/* Format 2: the entry is a BATCH record's header, not a record to index;
 * with the tombstone bit too, it is a PUTX (a value with an expiry). */
#define KVS_HINT_BATCH 0x40000000u
#define KVS_HINT_EXPIRING (KVS_HINT_TOMBSTONE | KVS_HINT_BATCH)
#define KVS_HINT_OFFSET_MASK 0x3fffffffu
/* Hint files of format 2 mark batch headers; format 1 files are read too. */
#define KVS_HINT_VERSION 2u

/* One record as the hint describes it. */
struct kvs_hint_rec {
    uint64_t hash; /* upper 32 bits of the key hash; the lower half is zero */
    uint32_t off;
    uint32_t size;
    bool tombstone;
    bool batch;    /* a batch header: skip it, its records follow */
    bool expiring; /* a value with an expiry (PUTX) */
};

/* A loaded, fully validated hint file. */
struct kvs_hint {
    uint8_t *buf;  /* kvs__big_alloc'ed */
    size_t len;
    uint64_t count;
    uint64_t data_end;
};

/* Write the hint of a sealed segment (tmp file + rename; not synced: see
 * doc/FORMAT.md). KVS_OK, KVS_EIO, KVS_ENOMEM, KVS_ECORRUPT if the segment's
 * records do not decode. */
int kvs__hint_write(int dirfd, const struct kvs_segment *s, uint64_t seed);

/* Load and validate the hint of segment s. KVS_NOT_FOUND if there is no
 * usable hint (absent or itself damaged); KVS_ECORRUPT if an intact hint
 * describes other bytes than the segment holds (the segment was changed
 * after it was sealed). */
int kvs__hint_load(int dirfd, const struct kvs_segment *s, uint64_t seed, struct kvs_hint *out);

/* The i-th record of a loaded hint. */
void kvs__hint_get(const struct kvs_hint *h, uint64_t i, struct kvs_hint_rec *out);

void kvs__hint_free(struct kvs_hint *h);

/* Is there a hint file for segment id, long enough to be one? Hints are
 * written only after their segment was synced, so one proves that the
 * segment's header reached the disk: a segment found empty or with a zeroed
 * header then was damaged, not interrupted at its creation. */
bool kvs__hint_present(int dirfd, uint32_t id);

#endif
