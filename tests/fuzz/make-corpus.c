/*
 * Writes the seed corpus of the fuzz targets: make-corpus OUTDIR writes
 * OUTDIR/recovery, OUTDIR/crash, OUTDIR/resp and OUTDIR/commands (see
 * doc/FUZZING.md).
 *
 * The recovery seeds are made from real stores written by the library
 * (every record type, hint files of both versions, an INDEX file, the
 * format 1 fixture), packed in fuzz-recovery.c's input layout, then
 * damaged in the ways a crash or a disk can damage them. The RESP and
 * command seeds are request streams covering every command kvs-server has.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <kvs.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hash.h"
#include "index_file.h"
#include "internal.h"
#include "store.h"

#ifndef KVS_FIXTURES
#define KVS_FIXTURES "tests/fixtures"
#endif

static const char *outdir;

static void die(const char *what)
{
    fprintf(stderr, "make-corpus: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void check(int rc, const char *what)
{
    if (rc != KVS_OK) {
        fprintf(stderr, "make-corpus: %s: %s\n", what, kvs_strerror(rc));
        exit(1);
    }
}

/* ---- byte strings ---- */

struct bytes {
    uint8_t *p;
    size_t n;
};

static void add(struct bytes *b, const void *p, size_t n)
{
    b->p = realloc(b->p, b->n + n + 1);
    if (!b->p)
        die("realloc");
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void add_u8(struct bytes *b, uint8_t v)
{
    add(b, &v, 1);
}

static void add_part(struct bytes *b, const struct bytes *part)
{
    if (part->n > 0xffff) {
        fprintf(stderr, "make-corpus: a part of %zu bytes is too long\n", part->n);
        exit(1);
    }
    uint8_t len[2] = {(uint8_t)part->n, (uint8_t)(part->n >> 8)};
    add(b, len, 2);
    add(b, part->p, part->n);
}

static struct bytes read_file(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    struct bytes b = {0};
    FILE *f = fopen(path, "rb");
    if (!f)
        return b;
    uint8_t buf[4096];
    size_t r;
    while ((r = fread(buf, 1, sizeof(buf), f)) > 0)
        add(&b, buf, r);
    fclose(f);
    if (!b.p)
        add(&b, "", 0);
    return b;
}

static struct bytes copy(const struct bytes *b)
{
    struct bytes c = {0};
    add(&c, b->p, b->n);
    return c;
}

static void write_seed(const char *target, const char *name, const struct bytes *b)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", outdir, target);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/%s/%s", outdir, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b->p, 1, b->n, f) != b->n || fclose(f) != 0)
        die(path);
}

/* ---- stores ---- */

static char *tmp_store(void)
{
    const char *base = getenv("TMPDIR");
    char *path = malloc(4096);
    snprintf(path, 4096, "%s/kvs-corpus-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(path))
        die("mkdtemp");
    return path;
}

static void rm_store(char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        char path[4096];
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
    free(dir);
}

static kvs_t *open_store(const char *dir, bool read_only)
{
    kvs_options_t *o = kvs_options_create();
    kvs_options_set_sync(o, KVS_SYNC_NONE);
    kvs_options_set_compaction_trigger(o, 100);
    kvs_options_set_read_only(o, read_only);
    kvs_t *db;
    check(kvs_open(dir, o, &db), "kvs_open");
    kvs_options_destroy(o);
    return db;
}

static void set(kvs_t *db, const char *k, const char *v)
{
    check(kvs_set(db, k, strlen(k), v, strlen(v)), "kvs_set");
}

static void del(kvs_t *db, const char *k)
{
    int rc = kvs_remove(db, k, strlen(k));
    if (rc != KVS_OK && rc != KVS_NOT_FOUND)
        check(rc, "kvs_remove");
}

/* What a store's files are made of. */
enum store_kind { PLAIN, EVERYTHING, MANY };

/*
 * A closed store of two segments (segment 1 written, then kvs_sync starts
 * segment 2, which the close seals), each with its hint.
 */
static char *make_store(enum store_kind kind)
{
    char *dir = tmp_store();
    kvs_t *db = open_store(dir, false);
    char k[32], v[64];
    int n = kind == MANY ? 60 : 6;
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof(k), "key:%03d", i);
        snprintf(v, sizeof(v), "value %d", i * 7);
        set(db, k, v);
    }
    set(db, "key:001", "overwritten");
    del(db, "key:002");
    if (kind == EVERYTHING) {
        uint64_t far = UINT64_C(4102444800000); /* 2100-01-01 */
        check(kvs_set_expire(db, "ttl:future", 10, "later", 5, far, 0), "kvs_set_expire");
        check(kvs_set_expire(db, "ttl:past", 8, "gone", 4, 1000, 0), "kvs_set_expire");
        kvs_batch_t *b;
        check(kvs_batch_create(&b), "kvs_batch_create");
        check(kvs_batch_set(b, "batch:a", 7, "1", 1), "kvs_batch_set");
        check(kvs_batch_set(b, "batch:b", 7, "22", 2), "kvs_batch_set");
        check(kvs_batch_remove(b, "key:003", 7), "kvs_batch_remove");
        check(kvs_batch_apply(db, b), "kvs_batch_apply");
        kvs_batch_destroy(b);
    }
    check(kvs_sync(db), "kvs_sync");
    set(db, "key:000", "second segment");
    del(db, "key:004");
    set(db, "z", "");
    if (kind == EVERYTHING) {
        kvs_batch_t *b;
        check(kvs_batch_create(&b), "kvs_batch_create");
        check(kvs_batch_set(b, "batch:c", 7, "333", 3), "kvs_batch_set");
        check(kvs_batch_remove(b, "batch:a", 7), "kvs_batch_remove");
        check(kvs_batch_apply(db, b), "kvs_batch_apply");
        kvs_batch_destroy(b);
    }
    check(kvs_close(db), "kvs_close");
    return dir;
}

