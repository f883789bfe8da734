/*
 * MSET and MSETNX: many keys written as one libkvs batch, so a crash keeps
 * all of them or none, and readers (GET, MGET, SCAN) see all or none.
 *
 * MSETNX must also find every key absent in the same step as it writes
 * them. libkvs has no conditional batch, so MSETNX checks and applies with
 * the write gate closed (write_gate.h): no other write can come between its
 * checks and its batch. As this server is the store's
 * only writer (libkvs locks the directory), that makes MSETNX atomic. Keys
 * expiring meanwhile only turn "exists" into "absent", which cannot turn a
 * refusal into a wrong write.
 */
#include <kvs.h>

#include "commands.h"
#include "write_gate.h"

/* The pairs as one batch; false (with the error replied) if a key cannot be stored. */
static bool build_batch(struct session *s, size_t argc, const struct resp_arg *argv,
                        kvs_batch_t **out)
{
    *out = NULL;
    for (size_t i = 1; i < argc; i += 2)
        if (!key_check(s, &argv[i]))
            return false; /* nothing written */
    int rc = kvs_batch_create(out);
    for (size_t i = 1; i < argc && rc == KVS_OK; i += 2)
        rc = kvs_batch_set(*out, argv[i].ptr, argv[i].len, argv[i + 1].ptr, argv[i + 1].len);
    if (rc != KVS_OK) {
        reply_storage_error(s, rc);
        kvs_batch_destroy(*out);
        *out = NULL;
        return false;
    }
    return true;
}

/* Apply b; reply ok_reply or the storage error. */
static void apply(struct session *s, kvs_batch_t *b, bool integer_reply)
{
    int rc = kvs_batch_apply(s->srv->db, b);
    if (rc != KVS_OK) {
        reply_storage_error(s, rc);
        return;
    }
    s->wrote = true;
    if (integer_reply)
        resp_add_int(s->out, 1);
    else
        resp_add_simple(s->out, "OK");
}

void cmd_mset(struct session *s, size_t argc, const struct resp_arg *argv)
{
    kvs_batch_t *b;
    if ((argc - 1) % 2 != 0) {
        reply_arity(s, "mset");
        return;
    }
    if (!build_batch(s, argc, argv, &b))
        return;
    apply(s, b, false);
    kvs_batch_destroy(b);
}

/* 1 if any key exists, 0 if none, or a libkvs error. */
static int any_exists(kvs_t *db, size_t argc, const struct resp_arg *argv)
{
    for (size_t i = 1; i < argc; i += 2) {
        int rc = kvs_exists(db, argv[i].ptr, argv[i].len);
        if (rc != KVS_NOT_FOUND)
            return rc == KVS_OK ? 1 : rc;
    }
    return 0;
}

/* CMD_EXCLUSIVE: checks and batch with the write gate closed (see the top). */
void cmd_msetnx(struct session *s, size_t argc, const struct resp_arg *argv)
{
    kvs_batch_t *b;
    if ((argc - 1) % 2 != 0) {
        reply_arity(s, "msetnx");
        return;
    }
    if (!build_batch(s, argc, argv, &b))
        return;
    write_gate_close(s->srv->gate);
    int rc = any_exists(s->srv->db, argc, argv);
    if (rc < 0)
        reply_storage_error(s, rc);
    else if (rc == 1)
        resp_add_int(s->out, 0);
    else
        apply(s, b, true);
    write_gate_open(s->srv->gate);
    kvs_batch_destroy(b);
}
