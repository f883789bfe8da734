/*
 * The kvs dump format: writer and strict reader (spec: doc/DUMP.md).
 *
 * The reader decodes straight from the stream, byte by byte, into the key
 * and value buffers: a line is never held whole, so memory stays bounded by
 * the longest key and value the store accepts, whatever the input, and a
 * string over its limit is rejected as soon as it gets there.
 */
#include "dump_format.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Digits in UINT64_MAX: a longer number cannot fit. */
#define NUMBER_DIGITS_MAX 20

static const char hex_digits[] = "0123456789abcdef";

/* Bytes written as themselves: printable ASCII but the quote and the escape. */
static bool is_literal(int c)
{
    return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\';
}

void dump_bytes_free(struct dump_bytes *b)
{
    free(b->p);
    *b = (struct dump_bytes){0};
}

/* ---- writing ---- */

int dump_write_header(FILE *out)
{
    return fprintf(out, "%s %d\n", DUMP_MAGIC, DUMP_VERSION) < 0 ? -1 : 0;
}

int dump_write_string(FILE *out, const void *p, size_t len)
{
    const unsigned char *s = p;
    char buf[4096];
    size_t n = 0;
    buf[n++] = '"';
    for (size_t i = 0; i < len; i++) {
        if (n > sizeof(buf) - 5) { /* room for one escape and the closing quote */
            if (fwrite(buf, 1, n, out) != n)
                return -1;
            n = 0;
        }
        unsigned char c = s[i];
        if (is_literal(c)) {
            buf[n++] = (char)c;
        } else if (c == '"' || c == '\\') {
            buf[n++] = '\\';
            buf[n++] = (char)c;
        } else {
            buf[n++] = '\\';
            buf[n++] = 'x';
            buf[n++] = hex_digits[c >> 4];
            buf[n++] = hex_digits[c & 15];
        }
    }
    buf[n++] = '"';
    return fwrite(buf, 1, n, out) == n ? 0 : -1;
}

int dump_write_entry(FILE *out, const void *key, size_t klen, const void *val, size_t vlen,
                     uint64_t expire_at_ms)
{
    if (dump_write_string(out, key, klen) != 0 || putc(' ', out) == EOF ||
        dump_write_string(out, val, vlen) != 0)
        return -1;
    if (expire_at_ms != 0 && fprintf(out, " %" PRIu64, expire_at_ms) < 0)
        return -1;
    return putc('\n', out) == EOF ? -1 : 0;
}

int dump_write_trailer(FILE *out, uint64_t entries)
{
    return fprintf(out, "END %" PRIu64 "\n", entries) < 0 ? -1 : 0;
}

/* ---- reading: positions and messages ---- */

void dump_reader_init(struct dump_reader *r, FILE *in, size_t key_max, size_t value_max)
{
    *r = (struct dump_reader){.in = in, .line = 1, .key_max = key_max, .value_max = value_max};
}

void dump_reader_free(struct dump_reader *r)
{
    dump_bytes_free(&r->key);
    dump_bytes_free(&r->val);
}

static int next_byte(struct dump_reader *r)
{
    int c = getc_unlocked(r->in);
    if (c != EOF)
        r->column++;
    return c;
}

/* The newline ending a line was read: positions move to the next one. */
static void end_line(struct dump_reader *r)
{
    r->line++;
    r->column = 0;
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void fail(struct dump_reader *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof(r->err), fmt, ap);
    va_end(ap);
}

/* A byte for a message: 'c', 0xHH, or the end of input. Static buffer per
 * reader call is enough: one message is built at a time. */
static const char *describe(int c)
{
    static char buf[24];
    if (c == EOF)
        return "the end of input (truncated dump?)";
    if (c == '\n')
        return "the end of the line";
    if (c == '\r')
        return "a carriage return (lines end with LF alone)";
    if (c >= 0x20 && c <= 0x7e)
        snprintf(buf, sizeof(buf), "'%c'", c);
    else
        snprintf(buf, sizeof(buf), "byte 0x%02x", (unsigned)c);
    return buf;
}