/* ---- the INDEX file of a small store ---- */

/*
 * kvs_close saves INDEX only for 50,000 keys or more, which makes seeds far
 * too big: this writes the same format (doc/FORMAT.md) for any store, from
 * a read-only handle whose index was rebuilt from the hints. The tables are
 * laid out again with the smallest capacity INDEX allows (64 per shard; a
 * small store's index has less): each entry at its home slot or the next
 * free one after it, as the index probes.
 */
#define INDEX_CAPACITY 64u

static struct bytes encode_index(struct kvs *db)
{
    struct bytes b = {0};
    uint8_t h[64] = {0};
    static const uint8_t magic[8] = {0x89, 'K', 'V', 'S', 'I', 'D', 'X', '\n'};
    struct kvs_index laid = {0}, *ix = &laid;
    laid.capacity = INDEX_CAPACITY;
    struct kvs_index_entry *table = calloc(KVS_INDEX_SHARDS * INDEX_CAPACITY, sizeof(*table));
    if (!table || db->index.capacity > INDEX_CAPACITY)
        die("index layout");
    laid.region = table;
    for (unsigned i = 0; i < KVS_INDEX_SHARDS; i++) {
        const struct kvs_index_shard *sh = &db->index.shards[i];
        struct kvs_index_entry *t = table + (size_t)i * INDEX_CAPACITY;
        for (uint32_t j = 0; j < sh->capacity; j++) {
            if (!kvs__entry_used(&sh->table[j]))
                continue;
            uint32_t at = kvs__index_home_at(kvs__entry_tag(&sh->table[j]), INDEX_CAPACITY);
            while (kvs__entry_used(&t[at]))
                at = kvs__index_next_slot(at, INDEX_CAPACITY);
            t[at] = sh->table[j];
        }
        laid.shards[i].count = sh->count;
    }
    uint64_t keys = 0;
    for (unsigned i = 0; i < KVS_INDEX_SHARDS; i++)
        keys += ix->shards[i].count;
    memcpy(h, magic, 8);
    kvs__store32(h + 8, 3);
    kvs__store32(h + 12, KVS_INDEX_SHARDS);
    kvs__store32(h + 16, (uint32_t)db->nsegs);
    kvs__store32(h + 20, 12);
    kvs__store64(h + 24, db->seed);
    kvs__store64(h + 32, keys);
    add(&b, h, sizeof(h));
    for (size_t i = 0; i < db->nsegs; i++) {
        const struct kvs_segment *s = db->segs[i];
        uint8_t e[48] = {0};
        kvs__store32(e, s->id);
        kvs__store32(e + 4, s->slot);
        kvs__store64(e + 8, s->epoch);
        kvs__store64(e + 16, s->tail);
        kvs__store64(e + 24, atomic_load(&s->live_bytes));
        kvs__store64(e + 32, atomic_load(&s->dead_bytes));
        kvs__store32(e + 40, 1u | (atomic_load(&s->min_expire) ? 4u : 0u));
        add(&b, e, sizeof(e));
    }
    for (unsigned i = 0; i < KVS_INDEX_SHARDS; i++) {
        uint8_t e[8];
        kvs__store32(e, ix->capacity);
        kvs__store32(e + 4, ix->shards[i].count);
        add(&b, e, sizeof(e));
    }
    const struct kvs_index_entry *t = ix->region;
    uint64_t slots = (uint64_t)KVS_INDEX_SHARDS * ix->capacity;
    for (uint64_t w = 0; w < slots / 64; w++) {
        uint64_t word = 0;
        for (unsigned bit = 0; bit < 64; bit++)
            word |= (uint64_t)kvs__entry_used(&t[w * 64 + bit]) << bit;
        uint8_t e[8];
        kvs__store64(e, word);
        add(&b, e, sizeof(e));
    }
    for (uint64_t i = 0; i < slots; i++) {
        if (!kvs__entry_used(&t[i]))
            continue;
        struct kvs_loc loc = kvs__entry_loc(&t[i]);
        uint8_t e[12];
        kvs__store32(e, (uint32_t)(i / ix->capacity) << 24 | kvs__entry_tag(&t[i]));
        kvs__store32(e + 4, loc.off);
        kvs__store32(e + 8, loc.slot << 24 | loc.size);
        add(&b, e, sizeof(e));
    }
    uint8_t sum[8];
    kvs__store64(sum, kvs__hash_sum(b.p, b.n));
    add(&b, sum, sizeof(sum));
    free(table);
    return b;
}

