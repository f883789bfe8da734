/*
 * The idle-client timeout (--timeout SECONDS, Redis's `timeout`).
 *
 * A worker keeps its connections in order of last activity, most recent
 * first: a read that returned bytes or a send that the kernel took counts
 * as activity (Redis's lastinteraction), so a client that neither sends nor
 * reads its replies goes idle, while a slow but moving one does not. The
 * connections to close are then at the tail, and a sweep costs only the
 * ones it closes.
 */
#ifndef KVS_SERVER_IDLE_H
#define KVS_SERVER_IDLE_H

struct worker;
struct conn;

/* Put a new connection at the head (active now). */
void idle_link(struct worker *w, struct conn *c);

/* Take a closing connection out of the order. */
void idle_unlink(struct worker *w, struct conn *c);

/* The connection was active at w->now: move it to the head. */
void idle_touch(struct worker *w, struct conn *c);

/*
 * Close the connections idle for the timeout or longer (none while the
 * worker is stopping, or without a timeout). Returns the milliseconds until
 * the next one may expire, or -1 if none can.
 */
int idle_sweep(struct worker *w);

#endif
