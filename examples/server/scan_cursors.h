/*
 * SCAN cursors: a bounded table from the number a client holds to the key
 * where its scan goes on.
 *
 * A SCAN call walks the keys in order from a key and stops before another;
 * that next key is remembered here under a fresh cursor number, which the
 * client sends back with its next call. No iterator or snapshot outlives a
 * call: the table holds only copies of keys.
 *
 * Cursor numbers run from 1 to SCAN_CURSOR_MAX (2^53 - 1, so that clients
 * holding cursors in a double, as JavaScript does, keep them exact), one
 * after the other from a random start, so that a cursor from before a
 * restart is almost surely unknown to the new process rather than someone
 * else's. Slot = cursor modulo the slot count: a new cursor takes the slot of
 * the one issued that many calls before (a ring), and an entry is used only
 * if it holds exactly the cursor asked for. Key bytes are bounded too: past
 * the budget the oldest entries go first.
 *
 * A cursor can so be forgotten (more SCAN calls than slots in between, the
 * byte budget, a restart); the caller decides what that means (kvs-server
 * starts the scan again from the first key). Thread-safe: one mutex, held
 * for a slot update or a key copy.
 */
#ifndef KVS_SERVER_SCAN_CURSORS_H
#define KVS_SERVER_SCAN_CURSORS_H

#include <stddef.h>
#include <stdint.h>

#define SCAN_CURSOR_MAX ((UINT64_C(1) << 53) - 1)

struct scan_cursors;

struct scan_cursors_stats {
    uint64_t live;     /* cursors remembered now */
    uint64_t bytes;    /* key bytes they hold */
    uint64_t issued;   /* cursors handed out */
    uint64_t unknown;  /* lookups of a cursor not (or no longer) in the table */
};

/*
 * A table of slots entries (a power of two) holding at most max_bytes of
 * keys (at least the longest key); the first cursor is first (1 ..
 * SCAN_CURSOR_MAX; 0 picks a random one). NULL when out of memory.
 */
struct scan_cursors *scan_cursors_create(size_t slots, size_t max_bytes, uint64_t first);

void scan_cursors_destroy(struct scan_cursors *t);

/* Remember key under a new cursor and return it; 0 when out of memory (or key too long). */
uint64_t scan_cursors_put(struct scan_cursors *t, const void *key, size_t len);

/*
 * The key of a cursor, as a malloc'd copy in *key (*len bytes; free() it).
 * Returns 1, 0 if the cursor is unknown, -1 when out of memory.
 */
int scan_cursors_get(struct scan_cursors *t, uint64_t cursor, void **key, size_t *len);

void scan_cursors_stats(struct scan_cursors *t, struct scan_cursors_stats *st);

#endif
