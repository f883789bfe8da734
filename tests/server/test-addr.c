/* IP:PORT parsing and the loopback test (examples/common/addr.c). */
#include <string.h>

#include "addr.h"
#include "harness.h"

static void parses_to(const char *text, int family, const char *host, unsigned port,
                      const char *formatted)
{
    struct addr a;
    char err[160], out[ADDR_STR_MAX];
    ck_assert_msg(addr_parse(text, &a, err, sizeof(err)) == 0, "%s: %s", text, err);
    ck_assert_int_eq(a.family, family);
    ck_assert_str_eq(a.host, host);
    ck_assert_uint_eq(a.port, port);
    addr_format(&a, out, sizeof(out));
    ck_assert_str_eq(out, formatted);
}

static void rejects(const char *text)
{
    struct addr a;
    char err[160] = "";
    ck_assert_msg(addr_parse(text, &a, err, sizeof(err)) != 0, "'%s' accepted", text);
    ck_assert_msg(strlen(err) > 0, "no message for '%s'", text);
}

static bool loopback(const char *text)
{
    struct addr a;
    char err[160];
    ck_assert_msg(addr_parse(text, &a, err, sizeof(err)) == 0, "%s", err);
    return addr_is_loopback(&a);
}

START_TEST(valid)
{
    parses_to("127.0.0.1:4000", AF_INET, "127.0.0.1", 4000, "127.0.0.1:4000");
    parses_to("0.0.0.0:0", AF_INET, "0.0.0.0", 0, "0.0.0.0:0");
    parses_to("[::1]:6379", AF_INET6, "::1", 6379, "[::1]:6379");
    parses_to("[fe80::1]:65535", AF_INET6, "fe80::1", 65535, "[fe80::1]:65535");
    parses_to("localhost:80", AF_INET, "127.0.0.1", 80, "127.0.0.1:80");
}
END_TEST

START_TEST(invalid)
{
    rejects("");
    rejects("127.0.0.1");
    rejects("127.0.0.1:");
    rejects(":4000");
    rejects("127.0.0.1:65536");
    rejects("127.0.0.1:-1");
    rejects("127.0.0.1:12ab");
    rejects("127.0.0.1:123456");
    rejects("::1:4000");        /* IPv6 needs brackets */
    rejects("[::1]4000");
    rejects("[::1:4000");
    rejects("[127.0.0.1]:4000"); /* brackets are for IPv6 */
    rejects("256.0.0.1:4000");
    rejects("example.com:4000"); /* numeric addresses only */
}
END_TEST

START_TEST(loopback_rule)
{
    ck_assert(loopback("127.0.0.1:1"));
    ck_assert(loopback("127.255.0.9:1"));
    ck_assert(loopback("[::1]:1"));
    ck_assert(loopback("[::ffff:127.0.0.1]:1"));
    ck_assert(!loopback("0.0.0.0:1"));
    ck_assert(!loopback("10.0.0.1:1"));
    ck_assert(!loopback("128.0.0.1:1"));
    ck_assert(!loopback("[::]:1"));
    ck_assert(!loopback("[::ffff:10.0.0.1]:1"));
}
END_TEST

START_TEST(from_sockaddr)
{
    struct addr a, b;
    char err[160], out[ADDR_STR_MAX];
    ck_assert_int_eq(addr_parse("[::1]:6379", &a, err, sizeof(err)), 0);
    ck_assert_int_eq(addr_from_sockaddr(&b, &a.ss, a.len), 0);
    ck_assert_int_eq(b.family, AF_INET6);
    ck_assert_uint_eq(b.port, 6379);
    addr_format(&b, out, sizeof(out));
    ck_assert_str_eq(out, "[::1]:6379");
    ck_assert_int_eq(addr_parse("10.1.2.3:80", &a, err, sizeof(err)), 0);
    ck_assert_int_eq(addr_from_sockaddr(&b, &a.ss, a.len), 0);
    addr_format(&b, out, sizeof(out));
    ck_assert_str_eq(out, "10.1.2.3:80");
    struct sockaddr_storage unix_addr = {.ss_family = AF_UNIX};
    ck_assert_int_eq(addr_from_sockaddr(&b, &unix_addr, sizeof(unix_addr)), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("addr");
    TCase *tc = tcase_create("addr");
    tcase_add_test(tc, valid);
    tcase_add_test(tc, invalid);
    tcase_add_test(tc, loopback_rule);
    tcase_add_test(tc, from_sockaddr);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
