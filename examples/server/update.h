/*
 * Helpers for commands built on kvs_update() (read-modify-write under the
 * store's write lock): the callbacks append the old value to the reply as
 * they see it, and an update that fails afterwards takes that back.
 *
 * A callback runs while every other writer of the store waits, so it only
 * copies and computes; it never calls into the store.
 */
#ifndef KVS_SERVER_UPDATE_H
#define KVS_SERVER_UPDATE_H

#include <kvs.h>
#include <stdbool.h>

#include "session.h"

/* What every update callback of kvs-server carries. */
struct update_base {
    struct session *s;
    size_t reply_mark;  /* s->out's length before the update: undone on failure */
    const char *error;  /* an error reply chosen by the callback (it then aborts) */
    bool wrote;         /* the callback asked for a write (SET or REMOVE) */
};

/* Start an update of the session's reply. */
void update_begin(struct update_base *u, struct session *s);

/* The status a callback returns to abort with u->error as the reply. */
#define UPDATE_ABORT KVS_EINVAL

/*
 * Append the old value (bulk) or nil to the reply from inside a callback.
 * Returns 0, or KVS_ENOMEM (return it from the callback) if the reply buffer
 * could not take it. *copy, if not NULL, points at the copy in the reply,
 * valid until kvs_update() returns (usable as the new value).
 */
int update_reply_old(struct update_base *u, const void *old, size_t oldlen, int found,
                     const void **copy);

/*
 * After kvs_update() returned rc: on failure, drop what the callback
 * appended and reply the callback's error or the storage error. Returns
 * true if the update succeeded (rc KVS_OK) and the caller should reply; a
 * write it made is then noted in the session (for --sync always).
 */
bool update_end(struct update_base *u, int rc);

#endif
