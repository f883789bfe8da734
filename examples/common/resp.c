/*
 * Incremental RESP2 request parser (multibulk and inline); see resp.h.
 *
 * Semantics follow Redis's networking.c (processMultibulkBuffer,
 * processInlineBuffer) including its error texts, with two deliberate
 * differences: CR must be followed by LF and a bulk payload must end in CRLF
 * (Redis skips those two bytes unchecked, which lets a broken client desync
 * silently), and an inline line longer than the limit is refused even when
 * its newline arrived in the same read.
 */
#include "resp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum parse_state {
    PS_IDLE = 0,   /* nothing of the next request seen */
    PS_INLINE,     /* waiting for the end of an inline line */
    PS_MB_COUNT,   /* waiting for the end of "*<argc>" */
    PS_BULK_HDR,   /* expecting "$<len>\r\n" */
    PS_BULK_DATA,  /* expecting <len> bytes and CRLF */
};

/* argv arrays above this many entries are given back after their request. */
#define ARGV_KEEP_MAX 1024u

void resp_limits_default(struct resp_limits *lim)
{
    lim->max_bulk = RESP_DEFAULT_MAX_BULK;
    lim->max_args = RESP_DEFAULT_MAX_ARGS;
    lim->max_inline = RESP_DEFAULT_MAX_INLINE;
    lim->unauthenticated = false;
}

static void reset(struct resp_parser *p)
{
    p->state = PS_IDLE;
    p->pos = 0;
    p->scan = 0;
    p->argc_want = 0;
    p->bulk_len = 0;
    p->argc = 0;
    p->err[0] = '\0';
}

void resp_parser_init(struct resp_parser *p, const struct resp_limits *lim)
{
    p->lim = *lim;
    p->argv = p->argv_small;
    p->argv_cap = sizeof(p->argv_small) / sizeof(p->argv_small[0]);
    reset(p);
}

void resp_parser_free(struct resp_parser *p)
{
    if (p->argv != p->argv_small)
        free(p->argv);
    p->argv = p->argv_small;
    p->argv_cap = sizeof(p->argv_small) / sizeof(p->argv_small[0]);
    reset(p);
}

void resp_parser_set_limits(struct resp_parser *p, const struct resp_limits *lim)
{
    p->lim = *lim;
}

const char *resp_parser_error(const struct resp_parser *p)
{
    return p->err;
}

void resp_parser_restart(struct resp_parser *p)
{
    reset(p);
}

bool resp_parser_idle(const struct resp_parser *p)
{
    return p->state == PS_IDLE;
}

size_t resp_parser_wanted(const struct resp_parser *p, size_t len)
{
    if (p->state == PS_BULK_DATA)
        return p->pos + p->bulk_len + 2;
    return len + 1;
}

static enum resp_status fail(struct resp_parser *p, const char *msg)
{
    snprintf(p->err, sizeof(p->err), "%s", msg);
    return RESP_ERROR;
}

/* Room for one more argument; the array grows only as arguments really arrive. */
static bool argv_push(struct resp_parser *p, size_t off, size_t len)
{
    if (p->argc == p->argv_cap) {
        size_t cap = p->argv_cap * 2;
        struct resp_arg *n = p->argv == p->argv_small ? malloc(cap * sizeof(*n))
                                                      : realloc(p->argv, cap * sizeof(*n));
        if (!n)
            return false;
        if (p->argv == p->argv_small)
            memcpy(n, p->argv_small, sizeof(p->argv_small));
        p->argv = n;
        p->argv_cap = cap;
    }
    p->argv[p->argc].off = off;
    p->argv[p->argc].len = len;
    p->argv[p->argc].ptr = NULL;
    p->argc++;
    return true;
}

/* Give back a huge argv array once its request is done. */
static void argv_trim(struct resp_parser *p)
{
    if (p->argv != p->argv_small && p->argv_cap > ARGV_KEEP_MAX) {
        free(p->argv);
        p->argv = p->argv_small;
        p->argv_cap = sizeof(p->argv_small) / sizeof(p->argv_small[0]);
    }
}

