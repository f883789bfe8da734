/*
 * Fuzz target: the incremental RESP request parser (examples/common/resp.c).
 *
 * The stream is fed twice: in pieces whose sizes the input chooses, each
 * piece landing in a freshly allocated buffer of exactly the bytes held (as
 * a server's buffer moves and grows; ASan catches any read past it or any
 * pointer kept into an old one), and then in one piece. Both must give the
 * same requests and the same outcome. Every complete request must lie
 * within the bytes it says it took, within the limits; every argument that
 * parses as an integer with resp_parse_ll must agree with a plain reference
 * parse, and the reply encoders must produce what a RESP reader accepts.
 *
 * Input layout (doc/FUZZING.md):
 *   byte 0    bit 0 small limits (bulk 64, 8 arguments, lines of 64),
 *             bit 1 the "unauthenticated" flavour of limit errors
 *   bytes 1-4 piece sizes, used in turn: (b & 31) + 1 bytes, or all that is
 *             left when b is 0
 *   the rest  the request stream
 */
#include <string.h>

#include "fuzz.h"
#include "resp.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

/* What a parse produced, as bytes to compare: each request's arguments,
 * then how the stream ended. */
struct transcript {
    struct buf b;
};

static void note(struct transcript *t, const void *p, size_t n)
{
    buf_append(&t->b, p, n);
    FUZZ_CHECK(!buf_failed(&t->b));
}

static void note_size(struct transcript *t, size_t v)
{
    note(t, &v, sizeof(v));
}

/* Strict decimal: "0", or an optional '-' then digits with no leading zero,
 * in the range of long long (decided by comparing digit strings; the value
 * then comes from strtoll). */
static bool reference_ll(const char *p, size_t n, long long *out)
{
    if (n == 0 || n > 20)
        return false;
    bool neg = p[0] == '-';
    size_t i = neg;
    if (i == n || (p[i] == '0' && n > 1))
        return false;
    for (size_t j = i; j < n; j++)
        if (p[j] < '0' || p[j] > '9')
            return false;
    const char *max = neg ? "9223372036854775808" : "9223372036854775807";
    if (n - i > 19 || (n - i == 19 && memcmp(p + i, max, 19) > 0))
        return false;
    char text[24];
    memcpy(text, p, n);
    text[n] = '\0';
    *out = strtoll(text, NULL, 10);
    return true;
}

/* Skip one RESP2 reply value at *pos; false if malformed or cut short. */
static bool reply_value(const char *p, size_t n, size_t *pos)
{
    if (*pos >= n)
        return false;
    const char *cr = memchr(p + *pos, '\r', n - *pos);
    if (!cr || (size_t)(cr - p) + 1 >= n || cr[1] != '\n')
        return false;
    char type = p[*pos];
    size_t line = *pos + 1, line_len = (size_t)(cr - p) - line;
    *pos = (size_t)(cr - p) + 2;
    if (memchr(p + line, '\n', line_len))
        return false;
    if (type == '+' || type == '-')
        return true;
    long long v;
    if (!reference_ll(p + line, line_len, &v))
        return false;
    if (type == ':')
        return true;
    if (type == '$') {
        if (v == -1)
            return true;
        if (v < 0 || (unsigned long long)v > n - *pos || n - *pos - (size_t)v < 2 ||
            p[*pos + (size_t)v] != '\r' || p[*pos + (size_t)v + 1] != '\n')
            return false;
        *pos += (size_t)v + 2;
        return true;
    }
    if (type == '*') {
        if (v < -1)
            return false;
        for (long long i = 0; i < v; i++)
            if (!reply_value(p, n, pos))
                return false;
        return true;
    }
    return false;
}

/* Echo a request's arguments through the reply encoders and read them back. */
static void check_encoders(const struct resp_request *req)
{
    struct buf out;
    buf_init(&out, 0);
    resp_add_array(&out, req->argc);
    for (size_t i = 0; i < req->argc; i++)
        resp_add_bulk(&out, req->argv[i].ptr, req->argv[i].len);
    if (req->argc) {
        char text[200];
        resp_sanitize(text, sizeof(text), req->argv[0].ptr, req->argv[0].len);
        resp_add_error(&out, text);
        resp_add_simple(&out, "OK");
        resp_add_errorf(&out, "ERR unknown '%s'", text);
        long long v;
        if (resp_parse_ll(req->argv[0].ptr, req->argv[0].len, &v))
            resp_add_int(&out, v);
    }
    resp_add_null(&out);
    FUZZ_CHECK(!buf_failed(&out));
    size_t pos = 0;
    while (pos < out.len)
        FUZZ_CHECK(reply_value(out.data, out.len, &pos));
    buf_free(&out);
}

