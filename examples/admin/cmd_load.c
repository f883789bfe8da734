/*
 * kvs load: add the entries of a dump (doc/DUMP.md) read from stdin.
 *
 * Entries go in atomic batches of --batch entries (default 1000) or 64 MiB,
 * whichever comes first, so a load is fast and, if it stops, stops between
 * two batches: every line is checked before its batch is applied, the
 * batch holding a bad line is dropped whole, and the message says which
 * lines were written. The store need not be empty: an entry replaces its
 * key's value and expiry; other keys stay.
 */
#include <inttypes.h>
#include <stdio.h>

#include "admin.h"

#define LOAD_BATCH_DEFAULT 1000u
/* Bytes a batch may gather before it is applied. Any one entry (at most
 * KVS_KEY_MAX + KVS_VALUE_MAX + 19 bytes) added to a batch below this
 * stays under KVS_BATCH_MAX_BYTES, so a batch is never refused as too big. */
#define LOAD_BATCH_BYTES (64u << 20)
#define INPUT_BUFFER (1u << 20)

_Static_assert(LOAD_BATCH_BYTES + KVS_KEY_MAX + KVS_VALUE_MAX + 19u < KVS_BATCH_MAX_BYTES,
               "a batch below LOAD_BATCH_BYTES must take any one entry");

struct loader {
    kvs_t *db;
    kvs_batch_t *batch;
    uint64_t per_batch;
    uint64_t written;         /* entries applied */
    uint64_t written_through; /* last line applied, 0 if none */
    uint64_t pending_from;    /* first line of the batch being gathered */
    uint64_t pending_to;      /* its last line */
};

static int apply(struct loader *l)
{
    size_t n = kvs_batch_count(l->batch);
    if (n == 0)
        return 0;
    int rc = kvs_batch_apply(l->db, l->batch);
    if (rc != KVS_OK) {
        char context[96];
        snprintf(context, sizeof(context), "load: writing lines %" PRIu64 " to %" PRIu64,
                 l->pending_from, l->pending_to);
        admin_status_error(context, rc);
        return -1;
    }
    l->written += n;
    l->written_through = l->pending_to;
    kvs_batch_clear(l->batch);
    return 0;
}

/* Add the entry the reader holds; apply the batch when it is full. */
static int add(struct loader *l, const struct dump_reader *r)
{
    uint64_t line = r->line - 1; /* the reader moved past the entry's newline */
    int rc = r->expire_at_ms
                 ? kvs_batch_set_expire(l->batch, r->key.p, r->key.len, r->val.p, r->val.len,
                                        r->expire_at_ms)
                 : kvs_batch_set(l->batch, r->key.p, r->key.len, r->val.p, r->val.len);
    if (rc != KVS_OK) {
        char context[64];
        snprintf(context, sizeof(context), "load: line %" PRIu64, line);
        admin_status_error(context, rc);
        return -1;
    }
    if (kvs_batch_count(l->batch) == 1)
        l->pending_from = line;
    l->pending_to = line;
    if (kvs_batch_count(l->batch) >= l->per_batch || kvs_batch_bytes(l->batch) >= LOAD_BATCH_BYTES)
        return apply(l);
    return 0;
}

/* Every line after the header. 0, or -1 after a message (or with r->err). */
static int read_entries(struct loader *l, struct dump_reader *r)
{
    for (;;) {
        enum dump_next n = dump_read_next(r);
        if (n == DUMP_END)
            return apply(l);
        if (n == DUMP_ERROR)
            return -1;
        if (add(l, r) != 0)
            return -1;
    }
}

/* Where the input is wrong: "line L" alone at the start of a line (the
 * input ended, or the line as a whole is wrong), else the byte too. */
static void report_input_error(const struct dump_reader *r)
{
    if (r->column == 0)
        fprintf(stderr, "kvs: load: line %" PRIu64 ": %s\n", r->line, r->err);
    else
        fprintf(stderr, "kvs: load: line %" PRIu64 ", byte %" PRIu64 ": %s\n", r->line,
                r->column, r->err);
}

/* After a failure: what is in the store now. */
static void report_stop(const struct loader *l)
{
    if (l->written == 0)
        fprintf(stderr, "kvs: load: stopped; nothing was written\n");
    else
        fprintf(stderr,
                "kvs: load: stopped; %" PRIu64 " entries were written, through line %" PRIu64
                "; nothing from line %" PRIu64 " on\n",
                l->written, l->written_through, l->written_through + 1);
}

/* The store (created when missing) and an empty batch. 0, or -1 after a message. */
static int start(const struct args *a, struct loader *l)
{
    struct open_req req = {.dir = a->dir,
                           .mode = OPEN_CREATE,
                           .verbose = (a->given & OPT_VERBOSE) != 0};
    if (admin_open(&req, &l->db) != KVS_OK)
        return -1;
    int rc = kvs_batch_create(&l->batch);
    if (rc == KVS_OK)
        return 0;
    admin_status_error("load", rc);
    admin_close(l->db, a->dir);
    return -1;
}

/* Close, which syncs what was applied (also after a bad line). */
static int finish(const struct args *a, struct loader *l, int status)
{
    kvs_batch_destroy(l->batch);
    if (status != EXIT_OK)
        report_stop(l);
    if (admin_close(l->db, a->dir) != EXIT_OK) {
        fprintf(stderr, "kvs: load: the entries written may not all be on disk\n");
        return EXIT_ERROR;
    }
    if (status == EXIT_OK && (a->given & OPT_VERBOSE))
        fprintf(stderr, "kvs: load: %" PRIu64 " entries\n", l->written);
    return status;
}

int cmd_load(const struct args *a)
{
    static char buf[INPUT_BUFFER];
    setvbuf(stdin, buf, _IOFBF, sizeof(buf));
    struct loader l = {.per_batch = (a->given & OPT_BATCH) ? a->batch : LOAD_BATCH_DEFAULT};
    struct dump_reader r;
    dump_reader_init(&r, stdin, KVS_KEY_MAX, KVS_VALUE_MAX);
    /* the header first: input that is no dump at all creates no store */
    if (dump_read_header(&r) != 0) {
        report_input_error(&r);
        report_stop(&l);
        return EXIT_ERROR;
    }
    if (start(a, &l) != 0)
        return EXIT_ERROR;
    int status = read_entries(&l, &r) == 0 ? EXIT_OK : EXIT_ERROR;
    if (status != EXIT_OK && r.err[0])
        report_input_error(&r);
    dump_reader_free(&r);
    return finish(a, &l, status);
}