/* ---- recovery seeds ---- */

/* fuzz-recovery.c's flag bits */
enum {
    B_SEG1_HEADER = 1, B_FIX_RECORDS = 2, B_SEG2 = 4, B_HINT = 8, B_HINT_SEG2 = 16,
    B_FIX_HINT = 32, B_INDEX = 64, B_FIX_INDEX = 128,
};
enum {
    O_SEG2_HEADER = 1, O_NO_HINTS = 2, O_COMPACT = 4, O_SEG2_COMPACTED = 8, O_V1 = 16,
};

static struct bytes pack(uint8_t what, uint8_t how, const struct bytes *seg1,
                         const struct bytes *seg2, const struct bytes *hint,
                         const struct bytes *index)
{
    struct bytes b = {0};
    add_u8(&b, what | (seg2 ? B_SEG2 : 0) | (hint ? B_HINT : 0) | (index ? B_INDEX : 0));
    add_u8(&b, how);
    add_part(&b, seg1);
    if (seg2)
        add_part(&b, seg2);
    if (hint)
        add_part(&b, hint);
    if (index)
        add_part(&b, index);
    return b;
}

static void recovery_seed(const char *name, struct bytes b)
{
    write_seed("recovery", name, &b);
    free(b.p);
}

/* Records only: the segment without its header (the harness makes one). */
static struct bytes body(const struct bytes *seg)
{
    struct bytes b = {0};
    add(&b, seg->p + 64, seg->n > 64 ? seg->n - 64 : 0);
    return b;
}

static struct bytes cut(const struct bytes *seg, size_t drop)
{
    struct bytes b = copy(seg);
    b.n = b.n > drop ? b.n - drop : 0;
    return b;
}

/* A v2 hint rewritten as format 1 (valid for segments without PUTX/BATCH). */
static struct bytes hint_v1(const struct bytes *hint)
{
    struct bytes b = copy(hint);
    kvs__store32(b.p + 8, 1);
    kvs__store64(b.p + b.n - 8, kvs__hash_sum(b.p, b.n - 8));
    return b;
}

