/*
 * One client connection: non-blocking socket, input buffer and parser,
 * output buffer, and the session its commands run in.
 *
 * Backpressure: a connection stops executing requests once it has
 * CONN_OUT_SOFT_LIMIT bytes of replies unsent, and stops reading while its
 * socket refuses more output; a client that does not read its replies only
 * stalls itself.
 */
#ifndef KVS_SERVER_CONN_H
#define KVS_SERVER_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "resp.h"
#include "session.h"

struct worker;

/* Unsent reply bytes at which a connection stops executing requests. */
#define CONN_OUT_SOFT_LIMIT (64u * 1024u)

enum conn_flags {
    CONN_PENDING = 1u << 0, /* on the worker's pending list */
    CONN_PAUSED = 1u << 1,  /* stopped executing at the output soft limit */
    CONN_RESUME = 1u << 2,  /* paused, output drained: execute again next iteration */
    CONN_EOF = 1u << 3,     /* the peer closed its side: nothing more to read */
    CONN_DISCARD = 1u << 4, /* close without sending what is buffered */
    CONN_DEAD = 1u << 5,    /* closed; freed once off the pending list */
};

struct conn {
    int fd;
    unsigned flags;
    uint32_t events;           /* epoll interest currently registered */
    struct worker *w;
    struct buf in;
    size_t in_pos;             /* first byte of the request being parsed */
    struct resp_parser parser;
    struct buf out;
    size_t out_pos;            /* bytes of out already sent */
    struct session sess;
    long long last_active;     /* worker clock (ms) of the last read or send (idle.h) */
    struct conn *prev, *next;  /* the worker's connections, most recently active first */
    struct conn *pending_next;
};

/* Adopt an accepted socket. Returns NULL on failure (the caller closes fd). */
struct conn *conn_create(struct worker *w, int fd);

/* React to epoll events (reads and executes; output waits for conn_flush). */
void conn_on_event(struct conn *c, uint32_t events);

/* Execute requests left over when the connection was paused. */
void conn_resume(struct conn *c);

/* Send buffered replies and choose what to wait for next; may close c. */
void conn_flush(struct conn *c);

/* Close now, dropping anything unsent. */
void conn_close(struct conn *c);

/* Free a dead connection's memory. */
void conn_free(struct conn *c);

#endif
