/*
 * Reading and removing keys: GET MGET DEL EXISTS STRLEN DBSIZE.
 *
 * libkvs keys are 1 to KVS_KEY_MAX bytes. A key outside that range cannot
 * exist, so these treat it as absent.
 */
#include <kvs.h>
#include <stdlib.h>

#include "commands.h"

void cmd_get(struct session *s, size_t argc, const struct resp_arg *argv)
{
    (void)argc;
    void *val = NULL;
    size_t len = 0;
    const struct resp_arg *key = &argv[1];
    int rc = key_storable(key) ? kvs_get(s->srv->db, key->ptr, key->len, &val, &len)
                               : KVS_NOT_FOUND;
    reply_read(s, rc, val, len);
}

/*
 * MGET reads all its keys as of one moment, as Redis's MGET does: a reader
 * never sees half of an MSET (a batch), nor a later write without an earlier
 * one. kvs_multi_get gives that, and overlaps the keys' memory loads, so a
 * key costs less than a GET of its own.
 */
void cmd_mget(struct session *s, size_t argc, const struct resp_arg *argv)
{
    size_t n = argc - 1;
    kvs_get_item_t *items = malloc(n * sizeof(*items));
    if (!items) {
        reply_storage_error(s, KVS_ENOMEM);
        return;
    }
    for (size_t i = 0; i < n; i++)
        items[i] = (kvs_get_item_t){.key = argv[i + 1].ptr, .klen = argv[i + 1].len};
    int rc = kvs_multi_get(s->srv->db, items, n, reply_budget(s->out));
    if (rc != KVS_OK) {
        free(items);
        reply_storage_error(s, rc);
        return;
    }
    resp_add_array(s->out, n);
    for (size_t i = 0; i < n; i++) {
        int status = key_storable(&argv[i + 1]) ? items[i].status : KVS_NOT_FOUND;
        if (status == KVS_ETOOBIG) /* past the output limit: the reply fails */
            s->out->failed = true;
        else /* an absent key is nil; a failed one an error element */
            reply_read(s, status, items[i].val, items[i].vlen);
    }
    free(items);
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