static void recovery_seeds(void)
{
    char *plain = make_store(PLAIN), *every = make_store(EVERYTHING), *many = make_store(MANY);
    struct bytes p1 = read_file(plain, "0000000001.log"), p2 = read_file(plain, "0000000002.log");
    struct bytes ph1 = read_file(plain, "0000000001.hint"),
                 ph2 = read_file(plain, "0000000002.hint");
    struct bytes e1 = read_file(every, "0000000001.log"), e2 = read_file(every, "0000000002.log");
    struct bytes eh1 = read_file(every, "0000000001.hint"),
                 eh2 = read_file(every, "0000000002.hint");
    struct bytes m1 = read_file(many, "0000000001.log"), m2 = read_file(many, "0000000002.log");
    if (!p1.p || !p2.p || !ph1.p || !ph2.p || !e1.p || !e2.p || !eh1.p || !eh2.p || !m1.p ||
        !m2.p) {
        fprintf(stderr, "make-corpus: a store does not have the expected files\n");
        exit(1);
    }
    /* an INDEX of the store with many keys */
    kvs_t *ro = open_store(many, true);
    struct bytes mx = encode_index((struct kvs *)ro);
    check(kvs_close(ro), "kvs_close");

    /* whole stores, as written */
    recovery_seed("plain-1seg", pack(0, 0, &p1, NULL, NULL, NULL));
    recovery_seed("plain-2seg", pack(0, 0, &p1, &p2, NULL, NULL));
    recovery_seed("plain-2seg-hint1", pack(0, 0, &p1, &p2, &ph1, NULL));
    recovery_seed("plain-2seg-hint2", pack(B_HINT_SEG2, 0, &p1, &p2, &ph2, NULL));
    struct bytes v1 = hint_v1(&ph1);
    recovery_seed("plain-2seg-hint1-v1", pack(0, 0, &p1, &p2, &v1, NULL));
    recovery_seed("plain-2seg-hint1-nohints", pack(0, O_NO_HINTS, &p1, &p2, &ph1, NULL));
    recovery_seed("every-1seg", pack(0, 0, &e1, NULL, NULL, NULL));
    recovery_seed("every-2seg", pack(0, 0, &e1, &e2, NULL, NULL));
    recovery_seed("every-2seg-hint1", pack(0, 0, &e1, &e2, &eh1, NULL));
    recovery_seed("every-2seg-hint2", pack(B_HINT_SEG2, 0, &e1, &e2, &eh2, NULL));
    recovery_seed("every-2seg-compact", pack(0, O_COMPACT, &e1, &e2, &eh1, NULL));
    recovery_seed("every-2seg-hint1-fix", pack(B_FIX_HINT, 0, &e1, &e2, &eh1, NULL));
    recovery_seed("many-2seg-index", pack(0, 0, &m1, &m2, NULL, &mx));
    recovery_seed("many-2seg-index-fix", pack(B_FIX_INDEX, 0, &m1, &m2, NULL, &mx));
    recovery_seed("many-2seg-hint-index", pack(0, 0, &m1, &m2, &ph1, &mx));

    /* made headers: records only, checksums fixed by the harness */
    struct bytes pb1 = body(&p1), pb2 = body(&p2), eb1 = body(&e1), eb2 = body(&e2);
    recovery_seed("body-plain", pack(B_SEG1_HEADER | B_FIX_RECORDS, O_SEG2_HEADER, &pb1, &pb2,
                                     NULL, NULL));
    recovery_seed("body-every", pack(B_SEG1_HEADER | B_FIX_RECORDS, O_SEG2_HEADER, &eb1, &eb2,
                                     NULL, NULL));
    recovery_seed("body-every-compacted",
                  pack(B_SEG1_HEADER | B_FIX_RECORDS, O_SEG2_HEADER | O_SEG2_COMPACTED, &eb1,
                       &eb2, NULL, NULL));
    recovery_seed("body-every-hint-fix",
                  pack(B_SEG1_HEADER | B_FIX_RECORDS | B_FIX_HINT, O_SEG2_HEADER, &eb1, &eb2,
                       &eh1, NULL));
    recovery_seed("body-plain-v1", pack(B_SEG1_HEADER | B_FIX_RECORDS, O_SEG2_HEADER | O_V1,
                                        &pb1, &pb2, NULL, NULL));
    recovery_seed("body-every-1seg", pack(B_SEG1_HEADER | B_FIX_RECORDS, 0, &eb1, NULL, NULL,
                                          NULL));

    /* what a crash leaves: no seal, a record cut short */
    struct bytes e2s = cut(&e2, 11), e2t = cut(&e2, 15), p1t = cut(&p1, 20);
    recovery_seed("crash-unsealed", pack(0, 0, &e1, &e2s, &eh1, NULL));
    recovery_seed("crash-torn", pack(0, 0, &e1, &e2t, &eh1, NULL));
    recovery_seed("crash-torn-1seg", pack(0, 0, &p1t, NULL, NULL, NULL));
    struct bytes e2z = copy(&e2s);
    uint8_t zeros[600] = {0};
    add(&e2z, zeros, sizeof(zeros));
    recovery_seed("crash-zero-tail", pack(0, 0, &e1, &e2z, NULL, NULL));
    /* an empty segment, a header only */
    struct bytes hdr = cut(&p2, p2.n - 64), empty = {0};
    add(&empty, "", 0);
    recovery_seed("header-only", pack(0, 0, &p1, &hdr, NULL, NULL));
    recovery_seed("empty-file", pack(0, 0, &p1, &empty, NULL, NULL));

    /* damage in the middle: a flipped byte in a record, in a batch, in a header */
    struct bytes d1 = copy(&p1);
    d1.p[80] ^= 0x40;
    recovery_seed("damage-record", pack(0, 0, &d1, &p2, NULL, NULL));
    recovery_seed("damage-record-hint", pack(0, 0, &d1, &p2, &ph1, NULL));
    struct bytes d2 = copy(&e1);
    d2.p[d2.n - 40] ^= 0x01;
    recovery_seed("damage-batch", pack(0, 0, &d2, &e2, NULL, NULL));
    struct bytes d3 = copy(&p2);
    d3.p[20] ^= 0x01;
    recovery_seed("damage-header", pack(0, 0, &p1, &d3, NULL, NULL));
    struct bytes h3 = copy(&ph1);
    h3.p[50] ^= 0x01;
    recovery_seed("damage-hint", pack(0, 0, &p1, &p2, &h3, NULL));
    recovery_seed("damage-hint-fix", pack(B_FIX_HINT, 0, &p1, &p2, &h3, NULL));

    /* the store libkvs 1.0 wrote (tests/fixtures/format-v1) */
    struct bytes f1 = read_file(KVS_FIXTURES "/format-v1", "0000000001.log"),
                 f2 = read_file(KVS_FIXTURES "/format-v1", "0000000002.log"),
                 fh1 = read_file(KVS_FIXTURES "/format-v1", "0000000001.hint");
    if (f1.p && f2.p && fh1.p && f1.n + f2.n + fh1.n < 0xffff) {
        recovery_seed("format-v1", pack(0, 0, &f1, &f2, &fh1, NULL));
        recovery_seed("format-v1-nohints", pack(0, O_NO_HINTS, &f1, &f2, NULL, NULL));
    }

    struct bytes all[] = {p1, p2, ph1, ph2, e1, e2, eh1, eh2, m1, m2, mx, v1, pb1, pb2,
                          eb1, eb2, e2s, e2t, p1t, e2z, hdr, empty, d1, d2, d3, h3, f1, f2, fh1};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        free(all[i].p);
    rm_store(plain);
    rm_store(every);
    rm_store(many);
}

