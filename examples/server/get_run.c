/* A run of pipelined GETs answered together; see get_run.h. */
#include "get_run.h"

#include "commands.h"

bool get_run_accepts(const struct session *s, const struct resp_request *req)
{
    return req->argc == 2 && s->authed && arg_is(&req->argv[0], "get");
}

bool get_run_add(struct get_run *r, const struct resp_request *req, size_t start)
{
    const struct resp_arg *key = &req->argv[1];
    r->start[r->n] = start;
    r->items[r->n++] = (kvs_get_item_t){.key = key->ptr, .klen = key->len};
    return r->n == GET_RUN_MAX;
}

void get_run_read(struct session *s, struct get_run *r, size_t budget)
{
    int rc = kvs_multi_get_ex(s->srv->db, r->items, r->n, budget, KVS_MULTI_GET_EACH);
    for (size_t i = 0; i < r->n; i++) {
        kvs_get_item_t *it = &r->items[i];
        if (rc != KVS_OK)
            it->status = rc;
        else if (!key_storable(&(struct resp_arg){.ptr = it->key, .len = it->klen}))
            it->status = KVS_NOT_FOUND; /* as cmd_get: such a key cannot exist */
    }
}

bool get_run_reply(struct session *s, struct get_run *r, size_t i)
{
    kvs_get_item_t *it = &r->items[i];
    if (it->status == KVS_ETOOBIG) { /* past the budget */
        if (i > 0)
            return false;
        struct resp_arg argv[2] = {{.ptr = "GET", .len = 3},
                                   {.ptr = it->key, .len = it->klen}};
        cmd_get(s, 2, argv); /* read again, bounded by the output limit alone */
        return true;
    }
    reply_read(s, it->status, it->val, it->vlen);
    it->val = NULL; /* reply_read freed it */
    return true;
}

void get_run_clear(struct get_run *r)
{
    for (size_t i = 0; i < r->n; i++)
        kvs_free(r->items[i].val);
    r->n = 0;
}
