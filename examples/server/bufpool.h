/*
 * A worker's stock of I/O buffers. A connection holds an input or output
 * buffer only while it has unprocessed input or unsent output, so ten
 * thousand idle clients cost no buffer memory, and the busy ones reuse the
 * same few chunks instead of calling malloc for every request.
 */
#ifndef KVS_SERVER_BUFPOOL_H
#define KVS_SERVER_BUFPOOL_H

#include "buf.h"

/* Size of a pooled chunk: one read's worth (as Redis's PROTO_IOBUF_LEN). */
#define BUFPOOL_CHUNK (16u * 1024u)
/* Chunks kept for reuse; beyond this they are freed. */
#define BUFPOOL_KEEP 64u

struct bufpool {
    char *chunks[BUFPOOL_KEEP];
    unsigned n;
};

/* Give b (empty, unallocated) a chunk. Returns 0, or -1 on ENOMEM (b marked failed). */
int bufpool_take(struct bufpool *pool, struct buf *b);

/* Take back b's memory (b->len must be 0); b is unallocated afterwards. */
void bufpool_give(struct bufpool *pool, struct buf *b);

/* Free every kept chunk. */
void bufpool_destroy(struct bufpool *pool);

#endif
