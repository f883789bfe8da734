/*
 * Fuzz target: crash recovery against a model.
 *
 * The input is a list of writes (sets, removes, batches, values that expire,
 * syncs) that the library makes in a fresh store. Then the process "dies"
 * during the last write: the store's files are copied as they are (what a
 * kill -9 leaves: every write is in the page cache), and the last record's
 * bytes in the copy are cut back to what the writer may have copied when it
 * was killed: the writer copies the payload first and the header last, so
 * either the whole record is there, or its header is zeros and its payload
 * is there up to some point. The copy must then open without the repair
 * option, hold exactly the values before the last write (header zeros) or
 * after it (record whole), a batch whole or not at all, verify clean, and
 * open again after a close.
 *
 * Input layout (doc/FUZZING.md):
 *   byte 0    bit 0 write-through (pwritev) instead of the mapping
 *   then      writes, each an opcode byte and its operands:
 *             0 set (key byte, length byte), 1 remove (key byte),
 *             2 batch (count byte, then per entry a key byte, its top bit
 *             making it a remove, and a length byte), 3 set with an expiry
 *             in the future (key, length), 4 set with an expiry in the
 *             past (key, length), 5 kvs_sync, 6 set of a large value
 *             (key, 16-bit length), 7 set if absent (key, length)
 *   last two  how much of the last record's payload was copied (16 bits,
 *             0xffff: all of it and its header: no damage)
 * Keys are "k0" to "k15"; a value's bytes follow from the write's number.
 */
#include <kvs.h>
#include <string.h>

#include "fuzz.h"
#include "record.h"
#include "store.h"

#define NKEYS 16
#define MAX_OPS 64
#define FAR_FUTURE UINT64_C(4102444800000) /* 2100-01-01, ms */

static char *dir, *crash_dir;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    dir = fuzz_tmpdir("crash-live");
    crash_dir = fuzz_tmpdir("crash-copy");
    return 0;
}

struct model {
    uint8_t *val[NKEYS]; /* NULL: absent */
    size_t len[NKEYS];
};

static void model_set(struct model *m, int k, const uint8_t *v, size_t n)
{
    free(m->val[k]);
    m->val[k] = malloc(n + 1);
    FUZZ_CHECK(m->val[k] != NULL);
    if (n)
        memcpy(m->val[k], v, n);
    m->len[k] = n;
}

static void model_del(struct model *m, int k)
{
    free(m->val[k]);
    m->val[k] = NULL;
    m->len[k] = 0;
}

static void model_copy(struct model *to, const struct model *from)
{
    for (int k = 0; k < NKEYS; k++) {
        model_del(to, k);
        if (from->val[k])
            model_set(to, k, from->val[k], from->len[k]);
    }
}

static void model_free(struct model *m)
{
    for (int k = 0; k < NKEYS; k++)
        model_del(m, k);
}

static void key_name(int k, char out[4])
{
    snprintf(out, 4, "k%d", k);
}

static uint8_t *make_value(unsigned op, size_t n)
{
    uint8_t *v = malloc(n + 1);
    FUZZ_CHECK(v != NULL);
    for (size_t i = 0; i < n; i++)
        v[i] = (uint8_t)(op * 31 + i);
    return v;
}

/* Copy the store's files as a killed process leaves them: the segments
 * (only the active one's first bytes: the rest is the zeros it was grown
 * with) and the hints the background thread has written so far. */
static void copy_store(struct kvs *db)
{
    fuzz_clear_dir(crash_dir);
    for (size_t i = 0; i < db->nsegs; i++) {
        struct kvs_segment *s = db->segs[i];
        char name[KVS_SEG_NAME_MAX], path[4096];
        kvs__seg_name(name, s->id, "hint");
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        FILE *h = fopen(path, "rb");
        if (h) {
            uint8_t buf[65536];
            size_t got = fread(buf, 1, sizeof(buf), h);
            fclose(h);
            if (got < sizeof(buf))
                fuzz_write_file(crash_dir, name, buf, got);
        }
        kvs__seg_name(name, s->id, "log");
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        FILE *f = fopen(path, "rb");
        FUZZ_CHECK(f != NULL);
        size_t want = s == db->active ? (size_t)s->tail + 4096 : (size_t)s->tail;
        uint8_t *buf = calloc(1, want);
        FUZZ_CHECK(buf != NULL);
        size_t got = fread(buf, 1, want, f);
        fclose(f);
        FUZZ_CHECK(got >= s->tail);
        fuzz_write_file(crash_dir, name, buf, got);
        free(buf);
    }
}

