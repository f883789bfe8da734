/* The workload history and the check of a store against it (model.h). */
#include "model.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "store.h"

struct model *model_new(void)
{
    void *p = mmap(NULL, sizeof(struct model), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void model_free(struct model *m)
{
    if (m)
        munmap(m, sizeof(*m));
}

void model_key(int key, char out[16])
{
    snprintf(out, 16, "k%04d", key);
}

static void batch_key(uint32_t op, uint32_t j, char out[24])
{
    snprintf(out, 24, "b%u-%u", op, j);
}

static uint64_t mix(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void model_value(uint32_t op, int key, uint32_t size, uint8_t *out)
{
    char head[16];
    int n = snprintf(head, sizeof(head), "%07u/%05d", op, key);
    memcpy(out, head, (size_t)n < size ? (size_t)n : size);
    uint64_t st = ((uint64_t)op << 20) ^ (uint64_t)key;
    for (uint32_t i = (uint32_t)n; i < size; i += 8) {
        uint64_t r = mix(st + i);
        memcpy(out + i, &r, size - i < 8 ? size - i : 8);
    }
}

static size_t issue(struct model *m, enum model_kind kind, int key, uint32_t size, uint32_t n)
{
    size_t i = atomic_load(&m->issued);
    if (i >= MODEL_MAX_OPS)
        abort(); /* the scripts stay well below */
    struct model_op *op = &m->ops[i];
    op->kind = (uint8_t)kind;
    op->key = (uint16_t)key;
    op->size = size < 16 ? 16 : size;
    op->batch_n = n;
    op->seq = 0;
    atomic_store(&op->state, MODEL_ISSUED);
    atomic_store(&m->issued, i + 1);
    return i;
}

static int outcome(struct model *m, kvs_t *db, size_t i, int rc)
{
    /* the caller is the only writer: write_seq is its own */
    m->ops[i].seq = ((struct kvs *)db)->write_seq;
    atomic_store(&m->ops[i].state,
                 rc == KVS_OK || rc == KVS_NOT_FOUND ? MODEL_ACKED : MODEL_FAILED);
    return rc;
}

int model_set(struct model *m, kvs_t *db, int key, uint32_t size)
{
    size_t i = issue(m, MODEL_SET, key, size, 0);
    size = m->ops[i].size;
    uint8_t *v = malloc(size);
    char k[16];
    model_key(key, k);
    model_value((uint32_t)i, key, size, v);
    int rc = kvs_set(db, k, strlen(k), v, size);
    free(v);
    return outcome(m, db, i, rc);
}

int model_remove(struct model *m, kvs_t *db, int key)
{
    size_t i = issue(m, MODEL_DEL, key, 0, 0);
    char k[16];
    model_key(key, k);
    return outcome(m, db, i, kvs_remove(db, k, strlen(k)));
}

int model_batch(struct model *m, kvs_t *db, uint32_t n, uint32_t size)
{
    if (n > MODEL_MAX_BATCH)
        abort();
    size_t i = issue(m, MODEL_BATCH, 0, size, n);
    size = m->ops[i].size;
    kvs_batch_t *b;
    if (kvs_batch_create(&b) != KVS_OK)
        abort();
    uint8_t *v = malloc(size);
    for (uint32_t j = 0; j < n; j++) {
        char k[24];
        batch_key((uint32_t)i, j, k);
        model_value((uint32_t)i, (int)j, size, v);
        if (kvs_batch_set(b, k, strlen(k), v, size) != KVS_OK)
            abort();
    }
    free(v);
    int rc = kvs_batch_apply(db, b);
    kvs_batch_destroy(b);
    return outcome(m, db, i, rc);
}

int model_sync(struct model *m, kvs_t *db)
{
    size_t before = atomic_load(&m->issued);
    int rc = kvs_sync(db);
    if (rc == KVS_OK && before > atomic_load(&m->floor))
        atomic_store(&m->floor, before);
    return rc;
}

int model_close(struct model *m, kvs_t *db)
{
    size_t before = atomic_load(&m->issued);
    int rc = kvs_close(db);
    if (rc == KVS_OK && before > atomic_load(&m->floor))
        atomic_store(&m->floor, before);
    return rc;
}

void model_opened(struct model *m)
{
    atomic_store(&m->session, atomic_load(&m->issued));
}

size_t model_bound(const struct model *m, uint64_t synced_seq)
{
    size_t b = atomic_load(&m->floor);
    size_t issued = atomic_load(&m->issued);
    if (b < atomic_load(&m->session))
        return b;
    for (; b < issued; b++) {
        int st = atomic_load(&m->ops[b].state);
        if (st == MODEL_FAILED)
            continue;
        if (st != MODEL_ACKED || m->ops[b].seq > synced_seq)
            break;
    }
    return b;
}

/* Does the store hold exactly this value (op's) under the key? */
static bool value_is(const void *got, size_t len, uint32_t op, int key, uint32_t size)
{
    if (len != size)
        return false;
    uint8_t *want = malloc(size);
    model_value(op, key, size, want);
    bool same = memcmp(got, want, size) == 0;
    free(want);
    return same;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* A regular key: which op's result is there (-1 absent), and is it allowed? */
static int check_key(const struct model *m, kvs_t *db, int key, size_t bound, size_t issued,
                     int32_t *seen, char *err, size_t errlen)
{
    char k[16];
    model_key(key, k);
    void *v;
    size_t len;
    int rc = kvs_get(db, k, strlen(k), &v, &len);
    if (rc != KVS_OK && rc != KVS_NOT_FOUND)
        return fail(err, errlen, "%s: kvs_get returned %s", k, kvs_status_name(rc));
    /* the last acknowledged op of the key before the bound */
    long last = -1;
    for (size_t i = 0; i < bound && i < issued; i++)
        if (m->ops[i].kind != MODEL_BATCH && m->ops[i].key == key &&
            atomic_load(&m->ops[i].state) == MODEL_ACKED)
            last = (long)i;
    int32_t found = -2; /* not matched yet */
    if (rc == KVS_NOT_FOUND) {
        found = -1;
        bool ok = last < 0 || m->ops[last].kind == MODEL_DEL;
        for (size_t i = (size_t)(last + 1); !ok && i < issued; i++)
            ok = m->ops[i].kind == MODEL_DEL && m->ops[i].key == key;
        *seen = -1;
        if (!ok)
            return fail(err, errlen, "%s: absent, but op %ld (a set) was durable and no later "
                        "removal was issued", k, last);
        return 0;
    }
    for (size_t i = last < 0 ? 0 : (size_t)last; i < issued && found < 0; i++)
        if (m->ops[i].kind == MODEL_SET && m->ops[i].key == key &&
            value_is(v, len, (uint32_t)i, key, m->ops[i].size))
            found = (int32_t)i;
    if (found < 0) {
        /* an older value, or one never written? say which */
        long older = -1;
        for (size_t i = 0; i < issued && older < 0; i++)
            if (m->ops[i].kind == MODEL_SET && m->ops[i].key == key &&
                value_is(v, len, (uint32_t)i, key, m->ops[i].size))
                older = (long)i;
        kvs_free(v);
        if (older >= 0)
            return fail(err, errlen, "%s: holds the value of op %ld, older than op %ld (%s) "
                        "that was durable", k, older, last,
                        m->ops[last].kind == MODEL_DEL ? "its removal" : "a set");
        return fail(err, errlen, "%s: holds %zu bytes that were never written under it", k,
                    len);
    }
    kvs_free(v);
    *seen = found;
    return 0;
}

/* A batch: all of its keys with its values, or none of them. */
static int check_batch(const struct model *m, kvs_t *db, size_t op, bool durable,
                       unsigned sample, bool *present, char *err, size_t errlen)
{
    const struct model_op *o = &m->ops[op];
    uint32_t step = sample && o->batch_n > sample ? o->batch_n / sample : 1;
    uint32_t have = 0, looked = 0;
    for (uint32_t j = 0; j < o->batch_n; j += step) {
        char k[24];
        batch_key((uint32_t)op, j, k);
        void *v;
        size_t len;
        int rc = kvs_get(db, k, strlen(k), &v, &len);
        looked++;
        if (rc == KVS_NOT_FOUND)
            continue;
        if (rc != KVS_OK)
            return fail(err, errlen, "batch op %zu, %s: kvs_get returned %s", op, k,
                        kvs_status_name(rc));
        bool same = value_is(v, len, (uint32_t)op, (int)j, o->size);
        kvs_free(v);
        if (!same)
            return fail(err, errlen, "batch op %zu, %s: a value that was never written", op, k);
        have++;
    }
    if (have != 0 && have != looked)
        return fail(err, errlen, "batch op %zu: %u of %u keys present (a batch is all or "
                    "nothing)", op, have, looked);
    if (durable && have == 0)
        return fail(err, errlen, "batch op %zu: durable but absent", op);
    *present = have != 0;
    return 0;
}

int model_check(const struct model *m, kvs_t *db, size_t bound, size_t issued,
                unsigned batch_sample, struct model_seen *seen, char *err, size_t errlen)
{
    struct model_seen local;
    if (!seen)
        seen = &local;
    memset(seen, 0, sizeof(*seen));
    for (int key = 0; key < MODEL_KEYS; key++)
        if (check_key(m, db, key, bound, issued, &seen->key[key], err, errlen) < 0)
            return -1;
    for (size_t i = 0; i < issued; i++) {
        if (m->ops[i].kind != MODEL_BATCH)
            continue;
        bool durable = i < bound && atomic_load(&m->ops[i].state) == MODEL_ACKED;
        bool present = false;
        if (check_batch(m, db, i, durable, batch_sample, &present, err, errlen) < 0)
            return -1;
        seen->batches_present += present;
    }
    return 0;
}
