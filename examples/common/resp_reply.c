/*
 * RESP2 reply encoder and small helpers shared with the parser; see resp.h.
 * Every encoder reserves room once and writes in place: replies are built
 * for every request, so they avoid stdio.
 */
#include <stdarg.h>
#include <stdio.h>

#include "resp.h"

/* Longest "<prefix><digits>\r\n" header: 1 + 20 digits + sign + CRLF. */
#define HDR_MAX 24

/* Write v in decimal at p; returns the number of bytes written. */
static size_t fmt_u64(char *p, unsigned long long v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

/* Write "<type><v>\r\n" at p (HDR_MAX bytes); returns its length. */
static size_t format_header(char *p, char type, long long v)
{
    size_t n = 0;
    p[n++] = type;
    if (v < 0) {
        p[n++] = '-';
        n += fmt_u64(p + n, 0ull - (unsigned long long)v);
    } else {
        n += fmt_u64(p + n, (unsigned long long)v);
    }
    p[n++] = '\r';
    p[n++] = '\n';
    return n;
}

static void add_header(struct buf *out, char type, long long v)
{
    char hdr[HDR_MAX];
    buf_append(out, hdr, format_header(hdr, type, v));
}

size_t resp_sanitize(char *dst, size_t dstlen, const char *p, size_t n)
{
    size_t w = 0;
    if (dstlen == 0)
        return 0;
    for (size_t i = 0; i < n && w + 1 < dstlen && p[i] != '\0'; i++)
        dst[w++] = p[i] == '\r' || p[i] == '\n' ? ' ' : p[i];
    dst[w] = '\0';
    return w;
}

void resp_add_simple(struct buf *out, const char *s)
{
    size_t n = strlen(s);
    if (buf_reserve(out, n + 3) != 0)
        return;
    char *p = out->data + out->len;
    p[0] = '+';
    memcpy(p + 1, s, n);
    p[n + 1] = '\r';
    p[n + 2] = '\n';
    out->len += n + 3;
}

void resp_add_error(struct buf *out, const char *msg)
{
    size_t n = strlen(msg);
    if (buf_reserve(out, n + 3) != 0)
        return;
    char *p = out->data + out->len;
    p[0] = '-';
    resp_sanitize(p + 1, n + 1, msg, n);
    p[n + 1] = '\r';
    p[n + 2] = '\n';
    out->len += n + 3;
}

void resp_add_errorf(struct buf *out, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    resp_add_error(out, msg);
}

void resp_add_int(struct buf *out, long long v)
{
    add_header(out, ':', v);
}

void resp_add_bulk(struct buf *out, const void *p, size_t n)
{
    char hdr[HDR_MAX];
    size_t h = format_header(hdr, '$', (long long)n);
    if (buf_reserve(out, h + n + 2) != 0)
        return;
    char *w = out->data + out->len;
    memcpy(w, hdr, h);
    if (n)
        memcpy(w + h, p, n);
    w[h + n] = '\r';
    w[h + n + 1] = '\n';
    out->len += h + n + 2;
}

void resp_add_bulk_str(struct buf *out, const char *s)
{
    resp_add_bulk(out, s, strlen(s));
}

void resp_add_null(struct buf *out)
{
    buf_append(out, "$-1\r\n", 5);
}

void resp_add_array(struct buf *out, size_t n)
{
    add_header(out, '*', (long long)n);
}

void resp_add_null_array(struct buf *out)
{
    buf_append(out, "*-1\r\n", 5);
}

bool resp_parse_ll(const char *p, size_t n, long long *out)
{
    size_t i = 0;
    bool neg = false;
    unsigned long long v = 0;
    /* "0", or an optional '-' and digits without a leading zero, at most 20 chars */
    if (n == 0 || n > 20)
        return false;
    if (n == 1 && p[0] == '0') {
        *out = 0;
        return true;
    }
    if (p[0] == '-') {
        neg = true;
        i = 1;
    }
    if (i >= n || p[i] < '1' || p[i] > '9')
        return false;
    for (; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        unsigned d = (unsigned)(p[i] - '0');
        if (v > (~0ull - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > (unsigned long long)9223372036854775807ll + 1)
            return false;
        *out = v == (unsigned long long)9223372036854775807ll + 1 ? (-9223372036854775807ll - 1)
                                                                   : -(long long)v;
    } else {
        if (v > 9223372036854775807ull)
            return false;
        *out = (long long)v;
    }
    return true;
}
