/*
 * Expiry of existing keys: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (with
 * Redis 7.0's NX, XX, GT, LT), PERSIST, and reading it: TTL, PTTL,
 * EXPIRETIME, PEXPIRETIME.
 *
 * Without options EXPIRE is one kvs_expire() (or, for a time already past,
 * a kvs_remove(), as Redis deletes the key). With options, and for
 * PERSIST, the condition is checked against the current expiry and the new
 * one written in one kvs_update(). libkvs rewrites the value to change its
 * expiry (records never change in place), so these cost a write of the
 * value; and as the old value a kvs_update() callback sees is valid during
 * the callback only, the value is copied first (see doc/SERVER.md).
 */
#include <kvs.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "expiry.h"
#include "update.h"

enum expire_flags { EF_NX = 1u << 0, EF_XX = 1u << 1, EF_GT = 1u << 2, EF_LT = 1u << 3 };

/* NX XX GT LT after the time; false (with the error replied) on a bad or incompatible one. */
static bool parse_flags(struct session *s, size_t argc, const struct resp_arg *argv,
                        unsigned *flags)
{
    static const char *const names[] = {"nx", "xx", "gt", "lt"};
    *flags = 0;
    for (size_t j = 3; j < argc; j++) {
        unsigned f = 0;
        for (unsigned i = 0; i < 4 && !f; i++)
            f = arg_is(&argv[j], names[i]) ? 1u << i : 0;
        if (!f) {
            char opt[256];
            resp_sanitize(opt, sizeof(opt), argv[j].ptr, argv[j].len);
            resp_add_errorf(s->out, "ERR Unsupported option %s", opt);
            return false;
        }
        *flags |= f;
    }
    if ((*flags & EF_NX) && (*flags & (EF_XX | EF_GT | EF_LT))) {
        resp_add_error(s->out, "ERR NX and XX, GT or LT options at the same time are not "
                               "compatible");
        return false;
    }
    if ((*flags & EF_GT) && (*flags & EF_LT)) {
        resp_add_error(s->out, "ERR GT and LT options at the same time are not compatible");
        return false;
    }
    return true;
}

/* The time argument as an absolute time in ms (may be negative: already past). */
static bool parse_when(struct session *s, const struct resp_arg *a, bool seconds,
                       long long base, const char *name, long long *when)
{
    if (!resp_parse_ll(a->ptr, a->len, when)) {
        reply_not_integer(s);
        return false;
    }
    bool bad = seconds && (*when > LLONG_MAX / 1000 || *when < LLONG_MIN / 1000);
    if (!bad && seconds)
        *when *= 1000;
    if (bad || *when > LLONG_MAX - base) {
        resp_add_errorf(s->out, "ERR invalid expire time in '%s' command", name);
        return false;
    }
    *when += base;
    return true;
}

/* ---- conditional expiry and PERSIST, through kvs_update ---- */

struct expire_ctx {
    struct update_base u;
    unsigned flags;
    long long when;     /* new expiry; EXPIRE_PERSIST for PERSIST */
    long long now;
    void *copy;         /* the value, copied: freed by the caller */
    long long result;   /* the integer reply */
};

#define EXPIRE_PERSIST LLONG_MIN

/* Redis's checks of NX XX GT LT against the current expiry (0: none, "infinite"). */
static bool flags_allow(unsigned flags, long long cur, long long when)
{
    if ((flags & EF_NX) && cur != 0)
        return false;
    if ((flags & EF_XX) && cur == 0)
        return false;
    if ((flags & EF_GT) && (cur == 0 || when <= cur))
        return false;
    if ((flags & EF_LT) && cur != 0 && when >= cur)
        return false;
    return true;
}

static int expire_cb(void *ctx, const void *old, size_t oldlen, int found,
                     kvs_update_value_t *out)
{
    struct expire_ctx *c = ctx;
    long long cur = (long long)out->expire_at_ms;
    bool persist = c->when == EXPIRE_PERSIST;
    if (!found || (persist ? cur == 0 : !flags_allow(c->flags, cur, c->when)))
        return KVS_UPDATE_KEEP; /* result 0 */
    c->result = 1;
    c->u.wrote = true;
    if (!persist && c->when <= c->now)
        return KVS_UPDATE_REMOVE;
    c->copy = malloc(oldlen ? oldlen : 1);
    if (!c->copy)
        return KVS_ENOMEM;
    memcpy(c->copy, old, oldlen);
    out->val = c->copy;
    out->vlen = oldlen;
    out->expire_at_ms = persist ? 0 : (uint64_t)c->when;
    return KVS_UPDATE_SET;
}

