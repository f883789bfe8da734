/*
 * kvs get, set and rm: one key, for scripts. get prints the value raw
 * (no newline added, so binary values survive a redirect); an absent key
 * is exit status 1 with a message on stderr, for get and rm alike.
 * Keys and values come from argv as typed, or with --escaped in the dump
 * encoding (so what kvs scan prints can be passed back, NUL bytes too).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"

/* The KEY argument, not empty. 0, or -1 after a message. */
static int key_arg(const struct args *a, struct dump_bytes *key)
{
    if (arg_bytes(a, a->pos[0], "KEY", KVS_KEY_MAX, key) != 0)
        return -1;
    if (key->len > 0)
        return 0;
    fprintf(stderr, "kvs: KEY: empty (keys are 1 to %u bytes)\n", KVS_KEY_MAX);
    dump_bytes_free(key);
    return -1;
}

static void key_not_found(const char *cmd, const struct dump_bytes *key)
{
    fprintf(stderr, "kvs: %s: key not found: ", cmd);
    dump_write_string(stderr, key->p, key->len);
    fputc('\n', stderr);
}

static struct open_req request(const struct args *a, enum open_mode mode)
{
    return (struct open_req){.dir = a->dir,
                             .mode = mode,
                             .repair = (a->given & OPT_REPAIR) != 0,
                             .verbose = (a->given & OPT_VERBOSE) != 0};
}

int cmd_get(const struct args *a)
{
    struct dump_bytes key;
    if (key_arg(a, &key) != 0)
        return EXIT_ERROR;
    kvs_t *db;
    struct open_req req = request(a, OPEN_READ);
    if (admin_open(&req, &db) != KVS_OK) {
        dump_bytes_free(&key);
        return EXIT_ERROR;
    }
    void *val;
    size_t vlen;
    int rc = kvs_get(db, key.p, key.len, &val, &vlen);
    int status = EXIT_OK;
    if (rc == KVS_OK) {
        fwrite(val, 1, vlen, stdout);
        kvs_free(val);
    } else if (rc == KVS_NOT_FOUND) {
        key_not_found("get", &key);
        status = EXIT_NO;
    } else {
        admin_status_error("get", rc);
        status = EXIT_ERROR;
    }
    dump_bytes_free(&key);
    if (admin_close(db, a->dir) != EXIT_OK || admin_flush_stdout() != EXIT_OK)
        return EXIT_ERROR;
    return status;
}

/* All of stdin, at most KVS_VALUE_MAX bytes. 0, or -1 after a message. */
static int read_stdin(struct dump_bytes *out)
{
    *out = (struct dump_bytes){0};
    for (;;) {
        if (out->len == out->cap) {
            size_t cap = out->cap ? out->cap * 2 : 4096;
            if (cap > (size_t)KVS_VALUE_MAX + 1) /* one more: to see it is too long */
                cap = (size_t)KVS_VALUE_MAX + 1;
            unsigned char *p = realloc(out->p, cap);
            if (!p) {
                fprintf(stderr, "kvs: out of memory reading the value\n");
                return -1;
            }
            out->p = p;
            out->cap = cap;
        }
        out->len += fread(out->p + out->len, 1, out->cap - out->len, stdin);
        if (out->len > KVS_VALUE_MAX) {
            fprintf(stderr, "kvs: VALUE: standard input holds more than %u bytes\n",
                    KVS_VALUE_MAX);
            return -1;
        }
        if (ferror(stdin)) {
            fprintf(stderr, "kvs: reading standard input: %s\n", strerror(errno));
            return -1;
        }
        if (feof(stdin))
            return 0;
    }
}

/* VALUE from argv, or stdin with --stdin; the argument count must match. */
static int value_arg(const struct args *a, struct dump_bytes *val)
{
    bool from_stdin = (a->given & OPT_STDIN) != 0;
    if (a->npos != (from_stdin ? 1 : 2)) {
        fprintf(stderr, "kvs: set: %s\nTry 'kvs --help'.\n",
                from_stdin ? "VALUE comes from standard input with --stdin: give KEY only"
                           : "missing VALUE");
        return -1;
    }
    if (!from_stdin)
        return arg_bytes(a, a->pos[1], "VALUE", KVS_VALUE_MAX, val);
    if (read_stdin(val) == 0)
        return 0;
    dump_bytes_free(val);
    return -1;
}

int cmd_set(const struct args *a)
{
    struct dump_bytes key, val = {0};
    if (key_arg(a, &key) != 0)
        return EXIT_ERROR;
    if (value_arg(a, &val) != 0) {
        dump_bytes_free(&key);
        return EXIT_ERROR;
    }
    uint64_t expire = (a->given & OPT_TTL) ? now_ms() + a->ttl_ms : a->expire_at_ms;
    kvs_t *db;
    struct open_req req = request(a, OPEN_CREATE);
    int status = EXIT_ERROR;
    if (admin_open(&req, &db) == KVS_OK) {
        int rc = kvs_set_expire(db, key.p, key.len, val.p, val.len, expire, 0);
        status = rc == KVS_OK ? EXIT_OK : EXIT_ERROR;
        if (rc != KVS_OK)
            admin_status_error("set", rc);
        if (admin_close(db, a->dir) != EXIT_OK)
            status = EXIT_ERROR;
    }
    dump_bytes_free(&key);
    dump_bytes_free(&val);
    return status;
}

int cmd_rm(const struct args *a)
{
    struct dump_bytes key;
    if (key_arg(a, &key) != 0)
        return EXIT_ERROR;
    kvs_t *db;
    struct open_req req = request(a, OPEN_WRITE);
    int status = EXIT_ERROR;
    if (admin_open(&req, &db) == KVS_OK) {
        int rc = kvs_remove(db, key.p, key.len);
        status = rc == KVS_OK ? EXIT_OK : rc == KVS_NOT_FOUND ? EXIT_NO : EXIT_ERROR;
        if (rc == KVS_NOT_FOUND)
            key_not_found("rm", &key);
        else if (rc != KVS_OK)
            admin_status_error("rm", rc);
        if (admin_close(db, a->dir) != EXIT_OK)
            status = EXIT_ERROR;
    }
    dump_bytes_free(&key);
    return status;
}
