/*
 * RESP2 parser and encoder (examples/common/resp.c, resp_reply.c, buf.c).
 *
 * The parser must give the same requests however the bytes are split across
 * reads, and must reject what Redis's tests/unit/protocol.tcl sends as
 * hostile input with Redis's error texts.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "harness.h"
#include "resp.h"

/* Outcome of feeding a stream: requests as "<len>:<bytes>," per argument and ";" per request. */
struct transcript {
    struct buf text;
    enum resp_status last;
    char err[96];
    size_t requests;
};

static void record(struct transcript *t, const struct resp_request *req)
{
    char num[32];
    for (size_t i = 0; i < req->argc; i++) {
        int n = snprintf(num, sizeof(num), "%zu:", req->argv[i].len);
        buf_append(&t->text, num, (size_t)n);
        buf_append(&t->text, req->argv[i].ptr, req->argv[i].len);
        buf_append(&t->text, ",", 1);
    }
    buf_append(&t->text, ";", 1);
    t->requests++;
}

/*
 * Feed stream in chunks as a server would: append each chunk to the unparsed
 * bytes (in a freshly allocated buffer every time, so that a parser keeping
 * pointers across calls would be caught by ASan) and parse until NEED_MORE.
 */
static void feed(const char *stream, size_t len, size_t (*chunk)(size_t pos, void *ctx), void *ctx,
                 const struct resp_limits *lim, struct transcript *t)
{
    struct resp_parser p;
    resp_parser_init(&p, lim);
    memset(t, 0, sizeof(*t));
    buf_init(&t->text, 0);
    t->last = RESP_NEED_MORE;
    char *data = NULL;
    size_t have = 0, pos = 0;
    while (pos < len && t->last != RESP_ERROR) {
        size_t n = chunk(pos, ctx);
        if (n > len - pos)
            n = len - pos;
        char *moved = malloc(have + n + 1);
        ck_assert_ptr_nonnull(moved);
        if (have)
            memcpy(moved, data, have);
        memcpy(moved + have, stream + pos, n);
        free(data);
        data = moved;
        have += n;
        pos += n;
        size_t start = 0;
        struct resp_request req;
        while ((t->last = resp_parse(&p, data + start, have - start, &req)) == RESP_DONE) {
            record(t, &req);
            start += req.size;
        }
        if (t->last == RESP_ERROR)
            snprintf(t->err, sizeof(t->err), "%s", resp_parser_error(&p));
        memmove(data, data + start, have - start);
        have -= start;
    }
    free(data);
    resp_parser_free(&p);
}

static size_t whole(size_t pos, void *ctx)
{
    (void)pos;
    (void)ctx;
    return SIZE_MAX;
}

static size_t split_at(size_t pos, void *ctx)
{
    size_t k = *(size_t *)ctx;
    return pos < k ? k - pos : SIZE_MAX;
}

static size_t one_byte(size_t pos, void *ctx)
{
    (void)pos;
    (void)ctx;
    return 1;
}

static size_t random_chunk(size_t pos, void *ctx)
{
    (void)pos;
    (void)ctx;
    return 1 + test_rand() % 7;
}

static struct resp_limits defaults(void)
{
    struct resp_limits lim;
    resp_limits_default(&lim);
    return lim;
}

/* Parse the whole stream; expect the given transcript and final error (NULL: none). */
static void expect(const char *stream, size_t len, const char *text, size_t text_len,
                   const char *error)
{
    struct resp_limits lim = defaults();
    struct transcript t;
    feed(stream, len, whole, NULL, &lim, &t);
    ck_assert_uint_eq(t.text.len, text_len);
    ck_assert(text_len == 0 || memcmp(t.text.data, text, text_len) == 0);
    if (error) {
        ck_assert_int_eq(t.last, RESP_ERROR);
        ck_assert_str_eq(t.err, error);
    } else {
        ck_assert_int_ne(t.last, RESP_ERROR);
    }
    buf_free(&t.text);
}

#define EXPECT(stream, text, error) expect(stream, sizeof(stream) - 1, text, sizeof(text) - 1, error)

static bool same_text(const struct transcript *a, const struct transcript *b)
{
    return a->text.len == b->text.len &&
           (a->text.len == 0 || memcmp(a->text.data, b->text.data, a->text.len) == 0);
}

