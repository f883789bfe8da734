/*
 * Fuzz target: open-time recovery of arbitrary files.
 *
 * The input is turned into a store directory: one or two segment files, and
 * optionally a hint file and an INDEX file. The store is then opened
 * read-only, for writing, and (if that fails as damaged) with the repair
 * option; every open that succeeds is walked whole (iterators both ways,
 * kvs_get of every key found, kvs_verify, every statistic) and closed. Any
 * status is fine; a crash, a hang, a leak or a broken invariant is not.
 *
 * Input layout (doc/FUZZING.md):
 *   byte 0  what to build: bit 0 segment 1 gets a made header (its part is
 *           then only records), bit 1 fix the checksums of the records that
 *           parse, bit 2 a second segment follows, bit 3 a hint file follows,
 *           bit 4 the hint is segment 2's (else segment 1's), bit 5 fix the
 *           hint's header fields and checksum, bit 6 an INDEX file follows,
 *           bit 7 fix the INDEX header, segment table and checksum
 *   byte 1  how: bit 0 segment 2 gets a made header, bit 1 open without
 *           hints, bit 2 compact after a writable open, bit 3 segment 2 is a
 *           compaction output (epoch just above segment 1's), bit 4 made
 *           headers say format version 1
 *   then the parts, each a 16-bit little-endian length and its bytes:
 *           segment 1, [segment 2], [hint], [INDEX]
 * The "fix" bits let mutations reach past the checksums; without them the
 * checksum checks themselves are fuzzed.
 */
#include <kvs.h>
#include <string.h>

#include "crc32c.h"
#include "fuzz.h"
#include "hash.h"
#include "internal.h"
#include "record.h"
#include "segment.h"

#define SEED UINT64_C(0x5eed5eed12345678)
/* At most this many keys are kept from a walk to be read back with kvs_get. */
#define MAX_KEYS 256

enum {
    B_SEG1_HEADER = 1, B_FIX_RECORDS = 2, B_SEG2 = 4, B_HINT = 8, B_HINT_SEG2 = 16,
    B_FIX_HINT = 32, B_INDEX = 64, B_FIX_INDEX = 128,
};
enum {
    O_SEG2_HEADER = 1, O_NO_HINTS = 2, O_COMPACT = 4, O_SEG2_COMPACTED = 8, O_V1 = 16,
};

static char *dir;
static bool debug; /* $FUZZ_DEBUG: say what each open did */

struct file {
    uint8_t *p;
    size_t n;
};

struct seg_file {
    struct file f;
    uint32_t id;
    uint64_t epoch;
};

static void quiet(void *ctx, kvs_log_level_t level, const char *msg)
{
    (void)ctx;
    (void)level;
    FUZZ_CHECK(strlen(msg) < 4096);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    dir = fuzz_tmpdir("recovery");
    debug = getenv("FUZZ_DEBUG") != NULL;
    return 0;
}

/* Give every record that parses from offset 64 on its right checksum (the
 * records inside a batch first, then the batch's). Stops at the first bytes
 * that do not parse as a record that fits. */
static void fix_records(uint8_t *b, size_t n)
{
    size_t off = KVS_SEG_HEADER_SIZE;
    while (off + KVS_REC_HEADER_SIZE <= n && b[off + 4] != KVS_REC_END) {
        uint32_t h = kvs__rec_header_size(b[off + 4]);
        uint64_t size = (uint64_t)h + kvs__rec_klen_at(b + off) + kvs__rec_vlen_at(b + off);
        if (off + h > n || size > n - off)
            break;
        if (b[off + 4] == KVS_REC_BATCH) {
            size_t in = off + h, end = off + (size_t)size;
            while (in + KVS_REC_HEADER_SIZE <= end) {
                uint32_t ih = kvs__rec_header_size(b[in + 4]);
                uint64_t isize =
                    (uint64_t)ih + kvs__rec_klen_at(b + in) + kvs__rec_vlen_at(b + in);
                if (in + ih > end || isize > end - in)
                    break;
                kvs__store32(b + in, kvs__crc32c(0, b + in + 4, (size_t)isize - 4));
                in += (size_t)isize;
            }
        }
        kvs__store32(b + off, kvs__crc32c(0, b + off + 4, (size_t)size - 4));
        off += (size_t)size;
    }
}

static struct file copy_part(struct fuzz_in part, size_t prefix)
{
    struct file f = {malloc(prefix + part.n + 1), prefix + part.n};
    FUZZ_CHECK(f.p != NULL);
    memset(f.p, 0, prefix);
    if (part.n)
        memcpy(f.p + prefix, part.p, part.n);
    return f;
}

