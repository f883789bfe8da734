/*
 * The record codec: pure functions from bytes to bytes, no I/O, so that they
 * can be tested exhaustively and fuzzed. The layout is in doc/FORMAT.md.
 *
 *   0  u32  crc32c of bytes [4, size)
 *   4  u8   type   (0 never starts a record: it marks the end of data)
 *   5  u16  key length
 *   7  u32  value length
 *   11 u64  expiry, in milliseconds since the epoch (PUTX only)
 *   11/19   key bytes, then value bytes
 *
 * A BATCH record has no key; its value is a run of complete PUT, PUTX and
 * DEL records, each with its own checksum, which the index points into.
 * The batch's own checksum covers them all, so a batch is on disk whole or
 * not at all.
 */
#ifndef KVS_RECORD_H
#define KVS_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvs.h"

#define KVS_REC_HEADER_SIZE 11u      /* every type but PUTX */
#define KVS_REC_HEADER_MAX 19u       /* PUTX: the expiry follows */
/* Largest payload of a BATCH record: every offset in a segment then stays
 * below 2^30, which hint files rely on (doc/FORMAT.md). */
#define KVS_REC_BATCH_MAX KVS_BATCH_MAX_BYTES

/* Record types. The high nibble is a constant so that a stray byte rarely
 * looks like a record. */
enum kvs_rec_type {
    KVS_REC_END = 0x00,  /* not a record: zero bytes after the last one */
    KVS_REC_PUT = 0x51,  /* key and value */
    KVS_REC_DEL = 0x52,  /* tombstone: key, empty value */
    KVS_REC_SEAL = 0x53, /* last record of a sealed segment: empty key and value */
    KVS_REC_PUTX = 0x54, /* key and value that expire (format 2) */
    KVS_REC_BATCH = 0x55 /* records applied as one (format 2) */
};

/* A decoded record; key and val point into the decoded buffer. */
struct kvs_rec {
    uint8_t type;
    uint32_t klen;
    uint32_t vlen;
    uint64_t expire;  /* PUTX: ms since the epoch; else 0 (never) */
    const uint8_t *key;
    const uint8_t *val;
    uint64_t size; /* header + key + value */
};

static inline uint32_t kvs__rec_header_size(uint8_t type)
{
    return type == KVS_REC_PUTX ? KVS_REC_HEADER_MAX : KVS_REC_HEADER_SIZE;
}

/* A record that gives a key a value (PUT or PUTX). */
static inline int kvs__rec_is_put(uint8_t type)
{
    return type == KVS_REC_PUT || type == KVS_REC_PUTX;
}

/* Has the value expired at now (ms since the epoch)? */
static inline int kvs__rec_expired(const struct kvs_rec *r, uint64_t now_ms)
{
    return r->expire != 0 && r->expire <= now_ms;
}

enum kvs_rec_status {
    KVS_REC_OK = 0,        /* a valid record */
    KVS_REC_AT_END,        /* type byte 0: end of data */
    KVS_REC_TRUNCATED,     /* the record runs past the available bytes */
    KVS_REC_BAD            /* checksum, type or lengths are wrong */
};

/* Header fields of an encoded record, unchecked: the caller knows that
 * KVS_REC_HEADER_SIZE bytes are readable at rec. */
static inline uint8_t kvs__rec_type_at(const uint8_t *rec)
{
    return rec[4];
}
static inline uint32_t kvs__rec_klen_at(const uint8_t *rec)
{
    return (uint32_t)rec[5] | ((uint32_t)rec[6] << 8);
}
static inline uint32_t kvs__rec_vlen_at(const uint8_t *rec)
{
    return (uint32_t)rec[7] | ((uint32_t)rec[8] << 8) | ((uint32_t)rec[9] << 16) |
           ((uint32_t)rec[10] << 24);
}
static inline const uint8_t *kvs__rec_key_at(const uint8_t *rec)
{
    return rec + kvs__rec_header_size(rec[4]);
}

static inline uint64_t kvs__rec_size(size_t klen, size_t vlen)
{
    return KVS_REC_HEADER_SIZE + (uint64_t)klen + (uint64_t)vlen;
}

static inline uint64_t kvs__rec_size_of(enum kvs_rec_type type, size_t klen, size_t vlen)
{
    return kvs__rec_header_size((uint8_t)type) + (uint64_t)klen + (uint64_t)vlen;
}

/* Write a record into dst, which has room for kvs__rec_size_of(type, klen,
 * vlen) bytes; expire is written for PUTX only. Key and value are written
 * before the header, so a writer killed half-way leaves a record that does
 * not verify. */
void kvs__rec_encode(uint8_t *dst, enum kvs_rec_type type, uint64_t expire, const void *key,
                     size_t klen, const void *val, size_t vlen);

/* Only the header (checksum included; kvs__rec_header_size(type) bytes) of
 * the record that key and value make, for writers that send the parts
 * separately. */
void kvs__rec_header(uint8_t hdr[KVS_REC_HEADER_MAX], enum kvs_rec_type type, uint64_t expire,
                     const void *key, size_t klen, const void *val, size_t vlen);

/* Decode and verify the record at buf, which has avail readable bytes. */
enum kvs_rec_status kvs__rec_decode(const uint8_t *buf, uint64_t avail, struct kvs_rec *out);

/* Decode only the header fields (no checksum); KVS_REC_OK if they are
 * plausible and the record fits in avail. Used to size a read. */
enum kvs_rec_status kvs__rec_peek(const uint8_t *buf, uint64_t avail, struct kvs_rec *out);

/*
 * The records inside a decoded BATCH record, one by one: *pos starts at 0
 * and is the offset of the inner record in the batch's value. KVS_REC_OK
 * (a PUT, PUTX or DEL, its checksum verified when verify is set),
 * KVS_REC_AT_END after the last, KVS_REC_BAD if the bytes are not records.
 */
enum kvs_rec_status kvs__rec_batch_next(const struct kvs_rec *batch, uint64_t *pos, bool verify,
                                        struct kvs_rec *inner);

#endif