/* Every split point, byte by byte and random chunks must give the whole-stream transcript. */
static void check_splits(const char *stream, size_t len)
{
    struct resp_limits lim = defaults();
    struct transcript ref, t;
    feed(stream, len, whole, NULL, &lim, &ref);
    for (size_t k = 0; k <= len; k++) {
        feed(stream, len, split_at, &k, &lim, &t);
        ck_assert_msg(same_text(&t, &ref) && t.last == ref.last, "split at %zu of %zu differs", k,
                      len);
        buf_free(&t.text);
    }
    feed(stream, len, one_byte, NULL, &lim, &t);
    ck_assert(same_text(&t, &ref));
    buf_free(&t.text);
    for (int i = 0; i < 50; i++) {
        feed(stream, len, random_chunk, NULL, &lim, &t);
        ck_assert_msg(same_text(&t, &ref), "random chunks differ (KVS_TEST_SEED=%llu)", (unsigned long long)test_seed());
        buf_free(&t.text);
    }
    buf_free(&ref.text);
}

#define CHECK_SPLITS(stream) check_splits(stream, sizeof(stream) - 1)

/* ---- well-formed requests ---- */

START_TEST(multibulk_basic)
{
    EXPECT("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n", "3:SET,3:key,5:value,;", NULL);
    EXPECT("*1\r\n$0\r\n\r\n", "0:,;", NULL);
}
END_TEST

START_TEST(multibulk_binary)
{
    /* CR, LF and NUL inside a bulk are data */
    EXPECT("*2\r\n$4\r\nECHO\r\n$5\r\na\r\n\0b\r\n", "4:ECHO,5:a\r\n\0b,;", NULL);
}
END_TEST

START_TEST(inline_basic)
{
    EXPECT("PING\r\n", "4:PING,;", NULL);
    EXPECT("set k v\n", "3:set,1:k,1:v,;", NULL);
    EXPECT("  get \t k  \r\n", "3:get,1:k,;", NULL);
}
END_TEST

START_TEST(inline_quotes)
{
    EXPECT("set \"a b\" 'c d'\r\n", "3:set,3:a b,3:c d,;", NULL);
    EXPECT("echo \"\\x41\\n\\t\\\\\\\"\"\r\n", "4:echo,5:A\n\t\\\",;", NULL);
    EXPECT("echo 'it\\'s'\r\n", "4:echo,4:it's,;", NULL);
    EXPECT("echo \"\"\r\n", "4:echo,0:,;", NULL);
}
END_TEST

START_TEST(empty_requests)
{
    /* protocol.tcl "Handle an empty query", "Negative multibulk length" */
    EXPECT("\r\n", ";", NULL);
    EXPECT("*0\r\n", ";", NULL);
    EXPECT("*-10\r\n", ";", NULL);
    EXPECT("   \r\nPING\r\n", ";4:PING,;", NULL);
}
END_TEST

START_TEST(pipelined)
{
    EXPECT("*1\r\n$4\r\nPING\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
           "4:PING,;4:PING,;3:GET,1:k,;", NULL);
}
END_TEST

/* ---- splitting ---- */

START_TEST(split_multibulk)
{
    CHECK_SPLITS("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"
                 "*2\r\n$4\r\nECHO\r\n$12\r\nab\r\n\0cd\r\n\r\n\r\n\r\n");
}
END_TEST

START_TEST(split_inline_and_mixed)
{
    CHECK_SPLITS("PING\r\nset \"a b\" 'c d'\r\n\r\n*0\r\n*-1\r\nGET k\n*1\r\n$4\r\nPING\r\n"
                 "echo \"\\x41\\x4a\"\r\n");
}
END_TEST

START_TEST(split_errors)
{
    /* the error must appear at the same place whatever the split */
    CHECK_SPLITS("*1\r\n$4\r\nPING\r\n*x\r\n");
    CHECK_SPLITS("*2\r\n$3\r\nGET\r\n$1\r\nkXY\r\n");
    CHECK_SPLITS("PING\r\necho \"unbalanced\r\n");
}
END_TEST

START_TEST(split_big_bulk)
{
    size_t n = 100000;
    char *stream = malloc(n + 64);
    ck_assert_ptr_nonnull(stream);
    int h = sprintf(stream, "*2\r\n$3\r\nSET\r\n$%zu\r\n", n);
    memset(stream + h, 'x', n);
    memcpy(stream + h + n, "\r\n", 2);
    struct resp_limits lim = defaults();
    struct transcript t;
    feed(stream, (size_t)h + n + 2, random_chunk, NULL, &lim, &t);
    ck_assert_uint_eq(t.requests, 1);
    ck_assert_int_eq(t.last, RESP_NEED_MORE);
    buf_free(&t.text);
    free(stream);
}
END_TEST

