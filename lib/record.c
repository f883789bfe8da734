/* Record encoding and verification (layout in record.h and doc/FORMAT.md). */
#include "record.h"

#include "crc32c.h"
#include "internal.h"

_Static_assert(KVS_KEY_MAX <= UINT16_MAX, "key length must fit the u16 field");
_Static_assert(KVS_VALUE_MAX <= UINT32_MAX, "value length must fit the u32 field");

_Static_assert(KVS_REC_BATCH_MAX <= UINT32_MAX, "batch length must fit the u32 field");

void kvs__rec_header(uint8_t hdr[KVS_REC_HEADER_MAX], enum kvs_rec_type type, uint64_t expire,
                     const void *key, size_t klen, const void *val, size_t vlen)
{
    uint32_t hsize = kvs__rec_header_size((uint8_t)type);
    hdr[4] = (uint8_t)type;
    kvs__store16(hdr + 5, (uint16_t)klen);
    kvs__store32(hdr + 7, (uint32_t)vlen);
    if (type == KVS_REC_PUTX)
        kvs__store64(hdr + KVS_REC_HEADER_SIZE, expire);
    /* Checksum the caller's buffers, which are hot in cache, not a copy. */
    uint32_t crc = kvs__crc32c(0, hdr + 4, hsize - 4);
    if (klen)
        crc = kvs__crc32c(crc, key, klen);
    if (vlen)
        crc = kvs__crc32c(crc, val, vlen);
    kvs__store32(hdr, crc);
}

void kvs__rec_encode(uint8_t *dst, enum kvs_rec_type type, uint64_t expire, const void *key,
                     size_t klen, const void *val, size_t vlen)
{
    uint8_t hdr[KVS_REC_HEADER_MAX];
    uint32_t hsize = kvs__rec_header_size((uint8_t)type);
    kvs__rec_header(hdr, type, expire, key, klen, val, vlen);
    if (klen)
        memcpy(dst + hsize, key, klen);
    if (vlen)
        memcpy(dst + hsize + klen, val, vlen);
    memcpy(dst, hdr, hsize); /* last: a half-written record never verifies */
}

/* Lengths must agree with the type: puts and tombstones have a key, a
 * tombstone has no value, a seal has neither, a batch holds at least one
 * smallest record. */
static int rec_lengths_valid(uint8_t type, uint32_t klen, uint32_t vlen)
{
    switch (type) {
    case KVS_REC_PUT:
    case KVS_REC_PUTX:
        return klen >= 1 && vlen <= KVS_VALUE_MAX;
    case KVS_REC_DEL:
        return klen >= 1 && vlen == 0;
    case KVS_REC_SEAL:
        return klen == 0 && vlen == 0;
    case KVS_REC_BATCH:
        return klen == 0 && vlen >= KVS_REC_HEADER_SIZE + 1 && vlen <= KVS_REC_BATCH_MAX;
    default:
        return 0; /* includes unknown types */
    }
}

enum kvs_rec_status kvs__rec_peek(const uint8_t *buf, uint64_t avail, struct kvs_rec *out)
{
    if (avail < 5)
        return KVS_REC_TRUNCATED;
    uint8_t type = buf[4];
    if (type == KVS_REC_END)
        return KVS_REC_AT_END;
    uint32_t hsize = kvs__rec_header_size(type);
    if (avail < hsize)
        return KVS_REC_TRUNCATED;
    uint32_t klen = kvs__load16(buf + 5);
    uint32_t vlen = kvs__load32(buf + 7);
    if (!rec_lengths_valid(type, klen, vlen))
        return KVS_REC_BAD;
    uint64_t size = (uint64_t)hsize + klen + vlen;
    if (size > avail)
        return KVS_REC_TRUNCATED;
    out->type = type;
    out->klen = klen;
    out->vlen = vlen;
    out->expire = type == KVS_REC_PUTX ? kvs__load64(buf + KVS_REC_HEADER_SIZE) : 0;
    out->key = buf + hsize;
    out->val = buf + hsize + klen;
    out->size = size;
    return KVS_REC_OK;
}

enum kvs_rec_status kvs__rec_decode(const uint8_t *buf, uint64_t avail, struct kvs_rec *out)
{
    enum kvs_rec_status st = kvs__rec_peek(buf, avail, out);
    if (st != KVS_REC_OK)
        return st;
    uint32_t crc = kvs__crc32c(0, buf + 4, out->size - 4);
    if (crc != kvs__load32(buf))
        return KVS_REC_BAD;
    return KVS_REC_OK;
}

enum kvs_rec_status kvs__rec_batch_next(const struct kvs_rec *batch, uint64_t *pos, bool verify,
                                        struct kvs_rec *inner)
{
    if (*pos >= batch->vlen)
        return KVS_REC_AT_END;
    const uint8_t *at = batch->val + *pos;
    uint64_t avail = batch->vlen - *pos;
    enum kvs_rec_status st = verify ? kvs__rec_decode(at, avail, inner)
                                    : kvs__rec_peek(at, avail, inner);
    if (st != KVS_REC_OK || !(kvs__rec_is_put(inner->type) || inner->type == KVS_REC_DEL))
        return KVS_REC_BAD;
    *pos += inner->size;
    return KVS_REC_OK;
}
