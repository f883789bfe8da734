/*
 * One client's command-level state: what the command handlers read and
 * change. The network side (struct conn) embeds it and owns its buffers.
 */
#ifndef KVS_SERVER_SESSION_H
#define KVS_SERVER_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "server.h"

struct session {
    struct server *srv;
    struct buf *out;             /* replies are appended here */
    bool wrote;                  /* a write since the last flush: under --sync always the
                                    worker syncs before sending this connection's replies */
    unsigned worker;             /* index of the worker thread serving it (write gate slot) */
    uint64_t id;                 /* CLIENT ID */
    int fd;                      /* for CLIENT INFO */
    time_t created;
    bool authed;                 /* AUTH done, or no password configured */
    bool close_after_reply;      /* QUIT, SHUTDOWN, fatal errors */
    char *name;                  /* CLIENT SETNAME, or NULL */
    char *lib_name, *lib_ver;    /* CLIENT SETINFO, or NULL */
};

#endif
