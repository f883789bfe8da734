/*
 * The record codec: pure functions from bytes to bytes, no I/O, so that they
 * can be tested exhaustively and fuzzed. The layout is in doc/FORMAT.md.
 *
 *   0  u32  crc32c of bytes [4, size)
 *   4  u8   type   (0 never starts a record: it marks the end of data)
 *   5  u16  key length
 *   7  u32  value length
 *   11      key bytes, then value bytes
 */
#ifndef KVS_RECORD_H
#define KVS_RECORD_H

#include <stddef.h>
#include <stdint.h>

#define KVS_REC_HEADER_SIZE 11u

/* Record types. The high nibble is a constant so that a stray byte rarely
 * looks like a record; bit 7 is reserved (a later format marks batches). */
enum kvs_rec_type {
    KVS_REC_END = 0x00, /* not a record: zero bytes after the last one */
    KVS_REC_PUT = 0x51, /* key and value */
    KVS_REC_DEL = 0x52, /* tombstone: key, empty value */
    KVS_REC_SEAL = 0x53 /* last record of a sealed segment: empty key and value */
};

/* A decoded record; key and val point into the decoded buffer. */
struct kvs_rec {
    uint8_t type;
    uint32_t klen;
    uint32_t vlen;
    const uint8_t *key;
    const uint8_t *val;
    uint64_t size; /* header + key + value */
};

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
    return rec + KVS_REC_HEADER_SIZE;
}

static inline uint64_t kvs__rec_size(size_t klen, size_t vlen)
{
    return KVS_REC_HEADER_SIZE + (uint64_t)klen + (uint64_t)vlen;
}

/* Write a record into dst, which has room for kvs__rec_size(klen, vlen)
 * bytes. Key and value are written before the header, so a writer killed
 * half-way leaves a record that does not verify. */
void kvs__rec_encode(uint8_t *dst, enum kvs_rec_type type, const void *key, size_t klen,
                     const void *val, size_t vlen);

/* Only the 11-byte header (checksum included) of the record that key and
 * value make, for writers that send the three parts separately. */
void kvs__rec_header(uint8_t hdr[KVS_REC_HEADER_SIZE], enum kvs_rec_type type, const void *key,
                     size_t klen, const void *val, size_t vlen);

/* Decode and verify the record at buf, which has avail readable bytes. */
enum kvs_rec_status kvs__rec_decode(const uint8_t *buf, uint64_t avail, struct kvs_rec *out);

/* Decode only the header fields (no checksum); KVS_REC_OK if they are
 * plausible and the record fits in avail. Used to size a read. */
enum kvs_rec_status kvs__rec_peek(const uint8_t *buf, uint64_t avail, struct kvs_rec *out);

#endif
