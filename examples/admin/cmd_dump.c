/*
 * kvs dump and kvs scan: the store, or a range of it, in key order, in the
 * dump encoding (doc/DUMP.md). dump writes the whole format (header,
 * entries, END line) for kvs load; scan writes bare entry lines, or keys
 * alone, for scripts and people.
 */
#include <stdio.h>

#include "walk.h"

/* Output in large blocks: a dump is written in one go. */
#define OUTPUT_BUFFER (1u << 20)

static int dump_one(void *ctx, const void *key, size_t klen, const void *val, size_t vlen,
                    uint64_t expire_at_ms)
{
    (void)ctx;
    return dump_write_entry(stdout, key, klen, val, vlen, expire_at_ms) == 0 ? 0 : -1;
}

struct scan {
    bool keys_only;
    bool limited;
    uint64_t left; /* entries still to print when limited */
};

static int scan_one(void *ctx, const void *key, size_t klen, const void *val, size_t vlen,
                    uint64_t expire_at_ms)
{
    struct scan *s = ctx;
    if (s->keys_only ? dump_write_string(stdout, key, klen) != 0 || putchar('\n') == EOF
                     : dump_write_entry(stdout, key, klen, val, vlen, expire_at_ms) != 0)
        return -1;
    return s->limited && --s->left == 0 ? 1 : 0;
}

/* A read-only handle and the range of the options; EXIT_OK or EXIT_ERROR. */
static int start(const struct args *a, kvs_t **db, struct walk_range *range)
{
    if (walk_range_parse(a, range) != 0)
        return EXIT_ERROR;
    struct open_req req = {.dir = a->dir,
                           .mode = OPEN_READ,
                           .repair = (a->given & OPT_REPAIR) != 0,
                           .verbose = (a->given & OPT_VERBOSE) != 0};
    if (admin_open(&req, db) == KVS_OK)
        return EXIT_OK;
    walk_range_free(range);
    return EXIT_ERROR;
}

static int stop(const struct args *a, kvs_t *db, struct walk_range *range, int status)
{
    walk_range_free(range);
    return admin_close(db, a->dir) == EXIT_OK ? status : EXIT_ERROR;
}

/* Damaged records left out make the result incomplete: exit 1 (as check). */
static int finish(const char *dir, int status, const struct walk_result *res)
{
    if (admin_flush_stdout() != EXIT_OK)
        return EXIT_ERROR;
    if (status != EXIT_OK)
        return status;
    if (res->damaged) {
        fprintf(stderr, "kvs: %s: %llu damaged record%s left out (kvs check %s lists them)\n",
                dir, (unsigned long long)res->damaged, res->damaged == 1 ? "" : "s", dir);
        return EXIT_NO;
    }
    return EXIT_OK;
}

int cmd_dump(const struct args *a)
{
    static char buf[OUTPUT_BUFFER];
    setvbuf(stdout, buf, _IOFBF, sizeof(buf));
    kvs_t *db;
    struct walk_range range;
    struct walk_result res = {0};
    if (start(a, &db, &range) != EXIT_OK)
        return EXIT_ERROR;
    int status = EXIT_ERROR;
    if (dump_write_header(stdout) == 0 &&
        walk(db, a->dir, &range, true, dump_one, NULL, &res) == 0 &&
        dump_write_trailer(stdout, res.entries) == 0)
        status = EXIT_OK; /* no END line otherwise: kvs load refuses a cut-off dump */
    status = stop(a, db, &range, status);
    return finish(a->dir, status, &res);
}

int cmd_scan(const struct args *a)
{
    struct scan s = {.keys_only = (a->given & OPT_KEYS_ONLY) != 0,
                     .limited = (a->given & OPT_LIMIT) != 0,
                     .left = a->limit};
    kvs_t *db;
    struct walk_range range;
    struct walk_result res = {0};
    if (start(a, &db, &range) != EXIT_OK)
        return EXIT_ERROR;
    int status = EXIT_OK;
    if (!(s.limited && s.left == 0) &&
        walk(db, a->dir, &range, !s.keys_only, scan_one, &s, &res) != 0)
        status = EXIT_ERROR;
    status = stop(a, db, &range, status);
    return finish(a->dir, status, &res);
}
