/* Helpers for commands built on kvs_update(); see update.h. */
#include "update.h"

#include "commands.h"

void update_begin(struct update_base *u, struct session *s)
{
    *u = (struct update_base){.s = s, .reply_mark = s->out->len};
}

int update_reply_old(struct update_base *u, const void *old, size_t oldlen, int found,
                     const void **copy)
{
    struct buf *out = u->s->out;
    if (!found) {
        resp_add_null(out);
        return buf_failed(out) ? KVS_ENOMEM : 0;
    }
    resp_add_bulk(out, old, oldlen);
    if (buf_failed(out))
        return KVS_ENOMEM;
    if (copy) /* the bulk is "$<n>\r\n<bytes>\r\n": the bytes end 2 before the end */
        *copy = out->data + out->len - 2 - oldlen;
    return 0;
}

bool update_end(struct update_base *u, int rc)
{
    struct session *s = u->s;
    if (rc == KVS_OK) {
        s->wrote |= u->wrote;
        return true;
    }
    buf_truncate(s->out, u->reply_mark);
    if (u->error)
        resp_add_error(s->out, u->error);
    else
        reply_storage_error(s, rc);
    return false;
}
