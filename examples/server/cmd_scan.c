/*
 * Walking the keys: SCAN cursor [MATCH pattern] [COUNT n] [TYPE type], and
 * KEYS pattern.
 *
 * Both walk libkvs's ordered iterator. A pattern's literal head ("user:" in
 * "user:*") becomes the iterator's prefix bound, so only keys that can match
 * are visited. An iterator lives for one call only (kvs_close() refuses
 * while one is open); SCAN remembers where to go on in the cursor table
 * (scan_cursors.h) instead.
 *
 * The promise, as Redis's: a full SCAN (from cursor 0 until it returns 0)
 * returns every key that exists during the whole scan at least once. Each
 * call sees the store at one moment and walks the keys in order from where
 * the last call stopped (the first key not yet examined then, or the next
 * one if that has gone) up to the next stopping point, so the calls cover
 * the key order without a gap. Keys written or removed during the scan may
 * or may not show up; an unknown cursor starts the walk from the first key
 * again, which keeps the promise at the cost of repeating keys.
 */
#include <ctype.h>
#include <errno.h>
#include <kvs.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "glob.h"
#include "scan_cursors.h"

#define SCAN_DEFAULT_COUNT 10
/* A SCAN page ends early once its keys take this many bytes (a huge COUNT). */
#define SCAN_PAGE_BYTES ((size_t)16 << 20)
/* KEYS refuses to build a reply larger than this: use SCAN. */
#define KEYS_REPLY_BYTES ((size_t)512 << 20)

/* ---- one walk over the keys that may match a pattern ---- */

struct walk {
    struct glob glob;
    bool all;        /* the pattern matches every key */
    kvs_iter_t *it;
    int rc;          /* KVS_OK: positioned on a key not yet examined; KVS_NOT_FOUND: done */
    size_t found;    /* keys appended */
    uint64_t seen;   /* keys examined */
};

/* Compile pattern (NULL: every key) and position at the first key >= from (NULL: the first). */
static int walk_start(struct walk *w, kvs_t *db, const struct resp_arg *pattern, const void *from,
                      size_t from_len)
{
    *w = (struct walk){.rc = KVS_NOT_FOUND};
    if (glob_compile(&w->glob, pattern ? pattern->ptr : "*", pattern ? pattern->len : 1,
                     KVS_KEY_MAX) != 0)
        return KVS_ENOMEM;
    w->all = glob_matches_all(&w->glob);
    if (w->glob.never)
        return KVS_OK; /* longer than any key: nothing to walk */
    int rc = kvs_iter_create(db, NULL, &w->it);
    size_t plen;
    const uint8_t *prefix = glob_prefix(&w->glob, &plen);
    if (rc == KVS_OK && plen)
        rc = kvs_iter_set_prefix(w->it, prefix, plen);
    if (rc != KVS_OK)
        return rc;
    w->rc = from ? kvs_iter_seek(w->it, from, from_len) : kvs_iter_first(w->it);
    return w->rc == KVS_OK || w->rc == KVS_NOT_FOUND ? KVS_OK : w->rc;
}

/* Close the walk, adding the keys it examined to the server's count (INFO). */
static void walk_end(struct walk *w, struct server *srv)
{
    atomic_fetch_add_explicit(&srv->keys_examined, w->seen, memory_order_relaxed);
    kvs_iter_destroy(w->it);
    glob_free(&w->glob);
    w->it = NULL;
}

/*
 * Examine up to count keys, appending those that match to out as bulk
 * strings (if emit); stop early, before a key, once this walk has appended
 * max_bytes. A key that fails its checksum is skipped (and logged).
 */
static void walk_keys(struct walk *w, struct buf *out, uint64_t count, size_t max_bytes,
                      bool emit)
{
    size_t start = out->len;
    for (uint64_t seen = 0; w->rc == KVS_OK && seen < count; seen++) {
        if (out->len - start >= max_bytes)
            return;
        w->seen++;
        const void *key;
        size_t klen;
        int rc = kvs_iter_key(w->it, &key, &klen);
        if (rc != KVS_OK) {
            log_msg(LL_WARN, "SCAN/KEYS: skipping a key: %s", kvs_strerror(rc));
        } else if (emit && (w->all || glob_match(&w->glob, key, klen))) {
            resp_add_bulk(out, key, klen);
            w->found++;
        }
        w->rc = kvs_iter_next(w->it);
    }
}

/* The key the walk stands on (for the cursor), skipping keys that fail their checksum. */
static int walk_current(struct walk *w, const void **key, size_t *klen)
{
    while (w->rc == KVS_OK) {
        int rc = kvs_iter_key(w->it, key, klen);
        if (rc != KVS_ECORRUPT)
            return rc;
        log_msg(LL_WARN, "SCAN: skipping a key: %s", kvs_strerror(rc));
        w->rc = kvs_iter_next(w->it);
    }
    return w->rc;
}

/* ---- SCAN ---- */

struct scan_opts {
    uint64_t cursor;
    uint64_t count;
    const struct resp_arg *match; /* NULL: every key */
    bool no_type;                 /* TYPE other than string: no key is of it */
};

/* Redis reads the cursor with strtoul: leading blanks and trailing bytes are errors. */
static bool parse_cursor(const struct resp_arg *a, uint64_t *out)
{
    char text[32];
    if (a->len == 0 || a->len >= sizeof(text) || isspace((unsigned char)a->ptr[0]))
        return false;
    memcpy(text, a->ptr, a->len);
    text[a->len] = '\0';
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || end == text)
        return false;
    *out = v;
    return true;
}