/*
 * Property: random multibulk requests (binary arguments, empty ones, up to
 * 40 arguments), encoded and fed in random chunks, parse back to exactly
 * what was encoded.
 */
START_TEST(random_requests_roundtrip)
{
    struct buf stream, want;
    buf_init(&stream, 0);
    buf_init(&want, 0);
    for (int r = 0; r < 300; r++) {
        size_t argc = 1 + test_rand() % 40;
        char hdr[32];
        buf_append(&stream, hdr, (size_t)snprintf(hdr, sizeof(hdr), "*%zu\r\n", argc));
        for (size_t i = 0; i < argc; i++) {
            size_t len = test_rand() % 4 == 0 ? 0 : test_rand() % 300;
            char arg[300];
            for (size_t j = 0; j < len; j++)
                arg[j] = (char)test_rand();
            buf_append(&stream, hdr, (size_t)snprintf(hdr, sizeof(hdr), "$%zu\r\n", len));
            buf_append(&stream, arg, len);
            buf_append(&stream, "\r\n", 2);
            buf_append(&want, hdr, (size_t)snprintf(hdr, sizeof(hdr), "%zu:", len));
            buf_append(&want, arg, len);
            buf_append(&want, ",", 1);
        }
        buf_append(&want, ";", 1);
    }
    struct resp_limits lim = defaults();
    struct transcript t;
    feed(stream.data, stream.len, random_chunk, NULL, &lim, &t);
    ck_assert_msg(t.last == RESP_NEED_MORE && t.requests == 300 && t.text.len == want.len &&
                      memcmp(t.text.data, want.data, want.len) == 0,
                  "round trip differs (KVS_TEST_SEED=%llu)", (unsigned long long)test_seed());
    buf_free(&t.text);
    buf_free(&stream);
    buf_free(&want);
}
END_TEST

/* Random bytes in random chunks: any outcome but a crash (ASan) or a runaway allocation. */
START_TEST(random_garbage)
{
    struct resp_limits lim = defaults();
    for (int round = 0; round < 200; round++) {
        char junk[2048];
        size_t n = 1 + test_rand() % sizeof(junk);
        for (size_t i = 0; i < n; i++) {
            uint64_t r = test_rand();
            /* bias towards protocol bytes so the parser goes deep */
            static const char protocol[] = "*$\r\n0123456789-\"' \\x";
            junk[i] = r % 2 ? protocol[(r >> 8) % (sizeof(protocol) - 1)] : (char)(r >> 16);
        }
        struct transcript t;
        feed(junk, n, random_chunk, NULL, &lim, &t);
        buf_free(&t.text);
    }
}
END_TEST

/* ---- hostile input (Redis tests/unit/protocol.tcl and more) ---- */

START_TEST(out_of_range_multibulk_length)
{
    EXPECT("*3000000000\r\n", "", "invalid multibulk length");
    EXPECT("*20000000000000000000000\r\n", "", "invalid multibulk length");
    EXPECT("*abc\r\n", "", "invalid multibulk length");
    EXPECT("*\r\n", "", "invalid multibulk length");
    EXPECT("*+1\r\n", "", "invalid multibulk length");
    EXPECT("* 1\r\n", "", "invalid multibulk length");
}
END_TEST

START_TEST(wrong_payload_header)
{
    EXPECT("*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n", "", "expected '$', got 'f'");
    EXPECT("*1\r\nfoo\r\n", "", "expected '$', got 'f'");
    EXPECT("*1\r\n\r\n", "", "expected '$', got '\\x0d'");
}
END_TEST

START_TEST(bad_bulk_length)
{
    EXPECT("*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n", "", "invalid bulk length");
    EXPECT("*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$2000000000\r\n", "", "invalid bulk length");
    EXPECT("*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$blabla\r\n", "", "invalid bulk length");
    EXPECT("*1\r\n$01\r\nx\r\n", "", "invalid bulk length");
    EXPECT("*1\r\n$99999999999999999999999\r\n", "", "invalid bulk length");
}
END_TEST

START_TEST(bulk_without_crlf)
{
    EXPECT("*1\r\n$3\r\nfooXY", "", "bulk string not terminated by CRLF");
    EXPECT("*1\r\n$3\rfoo\r\n", "", "expected '\\n' after '\\r'");
}
END_TEST

