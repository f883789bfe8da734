/*
 * The grow-ahead thread: allocates and faults in the active segment's next
 * 2 MiB step on another CPU, so that the writer finds it ready.
 */
#ifndef KVS_AHEAD_H
#define KVS_AHEAD_H

#include <stdint.h>

struct kvs;
struct kvs_segment;

/* Grow segment s to length to in the background (caller holds write_mutex). */
void kvs__ahead_ask(struct kvs *db, struct kvs_segment *s, uint64_t to);
/* Stop the thread (at close, before the last seal). */
void kvs__ahead_stop(struct kvs *db);

#endif