/* ---- request streams ---- */

/* A multibulk request from its words. */
static void mb(struct bytes *b, int argc, ...)
{
    char hdr[32];
    va_list ap;
    va_start(ap, argc);
    add(b, hdr, (size_t)snprintf(hdr, sizeof(hdr), "*%d\r\n", argc));
    for (int i = 0; i < argc; i++) {
        const char *w = va_arg(ap, const char *);
        add(b, hdr, (size_t)snprintf(hdr, sizeof(hdr), "$%zu\r\n", strlen(w)));
        add(b, w, strlen(w));
        add(b, "\r\n", 2);
    }
    va_end(ap);
}

static void text(struct bytes *b, const char *s)
{
    add(b, s, strlen(s));
}

static void stream_seed(const char *target, const char *name, const uint8_t *prefix,
                        size_t prefix_len, const struct bytes *stream)
{
    struct bytes b = {0};
    add(&b, prefix, prefix_len);
    add(&b, stream->p, stream->n);
    write_seed(target, name, &b);
    free(b.p);
}

/* Each stream, for both targets. */
static void request_seed(const char *name, struct bytes s, uint8_t cmd_flags)
{
    static const uint8_t whole[5] = {0, 0, 0, 0, 0};
    static const uint8_t pieces[5] = {0, 3, 0, 17, 1}; /* 4, all, 18, 2 bytes */
    static const uint8_t small[5] = {1, 7, 1, 31, 5};  /* small limits */
    char n2[128];
    stream_seed("commands", name, &cmd_flags, 1, &s);
    stream_seed("resp", name, whole, sizeof(whole), &s);
    snprintf(n2, sizeof(n2), "%s-pieces", name);
    stream_seed("resp", n2, pieces, sizeof(pieces), &s);
    snprintf(n2, sizeof(n2), "%s-small", name);
    stream_seed("resp", n2, small, sizeof(small), &s);
    free(s.p);
}

