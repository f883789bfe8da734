/*
 * One client's command-level state: what the command handlers read and
 * change. The network side (struct conn) embeds it and owns its buffers.
 */
#ifndef KVS_SERVER_SESSION_H
#define KVS_SERVER_SESSION_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "server.h"

/* Counters of one worker: written by its thread only, read by INFO from any. */
struct worker_stats {
    _Atomic uint64_t connections; /* accepted */
    _Atomic uint64_t commands;    /* executed */
    _Atomic uint64_t net_in;      /* bytes read */
    _Atomic uint64_t net_out;     /* bytes written */
    _Atomic uint64_t protocol_errors;
};

/* Single-writer increment: a plain load and store, no locked instruction. */
static inline void stat_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static inline uint64_t stat_get(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

struct session {
    struct server *srv;
    struct buf *out;             /* replies are appended here */
    struct worker_stats *stats;
    bool *wrote;                 /* set by writes: under --sync always the worker syncs
                                    before sending this connection's replies */
    uint64_t id;                 /* CLIENT ID */
    int fd;                      /* for CLIENT INFO */
    time_t created;
    bool authed;                 /* AUTH done, or no password configured */
    bool close_after_reply;      /* QUIT, SHUTDOWN, fatal errors */
    char *name;                  /* CLIENT SETNAME, or NULL */
};

#endif
