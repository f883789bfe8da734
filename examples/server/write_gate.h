/*
 * The write gate: lets a command run with no other write of any client in
 * between (MSETNX checks that keys are absent and then writes them; FLUSHALL
 * walks the keys and removes them).
 *
 * Every write command passes the gate in shared mode, through its worker's
 * own slot; a command that needs the store to itself closes the gate: it
 * takes every slot, in slot order, so it waits for the writes in progress
 * and holds off the next ones. Reads never touch the gate.
 *
 * A slot is a mutex on its own cache line that only its worker takes in
 * shared mode, so the common path is an uncontended lock and unlock on a
 * line that stays in that CPU's cache (a "big-reader" lock). libkvs alone
 * is enough for every other command (each is one atomic library call); the
 * gate is what the public API lacks for "write these keys only if none of
 * them exists", see doc/SERVER.md.
 */
#ifndef KVS_SERVER_WRITE_GATE_H
#define KVS_SERVER_WRITE_GATE_H

struct write_gate;

/* A gate with one slot per worker thread; NULL when out of memory. */
struct write_gate *write_gate_create(unsigned slots);
void write_gate_destroy(struct write_gate *g);

/* Shared mode, through the calling worker's slot (slot < slots). */
void write_gate_enter(struct write_gate *g, unsigned slot);
void write_gate_leave(struct write_gate *g, unsigned slot);

/* Exclusive mode: no shared holder is inside between close and open. */
void write_gate_close(struct write_gate *g);
void write_gate_open(struct write_gate *g);

#endif