static void request_seeds(void)
{
    struct bytes s = {0};
    mb(&s, 3, "SET", "k", "v");
    mb(&s, 2, "GET", "k");
    mb(&s, 2, "GET", "missing");
    mb(&s, 2, "STRLEN", "k");
    mb(&s, 3, "EXISTS", "k", "missing");
    mb(&s, 3, "DEL", "k", "missing");
    mb(&s, 1, "DBSIZE");
    request_seed("keys-basic", s, 0);

    s = (struct bytes){0};
    mb(&s, 4, "SET", "k", "v", "NX");
    mb(&s, 4, "SET", "k", "w", "NX");
    mb(&s, 4, "SET", "k", "x", "XX");
    mb(&s, 4, "SET", "other", "x", "XX");
    mb(&s, 4, "SET", "k", "y", "KEEPTTL");
    mb(&s, 5, "SET", "k", "v", "EX", "10");
    mb(&s, 5, "SET", "k", "v", "PX", "100");
    mb(&s, 4, "SET", "k", "v", "GET");
    mb(&s, 5, "SET", "k", "v", "NX", "XX");
    mb(&s, 3, "SET", "", "v");
    request_seed("set-options", s, 0);

    s = (struct bytes){0};
    mb(&s, 7, "MSET", "a", "1", "b", "2", "c", "3");
    mb(&s, 4, "MSET", "a", "1", "b");
    mb(&s, 5, "MGET", "a", "b", "c", "d");
    mb(&s, 4, "DEL", "a", "b", "");
    mb(&s, 3, "EXISTS", "c", "c");
    request_seed("multi-keys", s, 0);

    s = (struct bytes){0};
    mb(&s, 7, "MSET", "user:1", "a", "user:2", "b", "user:3", "c");
    mb(&s, 5, "MSET", "item:1", "x", "item:22", "y");
    mb(&s, 4, "SCAN", "0", "COUNT", "2");
    mb(&s, 4, "SCAN", "1", "COUNT", "2");
    mb(&s, 4, "SCAN", "2", "COUNT", "100");
    mb(&s, 6, "SCAN", "0", "MATCH", "user:*", "COUNT", "1");
    mb(&s, 4, "SCAN", "0", "TYPE", "string");
    mb(&s, 4, "SCAN", "0", "TYPE", "hash");
    mb(&s, 4, "SCAN", "0", "COUNT", "0");
    mb(&s, 3, "SCAN", "0", "MATCH");
    mb(&s, 2, "SCAN", "nope");
    mb(&s, 2, "SCAN", "99999");
    request_seed("scan", s, 0);

    s = (struct bytes){0};
    mb(&s, 7, "MSET", "user:1", "a", "user:2", "b", "h?llo", "c");
    mb(&s, 2, "KEYS", "*");
    mb(&s, 2, "KEYS", "user:*");
    mb(&s, 2, "KEYS", "h[ae]llo");
    mb(&s, 2, "KEYS", "h\\?llo");
    mb(&s, 2, "KEYS", "[^a-z]*");
    mb(&s, 2, "KEYS", "*[");
    request_seed("keys-patterns", s, 0);

    s = (struct bytes){0};
    mb(&s, 1, "PING");
    mb(&s, 2, "PING", "hello");
    mb(&s, 3, "PING", "a", "b");
    mb(&s, 2, "ECHO", "echo");
    mb(&s, 2, "SELECT", "0");
    mb(&s, 2, "SELECT", "1");
    mb(&s, 2, "SELECT", "x");
    mb(&s, 1, "NOSUCHCOMMAND");
    mb(&s, 3, "nosuch", "arg1", "arg\r\n2");
    mb(&s, 1, "GET");
    request_seed("connection", s, 0);

    s = (struct bytes){0};
    mb(&s, 3, "CLIENT", "SETNAME", "fuzzer");
    mb(&s, 2, "CLIENT", "GETNAME");
    mb(&s, 2, "CLIENT", "ID");
    mb(&s, 2, "CLIENT", "INFO");
    mb(&s, 4, "CLIENT", "SETINFO", "LIB-NAME", "redis-py");
    mb(&s, 4, "CLIENT", "SETINFO", "LIB-VER", "4.3");
    mb(&s, 4, "CLIENT", "SETINFO", "other", "x");
    mb(&s, 3, "CLIENT", "SETNAME", "bad name");
    mb(&s, 3, "CLIENT", "NO-EVICT", "on");
    mb(&s, 3, "CLIENT", "REPLY", "off");
    mb(&s, 2, "CLIENT", "HELP");
    mb(&s, 2, "CLIENT", "KILL");
    request_seed("client", s, 0);

    s = (struct bytes){0};
    mb(&s, 1, "HELLO");
    mb(&s, 2, "HELLO", "2");
    mb(&s, 2, "HELLO", "3");
    mb(&s, 4, "HELLO", "3", "AUTH", "default");
    mb(&s, 4, "HELLO", "2", "SETNAME", "me");
    mb(&s, 2, "HELLO", "x");
    mb(&s, 3, "HELLO", "2", "BOGUS");
    request_seed("hello", s, 0);

    s = (struct bytes){0};
    mb(&s, 2, "GET", "k");
    mb(&s, 2, "AUTH", "wrong");
    mb(&s, 3, "AUTH", "default", "wrong");
    mb(&s, 2, "HELLO", "2");
    mb(&s, 2, "AUTH", "secret");
    mb(&s, 3, "SET", "k", "v");
    mb(&s, 2, "GET", "k");
    request_seed("auth", s, 1);

    s = (struct bytes){0};
    mb(&s, 5, "HELLO", "2", "AUTH", "default", "secret");
    mb(&s, 3, "SET", "k", "v");
    mb(&s, 1, "QUIT");
    mb(&s, 2, "GET", "k");
    request_seed("hello-auth-quit", s, 1);

    s = (struct bytes){0};
    mb(&s, 1, "INFO");
    mb(&s, 2, "INFO", "server");
    mb(&s, 3, "INFO", "stats", "keyspace");
    mb(&s, 2, "INFO", "everything");
    mb(&s, 1, "COMMAND");
    mb(&s, 2, "COMMAND", "COUNT");
    mb(&s, 2, "COMMAND", "LIST");
    mb(&s, 2, "COMMAND", "DOCS");
    mb(&s, 4, "COMMAND", "INFO", "get", "nosuch");
    mb(&s, 2, "COMMAND", "BOGUS");
    request_seed("info-command", s, 0);

    s = (struct bytes){0};
    mb(&s, 3, "CONFIG", "GET", "*");
    mb(&s, 4, "CONFIG", "GET", "save", "append*");
    mb(&s, 4, "CONFIG", "SET", "save", "");
    mb(&s, 2, "CONFIG", "HELP");
    mb(&s, 2, "CONFIG", "GET");
    mb(&s, 2, "CONFIG", "BOGUS");
    request_seed("config", s, 0);

    s = (struct bytes){0};
    mb(&s, 2, "SHUTDOWN", "BOGUS");
    mb(&s, 2, "SHUTDOWN", "ABORT");
    mb(&s, 2, "SHUTDOWN", "NOSAVE");
    mb(&s, 1, "PING");
    request_seed("shutdown", s, 0);

    s = (struct bytes){0};
    text(&s, "SET inline value\r\nGET inline\n");
    text(&s, "SET \"quoted key\" 'single \\' quote'\r\n");
    text(&s, "SET esc \"\\x41\\n\\t\\\\\\\"\"\r\n");
    text(&s, "   \r\n");
    text(&s, "MGET inline \"quoted key\" esc\r\n");
    text(&s, "SET bad \"unbalanced\r\n");
    request_seed("inline", s, 0);

    s = (struct bytes){0};
    text(&s, "*0\r\n*-1\r\n");
    mb(&s, 1, "PING");
    text(&s, "*2\r\n$3\r\nGET\r\n$-1\r\n");
    request_seed("multibulk-odd", s, 0);

    s = (struct bytes){0};
    text(&s, "*1\r\n$4\r\nPINGxx");
    request_seed("bad-bulk-end", s, 0);

    s = (struct bytes){0};
    text(&s, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$99999999999\r\n");
    request_seed("bad-bulk-len", s, 0);

    s = (struct bytes){0};
    text(&s, "*2\r\n+GET\r\n");
    request_seed("bad-expected-dollar", s, 0);

    s = (struct bytes){0};
    text(&s, "*20\r\n");
    for (int i = 0; i < 20; i++)
        text(&s, "$1\r\nx\r\n");
    mb(&s, 2, "GET", "x");
    request_seed("many-args", s, 1);

    s = (struct bytes){0};
    text(&s, "*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$2000\r\n");
    for (int i = 0; i < 200; i++)
        text(&s, "0123456789");
    text(&s, "\r\n");
    mb(&s, 2, "STRLEN", "big");
    request_seed("big-value", s, 2);

    s = (struct bytes){0};
    text(&s, "*1\r\n$4\r\nPI\rNG\r\n");
    text(&s, "*1\r\r\n");
    request_seed("bad-cr", s, 0);

    s = (struct bytes){0};
    mb(&s, 3, "SET", "n", "-9223372036854775808");
    mb(&s, 2, "SELECT", "-0");
    mb(&s, 2, "SELECT", "00");
    mb(&s, 2, "SELECT", "9223372036854775808");
    mb(&s, 4, "SCAN", "18446744073709551615", "COUNT", "-1");
    request_seed("numbers", s, 0);
}

/* ---- crash seeds (fuzz-crash.c's layout) ---- */

enum { C_SET, C_DEL, C_BATCH, C_SET_LATER, C_SET_PAST, C_SYNC, C_SET_BIG, C_SET_NX };

static void crash_seed(const char *name, uint8_t flags, const uint8_t *ops, size_t n,
                       uint16_t kept)
{
    struct bytes b = {0};
    add_u8(&b, flags);
    add(&b, ops, n);
    add_u8(&b, (uint8_t)kept);
    add_u8(&b, (uint8_t)(kept >> 8));
    write_seed("crash", name, &b);
    free(b.p);
}

static void crash_seeds(void)
{
    static const uint8_t sets[] = {C_SET, 1, 10, C_SET, 2, 20, C_SET, 1, 30, C_DEL, 2, 0,
                                   C_SET, 3, 40};
    static const uint8_t batch_last[] = {C_SET, 1, 10, C_SET, 2, 20, C_BATCH, 1, 3,
                                         0x01, 5, 0x82, 0x04, 7};
    static const uint8_t mixed[] = {C_SET_LATER, 5, 12, C_SET_PAST, 6, 3, C_SET_NX, 5, 9,
                                    C_SET_NX, 7, 9, C_SYNC, 0, 0, C_SET, 8, 200,
                                    C_BATCH, 0, 2, 0x05, 30, 0x08, 31};
    static const uint8_t big[] = {C_SET, 1, 100, C_SET_BIG, 2, 0x10, 0x27, C_SET, 3, 50,
                                  C_BATCH, 0, 4, 0x01, 250, 0x02, 250, 0x03, 250, 0x84};
    static const uint8_t rolls[] = {C_SET, 0, 255, C_SET, 1, 255, C_SET, 2, 255, C_SET, 3, 255,
                                    C_SET, 4, 255, C_SET, 5, 255, C_SET, 6, 255, C_SET, 7, 255,
                                    C_SET, 8, 255, C_SET, 9, 255, C_DEL, 0, 0, C_SYNC, 0, 0,
                                    C_SET, 10, 255, C_SET, 11, 255, C_SET_LATER, 12, 255};
    crash_seed("sets-whole", 0, sets, sizeof(sets), 0xffff);
    crash_seed("sets-torn", 0, sets, sizeof(sets), 0);
    crash_seed("sets-torn-half", 0, sets, sizeof(sets), 20);
    crash_seed("batch-whole", 0, batch_last, sizeof(batch_last), 0xffff);
    crash_seed("batch-no-header", 0, batch_last, sizeof(batch_last), 0xfffe);
    crash_seed("batch-half", 0, batch_last, sizeof(batch_last), 15);
    crash_seed("batch-nothing", 0, batch_last, sizeof(batch_last), 0);
    crash_seed("batch-half-pwrite", 1, batch_last, sizeof(batch_last), 15);
    crash_seed("mixed-whole", 0, mixed, sizeof(mixed), 0xffff);
    crash_seed("mixed-torn", 1, mixed, sizeof(mixed), 40);
    crash_seed("big-batch-torn", 0, big, sizeof(big), 300);
    crash_seed("big-batch-whole", 1, big, sizeof(big), 0xffff);
    crash_seed("rolls-torn", 0, rolls, sizeof(rolls), 100);
    crash_seed("rolls-whole", 1, rolls, sizeof(rolls), 0xffff);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make-corpus OUTDIR (writes OUTDIR/recovery, crash, resp, commands)\n");
        return 2;
    }
    outdir = argv[1];
    mkdir(outdir, 0755);
    recovery_seeds();
    crash_seeds();
    request_seeds();
    return 0;
}
