/*
 * Opening a store: replay of the segments into the index (from the saved
 * INDEX file, hint files, or by scanning), torn tails, repair, OBSOLETE.
 * The rules are in doc/FORMAT.md ("Recovery").
 */
#ifndef KVS_RECOVERY_H
#define KVS_RECOVERY_H

struct kvs;

/* Fill db's segment list and index from its directory (open and locked). */
int kvs__recover(struct kvs *db);

#endif