static bool parse_option(struct session *s, const struct resp_arg *name,
                         const struct resp_arg *value, struct scan_opts *o)
{
    long long n;
    if (arg_is(name, "count")) {
        if (!resp_parse_ll(value->ptr, value->len, &n)) {
            resp_add_error(s->out, "ERR value is not an integer or out of range");
            return false;
        }
        if (n < 1) {
            resp_add_error(s->out, "ERR syntax error");
            return false;
        }
        o->count = (uint64_t)n;
    } else if (arg_is(name, "match")) {
        o->match = value;
    } else if (arg_is(name, "type")) {
        o->no_type = !arg_is(value, "string"); /* every key is a string */
    } else {
        resp_add_error(s->out, "ERR syntax error");
        return false;
    }
    return true;
}

static bool parse_scan(struct session *s, size_t argc, const struct resp_arg *argv,
                       struct scan_opts *o)
{
    *o = (struct scan_opts){.count = SCAN_DEFAULT_COUNT};
    if (!parse_cursor(&argv[1], &o->cursor)) {
        resp_add_error(s->out, "ERR invalid cursor");
        return false;
    }
    for (size_t i = 2; i < argc; i += 2) {
        if (i + 1 == argc) {
            resp_add_error(s->out, "ERR syntax error");
            return false;
        }
        if (!parse_option(s, &argv[i], &argv[i + 1], o))
            return false;
    }
    if (o->match && o->match->len == 1 && o->match->ptr[0] == '*')
        o->match = NULL;
    return true;
}

/* Where the scan of cursor goes on: a malloc'd key, or NULL to start from the first key. */
static int resume_point(struct session *s, uint64_t cursor, void **key, size_t *len)
{
    *key = NULL;
    *len = 0;
    if (cursor == 0)
        return KVS_OK;
    int rc = scan_cursors_get(s->srv->cursors, cursor, key, len);
    if (rc < 0)
        return KVS_ENOMEM;
    if (rc == 0)
        log_msg(LL_DEBUG, "client %llu: SCAN cursor %llu is unknown: starting from the first key",
                (unsigned long long)s->id, (unsigned long long)cursor);
    return KVS_OK;
}

/* The cursor for the key the walk stopped on; 0 when the walk is complete. */
static int next_cursor(struct session *s, struct walk *w, uint64_t *cursor)
{
    const void *key;
    size_t klen;
    *cursor = 0;
    int rc = walk_current(w, &key, &klen);
    if (rc == KVS_NOT_FOUND)
        return KVS_OK;
    if (rc != KVS_OK)
        return rc;
    *cursor = scan_cursors_put(s->srv->cursors, key, klen);
    return *cursor ? KVS_OK : KVS_ENOMEM;
}

/* Put "*2 $cursor *n" in front of the n keys appended since offset at. */
static void insert_scan_header(struct buf *out, size_t at, uint64_t cursor, size_t n)
{
    char num[24];
    struct buf hdr;
    buf_init(&hdr, 0);
    resp_add_array(&hdr, 2);
    resp_add_bulk(&hdr, num, (size_t)snprintf(num, sizeof(num), "%llu",
                                               (unsigned long long)cursor));
    resp_add_array(&hdr, n);
    if (buf_failed(&hdr))
        out->failed = true;
    else
        buf_insert(out, at, hdr.data, hdr.len);
    buf_free(&hdr);
}

void cmd_scan(struct session *s, size_t argc, const struct resp_arg *argv)
{
    struct scan_opts o;
    if (!parse_scan(s, argc, argv, &o))
        return;
    void *from;
    size_t from_len;
    int rc = resume_point(s, o.cursor, &from, &from_len);
    struct walk w = {.rc = KVS_NOT_FOUND};
    if (rc == KVS_OK)
        rc = walk_start(&w, s->srv->db, o.match, from, from_len);
    free(from);
    size_t at = s->out->len;
    uint64_t next = 0;
    if (rc == KVS_OK) {
        walk_keys(&w, s->out, o.count, SCAN_PAGE_BYTES, !o.no_type);
        rc = next_cursor(s, &w, &next);
    }
    walk_end(&w, s->srv);
    if (rc != KVS_OK) {
        buf_truncate(s->out, at);
        reply_storage_error(s, rc);
        return;
    }
    insert_scan_header(s->out, at, next, w.found);
}

/* ---- KEYS ---- */

void cmd_keys(struct session *s, size_t argc, const struct resp_arg *argv)
{
    (void)argc;
    struct walk w;
    int rc = walk_start(&w, s->srv->db, &argv[1], NULL, 0);
    size_t at = s->out->len;
    if (rc == KVS_OK)
        walk_keys(&w, s->out, UINT64_MAX, KEYS_REPLY_BYTES, true);
    bool too_big = rc == KVS_OK && w.rc == KVS_OK; /* stopped at the size limit */
    if (rc == KVS_OK && !too_big && w.rc != KVS_NOT_FOUND)
        rc = w.rc;
    size_t found = w.found;
    walk_end(&w, s->srv);
    if (rc == KVS_OK && !too_big) {
        char hdr[32];
        buf_insert(s->out, at, hdr, (size_t)snprintf(hdr, sizeof(hdr), "*%zu\r\n", found));
        return;
    }
    buf_truncate(s->out, at);
    if (too_big)
        resp_add_errorf(s->out, "ERR KEYS reply over %zu MiB: use SCAN", KEYS_REPLY_BYTES >> 20);
    else
        reply_storage_error(s, rc);
}
