/*
 * kvs-server's glob patterns (examples/server/glob.c): Redis's semantics case
 * by case, the literal prefix, bounded memory and work for hostile patterns,
 * and random patterns against a slow recursive reference written from the
 * rules in glob.h.
 */
#include <stdlib.h>
#include <string.h>

#include "glob.h"
#include "harness.h"

#define MAXLEN 65535

static bool match(const char *pat, const char *s)
{
    struct glob g;
    ck_assert_int_eq(glob_compile(&g, pat, strlen(pat), MAXLEN), 0);
    bool m = glob_match(&g, s, strlen(s));
    glob_free(&g);
    return m;
}

#define YES(p, s) ck_assert_msg(match(p, s), "'%s' should match '%s'", p, s)
#define NO(p, s) ck_assert_msg(!match(p, s), "'%s' should not match '%s'", p, s)

START_TEST(literals_and_wildcards)
{
    YES("", "");
    NO("", "a");
    YES("abc", "abc");
    NO("abc", "abd");
    NO("abc", "ab");
    NO("abc", "abcd");
    YES("*", "");
    YES("*", "anything");
    YES("a*", "a");
    YES("a*", "abc");
    NO("a*", "ba");
    YES("*c", "abc");
    NO("*c", "abd");
    YES("a*c", "ac");
    YES("a*c", "abbbc");
    NO("a*c", "abbbd");
    YES("a**c", "abc");
    YES("*a*b*", "xxaxxbxx");
    NO("*a*b*", "xxbxxaxx");
    YES("?", "x");
    NO("?", "");
    NO("?", "xy");
    YES("a?c", "abc");
    YES("??*", "ab");
    NO("??*", "a");
    YES("user:*", "user:1000");
    NO("user:*", "use");
    YES("*ab*ab", "abxabab"); /* needs going back to the last star */
    YES("*aab", "aaaab");
}
END_TEST

START_TEST(sets)
{
    YES("[abc]", "b");
    NO("[abc]", "d");
    NO("[abc]", "");
    YES("h[ae]llo", "hello");
    YES("h[ae]llo", "hallo");
    NO("h[ae]llo", "hillo");
    YES("[^a]", "b");
    NO("[^a]", "a");
    NO("h[^e]llo", "hello");
    YES("h[^e]llo", "hallo");
    YES("[a-c]", "b");
    NO("[a-c]", "d");
    YES("[c-a]", "b"); /* ends in either order */
    YES("h[a-b]llo", "hallo");
    YES("[a-cx]", "x");
    YES("[\\]]", "]");
    YES("[\\-]", "-");
    YES("[*]", "*");
    NO("[*]", "a");
    YES("[?]", "?");
    NO("[]", "a"); /* empty set: nothing */
    NO("[]", "]");
    YES("[^]", "q"); /* negated empty set: any byte */
    YES("[abc", "b"); /* unterminated: the set ends with the pattern */
    NO("[abc", "bc");
    YES("[a-]", "]"); /* as Redis: the range ']'..'a', set left open */
    YES("[a-]", "^");
    NO("[a-]", "-");
    YES("[-a]", "-");
    YES("[a-", "a");
    YES("[a-", "-");
    NO("[", "["); /* an empty set */
    YES("[^", "[");
}
END_TEST

START_TEST(escapes)
{
    YES("\\*", "*");
    NO("\\*", "a");
    YES("\\?", "?");
    NO("\\?", "x");
    YES("\\[a]", "[a]");
    YES("a\\\\b", "a\\b");
    YES("\\a", "a");
    YES("ab\\", "ab\\"); /* a lone '\' at the end is itself */
    YES("*\\*", "abc*");
    NO("*\\*", "abc");
}
END_TEST

START_TEST(binary_bytes)
{
    struct glob g;
    const char pat[] = {'a', '\0', '*', '[', '\x80', '-', '\xff', ']'};
    ck_assert_int_eq(glob_compile(&g, pat, sizeof(pat), MAXLEN), 0);
    ck_assert(glob_match(&g, "a\0zz\xfe", 5));
    ck_assert(!glob_match(&g, "a\0zz\x7f", 5));
    ck_assert(!glob_match(&g, "a\1zz\xfe", 5));
    size_t plen;
    const uint8_t *p = glob_prefix(&g, &plen);
    ck_assert_uint_eq(plen, 2);
    ck_assert(memcmp(p, "a\0", 2) == 0);
    glob_free(&g);
}
END_TEST

