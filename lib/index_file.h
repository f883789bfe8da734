/*
 * The INDEX file: the whole in-memory index, saved by kvs_close so that the
 * next kvs_open can load it in one read instead of replaying hint files.
 * It describes the store exactly as it was at close (the list of segments,
 * their sizes and epochs); if anything differs at open, it is ignored. It is
 * deleted when a store is opened for writing, so a stale one never lingers.
 */
#ifndef KVS_INDEX_FILE_H
#define KVS_INDEX_FILE_H

struct kvs;

#define KVS_INDEX_FILE_NAME "INDEX"
/* Below this many keys replaying the hint files is about as fast, and the
 * file (at least 64 KiB) would be large next to the data. */
#define KVS_INDEX_FILE_MIN_KEYS 50000u

/* Tests that want a small store to save its index lower the threshold
 * (KVS_INDEX_FILE_MIN_KEYS otherwise). A function, not a variable: no global
 * data symbol (AddressSanitizer would export an indicator for one). */
void kvs__index_file_set_min_keys(unsigned keys);

/* Save the index of a store whose segments are all sealed and synced, if it
 * holds at least that many keys. */
int kvs__index_file_write(struct kvs *db);

/* Load the index saved at the last close into db, whose segments are open
 * and in its list. KVS_OK, or KVS_NOT_FOUND if there is no usable INDEX file
 * (absent, damaged, or describing other segments): then replay as usual. */
int kvs__index_file_load(struct kvs *db);

/* Remove the INDEX file (before a store opened for writing changes). */
int kvs__index_file_remove(struct kvs *db);

#endif
