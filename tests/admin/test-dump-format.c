/*
 * The kvs dump format (examples/admin/dump_format.c) on its own: every byte
 * round-trips, the writer's exact output, and the reader's answer to each
 * kind of malformed input, with the line and byte it names.
 */
#include <stdlib.h>
#include <string.h>

#include "dump_format.h"
#include "../common/testutil.h"

/* Small limits for some tests, the store's for others. */
#define KEY_MAX 65535u
#define VALUE_MAX (512u * 1024u * 1024u)

/* What a writer call produced, as a string (open_memstream). */
struct capture {
    FILE *f;
    char *text;
    size_t len;
};

static void capture_open(struct capture *c)
{
    c->text = NULL;
    c->len = 0;
    c->f = open_memstream(&c->text, &c->len);
    ck_assert_ptr_nonnull(c->f);
}

static void capture_close(struct capture *c)
{
    ck_assert_int_eq(fclose(c->f), 0);
}

/* A reader over text (len bytes), with the given limits. */
static FILE *open_text(const char *text, size_t len)
{
    FILE *f = fmemopen((void *)text, len ? len : 1, "r");
    ck_assert_ptr_nonnull(f);
    if (len == 0)
        fgetc(f); /* fmemopen needs a size of at least 1: consume it */
    return f;
}

START_TEST(writer_output_is_exact)
{
    struct capture c;
    capture_open(&c);
    ck_assert_int_eq(dump_write_header(c.f), 0);
    ck_assert_int_eq(dump_write_entry(c.f, "a\"b\\c \x7e", 7, "", 0, 0), 0);
    ck_assert_int_eq(dump_write_entry(c.f, "\x00\n\x1f\x7f\x80\xff", 6, "v", 1, 1767225600000u), 0);
    ck_assert_int_eq(dump_write_trailer(c.f, 2), 0);
    capture_close(&c);
    ck_assert_str_eq(c.text, "KVS-DUMP 1\n"
                             "\"a\\\"b\\\\c ~\" \"\"\n"
                             "\"\\x00\\x0a\\x1f\\x7f\\x80\\xff\" \"v\" 1767225600000\n"
                             "END 2\n");
    free(c.text);
}
END_TEST

/* Write entries, read them back, compare. */
static void roundtrip(const unsigned char *const *keys, const size_t *klens,
                      const unsigned char *const *vals, const size_t *vlens,
                      const uint64_t *expires, size_t n)
{
    struct capture c;
    capture_open(&c);
    ck_assert_int_eq(dump_write_header(c.f), 0);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(
            dump_write_entry(c.f, keys[i], klens[i], vals[i], vlens[i], expires[i]), 0);
    ck_assert_int_eq(dump_write_trailer(c.f, n), 0);
    capture_close(&c);
    /* pure printable ASCII and LF (one assertion: each one costs Check a write) */
    size_t at = 0;
    while (at < c.len && (c.text[at] == '\n' || (c.text[at] >= 0x20 && c.text[at] <= 0x7e)))
        at++;
    ck_assert_msg(at == c.len, "byte %zu is 0x%02x", at, (unsigned char)c.text[at]);

    FILE *f = open_text(c.text, c.len);
    struct dump_reader r;
    dump_reader_init(&r, f, KEY_MAX, VALUE_MAX);
    ck_assert_msg(dump_read_header(&r) == 0, "%s", r.err);
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(dump_read_next(&r) == DUMP_ENTRY, "entry %zu: %s", i, r.err);
        ck_assert_uint_eq(r.key.len, klens[i]);
        ck_assert_int_eq(memcmp(r.key.p, keys[i], klens[i]), 0);
        ck_assert_uint_eq(r.val.len, vlens[i]);
        ck_assert(vlens[i] == 0 || memcmp(r.val.p, vals[i], vlens[i]) == 0);
        ck_assert_uint_eq(r.expire_at_ms, expires[i]);
        ck_assert_uint_eq(r.line, i + 3);
    }
    ck_assert_msg(dump_read_next(&r) == DUMP_END, "%s", r.err);
    dump_reader_free(&r);
    fclose(f);
    free(c.text);
}