START_TEST(unbalanced_quotes)
{
    EXPECT("set \"\"\"test-key\"\"\" test-value\r\n", "", "unbalanced quotes in request");
    EXPECT("echo \"abc\r\n", "", "unbalanced quotes in request");
    EXPECT("echo 'abc\r\n", "", "unbalanced quotes in request");
    EXPECT("echo \"a\"b\r\n", "", "unbalanced quotes in request");
}
END_TEST

static void expect_big_line(char first, size_t len, bool newline, const char *error)
{
    char *s = malloc(len + 2);
    ck_assert_ptr_nonnull(s);
    memset(s, first == '*' ? '1' : 'a', len);
    s[0] = first;
    if (newline)
        memcpy(s + len, "\r\n", 2);
    struct resp_limits lim = defaults();
    struct transcript t;
    feed(s, len + (newline ? 2 : 0), random_chunk, NULL, &lim, &t);
    if (error) {
        ck_assert_int_eq(t.last, RESP_ERROR);
        ck_assert_str_eq(t.err, error);
    } else {
        ck_assert_int_ne(t.last, RESP_ERROR);
    }
    buf_free(&t.text);
    free(s);
}

START_TEST(inline_limit)
{
    expect_big_line('a', RESP_DEFAULT_MAX_INLINE + 1, false, "too big inline request");
    expect_big_line('a', RESP_DEFAULT_MAX_INLINE + 10, true, "too big inline request");
    expect_big_line('a', RESP_DEFAULT_MAX_INLINE - 10, true, NULL);
    expect_big_line('a', RESP_DEFAULT_MAX_INLINE, false, NULL); /* may still end in time */
}
END_TEST

START_TEST(header_line_limit)
{
    expect_big_line('*', RESP_DEFAULT_MAX_INLINE + 2, false, "too big mbulk count string");
    struct resp_limits lim = defaults();
    size_t n = RESP_DEFAULT_MAX_INLINE + 8;
    char *s = malloc(n + 16);
    ck_assert_ptr_nonnull(s);
    memcpy(s, "*1\r\n$", 5);
    memset(s + 5, '1', n);
    struct transcript t;
    feed(s, n + 5, random_chunk, NULL, &lim, &t);
    ck_assert_int_eq(t.last, RESP_ERROR);
    ck_assert_str_eq(t.err, "too big bulk count string");
    buf_free(&t.text);
    free(s);
}
END_TEST

START_TEST(configured_limits)
{
    struct resp_limits lim = defaults();
    lim.max_args = 3;
    lim.max_bulk = 5;
    struct transcript t;
    const char ok[] = "*3\r\n$1\r\na\r\n$5\r\nbbbbb\r\n$0\r\n\r\n";
    const char args[] = "*4\r\n";
    const char bulk[] = "*1\r\n$6\r\n";
    const char inl[] = "a b c d\r\n";
    feed(ok, sizeof(ok) - 1, whole, NULL, &lim, &t);
    ck_assert_uint_eq(t.requests, 1);
    buf_free(&t.text);
    feed(args, sizeof(args) - 1, whole, NULL, &lim, &t);
    ck_assert_str_eq(t.err, "invalid multibulk length");
    buf_free(&t.text);
    feed(bulk, sizeof(bulk) - 1, whole, NULL, &lim, &t);
    ck_assert_str_eq(t.err, "invalid bulk length");
    buf_free(&t.text);
    feed(inl, sizeof(inl) - 1, whole, NULL, &lim, &t);
    ck_assert_str_eq(t.err, "invalid multibulk length");
    buf_free(&t.text);
    lim.unauthenticated = true;
    feed(args, sizeof(args) - 1, whole, NULL, &lim, &t);
    ck_assert_str_eq(t.err, "unauthenticated multibulk length");
    buf_free(&t.text);
    feed(bulk, sizeof(bulk) - 1, whole, NULL, &lim, &t);
    ck_assert_str_eq(t.err, "unauthenticated bulk length");
    buf_free(&t.text);
}
END_TEST

START_TEST(claimed_count_not_preallocated)
{
    /* A client announcing a million arguments and sending two gets a small array. */
    struct resp_limits lim = defaults();
    struct resp_parser p;
    resp_parser_init(&p, &lim);
    char s[] = "*1000000\r\n$1\r\na\r\n$1\r\nb\r\n";
    struct resp_request req;
    ck_assert_int_eq(resp_parse(&p, s, sizeof(s) - 1, &req), RESP_NEED_MORE);
    ck_assert_uint_le(p.argv_cap, 16);
    ck_assert_uint_eq(resp_parser_wanted(&p, sizeof(s) - 1), sizeof(s));
    resp_parser_free(&p);
}
END_TEST

