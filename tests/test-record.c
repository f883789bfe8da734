/* The record codec: round trips, every truncation, every bit flip, bad lengths. */
#include <stdlib.h>
#include <string.h>

#include "common/testutil.h"
#include "internal.h"
#include "record.h"

static size_t encode(uint8_t *buf, enum kvs_rec_type t, const char *k, size_t kl, const char *v,
                     size_t vl)
{
    kvs__rec_encode(buf, t, 0, k, kl, v, vl);
    return (size_t)kvs__rec_size(kl, vl);
}

START_TEST(roundtrip_put_del_seal)
{
    uint8_t buf[256];
    struct kvs_rec r;
    size_t n = encode(buf, KVS_REC_PUT, "key", 3, "value", 5);
    ck_assert_uint_eq(n, 11 + 3 + 5);
    ck_assert_int_eq(kvs__rec_decode(buf, n, &r), KVS_REC_OK);
    ck_assert_int_eq(r.type, KVS_REC_PUT);
    ck_assert_uint_eq(r.klen, 3);
    ck_assert_uint_eq(r.vlen, 5);
    ck_assert_mem_eq(r.key, "key", 3);
    ck_assert_mem_eq(r.val, "value", 5);
    ck_assert_uint_eq(r.size, n);

    n = encode(buf, KVS_REC_DEL, "key", 3, NULL, 0);
    ck_assert_int_eq(kvs__rec_decode(buf, n, &r), KVS_REC_OK);
    ck_assert_int_eq(r.type, KVS_REC_DEL);

    n = encode(buf, KVS_REC_SEAL, NULL, 0, NULL, 0);
    ck_assert_uint_eq(n, 11);
    ck_assert_int_eq(kvs__rec_decode(buf, n, &r), KVS_REC_OK);
    ck_assert_int_eq(r.type, KVS_REC_SEAL);
}
END_TEST

START_TEST(layout_is_little_endian_as_documented)
{
    uint8_t buf[64];
    encode(buf, KVS_REC_PUT, "ab", 2, "xyz", 3);
    ck_assert_uint_eq(buf[4], 0x51);
    ck_assert_uint_eq(buf[5], 2);
    ck_assert_uint_eq(buf[6], 0);
    ck_assert_uint_eq(buf[7], 3);
    ck_assert_uint_eq(buf[8] | buf[9] | buf[10], 0);
    ck_assert_mem_eq(buf + 11, "abxyz", 5);
    /* The checksum covers bytes 4..end; value computed by an independent bitwise CRC32C (doc/FORMAT.md example). */
    ck_assert_uint_eq(kvs__load32(buf), 0xC7745F2Fu);
}
END_TEST

START_TEST(every_truncation_is_detected)
{
    uint8_t buf[256];
    size_t n = encode(buf, KVS_REC_PUT, "some key", 8, "some value bytes", 16);
    for (size_t len = 0; len < n; len++) {
        struct kvs_rec r;
        ck_assert_int_eq(kvs__rec_decode(buf, len, &r), KVS_REC_TRUNCATED);
    }
}
END_TEST

START_TEST(every_bit_flip_is_detected)
{
    uint8_t buf[256];
    size_t n = encode(buf, KVS_REC_PUT, "some key", 8, "some value bytes", 16);
    for (size_t byte = 0; byte < n; byte++)
        for (int bit = 0; bit < 8; bit++) {
            buf[byte] ^= (uint8_t)(1u << bit);
            struct kvs_rec r;
            enum kvs_rec_status st = kvs__rec_decode(buf, sizeof(buf), &r);
            ck_assert_msg(st != KVS_REC_OK, "flip of bit %d of byte %zu undetected", bit, byte);
            buf[byte] ^= (uint8_t)(1u << bit);
        }
}
END_TEST

START_TEST(zero_header_is_end_of_data)
{
    uint8_t buf[64] = {0};
    struct kvs_rec r;
    ck_assert_int_eq(kvs__rec_decode(buf, sizeof(buf), &r), KVS_REC_AT_END);
}
END_TEST

START_TEST(inconsistent_lengths_are_bad)
{
    uint8_t buf[64] = {0};
    struct kvs_rec r;
    buf[4] = KVS_REC_PUT; /* empty key */
    ck_assert_int_eq(kvs__rec_decode(buf, sizeof(buf), &r), KVS_REC_BAD);
    buf[4] = KVS_REC_DEL; /* tombstone with a value */
    kvs__store16(buf + 5, 1);
    kvs__store32(buf + 7, 1);
    ck_assert_int_eq(kvs__rec_decode(buf, sizeof(buf), &r), KVS_REC_BAD);
    buf[4] = KVS_REC_SEAL; /* seal with a key */
    kvs__store32(buf + 7, 0);
    ck_assert_int_eq(kvs__rec_decode(buf, sizeof(buf), &r), KVS_REC_BAD);
    buf[4] = KVS_REC_PUT; /* value over the limit: bad, not "truncated" */
    kvs__store32(buf + 7, KVS_VALUE_MAX + 1u);
    ck_assert_int_eq(kvs__rec_decode(buf, sizeof(buf), &r), KVS_REC_BAD);
    buf[4] = 0x99; /* unknown type */
    ck_assert_int_eq(kvs__rec_decode(buf, sizeof(buf), &r), KVS_REC_BAD);
    buf[4] = KVS_REC_PUT | 0x80; /* reserved batch bit */
    kvs__store32(buf + 7, 0);
    ck_assert_int_eq(kvs__rec_decode(buf, sizeof(buf), &r), KVS_REC_BAD);
}
END_TEST

START_TEST(random_garbage_never_decodes_out_of_bounds)
{
    /* Decoding arbitrary bytes must stay inside the buffer (ASan checks). */
    uint64_t st = tu_seed();
    for (int i = 0; i < 20000; i++) {
        size_t len = (size_t)(tu_rand(&st) % 64);
        uint8_t *buf = malloc(len ? len : 1);
        tu_fill(&st, buf, len);
        if (len > 4 && (i & 1))
            buf[4] = KVS_REC_PUT;
        struct kvs_rec r;
        enum kvs_rec_status s = kvs__rec_decode(buf, len, &r);
        if (s == KVS_REC_OK)
            ck_assert_uint_le(r.size, len);
        free(buf);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("record");
    TCase *tc = tcase_create("codec");
    tcase_add_test(tc, roundtrip_put_del_seal);
    tcase_add_test(tc, layout_is_little_endian_as_documented);
    tcase_add_test(tc, every_truncation_is_detected);
    tcase_add_test(tc, every_bit_flip_is_detected);
    tcase_add_test(tc, zero_header_is_end_of_data);
    tcase_add_test(tc, inconsistent_lengths_are_bad);
    tcase_add_test(tc, random_garbage_never_decodes_out_of_bounds);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