START_TEST(every_byte_value_round_trips)
{
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    const unsigned char *keys[] = {all, all + 1, (const unsigned char *)"k"};
    const size_t klens[] = {256, 255, 1};
    const unsigned char *vals[] = {all, (const unsigned char *)"", all + 10};
    const size_t vlens[] = {256, 0, 1};
    const uint64_t expires[] = {0, 1, UINT64_MAX};
    roundtrip(keys, klens, vals, vlens, expires, 3);
}
END_TEST

START_TEST(random_entries_round_trip)
{
    uint64_t st = tu_seed();
    enum { N = 200 };
    unsigned char *keys[N], *vals[N];
    size_t klens[N], vlens[N];
    uint64_t expires[N];
    for (size_t i = 0; i < N; i++) {
        klens[i] = i == 0 ? KEY_MAX : 1 + tu_rand(&st) % 64;
        vlens[i] = i % 7 == 0 ? 0 : tu_rand(&st) % 3000;
        keys[i] = malloc(klens[i]);
        vals[i] = malloc(vlens[i] + 1);
        ck_assert(keys[i] && vals[i]);
        tu_fill(&st, keys[i], klens[i]);
        tu_fill(&st, vals[i], vlens[i]);
        /* bias towards the bytes that need care */
        static const unsigned char special[] = {0, '\n', '\\', '"', 0xff, ' ', '\r', 'x'};
        for (size_t j = 0; j < klens[i]; j += 3)
            keys[i][j] = special[tu_rand(&st) % sizeof(special)];
        expires[i] = i % 3 == 0 ? tu_rand(&st) : 0;
    }
    roundtrip((const unsigned char *const *)keys, klens, (const unsigned char *const *)vals,
              vlens, expires, N);
    for (size_t i = 0; i < N; i++) {
        free(keys[i]);
        free(vals[i]);
    }
}
END_TEST

START_TEST(reader_accepts_uppercase_hex_and_leading_zeros)
{
    static const char text[] = "KVS-DUMP 1\n\"\\xFF\\xaB\" \"\\\"\" 007\n\"b\" \"\" 0\nEND 02\n";
    FILE *f = open_text(text, sizeof(text) - 1);
    struct dump_reader r;
    dump_reader_init(&r, f, KEY_MAX, VALUE_MAX);
    ck_assert_int_eq(dump_read_header(&r), 0);
    ck_assert_int_eq(dump_read_next(&r), DUMP_ENTRY);
    ck_assert_uint_eq(r.key.len, 2);
    ck_assert_int_eq(memcmp(r.key.p, "\xff\xab", 2), 0);
    ck_assert_uint_eq(r.val.len, 1);
    ck_assert_int_eq(r.val.p[0], '"');
    ck_assert_uint_eq(r.expire_at_ms, 7);
    ck_assert_int_eq(dump_read_next(&r), DUMP_ENTRY);
    ck_assert_uint_eq(r.expire_at_ms, 0);
    ck_assert_int_eq(dump_read_next(&r), DUMP_END);
    dump_reader_free(&r);
    fclose(f);
}
END_TEST

/* One malformed input, the line and byte of the error, and words of the message. */
struct bad {
    const char *text;
    size_t len; /* 0: strlen */
    unsigned line, column;
    const char *says;
};