static void check_request(const struct resp_parser *p, const struct resp_limits *lim,
                          const char *buf, size_t avail, const struct resp_request *req,
                          struct transcript *t)
{
    FUZZ_CHECK(req->size >= 1 && req->size <= avail);
    FUZZ_CHECK(resp_parser_idle(p));
    FUZZ_CHECK(req->argc <= lim->max_args);
    bool multibulk = buf[0] == '*';
    note_size(t, req->argc);
    for (size_t i = 0; i < req->argc; i++) {
        const struct resp_arg *a = &req->argv[i];
        FUZZ_CHECK(a->ptr >= buf && a->len <= req->size &&
                   (size_t)(a->ptr - buf) <= req->size - a->len);
        if (multibulk) {
            FUZZ_CHECK(a->len <= lim->max_bulk);
        } else {
            FUZZ_CHECK(a->len <= lim->max_inline);
        }
        long long v, w;
        bool ok = resp_parse_ll(a->ptr, a->len, &v);
        FUZZ_CHECK(ok == reference_ll(a->ptr, a->len, &w));
        FUZZ_CHECK(!ok || v == w);
        note_size(t, a->len);
        note(t, a->ptr, a->len);
    }
    check_encoders(req);
}

/*
 * Parse stream[0 .. n) arriving in pieces (sizes from the input; one piece
 * if sizes is NULL), the way kvs-server's connections do: requests are
 * parsed from the start of the unconsumed bytes, which move to a new buffer
 * whenever more arrive.
 */
static void parse_stream(const struct resp_limits *lim, const uint8_t *stream, size_t n,
                         const uint8_t *sizes, struct transcript *t)
{
    struct resp_parser p;
    resp_parser_init(&p, lim);
    char *buf = NULL;
    size_t held = 0, fed = 0, piece = 0;
    enum resp_status st = RESP_NEED_MORE;
    while (fed < n && st != RESP_ERROR) {
        size_t step = n - fed;
        if (sizes && sizes[piece % 4]) {
            step = (size_t)(sizes[piece % 4] & 31) + 1;
            if (step > n - fed)
                step = n - fed;
        }
        piece++;
        char *grown = malloc(held + step);
        FUZZ_CHECK(grown != NULL);
        if (held)
            memcpy(grown, buf, held);
        memcpy(grown + held, stream + fed, step);
        free(buf);
        buf = grown;
        held += step;
        fed += step;
        size_t start = 0;
        for (;;) {
            struct resp_request req;
            st = resp_parse(&p, buf + start, held - start, &req);
            if (st == RESP_DONE) {
                check_request(&p, lim, buf + start, held - start, &req, t);
                start += req.size;
                continue;
            }
            if (st == RESP_ERROR) {
                const char *e = resp_parser_error(&p);
                FUZZ_CHECK(e[0] != '\0' && strlen(e) < sizeof(p.err));
                note(t, "E", 1);
                note(t, e, strlen(e));
            } else {
                FUZZ_CHECK(resp_parser_wanted(&p, held - start) > held - start);
            }
            break;
        }
        /* drop what was consumed; an empty rest means the parser is idle */
        if (start == held)
            FUZZ_CHECK(st == RESP_ERROR || resp_parser_idle(&p));
        memmove(buf, buf + start, held - start);
        held -= start;
    }
    note(t, st == RESP_ERROR ? "!" : resp_parser_idle(&p) ? "." : "+", 1);
    free(buf);
    resp_parser_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 5)
        return 0;
    struct resp_limits lim;
    resp_limits_default(&lim);
    if (data[0] & 1) {
        lim.max_bulk = 64;
        lim.max_args = 8;
        lim.max_inline = 64;
    }
    lim.unauthenticated = data[0] & 2;
    struct transcript pieces, whole;
    buf_init(&pieces.b, 0);
    buf_init(&whole.b, 0);
    parse_stream(&lim, data + 5, size - 5, data + 1, &pieces);
    parse_stream(&lim, data + 5, size - 5, NULL, &whole);
    FUZZ_CHECK(pieces.b.len == whole.b.len &&
               memcmp(pieces.b.data, whole.b.data, whole.b.len) == 0);
    buf_free(&pieces.b);
    buf_free(&whole.b);
    return 0;
}