static enum resp_status done(struct resp_parser *p, char *buf, size_t size,
                             struct resp_request *req)
{
    for (size_t i = 0; i < p->argc; i++)
        p->argv[i].ptr = buf + p->argv[i].off;
    req->argc = p->argc;
    req->argv = p->argv;
    req->size = size;
    reset(p);
    return RESP_DONE;
}

/* fail() for the int-returning line finder. */
static int fail_line(struct resp_parser *p, const char *msg)
{
    fail(p, msg);
    return -1;
}

/*
 * Find the "\r\n" ending the header line that starts at p->pos.
 * Returns 1 with *eol at the CR, 0 when more bytes are needed, -1 on error.
 */
static int find_crlf(struct resp_parser *p, const char *buf, size_t len, size_t *eol,
                     const char *too_big)
{
    size_t from = p->scan > p->pos ? p->scan : p->pos;
    const char *cr = from < len ? memchr(buf + from, '\r', len - from) : NULL;
    if (!cr) {
        p->scan = len;
        return len - p->pos > p->lim.max_inline ? fail_line(p, too_big) : 0;
    }
    size_t at = (size_t)(cr - buf);
    p->scan = at;
    if (at - p->pos > p->lim.max_inline)
        return fail_line(p, too_big);
    if (at + 1 >= len)
        return 0;
    if (buf[at + 1] != '\n')
        return fail_line(p, "expected '\\n' after '\\r'");
    *eol = at;
    return 1;
}

static enum resp_status parse_mb_count(struct resp_parser *p, char *buf, size_t len,
                                       struct resp_request *req)
{
    size_t eol;
    int r = find_crlf(p, buf, len, &eol, "too big mbulk count string");
    if (r <= 0)
        return r < 0 ? RESP_ERROR : RESP_NEED_MORE;
    long long n;
    bool ok = resp_parse_ll(buf + 1, eol - 1, &n);
    if (!ok || (n > 0 && (unsigned long long)n > p->lim.max_args))
        return fail(p, ok && p->lim.unauthenticated ? "unauthenticated multibulk length"
                                                    : "invalid multibulk length");
    p->pos = eol + 2;
    if (n <= 0) /* "*0" and "*-1" are empty requests, skipped like Redis */
        return done(p, buf, p->pos, req);
    p->argc_want = n;
    p->state = PS_BULK_HDR;
    return RESP_NEED_MORE;
}

static enum resp_status parse_bulk_hdr(struct resp_parser *p, char *buf, size_t len)
{
    if (p->pos >= len)
        return RESP_NEED_MORE;
    unsigned char c = (unsigned char)buf[p->pos];
    if (c != '$') {
        char msg[48];
        if (c > 0x20 && c < 0x7f)
            snprintf(msg, sizeof(msg), "expected '$', got '%c'", c);
        else
            snprintf(msg, sizeof(msg), "expected '$', got '\\x%02x'", c);
        return fail(p, msg);
    }
    size_t eol;
    int r = find_crlf(p, buf, len, &eol, "too big bulk count string");
    if (r <= 0)
        return r < 0 ? RESP_ERROR : RESP_NEED_MORE;
    long long n;
    bool ok = resp_parse_ll(buf + p->pos + 1, eol - p->pos - 1, &n);
    if (!ok || n < 0 || (unsigned long long)n > p->lim.max_bulk)
        return fail(p, ok && n >= 0 && p->lim.unauthenticated ? "unauthenticated bulk length"
                                                              : "invalid bulk length");
    p->bulk_len = (size_t)n;
    p->pos = eol + 2;
    p->state = PS_BULK_DATA;
    return RESP_NEED_MORE;
}

static enum resp_status parse_bulk_data(struct resp_parser *p, char *buf, size_t len,
                                        struct resp_request *req)
{
    if (len - p->pos < p->bulk_len + 2)
        return RESP_NEED_MORE;
    size_t end = p->pos + p->bulk_len;
    if (buf[end] != '\r' || buf[end + 1] != '\n')
        return fail(p, "bulk string not terminated by CRLF");
    if (!argv_push(p, p->pos, p->bulk_len))
        return fail(p, "out of memory");
    p->pos = end + 2;
    p->scan = p->pos;
    if ((int64_t)p->argc == p->argc_want)
        return done(p, buf, p->pos, req);
    p->state = PS_BULK_HDR;
    return RESP_NEED_MORE;
}

