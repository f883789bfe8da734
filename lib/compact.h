/*
 * The background thread: hint files for sealed segments, the INDEX file's
 * removal, compaction (the steps and why each is crash-safe are in
 * compact.c and doc/DESIGN.md).
 */
#ifndef KVS_COMPACT_H
#define KVS_COMPACT_H

#include <stdbool.h>
#include <stddef.h>

struct kvs;

int kvs__bg_start(struct kvs *db);
void kvs__bg_stop(struct kvs *db);
/* Wake the thread: a segment was sealed. */
void kvs__bg_kick(struct kvs *db);
/* Take compact_mutex from any thread but the background one. The mutex is
 * not fair: the background thread, which retakes it at once while hint
 * files lag behind, could otherwise keep a first iterator, a backup or
 * kvs_compact waiting for seconds. It leaves a round out while anyone waits. */
void kvs__compact_lock(struct kvs *db);
/* kvs_compact(): seal the active segment, compact every segment with garbage. */
int kvs__compact_now(struct kvs *db);
/* kvs_close(), once the background thread stopped: while the garbage is
 * above the trigger, compact as the background thread would, in rounds of
 * at most 32 MiB copied, for at most a second, so that the directory right
 * after a write burst is not twice the data (the background thread,
 * sharing the CPUs with the writer, lags behind such a burst). A failure
 * leaves the garbage for the next open's background thread. */
int kvs__compact_at_close(struct kvs *db);
/* Write hint files for sealed segments that lack one, at most max of them;
 * true if it stopped at max with more left. */
bool kvs__write_pending_hints(struct kvs *db, size_t max);

#endif