static void expect_prefix(const char *pat, const char *want)
{
    struct glob g;
    ck_assert_int_eq(glob_compile(&g, pat, strlen(pat), MAXLEN), 0);
    size_t len;
    const uint8_t *p = glob_prefix(&g, &len);
    ck_assert_msg(len == strlen(want) && (len == 0 || memcmp(p, want, len) == 0),
                  "prefix of '%s': want '%s', got %zu bytes", pat, want, len);
    glob_free(&g);
}

START_TEST(literal_prefix)
{
    expect_prefix("user:*", "user:");
    expect_prefix("user:?x", "user:");
    expect_prefix("user:[ab]", "user:");
    expect_prefix("us\\*er*", "us*er");
    expect_prefix("plain", "plain");
    expect_prefix("*user", "");
    expect_prefix("?", "");
    expect_prefix("[u]ser", "");
    expect_prefix("", "");
    struct glob g;
    ck_assert_int_eq(glob_compile(&g, "***", 3, MAXLEN), 0);
    ck_assert(glob_matches_all(&g));
    glob_free(&g);
    ck_assert_int_eq(glob_compile(&g, "*a", 2, MAXLEN), 0);
    ck_assert(!glob_matches_all(&g));
    glob_free(&g);
}
END_TEST

/* Patterns far larger than any key compile into bounded memory and match nothing. */
START_TEST(hostile_sizes)
{
    size_t n = 16u << 20;
    char *pat = malloc(n);
    ck_assert_ptr_nonnull(pat);
    struct glob g;
    memset(pat, '?', n);
    ck_assert_int_eq(glob_compile(&g, pat, n, MAXLEN), 0);
    ck_assert(g.never);
    ck_assert_uint_le(g.tok_cap, 2 * (MAXLEN + 1));
    ck_assert(!glob_match(&g, "a", 1));
    glob_free(&g);
    for (size_t i = 0; i + 2 < n; i += 3)
        memcpy(pat + i, "[a]", 3);
    ck_assert_int_eq(glob_compile(&g, pat, n - n % 3, MAXLEN), 0);
    ck_assert(g.never);
    ck_assert_uint_le(g.sets_cap, 2 * (MAXLEN + 1));
    glob_free(&g);
    memset(pat, '*', n);
    ck_assert_int_eq(glob_compile(&g, pat, n, MAXLEN), 0);
    ck_assert_uint_eq(g.ntok, 1); /* runs of stars are one */
    ck_assert(glob_match(&g, "abc", 3));
    glob_free(&g);
    /* exactly as many bytes as the longest subject: still compiled */
    memset(pat, '?', MAXLEN);
    ck_assert_int_eq(glob_compile(&g, pat, MAXLEN, MAXLEN), 0);
    ck_assert(!g.never);
    ck_assert(glob_match(&g, pat, MAXLEN));
    ck_assert(!glob_match(&g, pat, MAXLEN - 1));
    glob_free(&g);
    free(pat);
}
END_TEST

/*
 * The classic blow-up for backtracking matchers: "a*a*a*...a*b" against a
 * long run of 'a'. Going back only to the last star keeps it to (tokens) x
 * (bytes) steps; a recursive matcher would not finish within the timeout.
 */
START_TEST(no_exponential_backtracking)
{
    char pat[2 * 200 + 2];
    size_t n = 0;
    for (int i = 0; i < 200; i++) {
        pat[n++] = 'a';
        pat[n++] = '*';
    }
    pat[n++] = 'b';
    char *s = malloc(MAXLEN);
    ck_assert_ptr_nonnull(s);
    memset(s, 'a', MAXLEN);
    struct glob g;
    ck_assert_int_eq(glob_compile(&g, pat, n, MAXLEN), 0);
    long long start = now_ms();
    ck_assert(!glob_match(&g, s, MAXLEN));
    s[MAXLEN - 1] = 'b';
    ck_assert(glob_match(&g, s, MAXLEN));
    ck_assert_int_lt(now_ms() - start, 5000);
    glob_free(&g);
    free(s);
}
END_TEST

