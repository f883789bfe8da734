/* Status codes and versions: every code named, unknown codes handled. */
#include <string.h>

#include "common/testutil.h"

#define KNOWN(code, value, message) code,
static const int known[] = {KVS_STATUS_MAP(KNOWN)};
#undef KNOWN

START_TEST(codes_have_contract_values)
{
    ck_assert_int_eq(KVS_OK, 0);
    ck_assert_int_eq(KVS_NOT_FOUND, 1);
    for (size_t i = 3; i < sizeof(known) / sizeof(known[0]); i++)
        ck_assert_int_lt(known[i], 0);
}
END_TEST

START_TEST(every_code_has_a_distinct_message_and_name)
{
    size_t n = sizeof(known) / sizeof(known[0]);
    for (size_t i = 0; i < n; i++) {
        const char *msg = kvs_strerror(known[i]);
        const char *name = kvs_status_name(known[i]);
        ck_assert_ptr_nonnull(msg);
        ck_assert_ptr_nonnull(name);
        ck_assert_str_ne(msg, "unknown libkvs status");
        ck_assert(strncmp(name, "KVS_", 4) == 0);
        for (size_t j = 0; j < i; j++) {
            ck_assert_str_ne(msg, kvs_strerror(known[j]));
            ck_assert_str_ne(name, kvs_status_name(known[j]));
        }
    }
}
END_TEST

START_TEST(unknown_codes_get_static_fallbacks)
{
    const int unknown[] = {-1000, 1000, 3, -99, -2147483647 - 1, 2147483647};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        ck_assert_str_eq(kvs_strerror(unknown[i]), "unknown libkvs status");
        ck_assert_str_eq(kvs_status_name(unknown[i]), "KVS_UNKNOWN");
    }
}
END_TEST

START_TEST(version_matches_header_and_build)
{
    ck_assert_str_eq(kvs_version(), KVS_VERSION_STRING);
    ck_assert_int_eq(kvs_version_number(), KVS_VERSION_NUMBER);
    ck_assert_str_eq(KVS_VERSION_STRING, KVS_PROJECT_VERSION);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("status");
    TCase *tc = tcase_create("codes");
    tcase_add_test(tc, codes_have_contract_values);
    tcase_add_test(tc, every_code_has_a_distinct_message_and_name);
    tcase_add_test(tc, unknown_codes_get_static_fallbacks);
    tcase_add_test(tc, version_matches_header_and_build);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
