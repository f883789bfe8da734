/*
 * Walking a store in key order (see walk.h).
 *
 * Expiry comes from kvs_get_expire() on the handle, since an iterator does
 * not report it. The tool holds the directory lock, so nothing else writes
 * meanwhile and the handle agrees with the iterator's moment, except for
 * values that expire in between: those are left out, as if the walk had
 * started a little later.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "walk.h"

int walk_range_parse(const struct args *a, struct walk_range *r)
{
    *r = (struct walk_range){0};
    r->has_prefix = (a->given & OPT_PREFIX) != 0;
    r->has_start = (a->given & OPT_START) != 0;
    r->has_end = (a->given & OPT_END) != 0;
    if ((r->has_prefix && arg_bytes(a, a->prefix, "--prefix", KVS_KEY_MAX, &r->prefix) != 0) ||
        (r->has_start && arg_bytes(a, a->start, "--start", KVS_KEY_MAX, &r->start) != 0) ||
        (r->has_end && arg_bytes(a, a->end, "--end", KVS_KEY_MAX, &r->end) != 0)) {
        walk_range_free(r);
        return -1;
    }
    return 0;
}

void walk_range_free(struct walk_range *r)
{
    dump_bytes_free(&r->prefix);
    dump_bytes_free(&r->start);
    dump_bytes_free(&r->end);
}

static int set_range(kvs_iter_t *it, const struct walk_range *r)
{
    if (r->has_prefix)
        return kvs_iter_set_prefix(it, r->prefix.p, r->prefix.len);
    if (r->has_start || r->has_end)
        return kvs_iter_set_range(it, r->has_start ? r->start.p : NULL, r->start.len,
                                  r->has_end ? r->end.p : NULL, r->end.len);
    return KVS_OK;
}

/* Where the walk is, for messages about a damaged record: the last good key. */
struct position {
    const char *dir;
    struct dump_bytes last;
    bool have_last;
};

static void remember(struct position *pos, const void *key, size_t klen)
{
    if (pos->last.cap < klen) {
        unsigned char *p = realloc(pos->last.p, klen);
        if (!p) {
            pos->have_last = false; /* messages just get vaguer */
            return;
        }
        pos->last.p = p;
        pos->last.cap = klen;
    }
    memcpy(pos->last.p, key, klen);
    pos->last.len = klen;
    pos->have_last = true;
}

static void report_damage(const struct position *pos, const char *what)
{
    fprintf(stderr, "kvs: %s: left out a record whose %s fails its checksum, ", pos->dir, what);
    if (pos->have_last) {
        fputs("after key ", stderr);
        dump_write_string(stderr, pos->last.p, pos->last.len);
        fputc('\n', stderr);
    } else {
        fputs("before the first key\n", stderr);
    }
}

/*
 * One entry at the iterator: 0 handled or skipped, 1 fn stopped, -1 error.
 */
static int visit(kvs_t *db, kvs_iter_t *it, bool values, walk_fn fn, void *ctx,
                 struct position *pos, struct walk_result *res)
{
    const void *k, *v = NULL;
    size_t klen, vlen = 0;
    uint64_t expire = 0;
    const char *part = "key";
    int rc = kvs_iter_key(it, &k, &klen);
    if (rc == KVS_OK && values) {
        part = "value";
        rc = kvs_iter_value(it, &v, &vlen);
    }
    if (rc == KVS_ECORRUPT) {
        report_damage(pos, part);
        res->damaged++;
        return 0;
    }
    if (rc == KVS_OK && values)
        rc = kvs_get_expire(db, k, klen, &expire);
    if (rc == KVS_NOT_FOUND)
        return 0; /* expired since the iterator's moment */
    if (rc != KVS_OK) {
        admin_status_error(pos->dir, rc);
        return -1;
    }
    remember(pos, k, klen);
    rc = fn(ctx, k, klen, v, vlen, expire);
    if (rc >= 0)
        res->entries++;
    return rc;
}

int walk(kvs_t *db, const char *dir, const struct walk_range *r, bool values, walk_fn fn,
         void *ctx, struct walk_result *res)
{
    *res = (struct walk_result){0};
    kvs_iter_t *it;
    int rc = kvs_iter_create(db, NULL, &it);
    if (rc == KVS_OK)
        rc = set_range(it, r);
    if (rc != KVS_OK) {
        kvs_iter_destroy(it);
        admin_status_error(dir, rc);
        return -1;
    }
    struct position pos = {.dir = dir};
    int status = 0;
    for (rc = kvs_iter_first(it); rc == KVS_OK && status == 0; rc = kvs_iter_next(it))
        status = visit(db, it, values, fn, ctx, &pos, res);
    if (status == 0 && rc != KVS_NOT_FOUND) {
        admin_status_error(dir, rc);
        status = -1;
    }
    kvs_iter_destroy(it);
    dump_bytes_free(&pos.last);
    return status < 0 ? -1 : 0;
}