static void expire_update(struct session *s, const struct resp_arg *key, unsigned flags,
                          long long when, long long now)
{
    struct expire_ctx c = {.flags = flags, .when = when, .now = now};
    update_begin(&c.u, s);
    int rc = kvs_update(s->srv->db, key->ptr, key->len, expire_cb, &c);
    free(c.copy);
    if (update_end(&c.u, rc))
        resp_add_int(s->out, c.result);
}

/* Without options: one kvs_expire(), or kvs_remove() for a time already past. */
static void expire_plain(struct session *s, const struct resp_arg *key, long long when,
                         long long now)
{
    kvs_t *db = s->srv->db;
    int rc = when <= now ? kvs_remove(db, key->ptr, key->len)
                         : kvs_expire(db, key->ptr, key->len, (uint64_t)when);
    if (rc == KVS_OK)
        s->wrote = true;
    if (rc == KVS_OK || rc == KVS_NOT_FOUND)
        resp_add_int(s->out, rc == KVS_OK);
    else
        reply_storage_error(s, rc);
}

/* EXPIRE and its forms: seconds or ms, relative (base now) or absolute. */
static void expire_generic(struct session *s, size_t argc, const struct resp_arg *argv,
                           bool seconds, bool relative, const char *name)
{
    unsigned flags;
    long long when, now = expiry_now_ms();
    if (!parse_flags(s, argc, argv, &flags) ||
        !parse_when(s, &argv[2], seconds, relative ? now : 0, name, &when))
        return;
    if (!key_storable(&argv[1]))
        resp_add_int(s->out, 0);
    else if (flags)
        expire_update(s, &argv[1], flags, when, now);
    else
        expire_plain(s, &argv[1], when, now);
}

void cmd_expire(struct session *s, size_t argc, const struct resp_arg *argv)
{
    expire_generic(s, argc, argv, true, true, "expire");
}

void cmd_pexpire(struct session *s, size_t argc, const struct resp_arg *argv)
{
    expire_generic(s, argc, argv, false, true, "pexpire");
}

void cmd_expireat(struct session *s, size_t argc, const struct resp_arg *argv)
{
    expire_generic(s, argc, argv, true, false, "expireat");
}

void cmd_pexpireat(struct session *s, size_t argc, const struct resp_arg *argv)
{
    expire_generic(s, argc, argv, false, false, "pexpireat");
}

void cmd_persist(struct session *s, size_t argc, const struct resp_arg *argv)
{
    (void)argc;
    if (!key_storable(&argv[1]))
        resp_add_int(s->out, 0);
    else
        expire_update(s, &argv[1], 0, EXPIRE_PERSIST, 0);
}

/* ---- reading the expiry ---- */

/* TTL (relative) or EXPIRETIME (absolute), in ms or rounded to seconds as Redis. */
static void ttl_generic(struct session *s, const struct resp_arg *key, bool ms, bool absolute)
{
    uint64_t at = 0;
    int rc = key_storable(key) ? kvs_get_expire(s->srv->db, key->ptr, key->len, &at)
                               : KVS_NOT_FOUND;
    if (rc == KVS_NOT_FOUND) {
        resp_add_int(s->out, -2);
        return;
    }
    if (rc != KVS_OK) {
        reply_storage_error(s, rc);
        return;
    }
    if (at == 0) {
        resp_add_int(s->out, -1);
        return;
    }
    long long t = absolute ? (long long)at : (long long)at - expiry_now_ms();
    if (t < 0)
        t = 0;
    resp_add_int(s->out, ms ? t : t / 1000 + (t % 1000 + 500) / 1000); /* rounded, no overflow */
}

void cmd_ttl(struct session *s, size_t argc, const struct resp_arg *argv)
{
    (void)argc;
    ttl_generic(s, &argv[1], false, false);
}

void cmd_pttl(struct session *s, size_t argc, const struct resp_arg *argv)
{
    (void)argc;
    ttl_generic(s, &argv[1], true, false);
}

void cmd_expiretime(struct session *s, size_t argc, const struct resp_arg *argv)
{
    (void)argc;
    ttl_generic(s, &argv[1], false, true);
}

void cmd_pexpiretime(struct session *s, size_t argc, const struct resp_arg *argv)
{
    (void)argc;
    ttl_generic(s, &argv[1], true, true);
}