static void make_segment(struct seg_file *s, struct fuzz_in part, bool header, bool v1,
                         uint32_t flags, bool fix)
{
    s->f = copy_part(part, header ? KVS_SEG_HEADER_SIZE : 0);
    if (header) {
        kvs__seg_header_encode(s->f.p, s->id, s->epoch, flags, SEED);
        if (v1) {
            kvs__store32(s->f.p + 8, 1);
            kvs__store32(s->f.p + 60, kvs__crc32c(0, s->f.p, 60));
        }
    } else if (s->f.n >= KVS_SEG_HEADER_SIZE) {
        s->epoch = kvs__load64(s->f.p + 24);
    }
    if (fix)
        fix_records(s->f.p, s->f.n);
}

static uint64_t seg_seed(const struct seg_file *s)
{
    return s->f.n >= KVS_SEG_HEADER_SIZE ? kvs__load64(s->f.p + 32) : SEED;
}

/* A hint whose own fields agree with its segment: magic, a known version,
 * id, size, seed, count and checksum. The entries stay as the input has them. */
static void fix_hint(struct file *h, const struct seg_file *s)
{
    static const uint8_t magic[8] = {0x89, 'K', 'V', 'S', 'H', 'N', 'T', '\n'};
    size_t n = h->n < 56 ? 56 : 56 + (h->n - 56) / 8 * 8;
    uint8_t *p = calloc(1, n);
    FUZZ_CHECK(p != NULL);
    memcpy(p, h->p, h->n < n ? h->n : n);
    free(h->p);
    h->p = p;
    h->n = n;
    uint32_t version = kvs__load32(p + 8);
    memcpy(p, magic, sizeof(magic));
    kvs__store32(p + 8, version == 1 ? 1 : 2);
    kvs__store32(p + 12, s->id);
    kvs__store64(p + 16, s->f.n);
    kvs__store64(p + 32, (n - 56) / 8);
    kvs__store64(p + 40, seg_seed(s));
    kvs__store64(p + n - 8, kvs__hash_sum(p, n - 8));
}

/* An INDEX whose header and segment table agree with the segments written
 * (the slots, shards, bitmap and entries stay as the input has them). */
static void fix_index(struct file *x, const struct seg_file *segs, unsigned nsegs)
{
    static const uint8_t magic[8] = {0x89, 'K', 'V', 'S', 'I', 'D', 'X', '\n'};
    size_t n = x->n < 72 ? 72 : x->n;
    uint8_t *p = calloc(1, n);
    FUZZ_CHECK(p != NULL);
    memcpy(p, x->p, x->n);
    free(x->p);
    x->p = p;
    x->n = n;
    uint32_t width = kvs__load32(p + 20);
    memcpy(p, magic, sizeof(magic));
    kvs__store32(p + 8, 2);
    kvs__store32(p + 12, 256);
    kvs__store32(p + 16, nsegs);
    kvs__store32(p + 20, width == 16 ? 16 : 12);
    kvs__store64(p + 24, seg_seed(&segs[0]));
    for (unsigned i = 0; i < nsegs && 64 + 48 * (size_t)(i + 1) <= n - 8; i++) {
        uint8_t *e = p + 64 + 48 * (size_t)i;
        kvs__store32(e, segs[i].id);
        kvs__store64(e + 8, segs[i].epoch);
        kvs__store64(e + 16, segs[i].f.n);
    }
    kvs__store64(p + n - 8, kvs__hash_sum(p, n - 8));
}

/* Keys in order: bytewise, a prefix before the longer key. */
static int key_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen > blen) - (alen < blen);
}

struct seen_key {
    uint8_t *key;
    size_t klen;
    uint8_t *val; /* NULL if the iterator could not read it */
    size_t vlen;
};

/*
 * Walk everything: forward (keeping the first MAX_KEYS keys), backward, then
 * kvs_get/kvs_exists of each key kept, a snapshot, kvs_verify, statistics.
 * exact: the index was built only by scanning records (no hint, no INDEX
 * that could describe other keys than the records hold), so keys are unique
 * and kvs_get finds what the iterator showed.
 */