/* ---- a slow, recursive reference, straight from the rules in glob.h ---- */

/* Read a bracket set at p (just after '['); returns the bytes consumed, sets *hit. */
static size_t ref_set(const char *p, size_t n, unsigned char c, bool *hit)
{
    size_t i = 0;
    bool neg = false, in = false;
    if (i < n && p[i] == '^') {
        neg = true;
        i++;
    }
    for (;;) {
        if (i >= n)
            break;
        if (p[i] == '\\' && i + 1 < n) {
            in |= (unsigned char)p[i + 1] == c;
            i += 2;
            continue;
        }
        if (p[i] == ']') {
            i++;
            break;
        }
        if (i + 2 < n && p[i + 1] == '-') {
            unsigned char a = (unsigned char)p[i], b = (unsigned char)p[i + 2];
            in |= (a <= b) ? (c >= a && c <= b) : (c >= b && c <= a);
            i += 3;
            continue;
        }
        in |= (unsigned char)p[i] == c;
        i++;
    }
    *hit = in != neg;
    return i;
}

static bool ref_match(const char *p, size_t pn, const char *s, size_t sn)
{
    if (pn == 0)
        return sn == 0;
    if (p[0] == '*') {
        for (size_t k = 0; k <= sn; k++)
            if (ref_match(p + 1, pn - 1, s + k, sn - k))
                return true;
        return false;
    }
    if (sn == 0)
        return false;
    if (p[0] == '?')
        return ref_match(p + 1, pn - 1, s + 1, sn - 1);
    if (p[0] == '[') {
        bool hit;
        size_t used = ref_set(p + 1, pn - 1, (unsigned char)s[0], &hit);
        return hit && ref_match(p + 1 + used, pn - 1 - used, s + 1, sn - 1);
    }
    if (p[0] == '\\' && pn >= 2)
        return p[1] == s[0] && ref_match(p + 2, pn - 2, s + 1, sn - 1);
    return p[0] == s[0] && ref_match(p + 1, pn - 1, s + 1, sn - 1);
}

START_TEST(random_against_reference)
{
    static const char pat_chars[] = "ab*?[]^-\\";
    static const char sub_chars[] = "ab]-^\\*";
    for (int round = 0; round < 200000; round++) {
        char pat[10], sub[10];
        size_t pn = test_rand() % sizeof(pat), sn = test_rand() % sizeof(sub);
        for (size_t i = 0; i < pn; i++)
            pat[i] = pat_chars[test_rand() % (sizeof(pat_chars) - 1)];
        for (size_t i = 0; i < sn; i++)
            sub[i] = sub_chars[test_rand() % (sizeof(sub_chars) - 1)];
        struct glob g;
        ck_assert_int_eq(glob_compile(&g, pat, pn, MAXLEN), 0);
        bool got = glob_match(&g, sub, sn), want = ref_match(pat, pn, sub, sn);
        ck_assert_msg(got == want, "pattern '%.*s' subject '%.*s': got %d, want %d (seed %llu)",
                      (int)pn, pat, (int)sn, sub, got, want, (unsigned long long)test_seed());
        /* every match starts with the literal prefix */
        size_t plen;
        const uint8_t *prefix = glob_prefix(&g, &plen);
        if (got)
            ck_assert(sn >= plen && (plen == 0 || memcmp(sub, prefix, plen) == 0));
        glob_free(&g);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("glob");
    TCase *tc = tcase_create("glob");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, literals_and_wildcards);
    tcase_add_test(tc, sets);
    tcase_add_test(tc, escapes);
    tcase_add_test(tc, binary_bytes);
    tcase_add_test(tc, literal_prefix);
    tcase_add_test(tc, hostile_sizes);
    tcase_add_test(tc, no_exponential_backtracking);
    tcase_add_test(tc, random_against_reference);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
