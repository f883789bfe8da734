/* Record encoding and verification (layout in record.h and doc/FORMAT.md). */
#include "record.h"

#include "crc32c.h"
#include "internal.h"

_Static_assert(KVS_KEY_MAX <= UINT16_MAX, "key length must fit the u16 field");
_Static_assert(KVS_VALUE_MAX <= UINT32_MAX, "value length must fit the u32 field");

void kvs__rec_header(uint8_t hdr[KVS_REC_HEADER_SIZE], enum kvs_rec_type type, const void *key,
                     size_t klen, const void *val, size_t vlen)
{
    hdr[4] = (uint8_t)type;
    kvs__store16(hdr + 5, (uint16_t)klen);
    kvs__store32(hdr + 7, (uint32_t)vlen);
    /* Checksum the caller's buffers, which are hot in cache, not a copy. */
    uint32_t crc = kvs__crc32c(0, hdr + 4, KVS_REC_HEADER_SIZE - 4);
    if (klen)
        crc = kvs__crc32c(crc, key, klen);
    if (vlen)
        crc = kvs__crc32c(crc, val, vlen);
    kvs__store32(hdr, crc);
}

void kvs__rec_encode(uint8_t *dst, enum kvs_rec_type type, const void *key, size_t klen,
                     const void *val, size_t vlen)
{
    uint8_t hdr[KVS_REC_HEADER_SIZE];
    kvs__rec_header(hdr, type, key, klen, val, vlen);
    if (klen)
        memcpy(dst + KVS_REC_HEADER_SIZE, key, klen);
    if (vlen)
        memcpy(dst + KVS_REC_HEADER_SIZE + klen, val, vlen);
    memcpy(dst, hdr, sizeof(hdr)); /* last: a half-written record never verifies */
}

static int rec_type_valid(uint8_t type)
{
    return type == KVS_REC_PUT || type == KVS_REC_DEL || type == KVS_REC_SEAL;
}

/* Lengths must agree with the type: puts and tombstones have a key, a
 * tombstone has no value, a seal has neither. */
static int rec_lengths_valid(uint8_t type, uint32_t klen, uint32_t vlen)
{
    if (vlen > KVS_VALUE_MAX)
        return 0;
    switch (type) {
    case KVS_REC_PUT:
        return klen >= 1;
    case KVS_REC_DEL:
        return klen >= 1 && vlen == 0;
    case KVS_REC_SEAL:
        return klen == 0 && vlen == 0;
    default:
        return 0;
    }
}

enum kvs_rec_status kvs__rec_peek(const uint8_t *buf, uint64_t avail, struct kvs_rec *out)
{
    if (avail < 5)
        return KVS_REC_TRUNCATED;
    uint8_t type = buf[4];
    if (type == KVS_REC_END)
        return KVS_REC_AT_END;
    if (avail < KVS_REC_HEADER_SIZE)
        return KVS_REC_TRUNCATED;
    uint32_t klen = kvs__load16(buf + 5);
    uint32_t vlen = kvs__load32(buf + 7);
    if (!rec_type_valid(type) || !rec_lengths_valid(type, klen, vlen))
        return KVS_REC_BAD;
    uint64_t size = kvs__rec_size(klen, vlen);
    if (size > avail)
        return KVS_REC_TRUNCATED;
    out->type = type;
    out->klen = klen;
    out->vlen = vlen;
    out->key = buf + KVS_REC_HEADER_SIZE;
    out->val = buf + KVS_REC_HEADER_SIZE + klen;
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
