/*
 * Handles that read one view (order.h): snapshots, and the iterators made
 * over a snapshot or over the store's current state. kvs_close refuses to
 * close a store while such handles are open (KVS_EBUSY): they read its
 * segments and slot table.
 */
#ifndef KVS_SNAPSHOT_H
#define KVS_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "kvs.h"

struct kvs;
struct kvs_view;
struct kvs_rec;

struct kvs_snapshot {
    struct kvs *db;
    struct kvs_view *view;
    uint64_t now_ms; /* its moment: values expired by then are not seen */
};

/* A referenced view for a new handle, and its moment: the snapshot's, or
 * (snap NULL) the store's current ones; counted as an open handle of db. */
int kvs__handle_open(struct kvs *db, const kvs_snapshot_t *snap, struct kvs_view **view,
                     uint64_t *now_ms);
void kvs__handle_close(struct kvs *db, struct kvs_view *view);

/* Hand the caller a malloc'ed, NUL-terminated copy of r's value. */
int kvs__value_copy(const struct kvs_rec *r, void **val, size_t *vlen);

#endif
