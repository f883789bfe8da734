/*
 * Counters: INCR, DECR, INCRBY, DECRBY, INCRBYFLOAT.
 *
 * Each is one kvs_update(): the old value is parsed and the new one
 * written with no other write in between, so concurrent increments never
 * lose one. The expiry is kept, as Redis does. Parsing and formatting are
 * Redis 7.0's: integers as string2ll (no blanks, no '+', no leading zeros,
 * 64-bit), floats as string2ld (strtold, no leading blank, no NaN) and
 * printed with "%.17Lf" less trailing zeros.
 */
#include <errno.h>
#include <kvs.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "update.h"

/* Longest float Redis parses, and room for the longest it prints (MAX_LONG_DOUBLE_CHARS). */
#define FLOAT_CHARS 5120

/* ---- integers ---- */

struct incr {
    struct update_base u;
    long long by;
    long long result;
    char text[24];
};

static int incr_cb(void *ctx, const void *old, size_t oldlen, int found, kvs_update_value_t *out)
{
    struct incr *c = ctx;
    long long v = 0;
    if (found && !resp_parse_ll(old, oldlen, &v)) {
        c->u.error = "ERR value is not an integer or out of range";
        return UPDATE_ABORT;
    }
    if ((c->by < 0 && v < 0 && c->by < LLONG_MIN - v) ||
        (c->by > 0 && v > 0 && c->by > LLONG_MAX - v)) {
        c->u.error = "ERR increment or decrement would overflow";
        return UPDATE_ABORT;
    }
    c->result = v + c->by;
    out->val = c->text;
    out->vlen = (size_t)snprintf(c->text, sizeof(c->text), "%lld", c->result);
    c->u.wrote = true;
    return KVS_UPDATE_SET; /* the expiry stays as it came in */
}

static void incr_by(struct session *s, const struct resp_arg *key, long long by)
{
    if (!key_check(s, key))
        return;
    struct incr c = {.by = by};
    update_begin(&c.u, s);
    int rc = kvs_update(s->srv->db, key->ptr, key->len, incr_cb, &c);
    if (update_end(&c.u, rc))
        resp_add_int(s->out, c.result);
}

void cmd_incr(struct session *s, size_t argc, const struct resp_arg *argv)
{
    (void)argc;
    incr_by(s, &argv[1], 1);
}

void cmd_decr(struct session *s, size_t argc, const struct resp_arg *argv)
{
    (void)argc;
    incr_by(s, &argv[1], -1);
}

void cmd_incrby(struct session *s, size_t argc, const struct resp_arg *argv)
{
    (void)argc;
    long long by;
    if (!resp_parse_ll(argv[2].ptr, argv[2].len, &by))
        reply_not_integer(s);
    else
        incr_by(s, &argv[1], by);
}

void cmd_decrby(struct session *s, size_t argc, const struct resp_arg *argv)
{
    (void)argc;
    long long by;
    if (!resp_parse_ll(argv[2].ptr, argv[2].len, &by))
        reply_not_integer(s);
    else if (by == LLONG_MIN) /* its negation does not exist */
        resp_add_error(s->out, "ERR decrement would overflow");
    else
        incr_by(s, &argv[1], -by);
}

/* ---- INCRBYFLOAT ---- */

/* Redis's string2ld: up to the end (or a NUL byte, as C strings end), no leading blank,
 * finite or infinite but not NaN, no overflow or underflow to zero. */
static bool parse_float(const char *p, size_t n, long double *out)
{
    char buf[FLOAT_CHARS];
    if (n == 0 || n >= sizeof(buf))
        return false;
    memcpy(buf, p, n);
    buf[n] = '\0';
    if (buf[0] == ' ' || (buf[0] >= '\t' && buf[0] <= '\r')) /* isspace() in the C locale */
        return false;
    char *end;
    errno = 0;
    long double v = strtold(buf, &end);
    if (*end != '\0' || isnan(v) || errno == EINVAL ||
        (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || v == 0)))
        return false;
    *out = v;
    return true;
}

/* Redis's ld2string(LD_STR_HUMAN): "%.17Lf", trailing zeros and point dropped, "-0" as "0". */
static size_t format_float(long double v, char *buf, size_t n)
{
    int w = snprintf(buf, n, "%.17Lf", v);
    if (w < 0 || (size_t)w >= n)
        return 0;
    size_t len = (size_t)w;
    if (memchr(buf, '.', len)) {
        while (buf[len - 1] == '0')
            len--;
        if (buf[len - 1] == '.')
            len--;
    }
    if (len == 2 && buf[0] == '-' && buf[1] == '0') {
        buf[0] = '0';
        len = 1;
    }
    buf[len] = '\0';
    return len;
}

struct incrf {
    struct update_base u;
    long double by;
    char text[FLOAT_CHARS];
    size_t len;
};

static int incrf_cb(void *ctx, const void *old, size_t oldlen, int found,
                    kvs_update_value_t *out)
{
    struct incrf *c = ctx;
    long double v = 0;
    if (found && !parse_float(old, oldlen, &v)) {
        c->u.error = "ERR value is not a valid float";
        return UPDATE_ABORT;
    }
    v += c->by;
    if (isnan(v) || isinf(v)) {
        c->u.error = "ERR increment would produce NaN or Infinity";
        return UPDATE_ABORT;
    }
    c->len = format_float(v, c->text, sizeof(c->text));
    out->val = c->text;
    out->vlen = c->len;
    c->u.wrote = true;
    return KVS_UPDATE_SET;
}

void cmd_incrbyfloat(struct session *s, size_t argc, const struct resp_arg *argv)
{
    (void)argc;
    struct incrf *c = malloc(sizeof(*c)); /* 5 KiB: not on a worker's stack */
    if (!c) {
        resp_add_error(s->out, "ERR out of memory");
        return;
    }
    *c = (struct incrf){.len = 0};
    if (!key_check(s, &argv[1])) {
        free(c);
        return;
    }
    if (!parse_float(argv[2].ptr, argv[2].len, &c->by)) {
        resp_add_error(s->out, "ERR value is not a valid float");
        free(c);
        return;
    }
    update_begin(&c->u, s);
    int rc = kvs_update(s->srv->db, argv[1].ptr, argv[1].len, incrf_cb, c);
    if (update_end(&c->u, rc))
        resp_add_bulk(s->out, c->text, c->len);
    free(c);
}