static void walk(kvs_t *db, bool exact)
{
    static struct seen_key seen[MAX_KEYS];
    size_t nseen = 0;
    kvs_iter_t *it;
    int rc = kvs_iter_create(db, NULL, &it);
    FUZZ_CHECK(rc == KVS_OK || rc == KVS_ENOMEM);
    if (rc == KVS_OK) {
        uint8_t *prev = NULL;
        size_t prev_len = 0;
        for (rc = kvs_iter_first(it); rc == KVS_OK; rc = kvs_iter_next(it)) {
            const void *k, *v;
            size_t kl, vl;
            if (kvs_iter_key(it, &k, &kl) != KVS_OK)
                continue;
            FUZZ_CHECK(kl >= 1 && kl <= KVS_KEY_MAX);
            if (prev) {
                int c = key_cmp(prev, prev_len, k, kl);
                FUZZ_CHECK(exact ? c < 0 : c <= 0);
            }
            free(prev);
            prev = malloc(kl);
            FUZZ_CHECK(prev != NULL);
            memcpy(prev, k, kl);
            prev_len = kl;
            int vrc = kvs_iter_value(it, &v, &vl);
            FUZZ_CHECK(vrc == KVS_OK || vrc == KVS_ECORRUPT);
            if (nseen < MAX_KEYS) {
                struct seen_key *s = &seen[nseen++];
                s->key = malloc(kl);
                FUZZ_CHECK(s->key != NULL);
                memcpy(s->key, k, kl);
                s->klen = kl;
                s->val = NULL;
                if (vrc == KVS_OK) {
                    s->val = malloc(vl + 1);
                    FUZZ_CHECK(s->val != NULL);
                    memcpy(s->val, v, vl);
                    s->vlen = vl;
                }
            }
        }
        free(prev);
        FUZZ_CHECK(rc == KVS_NOT_FOUND);
        int steps = 0;
        for (rc = kvs_iter_last(it); rc == KVS_OK && steps < 64; rc = kvs_iter_prev(it))
            steps++;
        kvs_iter_destroy(it);
    }
    for (size_t i = 0; i < nseen; i++) {
        void *val;
        size_t vlen;
        rc = kvs_get(db, seen[i].key, seen[i].klen, &val, &vlen);
        FUZZ_CHECK(rc == KVS_OK || rc == KVS_NOT_FOUND || rc == KVS_ECORRUPT);
        if (rc == KVS_OK) {
            if (exact && seen[i].val)
                FUZZ_CHECK(vlen == seen[i].vlen && memcmp(val, seen[i].val, vlen) == 0);
            kvs_free(val);
        }
        rc = kvs_exists(db, seen[i].key, seen[i].klen);
        FUZZ_CHECK(rc == KVS_OK || rc == KVS_NOT_FOUND || rc == KVS_ECORRUPT);
    }
    kvs_snapshot_t *snap;
    if (kvs_snapshot_create(db, &snap) == KVS_OK) {
        for (size_t i = 0; i < nseen && i < 16; i++) {
            void *val;
            size_t vlen;
            if (kvs_snapshot_get(snap, seen[i].key, seen[i].klen, &val, &vlen) == KVS_OK)
                kvs_free(val);
        }
        kvs_snapshot_release(snap);
    }
    for (size_t i = 0; i < nseen; i++) {
        free(seen[i].key);
        free(seen[i].val);
    }
    rc = kvs_verify(db, NULL, NULL);
    FUZZ_CHECK(rc == KVS_OK || rc == KVS_ECORRUPT || rc == KVS_ENOMEM);
    for (int i = 0; i < KVS_STAT_COUNT_; i++) {
        uint64_t v;
        FUZZ_CHECK(kvs_stat(db, (kvs_stat_t)i, &v) == KVS_OK);
    }
}

static int open_store(bool read_only, bool repair, bool hints, kvs_t **db)
{
    kvs_options_t *o = kvs_options_create();
    FUZZ_CHECK(o != NULL);
    kvs_options_set_read_only(o, read_only);
    kvs_options_set_repair(o, repair);
    kvs_options_set_use_hints(o, hints);
    kvs_options_set_sync(o, KVS_SYNC_NONE);
    kvs_options_set_compaction_trigger(o, 100); /* compaction only when asked: deterministic */
    kvs_options_set_segment_size(o, 64 * 1024);
    kvs_options_set_logger(o, quiet, NULL);
    int rc = kvs_open(dir, o, db);
    kvs_options_destroy(o);
    FUZZ_CHECK(rc == KVS_OK ? *db != NULL : *db == NULL);
    return rc;
}