/* ---- reading: strings and numbers ---- */

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Append one byte, growing the buffer geometrically up to max. */
static int append(struct dump_reader *r, struct dump_bytes *b, size_t max, unsigned char c,
                  const char *what)
{
    if (b->len == max) {
        fail(r, "the %s is longer than %zu bytes", what, max);
        return -1;
    }
    if (b->len == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        if (cap > max)
            cap = max;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            fail(r, "out of memory for a %s of %zu bytes", what, cap);
            return -1;
        }
        b->p = p;
        b->cap = cap;
    }
    b->p[b->len++] = c;
    return 0;
}

/* The byte an escape stands for (the backslash was read), or -1. */
static int read_escape(struct dump_reader *r, const char *what)
{
    int e = next_byte(r);
    if (e == '\\' || e == '"')
        return e;
    if (e == 'x') {
        int h = hex_value(next_byte(r));
        int l = h < 0 ? -1 : hex_value(next_byte(r));
        if (l >= 0)
            return h * 16 + l;
        fail(r, "\\x in the %s must be followed by two hex digits", what);
        return -1;
    }
    if (e == EOF)
        fail(r, "the input ends inside the %s (truncated dump?)", what);
    else
        fail(r, "unknown escape: backslash then %s in the %s (only \\\\, \\\" and \\xHH exist)",
             describe(e), what);
    return -1;
}

/* A byte that may not stand in a string as itself: why. */
static void fail_raw_byte(struct dump_reader *r, int c, const char *what)
{
    if (c == EOF)
        fail(r, "the input ends inside the %s (truncated dump?)", what);
    else if (c == '\n')
        fail(r, "the line ends inside the %s (missing closing quote?)", what);
    else if (c == '\r')
        fail(r, "carriage return in the %s: lines end with LF alone; write the byte as \\x0d",
             what);
    else
        fail(r, "byte 0x%02x may not appear as itself in the %s: write it as \\x%02x",
             (unsigned)c, what, (unsigned)c);
}

/* The rest of a string whose opening quote was read, into b (at most max). */
static int read_string(struct dump_reader *r, struct dump_bytes *b, size_t max, const char *what)
{
    b->len = 0;
    for (;;) {
        int c = next_byte(r);
        if (c == '"')
            return 0;
        if (c == '\\')
            c = read_escape(r, what);
        else if (!is_literal(c)) {
            fail_raw_byte(r, c, what);
            return -1;
        }
        if (c < 0 || append(r, b, max, (unsigned char)c, what) != 0)
            return -1;
    }
}

/* Decimal digits up to the end of the line (the newline is read too). */
static int read_number_line(struct dump_reader *r, uint64_t *out, const char *what)
{
    uint64_t v = 0;
    int digits = 0, c;
    while ((c = next_byte(r)) >= '0' && c <= '9') {
        unsigned d = (unsigned)(c - '0');
        if (++digits > NUMBER_DIGITS_MAX || v > (UINT64_MAX - d) / 10) {
            fail(r, "the %s is larger than %" PRIu64, what, UINT64_MAX);
            return -1;
        }
        v = v * 10 + d;
    }
    if (digits == 0 || c != '\n') {
        fail(r, "the %s must be decimal digits ending the line; found %s", what, describe(c));
        return -1;
    }
    end_line(r);
    *out = v;
    return 0;
}

/* ---- reading: lines ---- */

int dump_read_header(struct dump_reader *r)
{
    char line[32];
    size_t n = 0;
    int c;
    while ((c = next_byte(r)) != '\n' && c != EOF && n < sizeof(line) - 1)
        line[n++] = (char)c;
    line[n] = '\0';
    if (c == '\n' && strcmp(line, DUMP_MAGIC " 1") == 0) {
        end_line(r);
        return 0;
    }
    size_t m = strlen(DUMP_MAGIC " ");
    if (c == EOF && n == 0)
        fail(r, "the input is empty: not a kvs dump");
    else if (c == '\n' && strcmp(line, DUMP_MAGIC " 1\r") == 0)
        fail(r, "the first line ends with CR LF: lines must end with LF alone");
    else if (c == '\n' && strncmp(line, DUMP_MAGIC " ", m) == 0 && line[m] &&
             strspn(line + m, "0123456789") == n - m)
        fail(r, "dump format version %s is not supported (this kvs reads version %d)", line + m,
             DUMP_VERSION);
    else
        fail(r, "not a kvs dump: the first line must be \"%s %d\"", DUMP_MAGIC, DUMP_VERSION);
    return -1;
}

