/*
 * A load generator for kvs-server tests: many non-blocking connections on
 * one epoll loop, each keeping a few pipelined requests in flight.
 *
 * Every connection works on its own keys and keeps a model of them, so the
 * exact bytes of every reply are known when the request is sent; replies
 * are compared byte for byte with that expected stream (no RESP parsing on
 * the checking side, so a reply cannot be "close enough").
 *
 * Mixed mode: SET (values 0 to 64 bytes, sometimes up to 4 KiB, any bytes),
 * GET, DEL, EXISTS, MGET, STRLEN, PING, ECHO on 16 keys per connection.
 * SET-only mode: connection c sends SET lg:<c>:<n> for n = 0, 1, 2, ... with
 * values from loadgen_value(); acked[c] counts the replies received, so
 * SETs 0 .. acked[c]-1 were acknowledged (the shutdown test).
 */
#ifndef KVS_TESTS_SERVER_LOADGEN_H
#define KVS_TESTS_SERVER_LOADGEN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loadgen_config {
    uint16_t port;
    unsigned clients;
    unsigned depth;          /* requests in flight per connection (1 or more) */
    long long run_ms;        /* send new requests for this long */
    long long drain_ms;      /* then wait at most this long for the replies */
    bool sets_only;          /* SET-only mode; the server may close connections */
    uint64_t seed;
    atomic_bool *stop;       /* optional: stop sending new requests when set */
};

struct loadgen_stats {
    unsigned connected;      /* connections established */
    uint64_t requests;       /* requests sent */
    uint64_t replies;        /* complete replies received and checked */
    uint64_t mismatches;     /* replies that differ from the model (0 expected) */
    unsigned closed;         /* connections the server closed or reset */
    unsigned unfinished;     /* connections with replies missing at the end */
    char first_error[320];   /* what went wrong first, for the failure message */
    uint64_t *acked;         /* per connection: replies received (malloc'd) */
    long long elapsed_ms;
};

/*
 * Connect cfg->clients connections and run the load. Returns 0 when it ran
 * (the stats say how well), -1 when it could not start (first_error says why).
 * Free st->acked afterwards.
 */
int loadgen_run(const struct loadgen_config *cfg, struct loadgen_stats *st);

/* SET-only mode: the value of connection c's n-th SET (into buf, at least 64 bytes). */
size_t loadgen_value(unsigned c, uint64_t n, char *buf);

/* Raise the soft descriptor limit to the hard one; returns the new soft limit. */
unsigned long loadgen_raise_fd_limit(void);

#endif