/* Open, walk, maybe compact and walk again, close. Returns the open's status. */
static int open_walk_close(bool read_only, bool repair, bool hints, bool compact, bool exact)
{
    kvs_t *db;
    int rc = open_store(read_only, repair, hints, &db);
    if (debug)
        fprintf(stderr, "  open%s%s: %s", read_only ? " read-only" : "", repair ? " repair" : "",
                kvs_status_name(rc));
    if (rc != KVS_OK) {
        if (debug)
            fprintf(stderr, "\n");
        return rc;
    }
    if (debug) {
        uint64_t keys, hinted, loaded, torn, skipped;
        kvs_stat(db, KVS_STAT_KEYS, &keys);
        kvs_stat(db, KVS_STAT_HINT_SEGMENTS, &hinted);
        kvs_stat(db, KVS_STAT_INDEX_SNAPSHOT_LOADED, &loaded);
        kvs_stat(db, KVS_STAT_RECOVERY_TORN_BYTES, &torn);
        kvs_stat(db, KVS_STAT_RECOVERY_SKIPPED_BYTES, &skipped);
        fprintf(stderr, " keys %llu, from hints %llu, INDEX %llu, torn %llu, skipped %llu\n",
                (unsigned long long)keys, (unsigned long long)hinted, (unsigned long long)loaded,
                (unsigned long long)torn, (unsigned long long)skipped);
    }
    walk(db, exact);
    if (compact && !read_only) {
        int crc = kvs_compact(db);
        FUZZ_CHECK(crc != KVS_EINVAL && crc != KVS_EREADONLY);
        walk(db, exact);
    }
    int crc = kvs_close(db);
    FUZZ_CHECK(crc == KVS_OK || crc == KVS_EIO);
    return KVS_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    uint8_t what = fuzz_u8(&in), how = fuzz_u8(&in);
    bool v1 = how & O_V1;
    struct seg_file segs[2] = {{.id = 1, .epoch = KVS_EPOCH_WRITER_STEP},
                               {.id = 2, .epoch = 2 * KVS_EPOCH_WRITER_STEP}};
    unsigned nsegs = what & B_SEG2 ? 2 : 1;
    make_segment(&segs[0], fuzz_part(&in), what & B_SEG1_HEADER, v1, 0, what & B_FIX_RECORDS);
    if (nsegs == 2) {
        bool compacted = how & O_SEG2_COMPACTED;
        if (compacted)
            segs[1].epoch = segs[0].epoch + 1;
        make_segment(&segs[1], fuzz_part(&in), how & O_SEG2_HEADER, v1,
                     compacted ? KVS_SEG_FLAG_COMPACTED : 0, what & B_FIX_RECORDS);
    }
    struct file hint = {0}, index = {0};
    const struct seg_file *hinted = &segs[what & B_HINT_SEG2 && nsegs == 2 ? 1 : 0];
    if (what & B_HINT) {
        hint = copy_part(fuzz_part(&in), 0);
        if (what & B_FIX_HINT)
            fix_hint(&hint, hinted);
    }
    if (what & B_INDEX) {
        index = copy_part(fuzz_part(&in), 0);
        if (what & B_FIX_INDEX)
            fix_index(&index, segs, nsegs);
    }

    fuzz_clear_dir(dir);
    for (unsigned i = 0; i < nsegs; i++) {
        char name[KVS_SEG_NAME_MAX];
        kvs__seg_name(name, segs[i].id, "log");
        fuzz_write_file(dir, name, segs[i].f.p, segs[i].f.n);
    }
    if (what & B_HINT) {
        char name[KVS_SEG_NAME_MAX];
        kvs__seg_name(name, hinted->id, "hint");
        fuzz_write_file(dir, name, hint.p, hint.n);
    }
    if (what & B_INDEX)
        fuzz_write_file(dir, "INDEX", index.p, index.n);

    bool hints = !(how & O_NO_HINTS);
    bool exact = !hints || !(what & (B_HINT | B_INDEX));
    bool compact = how & O_COMPACT;
    open_walk_close(true, false, hints, false, exact);
    int rc = open_walk_close(false, false, hints, compact, exact);
    /* A store that opened and closed cleanly opens again, unless the first
     * open loaded the INDEX file: the hints it made unnecessary are read by
     * the next open (the INDEX is removed), and a hint that lies about its
     * segment is damage there. */
    bool reopens = !hints || !(what & B_INDEX);
    if (rc == KVS_OK) {
        rc = open_walk_close(false, false, hints, false, exact);
        FUZZ_CHECK(rc == KVS_OK || !reopens);
    } else if (rc == KVS_ECORRUPT) {
        rc = open_walk_close(false, true, hints, compact, exact);
        if (rc == KVS_OK) {
            rc = open_walk_close(false, true, hints, false, exact);
            FUZZ_CHECK(rc == KVS_OK || !reopens);
        }
    }

    fuzz_clear_dir(dir);
    for (unsigned i = 0; i < nsegs; i++)
        free(segs[i].f.p);
    free(hint.p);
    free(index.p);
    return 0;
}