static const struct bad bad_inputs[] = {
    {"", 0, 1, 0, "empty"},
    {"KVS-DUMP 2\n", 0, 1, 11, "version 2 is not supported"},
    {"KVS-DUMP 1 \n", 0, 1, 12, "not a kvs dump"},
    {"hello world, this is a long first line and not a dump\n", 0, 1, 32, "not a kvs dump"},
    {"KVS-DUMP 1\r\n", 0, 1, 12, "CR LF"},
    {"KVS-DUMP 1", 0, 1, 10, "not a kvs dump"},
    {"KVS-DUMP 1\n", 0, 2, 0, "without the END line"},
    {"KVS-DUMP 1\n\"a\" \"b\"\n", 0, 3, 0, "without the END line"},
    {"KVS-DUMP 1\n\"a\" \"b\"", 0, 2, 7, "found the end of input"},
    {"KVS-DUMP 1\n\"a\" \"b\"\r\nEND 1\n", 0, 2, 8, "carriage return"},
    {"KVS-DUMP 1\n\n", 0, 2, 1, "empty line"},
    {"KVS-DUMP 1\nkey value\n", 0, 2, 1, "expected an entry"},
    {"KVS-DUMP 1\n\"a\tb\" \"v\"\nEND 1\n", 0, 2, 3, "0x09 may not appear"},
    {"KVS-DUMP 1\n\"a\xffz\" \"v\"\nEND 1\n", 0, 2, 3, "0xff may not appear"},
    {"KVS-DUMP 1\n\"a\0b\" \"v\"\nEND 1\n", 27, 2, 3, "0x00 may not appear"},
    {"KVS-DUMP 1\n\"a\" \"v\\n\"\nEND 1\n", 0, 2, 8, "unknown escape"},
    {"KVS-DUMP 1\n\"a\" \"v\\x4\"\nEND 1\n", 0, 2, 10, "two hex digits"},
    {"KVS-DUMP 1\n\"a\" \"v\\xg0\"\nEND 1\n", 0, 2, 9, "two hex digits"},
    {"KVS-DUMP 1\n\"a\" \"v\\", 0, 2, 7, "ends inside the value"},
    {"KVS-DUMP 1\n\"abc\n", 0, 2, 5, "line ends inside the key"},
    {"KVS-DUMP 1\n\"abc", 0, 2, 4, "input ends inside the key"},
    {"KVS-DUMP 1\n\"\" \"v\"\nEND 1\n", 0, 2, 2, "key is empty"},
    {"KVS-DUMP 1\n\"a\"\nEND 1\n", 0, 2, 4, "expected one space"},
    {"KVS-DUMP 1\n\"a\"  \"v\"\nEND 1\n", 0, 2, 5, "expected one space"},
    {"KVS-DUMP 1\n\"a\" v\nEND 1\n", 0, 2, 5, "expected one space"},
    {"KVS-DUMP 1\n\"a\" \"v\" \nEND 1\n", 0, 2, 9, "decimal digits"},
    {"KVS-DUMP 1\n\"a\" \"v\" 12x\nEND 1\n", 0, 2, 11, "decimal digits"},
    {"KVS-DUMP 1\n\"a\" \"v\" -1\nEND 1\n", 0, 2, 9, "decimal digits"},
    {"KVS-DUMP 1\n\"a\" \"v\" 5 \nEND 1\n", 0, 2, 10, "decimal digits"},
    {"KVS-DUMP 1\n\"a\" \"v\" 18446744073709551616\nEND 1\n", 0, 2, 28, "larger than"},
    {"KVS-DUMP 1\n\"a\" \"v\" 000000000000000000001\nEND 1\n", 0, 2, 29, "larger than"},
    {"KVS-DUMP 1\n\"a\" \"v\"x\nEND 1\n", 0, 2, 8, "expected the end of the line"},
    {"KVS-DUMP 1\n\"a\" \"v\"\nEND 2\n", 0, 3, 0, "counts 2 entries, but 1"},
    {"KVS-DUMP 1\nEND\n", 0, 2, 4, "expected an entry"},
    {"KVS-DUMP 1\nEND 1 \n", 0, 2, 6, "decimal digits"},
    {"KVS-DUMP 1\nEND 0", 0, 2, 5, "decimal digits"},
    {"KVS-DUMP 1\nEND 0\nEND 0\n", 0, 3, 1, "data after the END line"},
    {"KVS-DUMP 1\nEXIT\n", 0, 2, 2, "expected an entry"},
};

START_TEST(malformed_input_is_rejected_with_its_position)
{
    const struct bad *b = &bad_inputs[_i];
    size_t len = b->len ? b->len : strlen(b->text);
    FILE *f = open_text(b->text, len);
    struct dump_reader r;
    dump_reader_init(&r, f, KEY_MAX, VALUE_MAX);
    int rc = dump_read_header(&r);
    enum dump_next n = DUMP_ENTRY;
    while (rc == 0 && (n = dump_read_next(&r)) == DUMP_ENTRY)
        ;
    ck_assert_msg(rc != 0 || n == DUMP_ERROR, "case %d accepted", _i);
    ck_assert_msg(strstr(r.err, b->says), "case %d: '%s' lacks '%s'", _i, r.err, b->says);
    ck_assert_msg(r.line == b->line && r.column == b->column,
                  "case %d: at line %llu byte %llu, expected %u/%u (%s)", _i,
                  (unsigned long long)r.line, (unsigned long long)r.column, b->line, b->column,
                  r.err);
    dump_reader_free(&r);
    fclose(f);
}
END_TEST