static enum resp_status parse_multibulk(struct resp_parser *p, char *buf, size_t len,
                                        struct resp_request *req)
{
    if (p->state == PS_MB_COUNT) {
        enum resp_status st = parse_mb_count(p, buf, len, req);
        if (st != RESP_NEED_MORE || p->state == PS_MB_COUNT)
            return st;
    }
    /* Alternate header and payload until a step cannot progress. */
    for (;;) {
        int was = p->state;
        enum resp_status st = was == PS_BULK_HDR ? parse_bulk_hdr(p, buf, len)
                                                 : parse_bulk_data(p, buf, len, req);
        if (st != RESP_NEED_MORE || p->state == was)
            return st;
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* One escape inside double quotes at *r (a backslash); returns the byte and advances *r. */
static char unescape(const char **r, const char *end)
{
    const char *s = *r;
    if (end - s >= 4 && s[1] == 'x' && hexval(s[2]) >= 0 && hexval(s[3]) >= 0) {
        *r = s + 4;
        return (char)(hexval(s[2]) * 16 + hexval(s[3]));
    }
    *r = s + 2;
    switch (s[1]) {
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    case 'b': return '\b';
    case 'a': return '\a';
    default: return s[1];
    }
}

/*
 * One word of an inline line (sdssplitargs rules), unescaped in place:
 * bytes are read at *r and written at *w, and w never passes r.
 * Returns false on unbalanced quotes.
 */
static bool inline_word(const char **r, char **w, const char *end)
{
    char quote = 0;
    while (*r < end) {
        const char *s = *r;
        if (!quote && (is_blank(*s) || *s == '\0'))
            return true;
        if (!quote && (*s == '"' || *s == '\'')) {
            quote = *s;
            *r = s + 1;
        } else if (quote && *s == quote) {
            /* a closing quote must end the word */
            *r = s + 1;
            return *r == end || is_blank(**r);
        } else if (quote == '"' && *s == '\\' && end - s >= 2) {
            *(*w)++ = unescape(r, end);
        } else if (quote == '\'' && *s == '\\' && end - s >= 2 && s[1] == '\'') {
            *(*w)++ = '\'';
            *r = s + 2;
        } else {
            *(*w)++ = *s;
            *r = s + 1;
        }
    }
    return quote == 0;
}

static enum resp_status split_inline(struct resp_parser *p, char *buf, size_t linelen)
{
    const char *r = buf, *end = buf + linelen;
    char *w = buf;
    for (;;) {
        while (r < end && (is_blank(*r) || *r == '\0'))
            r++;
        if (r == end)
            return RESP_DONE;
        char *start = w;
        if (!inline_word(&r, &w, end))
            return fail(p, "unbalanced quotes in request");
        if (p->argc >= p->lim.max_args)
            return fail(p, "invalid multibulk length");
        if (!argv_push(p, (size_t)(start - buf), (size_t)(w - start)))
            return fail(p, "out of memory");
    }
}

static enum resp_status parse_inline(struct resp_parser *p, char *buf, size_t len,
                                     struct resp_request *req)
{
    const char *nl = p->scan < len ? memchr(buf + p->scan, '\n', len - p->scan) : NULL;
    if (!nl) {
        p->scan = len;
        if (len > p->lim.max_inline)
            return fail(p, "too big inline request");
        return RESP_NEED_MORE;
    }
    size_t at = (size_t)(nl - buf);
    if (at > p->lim.max_inline)
        return fail(p, "too big inline request");
    size_t linelen = at > 0 && buf[at - 1] == '\r' ? at - 1 : at;
    if (split_inline(p, buf, linelen) != RESP_DONE)
        return RESP_ERROR;
    return done(p, buf, at + 1, req);
}

enum resp_status resp_parse(struct resp_parser *p, char *buf, size_t len,
                            struct resp_request *req)
{
    req->argc = 0;
    req->argv = NULL;
    req->size = 0;
    if (p->state == PS_IDLE) {
        if (len == 0)
            return RESP_NEED_MORE;
        argv_trim(p);
        p->state = buf[0] == '*' ? PS_MB_COUNT : PS_INLINE;
    }
    if (p->state == PS_INLINE)
        return parse_inline(p, buf, len, req);
    return parse_multibulk(p, buf, len, req);
}