/* An entry line whose opening quote was read. */
static enum dump_next read_entry(struct dump_reader *r)
{
    if (read_string(r, &r->key, r->key_max, "key") != 0)
        return DUMP_ERROR;
    if (r->key.len == 0) {
        fail(r, "the key is empty (keys are 1 to %zu bytes)", r->key_max);
        return DUMP_ERROR;
    }
    int c = next_byte(r);
    if (c != ' ' || (c = next_byte(r)) != '"') {
        fail(r, "expected one space and the quoted value after the key; found %s", describe(c));
        return DUMP_ERROR;
    }
    if (read_string(r, &r->val, r->value_max, "value") != 0)
        return DUMP_ERROR;
    c = next_byte(r);
    if (c == ' ' && read_number_line(r, &r->expire_at_ms, "expiry") != 0)
        return DUMP_ERROR;
    if (c != ' ' && c != '\n') {
        fail(r, "expected the end of the line, or one space and the expiry, after the value; "
                "found %s", describe(c));
        return DUMP_ERROR;
    }
    if (c == '\n')
        end_line(r);
    r->entries++;
    return DUMP_ENTRY;
}

/* The END line, whose 'E' was read: the count must match, and nothing may follow. */
static enum dump_next read_end(struct dump_reader *r)
{
    static const char rest[] = "ND ";
    for (const char *p = rest; *p; p++) {
        int c = next_byte(r);
        if (c != *p) {
            fail(r, "expected an entry (a quoted key) or \"END count\"; found %s", describe(c));
            return DUMP_ERROR;
        }
    }
    uint64_t count;
    if (read_number_line(r, &count, "entry count") != 0)
        return DUMP_ERROR;
    if (count != r->entries) {
        r->line--; /* report the END line itself */
        fail(r, "the END line counts %" PRIu64 " entries, but %" PRIu64 " came before it", count,
             r->entries);
        return DUMP_ERROR;
    }
    if (next_byte(r) != EOF) {
        fail(r, "data after the END line");
        return DUMP_ERROR;
    }
    return DUMP_END;
}

enum dump_next dump_read_next(struct dump_reader *r)
{
    r->expire_at_ms = 0;
    r->key.len = r->val.len = 0;
    int c = next_byte(r);
    if (c == '"')
        return read_entry(r);
    if (c == 'E')
        return read_end(r);
    if (c == EOF)
        fail(r, "the input ends without the END line (truncated dump?)");
    else if (c == '\n')
        fail(r, "empty line");
    else
        fail(r, "expected an entry (a quoted key) or \"END count\"; found %s", describe(c));
    return DUMP_ERROR;
}

int dump_decode_text(const char *text, size_t max, struct dump_bytes *out, char *err,
                     size_t errlen)
{
    size_t n = strlen(text);
    if (n == 0 || text[0] != '"') {
        snprintf(err, errlen, "expected a string in double quotes, as kvs scan prints it");
        return -1;
    }
    FILE *f = fmemopen((void *)text, n, "r");
    if (!f) {
        snprintf(err, errlen, "%s", strerror(errno));
        return -1;
    }
    struct dump_reader r;
    dump_reader_init(&r, f, max, max);
    next_byte(&r); /* the opening quote */
    int rc = read_string(&r, out, max, "string");
    if (rc == 0 && next_byte(&r) != EOF) {
        fail(&r, "text after the closing quote");
        rc = -1;
    }
    if (rc != 0)
        snprintf(err, errlen, "%s", r.err);
    fclose(f);
    return rc;
}