START_TEST(wanted_hint)
{
    struct resp_limits lim = defaults();
    struct resp_parser p;
    resp_parser_init(&p, &lim);
    char s[] = "*1\r\n$1000\r\nabc";
    struct resp_request req;
    ck_assert_int_eq(resp_parse(&p, s, sizeof(s) - 1, &req), RESP_NEED_MORE);
    ck_assert_uint_eq(resp_parser_wanted(&p, sizeof(s) - 1), 11 + 1000 + 2);
    ck_assert(!resp_parser_idle(&p));
    resp_parser_free(&p);
}
END_TEST

START_TEST(many_args_then_trimmed)
{
    /* 5000 arguments: the array grows as they arrive and is given back afterwards */
    size_t n = 5000;
    struct buf s;
    buf_init(&s, 0);
    char hdr[32];
    buf_append(&s, hdr, (size_t)sprintf(hdr, "*%zu\r\n", n));
    for (size_t i = 0; i < n; i++)
        buf_append(&s, "$1\r\nx\r\n", 7);
    buf_append(&s, "PING\r\n", 6);
    struct resp_limits lim = defaults();
    struct resp_parser p;
    resp_parser_init(&p, &lim);
    struct resp_request req;
    ck_assert_int_eq(resp_parse(&p, s.data, s.len, &req), RESP_DONE);
    ck_assert_uint_eq(req.argc, n);
    ck_assert_int_eq(resp_parse(&p, s.data + req.size, s.len - req.size, &req), RESP_DONE);
    ck_assert_uint_eq(req.argc, 1);
    ck_assert_uint_le(p.argv_cap, 16);
    resp_parser_free(&p);
    buf_free(&s);
}
END_TEST

/* ---- integers ---- */

START_TEST(parse_ll)
{
    long long v;
    ck_assert(resp_parse_ll("0", 1, &v) && v == 0);
    ck_assert(resp_parse_ll("-1", 2, &v) && v == -1);
    ck_assert(resp_parse_ll("9223372036854775807", 19, &v) && v == LLONG_MAX);
    ck_assert(resp_parse_ll("-9223372036854775808", 20, &v) && v == LLONG_MIN);
    ck_assert(!resp_parse_ll("9223372036854775808", 19, &v));
    ck_assert(!resp_parse_ll("-9223372036854775809", 20, &v));
    ck_assert(!resp_parse_ll("18446744073709551616", 20, &v));
    ck_assert(!resp_parse_ll("", 0, &v));
    ck_assert(!resp_parse_ll("-", 1, &v));
    ck_assert(!resp_parse_ll("-0", 2, &v));
    ck_assert(!resp_parse_ll("01", 2, &v));
    ck_assert(!resp_parse_ll("+1", 2, &v));
    ck_assert(!resp_parse_ll("1 ", 2, &v));
    ck_assert(!resp_parse_ll("1x", 2, &v));
}
END_TEST

/* ---- encoder ---- */

static void expect_out(struct buf *b, const char *want, size_t len)
{
    ck_assert(!buf_failed(b));
    ck_assert_uint_eq(b->len, len);
    ck_assert(memcmp(b->data, want, len) == 0);
    b->len = 0;
}

#define EXPECT_OUT(b, lit) expect_out(b, lit, sizeof(lit) - 1)

START_TEST(encoder)
{
    struct buf b;
    buf_init(&b, 0);
    resp_add_simple(&b, "OK");
    EXPECT_OUT(&b, "+OK\r\n");
    resp_add_error(&b, "ERR bad\r\nthing");
    EXPECT_OUT(&b, "-ERR bad  thing\r\n");
    resp_add_errorf(&b, "ERR %d %s", 42, "x");
    EXPECT_OUT(&b, "-ERR 42 x\r\n");
    resp_add_int(&b, 0);
    resp_add_int(&b, -7);
    resp_add_int(&b, LLONG_MIN);
    resp_add_int(&b, LLONG_MAX);
    EXPECT_OUT(&b, ":0\r\n:-7\r\n:-9223372036854775808\r\n:9223372036854775807\r\n");
    resp_add_bulk(&b, "a\0b", 3);
    resp_add_bulk(&b, "", 0);
    resp_add_bulk_str(&b, "hi");
    EXPECT_OUT(&b, "$3\r\na\0b\r\n$0\r\n\r\n$2\r\nhi\r\n");
    resp_add_null(&b);
    resp_add_array(&b, 2);
    resp_add_null_array(&b);
    EXPECT_OUT(&b, "$-1\r\n*2\r\n*-1\r\n");
    buf_free(&b);
}
END_TEST

