/*
 * Commands on keys: GET DEL EXISTS MGET MSET STRLEN DBSIZE.
 *
 * libkvs keys are 1 to KVS_KEY_MAX bytes. A key outside that range cannot
 * exist, so reads treat it as absent; writes refuse it with an error.
 */
#include <kvs.h>

#include "commands.h"

static bool storable(const struct resp_arg *key)
{
    return key->len >= 1 && key->len <= KVS_KEY_MAX;
}

static bool check_key(struct session *s, const struct resp_arg *key)
{
    if (key->len == 0)
        resp_add_error(s->out, "ERR empty keys are not supported by kvs-server");
    else if (key->len > KVS_KEY_MAX)
        resp_add_errorf(s->out, "ERR key too long: kvs-server keys are at most %u bytes",
                        KVS_KEY_MAX);
    return storable(key);
}

/* Append the value of key (bulk or null), or an error reply; false on a storage error. */
static bool add_value(struct session *s, const struct resp_arg *key)
{
    void *val;
    size_t len;
    int rc = storable(key) ? kvs_get(s->srv->db, key->ptr, key->len, &val, &len) : KVS_NOT_FOUND;
    if (rc == KVS_OK) {
        resp_add_bulk(s->out, val, len);
        kvs_free(val);
        return true;
    }
    if (rc == KVS_NOT_FOUND) {
        resp_add_null(s->out);
        return true;
    }
    reply_storage_error(s, rc);
    return false;
}

void cmd_get(struct session *s, size_t argc, const struct resp_arg *argv)
{
    (void)argc;
    add_value(s, &argv[1]);
}

void cmd_mget(struct session *s, size_t argc, const struct resp_arg *argv)
{
    resp_add_array(s->out, argc - 1);
    for (size_t i = 1; i < argc; i++)
        add_value(s, &argv[i]); /* a failed key shows as an error element */
}

void cmd_mset(struct session *s, size_t argc, const struct resp_arg *argv)
{
    if ((argc - 1) % 2 != 0) {
        reply_arity(s, "mset");
        return;
    }
    for (size_t i = 1; i < argc; i += 2)
        if (!check_key(s, &argv[i]))
            return; /* nothing written */
    for (size_t i = 1; i < argc; i += 2) {
        int rc = kvs_set(s->srv->db, argv[i].ptr, argv[i].len, argv[i + 1].ptr, argv[i + 1].len);
        if (rc != KVS_OK) {
            reply_storage_error(s, rc);
            return;
        }
        s->wrote = true;
    }
    resp_add_simple(s->out, "OK");
}

void cmd_del(struct session *s, size_t argc, const struct resp_arg *argv)
{
    long long removed = 0;
    for (size_t i = 1; i < argc; i++) {
        if (!storable(&argv[i]))
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
        if (!storable(&argv[i]))
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
    int rc = storable(&argv[1]) ? kvs_get(s->srv->db, argv[1].ptr, argv[1].len, &val, &len)
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
