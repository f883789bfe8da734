/*
 * The listening socket and the main thread's loop: accept connections and
 * hand them to the workers in turn, until SIGINT, SIGTERM or SHUTDOWN.
 */
#ifndef KVS_SERVER_ACCEPTOR_H
#define KVS_SERVER_ACCEPTOR_H

#include <signal.h>

#include "server.h"

/*
 * Bind and listen on a (SO_REUSEADDR, so a restart after kill -9 can bind at
 * once). Returns the socket and the address really bound (the port chosen
 * for port 0), or -1 after logging.
 */
int acceptor_listen(const struct addr *a, struct addr *bound);

/*
 * Accept until a signal in sigs arrives (they must be blocked in every
 * thread) or srv->wake_fd is written. Returns 0, or -1 on a fatal error.
 */
int acceptor_run(struct server *srv, int listen_fd, const sigset_t *sigs);

#endif
