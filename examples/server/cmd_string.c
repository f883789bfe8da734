/*
 * Changing or taking a value in place: APPEND, GETDEL, GETEX.
 *
 * Each is one kvs_update(): the old value is read and the new one written
 * with no other write in between. libkvs never changes a record in place,
 * so APPEND writes the whole new value (its cost grows with the value, not
 * with what is appended), and GETEX rewrites the value to change its expiry.
 */
#include <kvs.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "expiry.h"
#include "update.h"

/* ---- APPEND ---- */

struct append {
    struct update_base u;
    const struct resp_arg *tail;
    size_t limit;   /* largest value (--max-bulk, Redis's proto-max-bulk-len) */
    char *joined;   /* old value + tail; freed by the caller */
    size_t len;
};

static int append_cb(void *ctx, const void *old, size_t oldlen, int found,
                     kvs_update_value_t *out)
{
    struct append *c = ctx;
    if (!found) {
        out->val = c->tail->ptr;
        c->len = c->tail->len;
    } else {
        if (oldlen > c->limit || c->tail->len > c->limit - oldlen) {
            c->u.error = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
            return UPDATE_ABORT;
        }
        c->len = oldlen + c->tail->len;
        c->joined = malloc(c->len ? c->len : 1);
        if (!c->joined)
            return KVS_ENOMEM;
        memcpy(c->joined, old, oldlen);
        memcpy(c->joined + oldlen, c->tail->ptr, c->tail->len);
        out->val = c->joined;
    }
    out->vlen = c->len; /* the expiry stays as it came in */
    c->u.wrote = true;
    return KVS_UPDATE_SET;
}

void cmd_append(struct session *s, size_t argc, const struct resp_arg *argv)
{
    (void)argc;
    if (!key_check(s, &argv[1]))
        return;
    struct append c = {.tail = &argv[2], .limit = s->srv->cfg->max_bulk};
    update_begin(&c.u, s);
    int rc = kvs_update(s->srv->db, argv[1].ptr, argv[1].len, append_cb, &c);
    free(c.joined);
    if (update_end(&c.u, rc))
        resp_add_int(s->out, (long long)c.len);
}

/* ---- GETDEL ---- */

static int getdel_cb(void *ctx, const void *old, size_t oldlen, int found,
                     kvs_update_value_t *out)
{
    (void)out;
    struct update_base *u = ctx;
    int rc = update_reply_old(u, old, oldlen, found, NULL);
    if (rc != 0)
        return rc;
    u->wrote = found;
    return found ? KVS_UPDATE_REMOVE : KVS_UPDATE_KEEP;
}

void cmd_getdel(struct session *s, size_t argc, const struct resp_arg *argv)
{
    (void)argc;
    if (!key_storable(&argv[1])) {
        resp_add_null(s->out);
        return;
    }
    struct update_base u;
    update_begin(&u, s);
    int rc = kvs_update(s->srv->db, argv[1].ptr, argv[1].len, getdel_cb, &u);
    update_end(&u, rc);
}

/* ---- GETEX ---- */

struct getex {
    struct update_base u;
    unsigned flags;
    enum expiry_status st; /* of the time argument: reported only if the key exists */
    uint64_t at_ms;
    long long now_ms;
};

/* The value's new expiry, or a removal (absolute time already past). */
static int getex_decide(struct getex *c, const void *copy, size_t len, kvs_update_value_t *out)
{
    if ((c->flags & (SO_EXAT | SO_PXAT)) && c->at_ms <= (uint64_t)c->now_ms) {
        c->u.wrote = true;
        return KVS_UPDATE_REMOVE;
    }
    if (!(c->flags & SO_ANY_EXPIRY) && !((c->flags & SO_PERSIST) && out->expire_at_ms != 0))
        return KVS_UPDATE_KEEP; /* plain GETEX, or PERSIST of a permanent value */
    out->val = copy;
    out->vlen = len;
    out->expire_at_ms = c->flags & SO_PERSIST ? 0 : c->at_ms;
    c->u.wrote = true;
    return KVS_UPDATE_SET;
}

static int getex_cb(void *ctx, const void *old, size_t oldlen, int found,
                    kvs_update_value_t *out)
{
    struct getex *c = ctx;
    if (found && c->st != EXPIRY_OK) { /* as Redis: a bad time matters only for a key */
        c->u.error = c->st == EXPIRY_NOT_INTEGER ? "ERR value is not an integer or out of range"
                                                 : "ERR invalid expire time in 'getex' command";
        return UPDATE_ABORT;
    }
    const void *copy = NULL;
    int rc = update_reply_old(&c->u, old, oldlen, found, &copy);
    if (rc != 0 || !found)
        return rc != 0 ? rc : KVS_UPDATE_KEEP;
    /* the new value is the copy in the reply: old is valid during this call only */
    return getex_decide(c, copy, oldlen, out);
}

void cmd_getex(struct session *s, size_t argc, const struct resp_arg *argv)
{
    struct string_opts o;
    if (!string_opts_parse(argc, argv, false, &o)) {
        reply_syntax_error(s);
        return;
    }
    if (!key_storable(&argv[1])) {
        resp_add_null(s->out);
        return;
    }
    struct getex c = {.flags = o.flags, .now_ms = expiry_now_ms()};
    if (o.expire)
        c.st = expiry_from_arg(o.flags, o.expire, c.now_ms, &c.at_ms);
    update_begin(&c.u, s);
    int rc = kvs_update(s->srv->db, argv[1].ptr, argv[1].len, getex_cb, &c);
    update_end(&c.u, rc);
}