START_TEST(buffer_limit)
{
    struct buf b;
    buf_init(&b, 16);
    resp_add_bulk(&b, "0123456789", 10); /* "$10\r\n0123456789\r\n": 17 bytes */
    ck_assert(buf_failed(&b));
    ck_assert_uint_eq(b.len, 0); /* the failed append left nothing behind */
    buf_free(&b);
    buf_init(&b, 16);
    resp_add_bulk(&b, "0123456789a", 9); /* 15 bytes */
    resp_add_simple(&b, "");                /* 3 more: 18 > 16 */
    ck_assert(buf_failed(&b));
    ck_assert_uint_eq(b.len, 15);
    buf_free(&b);
    ck_assert(!buf_failed(&b));
}
END_TEST

START_TEST(sanitize)
{
    char out[8];
    ck_assert_uint_eq(resp_sanitize(out, sizeof(out), "a\r\nb", 4), 4);
    ck_assert_str_eq(out, "a  b");
    ck_assert_uint_eq(resp_sanitize(out, sizeof(out), "abc\0def", 7), 3);
    ck_assert_uint_eq(resp_sanitize(out, sizeof(out), "0123456789", 10), 7);
    ck_assert_str_eq(out, "0123456");
}
END_TEST

/* A header put in front of what was appended after it (SCAN and KEYS replies). */
START_TEST(buf_insert_and_truncate)
{
    struct buf b;
    buf_init(&b, 64);
    buf_append(&b, "+OK\r\n", 5);
    size_t at = b.len;
    resp_add_bulk(&b, "a", 1);
    resp_add_bulk(&b, "bc", 2);
    buf_insert(&b, at, "*2\r\n", 4);
    ck_assert_uint_eq(b.len, 5 + 4 + 7 + 8);
    ck_assert(memcmp(b.data, "+OK\r\n*2\r\n$1\r\na\r\n$2\r\nbc\r\n", b.len) == 0);
    buf_truncate(&b, 5);
    ck_assert_uint_eq(b.len, 5);
    buf_insert(&b, 0, "", 0);
    ck_assert(!buf_failed(&b));
    char big[64] = {0};
    buf_insert(&b, 5, big, sizeof(big)); /* over the limit */
    ck_assert(buf_failed(&b));
    buf_free(&b);
    buf_init(&b, 0);
    buf_insert(&b, 1, "x", 1); /* past the end: a caller's mistake, never a garbled stream */
    ck_assert(buf_failed(&b));
    buf_free(&b);
}
END_TEST

static Suite *resp_suite(void)
{
    Suite *s = suite_create("resp");
    TCase *tc = tcase_create("requests");
    tcase_add_test(tc, multibulk_basic);
    tcase_add_test(tc, multibulk_binary);
    tcase_add_test(tc, inline_basic);
    tcase_add_test(tc, inline_quotes);
    tcase_add_test(tc, empty_requests);
    tcase_add_test(tc, pipelined);
    suite_add_tcase(s, tc);

    tc = tcase_create("splitting");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, split_multibulk);
    tcase_add_test(tc, split_inline_and_mixed);
    tcase_add_test(tc, split_errors);
    tcase_add_test(tc, split_big_bulk);
    tcase_add_test(tc, random_requests_roundtrip);
    tcase_add_test(tc, random_garbage);
    suite_add_tcase(s, tc);

    tc = tcase_create("hostile");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, out_of_range_multibulk_length);
    tcase_add_test(tc, wrong_payload_header);
    tcase_add_test(tc, bad_bulk_length);
    tcase_add_test(tc, bulk_without_crlf);
    tcase_add_test(tc, unbalanced_quotes);
    tcase_add_test(tc, inline_limit);
    tcase_add_test(tc, header_line_limit);
    tcase_add_test(tc, configured_limits);
    tcase_add_test(tc, claimed_count_not_preallocated);
    tcase_add_test(tc, wanted_hint);
    tcase_add_test(tc, many_args_then_trimmed);
    suite_add_tcase(s, tc);

    tc = tcase_create("encoding");
    tcase_add_test(tc, buf_insert_and_truncate);
    tcase_add_test(tc, parse_ll);
    tcase_add_test(tc, encoder);
    tcase_add_test(tc, buffer_limit);
    tcase_add_test(tc, sanitize);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return harness_run(resp_suite());
}
