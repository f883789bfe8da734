/*
 * The ORDER file: the key order (one sorted run) saved by a clean close of
 * a store of KVS_INDEX_FILE_MIN_KEYS keys or more, and loaded by the order
 * thread at the next open instead of sorting every key again. It is used
 * if and only if it describes exactly the segments in the directory.
 */
#ifndef KVS_ORDER_FILE_H
#define KVS_ORDER_FILE_H

#include <stdbool.h>

struct kvs;
struct kvs_run;

/* Save run (the whole order of a store whose segments are all sealed and
 * synced; NULL or small: just remove an old file). Written without fsync:
 * a lost or torn one is not used. */
int kvs__order_file_write(struct kvs *db, const struct kvs_run *run);

/* The saved order as a run: KVS_OK, or KVS_NOT_FOUND when there is no
 * usable file (absent, damaged, or describing other segments or keys). */
int kvs__order_file_load(struct kvs *db, struct kvs_run **out);

void kvs__order_file_remove(struct kvs *db);
/* Is there a saved order to try (a cheap look: no validation)? */
bool kvs__order_file_exists(struct kvs *db);

#endif
