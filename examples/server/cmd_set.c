/*
 * Writing a whole value: SET (NX XX GET KEEPTTL EX PX EXAT PXAT), SETNX,
 * SETEX, PSETEX, GETSET.
 *
 * Each is one atomic libkvs call: kvs_set_expire() checks NX/XX and keeps
 * or sets the expiry in the same step; the forms that return the old value
 * (SET ... GET, GETSET) read and replace it in one kvs_update().
 */
#include <kvs.h>

#include "commands.h"
#include "expiry.h"
#include "update.h"

/* The write of SET ... GET and GETSET, decided on the old value. */
struct set_get {
    struct update_base u;
    const struct resp_arg *val;
    unsigned flags;   /* SO_NX / SO_XX / SO_KEEPTTL */
    uint64_t at_ms;   /* expiry to write; 0: none */
};

static int set_get_cb(void *ctx, const void *old, size_t oldlen, int found,
                      kvs_update_value_t *out)
{
    struct set_get *c = ctx;
    int rc = update_reply_old(&c->u, old, oldlen, found, NULL);
    if (rc != 0)
        return rc;
    if (((c->flags & SO_NX) && found) || ((c->flags & SO_XX) && !found))
        return KVS_UPDATE_KEEP; /* the reply is the old value all the same */
    out->val = c->val->ptr;
    out->vlen = c->val->len;
    if (!(c->flags & SO_KEEPTTL))
        out->expire_at_ms = c->at_ms; /* else it came in as the current one */
    c->u.wrote = true;
    return KVS_UPDATE_SET;
}

static void set_with_get(struct session *s, const struct resp_arg *argv, unsigned flags,
                         uint64_t at_ms)
{
    struct set_get c = {.val = &argv[2], .flags = flags, .at_ms = at_ms};
    update_begin(&c.u, s);
    int rc = kvs_update(s->srv->db, argv[1].ptr, argv[1].len, set_get_cb, &c);
    update_end(&c.u, rc);
}

/* kvs_set_expire() with Redis's replies: ok_reply, or abort_reply when NX/XX failed. */
static void set_plain(struct session *s, const struct resp_arg *argv, unsigned flags,
                      uint64_t at_ms, bool integer_reply)
{
    unsigned kf = (flags & SO_NX ? KVS_SET_IF_ABSENT : 0u) |
                  (flags & SO_XX ? KVS_SET_IF_PRESENT : 0u) |
                  (flags & SO_KEEPTTL ? KVS_SET_KEEP_EXPIRY : 0u);
    int rc = kvs_set_expire(s->srv->db, argv[1].ptr, argv[1].len, argv[2].ptr, argv[2].len,
                            at_ms, kf);
    bool done = rc == KVS_OK, refused = rc == KVS_EXISTS || rc == KVS_NOT_FOUND;
    if (done)
        s->wrote = true;
    if (integer_reply && (done || refused))
        resp_add_int(s->out, done);
    else if (done)
        resp_add_simple(s->out, "OK");
    else if (refused)
        resp_add_null(s->out);
    else
        reply_storage_error(s, rc);
}

void cmd_set(struct session *s, size_t argc, const struct resp_arg *argv)
{
    struct string_opts o;
    if (!string_opts_parse(argc, argv, true, &o)) {
        reply_syntax_error(s);
        return;
    }
    uint64_t at_ms = 0;
    enum expiry_status st = o.expire ? expiry_from_arg(o.flags, o.expire, expiry_now_ms(), &at_ms)
                                     : EXPIRY_OK;
    if (st != EXPIRY_OK) {
        reply_expiry_error(s, st, "set");
        return;
    }
    if (!key_check(s, &argv[1]))
        return;
    if (o.flags & SO_GET)
        set_with_get(s, argv, o.flags, at_ms);
    else
        set_plain(s, argv, o.flags, at_ms, false);
}

void cmd_setnx(struct session *s, size_t argc, const struct resp_arg *argv)
{
    (void)argc;
    if (key_check(s, &argv[1]))
        set_plain(s, argv, SO_NX, 0, true);
}

/* SETEX / PSETEX key time value: SET key value EX|PX time. */
static void setex(struct session *s, const struct resp_arg *argv, unsigned unit, const char *name)
{
    uint64_t at_ms;
    enum expiry_status st = expiry_from_arg(unit, &argv[2], expiry_now_ms(), &at_ms);
    if (st != EXPIRY_OK) {
        reply_expiry_error(s, st, name);
        return;
    }
    if (!key_check(s, &argv[1]))
        return;
    struct resp_arg kv[3] = {argv[0], argv[1], argv[3]};
    set_plain(s, kv, 0, at_ms, false);
}

void cmd_setex(struct session *s, size_t argc, const struct resp_arg *argv)
{
    (void)argc;
    setex(s, argv, SO_EX, "setex");
}

void cmd_psetex(struct session *s, size_t argc, const struct resp_arg *argv)
{
    (void)argc;
    setex(s, argv, SO_PX, "psetex");
}

/* GETSET key value: SET key value GET, the expiry cleared. */
void cmd_getset(struct session *s, size_t argc, const struct resp_arg *argv)
{
    (void)argc;
    if (key_check(s, &argv[1]))
        set_with_get(s, argv, 0, 0);
}
