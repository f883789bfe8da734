/* hiredis helpers for kvs-server tests; see expect.h. */
#include "expect.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

redisContext *ex_connect(uint16_t port)
{
    struct timeval tv = {.tv_sec = 10};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    ck_assert_msg(c && !c->err, "connect to %u: %s", (unsigned)port, c ? c->errstr : "?");
    redisSetTimeout(c, tv);
    return c;
}

redisReply *ex_cmd(redisContext *c, const char *first, ...)
{
    const char *argv[64];
    size_t lens[64];
    int argc = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && argc < 64; a = va_arg(ap, const char *)) {
        argv[argc] = a;
        lens[argc++] = strlen(a);
    }
    va_end(ap);
    redisReply *r = redisCommandArgv(c, argc, argv, lens);
    ck_assert_msg(r != NULL, "no reply to %s: %s", first, c->errstr);
    return r;
}

/* What a reply is, for messages. */
static const char *describe(const redisReply *r, char *buf, size_t n)
{
    switch (r->type) {
    case REDIS_REPLY_STRING: snprintf(buf, n, "bulk '%.*s'", (int)r->len, r->str); break;
    case REDIS_REPLY_STATUS: snprintf(buf, n, "status '%s'", r->str); break;
    case REDIS_REPLY_ERROR: snprintf(buf, n, "error '%s'", r->str); break;
    case REDIS_REPLY_INTEGER: snprintf(buf, n, "integer %lld", r->integer); break;
    case REDIS_REPLY_NIL: snprintf(buf, n, "nil"); break;
    case REDIS_REPLY_ARRAY: snprintf(buf, n, "array of %zu", r->elements); break;
    default: snprintf(buf, n, "type %d", r->type); break;
    }
    return buf;
}

static void expect_text(redisReply *r, int type, const char *want, const char *what)
{
    char got[256];
    ck_assert_msg(r->type == type && r->len == strlen(want) && memcmp(r->str, want, r->len) == 0,
                  "expected %s '%s', got %s", what, want, describe(r, got, sizeof(got)));
    freeReplyObject(r);
}

void ex_status(redisReply *r, const char *status)
{
    expect_text(r, REDIS_REPLY_STATUS, status, "status");
}

void ex_error(redisReply *r, const char *error)
{
    expect_text(r, REDIS_REPLY_ERROR, error, "error");
}

void ex_str(redisReply *r, const char *s)
{
    expect_text(r, REDIS_REPLY_STRING, s, "bulk");
}

void ex_int(redisReply *r, long long v)
{
    char got[256];
    ck_assert_msg(r->type == REDIS_REPLY_INTEGER && r->integer == v, "expected integer %lld, got %s",
                  v, describe(r, got, sizeof(got)));
    freeReplyObject(r);
}

void ex_nil(redisReply *r)
{
    char got[256];
    ck_assert_msg(r->type == REDIS_REPLY_NIL, "expected nil, got %s", describe(r, got, sizeof(got)));
    freeReplyObject(r);
}

long long ex_int_in(redisReply *r, long long lo, long long hi)
{
    char got[256];
    ck_assert_msg(r->type == REDIS_REPLY_INTEGER && r->integer >= lo && r->integer <= hi,
                  "expected an integer in [%lld, %lld], got %s", lo, hi,
                  describe(r, got, sizeof(got)));
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

void ex_info_str(redisContext *c, const char *section, const char *field, char *out, size_t n)
{
    redisReply *r = ex_cmd(c, "INFO", section, NULL);
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    char key[128];
    snprintf(key, sizeof(key), "\r\n%s:", field);
    const char *p = strstr(r->str, key);
    ck_assert_msg(p, "INFO %s has no %s", section, field);
    p += strlen(key);
    size_t len = strcspn(p, "\r");
    ck_assert_uint_lt(len, n);
    memcpy(out, p, len);
    out[len] = '\0';
    freeReplyObject(r);
}

long long ex_info_ll(redisContext *c, const char *section, const char *field)
{
    char text[64], *end;
    ex_info_str(c, section, field, text, sizeof(text));
    long long v = strtoll(text, &end, 10);
    ck_assert_msg(*text && !*end, "INFO %s: %s is '%s'", section, field, text);
    return v;
}

long long ex_unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