/* A string over the limit is refused when it gets there, without reading on. */
START_TEST(limits_stop_the_reader_at_the_limit)
{
    size_t big = 1u << 20;
    char *text = malloc(big + 64);
    ck_assert_ptr_nonnull(text);
    int n = sprintf(text, "KVS-DUMP 1\n\"k\" \"");
    memset(text + n, 'v', big);
    strcpy(text + n + big, "\"\nEND 1\n");
    FILE *f = open_text(text, strlen(text));
    struct dump_reader r;
    dump_reader_init(&r, f, 16, 1000);
    ck_assert_int_eq(dump_read_header(&r), 0);
    ck_assert_int_eq(dump_read_next(&r), DUMP_ERROR);
    ck_assert_ptr_nonnull(strstr(r.err, "value is longer than 1000 bytes"));
    ck_assert_uint_eq(r.column, 5 + 1000 + 1);
    ck_assert_uint_le(r.val.cap, 1000);
    dump_reader_free(&r);
    fclose(f);

    memset(text + 12, 'k', 17); /* a 17-byte key */
    f = open_text(text, strlen(text));
    dump_reader_init(&r, f, 16, 1000);
    ck_assert_int_eq(dump_read_header(&r), 0);
    ck_assert_int_eq(dump_read_next(&r), DUMP_ERROR);
    ck_assert_ptr_nonnull(strstr(r.err, "key is longer than 16 bytes"));
    dump_reader_free(&r);
    fclose(f);
    free(text);
}
END_TEST

START_TEST(decode_text_takes_one_whole_string)
{
    struct dump_bytes b = {0};
    char err[256];
    ck_assert_int_eq(dump_decode_text("\"a\\x00b\\\\\"", 100, &b, err, sizeof(err)), 0);
    ck_assert_uint_eq(b.len, 4);
    ck_assert_int_eq(memcmp(b.p, "a\0b\\", 4), 0);
    ck_assert_int_eq(dump_decode_text("\"\"", 100, &b, err, sizeof(err)), 0);
    ck_assert_uint_eq(b.len, 0);
    static const char *const bad[] = {"", "abc", "\"abc", "\"a\" ", "\"a\"\"b\"", "\"\\q\"",
                                      "\"12345\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(dump_decode_text(bad[i], 4, &b, err, sizeof(err)) != 0, "'%s' accepted",
                      bad[i]);
    dump_bytes_free(&b);
}
END_TEST

/* Random bytes never crash the reader, whatever it answers. */
START_TEST(random_input_never_crashes)
{
    uint64_t st = tu_seed();
    for (int i = 0; i < 3000; i++) {
        size_t len = 11 + tu_rand(&st) % 200;
        char *text = malloc(len);
        ck_assert_ptr_nonnull(text);
        memcpy(text, "KVS-DUMP 1\n", 11);
        for (size_t j = 11; j < len; j++) {
            static const char pick[] = "\"\\x0aF \nEND19";
            uint64_t r = tu_rand(&st);
            text[j] = r % 4 ? pick[r % (sizeof(pick) - 1)] : (char)(r >> 8);
        }
        FILE *f = open_text(text, len);
        struct dump_reader r;
        dump_reader_init(&r, f, 8, 8);
        ck_assert_int_eq(dump_read_header(&r), 0);
        enum dump_next n;
        while ((n = dump_read_next(&r)) == DUMP_ENTRY)
            ck_assert(r.key.len >= 1 && r.key.len <= 8 && r.val.len <= 8);
        ck_assert(n == DUMP_ERROR ? r.err[0] != '\0' : 1);
        dump_reader_free(&r);
        fclose(f);
        free(text);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dump-format");
    TCase *tc = tcase_create("format");
    tcase_add_test(tc, writer_output_is_exact);
    tcase_add_test(tc, every_byte_value_round_trips);
    tcase_add_test(tc, random_entries_round_trip);
    tcase_add_test(tc, reader_accepts_uppercase_hex_and_leading_zeros);
    tcase_add_loop_test(tc, malformed_input_is_rejected_with_its_position, 0,
                        (int)(sizeof(bad_inputs) / sizeof(bad_inputs[0])));
    tcase_add_test(tc, limits_stop_the_reader_at_the_limit);
    tcase_add_test(tc, decode_text_takes_one_whole_string);
    tcase_add_test(tc, random_input_never_crashes);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
