/* CRC32C: standard vectors, hardware == software, incremental == one-shot. */
#include <stdlib.h>
#include <string.h>

#include "common/testutil.h"
#include "crc32c.h"

START_TEST(rfc3720_vectors)
{
    uint8_t buf[32];
    ck_assert_uint_eq(kvs__crc32c(0, "123456789", 9), 0xE3069283u);
    memset(buf, 0, sizeof(buf));
    ck_assert_uint_eq(kvs__crc32c(0, buf, 32), 0x8A9136AAu);
    memset(buf, 0xFF, sizeof(buf));
    ck_assert_uint_eq(kvs__crc32c(0, buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)i;
    ck_assert_uint_eq(kvs__crc32c(0, buf, 32), 0x46DD794Eu);
    ck_assert_uint_eq(kvs__crc32c(0, buf, 0), 0);
    ck_assert_uint_eq(kvs__crc32c_sw(0, "123456789", 9), 0xE3069283u);
}
END_TEST

START_TEST(hardware_matches_software_every_length_and_alignment)
{
    uint8_t buf[256 + 8];
    uint64_t st = tu_seed();
    tu_fill(&st, buf, sizeof(buf));
    for (size_t align = 0; align < 8; align++)
        for (size_t len = 0; len <= 256; len++)
            ck_assert_uint_eq(kvs__crc32c(0, buf + align, len),
                              kvs__crc32c_sw(0, buf + align, len));
}
END_TEST

START_TEST(incremental_equals_one_shot)
{
    uint8_t buf[1000];
    uint64_t st = tu_seed() + 1;
    tu_fill(&st, buf, sizeof(buf));
    uint32_t whole = kvs__crc32c(0, buf, sizeof(buf));
    for (size_t cut = 0; cut <= sizeof(buf); cut += 37) {
        uint32_t part = kvs__crc32c(kvs__crc32c(0, buf, cut), buf + cut, sizeof(buf) - cut);
        ck_assert_uint_eq(part, whole);
        part = kvs__crc32c_sw(kvs__crc32c_sw(0, buf, cut), buf + cut, sizeof(buf) - cut);
        ck_assert_uint_eq(part, whole);
    }
}
END_TEST

START_TEST(large_random_buffers)
{
    size_t len = 1 << 20;
    uint8_t *buf = malloc(len);
    uint64_t st = tu_seed() + 2;
    tu_fill(&st, buf, len);
    ck_assert_uint_eq(kvs__crc32c(0, buf, len), kvs__crc32c_sw(0, buf, len));
    uint32_t before = kvs__crc32c(0, buf, len);
    buf[len / 2] ^= 1;
    ck_assert_uint_ne(kvs__crc32c(0, buf, len), before);
    free(buf);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("crc32c");
    TCase *tc = tcase_create("crc32c");
    tcase_add_test(tc, rfc3720_vectors);
    tcase_add_test(tc, hardware_matches_software_every_length_and_alignment);
    tcase_add_test(tc, incremental_equals_one_shot);
    tcase_add_test(tc, large_random_buffers);
    suite_add_tcase(s, tc);
    fprintf(stderr, "crc32c hardware path: %s\n", kvs__crc32c_hw_available() ? "yes" : "no");
    return tu_run(s);
}