/* Zero what the writer had not copied yet of the record at [start, end). */
static void tear_record(uint32_t seg_id, uint64_t start, uint64_t end, size_t payload_kept)
{
    char name[KVS_SEG_NAME_MAX], path[4096];
    kvs__seg_name(name, seg_id, "log");
    snprintf(path, sizeof(path), "%s/%s", crash_dir, name);
    FILE *f = fopen(path, "r+b");
    FUZZ_CHECK(f != NULL);
    uint8_t head[KVS_REC_HEADER_MAX];
    FUZZ_CHECK(fseek(f, (long)start, SEEK_SET) == 0 && fread(head, 1, 5, f) == 5);
    uint64_t hsize = kvs__rec_header_size(head[4]);
    uint64_t payload = end - start - hsize;
    if (payload_kept > payload)
        payload_kept = (size_t)payload;
    size_t zeros = (size_t)(end - start - hsize - payload_kept);
    uint8_t *z = calloc(1, (size_t)hsize + zeros);
    FUZZ_CHECK(z != NULL);
    FUZZ_CHECK(fseek(f, (long)start, SEEK_SET) == 0 && fwrite(z, 1, (size_t)hsize, f) == hsize);
    FUZZ_CHECK(fseek(f, (long)(start + hsize + payload_kept), SEEK_SET) == 0 &&
               fwrite(z, 1, zeros, f) == zeros);
    fclose(f);
    free(z);
}

static int open_dir(const char *d, bool write_through, kvs_t **db)
{
    kvs_options_t *o = kvs_options_create();
    FUZZ_CHECK(o != NULL);
    kvs_options_set_sync(o, KVS_SYNC_NONE);
    kvs_options_set_compaction_trigger(o, 100);
    kvs_options_set_segment_size(o, 8192);
    kvs_options_set_write_through(o, write_through);
    int rc = kvs_open(d, o, db);
    kvs_options_destroy(o);
    return rc;
}

static void expect_model(kvs_t *db, const struct model *m)
{
    for (int k = 0; k < NKEYS; k++) {
        char key[4];
        key_name(k, key);
        void *v;
        size_t n;
        int rc = kvs_get(db, key, strlen(key), &v, &n);
        if (!m->val[k]) {
            FUZZ_CHECK(rc == KVS_NOT_FOUND);
            continue;
        }
        FUZZ_CHECK(rc == KVS_OK);
        FUZZ_CHECK(n == m->len[k] && memcmp(v, m->val[k], n) == 0);
        kvs_free(v);
    }
}

