/*
 * A worker thread: one epoll loop serving its share of the connections.
 *
 * The acceptor (main thread) hands accepted sockets to the workers in turn.
 * Each loop iteration reads and executes whatever requests are ready, then,
 * under --sync always, makes the iteration's writes durable with one
 * kvs_sync() (the library shares it with the other workers' syncs: group
 * commit), and only then sends the replies: one write per connection.
 */
#ifndef KVS_SERVER_WORKER_H
#define KVS_SERVER_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bufpool.h"
#include "resp.h"
#include "server.h"

struct conn;

/* Counters of one worker: written by its thread only, read by INFO from any. */
struct worker_stats {
    _Atomic uint64_t connections; /* accepted */
    _Atomic uint64_t commands;    /* executed */
    _Atomic uint64_t net_in;      /* bytes read */
    _Atomic uint64_t net_out;     /* bytes written */
    _Atomic uint64_t protocol_errors;
    _Atomic uint64_t idle_closed;   /* closed by --timeout */
    _Atomic uint64_t output_closed; /* closed past --client-output-limit */
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

struct worker {
    struct server *srv;
    unsigned index;
    pthread_t thread;
    int epfd;
    int event_fd;                 /* wakes the loop: new sockets, stop */

    pthread_mutex_t lock;         /* guards the hand-off queue */
    int *handoff;                 /* sockets accepted for this worker */
    size_t nhandoff, handoff_cap;
    atomic_bool stop;             /* set by worker_stop() */

    /* Owned by the worker thread. */
    bool stopping;                /* finishing in-flight requests */
    long long now;                /* monotonic ms, read once per loop iteration */
    struct conn *conns;           /* every open connection, most recently active first */
    struct conn *conns_tail;      /* the least recently active (idle.h) */
    unsigned nconns;
    struct conn *pending;         /* to flush (and maybe resume) this iteration */
    bool busy;                    /* events came close together: poll before sleeping */
    struct bufpool pool;
    struct resp_limits limits;        /* request limits of authenticated clients */
    struct resp_limits limits_unauth; /* before AUTH, when a password is set */
    size_t query_limit;           /* largest buffered request */
    size_t output_limit;          /* most unsent output of one connection; SIZE_MAX: none */
    struct worker_stats stats;
};

/* Start worker number index. Returns 0, or -1 with errno set. */
int worker_start(struct worker *w, struct server *srv, unsigned index);

/* Give an accepted socket to w (acceptor thread). Returns 0, or -1: caller closes fd. */
int worker_hand_off(struct worker *w, int fd);

/* Ask w to finish its in-flight requests, close its connections and exit (any thread). */
void worker_stop(struct worker *w);

/* Wait for w to exit and release what it holds. */
void worker_join(struct worker *w);

/* Put c on the list handled at the end of the current iteration. */
void worker_mark_pending(struct worker *w, struct conn *c);

#endif
