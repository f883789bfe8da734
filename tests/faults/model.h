/*
 * The history of a scripted workload, and what a store may hold after it.
 *
 * Every write the workload makes is an operation in the history, issued
 * before the call and marked acknowledged (KVS_OK) or failed (an error: it
 * may or may not have reached the log) after it. Given a durability bound B
 * (the acknowledged operations before B must have survived) and the number
 * of operations issued so far, model_check() says whether the store's
 * contents are a state the store may be in:
 *
 *  - a key holds the value of the last acknowledged write of it before B, or
 *    of any write of it issued later (absent for a removal); with no
 *    acknowledged write before B, also nothing at all;
 *  - every value is byte for byte one that was written under that key;
 *  - a batch is there whole or not at all (whole if acknowledged before B).
 *
 * The history lives in memory shared with forked children (model_new), so
 * that a parent knows what a child acknowledged even if the child died.
 */
#ifndef KVS_FAULTS_MODEL_H
#define KVS_FAULTS_MODEL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvs.h"

#define MODEL_MAX_OPS 4096
#define MODEL_KEYS 64          /* regular keys "k0000".."k0063" */
#define MODEL_MAX_BATCH 400    /* keys in one batch */

enum model_kind { MODEL_SET, MODEL_DEL, MODEL_BATCH };
enum model_state { MODEL_ISSUED, MODEL_ACKED, MODEL_FAILED };

struct model_op {
    uint8_t kind;
    _Atomic uint8_t state;
    uint16_t key;      /* SET, DEL */
    uint32_t size;     /* SET: value length; BATCH: value length of each entry */
    uint32_t batch_n;  /* BATCH: entries "b<op>-<j>" for j < batch_n */
    uint64_t seq;      /* the store's write sequence number after the call */
};

struct model {
    struct model_op ops[MODEL_MAX_OPS];
    _Atomic size_t issued;
    /* acknowledged operations before floor are durable: an explicit sync or
     * a close returned KVS_OK after them */
    _Atomic size_t floor;
    /* first operation of the current session (sequence numbers restart at
     * every open); set by model_opened() */
    _Atomic size_t session;
};

/* A zeroed model in memory shared with children forked later. */
struct model *model_new(void);
void model_free(struct model *m);

/* Writes through the model: issue, call, record the outcome. Return the
 * call's status. The value of a SET is a function of the key and the
 * operation's index, size bytes long (at least 16). */
int model_set(struct model *m, kvs_t *db, int key, uint32_t size);
int model_remove(struct model *m, kvs_t *db, int key);
/* A batch of n new keys, each set once and never again. */
int model_batch(struct model *m, kvs_t *db, uint32_t n, uint32_t size);
/* kvs_sync, and on success raise the floor to what was issued before it. */
int model_sync(struct model *m, kvs_t *db);
/* kvs_close, same. */
int model_close(struct model *m, kvs_t *db);
/* A store was opened: sequence numbers start again. */
void model_opened(struct model *m);

/* The bound implied by the store's own record of what it synced (the write
 * sequence number every record up to which is on stable storage): the
 * operations acknowledged up to there, or the floor if that is higher. */
size_t model_bound(const struct model *m, uint64_t synced_seq);

/* What a store answered, per key, for comparing two opens of one state. */
struct model_seen {
    int32_t key[MODEL_KEYS];   /* -1 absent, else the op index of its value */
    uint32_t batches_present;  /* how many batches are present (whole) */
};

/*
 * Check db against the history: ops [0, bound) that were acknowledged must
 * be there; ops [bound, issued) may be. 0 if it holds, else -1 with a
 * message in err. seen (may be NULL) receives what was found.
 * batch_sample: check at most this many keys of each batch (0: all).
 */
int model_check(const struct model *m, kvs_t *db, size_t bound, size_t issued,
                unsigned batch_sample, struct model_seen *seen, char *err, size_t errlen);

/* Key names and values. */
void model_key(int key, char out[16]);
void model_value(uint32_t op, int key, uint32_t size, uint8_t *out);

#endif