/* One write from the input; returns false when the input is used up. */
static bool one_write(kvs_t *db, struct fuzz_in *in, unsigned op, struct model *m)
{
    if (in->n < 3)
        return false;
    uint8_t code = fuzz_u8(in) % 8;
    int k = fuzz_u8(in) % NKEYS;
    char key[4];
    key_name(k, key);
    size_t n = code == 6 ? fuzz_u16(in) % 20000 : fuzz_u8(in);
    uint8_t *v = make_value(op, n);
    int rc = KVS_OK;
    switch (code) {
    case 0:
        rc = kvs_set(db, key, strlen(key), v, n);
        if (rc == KVS_OK)
            model_set(m, k, v, n);
        break;
    case 7:
        rc = kvs_set_ex(db, key, strlen(key), v, n, KVS_SET_IF_ABSENT);
        FUZZ_CHECK(rc == (m->val[k] ? KVS_EXISTS : KVS_OK));
        if (rc == KVS_OK)
            model_set(m, k, v, n);
        rc = KVS_OK;
        break;
    case 1:
        rc = kvs_remove(db, key, strlen(key));
        FUZZ_CHECK(rc == KVS_OK || rc == KVS_NOT_FOUND);
        rc = KVS_OK;
        model_del(m, k);
        break;
    case 2: {
        kvs_batch_t *b;
        FUZZ_CHECK(kvs_batch_create(&b) == KVS_OK);
        struct model after = {0};
        model_copy(&after, m);
        int count = 1 + (int)(n % 6);
        for (int i = 0; i < count && in->n >= 2; i++) {
            uint8_t kb = fuzz_u8(in);
            int bk = kb % NKEYS;
            char bkey[4];
            key_name(bk, bkey);
            if (kb & 0x80) {
                FUZZ_CHECK(kvs_batch_remove(b, bkey, strlen(bkey)) == KVS_OK);
                model_del(&after, bk);
            } else {
                size_t bn = fuzz_u8(in);
                uint8_t *bv = make_value(op * 7 + (unsigned)i, bn);
                FUZZ_CHECK(kvs_batch_set(b, bkey, strlen(bkey), bv, bn) == KVS_OK);
                model_set(&after, bk, bv, bn);
                free(bv);
            }
        }
        rc = kvs_batch_apply(db, b);
        if (rc == KVS_OK)
            model_copy(m, &after);
        model_free(&after);
        kvs_batch_destroy(b);
        break;
    }
    case 3:
        rc = kvs_set_expire(db, key, strlen(key), v, n, FAR_FUTURE, 0);
        if (rc == KVS_OK)
            model_set(m, k, v, n);
        break;
    case 4:
        rc = kvs_set_expire(db, key, strlen(key), v, n, 1000, 0);
        if (rc == KVS_OK)
            model_del(m, k);
        break;
    case 5:
        rc = kvs_sync(db);
        break;
    case 6:
        rc = kvs_set(db, key, strlen(key), v, n);
        if (rc == KVS_OK)
            model_set(m, k, v, n);
        break;
    }
    FUZZ_CHECK(rc == KVS_OK);
    free(v);
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    bool write_through = data[0] & 1;
    uint16_t kept = (uint16_t)(data[size - 2] | data[size - 1] << 8);
    struct fuzz_in in = {data + 1, size - 3};

    fuzz_clear_dir(dir);
    kvs_t *db;
    FUZZ_CHECK(open_dir(dir, write_through, &db) == KVS_OK);
    struct kvs *d = (struct kvs *)db;
    struct model before = {0}, after = {0}, prev = {0};
    uint32_t seg_id = 0;
    uint64_t start = 0, end = 0;
    for (unsigned op = 0; op < MAX_OPS; op++) {
        model_copy(&prev, &after);
        uint32_t id0 = d->active->id;
        uint64_t tail0 = d->active->tail;
        if (!one_write(db, &in, op, &after))
            break;
        model_copy(&before, &prev);
        seg_id = d->active->id;
        end = d->active->tail;
        start = seg_id == id0 ? tail0 : KVS_SEG_HEADER_SIZE;
    }
    copy_store(d);
    bool torn = kept != 0xffff && end > start;
    if (torn)
        tear_record(seg_id, start, end, kept);
    FUZZ_CHECK(kvs_close(db) == KVS_OK);

    kvs_t *c;
    FUZZ_CHECK(open_dir(crash_dir, write_through, &c) == KVS_OK);
    expect_model(c, torn ? &before : &after);
    FUZZ_CHECK(kvs_verify(c, NULL, NULL) == KVS_OK);
    FUZZ_CHECK(kvs_close(c) == KVS_OK);
    FUZZ_CHECK(open_dir(crash_dir, write_through, &c) == KVS_OK);
    expect_model(c, torn ? &before : &after);
    FUZZ_CHECK(kvs_close(c) == KVS_OK);
    model_free(&before);
    model_free(&after);
    model_free(&prev);
    return 0;
}
