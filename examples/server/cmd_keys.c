/*
 * Reading and removing keys: GET MGET DEL EXISTS STRLEN DBSIZE.
 *
 * libkvs keys are 1 to KVS_KEY_MAX bytes. A key outside that range cannot
 * exist, so these treat it as absent.
 */
#include <kvs.h>

#include "commands.h"

/* Append a value read with rc (bulk or null), or an error reply. */
static void add_read(struct session *s, int rc, void *val, size_t len)
{
    if (rc == KVS_OK) {
        resp_add_bulk(s->out, val, len);
        kvs_free(val);
    } else if (rc == KVS_NOT_FOUND) {
        resp_add_null(s->out);
    } else {
        reply_storage_error(s, rc);
    }
}

void cmd_get(struct session *s, size_t argc, const struct resp_arg *argv)
{
    (void)argc;
    void *val = NULL;
    size_t len = 0;
    const struct resp_arg *key = &argv[1];
    int rc = key_storable(key) ? kvs_get(s->srv->db, key->ptr, key->len, &val, &len)
                               : KVS_NOT_FOUND;
    add_read(s, rc, val, len);
}

/*
 * MGET of several keys reads them all as of one moment, through a libkvs
 * snapshot, as Redis's MGET does: a reader never sees half of an MSET (a
 * batch), nor a later write without an earlier one, which a get per key
 * could straddle. A snapshot lookup searches the key order, so this costs
 * more than a get per key (doc/SERVER.md); one key needs no snapshot.
 */
void cmd_mget(struct session *s, size_t argc, const struct resp_arg *argv)
{
    kvs_snapshot_t *snap = NULL;
    if (argc > 2) {
        int rc = kvs_snapshot_create(s->srv->db, &snap);
        if (rc != KVS_OK) {
            reply_storage_error(s, rc);
            return;
        }
    }
    resp_add_array(s->out, argc - 1);
    for (size_t i = 1; i < argc; i++) {
        void *val = NULL;
        size_t len = 0;
        const struct resp_arg *key = &argv[i];
        int rc = !key_storable(key) ? KVS_NOT_FOUND
                 : snap ? kvs_snapshot_get(snap, key->ptr, key->len, &val, &len)
                        : kvs_get(s->srv->db, key->ptr, key->len, &val, &len);
        add_read(s, rc, val, len); /* a failed key shows as an error element */
    }
    kvs_snapshot_release(snap);
}

void cmd_del(struct session *s, size_t argc, const struct resp_arg *argv)
{
    long long removed = 0;
    for (size_t i = 1; i < argc; i++) {
        if (!key_storable(&argv[i]))
            continue;
        int rc = kvs_remove(s->srv->db, argv[i].ptr, argv[i].len);
        if (rc == KVS_OK) {
            removed++;
            s->wrote = true;
        } else if (rc != KVS_NOT_FOUND) {
            reply_storage_error(s, rc);
            return;
        }
    }
    resp_add_int(s->out, removed);
}

void cmd_exists(struct session *s, size_t argc, const struct resp_arg *argv)
{
    long long found = 0;
    for (size_t i = 1; i < argc; i++) {
        if (!key_storable(&argv[i]))
            continue;
        int rc = kvs_exists(s->srv->db, argv[i].ptr, argv[i].len);
        if (rc == KVS_OK) {
            found++;
        } else if (rc != KVS_NOT_FOUND) {
            reply_storage_error(s, rc);
            return;
        }
    }
    resp_add_int(s->out, found);
}

void cmd_strlen(struct session *s, size_t argc, const struct resp_arg *argv)
{
    (void)argc;
    void *val;
    size_t len = 0;
    int rc = key_storable(&argv[1]) ? kvs_get(s->srv->db, argv[1].ptr, argv[1].len, &val, &len)
                                    : KVS_NOT_FOUND;
    if (rc == KVS_OK)
        kvs_free(val);
    if (rc == KVS_OK || rc == KVS_NOT_FOUND)
        resp_add_int(s->out, (long long)len);
    else
        reply_storage_error(s, rc);
}

void cmd_dbsize(struct session *s, size_t argc, const struct resp_arg *argv)
{
    (void)argc;
    (void)argv;
    uint64_t keys;
    int rc = kvs_stat(s->srv->db, KVS_STAT_KEYS, &keys);
    if (rc == KVS_OK)
        resp_add_int(s->out, (long long)keys);
    else
        reply_storage_error(s, rc);
}
